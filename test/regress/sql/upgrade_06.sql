--
-- 0.5 -> 0.6 (pool stats lifecycle): ALTER EXTENSION UPDATE by the
-- non-superuser who installed 0.5 keeps the reported pools.  Reports then
-- name the pool's own backends (only the reporting role's are kept, a
-- pooler's are not taken for backends), pool_stats shows exactly those,
-- a pid the pool claims twice that the server does not have is a
-- mismatch, a final report deletes the row, and a stale pool raises
-- "stale" and nothing else.  Old reports are still accepted.
--
CREATE ROLE regress_u6_owner;
CREATE ROLE regress_u6_app;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_u6_owner', current_database()) \gexec
SET ROLE regress_u6_owner;
CREATE EXTENSION pg_governance VERSION '0.5';
RESET ROLE;
\set base '{"pool_id": "u6.1", "client_pid": 1, "report_interval_s": 10, "uptime_s": 5, "pool_size": 10, "max_overflow": 5, "size": 2, "checked_out": 1, "idle": 1, "overflow_in_use": 0, "waiters": 0, "circuit": "closed", "acquires_total": 7, "timeouts_total": 0, "exhaustion_events_total": 0, "connect_failures_total": 0, "invalidated_total": 0, "acquire_wait_p50_ms": 0.01, "acquire_wait_p99_ms": 0.2}'
\set VERBOSITY default
\set SHOW_CONTEXT never
-- 0.5 refuses the new keys (libgovpool then sends the old report)
SELECT governance.report_pool_stats(:'base'::jsonb || '{"final": true}');
SELECT governance.report_pool_stats(:'base');
SET ROLE regress_u6_owner;
ALTER EXTENSION pg_governance UPDATE TO '0.6';
SELECT extversion FROM pg_extension WHERE extname = 'pg_governance';
RESET ROLE;

CREATE TEMP VIEW pools AS
	SELECT pool_id, size, server_connections, server_active, server_missing,
		   backend_pids = ARRAY[pg_backend_pid()] AS backend_pids_mine,
		   cardinality(backend_pids) AS n_pids, behind_pooler, stale
	  FROM governance.pool_stats ORDER BY pool_id;
CREATE TEMP VIEW alerts AS
	SELECT pool_id, metric, value, threshold, setting
	  FROM governance.pool_alerts WHERE metric <> 'stale' ORDER BY pool_id, metric;

-- The row reported to 0.5 is kept; it named no pids: NULL, no mismatch
SELECT * FROM pools;
SELECT * FROM alerts;

-- A 0.6 report: this backend, and a pid that is no backend
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object(
	'report_pid', pg_backend_pid(), 'backend_pids', jsonb_build_array(pg_backend_pid(), 2147483647)));
SELECT * FROM pools;
-- missing once: may be a connection closed while the report travelled
SELECT * FROM alerts;
-- missing again: the pool holds a connection the server does not have
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object(
	'report_pid', pg_backend_pid(), 'backend_pids', jsonb_build_array(pg_backend_pid(), 2147483647)));
SELECT * FROM pools;
SELECT * FROM alerts;

-- Another role cannot claim this backend (its login role is not that role)
SET SESSION AUTHORIZATION regress_u6_app;
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.2',
	'report_pid', pg_backend_pid(), 'backend_pids', jsonb_build_array(pg_backend_pid())));
RESET SESSION AUTHORIZATION;
SELECT * FROM pools WHERE pool_id = 'u6.2';

-- Behind a pooler report_pid is not the backend's pid: server columns NULL
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.3',
	'report_pid', 2147483647, 'backend_pids', jsonb_build_array(pg_backend_pid())));
SELECT * FROM pools WHERE pool_id = 'u6.3';
-- (PgBouncer's random keys hold negative pids too; the client sends no such backend_pids)
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.5',
	'report_pid', -12345, 'backend_pids', '[]'::jsonb));
SELECT * FROM pools WHERE pool_id = 'u6.5';

-- Malformed pids and goodbyes are refused, nothing is stored
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.4', 'backend_pids', '[1]'::jsonb));
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.4', 'report_pid', 1));
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.4', 'report_pid', 1, 'backend_pids', '{"a": 1}'::jsonb));
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.4', 'report_pid', 1, 'backend_pids', '[1, 2, 3]'::jsonb));
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.4', 'report_pid', 1, 'backend_pids', '[1, 1]'::jsonb));
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.4', 'report_pid', 1, 'backend_pids', '[0]'::jsonb));
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.4', 'report_pid', 1, 'backend_pids', '[1.5]'::jsonb));
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.4', 'report_pid', 1, 'backend_pids', '["1"]'::jsonb));
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.4', 'report_pid', '1', 'backend_pids', '[1]'::jsonb));
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', 'u6.4', 'final', 'yes'));
SELECT count(*) FROM governance.pool_stats WHERE pool_id = 'u6.4';

-- Goodbye: the row leaves the views at once; another key's row stays
SELECT governance.report_pool_stats(:'base'::jsonb || '{"final": true, "client_pid": 2}');
SELECT pool_id FROM pools;
SELECT governance.report_pool_stats(:'base'::jsonb || '{"final": true}');
SELECT pool_id FROM pools;

-- Stale (no report for 3 intervals): "stale" and nothing else, even with
-- figures over every threshold
UPDATE governance.pool_reports
   SET reported_at = reported_at - interval '31 seconds', checked_out = 10, idle = 0, size = 10,
	   query_p99_ms = 5000, timeouts_last_hour = 9, exhaustion_events_last_hour = 9, server_missing = 3
 WHERE pool_id = 'u6.2';
SELECT pool_id, metric, value >= 31 AS value_is_seconds_since, threshold, setting
  FROM governance.pool_alerts WHERE pool_id = 'u6.2';
SELECT pools, demand FROM governance.connection_budget;

DROP VIEW pools, alerts;
DROP EXTENSION pg_governance;
DROP SCHEMA governance;
SELECT format('REVOKE CREATE ON DATABASE %I FROM regress_u6_owner', current_database()) \gexec
DROP ROLE regress_u6_owner;
DROP ROLE regress_u6_app;
