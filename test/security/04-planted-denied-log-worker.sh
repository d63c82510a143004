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
log=${GOVERNANCE_SERVER_LOG:-}
[ -n "$log" ] && [ -r "$log" ] || bail "needs the server log (GOVERNANCE_SERVER_LOG, set by scripts/with-cluster)"
mark=$(wc -l <"$log")
out=$(printf 'INSERT INTO bait VALUES (1);\n' | as_all dbowner sec04)
like "$out" 'row-level security' "the RLS refusal happened"
# wait (at most 30 s) for the writer to deal with the record: it says so in
# the server log (or crashes, before the fix)
seen=
for _ in $(seq 1 300); do
	seen=$(tail -n +"$((mark + 1))" "$log" | grep -E -m1 'not the denied_log of extension|denied attempts dropped|terminated by signal' || true)
	[ -n "$seen" ] && break
	sleep 0.1
done
like "$seen" 'table "governance.denied_log" is not the denied_log of extension "pg_governance": it is not a member' \
	"the writer refused the planted denied_log, naming it"
is "$(printf 'SELECT pg_postmaster_start_time();\n' | as postgres postgres)" "$started" \
	"finding 04: the cluster was not restarted"
unlike "$(tail -n +"$((mark + 1))" "$log")" 'terminated by signal|reinitializing' \
	"the server log shows no crashed process"
is "$(printf 'SELECT count(*) FROM governance.denied_log;\n' | as postgres sec04)" 0 \
	"the writer wrote nothing into the planted denied_log"
done_testing
