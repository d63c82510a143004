--
-- denied_log: RLS violations and require_context refusals are recorded,
-- with the context of the failed attempt, although their transaction rolls
-- back; the record survives a rollback of the transaction that writes it;
-- governance.require_context on writes to audited tables.
--
CREATE EXTENSION pg_governance;
-- This file tests the denied backend writing its own records (the path
-- without preload); the background writer of the preloaded mode is tested
-- in test/pgtap/preload.sql.
SET governance.denied_log_worker = off;
-- This file records many attempts in quick succession: the rate limit is
-- tested at the end, with a low value.
SET governance.denied_log_rate_limit = 1000;
\set VERBOSITY default

CREATE ROLE regress_denied_app;
CREATE TABLE orders (id int, agent text, tenant text, item text);
GRANT ALL ON orders TO regress_denied_app;
SELECT governance.enable_rls('orders', 'agent', 'tenant');
CREATE TABLE ledger (id int, amount int);
GRANT ALL ON ledger TO regress_denied_app;
SELECT governance.enable_audit('ledger');

CREATE TEMP VIEW denied AS
	SELECT source, action, sqlstate, relation, command, agent_id, tenant_id,
		   correlation_id, db_user, db_session_user, message, statement
	  FROM governance.denied_log ORDER BY id;
GRANT SELECT ON denied TO regress_denied_app;

-- An RLS violation: the transaction rolls back, the attempt is recorded
SET ROLE regress_denied_app;
BEGIN;
SELECT governance.set_context('alice', 'acme', 'req-42');
INSERT INTO orders VALUES (1, 'mallory', 'acme', 'spoofed');
COMMIT;
RESET ROLE;
SELECT * FROM denied;

-- UPDATE moving a row out of reach violates the policy too
SET ROLE regress_denied_app;
BEGIN;
SELECT governance.set_context('alice', 'acme', 'req-43');
INSERT INTO orders VALUES (2, 'alice', 'acme', 'mine');
UPDATE orders SET tenant = 'globex' WHERE id = 2;
ROLLBACK;
RESET ROLE;
SELECT source, command, agent_id, correlation_id, message FROM denied OFFSET 1;

-- The record survives the rollback of the transaction that wrote it:
-- it is written again by the next one
SELECT count(*) AS before FROM governance.denied_log \gset
SET ROLE regress_denied_app;
BEGIN;
SELECT governance.set_context('alice', 'acme', 'req-44');
INSERT INTO orders VALUES (3, 'bob', 'acme', 'x');
ROLLBACK;
BEGIN;
SELECT 1 AS written_here_then_rolled_back;
ROLLBACK;
RESET ROLE;
SELECT count(*) - :before AS recorded_once, max(correlation_id) AS correlation_id
  FROM governance.denied_log WHERE id > 0;

-- ... and a savepoint rollback of the writer as well
SELECT count(*) AS before FROM governance.denied_log \gset
SET ROLE regress_denied_app;
BEGIN;
SELECT governance.set_context('alice', 'acme', 'req-45');
INSERT INTO orders VALUES (4, 'bob', 'acme', 'x');
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT 1 AS written_in_savepoint;
ROLLBACK TO SAVEPOINT s;
COMMIT;
RESET ROLE;
SELECT count(*) - :before AS recorded_once FROM governance.denied_log;

-- require_context on writes to an audited table
SET governance.require_context = off;
SET ROLE regress_denied_app;
INSERT INTO ledger VALUES (1, 10);
RESET ROLE;
SET governance.require_context = warn;
SET ROLE regress_denied_app;
INSERT INTO ledger VALUES (2, 20), (3, 30);
UPDATE ledger SET amount = amount + 1;
RESET ROLE;
SET governance.require_context = enforce;
SET ROLE regress_denied_app;
INSERT INTO ledger VALUES (4, 40);
DELETE FROM ledger;
TRUNCATE ledger;
BEGIN;
SELECT governance.set_context('carol', 'acme', 'req-46');
INSERT INTO ledger VALUES (5, 50);
COMMIT;
RESET ROLE;
RESET governance.require_context;
SELECT id, amount FROM ledger ORDER BY id;
SELECT op, agent_id, new_row->>'id' AS id FROM governance.audit_log
 WHERE relation = 'public.ledger' AND op <> 'DDL' ORDER BY audit_log.id;
SELECT source, action, sqlstate, relation, command, agent_id, message, statement
  FROM denied WHERE source = 'require_context';

-- Denials inside a function are refused the same way
CREATE FUNCTION add_ledger(i int) RETURNS void LANGUAGE sql
	AS 'INSERT INTO ledger VALUES (i, 0)';
SET governance.require_context = enforce;
SELECT add_ledger(6);
RESET governance.require_context;
SELECT command, relation, statement FROM denied WHERE statement LIKE '%add_ledger%';

-- Nobody but a superuser can change or remove denied attempts
SET ROLE regress_denied_app;
SELECT count(*) FROM governance.denied_log;
DELETE FROM governance.denied_log;
RESET ROLE;

-- relid and a schema-qualified relation for RLS records, one record per
-- relation per statement, the rate limit and its summary rows
SELECT source, relation, relid = 'orders'::regclass AS relid_is_orders
  FROM governance.denied_log WHERE correlation_id = 'req-42';
SELECT count(*) AS before FROM governance.denied_log \gset
SET ROLE regress_denied_app;
BEGIN;
SELECT governance.set_context('alice', 'acme', 'req-47');
-- swallowed by an EXCEPTION block, 50 times in one statement: recorded once
DO $$ BEGIN
  FOR i IN 1..50 LOOP
    BEGIN INSERT INTO orders VALUES (i, 'mallory', 'acme', 'x');
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
  END LOOP;
END $$;
COMMIT;
RESET ROLE;
SELECT source, action, relation, relid = 'orders'::regclass AS relid_is_orders, suppressed
  FROM governance.denied_log WHERE correlation_id = 'req-47';
-- a temporary table named like a permanent one is named as what it is
CREATE TEMP TABLE orders (id int, agent text, tenant text, item text);
ALTER TABLE pg_temp.orders ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY nothing ON pg_temp.orders USING (false) WITH CHECK (false);
GRANT ALL ON pg_temp.orders TO regress_denied_app;
SET ROLE regress_denied_app;
BEGIN;
SELECT governance.set_context('alice', 'acme', 'req-48');
INSERT INTO pg_temp.orders VALUES (1, 'alice', 'acme', 'x');
ROLLBACK;
RESET ROLE;
SELECT relation ~ '^pg_temp_\d+\.orders$' AS temp_schema_shown,
       relid = 'pg_temp.orders'::regclass AS relid_is_temp_table
  FROM governance.denied_log WHERE correlation_id = 'req-48';
DROP TABLE pg_temp.orders;
-- the rate limit: 1 per second; 10 refused statements: fewer rows, and
-- a summary row (written at the latest when the session ends) counts the
-- others: nothing is lost
DROP VIEW denied;
SET governance.denied_log_rate_limit = 1;
SET application_name = 'regress-flood';
SET ROLE regress_denied_app;
\set VERBOSITY terse
SELECT 'INSERT INTO orders VALUES (1, ''mallory'', ''acme'', ''x'')' FROM generate_series(1, 10) \gexec
\set VERBOSITY default
\c -
DO $$ BEGIN
  FOR i IN 1..500 LOOP
    EXIT WHEN EXISTS (SELECT FROM governance.denied_log
                       WHERE application_name = 'regress-flood' AND action = 'suppressed');
    PERFORM pg_sleep(0.02);
  END LOOP;
END $$;
SELECT count(*) FILTER (WHERE action = 'refused') < 10 AS fewer_rows,
       count(*) FILTER (WHERE action = 'suppressed') >= 1 AS summary_rows,
       count(*) FILTER (WHERE action = 'refused') + coalesce(sum(suppressed), 0) AS attempts_accounted
  FROM governance.denied_log WHERE application_name = 'regress-flood';
SELECT relation, relid = 'orders'::regclass AS relid_is_orders, suppressed > 0 AS counted, message ~ 'not recorded one by one' AS says_so
  FROM governance.denied_log WHERE application_name = 'regress-flood' AND action = 'suppressed'
 ORDER BY id LIMIT 1;

DROP FUNCTION add_ledger(int);
DROP TABLE orders, ledger;
DROP ROLE regress_denied_app;
DROP EXTENSION pg_governance;
