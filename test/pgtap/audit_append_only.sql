-- pgTAP: the audit trail is append-only for every non-superuser, the
-- audited table's owner and the extension's installer included; reading it
-- is granted by the installer; silencing auditing is refused.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(32);

-- A non-superuser database owner installs the extension (trusted)
CREATE ROLE regress_aud_installer;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_aud_installer', current_database()) \gexec
CREATE ROLE regress_aud_owner;
CREATE ROLE regress_aud_reader;
CREATE SCHEMA regress_aud AUTHORIZATION regress_aud_owner;
SET LOCAL ROLE regress_aud_installer;
SELECT lives_ok($$CREATE EXTENSION pg_governance VERSION '0.2'$$,
                'a non-superuser database owner installs the extension');
RESET ROLE;

SELECT is((SELECT r.rolsuper FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
            WHERE c.oid = 'governance.audit_batch'::regclass), true,
          'audit_batch belongs to a superuser, not to the installer');
SELECT is((SELECT r.rolsuper FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
            WHERE c.oid = 'governance.denied_log'::regclass), true,
          'denied_log belongs to a superuser, not to the installer');

-- The table owner audits a table and writes to it
SET LOCAL ROLE regress_aud_owner;
CREATE TABLE regress_aud.payments (id int PRIMARY KEY, amount int);
SELECT lives_ok($$SELECT governance.enable_audit('regress_aud.payments')$$,
                'the table owner enables auditing');
INSERT INTO regress_aud.payments VALUES (1, 100), (2, 200);
UPDATE regress_aud.payments SET amount = amount + 1;

-- ... and cannot touch the trail
SELECT throws_ok($$SELECT * FROM governance.audit_log$$, '42501', NULL,
                 'the table owner cannot read the trail unless granted');
SELECT throws_ok($$UPDATE governance.audit_batch SET op = 'X'$$, '42501', NULL,
                 'the table owner cannot UPDATE the trail');
SELECT throws_ok($$DELETE FROM governance.audit_batch$$, '42501', NULL,
                 'the table owner cannot DELETE from the trail');
SELECT throws_ok($$TRUNCATE governance.audit_batch$$, '42501', NULL,
                 'the table owner cannot TRUNCATE the trail');
SELECT throws_ok($$INSERT INTO governance.audit_batch (nrows, at, txid, relation, op, db_user, db_session_user)
                   VALUES (1, now(), '1', 'x', 'INSERT', 'x', 'x')$$, '42501', NULL,
                 'the table owner cannot forge audit rows');
SELECT throws_ok($$DELETE FROM governance.audit_log$$, '55000', 'cannot delete from view "audit_log"',
                 'the table owner cannot DELETE through the view');
-- Silencing the triggers is refused, even to the owner (disable_audit() is
-- the recorded way)
SELECT throws_ok($$ALTER TABLE regress_aud.payments DISABLE TRIGGER ALL$$, '55000',
                 'cannot run DISABLE TRIGGER ALL on audited table "regress_aud.payments"',
                 'the owner may not disable the audit triggers ...');
SELECT throws_ok($$DROP TRIGGER governance_audit_update ON regress_aud.payments$$, '55000',
                 'cannot run DROP TRIGGER on audited table "regress_aud.payments"',
                 '... nor drop one ...');
RESET ROLE;
SELECT results_eq(
  $$SELECT new_row->>'action', db_user FROM governance.audit_log
     WHERE relid = 'regress_aud.payments'::regclass AND op = 'DDL' ORDER BY id$$,
  $$VALUES ('enable_audit', 'regress_aud_owner'::text)$$,
  '... and the refused attempts changed nothing');
SELECT results_eq(
  $$SELECT op, count(*)::int FROM governance.audit_log
     WHERE relid = 'regress_aud.payments'::regclass AND op <> 'DDL' GROUP BY op ORDER BY op$$,
  $$VALUES ('INSERT', 2), ('UPDATE', 2)$$,
  'the owner''s writes are in the trail, one row per changed row');

-- The installer can read and grant reading, nothing more
SET LOCAL ROLE regress_aud_installer;
SELECT is((SELECT count(*)::int FROM governance.audit_log WHERE op = 'INSERT'), 2,
          'the installer reads the trail');
SELECT lives_ok($$GRANT SELECT ON governance.audit_log TO regress_aud_reader$$,
                'the installer grants reading the trail');
SELECT throws_ok($$UPDATE governance.audit_batch SET op = 'X'$$, '42501', NULL,
                 'the installer cannot UPDATE the trail');
SELECT throws_ok($$DELETE FROM governance.audit_batch$$, '42501', NULL,
                 'the installer cannot DELETE from the trail');
SELECT throws_ok($$TRUNCATE governance.audit_batch$$, '42501', NULL,
                 'the installer cannot TRUNCATE the trail');
SELECT throws_ok($$GRANT DELETE ON governance.audit_batch TO regress_aud_installer$$, NULL, NULL,
                 'the installer cannot grant itself more');
SELECT throws_ok($$ALTER TABLE governance.audit_batch DISABLE TRIGGER append_only$$, '42501', NULL,
                 'the installer cannot disable the append-only guard');
SELECT throws_ok($$ALTER EVENT TRIGGER governance_ddl_watch DISABLE$$, '42501', NULL,
                 'the installer cannot disable the DDL watch');
SELECT throws_ok($$DROP TABLE governance.audit_batch CASCADE$$, NULL, NULL,
                 'the installer cannot drop the trail');
SELECT throws_ok($$ALTER EXTENSION pg_governance DROP TABLE governance.audit_batch$$, '42501', NULL,
                 'the installer cannot detach the trail from the extension');
SELECT throws_ok($$DROP EXTENSION pg_governance CASCADE$$, '42501',
                 'permission denied to drop extension "pg_governance"',
                 'the installer cannot drop the extension once the trail holds rows');
SELECT throws_ok($$DROP SCHEMA governance CASCADE$$, '42501',
                 'permission denied to drop schema "governance"',
                 'nor the schema it owns');
SELECT throws_ok($$DROP OWNED BY regress_aud_installer CASCADE$$, '42501', NULL,
                 'nor everything it owns');
RESET ROLE;

SET LOCAL ROLE regress_aud_reader;
SELECT is((SELECT count(*)::int FROM governance.audit_log WHERE op = 'UPDATE'), 2,
          'a role granted by the installer reads the trail');
SELECT throws_ok($$SELECT * FROM governance.audit_batch$$, '42501', NULL,
                 '... through the view only');
RESET ROLE;

-- Even a privilege granted by mistake does not make it mutable
GRANT DELETE, UPDATE, TRUNCATE ON governance.audit_batch, governance.denied_log TO regress_aud_owner;
SET LOCAL ROLE regress_aud_owner;
SELECT throws_ok($$DELETE FROM governance.audit_batch$$, '42501', 'governance.audit_batch is append-only',
                 'a mistaken DELETE grant is refused by the guard trigger');
SELECT throws_ok($$TRUNCATE governance.denied_log$$, '42501', 'governance.denied_log is append-only',
                 'a mistaken TRUNCATE grant is refused by the guard trigger');
RESET ROLE;

-- A superuser may still apply a retention policy
SELECT lives_ok($$DELETE FROM governance.audit_batch WHERE at < now() - interval '10 years'$$,
                'a superuser may delete old audit rows');

SELECT * FROM finish();
ROLLBACK;
