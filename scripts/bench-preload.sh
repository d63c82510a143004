#!/usr/bin/env bash
# Overhead of the preloaded mode on a read-only pgbench (make bench calls
# this), three variants: shared_preload_libraries = '' (library not
# loaded); 'pg_governance' (executor hooks, latency histograms on,
# session_context, background writer); and preloaded with
# governance.track_latency = off, to show what the histograms cost.
# target: the preloaded hooks cost <= 3% of a pgbench -S statement.
#
# Two measurements, printed side by side:
#
# 1. Instructions per statement (callgrind), the stable figure; also for
#    the plain mode with the library loaded in every session
#    (session_preload_libraries), whose hooks run without shared memory.
#    The server runs under valgrind --tool=callgrind (every backend is a
#    fork of it and writes its own count at exit); one pgbench client runs
#    BENCH_CG_BASE and then BENCH_CG_BASE + BENCH_CG_STMTS transactions of
#    pgbench -S -M prepared with a fixed --random-seed, each in its own
#    session; the difference of the two sessions' counts divided by
#    BENCH_CG_STMTS is what one statement costs in the backend (bind,
#    execute, sync, the reply), with the session's start and end cancelled
#    out.  Counted inside PostgresMain but not in secure_read (waiting for
#    the client's next message is timing, not work), so the same binaries
#    and inputs give the same count whatever the load on the machine.
# 2. tx/s: pgbench -S -M prepared against the same cluster restarted
#    between variants, BENCH_ROUNDS rounds in rotating order so that drift
#    hurts every variant alike; median, min-max and interquartile range per
#    variant, and the ratio of the medians.  On a busy machine this moves
#    by several % between rounds: the spread says how far to trust it.
#
#   BENCH_ROUNDS=9 BENCH_SECONDS=3 BENCH_CLIENTS=4 BENCH_SCALE=5
#   BENCH_CG_BASE=200 BENCH_CG_STMTS=1000     (defaults; ~4 min in all)
#   BENCH_CALLGRIND=0 skips 1; BENCH_ROUNDS=0 skips 2.
#   BENCH_CG_KEEP=DIR keeps the callgrind files (callgrind_annotate them).
# Runs against its own throwaway cluster (it restarts the server).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/bench.bash
BENCH_OWN_CLUSTER=1 bench_in_cluster "$0" "$@"

rounds=${BENCH_ROUNDS:-9}
secs=${BENCH_SECONDS:-3}
clients=${BENCH_CLIENTS:-4}
scale=${BENCH_SCALE:-5}
cg_base=${BENCH_CG_BASE:-200}
cg_stmts=${BENCH_CG_STMTS:-1000}
data=$GOVERNANCE_CLUSTER_DIR/data
pgbench=$GOVERNANCE_PGBIN/pgbench

as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# the three variants: shared_preload_libraries and governance.track_latency
# (a placeholder setting is harmless while the library is not loaded)
variants=(none preload preload_notrack)
declare -A spl=([none]="" [preload]=pg_governance [preload_notrack]=pg_governance)
declare -A track=([none]=on [preload]=on [preload_notrack]=off)
declare -A label=([none]="not loaded" [preload]="preloaded" [preload_notrack]="preloaded, track_latency off"
                  [session]="plain, loaded in each session")
# callgrind also counts the plain mode with the library loaded in every
# session (session_preload_libraries): its hooks without shared memory
cg_variants=("${variants[@]}" session)
spl[session]=""
track[session]=""	# not set: loading the library would warn about the placeholder

restart() {  # restart VARIANT
  (cd "$GOVERNANCE_CLUSTER_DIR" && as_server_user "$GOVERNANCE_PGBIN/pg_ctl" -D "$data" \
     -l "$GOVERNANCE_SERVER_LOG" -w -t 60 -m fast restart \
     -o "-c shared_preload_libraries='${spl[$1]}' -c governance.track_latency=${track[$1]}" >/dev/null)
}

"$pgbench" -i -q -s "$scale" >/dev/null 2>&1
echo "preload overhead: pgbench -S -M prepared, scale $scale, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

#---- 1. instructions per statement (callgrind) ----
declare -A ips
if [ "${BENCH_CALLGRIND:-1}" != 0 ] && command -v valgrind >/dev/null; then
  cgdir=$GOVERNANCE_CLUSTER_DIR/callgrind
  mkdir -p "$cgdir"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$cgdir"
  as_server_user "$GOVERNANCE_PGBIN/pg_ctl" -D "$data" -w -m fast stop >/dev/null

  # run N transactions in one session; print the instructions its backend ran
  session_instructions() {  # VARIANT N
    local before pids pid max=0 n=0
    before=$(grep -ac 'disconnection:' "$cgdir/$1.log" || true)
    "$pgbench" -S -M prepared -n -c 1 -j 1 -t "$2" --random-seed=20261130 >/dev/null 2>&1
    # pgbench opens two sessions: one reads the scale, then the client's.
    # Their ends may be logged in either order; the client's is the larger
    # count.  A backend writes its count as it exits, after that log line.
    for _ in $(seq 1 600); do
      pids=$(grep -a 'disconnection:' "$cgdir/$1.log" | sed -n "$((before + 1)),\$p" | cut -d' ' -f1)
      n=0
      for pid in $pids; do
        grep -aq '^totals:' "$cgdir/cg.$1.$pid" 2>/dev/null && n=$((n + 1))
      done
      [ "$n" -lt 2 ] || break
      sleep 0.1
    done
    [ "$n" -eq 2 ] || { echo "bench-preload: expected the counts of 2 sessions, found $n" >&2; exit 1; }
    for pid in $pids; do
      c=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$cgdir/cg.$1.$pid")
      if [ "$c" -gt "$max" ]; then max=$c; keep=$cgdir/cg.$1.$pid; fi
    done
    echo "$max"
    [ -z "${BENCH_CG_KEEP:-}" ] || { mkdir -p "$BENCH_CG_KEEP" && cp "$keep" "$BENCH_CG_KEEP/callgrind.out.$1.$2"; }
  }

  for v in "${cg_variants[@]}"; do
    session_libs=""
    [ "$v" != session ] || session_libs=pg_governance
    settings=(-c shared_preload_libraries="${spl[$v]}" -c session_preload_libraries="$session_libs")
    [ -z "${track[$v]}" ] || settings+=(-c governance.track_latency="${track[$v]}")
    # counted only inside PostgresMain: not what the postmaster ran before
    # the fork (a child inherits its counts), nor its work between sessions;
    # nor in secure_read: whether the next message was already there or had
    # to be waited for is timing, the same work for every variant
    (cd "$GOVERNANCE_CLUSTER_DIR" && as_server_user valgrind --tool=callgrind \
       --collect-atstart=no --toggle-collect=PostgresMain --toggle-collect=secure_read \
       --callgrind-out-file="$cgdir/cg.$v.%p" \
       "$GOVERNANCE_PGBIN/postgres" -D "$data" -c autovacuum=off \
       "${settings[@]}" \
       -c log_disconnections=on -c "log_line_prefix=%p " >"$cgdir/$v.log" 2>&1 &)
    for _ in $(seq 1 240); do
      "$GOVERNANCE_PGBIN/pg_isready" -q && break
      sleep 0.5
    done
    "$GOVERNANCE_PGBIN/pg_isready" -q || {
      tail -n 20 "$cgdir/$v.log" >&2; echo "bench-preload: the server did not start under valgrind" >&2; exit 1; }
    a=$(session_instructions "$v" "$cg_base")
    b=$(session_instructions "$v" "$((cg_base + cg_stmts))")
    as_server_user "$GOVERNANCE_PGBIN/pg_ctl" -D "$data" -w -t 120 -m fast stop >/dev/null
    ips[$v]=$(( (b - a) / cg_stmts ))
  done
  as_server_user "$GOVERNANCE_PGBIN/pg_ctl" -D "$data" -l "$GOVERNANCE_SERVER_LOG" -w -t 60 start >/dev/null

  echo "  instructions per statement (callgrind, one session, $cg_stmts statements; the same within ~0.1% run to run):"
  for v in "${cg_variants[@]}"; do
    awk -v l="${label[$v]}" -v i="${ips[$v]}" -v n="${ips[none]}" 'BEGIN {
      if (l == "not loaded") printf "    %-30s %8d\n", l, i
      else printf "    %-30s %8d  %+6d = %+.2f%%\n", l, i, i - n, (i - n) * 100 / n }'
  done
  awk -v n="${ips[none]}" -v p="${ips[preload]}" 'BEGIN {
    ov = (p - n) * 100 / n
    printf "  preloaded hooks: %+.2f%% of a pgbench -S statement (target <= 3%%: %s)\n", ov, (ov <= 3 ? "met" : "MISSED") }'
elif [ "${BENCH_CALLGRIND:-1}" != 0 ]; then
  echo "  instructions per statement: skipped (valgrind is not installed)"
fi

#---- 2. tx/s, rotating rounds ----
[ "$rounds" -gt 0 ] || exit 0
echo "  tx/s: $rounds rotating rounds x ${secs}s (after a 1 s warm-up), $clients clients"
declare -A samples ratios
for r in $(seq 1 "$rounds"); do
  declare -A this=()
  mapfile -t order < <(bench_rotate "$r" "${variants[@]}")
  line="    round $r:"
  for v in "${order[@]}"; do
    restart "$v"
    "$pgbench" -S -M prepared -n -c "$clients" -j 2 -T 1 >/dev/null 2>&1 # warm-up
    tps=$("$pgbench" -S -M prepared -n -c "$clients" -j 2 -T "$secs" 2>/dev/null |
          sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    samples[$v]+="$tps "
    this[$v]=$tps
    line+=$(printf ' %s %.0f' "$v" "$tps")
  done
  # the ratio within a round compares runs a few seconds apart
  for v in preload preload_notrack; do
    ratios[$v]+="$(awk -v a="${this[$v]}" -v b="${this[none]}" 'BEGIN { printf "%.4f", a / b }') "  # finer than bench_ratio: overheads of ~1%
  done
  echo "$line"
done
# leave the server as with-cluster made it
restart none

stats() { bench_stats <<<"$1"; }   # median q1 q3 min max
read -r nmed _ <<<"$(stats "${samples[none]}")"
for v in "${variants[@]}"; do
  read -r med q1 q3 lo hi <<<"$(stats "${samples[$v]}")"
  awk -v l="${label[$v]}" -v m="$med" -v q1="$q1" -v q3="$q3" -v lo="$lo" -v hi="$hi" -v n="$nmed" 'BEGIN {
    printf "    %-30s median %7.0f tx/s  IQR %.0f-%.0f  min-max %.0f-%.0f (%+.1f%%..%+.1f%% of the median)", l, m, q1, q3, lo, hi, (lo - m) * 100 / m, (hi - m) * 100 / m
    if (l != "not loaded") printf "  %.3fx: %.1f%% overhead", m / n, (1 - m / n) * 100
    printf "\n" }'
done
for v in preload preload_notrack; do
  read -r med q1 q3 lo hi <<<"$(stats "${ratios[$v]}")"
  awk -v l="${label[$v]}" -v m="$med" -v q1="$q1" -v q3="$q3" -v lo="$lo" -v hi="$hi" 'BEGIN {
    printf "    %-30s per-round ratio to not loaded: median %.3fx (%.1f%% overhead), IQR %.3f-%.3fx, min-max %.3f-%.3fx\n", l, m, (1 - m) * 100, q1, q3, lo, hi }'
done
echo "  (tx/s spread is the machine's noise; the instruction counts above are the figure to hold the target to)"
