--
-- The governance context: transaction-local lifetime, the seal's lifetime,
-- and the exact messages users see.
--
CREATE EXTENSION pg_governance;
\set VERBOSITY default

-- Outside an explicit transaction block the context lasts one statement
SELECT governance.set_context('alice', 'acme', 'req-1');
SELECT governance.context();

-- Inside one it lasts until COMMIT ...
BEGIN;
SELECT governance.set_context('alice', 'acme', 'req-1');
SELECT governance.agent_id(), governance.tenant_id(), governance.correlation_id();
COMMIT;
SELECT governance.agent_id() IS NULL AS cleared_after_commit;

-- ... or ROLLBACK
BEGIN;
SELECT governance.set_context('alice');
ROLLBACK;
SELECT governance.agent_id() IS NULL AS cleared_after_rollback;

-- The seal ends with the transaction: the next one starts clean
BEGIN;
SELECT governance.set_context('alice');
SET governance.agent_id = 'mallory';
ROLLBACK;
BEGIN;
SELECT governance.context()->>'sealed' AS sealed_in_next_transaction;
SELECT governance.set_context('bob', seal => false);
SELECT governance.agent_id();
COMMIT;

-- Only set_context() sets the context, and only for its transaction: SET,
-- SET LOCAL and set_config() of a value are refused, and a session-level
-- copy of a sealed context (same value) cannot keep it past COMMIT
SET governance.agent_id = 'session-agent';
SELECT set_config('governance.tenant_id', 'acme', false);
BEGIN;
SET LOCAL governance.correlation_id = 'req-1';
ROLLBACK;
BEGIN;
SELECT governance.set_context('alice');
SELECT governance.agent_id();
SET SESSION governance.agent_id = 'alice';
COMMIT;
SELECT governance.agent_id() IS NULL AS cleared_after_commit;
-- clearing an unsealed context is allowed
BEGIN;
SELECT governance.set_context('alice', 'acme', seal => false);
SET LOCAL governance.tenant_id = '';
SELECT governance.context();
COMMIT;

-- Several statements in one implicit transaction share the seal
SELECT governance.set_context('alice') \; SET governance.agent_id = 'mallory';
SELECT governance.agent_id() IS NULL AS cleared_after_implicit_transaction;

-- Clearing attempts, with their messages
BEGIN;
SELECT governance.set_context('alice', 'acme');
RESET governance.tenant_id;
ROLLBACK;
BEGIN;
SELECT governance.set_context('alice', 'acme');
RESET ALL;
ROLLBACK;
BEGIN;
SELECT governance.set_context('alice', 'acme');
DISCARD ALL;
ROLLBACK;
BEGIN;
SELECT governance.set_context('alice', 'acme');
SELECT set_config('governance.tenant_id', NULL, true);
ROLLBACK;
BEGIN;
SELECT governance.set_context('alice', 'acme');
SELECT governance.set_context('mallory');
ROLLBACK;

-- A seal made inside a savepoint belongs to the transaction: rolling the
-- savepoint back does not unseal, and the values are written back
BEGIN;
SAVEPOINT before_seal;
SELECT governance.set_context('alice', 'acme');
ROLLBACK TO before_seal;
SELECT governance.agent_id(), current_setting('governance.agent_id') AS setting,
       governance.context()->>'sealed' AS sealed;
SET governance.agent_id = 'mallory';
ROLLBACK;

-- Same when the savepoint's subtransaction failed
BEGIN;
SAVEPOINT before_seal;
SELECT governance.set_context('alice', 'acme');
SELECT 1 / 0;
ROLLBACK TO before_seal;
SELECT governance.agent_id(), current_setting('governance.tenant_id') AS tenant_setting;
COMMIT;

-- Same inside a PL/pgSQL exception block
DO $$
BEGIN
  BEGIN
    PERFORM governance.set_context('alice');
    RAISE EXCEPTION 'boom';
  EXCEPTION WHEN others THEN
    RAISE NOTICE 'after the caught error: agent %, sealed %',
      governance.agent_id(), governance.context()->>'sealed';
  END;
END $$;

-- Parallel workers see the sealed values even after a savepoint rollback
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET force_parallel_mode = on;
SET parallel_leader_participation = off;
CREATE TABLE ctx_par AS SELECT g FROM generate_series(1, 1000) g;
ANALYZE ctx_par;
BEGIN;
SAVEPOINT s;
SELECT governance.set_context('alice');
ROLLBACK TO s;
SELECT DISTINCT governance.agent_id() FROM ctx_par;
COMMIT;
-- ... and without one: a sealed context is written to the settings only
-- for them (current_setting() runs in the worker here)
BEGIN;
SELECT governance.set_context('bob', 'acme', 'req-1');
SELECT DISTINCT current_setting('governance.agent_id') AS agent,
       current_setting('governance.tenant_id') AS tenant,
       current_setting('governance.correlation_id') AS corr FROM ctx_par;
COMMIT;
SELECT DISTINCT current_setting('governance.agent_id') AS agent_after FROM ctx_par;
RESET force_parallel_mode;
RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;
DROP TABLE ctx_par;

-- Validation messages name the setting
SET governance.agent_id = E'a\tb';
SET governance.correlation_id = 'has space';
SELECT set_config('governance.tenant_id', repeat('x', 300), false);
SELECT governance.set_context(NULL);
SET governance.agnet_id = 'typo';

DROP EXTENSION pg_governance;
