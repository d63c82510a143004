#!/usr/bin/env bash
# Finding 04 and its class: the preloaded mode's background writer (the
# bootstrap superuser) never crashes on, writes into or runs code of a
# denied_log look-alike; the cluster keeps running.
cd "$(dirname "$0")/../.." && . test/security/lib.bash
if ! psql -XAtq -d postgres -c 'SHOW shared_preload_libraries' | grep -q pg_governance; then
	plan 1; ok 0 "# SKIP the background writer runs in the preloaded mode only"; exit 0
fi
plan 5
sec_db sec04
printf "CREATE EXTENSION pg_governance VERSION '0.1';\n" | as "$SECURITY_INSTALLER" sec04 >/dev/null || bail "cannot install 0.1"
# a schema still owned by the installer (installed before 0.5), planted as in finding 04
printf 'ALTER SCHEMA governance OWNER TO dbowner;\n' | as postgres sec04 >/dev/null
as dbowner sec04 >/dev/null <<'SQL' || bail "cannot plant"
CREATE SEQUENCE governance.denied_log_id_seq;
CREATE TABLE governance.denied_log (
  id bigint, at timestamptz, logged_at timestamptz, source text, action text, sqlstate text,
  relid oid, relation text, command text, agent_id text, tenant_id text, correlation_id text,
  db_user text, db_session_user text, application_name text, client_addr inet, backend_pid integer,
  message text, statement text, recorded_by text);
CREATE FUNCTION public.f(t text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT t FROM (VALUES (1)) v $$;
CREATE INDEX ON governance.denied_log (public.f(message));
CREATE TABLE bait (id int);
ALTER TABLE bait ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY p ON bait WITH CHECK (false);
SQL
started=$(printf 'SELECT pg_postmaster_start_time();\n' | as postgres postgres)
counts() {
	printf "SELECT substring(detail from '([0-9]+ handed over, [0-9]+ written)') FROM governance.capabilities() WHERE feature = 'denied_log';\n" |
		as postgres sec04
}
before=$(counts)
out=$(printf 'INSERT INTO bait VALUES (1);\n' | as_all dbowner sec04)
like "$out" 'row-level security' "the RLS refusal happened"
# wait (at most 30 s) until the writer has taken the record: written catches up with handed
for _ in $(seq 1 300); do
	c=$(counts)
	h=${c%% handed*}; w=${c##*over, }; w=${w%% written}
	[ -n "$h" ] && [ "$c" != "$before" ] && [ "$h" = "$w" ] && break
	[ -z "$c" ] && break
	sleep 0.1
done
is "$(printf 'SELECT pg_postmaster_start_time();\n' | as postgres postgres)" "$started" \
	"finding 04: the cluster was not restarted"
unlike "$(cat "${GOVERNANCE_SERVER_LOG:-/dev/null}" 2>/dev/null)" 'terminated by signal|reinitializing' \
	"the server log shows no crashed process"
is "$(printf 'SELECT count(*) FROM governance.denied_log;\n' | as postgres sec04)" 0 \
	"the writer wrote nothing into the planted denied_log"
like "$c" '^([0-9]+) handed over, \1 written$' \
	"the writer dealt with the record ($c; before: $before)"
done_testing
