--
-- Pool health without preload: report_pool_stats() validation and keying,
-- the pool_stats view (stale flag, server-side counts), pool_alerts
-- (fire and clear), connection_budget arithmetic.
--
CREATE EXTENSION pg_governance;
\set VERBOSITY default

SELECT active, detail FROM governance.capabilities() WHERE feature = 'pool_stats';
SELECT * FROM governance.pool_alert_settings();

CREATE ROLE regress_pool_a LOGIN;
CREATE ROLE regress_pool_b LOGIN;
CREATE ROLE regress_pool_reader;

-- A healthy report: nothing checked out, no connection open.
\set base '{"pool_id": "app.1234.1", "client_pid": 1234, "report_interval_s": 10, "uptime_s": 5, "pool_size": 10, "max_overflow": 5, "size": 0, "checked_out": 0, "idle": 0, "overflow_in_use": 0, "waiters": 0, "circuit": "closed", "acquires_total": 7, "timeouts_total": 0, "exhaustion_events_total": 0, "connect_failures_total": 0, "invalidated_total": 0, "acquire_wait_p50_ms": 0.01, "acquire_wait_p99_ms": 0.2, "query_p99_ms": 3.5}'

CREATE TEMP VIEW pools AS
	SELECT pool_id, db_user, client_pid, pool_size, max_overflow, size,
		   checked_out, idle, waiters, acquires_total, exhaustion_events_last_hour,
		   timeouts_last_hour, circuit, stale, server_connections
	  FROM governance.pool_stats ORDER BY db_user, pool_id;
CREATE TEMP VIEW alerts AS
	SELECT db_user, pool_id, metric, value, threshold, setting
	  FROM governance.pool_alerts ORDER BY db_user, pool_id, metric;

-- Reports appear in pool_stats, keyed by the reporting login role
SET SESSION AUTHORIZATION regress_pool_a;
SELECT governance.report_pool_stats(:'base');
RESET SESSION AUTHORIZATION;
SELECT * FROM pools;

-- Another client reusing the same pool id gets its own row: it cannot
-- overwrite a's
SET SESSION AUTHORIZATION regress_pool_b;
SELECT governance.report_pool_stats(:'base'::jsonb || '{"acquires_total": 999, "size": 0}');
-- nor write, or even read, the table behind the view
UPDATE governance.pool_reports SET acquires_total = 0;
DELETE FROM governance.pool_reports;
SELECT count(*) FROM governance.pool_reports;
-- nor read the views until granted
SELECT count(*) FROM governance.pool_stats;
RESET SESSION AUTHORIZATION;
SELECT * FROM pools;

-- The same client reporting again updates its row
SET SESSION AUTHORIZATION regress_pool_a;
SELECT governance.report_pool_stats(:'base'::jsonb || '{"acquires_total": 8}');
RESET SESSION AUTHORIZATION;
SELECT db_user, acquires_total FROM pools;

-- Hostile or malformed payloads are refused, nothing is stored
SET SESSION AUTHORIZATION regress_pool_a;
SELECT governance.report_pool_stats(NULL);
SELECT governance.report_pool_stats('[1, 2]');
SELECT governance.report_pool_stats('"pool"');
SELECT governance.report_pool_stats(:'base'::jsonb - 'checked_out');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"checked_out": "3"}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"checked_out": -1}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"checked_out": 1.5}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"checked_out": null}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"checked_out": [1]}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"acquires_total": 1e300}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"pool_size": 99999999999}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"report_interval_s": 0}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"client_pid": 0}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"admin": true}');
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object(repeat('k', 200), 1));
SELECT governance.report_pool_stats(:'base'::jsonb || '{"pool_id": "x''; DROP TABLE governance.pool_reports; --"}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"pool_id": ""}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"pool_id": 12}');
SELECT governance.report_pool_stats(:'base'::jsonb || '{"circuit": "ajar"}');
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('pool_id', repeat('p', 5000)));
SELECT governance.report_pool_stats(:'base'::jsonb || jsonb_build_object('query_p99_ms', 'NaN'::numeric));
RESET SESSION AUTHORIZATION;
SELECT db_user, acquires_total, checked_out FROM pools;

-- Optional query_p99_ms may be null
SET SESSION AUTHORIZATION regress_pool_a;
SELECT governance.report_pool_stats(:'base'::jsonb || '{"pool_id": "app.1234.2", "query_p99_ms": null}');
RESET SESSION AUTHORIZATION;
SELECT pool_id, query_p99_ms FROM governance.pool_stats WHERE pool_id = 'app.1234.2';
-- (the table is not writable by users; the superuser ages rows to test)
UPDATE governance.pool_reports SET reported_at = reported_at - interval '25 seconds'
 WHERE pool_id = 'app.1234.2';
SELECT pool_id, stale FROM pools WHERE pool_id = 'app.1234.2';
UPDATE governance.pool_reports SET reported_at = reported_at - interval '10 seconds'
 WHERE pool_id = 'app.1234.2';
SELECT pool_id, stale FROM pools WHERE pool_id = 'app.1234.2';
-- a fresh report clears it
SET SESSION AUTHORIZATION regress_pool_a;
SELECT governance.report_pool_stats(:'base'::jsonb || '{"pool_id": "app.1234.2"}');
RESET SESSION AUTHORIZATION;
SELECT pool_id, stale FROM pools WHERE pool_id = 'app.1234.2';

-- Healthy pools raise no alert
SELECT * FROM alerts;

-- Alerts fire on crafted stats (the reports above were taken 5 s after start)
SET SESSION AUTHORIZATION regress_pool_a;
SELECT governance.report_pool_stats(:'base'::jsonb || '{"checked_out": 9, "idle": 0, "size": 9, "exhaustion_events_total": 6, "timeouts_total": 2, "query_p99_ms": 1500}');
RESET SESSION AUTHORIZATION;
SELECT * FROM alerts;
SELECT pool_id, exhaustion_events_last_hour, timeouts_last_hour, server_connections FROM pools;

-- ... and clear when the settings move
SET governance.pool_alert_checked_out_pct = 95;
SET governance.pool_alert_query_p99_ms = '2s';
SET governance.pool_alert_connection_mismatch = 9;
SELECT * FROM alerts;
RESET ALL;

-- ... or when the events happened more than an hour ago: the superuser
-- crafts the history (a sample of the same totals 61 minutes ago), and the
-- pool reports the same totals again
UPDATE governance.pool_reports
   SET sample_at = ARRAY[now() - interval '61 minutes'],
	   sample_exhaustion_events = ARRAY[6], sample_timeouts = ARRAY[2],
	   first_report_at = now() - interval '61 minutes', uptime_s = 4000
 WHERE pool_id = 'app.1234.1' AND db_user = 'regress_pool_a';
SET SESSION AUTHORIZATION regress_pool_a;
SELECT governance.report_pool_stats(:'base'::jsonb || '{"uptime_s": 4000, "exhaustion_events_total": 6, "timeouts_total": 2}');
RESET SESSION AUTHORIZATION;
SELECT pool_id, exhaustion_events_last_hour, timeouts_last_hour FROM pools WHERE db_user = 'regress_pool_a';
SELECT * FROM alerts;
-- new events within the hour count from that baseline
SET SESSION AUTHORIZATION regress_pool_a;
SELECT governance.report_pool_stats(:'base'::jsonb || '{"uptime_s": 4010, "exhaustion_events_total": 12, "timeouts_total": 3}');
RESET SESSION AUTHORIZATION;
SELECT pool_id, exhaustion_events_last_hour, timeouts_last_hour FROM pools WHERE db_user = 'regress_pool_a';
SELECT * FROM alerts;
-- a pool whose history is lost (older than an hour, first seen now)
-- counts from its first report, not since it started
SET SESSION AUTHORIZATION regress_pool_a;
SELECT governance.report_pool_stats(:'base'::jsonb || '{"pool_id": "app.1234.3", "uptime_s": 86400, "exhaustion_events_total": 500, "timeouts_total": 40}');
RESET SESSION AUTHORIZATION;
SELECT pool_id, exhaustion_events_last_hour, timeouts_last_hour FROM pools WHERE pool_id = 'app.1234.3';

-- connection_budget: Σ(pool_size + max_overflow) of the live pools
SELECT pools, pool_size_total, max_overflow_total, demand,
	   available = current_setting('max_connections')::int
				   - current_setting('superuser_reserved_connections')::int AS available_ok,
	   headroom = available - demand AS headroom_ok
  FROM governance.connection_budget;
UPDATE governance.pool_reports SET reported_at = reported_at - interval '1 minute'
 WHERE db_user = 'regress_pool_b';
SELECT pools, demand FROM governance.connection_budget;
SELECT count(*) AS stale_pools_alert FROM governance.pool_alerts WHERE db_user = 'regress_pool_b';

-- Reading is granted through the extension owner (here the superuser)
GRANT SELECT ON governance.pool_stats, governance.pool_alerts, governance.connection_budget
	TO regress_pool_reader;
SET ROLE regress_pool_reader;
SELECT count(*) FROM governance.pool_stats;
SELECT pools FROM governance.connection_budget;
SELECT count(*) > 0 AS sees_alerts FROM governance.pool_alerts;
RESET ROLE;

DROP VIEW pools, alerts;
DROP EXTENSION pg_governance;
DROP ROLE regress_pool_a, regress_pool_b, regress_pool_reader;

-- ALTER EXTENSION UPDATE from 0.2 by the non-superuser who installed it:
-- the owner reads the new views and may grant reading, nothing more
CREATE ROLE regress_pool_owner;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_pool_owner', current_database()) \gexec
SET ROLE regress_pool_owner;
CREATE EXTENSION pg_governance VERSION '0.2';
ALTER EXTENSION pg_governance UPDATE TO '0.3';
SELECT extversion FROM pg_extension WHERE extname = 'pg_governance';
SELECT governance.report_pool_stats('{"pool_id": "upg", "client_pid": 1, "report_interval_s": 10, "uptime_s": 1, "pool_size": 2, "max_overflow": 1, "size": 0, "checked_out": 0, "idle": 0, "overflow_in_use": 0, "waiters": 0, "circuit": "closed", "acquires_total": 0, "timeouts_total": 0, "exhaustion_events_total": 0, "connect_failures_total": 0, "invalidated_total": 0, "acquire_wait_p50_ms": 0, "acquire_wait_p99_ms": 0}');
SELECT pools, demand FROM governance.connection_budget;
RESET ROLE;
SELECT c.relname, c.relkind, c.relpersistence, r.rolsuper AS superuser_owned,
	   has_table_privilege('regress_pool_owner', c.oid, 'SELECT') AS owner_reads,
	   has_table_privilege('regress_pool_owner', c.oid, 'SELECT WITH GRANT OPTION') AS owner_grants,
	   has_table_privilege('regress_pool_owner', c.oid, 'UPDATE') AS owner_updates
  FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
 WHERE c.relnamespace = 'governance'::regnamespace AND c.relname ~ '^(pool_|connection_budget)'
   AND c.relkind IN ('r', 'v')
 ORDER BY c.relname;
SELECT p.proname, p.prosecdef, p.proconfig
  FROM pg_proc p WHERE p.pronamespace = 'governance'::regnamespace AND p.proname LIKE '%pool%'
 ORDER BY p.proname;
SET ROLE regress_pool_owner;
DROP EXTENSION pg_governance;
RESET ROLE;
DROP SCHEMA IF EXISTS governance;
SELECT format('REVOKE CREATE ON DATABASE %I FROM regress_pool_owner', current_database()) \gexec
DROP ROLE regress_pool_owner;
