#!/usr/bin/env bash
# Client benchmarks (make bench calls this): libgovpool against raw libpq
# baselines, on loopback, in alternating rounds, reported as medians and
# ratios from this one run.
#
#   1. govpool_run (governed SELECT 1, one round trip) at 16 clients
#      vs raw libpq pipelining BEGIN, set_context, SELECT 1, COMMIT on
#      16 dedicated connections                                  target >= 0.9x
#   2. govpool_begin / exec / commit at 16 clients
#      vs raw libpq sending the four statements unpipelined      target >= 0.9x
#   3. uncontended checkout + checkin (microbenchmark)           target <= 500 ns
#
#   BENCH_ROUNDS=5 BENCH_SECONDS=3 BENCH_CLIENTS=16   (defaults; ~70 s in all)
# Runs against a throwaway cluster unless DATABASE_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${GOVERNANCE_THROWAWAY:-}" ] && [ -z "${DATABASE_URL:-}" ]; then
  make -s -C client bench >/dev/null
  exec scripts/with-cluster -- bash scripts/bench-client.sh
fi
make -s -C client bench >/dev/null

rounds=${BENCH_ROUNDS:-5}
secs=${BENCH_SECONDS:-3}
clients=${BENCH_CLIENTS:-16}
B=client/build
export GOVPOOL_LOG_LEVEL=warn ENVIRONMENT=prod DATABASE_STATEMENT_TIMEOUT_MS=0
psql -X -q -c "CREATE EXTENSION IF NOT EXISTS pg_governance" >/dev/null

tps() { sed -n 's/.* tps=\([0-9.]*\).*/\1/p'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A samples
echo "client benchmark: $rounds alternating rounds x ${secs}s, $clients clients, $(nproc) cores, loopback"
for r in $(seq 1 "$rounds"); do
  # alternate which side goes first, so drift hurts both equally
  if [ $((r % 2)) = 1 ]; then order="raw gov"; else order="gov raw"; fi
  for side in $order; do
    if [ "$side" = raw ]; then
      samples[raw_pipe]+="$($B/bench/raw_libpq --pipelined -c "$clients" -T "$secs" | tps) "
      samples[raw_unpipe]+="$($B/bench/raw_libpq --unpipelined -c "$clients" -T "$secs" | tps) "
    else
      samples[gov_run]+="$($B/govpool bench --run -c "$clients" -T "$secs" | tps) "
      samples[gov_session]+="$($B/govpool bench --session -c "$clients" -T "$secs" | tps) "
    fi
  done
  printf '  round %d/%d done\n' "$r" "$rounds"
done

med() { tr ' ' '\n' <<<"${samples[$1]}" | grep . | median; }
raw_pipe=$(med raw_pipe); gov_run=$(med gov_run)
raw_unpipe=$(med raw_unpipe); gov_session=$(med gov_session)
micro=$($B/bench/checkout_micro 1000000)
micro_ns=$(sed -n 's/^checkout_checkin_ns=\([0-9.]*\).*/\1/p' <<<"$micro")
micro_poll_ns=$(sed -n 's/^checkout_checkin_with_socket_check_ns=\([0-9.]*\).*/\1/p' <<<"$micro")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "ok" : "BELOW TARGET" }'; }
r1=$(ratio "$gov_run" "$raw_pipe"); r2=$(ratio "$gov_session" "$raw_unpipe")

echo
printf '%-58s %12s\n' "benchmark (median of $rounds)" "result"
printf '%-58s %10.0f tx/s\n' "govpool_run, governed SELECT 1, $clients clients" "$gov_run"
printf '%-58s %10.0f tx/s\n' "raw libpq, same 4 statements pipelined, dedicated conns" "$raw_pipe"
printf '%-58s %10sx  (target >= 0.90: %s)\n' "  ratio" "$r1" "$(verdict "$r1" 0.9 '>=')"
printf '%-58s %10.0f tx/s\n' "govpool begin/exec/commit, $clients clients" "$gov_session"
printf '%-58s %10.0f tx/s\n' "raw libpq, same 4 statements unpipelined" "$raw_unpipe"
printf '%-58s %10sx  (target >= 0.90: %s)\n' "  ratio" "$r2" "$(verdict "$r2" 0.9 '>=')"
printf '%-58s %10s ns  (target <= 500: %s)\n' "uncontended checkout + checkin" "$micro_ns" "$(verdict "$micro_ns" 500 '<=')"
printf '%-58s %10s ns\n' "  same, with the poll() socket check on every checkout" "$micro_poll_ns"
echo "all samples (tx/s): gov_run=[${samples[gov_run]% }] raw_pipelined=[${samples[raw_pipe]% }]"
echo "                    gov_session=[${samples[gov_session]% }] raw_unpipelined=[${samples[raw_unpipe]% }]"
