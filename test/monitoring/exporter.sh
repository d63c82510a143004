#!/usr/bin/env bash
# TAP: pg_governance through the monitoring stack operators run.
#
# The Prometheus rules (monitoring/prometheus/) pass `promtool check rules`
# and their unit tests; the Debian prometheus-postgres-exporter, started on a
# free loopback port with monitoring/postgres_exporter/queries.yaml against
# the throwaway cluster, as a non-superuser monitoring role, serves the
# governance metrics with their types and values: two pools reported with
# known figures (one over every pool_alerts seed threshold, one exactly at
# them) and a live libgovpool pool (`govpool bench`).  Its output passes
# `promtool check metrics`, and the rules evaluated on what it served fire
# for the first pool only.  In a preloaded cluster the latency histograms
# and session_context counts are served too; in a plain one they are absent
# and the scrape has no error.  libgovpool's own Prometheus output
# (`govpool stats --prometheus`) passes `promtool check metrics`.
#
# Runs against the server PG* points at (with-cluster); GOVERNANCE_MODE (or
# SHOW shared_preload_libraries) says plain|preload.  Skipped only when
# promtool, the exporter or the govpool CLI is missing (scripts/setup.sh
# installs the Debian packages prometheus and prometheus-postgres-exporter).
set -u
cd "$(dirname "$0")/../.."
EXPORTER=${POSTGRES_EXPORTER:-$(command -v prometheus-postgres-exporter || command -v postgres_exporter)}
PROMTOOL=${PROMTOOL:-$(command -v promtool)}
GOVPOOL=client/build/govpool
QUERIES=monitoring/postgres_exporter/queries.yaml
RULES=monitoring/prometheus/rules.yml
if [ -z "$EXPORTER" ] || [ -z "$PROMTOOL" ] || [ ! -x "$GOVPOOL" ] || [ -z "${PGHOST:-}" ]; then
  echo "1..0 # SKIP needs promtool, prometheus-postgres-exporter, client/build/govpool and a throwaway cluster"; exit 0
fi
mode=${GOVERNANCE_MODE:-}
if [ -z "$mode" ]; then
  if psql -XAtq -d postgres -c 'SHOW shared_preload_libraries' | grep -q pg_governance; then mode=preload; else mode=plain; fi
fi

db=governance_exporter
dir=$(mktemp -d "${TMPDIR:-/tmp}/govexporter.XXXXXX")
exporter_pid="" bench_pid="" holder_pid=""
cleanup() {
  [ -z "$exporter_pid" ] || { kill "$exporter_pid" 2>/dev/null; wait "$exporter_pid" 2>/dev/null; }
  [ -z "$bench_pid" ] || { kill "$bench_pid" 2>/dev/null; wait "$bench_pid" 2>/dev/null; }
  exec 7>&- 2>/dev/null
  [ -z "$holder_pid" ] || { kill "$holder_pid" 2>/dev/null; wait "$holder_pid" 2>/dev/null; }
  PGOPTIONS='-c client_min_messages=warning' psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    -c "DROP ROLE IF EXISTS regress_gov_monitor, regress_gov_owner" >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT

n=0
failed=0
ok() {  # ok STATUS DESCRIPTION [DIAGNOSTIC]
  n=$((n+1))
  if [ "$1" = 0 ]; then echo "ok $n - $2"
  else echo "not ok $n - $2"; failed=$((failed+1)); printf '%s\n' "${3:-}" | head -40 | sed 's/^/# /'; fi
}
# The scrape as one line per sample: NAME<TAB>LABEL=VALUE<TAB>...<TAB>VALUE
# (label values unescaped), made once after the scrape (flatten).
flatten() {
  python3 - "$dir/metrics.txt" >"$dir/samples.tsv" <<'PY'
import re, sys
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
unescape = lambda v: re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)
for line in open(sys.argv[1]):
    m = line_re.match(line.rstrip("\n"))
    if m:
        labels = ["%s=%s" % (k, unescape(v)) for k, v in label_re.findall(m.group(2) or "")]
        print("\t".join([m.group(1)] + labels + [m.group(3)]))
PY
}
# sample NAME [LABEL=VALUE...]: the value of the one sample of NAME whose
# labels include every LABEL=VALUE given (else "<N samples>")
sample() {
  awk -F'\t' -v name="$1" -v want="$(shift; IFS=$'\t'; printf '%s' "$*")" '
    BEGIN { nw = (want == "") ? 0 : split(want, w, "\t") }
    $1 == name {
      delete have; for (i = 2; i < NF; i++) have[$i] = 1
      for (i = 1; i <= nw; i++) if (!(w[i] in have)) next
      hits++; v = $NF
    }
    END { if (hits == 1) print v; else printf "<%d samples>\n", hits }' "$dir/samples.tsv"
}
type_of() { sed -n "s/^# TYPE $1 //p" "$dir/metrics.txt"; }

if [ "$mode" = preload ]; then echo "1..30"; else echo "1..27"; fi

# ---- the rules, on their own ----
out=$("$PROMTOOL" check rules "$RULES" 2>&1)
ok $? "promtool check rules $RULES" "$out"
out=$(cd monitoring/prometheus && "$PROMTOOL" test rules rules_test.yml 2>&1)
ok $? "promtool test rules: each threshold from both sides (rules_test.yml)" "$out"

# ---- a governed database with a monitoring role that is not a superuser ----
psql -XqAt -d postgres -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || { echo "Bail out! cannot create the roles"; exit 1; }
SET client_min_messages = warning;
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'regress_gov_owner') THEN CREATE ROLE regress_gov_owner LOGIN; END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'regress_gov_monitor') THEN CREATE ROLE regress_gov_monitor LOGIN; END IF;
END $$;
GRANT pg_read_all_stats TO regress_gov_monitor;
SQL
PGOPTIONS='-c client_min_messages=warning' psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
  -c "CREATE DATABASE $db OWNER regress_gov_owner" >/dev/null
# The database owner installs (trusted) and grants reading, as docs/monitoring.md says.
psql -XqAt -U regress_gov_owner -d $db -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || { echo "Bail out! cannot install pg_governance"; exit 1; }
CREATE EXTENSION pg_governance;
GRANT SELECT ON governance.pool_stats, governance.pool_alerts, governance.connection_budget TO regress_gov_monitor;
CREATE TABLE notes (id integer);
GRANT SELECT ON notes TO PUBLIC;
SQL

# Two pools with known figures.  busy: 9 of 10 checked out (90%), 7
# exhaustion events and 3 timeouts within its first hour, p99 1500 ms.
# calm: exactly at each seed threshold (80%, 5, 1000 ms, 1).  A long report
# interval keeps them live for the whole test.
report() {  # report POOL_ID CLIENT_PID CHECKED_OUT EXHAUSTIONS TIMEOUTS QUERY_P99_MS
  printf '{"pool_id":"%s","client_pid":%d,"report_interval_s":3600,"uptime_s":60,"pool_size":10,"max_overflow":5,"size":10,"checked_out":%d,"idle":%d,"overflow_in_use":0,"waiters":0,"circuit":"closed","acquires_total":100,"timeouts_total":%d,"exhaustion_events_total":%d,"connect_failures_total":0,"invalidated_total":0,"acquire_wait_p50_ms":0.5,"acquire_wait_p99_ms":20,"query_p99_ms":%s}' \
    "$1" "$2" "$3" $((10 - $3)) "$5" "$4" "$6"
}
PGAPPNAME=regress_reporter psql -XqAt -d $db -v ON_ERROR_STOP=1 \
  -c "SELECT governance.report_pool_stats('$(report regress.busy 4101 9 7 3 1500)')" \
  -c "SELECT governance.report_pool_stats('$(report regress.calm 4102 8 5 1 1000)')" >/dev/null
ok $? "two pools reported through governance.report_pool_stats"

# A live libgovpool pool: govpool bench, reporting every 0.2 s, until the end.
env -u DATABASE_URL PGDATABASE=$db DATABASE_POOL_SIZE=3 DATABASE_MAX_OVERFLOW=1 GOVPOOL_APPLICATION_NAME=regress_bench GOVPOOL_REPORT_INTERVAL=0.2 \
  GOVPOOL_LOG_LEVEL=error "$GOVPOOL" bench -c 2 -T 300 --sql "SELECT pg_catalog.pg_sleep(0.05)" >"$dir/bench.log" 2>&1 &
bench_pid=$!
got="" deadline=$((SECONDS + 30))
while [ $SECONDS -lt $deadline ] && kill -0 "$bench_pid" 2>/dev/null; do
  got=$(psql -XAtq -d $db -c "SELECT pg_catalog.count(*) FROM governance.pool_stats WHERE application_name = 'regress_bench' AND acquires_total > 0")
  [ "$got" = 1 ] && break
  sleep 0.1
done
[ "$got" = 1 ]; ok $? "a govpool bench pool reports into pool_stats" "$(cat "$dir/bench.log")"

# Preloaded mode's figures: statements of two agents, and a session that
# holds a context (idle in its transaction) while the exporter scrapes.
for a in alice bob; do
  psql -XqAt -d $db -c "BEGIN" -c "SELECT governance.set_context('$a', 'acme')" \
       -c "SELECT pg_catalog.count(*) FROM notes" -c "COMMIT" >/dev/null
done
mkfifo "$dir/holder"
PGAPPNAME=regress_holder psql -XqAt -d $db <"$dir/holder" >/dev/null 2>&1 &
holder_pid=$!
exec 7>"$dir/holder"
echo "BEGIN; SELECT governance.set_context('carol', 'globex');" >&7
got="" deadline=$((SECONDS + 30))
while [ $SECONDS -lt $deadline ]; do
  got=$(psql -XAtq -d $db -c "SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity WHERE application_name = 'regress_holder' AND state = 'idle in transaction'")
  [ "$got" = 1 ] && break
  sleep 0.1
done

# ---- the exporter ----
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATA_SOURCE_NAME="host=$PGHOST port=$PGPORT user=regress_gov_monitor dbname=$db sslmode=disable" \
  "$EXPORTER" --web.listen-address=127.0.0.1:$port --extend.query-path=$QUERIES \
  --disable-default-metrics --disable-settings-metrics >"$dir/exporter.log" 2>&1 &
exporter_pid=$!
scraped=1 deadline=$((SECONDS + 30))
while [ $SECONDS -lt $deadline ] && kill -0 "$exporter_pid" 2>/dev/null; do
  python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())' \
    "http://127.0.0.1:$port/metrics" >"$dir/metrics.txt" 2>/dev/null && grep -q '^pg_up ' "$dir/metrics.txt" && { scraped=0; break; }
  sleep 0.1
done
ok $scraped "postgres_exporter serves /metrics on 127.0.0.1:$port" "$(cat "$dir/exporter.log")"
flatten
budget=$(psql -XAtq -d $db -c "SELECT demand || ' ' || headroom FROM governance.connection_budget")

is() {  # is GOT WANT DESCRIPTION
  [ "$1" = "$2" ]; ok $? "$3" "got: $1, want: $2"
}
is "$(sample pg_up)" 1 "pg_up 1: the exporter reached the database"
is "$(sample pg_exporter_user_queries_load_error)" 0 "queries.yaml loaded without error"
is "$(sample pg_exporter_last_scrape_error)" 0 "no query of queries.yaml failed ($mode cluster)"
errors=$(grep -E 'level=(error|warn)' "$dir/exporter.log")
[ -z "$errors" ]; ok $? "the exporter logged no error or warning" "$errors"

# Types: figures now are gauges, cumulative counts are counters.
types="$(type_of pg_governance_pool_checked_out) $(type_of pg_governance_pool_acquires_total) $(type_of pg_governance_pool_timeouts_total) $(type_of pg_governance_pool_timeouts_last_hour) $(type_of pg_governance_connection_budget_headroom) $(type_of pg_governance_pool_alert_value)"
is "$types" "gauge counter counter gauge gauge gauge" "types: checked_out gauge, acquires_total and timeouts_total counters, timeouts_last_hour, headroom and alert values gauges"

# Values of the reported pool, under its labels.
busy=(pool=regress.busy application=regress_reporter db_user=postgres client_pid=4101 datname=$db)
got="$(sample pg_governance_pool_checked_out "${busy[@]}") $(sample pg_governance_pool_pool_size "${busy[@]}") $(sample pg_governance_pool_acquires_total "${busy[@]}") $(sample pg_governance_pool_timeouts_last_hour "${busy[@]}") $(sample pg_governance_pool_exhaustion_events_last_hour "${busy[@]}") $(sample pg_governance_pool_query_p99_seconds "${busy[@]}") $(sample pg_governance_pool_circuit_state "${busy[@]}")"
is "$got" "9 10 100 3 7 1.5 0" "pool regress.busy: checked_out 9, pool_size 10, acquires 100, timeouts 3 and exhaustion events 7 last hour, p99 1.5 s, circuit closed"
got=$(for m in checked_out_pct exhaustion_events_per_hour query_p99_ms timeouts_per_hour; do
        printf '%s/%s ' "$(sample pg_governance_pool_alert_value "${busy[@]}" metric=$m)" "$(sample pg_governance_pool_alert_threshold "${busy[@]}" metric=$m)"; done)
is "$got" "90/80 7/5 1500/1000 3/1 " "pool_alerts for regress.busy: all four seed thresholds crossed, value/threshold"
got=$(grep -E '^pg_governance_pool_alert_value\{' "$dir/metrics.txt" | grep 'pool="regress.calm"' | grep -cE 'metric="(checked_out_pct|exhaustion_events_per_hour|query_p99_ms|timeouts_per_hour)"')
is "$got" 0 "pool_alerts for regress.calm (exactly at each threshold): none of the four"

got="$(sample pg_governance_pool_pool_size application=regress_bench) $(sample pg_governance_pool_max_overflow application=regress_bench) $(sample pg_governance_pool_circuit_state application=regress_bench)"
is "$got" "3 1 0" "the govpool bench pool: pool_size 3, max_overflow 1, circuit closed"
got=$(sample pg_governance_pool_acquires_total application=regress_bench)
awk -v v="$got" 'BEGIN { exit !(v ~ /^[0-9.e+]+$/ && v + 0 > 0) }'
ok $? "the govpool bench pool: acquires_total > 0 (got $got)"
is "$(sample pg_governance_pools_live datname=$db) $(sample pg_governance_pools_stale datname=$db)" "3 0" "pools: 3 live, 0 stale"
is "$(sample pg_governance_connection_budget_pools) $(sample pg_governance_connection_budget_demand) $(sample pg_governance_connection_budget_headroom)" \
   "3 $budget" "connection_budget: 3 pools, demand and headroom as the view says"

# What each mode adds.
want_active=0; [ "$mode" = preload ] && want_active=1
is "$(sample pg_governance_capability_active feature=latency_histograms) $(sample pg_governance_capability_active feature=session_context) $(sample pg_governance_capability_active feature=pool_stats)" \
   "$want_active $want_active 1" "capabilities: latency_histograms and session_context $want_active ($mode), pool_stats 1"
if [ "$mode" = preload ]; then
  is "$(type_of pg_governance_agent_latency_calls_total) $(type_of pg_governance_agent_latency_seconds_total) $(type_of pg_governance_agent_latency_p99_seconds)" \
     "counter counter gauge" "preloaded: agent latency calls and seconds are counters, p99 a gauge"
  is "$(sample pg_governance_agent_latency_calls_total agent=alice overflow=false) $(sample pg_governance_agent_latency_calls_total agent=bob overflow=false)" \
     "1 1" "preloaded: one statement each counted for agents alice and bob"
  got=$(sample pg_governance_tenant_latency_calls_total tenant=acme overflow=false)
  is "$got" 2 "preloaded: two statements counted for tenant acme"
  got=$(sample pg_governance_agent_latency_p99_seconds agent=alice)
  awk -v v="$got" 'BEGIN { exit !(v ~ /^[0-9.e+-]+$/ && v + 0 > 0 && v + 0 < 10) }'
  ok $? "preloaded: alice's p99 is a duration in seconds (got $got)"
  is "$(sample pg_governance_session_context_with_agent 'state=idle in transaction') $(sample pg_governance_session_context_agents 'state=idle in transaction') $(sample pg_governance_session_context_with_tenant 'state=idle in transaction')" \
     "1 1 1" "preloaded: the session idle in its transaction counts with its agent and tenant"
  is "$(type_of pg_governance_session_context_sessions)" gauge "preloaded: session counts are gauges"
else
  for family in agent_latency tenant_latency session_context; do
    got=$(grep -c "^pg_governance_${family}_" "$dir/metrics.txt")
    is "$got" 0 "plain: no pg_governance_${family}_* samples (the feature needs preload)"
  done
fi

# Lint: the governance families as Prometheus reads them.
grep -E '^(# (HELP|TYPE) )?pg_governance_' "$dir/metrics.txt" >"$dir/governance.prom"
out=$("$PROMTOOL" check metrics <"$dir/governance.prom" 2>&1)
rc=$?
[ $rc = 0 ] && [ -s "$dir/governance.prom" ]
ok $? "promtool check metrics: the exporter's pg_governance_* families ($(grep -c '^# TYPE' "$dir/governance.prom") of them)" "$out"
dups=$(grep -E '^pg_governance_' "$dir/metrics.txt" | sed 's/ [^ ]*$//' | sort | uniq -d)
[ -z "$dups" ]; ok $? "no two samples share name and labels" "$dups"

# ---- the rules on what the exporter served ----
# Every governance sample of the two known pools and the budget becomes a
# constant series; the rules (annotations aside, pinned in rules_test.yml)
# must fire for regress.busy, not for regress.calm.
awk '/^ *annotations:$/ {skip = 1; ind = match($0, /[^ ]/); next}
     skip && match($0, /[^ ]/) > ind {next}
     {skip = 0; print}' "$RULES" >"$dir/rules.yml"
python3 - "$dir/metrics.txt" "$dir/e2e_test.yml" <<'PY' || echo "python: cannot build the rules test" >&2
import json, re, sys
src, dst = sys.argv[1], sys.argv[2]
line_re = re.compile(r'^(pg_governance_(?:pool|connection_budget)_[a-z0-9_]*)\{(.*)\} (\S+)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
series, busy = [], None
for line in open(src):
    m = line_re.match(line.rstrip("\n"))
    if not m:
        continue
    labels = dict(label_re.findall(m.group(2)))
    if m.group(1).startswith("pg_governance_pool_alert_"):
        continue
    if m.group(1).startswith("pg_governance_pool_") and labels.get("pool") not in ("regress.busy", "regress.calm"):
        continue
    series.append((m.group(1), m.group(2), m.group(3)))
    if m.group(1) == "pg_governance_pool_checked_out" and labels.get("pool") == "regress.busy":
        busy = labels
out = ["rule_files: [rules.yml]", "evaluation_interval: 1m", "tests:", "  - interval: 1m", "    input_series:"]
for name, labels, value in series:
    out.append("      - series: %s" % json.dumps("%s{%s}" % (name, labels)))
    out.append("        values: %s" % json.dumps(" ".join([value] * 6)))
out.append("    alert_rule_test:")
exp = {k: v for k, v in (busy or {}).items() if v != ""}  # Prometheus drops empty labels
for alert, severity in (("GovernancePoolCheckedOutHigh", "warning"), ("GovernancePoolExhaustionEvents", "warning"),
                        ("GovernancePoolQueryP99High", "warning"), ("GovernancePoolTimeouts", "critical")):
    labels = dict(exp, severity=severity)
    out += ["      - eval_time: 5m", "        alertname: " + alert, "        exp_alerts:",
            "          - exp_labels: " + json.dumps(labels)]
out += ["      - eval_time: 5m", "        alertname: GovernanceConnectionBudgetExceeded", "        exp_alerts: []"]
open(dst, "w").write("\n".join(out) + "\n")
PY
out=$(cd "$dir" && "$PROMTOOL" test rules e2e_test.yml 2>&1)
ok $? "the rules on the exporter's series: the four pool alerts fire for regress.busy only, no budget alert" "$out"

# ---- libgovpool's own Prometheus output ----
out=$(env -u DATABASE_URL PGDATABASE=$db GOVPOOL_APPLICATION_NAME='regress "quoted" \app' GOVPOOL_LOG_LEVEL=error \
      "$GOVPOOL" stats --prometheus 2>&1 >"$dir/govpool.prom")
rc=$?
[ $rc = 0 ] && grep -q '^# TYPE govpool_acquires_total counter' "$dir/govpool.prom"
ok $? "govpool stats --prometheus prints the pool's metrics" "$out"
out=$("$PROMTOOL" check metrics <"$dir/govpool.prom" 2>&1)
ok $? "promtool check metrics: govpool stats --prometheus (with quotes and a backslash in application_name)" "$out"
grep -q 'application_name="regress \\"quoted\\" \\\\app"' "$dir/govpool.prom"
ok $? "the label value is escaped as the text format wants" "$(grep -m1 govpool_pool_size "$dir/govpool.prom")"

exit $((failed > 0))
