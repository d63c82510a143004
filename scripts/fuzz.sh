#!/usr/bin/env bash
# make fuzz: build the libFuzzer targets with ASan+UBSan and run each for a
# bounded time.  Targets (test/fuzz/fuzz_<name>.c, corpus in
# test/fuzz/corpus/<name>/):
#
#   token   the server's signed-context token parser (extension/src/token.c),
#           plain C against libpgcommon, no server
#   config  libgovpool's environment / DATABASE_URL parser
#           (client/src/config.c) through govpool_config_from_getenv(), with
#           libpq; properties are asserted inside the target
#
#   FUZZ_SECONDS     seconds per target (default 60); with FUZZ_READONLY=1
#                    (what `make check` sets) it is the budget of the whole
#                    run, split evenly between the targets (at least 5 s each)
#   FUZZ_TARGETS     which targets (default "token config")
#   FUZZ_READONLY=1  fuzz a copy of the corpus and leave the repository
#                    untouched; otherwise `make fuzz` grows test/fuzz/corpus/
#
# An input that crashes a target or breaks a property is saved as
# log/fuzz/<target>-crash-<sha1> (and printed in hex) before the build
# directory is removed; reproduce it with the binary the message names.
#
# Leak detection is off: PostgreSQL 15's frontend JSON parser (libpgcommon)
# leaks on its own error paths, which the server never sees (it frees per-call
# memory contexts).  Memory errors and undefined behaviour still abort.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
targets=${FUZZ_TARGETS:-"token config"}
seconds=${FUZZ_SECONDS:-60}
if [ -n "${FUZZ_READONLY:-}" ]; then
  n=$(wc -w <<<"$targets")
  seconds=$(( seconds / n )); [ "$seconds" -ge 5 ] || seconds=5
fi
build=${TMPDIR:-/tmp}/govfuzz.$$
mkdir -p "$build"
trap 'rm -rf "$build"' EXIT

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
inc=$($PG_CONFIG --includedir-server)
libdir=$($PG_CONFIG --pkglibdir)
pq_cflags=$(pkg-config --cflags libpq 2>/dev/null || echo "-I$($PG_CONFIG --includedir)")
pq_libs=$(pkg-config --libs libpq 2>/dev/null || echo "-L$($PG_CONFIG --libdir) -lpq")
san="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

# The names the config parser reads, as a libFuzzer dictionary.
config_dict() {
  local w
  for w in DATABASE_URL ENVIRONMENT K_SERVICE DATABASE_POOL_SIZE DB_POOL_SIZE DATABASE_MAX_OVERFLOW \
      DB_MAX_OVERFLOW DATABASE_POOL_TIMEOUT DATABASE_POOL_RECYCLE DATABASE_CONNECT_TIMEOUT \
      DATABASE_STATEMENT_TIMEOUT_MS DATABASE_ECHO DB_ECHO_SQL GOVPOOL_REPORT_INTERVAL \
      GOVPOOL_LIVENESS_IDLE_MS GOVPOOL_PREPING_IDLE_MS GOVPOOL_LEAK_THRESHOLD_MS \
      GOVPOOL_CONNECT_ATTEMPTS GOVPOOL_CONNECT_BACKOFF_MS GOVPOOL_CONNECT_BACKOFF_MAX_MS \
      GOVPOOL_BREAKER_THRESHOLD GOVPOOL_BREAKER_COOLDOWN_MS GOVPOOL_RESET_ON_RETURN GOVPOOL_OVERFLOW_IDLE_MS \
      GOVPOOL_LOG_LEVEL GOVPOOL_EXTENSIONS CLOUD_SQL_CONNECTION_NAME INSTANCE_CONNECTION_NAME \
      DB_USER DB_PASS DB_NAME GOVPOOL_APPLICATION_NAME PGAPPNAME GOVPOOL_WORKER_ID \
      postgresql:// postgres:// postgresql+asyncpg:// postgresql+psycopg2:// postgresql+psycopg:// \
      postgresql+pg8000:// postgres+asyncpg:// postgres+psycopg2:// \
      unix_sock= host= port= ssl= sslmode= application_name= user= password= dbname= \
      options= target_session_attrs= .s.PGSQL. /cloudsql/ %25 %40 %3A %2F %00 %C3%A9 '[::1]' \
      prod demo uat local true false rollback commit none discard debug warn off; do
    printf '"%s"\n' "$w"
  done
}

build_target() {  # build_target NAME -> $build/fuzz_NAME
  case "$1" in
    token)
      clang $san -Wno-ignored-attributes \
        -DFRONTEND -Iextension/include -I"$inc" -I"$(dirname "$inc")/internal" \
        extension/src/token.c test/fuzz/fuzz_token.c \
        -L"$libdir" -lpgcommon -lpgport -lssl -lcrypto -lm -o "$build/fuzz_token" ;;
    config)
      # only the files the parser needs: the rest of client/src may be mid-edit
      clang $san -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
        -Iclient/include -Iclient/src $pq_cflags \
        client/src/config.c client/src/error.c client/src/log.c test/fuzz/fuzz_config.c \
        $pq_libs -lm -pthread -o "$build/fuzz_config"
      config_dict >"$build/config.dict" ;;
    *) echo "fuzz: unknown target $1" >&2; return 1 ;;
  esac
}

rc=0
for target in $targets; do
  if ! build_target "$target"; then echo "FAILED  fuzz_$target: does not build"; rc=1; continue; fi
  corpus=test/fuzz/corpus/$target
  mkdir -p "$corpus"
  if [ -n "${FUZZ_READONLY:-}" ]; then
    cp -r "$corpus" "$build/corpus_$target"; corpus=$build/corpus_$target
  fi
  dict=""
  [ ! -f "$build/$target.dict" ] || dict="-dict=$build/$target.dict"
  echo "-- fuzz_$target for ${seconds}s"
  corpus_abs=$(cd "$corpus" && pwd)
  mkdir -p "$build/artifacts_$target"
  (cd "$build" && ASAN_OPTIONS=detect_leaks=0 ./fuzz_$target -max_total_time="$seconds" -max_len=4096 \
      -artifact_prefix="$build/artifacts_$target/" $dict "$corpus_abs" >"$build/$target.log" 2>&1) || true
  if grep -q 'Done [0-9]* runs' "$build/$target.log" && ! grep -q '==ERROR\|deadly signal' "$build/$target.log"; then
    echo "ok      fuzz_$target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$build/$target.log"), corpus $(ls "$corpus_abs" | wc -l) inputs"
  else
    tail -40 "$build/$target.log"
    for a in "$build/artifacts_$target"/*; do
      [ -f "$a" ] || continue
      mkdir -p log/fuzz && cp "$a" "log/fuzz/$target-$(basename "$a")"
      echo "input saved as log/fuzz/$target-$(basename "$a"):"; od -c "$a" | head -20
    done
    echo "FAILED  fuzz_$target"; rc=1
  fi
done
exit $rc
