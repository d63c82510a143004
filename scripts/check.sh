#!/usr/bin/env bash
# make check: set-up, build, install, then every suite against throwaway clusters.
#
# Runs each suite even when an earlier one failed, prints each runner's
# summary, and exits non-zero if any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."

# Everything the suites print also goes to log/make-check.log, which
# scripts/scan-logs.sh scans for the test password with the server logs.
mkdir -p log
exec > >(tee log/make-check.log) 2>&1

bash scripts/setup.sh || exit 1

echo "== metadata"
ctl=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" extension/pg_governance.control)
meta=$(python3 -c 'import json; m=json.load(open("META.json")); print(m["version"], m["provides"]["pg_governance"]["version"])')
want="$ctl"; [[ "$want" =~ ^[0-9]+\.[0-9]+$ ]] && want="$want.0"   # PGXN wants semver
if [ "$meta" != "$want $want" ]; then
  echo "META.json version(s) '$meta' do not match the control file's default_version $ctl (as semver $want)" >&2
  exit 1
fi
[ -f "extension/sql/pg_governance--$ctl.sql" ] || ls extension/sql/pg_governance--*--"$ctl".sql >/dev/null 2>&1 || {
  echo "no install or upgrade script reaches default_version $ctl" >&2; exit 1; }

echo "== build and install"
make -s PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" all >/dev/null || exit 1
make -s PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" install >/dev/null || exit 1

# A server of one's own (DATABASE_URL) is tested once, in whatever mode it runs.
if [ -n "${DATABASE_URL:-}" ]; then modes=external; else modes=${GOVERNANCE_CHECK_MODES:-"plain preload"}; fi
mkdir -p log
rc=0
for mode in $modes; do
  opt=""
  [ "$mode" = preload ] && opt=--preload
  echo "== suites against a $mode cluster"
  scripts/with-cluster $opt --keep-log log -- bash scripts/run-suites.sh || rc=1
done

# The SQL edition (issue 15): a third cluster, from a PostgreSQL copy without
# the C extension; installed by a non-superuser, the shared pgTAP suite and
# its insider cases (scripts/run-sql-edition.sh).
if [ -z "${DATABASE_URL:-}" ]; then
  echo "== SQL edition against a cluster without the C extension"
  SQLED_KEEP_LOG=log bash scripts/run-sql-edition.sh || rc=1
fi

# Fault suite, short form (make faults runs the long one); it makes its own
# clusters (it crashes and restarts them), so it runs once, not per mode.
if [ -f scripts/faults.sh ] && [ -z "${DATABASE_URL:-}" ]; then
  echo "== fault suite (short)"
  FAULTS_SHORT=1 bash scripts/faults.sh || rc=1
fi

# Nothing the suites logged may contain the test password.
if [ -f scripts/scan-logs.sh ]; then
  echo "== log scan"
  bash scripts/scan-logs.sh || rc=1
fi

if [ $rc -eq 0 ]; then echo "make check: all suites passed"; else echo "make check: FAILED (server logs in log/)"; fi
exit $rc
