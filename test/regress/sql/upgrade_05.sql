--
-- 0.4 -> 0.5 (the trust boundary): ALTER EXTENSION UPDATE by the
-- non-superuser who installed 0.4 in a schema it owned (as the 0.4 scripts
-- left it) hands the schema to the superuser, keeps the logs' rows and the
-- owner's grants, rebuilds the views on pg_catalog operators only, and
-- brings the bounded, serialised report_pool_stats().  With a foreign
-- object in the schema the update is refused.
--
CREATE ROLE regress_u5_owner;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_u5_owner', current_database()) \gexec
SET ROLE regress_u5_owner;
CREATE EXTENSION pg_governance VERSION '0.4';
RESET ROLE;
-- as the 0.4 scripts left it: the installer owns the schema
ALTER SCHEMA governance OWNER TO regress_u5_owner;
CREATE TABLE u5 (id int);
ALTER TABLE u5 OWNER TO regress_u5_owner;
SET ROLE regress_u5_owner;
SELECT governance.enable_audit('u5');
INSERT INTO u5 VALUES (1);
-- a foreign object in the schema: the update is refused, naming it
CREATE FUNCTION governance.mine() RETURNS int LANGUAGE sql AS 'SELECT 1';
\set VERBOSITY default
\set SHOW_CONTEXT never
ALTER EXTENSION pg_governance UPDATE TO '0.5';
\set VERBOSITY terse
\set SHOW_CONTEXT errors
DROP FUNCTION governance.mine();
ALTER EXTENSION pg_governance UPDATE TO '0.5';
SELECT extversion FROM pg_extension WHERE extname = 'pg_governance';
RESET ROLE;
SELECT r.rolsuper AS schema_superuser_owned, n.nspacl IS NOT NULL AS has_acl,
	   has_schema_privilege('regress_u5_owner', n.oid, 'CREATE') AS owner_creates,
	   has_schema_privilege('public', n.oid, 'USAGE') AS public_uses
  FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = 'governance';
SELECT count(*) AS audit_rows_kept FROM governance.audit_log WHERE relation = 'public.u5';
SELECT c.relname,
	   has_table_privilege('regress_u5_owner', c.oid, 'SELECT WITH GRANT OPTION') AS owner_grants
  FROM pg_class c
 WHERE c.relnamespace = 'governance'::regnamespace AND c.relkind = 'v'
 ORDER BY 1;
-- the views call nothing outside pg_catalog but the extension's own functions
SELECT DISTINCT v.relname, pg_describe_object(d.refclassid, d.refobjid, 0) AS outside_pg_catalog
  FROM pg_class v
  JOIN pg_rewrite w ON w.ev_class = v.oid
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
 WHERE v.relnamespace = 'governance'::regnamespace
   AND ((d.refclassid = 'pg_operator'::regclass
		 AND (SELECT oprnamespace FROM pg_operator WHERE oid = d.refobjid) <> 'pg_catalog'::regnamespace)
	 OR (d.refclassid = 'pg_proc'::regclass
		 AND (SELECT pronamespace FROM pg_proc WHERE oid = d.refobjid) <> 'pg_catalog'::regnamespace))
 ORDER BY 1, 2;
-- report_pool_stats(): bounded by the client's limits
SET ROLE regress_u5_owner;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT governance.report_pool_stats('{"pool_id": "u5", "client_pid": 1, "report_interval_s": 10, "uptime_s": 5, "pool_size": 100000, "max_overflow": 5, "size": 0, "checked_out": 0, "idle": 0, "overflow_in_use": 0, "waiters": 0, "circuit": "closed", "acquires_total": 7, "timeouts_total": 0, "exhaustion_events_total": 0, "connect_failures_total": 0, "invalidated_total": 0, "acquire_wait_p50_ms": 0.01, "acquire_wait_p99_ms": 0.2}');
SELECT governance.report_pool_stats('{"pool_id": "u5", "client_pid": 1, "report_interval_s": 10, "uptime_s": 5, "pool_size": 10, "max_overflow": 5, "size": 3, "checked_out": 2, "idle": 2, "overflow_in_use": 0, "waiters": 0, "circuit": "closed", "acquires_total": 7, "timeouts_total": 0, "exhaustion_events_total": 0, "connect_failures_total": 0, "invalidated_total": 0, "acquire_wait_p50_ms": 0.01, "acquire_wait_p99_ms": 0.2}');
SELECT governance.report_pool_stats('{"pool_id": "u5", "client_pid": 1, "report_interval_s": 10, "uptime_s": 5, "pool_size": 10, "max_overflow": 5, "size": 3, "checked_out": 2, "idle": 1, "overflow_in_use": 0, "waiters": 0, "circuit": "closed", "acquires_total": 7, "timeouts_total": 0, "exhaustion_events_total": 0, "connect_failures_total": 0, "invalidated_total": 0, "acquire_wait_p50_ms": 0.01, "acquire_wait_p99_ms": 0.2}');
\set VERBOSITY terse
\set SHOW_CONTEXT errors
RESET ROLE;
SELECT pool_id, db_user, pool_size, size, checked_out, idle FROM governance.pool_stats;
SELECT pools, demand FROM governance.connection_budget;
DROP TABLE u5;
DROP EXTENSION pg_governance;
DROP SCHEMA governance;
SELECT format('REVOKE CREATE ON DATABASE %I FROM regress_u5_owner', current_database()) \gexec
DROP ROLE regress_u5_owner;
