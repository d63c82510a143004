#!/bin/sh
# Run the client test binaries: plain, under ASan+UBSan, and the pool
# tests under TSan.  Prints one line per binary and the closing
# "N passed, N failed" summary; exits non-zero if anything failed or crashed.
#
#   run-tests.sh BUILD_DIR "ALL_TESTS" "TSAN_TESTS"
#   RUN_TESTS_PLAIN_ONLY=1 run-tests.sh ...   the plain binaries only
#
# Tests that do not apply to the server's edition of pg_governance print
# "skip <test>: <reason>" (test/itest.h); those lines are shown.
#
# Each binary's whole output is also kept in BUILD_DIR/logs/<label>.log,
# where scripts/scan-logs.sh looks for the test password (test_hostile
# provokes password errors on purpose).
build=$1
all=$2
tsan=$3
passed=0
failed=0
skipped=0
rc=0

# LeakSanitizer is on; TSan needs the default ASLR layout on some kernels.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
norand=""
if command -v setarch >/dev/null 2>&1 && setarch "$(uname -m)" -R true 2>/dev/null; then
  norand="setarch $(uname -m) -R"
fi

run() {  # run LABEL BINARY
  label=$1; bin=$2
  out=$($norand "$bin" 2>&1); status=$?
  mkdir -p "$build/logs" && printf '%s\n' "$out" >"$build/logs/$(printf '%s' "$label" | tr -c 'A-Za-z0-9_.+-' '_').log"
  summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [ -z "$summary" ]; then
    printf '%s\n' "$out" | tail -n 40
    echo "FAILED  $label (crashed, exit $status)"
    failed=$((failed + 1)); rc=1; return
  fi
  p=${summary%% passed*}; f=${summary#*, }; f=${f%% failed}
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$status" -ne 0 ] || [ "$f" -ne 0 ]; then
    printf '%s\n' "$out" | grep -v '^ok ' | tail -n 60
    [ "$f" -ne 0 ] || failed=$((failed + 1))
    echo "FAILED  $label: $summary (exit $status)"; rc=1
  else
    echo "ok      $label: $summary"
  fi
  printf '%s\n' "$out" | grep '^skip ' | sed 's/^/          /'
  s=$(printf '%s\n' "$out" | sed -n 's/^\([0-9][0-9]*\) skipped$/\1/p' | tail -n 1)
  skipped=$((skipped + ${s:-0}))
}

for t in $all; do run "$t" "$build/test/$t"; done
[ -n "${RUN_TESTS_PLAIN_ONLY:-}" ] || for t in $all; do run "$t [asan+ubsan]" "$build/asan/$t"; done
for t in $tsan; do run "$t [tsan]" "$build/tsan/$t"; done
[ "$skipped" -eq 0 ] || echo "$skipped skipped (their reasons above)"
echo "$passed passed, $failed failed"
exit $rc
