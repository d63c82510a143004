#!/usr/bin/env bash
# The SQL edition against a throwaway cluster where the C extension does not
# exist (issue 15; docs/sql-edition.md).
#
#   bash scripts/run-sql-edition.sh          (make check runs it as a third cluster)
#
# 1. Builds the install script (make sql-edition).
# 2. Makes a PostgreSQL installation without pg_governance: the binaries are
#    copied (PostgreSQL finds its share and lib directories relative to
#    them), every other file of the share and lib directories is linked,
#    except pg_governance's control file, scripts and library.  PostgreSQL 15
#    has no extension_control_path, so this is how a server is made that
#    cannot load the C extension, as on a managed host.
# 3. Starts a throwaway cluster from it (scripts/with-cluster), proves
#    pg_governance is not available there, creates a role with CREATEDB
#    CREATEROLE (not a superuser) and a database it owns, and installs the
#    SQL edition as that role with psql -f.
# 4. Runs, as that role, the pgTAP suite shared by both editions
#    (test/editions/*.sql; pgtap itself is created by the superuser, as test
#    infrastructure) and the insider cases for the SQL edition
#    (test/security/sql-edition/*.sh).
# Exits non-zero if anything failed.  A server of one's own (DATABASE_URL)
# is not used: the point is a server without the C extension.
set -uo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

if [ -z "${GOVERNANCE_SQLED_INSIDE:-}" ]; then
  script=$(python3 scripts/build-sql-edition.py | tail -n 1) || exit 1
  bindir=$("$PG_CONFIG" --bindir) sharedir=$("$PG_CONFIG" --sharedir) pkglibdir=$("$PG_CONFIG" --pkglibdir)
  bare=$(mktemp -d "${TMPDIR:-/tmp}/pg-without-governance.XXXXXX")
  trap 'rm -rf "$bare"' EXIT
  chmod 0755 "$bare"
  mkdir -p "$bare$bindir" "$bare$sharedir/extension" "$bare$pkglibdir"
  cp -a "$bindir"/. "$bare$bindir"/
  for f in "$sharedir"/*; do
    [ "$(basename "$f")" = extension ] || ln -s "$f" "$bare$sharedir/"
  done
  for f in "$sharedir"/extension/*; do
    case $(basename "$f") in pg_governance*) ;; *) ln -s "$f" "$bare$sharedir/extension/" ;; esac
  done
  for f in "$pkglibdir"/*; do
    case $(basename "$f") in pg_governance*) ;; *) ln -s "$f" "$bare$pkglibdir/" ;; esac
  done
  # the same parent directories up to $bare, readable by the server's OS user
  d=$bare; while [ "$d" != / ]; do chmod o+rx "$d" 2>/dev/null; d=$(dirname "$d"); done
  echo "-- SQL edition: $script"
  echo "-- PostgreSQL without pg_governance: $bare$bindir"
  env -u DATABASE_URL -u GOVERNANCE_THROWAWAY PGBIN="$bare$bindir" GOVERNANCE_SQLED_INSIDE=1 \
      GOVERNANCE_SQLED_SCRIPT="$script" PG_CONFIG="$bare$bindir/pg_config" \
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

if compgen -G "test/security/sql-edition/*.sh" >/dev/null; then
  echo "-- insider cases (SQL edition)"
  prove -v test/security/sql-edition/*.sh || rc=1
fi
exit $rc
