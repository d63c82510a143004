#!/usr/bin/env bash
# Server instructions per transaction (callgrind) of a governed
# govpool_run against the ungoverned statement: what governance costs the
# backend, stable on a noisy machine where tx/s is not.
#
# One load generator (client/bench/side_libpq, -c 1 -n TX) runs, each in a
# session of its own, TX1 and then TX2 transactions of each variant against
# a server running under valgrind --tool=callgrind (every backend is a fork
# of it and writes its own count at exit, counted inside PostgresMain but
# not in secure_read: waiting for the next message is timing, not work);
# the difference of the two sessions' counts divided by TX2 - TX1 is one
# transaction, the session's start and end cancelled out.  Variants:
#
#   raw-one        ungoverned, unprepared (PQexecParams): one round trip
#   raw-prep       ungoverned, prepared once per connection (PQexecPrepared)
#   gov-run        govpool_run with the defaults: the prepared set_context
#                  and the statement (from the cache: prepared) up to one Sync
#   gov-run-nocache  the same with GOVPOOL_STATEMENT_CACHE=0 (the statement
#                  unprepared, as before the cache)
#
# for "SELECT 1" and the PK lookup of bench/side-setup.sql.
#
#   bash scripts/context-callgrind.sh
#   CG_TX1=200 CG_TX2=1200 (defaults)  CG_PRELOAD=1: shared_preload_libraries
#   CG_KEEP=DIR keeps the callgrind files (callgrind_annotate them).
# Runs in its own throwaway cluster (it restarts the server).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/bench.bash
BENCH_OWN_CLUSTER=1 bench_in_cluster "$0" "$@"
command -v valgrind >/dev/null || { echo "context-callgrind: needs valgrind" >&2; exit 1; }

tx1=${CG_TX1:-200}
tx2=${CG_TX2:-1200}
data=$GOVERNANCE_CLUSTER_DIR/data
side=client/build/bench/side_libpq
make -s -C client bench >/dev/null
db=governance_cg
as_server_user() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

psql -XqAt -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
  -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -XqAt -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION pg_governance" -f bench/side-setup.sql >/dev/null
url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], p.query, "")))' "$DATABASE_URL" "$db")

cgdir=$GOVERNANCE_CLUSTER_DIR/callgrind
mkdir -p "$cgdir"
[ "$(id -u)" -ne 0 ] || chown postgres: "$cgdir"
as_server_user "$GOVERNANCE_PGBIN/pg_ctl" -D "$data" -w -m fast stop >/dev/null
spl=""
[ "${CG_PRELOAD:-0}" = 0 ] || spl=pg_governance
(cd "$GOVERNANCE_CLUSTER_DIR" && as_server_user valgrind --tool=callgrind \
   --collect-atstart=no --toggle-collect=PostgresMain --toggle-collect=secure_read \
   --callgrind-out-file="$cgdir/cg.%p" \
   "$GOVERNANCE_PGBIN/postgres" -D "$data" -c autovacuum=off -c shared_preload_libraries="$spl" \
   -c log_disconnections=on -c "log_line_prefix=%p " >"$cgdir/server.log" 2>&1 &)
for _ in $(seq 1 240); do
  "$GOVERNANCE_PGBIN/pg_isready" -q && break
  sleep 0.5
done
"$GOVERNANCE_PGBIN/pg_isready" -q || { tail -n 20 "$cgdir/server.log" >&2; exit 1; }

# run TX transactions of a variant in one session; print its backend's instructions
session_instructions() {  # STACK WORKLOAD TX [VAR=VALUE...]
  local stack=$1 workload=$2 n=$3 before pid c
  shift 3
  before=$(grep -ac 'disconnection:' "$cgdir/server.log" || true)
  env DATABASE_URL="$url" GOVPOOL_REPORT_INTERVAL=0 DATABASE_POOL_SIZE=1 "$@" \
    "$side" --stack "$stack" --workload "$workload" -c 1 -n "$n" --url "$url" >"$cgdir/out" 2>&1 ||
    { cat "$cgdir/out" >&2; exit 1; }
  grep -q ' errors=0 ' "$cgdir/out" || { cat "$cgdir/out" >&2; exit 1; }
  for _ in $(seq 1 600); do
    pid=$(grep -a 'disconnection:' "$cgdir/server.log" | sed -n "$((before + 1)),\$p" | cut -d' ' -f1 | tail -n 1)
    [ -n "$pid" ] && grep -aq '^totals:' "$cgdir/cg.$pid" 2>/dev/null && break
    sleep 0.1
  done
  c=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$cgdir/cg.$pid")
  [ -n "$c" ] || { echo "context-callgrind: no count for backend $pid" >&2; exit 1; }
  [ -z "${CG_KEEP:-}" ] || { mkdir -p "$CG_KEEP" && cp "$cgdir/cg.$pid" "$CG_KEEP/callgrind.out.$stack.$workload.${*// /_}.$n"; }
  echo "$c"
}

echo "server instructions per transaction (callgrind, one session each, $tx1 and $tx2 transactions${spl:+, preloaded}):"
printf '  %-44s %10s %10s\n' variant select1 pk
while IFS='|' read -r label stack vars; do
  line=$(printf '  %-44s' "$label")
  for w in select1 pk; do
    # shellcheck disable=SC2086
    a=$(session_instructions "$stack" "$w" "$tx1" $vars)
    # shellcheck disable=SC2086
    b=$(session_instructions "$stack" "$w" "$tx2" $vars)
    line+=$(printf ' %10d' $(( (b - a) / (tx2 - tx1) )))
  done
  echo "$line"
done <<'VARIANTS'
raw-one: ungoverned, unprepared|raw-one|X=1
raw-prep: ungoverned, prepared|raw-prep|X=1
gov-run: govpool_run (statement cache on)|gov-run|X=1
gov-run-nocache: GOVPOOL_STATEMENT_CACHE=0|gov-run|GOVPOOL_STATEMENT_CACHE=0
VARIANTS
as_server_user "$GOVERNANCE_PGBIN/pg_ctl" -D "$data" -w -t 120 -m fast stop >/dev/null
as_server_user "$GOVERNANCE_PGBIN/pg_ctl" -D "$data" -l "$GOVERNANCE_SERVER_LOG" -w -t 60 start >/dev/null
