#!/usr/bin/env bash
# make fuzz: build the libFuzzer targets with ASan+UBSan and run each for a
# bounded time.  FUZZ_SECONDS (default 60) per target.  `make fuzz` grows the
# corpus kept in test/fuzz/corpus/; FUZZ_READONLY=1 (what `make check` sets)
# fuzzes a copy and leaves the repository untouched.
#
# Leak detection is off: PostgreSQL 15's frontend JSON parser (libpgcommon)
# leaks on its own error paths, which the server never sees (it frees per-call
# memory contexts).  Memory errors and undefined behaviour still abort.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
seconds=${FUZZ_SECONDS:-60}
build=${TMPDIR:-/tmp}/govfuzz.$$
mkdir -p "$build"
trap 'rm -rf "$build"' EXIT

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
inc=$($PG_CONFIG --includedir-server)
libdir=$($PG_CONFIG --pkglibdir)

rc=0
for target in token; do
  clang -g -O1 -Wno-ignored-attributes -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -DFRONTEND -Iextension/include -I"$inc" -I"$(dirname "$inc")/internal" \
    extension/src/$target.c test/fuzz/fuzz_$target.c \
    -L"$libdir" -lpgcommon -lpgport -lssl -lcrypto -lm -o "$build/fuzz_$target"
  corpus=test/fuzz/corpus/$target
  if [ -n "${FUZZ_READONLY:-}" ]; then
    cp -r "$corpus" "$build/corpus_$target"; corpus=$build/corpus_$target
  fi
  echo "-- fuzz_$target for ${seconds}s"
  corpus_abs=$(cd "$corpus" && pwd)
  (cd "$build" && ASAN_OPTIONS=detect_leaks=0 ./fuzz_$target -max_total_time="$seconds" -max_len=4096 \
      "$corpus_abs" >"$build/$target.log" 2>&1) || true
  if grep -q 'Done [0-9]* runs' "$build/$target.log" && ! grep -q '==ERROR\|deadly signal' "$build/$target.log"; then
    echo "ok      fuzz_$target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$build/$target.log")"
  else
    tail -40 "$build/$target.log"; echo "FAILED  fuzz_$target"; rc=1
  fi
done
exit $rc
