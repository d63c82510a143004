#!/usr/bin/env bash
# Overhead of the preloaded mode on a read-only pgbench (make bench calls
# this): pgbench -S against the same cluster restarted, in alternating
# rounds, with shared_preload_libraries = '' (not loaded) and with
# 'pg_governance' (executor hooks, latency histograms on, session_context);
# also preloaded with governance.track_latency = off, to show what the
# histograms cost.  Medians and ratios from this one run.   target <= 3%
#
#   BENCH_ROUNDS=7 BENCH_SECONDS=5 BENCH_CLIENTS=4 BENCH_SCALE=5   (defaults; ~2.5 min)
# Runs against its own throwaway cluster (it restarts the server).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${GOVERNANCE_THROWAWAY:-}" ]; then
  unset DATABASE_URL
  exec scripts/with-cluster -- bash scripts/bench-preload.sh
fi

rounds=${BENCH_ROUNDS:-7}
secs=${BENCH_SECONDS:-5}
clients=${BENCH_CLIENTS:-4}
scale=${BENCH_SCALE:-5}
data=$GOVERNANCE_CLUSTER_DIR/data
pgbench=$GOVERNANCE_PGBIN/pgbench

as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

restart() {  # restart PRELOAD TRACK
  (cd "$GOVERNANCE_CLUSTER_DIR" && as_server_user "$GOVERNANCE_PGBIN/pg_ctl" -D "$data" \
     -l "$GOVERNANCE_SERVER_LOG" -w -t 60 -m fast restart \
     -o "-c shared_preload_libraries='$1' -c governance.track_latency=$2" >/dev/null)
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# governance.track_latency is only known once the library is loaded; a
# placeholder is harmless without it.
"$pgbench" -i -q -s "$scale" >/dev/null 2>&1
echo "preload overhead: pgbench -S -M prepared, $rounds alternating rounds x ${secs}s, $clients clients, scale $scale, $(nproc) cores"

declare -A samples
variants=(none preload preload_notrack)
for r in $(seq 1 "$rounds"); do
  # rotate the order each round so drift hurts every variant alike
  order=("${variants[@]:$((r % 3))}" "${variants[@]:0:$((r % 3))}")
  for v in "${order[@]}"; do
    case $v in
      none) restart "" on ;;
      preload) restart pg_governance on ;;
      preload_notrack) restart pg_governance off ;;
    esac
    "$pgbench" -S -M prepared -n -c "$clients" -j 2 -T 1 >/dev/null 2>&1 # warm-up
    tps=$("$pgbench" -S -M prepared -n -c "$clients" -j 2 -T "$secs" 2>/dev/null |
          sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    samples[$v]+="$tps "
    printf '  round %d %-16s %10.0f tx/s\n' "$r" "$v" "$tps"
  done
done
# leave the server as with-cluster made it
restart "" on

none=$(tr ' ' '\n' <<<"${samples[none]}" | grep . | median)
pre=$(tr ' ' '\n' <<<"${samples[preload]}" | grep . | median)
notrack=$(tr ' ' '\n' <<<"${samples[preload_notrack]}" | grep . | median)
awk -v n="$none" -v p="$pre" -v t="$notrack" 'BEGIN {
  printf "  median tx/s: not loaded %.0f, preloaded %.0f, preloaded without histograms %.0f\n", n, p, t
  ov = (1 - p / n) * 100
  printf "  preloaded/not loaded %.3fx: overhead %.1f%% (target <= 3%%: %s)\n", p / n, ov, (ov <= 3 ? "met" : "MISSED")
  printf "  preloaded without histograms/not loaded %.3fx: overhead %.1f%%\n", t / n, (1 - t / n) * 100
}'
