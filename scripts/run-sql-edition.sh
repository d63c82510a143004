#!/usr/bin/env bash
# The SQL edition against a throwaway cluster where the C extension does not
# exist (issue 15; docs/sql-edition.md).
#
#   bash scripts/run-sql-edition.sh          (make check runs it as a third cluster)
#
# 1. Builds the install and upgrade scripts (make sql-edition).
# 2. Makes a PostgreSQL installation without pg_governance
#    (scripts/lib/without-governance.bash: PostgreSQL 15 has no
#    extension_control_path, so this is how a server is made that cannot
#    load the C extension, as on a managed host).
# 3. Starts a throwaway cluster from it (scripts/with-cluster), proves
#    pg_governance is not available there, creates a role with CREATEDB
#    CREATEROLE (not a superuser) and a database it owns, and installs the
#    SQL edition as that role with psql -f.
# 4. Runs, as that role, the pgTAP suite shared by both editions
#    (test/editions/*.sql; pgtap itself is created by the superuser, as test
#    infrastructure) and the insider cases for the SQL edition
#    (test/security/sql-edition/*.sh), and the upgrade from the released
#    0.6 and 0.7 (test/sql-edition/upgrade*.sh).
# 5. Runs libgovpool's tests (plain build) and the Python package's tests
#    against the SQL edition, each in a database of its own where the same
#    role installed it (GOVPOOL_TEST_EDITION=sql: the tests create no
#    extension, and skip, saying why, what capabilities() says is absent).
# Exits non-zero if anything failed.  A server of one's own (DATABASE_URL)
# is not used: the point is a server without the C extension.
set -uo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

if [ -z "${GOVERNANCE_SQLED_INSIDE:-}" ]; then
  script=$(python3 scripts/build-sql-edition.py | tail -n 1) || exit 1
  . scripts/lib/without-governance.bash
  bare=$(mktemp -d "${TMPDIR:-/tmp}/pg-without-governance.XXXXXX")
  trap 'rm -rf "$bare"' EXIT
  bin=$(pg_without_governance "$bare") || exit 1
  echo "-- SQL edition: $script"
  echo "-- PostgreSQL without pg_governance: $bin"
  env -u DATABASE_URL -u GOVERNANCE_THROWAWAY PGBIN="$bin" GOVERNANCE_SQLED_INSIDE=1 \
      GOVERNANCE_SQLED_SCRIPT="$script" PG_CONFIG="$bin/pg_config" \
      scripts/with-cluster --name sql-edition ${SQLED_KEEP_LOG:+--keep-log "$SQLED_KEEP_LOG"} -- bash "$0"
  exit $?
fi

# Inside the throwaway cluster (PG* point at it, as its superuser).
export GOVERNANCE_SQLED_SCRIPT
rc=0
installer=regress_sqled_installer
db=governance_sqled
fail() { echo "not ok: $*" >&2; rc=1; }

available=$(psql -XAtq -d postgres -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_governance'")
[ "$available" = 0 ] || fail "pg_governance is available in this cluster ($available)"
if psql -XAtq -d postgres -c 'CREATE EXTENSION pg_governance' 2>/dev/null; then
  fail "CREATE EXTENSION pg_governance succeeded"
else
  echo "ok: pg_governance is not available in this cluster (CREATE EXTENSION fails)"
fi

psql -XAtq -v ON_ERROR_STOP=1 -d postgres \
  -c "CREATE ROLE $installer LOGIN CREATEDB CREATEROLE NOSUPERUSER" \
  -c "CREATE DATABASE $db OWNER $installer" >/dev/null || exit 1
psql -XAtq -v ON_ERROR_STOP=1 -d "$db" -c 'CREATE EXTENSION pgtap' >/dev/null || exit 1

if psql -Xq -v ON_ERROR_STOP=1 -U "$installer" -d "$db" -f "$GOVERNANCE_SQLED_SCRIPT"; then
  echo "ok: installed by $installer (CREATEDB CREATEROLE, no superuser) with psql -f"
else
  fail "installing the SQL edition as $installer"; exit 1
fi
owner=$(psql -XAtq -d "$db" -c "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'governance'")
[ "$owner" = "$installer" ] || fail "schema governance is owned by '$owner', not $installer"
if psql -Xq -v ON_ERROR_STOP=1 -U "$installer" -d "$db" -f "$GOVERNANCE_SQLED_SCRIPT" 2>/dev/null; then
  fail "a second install into the same database succeeded"
else
  echo "ok: a second install is refused (schema governance exists)"
fi

echo "-- pgTAP, both editions' suite (SQL edition, as $installer)"
pg_prove -U "$installer" -d "$db" --ext .sql test/editions/*.sql || rc=1

echo "-- the upgrade from the released 0.6 (test/sql-edition/)"
prove -v test/sql-edition/*.sh || rc=1

if compgen -G "test/security/sql-edition/*.sh" >/dev/null; then
  echo "-- insider cases (SQL edition)"
  prove -v test/security/sql-edition/*.sh || rc=1
fi

# libgovpool's tests, unchanged but for GOVPOOL_TEST_EDITION=sql
# (client/test/itest.h): connecting as make check's do (the cluster's
# superuser, over TCP with its password) to a database where the SQL
# edition was installed by the non-superuser.  That role is granted
# pg_read_all_stats first, as docs/sql-edition.md says to: report_pool_stats()
# runs as the installer, and without it sees no other role's backend in
# pg_stat_activity (pool_stats' server_* columns would count none).
pool_detail() { psql -XAtq -d "$db" -c "SELECT detail FROM governance.capabilities() WHERE feature = 'pool_stats'"; }
case $(pool_detail) in
  *"not a member of pg_read_all_stats"*) echo "ok: capabilities() says the installer cannot see other roles' backends" ;;
  *) fail "capabilities() does not say the installer lacks pg_read_all_stats: $(pool_detail)" ;;
esac
psql -XAtq -v ON_ERROR_STOP=1 -d postgres -c "GRANT pg_read_all_stats TO $installer" >/dev/null || exit 1
case $(pool_detail) in
  *pg_read_all_stats*) fail "capabilities() still says the installer lacks pg_read_all_stats" ;;
  *) echo "ok: and no longer once it is granted" ;;
esac
if [ -f client/Makefile ]; then
  echo "-- libgovpool's tests (SQL edition, plain build)"
  psql -XAtq -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE govpool_sqled OWNER $installer" >/dev/null &&
    psql -Xq -v ON_ERROR_STOP=1 -U "$installer" -d govpool_sqled -f "$GOVERNANCE_SQLED_SCRIPT" || exit 1
  GOVPOOL_TEST_EDITION=sql DATABASE_URL="${DATABASE_URL%/*}/govpool_sqled" PGDATABASE=govpool_sqled \
    make -s -C client check-plain || rc=1
fi
# The Python package's tests: their conftest.py installs the SQL edition
# into their database as the same role.
if [ -f client/python/Makefile ]; then
  echo "-- the Python package's tests (SQL edition)"
  GOVPOOL_TEST_EDITION=sql GOVPOOL_TEST_SQL_INSTALLER=$installer GOVPOOL_TEST_SQL_SCRIPT=$GOVERNANCE_SQLED_SCRIPT \
    make -s -C client/python check || rc=1
fi
exit $rc
