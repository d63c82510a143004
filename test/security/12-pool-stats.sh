#!/usr/bin/env bash
# Findings 12/12b and their class: pool stats cannot be poisoned.  The
# per-role cap on reported pools holds under concurrent sessions, values
# beyond the client's own limits are refused, and connection_budget counts
# at most what the server would let one role open.  0.6: a role cannot
# claim another role's backends as its pool's connections.
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 14
sec_db sec12
out=$(sec_install sec12); ok $? "CREATE EXTENSION by $SECURITY_INSTALLER ($out)"

# report ROLE POOL [key=value ...]: one valid report with overrides
report_json() {
	local pool=$1; shift
	local js="{\"pool_id\":\"$pool\",\"client_pid\":4242,\"report_interval_s\":10,\"uptime_s\":1,\"pool_size\":10,\"max_overflow\":5,\"size\":2,\"checked_out\":1,\"idle\":1,\"overflow_in_use\":0,\"waiters\":0,\"circuit\":\"closed\",\"acquires_total\":1,\"timeouts_total\":0,\"exhaustion_events_total\":0,\"connect_failures_total\":0,\"invalidated_total\":0,\"acquire_wait_p50_ms\":0,\"acquire_wait_p99_ms\":1,\"query_p99_ms\":2}"
	local kv
	for kv in "$@"; do
		js=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); k,v=sys.argv[2].split("=",1); d[k]=json.loads(v); print(json.dumps(d))' "$js" "$kv")
	done
	printf '%s' "$js"
}

# Absurd values (finding 12b) are refused, one by one.
n_refused=0; details=
while read -r kv; do
	js=$(report_json absurd "$kv")
	out=$(printf "SELECT governance.report_pool_stats('%s');\n" "$js" | as_all app_a sec12)
	if printf '%s' "$out" | grep -q 'invalid pool stats report'; then n_refused=$((n_refused + 1)); else details="$details $kv"; fi
done <<'VALUES'
pool_size=100000
max_overflow=100000
size=200000
checked_out=200000
idle=200000
overflow_in_use=100000
waiters=10000000
size=16
checked_out=3
idle=3
overflow_in_use=6
acquire_wait_p50_ms=1000000000
acquire_wait_p99_ms=1000000000
VALUES
is "$n_refused" 13 "values beyond the client's limits or inconsistent with each other are refused (accepted:$details)"
js=$(report_json sane pool_size=10000 max_overflow=10000 size=20000 checked_out=20000 idle=0 overflow_in_use=10000)
out=$(printf "SELECT governance.report_pool_stats('%s');\n" "$js" | as app_a sec12); ok $? "a report at the client's limits is accepted ($out)"

# connection_budget: one role counts at most what the server lets it open.
is "$(printf 'SELECT demand <= available FROM governance.connection_budget;\n' | as postgres sec12)" t \
	"one role's reports cannot push demand beyond what the server allows it"
printf 'ALTER ROLE app_a CONNECTION LIMIT 7;\n' | as postgres postgres >/dev/null
is "$(printf 'SELECT demand FROM governance.connection_budget;\n' | as postgres sec12)" 7 \
	"... nor beyond its CONNECTION LIMIT"
printf 'ALTER ROLE app_a CONNECTION LIMIT -1;\n' | as postgres postgres >/dev/null

# The cap under concurrency (finding 12): session A fills the role's 1000
# pools and keeps its transaction open until session B has tried to add
# one more; B must end up refused, and the role has 1000 rows.
printf 'TRUNCATE governance.pool_reports;\n' | as postgres sec12 >/dev/null
fill_sql() {  # fill_sql TAG N
	cat <<SQL
SELECT count(*) FROM (
  SELECT governance.report_pool_stats(jsonb_build_object(
    'pool_id', format('flood-%s-%s', '$1', g), 'client_pid', 4242, 'report_interval_s', 10,
    'uptime_s', 1, 'pool_size', 10, 'max_overflow', 5, 'size', 0, 'checked_out', 0,
    'idle', 0, 'overflow_in_use', 0, 'waiters', 0, 'circuit', 'closed',
    'acquires_total', 1, 'timeouts_total', 0, 'exhaustion_events_total', 0,
    'connect_failures_total', 0, 'invalidated_total', 0, 'acquire_wait_p50_ms', 0,
    'acquire_wait_p99_ms', 0))
  FROM generate_series(1, $2) g) s;
SQL
}
# the gate: the driver holds an advisory lock that A waits for before COMMIT
coproc GATE { PGOPTIONS='-c client_min_messages=warning' psql -XqAt -U postgres -d sec12 2>&1; }
printf 'SELECT pg_advisory_lock(1212);\nSELECT 1;\n' >&"${GATE[1]}"
read -r _ <&"${GATE[0]}"; read -r _ <&"${GATE[0]}"
{ printf 'BEGIN;\n'; fill_sql a 1000; printf 'SELECT pg_advisory_lock_shared(1212);\nCOMMIT;\n'; } |
	as_all app_b sec12 >/tmp/sec12_a.$$ &
a_pid=$!
wait_for() {  # wait_for SQL: poll (at most 5 min) until SQL returns t
	for _ in $(seq 1 3000); do
		[ "$(printf '%s\n' "$1" | as postgres sec12)" = t ] && return 0
		sleep 0.1
	done
	return 1
}
wait_for "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND objid = 1212 AND NOT granted);" ||
	bail "session A did not reach its gate"
{ printf 'BEGIN;\n'; fill_sql b 1; printf 'COMMIT;\n'; } | PGAPPNAME=sec12_b as_all app_b sec12 >/tmp/sec12_b.$$ &
b_pid=$!
# B either waits for A (serialised) or finishes by itself (not serialised)
b_state=
for _ in $(seq 1 3000); do
	if ! kill -0 "$b_pid" 2>/dev/null; then b_state=finished; break; fi
	[ "$(printf "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'sec12_b' AND wait_event_type = 'Lock');\n" |
		as postgres sec12)" = t ] && { b_state=waiting; break; }
	sleep 0.1
done
[ -n "$b_state" ] || bail "session B neither waited nor finished"
printf 'SELECT pg_advisory_unlock(1212);\n\\q\n' >&"${GATE[1]}"
wait "$a_pid" "$b_pid"
is "$b_state" waiting "the second session of the role waits for the first one's reports to commit"
like "$(cat /tmp/sec12_b.$$)" 'too many client pools reported by role "app_b"' "finding 12: the concurrent session is refused at the cap"
is "$(printf "SELECT count(*) FROM governance.pool_reports WHERE db_user = 'app_b';\n" | as postgres sec12)" 1000 \
	"finding 12: the role keeps at most 1000 pools under concurrency"
rm -f /tmp/sec12_a.$$ /tmp/sec12_b.$$

# Expiry: a pool not refreshed within 3 report intervals (at least an
# hour) is deleted by the next report of anyone.
printf "UPDATE governance.pool_reports SET reported_at = reported_at - interval '61 minutes' WHERE pool_id = 'flood-a-1';\n" | as postgres sec12 >/dev/null
printf "SELECT governance.report_pool_stats('%s');\n" "$(report_json other)" | as app_a sec12 >/dev/null
is "$(printf "SELECT count(*) FROM governance.pool_reports WHERE pool_id = 'flood-a-1';\n" | as postgres sec12)" 0 \
	"a pool not refreshed for an hour (3 intervals of 10 s) is gone after the next report"
printf "UPDATE governance.pool_reports SET reported_at = reported_at - interval '3 days', report_interval_s = 86400 WHERE pool_id = 'flood-a-2';\n" | as postgres sec12 >/dev/null
printf "SELECT governance.report_pool_stats('%s');\n" "$(report_json other)" | as app_a sec12 >/dev/null
is "$(printf "SELECT count(*) FROM governance.pool_reports WHERE pool_id = 'flood-a-2';\n" | as postgres sec12)" 0 \
	"a pool reporting daily is gone 3 days after its last report"
# report_interval_s beyond the client's maximum (1 day) is refused
out=$(printf "SELECT governance.report_pool_stats('%s');\n" "$(report_json long report_interval_s=86401)" | as_all app_a sec12)
like "$out" 'invalid pool stats report' "a report interval beyond a day is refused"
# only the reporting role's own rows: app_a cannot write app_b's
is "$(printf "SELECT count(*) FROM governance.pool_reports WHERE db_user = 'app_a';\n" | as postgres sec12)" 1 \
	"reports are keyed by the reporting role"

# 0.6: the pids a report names as the pool's connections are kept only when
# they are client backends of the reporting role: app_a cannot make
# app_b's sessions count as its pool's.
coproc VICTIM { PGOPTIONS='-c client_min_messages=warning' psql -XqAt -U app_b -d sec12 2>&1; }
printf 'SELECT pg_backend_pid();\n' >&"${VICTIM[1]}"
read -r victim <&"${VICTIM[0]}"
out=$(printf "SELECT governance.report_pool_stats('%s'::jsonb || jsonb_build_object('report_pid', pg_backend_pid(), 'backend_pids', jsonb_build_array(pg_backend_pid(), %s)));\nSELECT pg_backend_pid();\n" \
	"$(report_json claim size=2 checked_out=1 idle=1)" "$victim" | as app_a sec12)
own=$(printf '%s\n' "$out" | tail -n 1)
is "$(printf "SELECT backend_pids::text || ' ' || (missing_pids = ARRAY[%s]) FROM governance.pool_reports WHERE pool_id = 'claim';\n" "$victim" | as postgres sec12)" \
	"{$own} true" "a report keeps only the reporting role's own backends (app_b's $victim is dropped)"
printf 'SELECT 1;\n' >&"${VICTIM[1]}"; read -r _ <&"${VICTIM[0]}"
is "$(printf "SELECT server_connections FROM governance.pool_stats WHERE pool_id = 'claim';\n" | as postgres sec12)" 0 \
	"pool_stats counts none of app_b's sessions for app_a's pool, while they are connected"
printf '\\q\n' >&"${VICTIM[1]}"
done_testing
