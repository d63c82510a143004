-- pgTAP: denied attempts of another session reach denied_log: written by
-- that backend with its next statement, or on its way out when it is
-- terminated before running another one; and always also one server-log
-- line.  Sessions are opened with dblink, so this file commits: it cleans
-- up after itself, also when a test fails (hence no ON_ERROR_STOP: an
-- error shows up as a missing test in the plan).
\set ON_ERROR_STOP 0
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE EXTENSION pg_governance VERSION '0.2';
CREATE ROLE regress_dens_app;
CREATE TABLE regress_dens_orders (id int, agent text, tenant text);
GRANT ALL ON regress_dens_orders TO regress_dens_app;
SELECT governance.enable_rls('regress_dens_orders', 'agent', 'tenant');

SELECT plan(9);
SELECT format('dbname=%s host=%s port=%s user=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port'), current_user) AS conninfo \gset

-- Session A: an RLS violation, then one more statement
SELECT dblink_connect('regress_dens_a', :'conninfo');
-- the denied backend's own path (test/pgtap/preload.sql has the background writer's)
SELECT dblink_exec('regress_dens_a', 'SET governance.denied_log_worker = off');
SELECT dblink_exec('regress_dens_a', 'SET ROLE regress_dens_app');
SELECT dblink_exec('regress_dens_a', 'BEGIN');
SELECT * FROM dblink('regress_dens_a', $$SELECT governance.set_context('alice', 'acme', 'dens-1', false)$$) AS t(x text);
SELECT is(dblink_exec('regress_dens_a', $$INSERT INTO regress_dens_orders VALUES (1, 'mallory', 'acme')$$, false),
          'ERROR', 'session A: the spoofed insert is refused');
SELECT dblink_exec('regress_dens_a', 'ROLLBACK');
SELECT is((SELECT count(*)::int FROM governance.denied_log WHERE correlation_id = 'dens-1'), 0,
          'nothing is in denied_log while session A runs no statement');
SELECT dblink_exec('regress_dens_a', 'RESET ROLE');
SELECT is((SELECT count(*)::int FROM governance.denied_log WHERE correlation_id = 'dens-1'), 1,
          'session A''s next statement (any statement) wrote the record');
SELECT results_eq(
  $$SELECT source, action, sqlstate, relation, relid = 'regress_dens_orders'::regclass, command,
            agent_id, tenant_id, db_user, db_session_user
      FROM governance.denied_log WHERE correlation_id = 'dens-1'$$,
  $$VALUES ('rls'::text, 'refused'::text, '42501'::text, 'public.regress_dens_orders'::text, true, 'INSERT'::text,
            'alice'::text, 'acme'::text, 'regress_dens_app'::text, 'postgres'::text)$$,
  'the record carries the failed attempt''s context, user, relation (schema-qualified, with relid), command and SQLSTATE');
SELECT dblink_disconnect('regress_dens_a');

-- Session B: an enforcement refusal, then the backend is terminated
SELECT dblink_connect('regress_dens_b', :'conninfo');
SELECT dblink_exec('regress_dens_b', 'SET governance.denied_log_worker = off');
SELECT dblink_exec('regress_dens_b', 'SET governance.require_context = enforce');
SELECT dblink_exec('regress_dens_b', 'SET ROLE regress_dens_app');
SELECT pid AS dens_b_pid FROM dblink('regress_dens_b', 'SELECT pg_backend_pid()') AS t(pid int) \gset
-- a correlation id without an agent (only set_context() sets a value; the
-- agent is then cleared), in one implicit transaction with the read
SELECT dblink_exec('regress_dens_b',
  $$SELECT governance.set_context('x', NULL, 'dens-2', false); SET LOCAL governance.agent_id = ''; SELECT id FROM regress_dens_orders$$,
  false);
SELECT alike(dblink_error_message('regress_dens_b'),
          'ERROR:  governance context required for SELECT on table "regress_dens_orders"%',
          'session B: a read without agent_id is refused');
SELECT is((SELECT count(*)::int FROM governance.denied_log WHERE correlation_id = 'dens-2'), 0,
          'nothing is in denied_log yet');
SELECT ok(pg_terminate_backend(:dens_b_pid, 10000), 'session B is terminated (and has exited)');
SELECT results_eq(
  $$SELECT source, action, sqlstate, command, agent_id FROM governance.denied_log WHERE correlation_id = 'dens-2'$$,
  $$VALUES ('require_context'::text, 'refused'::text, '42501'::text, 'SELECT'::text, NULL::text)$$,
  'session B wrote its record on its way out');
SELECT dblink_disconnect('regress_dens_b');

-- Both attempts are also in the server log, as one structured line each
SELECT current_setting('data_directory') || '/../server.log' AS logfile \gset
SELECT CASE WHEN pg_stat_file(:'logfile', true) IS NULL
  THEN skip('server log not readable here', 1)
  ELSE is((SELECT count(*)::int FROM regexp_split_to_table(pg_read_file(:'logfile'), E'\n') l
            WHERE l LIKE '%governance denied attempt: {"source": %'
              AND (l LIKE '%"correlation_id": "dens-1"%' OR l LIKE '%"correlation_id": "dens-2"%')), 2,
          'each attempt is one structured server-log line')
  END;

SELECT * FROM finish();

SET client_min_messages = warning;
DROP TABLE regress_dens_orders;
DROP EXTENSION pg_governance;
DROP ROLE regress_dens_app;
DROP EXTENSION dblink;
