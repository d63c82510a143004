#!/usr/bin/env bash
# Run every test suite against the server PG* points at (see with-cluster).
#
# GOVERNANCE_MODE=plain|preload says which cluster this is; suites that only
# make sense in one mode look at it.  Exits non-zero if any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
# Which mode is this server in?  Suites that differ by mode look at GOVERNANCE_MODE.
if psql -XAtq -d postgres -c 'SHOW shared_preload_libraries' 2>/dev/null | grep -q pg_governance; then
  mode=preload
else
  mode=plain
fi
export GOVERNANCE_MODE=$mode
rc=0
summary=()

run() {  # run NAME CMD...
  local name=$1; shift
  echo "-- $name ($mode)"
  if "$@"; then summary+=("ok      $name"); else summary+=("FAILED  $name"); rc=1; fi
}

# pg_regress: exact outputs and error messages (test/regress/{sql,expected})
run pg_regress make -s PG_CONFIG="$PG_CONFIG" installcheck

# pgTAP: behaviour matrix (test/pgtap/*.sql), one database, pgtap preinstalled.
pgtap() {
  PGOPTIONS='-c client_min_messages=warning' psql -XqAt -d postgres -c 'DROP DATABASE IF EXISTS governance_tap' \
       -c 'CREATE DATABASE governance_tap' >/dev/null &&
  psql -XqAt -d governance_tap -c 'CREATE EXTENSION pgtap' >/dev/null &&
  pg_prove -d governance_tap --ext .sql test/pgtap/*.sql
}
run pgTAP pgtap

# pgTAP, the suite shared with the SQL edition (test/editions/; each test
# says which editions it applies to), here against the C extension;
# scripts/run-sql-edition.sh runs it against the SQL edition.
editions() {
  PGOPTIONS='-c client_min_messages=warning' psql -XqAt -d postgres -c 'DROP DATABASE IF EXISTS governance_editions' \
       -c 'CREATE DATABASE governance_editions' >/dev/null &&
  psql -XqAt -d governance_editions -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION pg_governance' >/dev/null &&
  pg_prove -d governance_editions --ext .sql test/editions/*.sql
}
run "pgTAP, both editions' suite (C edition)" editions

# Shell TAP tests: what cannot be said in SQL (connection options, ...)
run shell-TAP prove test/shell/*.sh

# What operators and developers build on: postgres_exporter + Prometheus
# rules against this cluster, README's build line (test/monitoring/).
run monitoring prove test/monitoring/*.sh

# The hostile-insider suite (test/security/, docs/security.md): every case in
# a database a non-superuser owns, with the extension installed by that
# owner (trusted install) in both modes, and by a superuser in the plain
# cluster (what the installer can do differs by who installed, not by mode;
# a third pass would add minutes to make check and no route).
installers="dbowner"
[ "$mode" = preload ] || installers="dbowner postgres"
for installer in $installers; do
  run "security ($installer installs)" env SECURITY_INSTALLER=$installer prove --timer test/security/*.sh
done

# Fuzzing, short form (make fuzz runs longer); the parsers need no server,
# so once per make check is enough.
if [ "$mode" = plain ] || [ "$mode" = external ]; then
  run fuzz env FUZZ_SECONDS=${FUZZ_SECONDS:-15} FUZZ_READONLY=1 bash scripts/fuzz.sh
fi

# Client unit, integration and fault tests (libgovpool)
if [ -f client/Makefile ]; then
  run client make -s -C client check
fi

# govpool for Python (client/python): pytest against this cluster; pytest's
# exit 5 (no tests collected) fails like any other failure.
if [ -f client/python/Makefile ]; then
  run python make -s -C client/python check
fi

echo "-- summary ($mode)"
printf '   %s\n' "${summary[@]}"
exit $rc
