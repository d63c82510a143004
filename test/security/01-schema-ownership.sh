#!/usr/bin/env bash
# Finding 01 and its class: the installer must not own the extension's
# schema (it could rename it and plant look-alikes that the superuser-owned
# SECURITY DEFINER code then resolves), and the SECURITY DEFINER functions
# pin their search_path and are the only ones.
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 10
sec_db sec01
out=$(sec_install sec01); ok $? "CREATE EXTENSION by $SECURITY_INSTALLER ($out)"

is "$(as postgres sec01 <<'SQL'
SELECT r.rolsuper FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner
 WHERE n.oid = (SELECT extnamespace FROM pg_catalog.pg_extension WHERE extname = 'pg_governance');
SQL
)" t "the extension's schema is owned by a superuser"

is "$(as postgres sec01 <<'SQL'
SELECT pg_catalog.array_to_string(n.nspacl, ' ') ~ '^[a-z_]+=UC/[a-z_]+ =U/[a-z_]+$'
  FROM pg_catalog.pg_namespace n WHERE n.nspname = 'governance';
SQL
)" t "the schema's ACL is the owner's plus USAGE for PUBLIC"

# The attack of finding 01, verbatim.
out=$(as_all dbowner sec01 <<'SQL'
ALTER SCHEMA governance RENAME TO gov_real;
CREATE SCHEMA governance;
CREATE TABLE governance.pool_reports (
	pool_id text NOT NULL, db_user name NOT NULL, client_addr inet, client_pid integer NOT NULL,
	application_name text NOT NULL, first_report_at timestamptz NOT NULL, reported_at timestamptz NOT NULL,
	report_interval_s double precision NOT NULL, uptime_s double precision NOT NULL,
	pool_size integer NOT NULL, max_overflow integer NOT NULL, size integer NOT NULL,
	checked_out integer NOT NULL, idle integer NOT NULL, overflow_in_use integer NOT NULL,
	waiters integer NOT NULL, circuit text NOT NULL, acquires_total bigint NOT NULL,
	timeouts_total bigint NOT NULL, exhaustion_events_total bigint NOT NULL,
	connect_failures_total bigint NOT NULL, invalidated_total bigint NOT NULL,
	acquire_wait_p50_ms double precision NOT NULL, acquire_wait_p99_ms double precision NOT NULL,
	query_p99_ms double precision, timeouts_last_hour bigint NOT NULL,
	exhaustion_events_last_hour bigint NOT NULL, sample_at timestamptz[] NOT NULL,
	sample_timeouts bigint[] NOT NULL, sample_exhaustion_events bigint[] NOT NULL,
	CONSTRAINT pool_reports_key UNIQUE NULLS NOT DISTINCT (pool_id, db_user, client_addr, client_pid));
CREATE FUNCTION governance.evil() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE dbowner SUPERUSER';
  END IF;
  RETURN NULL;
END $f$;
CREATE TRIGGER t BEFORE DELETE ON governance.pool_reports
  FOR EACH STATEMENT EXECUTE FUNCTION governance.evil();
SELECT gov_real.report_pool_stats('{"pool_id":"p","client_pid":1,"report_interval_s":10,"uptime_s":1,
  "pool_size":1,"max_overflow":0,"size":1,"checked_out":0,"idle":1,"overflow_in_use":0,"waiters":0,
  "circuit":"closed","acquires_total":0,"timeouts_total":0,"exhaustion_events_total":0,
  "connect_failures_total":0,"invalidated_total":0,"acquire_wait_p50_ms":0,"acquire_wait_p99_ms":0}');
SQL
)
like "$out" 'must be owner of schema governance' "the installer cannot rename the extension's schema"
is "$(is_superuser dbowner)" f "finding 01: the installer is not a superuser after the attack"

out=$(printf 'CREATE TABLE governance.x (a int);\nCREATE FUNCTION governance.f() RETURNS int LANGUAGE sql AS $$SELECT 1$$;\n' | as_all dbowner sec01)
is "$(printf '%s' "$out" | grep -c 'permission denied for schema governance')" 2 \
	"the installer cannot create tables or functions in the extension's schema"

# After DROP EXTENSION the empty schema stays the superuser's: the
# installer cannot drop or take it, and can install again.
printf 'DROP EXTENSION pg_governance;\n' | as "$SECURITY_INSTALLER" sec01 >/dev/null
out=$(printf 'DROP SCHEMA governance;\n' | as_all dbowner sec01)
like "$out" 'must be owner of schema governance' "the database owner cannot drop the schema left by DROP EXTENSION"
out=$(printf 'CREATE EXTENSION pg_governance;\n' | as_all "$SECURITY_INSTALLER" sec01)
is "$(printf "SELECT e.extversion || ' ' || r.rolsuper FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace JOIN pg_roles r ON r.oid = n.nspowner WHERE e.extname = 'pg_governance';\n" | as postgres sec01)" \
	"0.8 true" "the installer can install again, into the superuser's schema ($out)"

# Every SECURITY DEFINER function of the extension pins search_path to
# pg_catalog, pg_temp; none is anywhere else.
is "$(as postgres sec01 <<'SQL'
SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), 'none')
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_governance'
 WHERE p.prosecdef AND NOT (p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']);
SQL
)" none "SECURITY DEFINER functions pin search_path = pg_catalog, pg_temp"

# The inventory of SECURITY DEFINER functions: a new one must be reviewed
# (it names the extension's relations schema-qualified, never a name a
# non-superuser controls) and added here.
is "$(as postgres sec01 <<'SQL'
SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY 1)
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_governance'
 WHERE p.prosecdef;
SQL
)" "governance.report_pool_stats(jsonb)" "the only SECURITY DEFINER function is report_pool_stats(jsonb)"
done_testing
