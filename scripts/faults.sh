#!/usr/bin/env bash
# make faults: the fault suite.  Real server faults under a governed,
# audited load, each scenario against a throwaway cluster of its own
# (scripts/with-cluster), driven by test/faults/ (harness.c, load.c and one
# file per scenario; main.c picks one) through libgovpool:
#
#   crash       pg_ctl stop -m immediate mid-load, restart: every acknowledged
#               commit is there with its audit row, no audit row without its change
#   restart     pg_ctl restart -m fast under load from many threads (half on
#               the event-loop API), with the default breaker settings: the
#               pool heals by itself, only sessions in flight fail, the heal
#               time is measured, no connection leaked
#   terminate   pg_terminate_backend on every pooled connection mid-load: only
#               sessions in flight fail, everything after succeeds
#   breaker     server down at pool start: retry with backoff, a burst does not
#               open the breaker, sustained failure does; it fails fast, says
#               when it probes next, and closes when the server is back
#   exhaustion  more clients than pool_size + max_overflow: the late ones time
#               out after the configured wait, none hangs
#
# FAULTS_SHORT=1 (what make check runs): every scenario, short loads (about a
# minute).  Otherwise longer, heavier loads (a few minutes).
# FAULTS_SCENARIOS="crash restart" runs only those.  FAULTS_SANITIZE=1 builds
# the driver and libgovpool with ASan+UBSan (clang) and runs that instead.
# FAULTS_VERBOSE=1 prints the pool's log lines and every failure to stderr.
#
# Output: "ok/FAILED scenario/check: ..." per assertion and "# scenario: ..."
# figures, then a summary; exits non-zero if any scenario failed or hung.
# The clusters' server logs are kept in log/faults/<scenario>/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
short=${FAULTS_SHORT:-0}
[ "$short" = 0 ] && short=""
scenarios=${FAULTS_SCENARIOS:-"crash restart terminate breaker exhaustion"}
# Runs: every scenario against a plain cluster; against a preloaded one
# (shared memory, the denied_log launcher) every scenario in the long form,
# the crash in the short form.  FAULTS_MODES="plain" skips the preloaded runs.
modes=${FAULTS_MODES:-"plain preload"}
runs=()
for m in $modes; do
  for s in $scenarios; do
    if [ "$m" = plain ]; then runs+=("$s")
    elif [ -z "$short" ] || [ "$s" = crash ]; then runs+=("$m-$s"); fi
  done
done

bash scripts/setup.sh || exit 1
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null || { echo "faults: make install failed" >&2; exit 1; }
make -s -C client PG_CONFIG="$PG_CONFIG" >/dev/null || { echo "faults: building libgovpool failed" >&2; exit 1; }

# The driver (test/faults/: harness + one file per scenario), built by the
# client's Makefile with its flags: against libgovpool.a, or with the
# library's sources under ASan+UBSan.
if [ -n "${FAULTS_SANITIZE:-}" ]; then
  make -s -C client PG_CONFIG="$PG_CONFIG" faults-asan >/dev/null ||
    { echo "faults: building the sanitized driver failed" >&2; exit 1; }
  bin=client/build/faults/faults-asan
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
  make -s -C client PG_CONFIG="$PG_CONFIG" faults >/dev/null ||
    { echo "faults: building the driver failed" >&2; exit 1; }
  bin=client/build/faults/faults
fi

# Throwaway clusters only: the suite stops, crashes and restarts the server.
unset DATABASE_URL GOVERNANCE_THROWAWAY
# with-cluster turns synchronous_commit off; a commit the client saw must
# survive an immediate stop, so it goes back on (a later line wins).
export GOVERNANCE_EXTRA_CONF="${GOVERNANCE_EXTRA_CONF:+$GOVERNANCE_EXTRA_CONF
}synchronous_commit = on"
# Outer hang guard per scenario; the driver's own watchdogs fire well before.
if [ -n "$short" ]; then limit=200; else limit=700; fi

echo "faults: $(date -u +%Y-%m-%dT%H:%MZ), ${short:+short form, }$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $("$PG_CONFIG" --version)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/faults.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rc=0
summary=()
start_all=$(date +%s)
for s in "${runs[@]}"; do
  echo "== $s"
  t0=$(date +%s)
  rm -rf "log/faults/$s"
  opt=""
  case $s in preload-*) opt=--preload ;; esac
  # shellcheck disable=SC2086
  timeout -k 10 "$limit" scripts/with-cluster $opt --keep-log "log/faults/$s" -- \
    "$bin" ${short:+--short} "${s#preload-}" 2>&1 | tee "$tmp/$s.out"
  status=${PIPESTATUS[0]}
  t=$(( $(date +%s) - t0 ))
  if [ "$status" -eq 0 ] && ! grep -q '^FAILED' "$tmp/$s.out"; then
    summary+=("ok      $s (${t} s)")
  else
    [ "$status" -ne 124 ] || echo "FAILED  $s: killed after ${limit} s (hang)"
    summary+=("FAILED  $s (exit $status, ${t} s; server log in log/faults/$s/)")
    rc=1
  fi
done
echo "== fault suite summary${short:+ (short)}: $(( $(date +%s) - start_all )) s"
printf '%s\n' "${summary[@]}"
for s in "${runs[@]}"; do grep -h '^# ' "$tmp/$s.out" | grep -v 'checks passed' | sed "s/^# /# [$s] /" || true; done
if [ $rc -eq 0 ]; then echo "faults: all scenarios passed"; else echo "faults: FAILED"; fi
exit $rc
