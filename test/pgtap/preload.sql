-- pgTAP: what shared_preload_libraries = 'pg_governance' adds, and what the
-- same calls do without it: governance.session_context, the latency
-- histograms, executor-level require_context, and the background writer of
-- denied_log.  Runs in both clusters of make check; each branch asserts its
-- mode's behaviour.  Other sessions are opened with dblink, so this file
-- commits and cleans up after itself.
\set ON_ERROR_STOP 0
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE EXTENSION pg_governance;
CREATE ROLE regress_pre_app;
CREATE ROLE regress_pre_outsider;
CREATE TABLE regress_pre_docs (id int, agent text, tenant text);
INSERT INTO regress_pre_docs VALUES (1, 'alice', 'acme'), (2, 'bob', 'acme');
GRANT ALL ON regress_pre_docs TO regress_pre_app;
SELECT governance.enable_rls('regress_pre_docs', 'agent', 'tenant');
CREATE TABLE regress_pre_ledger (id int, amount int);
GRANT ALL ON regress_pre_ledger TO regress_pre_app;
SELECT governance.enable_audit('regress_pre_ledger');
CREATE TABLE regress_pre_parts (id int, amount int) PARTITION BY RANGE (id);
CREATE TABLE regress_pre_parts_1 PARTITION OF regress_pre_parts FOR VALUES FROM (0) TO (100);
SELECT governance.enable_audit('regress_pre_parts');

SELECT format('dbname=%s host=%s port=%s user=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port'), current_user) AS conninfo \gset

-- Wait (up to 10 s) until a denied_log row with this correlation id exists.
CREATE FUNCTION pg_temp.wait_denied(corr text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..500 LOOP
    IF EXISTS (SELECT 1 FROM governance.denied_log WHERE correlation_id = corr) THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.02);
  END LOOP;
  RETURN false;
END $$;

SELECT current_setting('shared_preload_libraries') LIKE '%pg_governance%' AS preloaded \gset

\if :preloaded
SELECT plan(34);

SELECT results_eq(
  $$SELECT feature, active FROM governance.capabilities()
     WHERE feature IN ('session_context', 'latency_histograms', 'executor_enforcement') ORDER BY 1$$,
  $$VALUES ('executor_enforcement', true), ('latency_histograms', true), ('session_context', true)$$,
  'capabilities: the preloaded features are active');
SELECT matches((SELECT detail FROM governance.capabilities() WHERE feature = 'denied_log'),
               'background writer', 'capabilities: denied_log rows come from the background writer');

---- session_context: another backend's context, live
SELECT dblink_connect('regress_pre_a', :'conninfo');
SELECT pid AS a_pid FROM dblink('regress_pre_a', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT dblink_exec('regress_pre_a', 'BEGIN');
SELECT * FROM dblink('regress_pre_a', $$SELECT governance.set_context('agent-7', 'tenant-7', 'corr-7')$$) AS t(x text);
SELECT results_eq(
  format($$SELECT agent_id, tenant_id, correlation_id, state, truncated FROM governance.session_context WHERE pid = %s$$, :a_pid),
  $$VALUES ('agent-7'::text, 'tenant-7'::text, 'corr-7'::text, 'idle in transaction'::text, false)$$,
  'session_context shows another backend''s sealed context and state');
SELECT dblink_exec('regress_pre_a', 'COMMIT');
SELECT results_eq(
  format($$SELECT agent_id, tenant_id, correlation_id, state FROM governance.session_context WHERE pid = %s$$, :a_pid),
  $$VALUES (NULL::text, NULL::text, NULL::text, 'idle'::text)$$,
  'the context is gone from session_context when its transaction ends');
SELECT dblink_exec('regress_pre_a', 'BEGIN');
SELECT * FROM dblink('regress_pre_a', $$SELECT governance.set_context('agent-session', seal => false)$$) AS t(x text);
SELECT is((SELECT agent_id FROM governance.session_context WHERE pid = :a_pid), 'agent-session',
          'an unsealed context shows too');
SELECT * FROM dblink('regress_pre_a', format('SELECT governance.set_context(%L, seal => false)', repeat('é', 200))) AS t(x text);
SELECT results_eq(
  format($$SELECT octet_length(agent_id), agent_id = repeat('é', 128), truncated FROM governance.session_context WHERE pid = %s$$, :a_pid),
  $$VALUES (256, true, true)$$,
  'a value longer than session_context_bytes is cut at a character boundary and flagged');
SELECT dblink_exec('regress_pre_a', 'RESET governance.agent_id');
SELECT is((SELECT truncated FROM governance.session_context WHERE pid = :a_pid), false,
          'the flag clears with the value');
SELECT * FROM dblink('regress_pre_a', $$SELECT governance.set_context('agent-hidden', seal => false)$$) AS t(x text);
SET ROLE regress_pre_outsider;
SELECT results_eq(
  format($$SELECT agent_id IS NULL, state IS NULL FROM governance.session_context WHERE pid = %s$$, :a_pid),
  $$VALUES (true, true)$$,
  'a role that may not see the session in pg_stat_activity does not see its context either');
RESET ROLE;
SELECT dblink_exec('regress_pre_a', 'COMMIT');

---- latency histograms
SELECT ok(governance.reset_latency_histograms() IS NOT NULL, 'reset_latency_histograms() returns the previous reset time');
SELECT dblink_exec('regress_pre_a', 'BEGIN');
SELECT * FROM dblink('regress_pre_a', $$SELECT governance.set_context('lat-agent', 'lat-tenant')$$) AS t(x text);
SELECT count(*) FROM generate_series(1, 25) g, LATERAL dblink('regress_pre_a', 'SELECT ' || g) AS t(x int);
SELECT * FROM dblink('regress_pre_a', 'SELECT pg_sleep(0.05)') AS t(x text);
SELECT dblink_exec('regress_pre_a', 'COMMIT');
SELECT dblink_exec('regress_pre_a', 'BEGIN');
SELECT * FROM dblink('regress_pre_a', $$SELECT governance.set_context('lat-agent', 'lat-other')$$) AS t(x text);
SELECT count(*) FROM generate_series(1, 4) g, LATERAL dblink('regress_pre_a', 'SELECT ' || g) AS t(x int);
SELECT dblink_exec('regress_pre_a', 'COMMIT');
SELECT is((SELECT calls FROM governance.agent_latency WHERE agent_id = 'lat-agent'), 30::bigint,
          'agent_latency counts exactly the agent''s top-level statements (25 + 1 + 4)');
SELECT is((SELECT calls FROM governance.tenant_latency WHERE tenant_id = 'lat-tenant'), 26::bigint,
          'tenant_latency counts per tenant');
SELECT results_eq(
  $$SELECT tenant_id, calls FROM governance.latency_histograms('agent_tenant') WHERE agent_id = 'lat-agent' ORDER BY 1$$,
  $$VALUES ('lat-other'::text, 4::bigint), ('lat-tenant', 26)$$,
  'latency_histograms(''agent_tenant'') splits by agent and tenant');
SELECT ok((SELECT p50_ms <= p95_ms AND p95_ms <= p99_ms AND max_ms >= 50 AND p99_ms >= 50 / 1.07
                  AND total_ms >= 50 AND mean_ms = total_ms / calls
             FROM governance.agent_latency WHERE agent_id = 'lat-agent'),
          'percentiles are ordered and the 50 ms statement is the maximum and the p99');
SELECT throws_ok($$SELECT * FROM governance.latency_histograms('nonsense')$$, '22023',
                 'invalid group_by "nonsense"', 'an unknown grouping is refused by name');
SET ROLE regress_pre_outsider;
SELECT throws_ok($$SELECT * FROM governance.agent_latency$$, '42501', NULL,
                 'reading the histograms needs a grant');
SELECT throws_ok($$SELECT governance.reset_latency_histograms()$$, '42501', NULL,
                 'resetting them too');
RESET ROLE;
SELECT governance.reset_latency_histograms();
SELECT is((SELECT count(*)::int FROM governance.agent_latency WHERE agent_id = 'lat-agent'), 0,
          'a reset empties the histograms');
-- a parallel query is one statement, not one per worker
CREATE TABLE regress_pre_big AS SELECT g AS id FROM generate_series(1, 20000) g;
SELECT dblink_exec('regress_pre_a', 'SET max_parallel_workers_per_gather = 2');
SELECT dblink_exec('regress_pre_a', 'SET parallel_setup_cost = 0');
SELECT dblink_exec('regress_pre_a', 'SET parallel_tuple_cost = 0');
SELECT dblink_exec('regress_pre_a', 'SET min_parallel_table_scan_size = 0');
SELECT dblink_exec('regress_pre_a', 'BEGIN');
SELECT * FROM dblink('regress_pre_a', $$SELECT governance.set_context('par-agent', seal => false)$$) AS t(x text);
SELECT * FROM dblink('regress_pre_a', 'SELECT count(*) FROM regress_pre_big') AS t(n bigint);
SELECT * FROM dblink('regress_pre_a', 'SELECT count(*) FROM regress_pre_big') AS t(n bigint);
SELECT dblink_exec('regress_pre_a', 'COMMIT');
SELECT dblink_exec('regress_pre_a', 'RESET ALL');
SELECT is((SELECT calls FROM governance.agent_latency WHERE agent_id = 'par-agent'), 2::bigint,
          'parallel queries count once each (their workers are not statements)');
DROP TABLE regress_pre_big;

---- executor-level require_context
SET governance.require_context = enforce;
SELECT throws_ok($$SELECT count(*) FROM regress_pre_docs$$, '42501',
                 'governance context required for SELECT on table "regress_pre_docs"',
                 'a superuser, whom RLS does not apply to, is still held to require_context');
SET session_replication_role = replica;
SELECT throws_ok($$INSERT INTO regress_pre_ledger VALUES (1, 1)$$, '42501',
                 'governance context required for INSERT on table "regress_pre_ledger"',
                 'a write whose audit trigger does not fire (replica role) is refused');
SELECT throws_ok($$TRUNCATE regress_pre_ledger$$, '42501',
                 'governance context required for TRUNCATE on table "regress_pre_ledger"',
                 'TRUNCATE without firing triggers is refused');
SELECT throws_ok($$COPY regress_pre_ledger FROM PROGRAM 'echo 1,1' (FORMAT csv)$$, '42501',
                 'governance context required for COPY on table "regress_pre_ledger"',
                 'COPY FROM without firing triggers is refused');
RESET session_replication_role;
SELECT throws_ok($$UPDATE regress_pre_parts SET amount = 0 WHERE id = 5$$, '42501',
                 NULL, 'an UPDATE of no row of an audited partitioned table is refused');
SELECT lives_ok($$SELECT count(*) FROM regress_pre_ledger$$,
                'reading an audited table without RLS is not governed');
-- "audited" means a trigger calling governance.audit_trigger(), not a
-- trigger's name: a look-alike name governs nothing
CREATE TABLE regress_pre_lookalike (id int);
CREATE FUNCTION pg_temp.regress_pre_noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER governance_audit_insert AFTER INSERT ON regress_pre_lookalike
  FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.regress_pre_noop();
SELECT lives_ok($$INSERT INTO regress_pre_lookalike VALUES (1)$$,
                'a table whose trigger is only named like an audit trigger is not audited: its writes are not governed');
SELECT lives_ok($$TRUNCATE regress_pre_lookalike$$,
                'nor its TRUNCATE');
DROP TABLE regress_pre_lookalike;
BEGIN;
SELECT governance.set_context('alice', 'acme');
SELECT is((SELECT count(*)::int FROM regress_pre_docs), 2, 'with a context the superuser reads (RLS does not apply to it)');
COMMIT;
RESET governance.require_context;

---- denied_log written by the background writer
SELECT dblink_connect('regress_pre_c', :'conninfo');
SELECT pid AS c_pid FROM dblink('regress_pre_c', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT dblink_exec('regress_pre_c', 'SET ROLE regress_pre_app');
SELECT dblink_exec('regress_pre_c', 'BEGIN');
SELECT * FROM dblink('regress_pre_c', $$SELECT governance.set_context('alice', 'acme', 'pre-c')$$) AS t(x text);
SELECT dblink_exec('regress_pre_c', $$INSERT INTO regress_pre_docs VALUES (3, 'mallory', 'acme')$$, false);
SELECT dblink_exec('regress_pre_c', 'ROLLBACK');
SELECT ok(pg_temp.wait_denied('pre-c'), 'the RLS violation reaches denied_log while its session stays idle');
SELECT results_eq(
  $$SELECT source, command, agent_id, recorded_by, backend_pid FROM governance.denied_log WHERE correlation_id = 'pre-c'$$,
  format($$VALUES ('rls'::text, 'INSERT'::text, 'alice'::text, 'worker'::text, %s)$$, :c_pid),
  'written by the background writer, with the denied backend''s pid and context');
SELECT is((SELECT state FROM pg_stat_activity WHERE pid = :c_pid), 'idle',
          'the denied session ran nothing since');
SELECT diag('background writer latency: ' || (SELECT logged_at - at FROM governance.denied_log WHERE correlation_id = 'pre-c'));
SELECT dblink_disconnect('regress_pre_c');
-- a session that is refused and disconnects at once
SELECT dblink_connect('regress_pre_d', :'conninfo');
SELECT dblink_exec('regress_pre_d', 'SET governance.require_context = enforce');
SELECT dblink_exec('regress_pre_d',
  $$SELECT governance.set_context('x', NULL, 'pre-d', false); SET LOCAL governance.agent_id = ''; INSERT INTO regress_pre_ledger VALUES (9, 9)$$, false);
SELECT dblink_disconnect('regress_pre_d');
SELECT ok(pg_temp.wait_denied('pre-d'), 'the refusal of a session that disconnected at once is written');
SELECT is((SELECT recorded_by FROM governance.denied_log WHERE correlation_id = 'pre-d'), 'worker',
          '... by the background writer');
SELECT dblink_disconnect('regress_pre_a');

-- the launcher comes back after being terminated
CREATE FUNCTION pg_temp.wait_launcher(old int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..500 LOOP
    IF EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'pg_governance launcher'
                AND pid <> old) THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.02);
    PERFORM pg_stat_clear_snapshot();  -- pg_stat_activity is cached per transaction
  END LOOP;
  RETURN false;
END $$;
SELECT pid AS launcher_pid FROM pg_stat_activity WHERE backend_type = 'pg_governance launcher' \gset
SELECT pg_terminate_backend(:launcher_pid);
SELECT ok(pg_temp.wait_launcher(:launcher_pid), 'a terminated launcher is started again');
-- DROP DATABASE waits until every process has absorbed its barrier: the
-- launcher and the writers must answer (a 20 s statement_timeout turns a
-- hang into a failure)
SELECT dblink_exec(:'conninfo', 'CREATE DATABASE regress_pre_dropme');
SELECT lives_ok(format($$SELECT dblink_exec(%L, 'DROP DATABASE regress_pre_dropme')$$,
                       :'conninfo' || ' options=''-c statement_timeout=20s'''),
                'DROP DATABASE is not held up by the background workers');

\else
SELECT plan(9);

SELECT results_eq(
  $$SELECT feature, active, detail FROM governance.capabilities()
     WHERE feature IN ('session_context', 'latency_histograms', 'executor_enforcement') ORDER BY 1$$,
  $$VALUES ('executor_enforcement', false, 'needs shared_preload_libraries = ''pg_governance'''),
           ('latency_histograms', false, 'needs shared_preload_libraries = ''pg_governance'''),
           ('session_context', false, 'needs shared_preload_libraries = ''pg_governance''')$$,
  'capabilities: the preloaded features say what they need');
SELECT throws_ok($$SELECT * FROM governance.session_context$$, '55000',
                 'governance.session_context needs shared_preload_libraries = ''pg_governance''',
                 'session_context says what it needs');
SELECT throws_ok($$SELECT * FROM governance.agent_latency$$, '55000',
                 'governance latency histograms need shared_preload_libraries = ''pg_governance''',
                 'the latency views say what they need');
SELECT throws_ok($$SELECT governance.reset_latency_histograms()$$, '55000', NULL,
                 'so does the reset');
SET governance.require_context = enforce;
SELECT is((SELECT count(*)::int FROM regress_pre_docs), 2,
          'without preload, require_context follows RLS: a superuser reads');
SET session_replication_role = replica;
SELECT lives_ok($$INSERT INTO regress_pre_ledger VALUES (1, 1)$$,
                'and a write that fires no audit trigger is not held (documented limit)');
RESET session_replication_role;
RESET governance.require_context;
SELECT dblink_connect('regress_pre_c', :'conninfo');
SELECT dblink_exec('regress_pre_c', 'SET ROLE regress_pre_app');
SELECT dblink_exec('regress_pre_c', 'BEGIN');
SELECT * FROM dblink('regress_pre_c', $$SELECT governance.set_context('alice', 'acme', 'pre-c')$$) AS t(x text);
SELECT dblink_exec('regress_pre_c', $$INSERT INTO regress_pre_docs VALUES (3, 'mallory', 'acme')$$, false);
SELECT dblink_exec('regress_pre_c', 'ROLLBACK');
SELECT is((SELECT count(*)::int FROM governance.denied_log WHERE correlation_id = 'pre-c'), 0,
          'without preload the record waits for the denied session''s next statement');
SELECT dblink_exec('regress_pre_c', 'RESET ROLE');
SELECT is((SELECT recorded_by FROM governance.denied_log WHERE correlation_id = 'pre-c'), 'backend',
          '... which writes it (recorded_by = backend)');
SELECT dblink_disconnect('regress_pre_c');
SELECT is((SELECT count(*)::int FROM governance.denied_log WHERE correlation_id = 'pre-c'), 1, 'once');
\endif

SELECT * FROM finish();

SET client_min_messages = warning;
DROP TABLE regress_pre_docs, regress_pre_ledger, regress_pre_parts;
DROP EXTENSION pg_governance;
DROP ROLE regress_pre_app, regress_pre_outsider;
