-- pgTAP: enable_rls() visibility per agent and tenant, the policy reading
-- the context once per query, and governance.require_context on reads and
-- on audited writes (off / warn / enforce).
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(22);

CREATE EXTENSION pg_governance VERSION '0.2';
SET governance.denied_log_worker = off;  -- the backend's own path; test/pgtap/preload.sql has the writer's
CREATE ROLE regress_rlsc_app;
CREATE TABLE regress_rlsc_notes (id int, agent text, tenant text, body text);
INSERT INTO regress_rlsc_notes
  SELECT g, (ARRAY['alice', 'bob'])[1 + g % 2], (ARRAY['acme', 'globex'])[1 + g % 3 % 2], 'n' || g
    FROM generate_series(1, 60) g;
GRANT ALL ON regress_rlsc_notes TO regress_rlsc_app;
SELECT lives_ok($$SELECT governance.enable_rls('regress_rlsc_notes', 'agent', 'tenant')$$,
                'enable_rls on a table');
SELECT lives_ok($$SELECT governance.enable_rls('regress_rlsc_notes', 'agent', 'tenant')$$,
                'enable_rls again (idempotent)');
SELECT policies_are('public', 'regress_rlsc_notes', ARRAY['governance_context'],
                    'one policy, replaced rather than duplicated');
SELECT is((SELECT relrowsecurity AND relforcerowsecurity FROM pg_class
            WHERE oid = 'regress_rlsc_notes'::regclass), true, 'RLS enabled and forced');

CREATE TABLE regress_rlsc_ledger (id int, amount int);
GRANT ALL ON regress_rlsc_ledger TO regress_rlsc_app;
SELECT governance.enable_audit('regress_rlsc_ledger');

SET LOCAL ROLE regress_rlsc_app;
-- Each (agent, tenant) sees exactly its rows
CREATE TEMP TABLE expected_counts AS
  SELECT agent, tenant, count(*)::int AS n FROM regress_rlsc_notes GROUP BY 1, 2;
SELECT is((SELECT count(*)::int FROM expected_counts), 0,
          'without a context nothing is visible');
RESET ROLE;
CREATE TEMP TABLE all_counts AS
  SELECT agent, tenant, count(*)::int AS n FROM regress_rlsc_notes GROUP BY 1, 2;
GRANT SELECT ON all_counts TO regress_rlsc_app;
SET LOCAL ROLE regress_rlsc_app;
SELECT governance.set_context('alice', 'acme', seal => false);
SELECT results_eq($$SELECT agent, tenant, count(*)::int FROM regress_rlsc_notes GROUP BY 1, 2$$,
                  $$SELECT agent, tenant, n FROM all_counts WHERE agent = 'alice' AND tenant = 'acme'$$,
                  'alice@acme sees exactly her acme rows');
SELECT governance.set_context('bob', 'globex', seal => false);
SELECT results_eq($$SELECT agent, tenant, count(*)::int FROM regress_rlsc_notes GROUP BY 1, 2$$,
                  $$SELECT agent, tenant, n FROM all_counts WHERE agent = 'bob' AND tenant = 'globex'$$,
                  'bob@globex sees exactly his globex rows');
SELECT results_eq($$WITH u AS (UPDATE regress_rlsc_notes SET body = body RETURNING 1) SELECT count(*)::int FROM u$$,
                  $$SELECT n FROM all_counts WHERE agent = 'bob' AND tenant = 'globex'$$,
                  'UPDATE reaches only the visible rows');
SELECT throws_ok($$INSERT INTO regress_rlsc_notes VALUES (100, 'alice', 'globex', 'spoof')$$, '42501',
                 'new row violates row-level security policy for table "regress_rlsc_notes"',
                 'writing a row of another agent is refused');
SELECT lives_ok($$INSERT INTO regress_rlsc_notes VALUES (101, 'bob', 'globex', 'mine')$$,
                'writing a row of one''s own is allowed');

-- The policy reads the context in InitPlans: once per query, not per row
CREATE TEMP TABLE plan_lines (line text);
DO $$
DECLARE l text;
BEGIN
  FOR l IN EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM regress_rlsc_notes LOOP
    INSERT INTO plan_lines VALUES (l);
  END LOOP;
END $$;
SELECT is((SELECT count(*)::int FROM plan_lines WHERE line ~ 'InitPlan \d+ \(returns'), 3,
          'guard, agent_id() and tenant_id() are three InitPlans');
SELECT is((SELECT count(*)::int FROM plan_lines WHERE line ~ 'Result \(actual rows=1 loops=1\)'), 3,
          'each runs exactly once for a scan of 60 rows');
SELECT is((SELECT count(*)::int FROM plan_lines WHERE line ~ 'SubPlan'), 0,
          'and none is a per-row SubPlan');

-- require_context: off / warn / enforce, on reads and on audited writes
SELECT set_config('governance.agent_id', '', true);
RESET ROLE;
SET LOCAL governance.require_context = off;
SET LOCAL ROLE regress_rlsc_app;
SELECT lives_ok($$SELECT * FROM regress_rlsc_notes$$, 'off: a read without context is allowed');
SELECT lives_ok($$INSERT INTO regress_rlsc_ledger VALUES (1, 1)$$, 'off: an audited write without context is allowed');
RESET ROLE;
SET LOCAL governance.require_context = warn;
SET LOCAL client_min_messages = error;
SET LOCAL ROLE regress_rlsc_app;
SELECT lives_ok($$SELECT * FROM regress_rlsc_notes$$, 'warn: a read without context goes on');
SELECT lives_ok($$INSERT INTO regress_rlsc_ledger VALUES (2, 2)$$, 'warn: an audited write without context goes on');
RESET ROLE;
SET LOCAL client_min_messages = warning;
SET LOCAL governance.require_context = enforce;
SET LOCAL ROLE regress_rlsc_app;
SELECT throws_ok($$SELECT * FROM regress_rlsc_notes$$, '42501',
                 'governance context required for SELECT on table "regress_rlsc_notes"',
                 'enforce: a read without context is refused');
SELECT throws_ok($$INSERT INTO regress_rlsc_ledger VALUES (3, 3)$$, '42501',
                 'governance context required for INSERT on table "regress_rlsc_ledger"',
                 'enforce: an audited write without context is refused');
SELECT governance.set_context('bob', 'globex', seal => false);
SELECT lives_ok($$INSERT INTO regress_rlsc_ledger VALUES (4, 4)$$, 'enforce: with a context the write goes on');
RESET ROLE;

-- Warnings were recorded at once (their statements went on); refusals are
-- queued and written by the next statement of this backend.  The spoofed
-- INSERT above is there too: its RLS refusal is recorded where it is
-- raised, although throws_ok's EXCEPTION block caught it.
SELECT results_eq(
  $$SELECT action, sqlstate, relation, command FROM governance.denied_log ORDER BY id$$,
  $$VALUES ('refused'::text, '42501'::text, 'public.regress_rlsc_notes'::text, 'INSERT'::text),
           ('warned', '01007', 'public.regress_rlsc_notes', 'SELECT'),
           ('warned', '01007', 'public.regress_rlsc_ledger', 'INSERT'),
           ('refused', '42501', 'public.regress_rlsc_notes', 'SELECT'),
           ('refused', '42501', 'public.regress_rlsc_ledger', 'INSERT')$$,
  'warn and enforce each left a denied_log record');
SELECT results_eq($$SELECT id FROM regress_rlsc_ledger ORDER BY id$$, $$VALUES (1), (2), (4)$$,
                  'only the refused write is missing');

SELECT * FROM finish();
ROLLBACK;
