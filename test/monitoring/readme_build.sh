#!/usr/bin/env bash
# TAP: README's libgovpool build line and C example, exactly as README
# spells them, against the installed library.
#
# The `cc app.c $(pkg-config --cflags --libs govpool)` line and the C API
# example are taken from README.md as they stand, the example is compiled
# with that line (the program calls libpq itself, PQgetvalue / PQclear on
# the results libgovpool returns, so govpool.pc must bring libpq in), and
# run against the throwaway cluster.  The installed govpool.pc is found
# under $PREFIX (make install's; default /usr/local, which pkg-config
# searches anyway; make check installs it first).  Skipped without a C
# compiler, pkg-config or a cluster.
set -u
cd "$(dirname "$0")/../.."
if ! command -v cc >/dev/null || ! command -v pkg-config >/dev/null || [ -z "${PGHOST:-}" ]; then
  echo "1..0 # SKIP needs cc, pkg-config and a throwaway cluster"; exit 0
fi
prefix=${PREFIX:-/usr/local}
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

db=governance_readme
dir=$(mktemp -d "${TMPDIR:-/tmp}/govreadme.XXXXXX")
cleanup() {
  PGOPTIONS='-c client_min_messages=warning' psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT

n=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; printf '%s\n' "${3:-}" | head -40 | sed 's/^/# /'; fi; }
echo "1..8"

out=$(pkg-config --print-errors --exists govpool 2>&1)
ok $? "libgovpool is installed: pkg-config finds govpool.pc (under $prefix/lib/pkgconfig or its default path)" "$out"

# The build line: the first README line that compiles app.c with pkg-config's govpool flags.
line=$(grep -m1 -E '^cc app\.c .*pkg-config .*govpool' README.md | sed -E 's/[[:space:]]+#.*$//')
[ -n "$line" ]; ok $? "README has the build line" "no line 'cc app.c ... pkg-config ... govpool' in README.md"

# The example: the first ```c block after "### C API".
awk '/^### C API/ {api = 1} api && /^```c$/ {inside = 1; next} inside && /^```$/ {exit} inside {print}' \
  README.md >"$dir/app.c"
[ -s "$dir/app.c" ]; ok $? "README has a C example under '### C API'" "$dir/app.c is empty"

# libpq's own calls on the results: the reason govpool.pc must bring libpq in.
grep -q 'PQgetvalue' "$dir/app.c" && grep -q 'PQclear' "$dir/app.c"
ok $? "the example calls libpq itself (PQgetvalue, PQclear)" "$(cat "$dir/app.c")"

out=$(cd "$dir" && bash -c "$line" 2>&1)
rc=$?
[ $rc = 0 ] && [ -x "$dir/a.out" ]
ok $? "README's build line compiles and links README's example: $line" "$out"

# Warning-free as well: the example is what people copy.
out=$(cd "$dir" && cc -std=c11 -Wall -Wextra -Werror -o strict app.c $(pkg-config --cflags --libs govpool) 2>&1)
ok $? "the example compiles with -std=c11 -Wall -Wextra -Werror" "$out"

PGOPTIONS='-c client_min_messages=warning' psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -XqAt -d $db -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION pg_governance;
CREATE TABLE orders (id integer PRIMARY KEY, state text NOT NULL);
SELECT governance.enable_audit('orders');
INSERT INTO orders VALUES (42, 'new');
SQL

# Run it the way an application runs: configuration from the environment
# (here the PG* variables alone, as README says), the library found where it
# was installed.
libdir=$(pkg-config --variable=libdir govpool)
out=$(cd "$dir" && [ -x a.out ] && env -u DATABASE_URL PGDATABASE=$db GOVPOOL_LOG_LEVEL=warn \
      LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ./a.out 2>&1)
rc=$?
[ $rc = 0 ] && grep -qx 'order 42 is new' <<<"$out"
ok $? "the example runs: reads the order through govpool_run and PQgetvalue" "exit $rc: $out"

got=$(psql -XAtq -d $db -c "SELECT o.state || ' ' || a.agent_id || ' ' || a.tenant_id || ' ' || a.correlation_id
                             FROM orders o, governance.audit_log a WHERE o.id = 42 AND a.op = 'UPDATE'" 2>&1)
[ "$got" = "paid alice acme req-42" ]
ok $? "and its governed session committed the update with its context in the audit trail" "$got"
