# Shared by the benchmark scripts (scripts/bench-*.sh): source it, don't run it.
#
#   bench_in_cluster "$0" "$@"   run the calling script inside a throwaway cluster
#                                (scripts/with-cluster) unless it already is in one or
#                                DATABASE_URL names a server; BENCH_OWN_CLUSTER=1 ignores
#                                DATABASE_URL (a script that restarts its server)
#   bench_median < numbers       the median (mean of the middle two for an even count)
#   bench_stats < numbers        "median q1 q3 min max" (quartiles interpolated linearly)
#   bench_ratio A B              A / B with two decimals, "n/a" when either is missing or B is 0
#   bench_verdict V T OP         "ok" when V OP T holds (OP is >= or <=), else "BELOW TARGET"
#   bench_rotate R ITEM...       the items rotated left by R (round R of alternating rounds:
#                                every item goes first as often as the others, so drift
#                                and stalls hurt every variant alike)
#
# Sets PG_CONFIG and PGBIN (PostgreSQL 15's, unless the environment says otherwise).
# Numbers may come one per line or separated by spaces; blank entries are ignored.

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=${GOVERNANCE_PGBIN:-${PGBIN:-$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}}

bench_in_cluster() {
  local script=$1; shift
  [ -n "${GOVERNANCE_THROWAWAY:-}" ] && return 0
  if [ "${BENCH_OWN_CLUSTER:-0}" = 1 ]; then
    unset DATABASE_URL
  elif [ -n "${DATABASE_URL:-}" ]; then
    return 0
  fi
  exec scripts/with-cluster -- bash "$script" "$@"
}

bench_numbers() { tr ' \t' '\n\n' | grep -E '^-?[0-9.]+([eE][-+]?[0-9]+)?$' | sort -g; }

bench_stats() {
  bench_numbers | awk '
    function q(p,  h, l) { h = (NR - 1) * p + 1; l = int(h); return a[l] + (h - l) * (a[l + 1] - a[l]) }
    { a[NR] = $1 }
    END { if (NR == 0) exit 1; a[NR + 1] = a[NR]; printf "%.6g %.6g %.6g %.6g %.6g\n", q(0.5), q(0.25), q(0.75), a[1], a[NR] }'
}

bench_median() { local m _; read -r m _ <<<"$(bench_stats)" && echo "$m"; }

bench_ratio() {
  awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

bench_verdict() {
  awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
    if (v == "n/a" || v == "") { print "n/a"; exit }
    ok = (op == ">=") ? v + 0 >= t + 0 : v + 0 <= t + 0; print ok ? "ok" : "BELOW TARGET" }'
}

bench_rotate() {
  local r=$1; shift
  local n=$#; [ "$n" -gt 0 ] || return 0
  local items=("$@") i
  for ((i = 0; i < n; i++)); do printf '%s\n' "${items[$(((i + r) % n))]}"; done
}
