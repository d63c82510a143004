#!/usr/bin/env bash
# make demo: set-up, build + install, a throwaway cluster (or DATABASE_URL's
# server), the extension and a small demo schema (audit + RLS when the
# installed extension has them), a governed multi-client workload through
# libgovpool with a progress line, then pool stats, audit trail, denials.
#
#   bash scripts/demo.sh            (what `make demo` runs)
#   DEMO_SECONDS=8 DEMO_CLIENTS=8   workload length and width
#   EDITION=sql                     (make demo EDITION=sql) the SQL edition instead of
#                                   the C extension: the throwaway cluster runs from a
#                                   PostgreSQL copy without pg_governance
#                                   (scripts/lib/without-governance.bash), the SQL edition
#                                   is installed with psql -f by a role that is no
#                                   superuser, and the demo says what it does not have
#                                   (governance.capabilities()).  With DATABASE_URL, it
#                                   is installed there by the URL's role unless it is
#                                   already.
set -euo pipefail
cd "$(dirname "$0")/.."
edition=${EDITION:-c}
case $edition in
  c|sql) ;;
  *) echo "demo: EDITION=$edition: expected c (the C extension, the default) or sql (the SQL edition)" >&2; exit 2 ;;
esac

if [ "${1:-}" != "--inside" ]; then
  bash scripts/setup.sh
  echo "== build and install"
  PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
  make -s PG_CONFIG="$PG_CONFIG" all >/dev/null
  make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
  if [ "$edition" = c ]; then
    exec scripts/with-cluster -- bash scripts/demo.sh --inside
  fi
  DEMO_SQL_SCRIPT=$(python3 scripts/build-sql-edition.py | tail -n 1)
  export DEMO_SQL_SCRIPT EDITION
  echo "SQL edition: $DEMO_SQL_SCRIPT"
  if [ -n "${DATABASE_URL:-}" ] && [ -z "${GOVERNANCE_THROWAWAY:-}" ]; then
    exec scripts/with-cluster -- bash scripts/demo.sh --inside
  fi
  . scripts/lib/without-governance.bash
  bare=$(mktemp -d "${TMPDIR:-/tmp}/pg-without-governance.XXXXXX")
  trap 'rm -rf "$bare"' EXIT
  bin=$(pg_without_governance "$bare")
  env -u DATABASE_URL -u GOVERNANCE_THROWAWAY PGBIN="$bin" PG_CONFIG="$bin/pg_config" \
    scripts/with-cluster --name sql-edition -- \
    bash scripts/demo.sh --inside
  exit $?
fi

seconds=${DEMO_SECONDS:-8}
clients=${DEMO_CLIENTS:-8}
govpool=$(command -v govpool || echo client/build/govpool)
psql_admin() { psql -X -v ON_ERROR_STOP=1 -q "$@"; }
have() { [ "$(psql_admin -Atc "SELECT $1 IS NOT NULL")" = t ]; }

if [ "$edition" = c ]; then
  echo "== extension and demo schema"
  psql_admin <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_governance;
ALTER EXTENSION pg_governance UPDATE;
SQL
else
  echo "== SQL edition (docs/sql-edition.md) and demo schema"
  if [ -n "${GOVERNANCE_THROWAWAY:-}" ]; then
    echo "C extension available on this server: $(psql_admin -Atc "SELECT count(*) FROM pg_available_extensions
                                                                   WHERE name = 'pg_governance'") (a PostgreSQL copy without it, as on a managed host)"
    # The database owner installs it: no superuser, as on a managed host.
    # pg_read_all_stats lets report_pool_stats() (it runs as the installer)
    # see the app roles' backends (pool_stats' server_* columns).
    psql_admin <<'SQL'
SET client_min_messages = warning;
DROP DATABASE IF EXISTS demo_sql;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'demo_installer') THEN
    CREATE ROLE demo_installer LOGIN NOSUPERUSER;
  END IF;
END $$;
CREATE DATABASE demo_sql OWNER demo_installer;
GRANT pg_read_all_stats TO demo_installer;
SQL
    export PGDATABASE=demo_sql
    psql -X -v ON_ERROR_STOP=1 -q -U demo_installer -f "$DEMO_SQL_SCRIPT"
    echo "installed by demo_installer (owner of database demo_sql, no superuser) with psql -f"
  elif have "to_regprocedure('governance.edition()')" &&
       [ "$(psql_admin -Atc "SELECT edition FROM governance.edition()")" = sql ]; then
    echo "the SQL edition $(psql_admin -Atc "SELECT version FROM governance.edition()") is installed in $PGDATABASE already"
  else
    psql_admin -f "$DEMO_SQL_SCRIPT"
    echo "installed by $(psql_admin -Atc 'SELECT current_user') with psql -f"
  fi
  echo "-- governance.capabilities(): what the SQL edition has, and how it differs (active = f: not here)"
  psql_admin -c "SELECT feature, active, detail FROM governance.capabilities()"
fi
psql_admin <<'SQL'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;
CREATE TABLE demo.notes (
    id        bigserial PRIMARY KEY,
    tenant_id text NOT NULL,
    agent_id  text NOT NULL,
    body      text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'demo_app') THEN
    CREATE ROLE demo_app LOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA demo TO demo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON demo.notes TO demo_app;
GRANT USAGE ON SEQUENCE demo.notes_id_seq TO demo_app;
SQL

if have "to_regprocedure('governance.enable_audit(regclass)')"; then
  psql_admin -c "SELECT governance.enable_audit('demo.notes')" >/dev/null
  echo "audit:  on for demo.notes (governance.enable_audit)"
  audit=1
else
  echo "audit:  NOT AVAILABLE YET in the installed pg_governance (no governance.enable_audit); skipped"
  audit=0
fi
if have "to_regprocedure('governance.enable_rls(regclass,name,name)')"; then
  psql_admin -c "SELECT governance.enable_rls('demo.notes', NULL, 'tenant_id')" >/dev/null
  echo "RLS:    on for demo.notes, rows keyed on governance.tenant_id()"
  rls=1
else
  echo "RLS:    NOT AVAILABLE YET in the installed pg_governance (no governance.enable_rls); skipped"
  rls=0
fi

# The workload connects as demo_app: a non-superuser, so RLS applies to it.
# On the throwaway cluster TCP needs a password (with-cluster): demo_app gets
# the cluster's test password.
app_url="postgresql://demo_app@127.0.0.1:${PGPORT}/${PGDATABASE}"
if [ -n "${GOVERNANCE_TEST_PASSWORD:-}" ]; then
  psql_admin -v pw="$GOVERNANCE_TEST_PASSWORD" <<<"ALTER ROLE demo_app PASSWORD :'pw';"
  app_url="postgresql://demo_app:${GOVERNANCE_TEST_PASSWORD}@127.0.0.1:${PGPORT}/${PGDATABASE}"
fi
export DATABASE_URL=$app_url ENVIRONMENT=demo GOVPOOL_APPLICATION_NAME=govpool_demo GOVPOOL_LOG_LEVEL=warn
# publish pool stats to governance.pool_stats every second (default 10)
export GOVPOOL_REPORT_INTERVAL=1

pool_columns="pool_id, application_name, db_user, client_addr, client_pid,
              pool_size, max_overflow, size, checked_out, idle, overflow_in_use, waiters,
              acquires_total, timeouts_total, exhaustion_events_total,
              connect_failures_total, invalidated_total,
              round(acquire_wait_p50_ms::numeric, 3) AS acquire_wait_p50_ms,
              round(acquire_wait_p99_ms::numeric, 3) AS acquire_wait_p99_ms,
              round(query_p99_ms::numeric, 3) AS query_p99_ms, circuit,
              first_report_at, reported_at, stale,
              server_connections, server_active, server_idle, server_idle_in_transaction,
              server_missing, backend_pids"
echo
echo "== governed workload: $clients clients x ${seconds}s, govpool_begin/exec/commit, 3 tenants"
"$govpool" bench -c "$clients" -T "$seconds" --session --tenants 3 --stats \
  --sql "INSERT INTO demo.notes (tenant_id, agent_id, body)
         VALUES (governance.tenant_id(), governance.agent_id(), 'hello from ' || governance.agent_id())" |
  tee /tmp/govpool-demo-bench.$$ | sed 's/^/  /' &
workload=$!
# While it runs, once its reports cover half of it: the workload's pool as
# the server sees it (shown below; a pool that closes says goodbye and
# leaves pool_stats, so afterwards there is nothing to show).
: >/tmp/govpool-demo-live.$$
if have "to_regclass('governance.pool_stats')"; then
  while kill -0 $workload 2>/dev/null; do
    if [ "$(psql_admin -Atc "SELECT count(*) FROM governance.pool_stats
                              WHERE application_name = 'govpool_demo'
                                AND reported_at >= first_report_at + make_interval(secs => $seconds / 2.0)")" != 0 ]; then
      { psql_admin -x -c "SELECT $pool_columns FROM governance.pool_stats WHERE application_name = 'govpool_demo'"
        echo "-- governance.pool_alerts at the same moment (real ones: the workload saturates its pool on"
        echo "   purpose, so checked_out_pct is high, and begin/exec/commit sessions sit idle in transaction"
        echo "   between their statements; a pool that misreports would show server_connection_mismatch):"
        psql_admin -c "SELECT pool_id, metric, value, threshold, setting FROM governance.pool_alerts
                        WHERE application_name = 'govpool_demo' ORDER BY 1, 2"
      } >/tmp/govpool-demo-live.$$ 2>&1
      break
    fi
    sleep 0.2
  done
fi
wait $workload
if [ -t 1 ]; then :; else echo "  (progress line shown when stdout is a terminal)"; fi

echo
echo "== one governed statement through the CLI (context visible in the server)"
"$govpool" exec --agent alice --tenant tenant-1 --correlation demo-1 \
  "SELECT governance.agent_id() AS agent, governance.tenant_id() AS tenant,
          governance.correlation_id() AS correlation, count(*) AS visible_notes FROM demo.notes" | sed 's/^/  /'

echo
echo "== attempts that must be refused"
echo "-- changing the sealed context inside the transaction:"
if [ "$edition" = c ]; then
  "$govpool" exec --agent mallory --tenant tenant-1 --correlation demo-2 \
    "SELECT set_config('governance.tenant_id', 'tenant-2', true)" 2>&1 | sed 's/^/  /' || true
else
  echo "   (SQL edition: the change is not refused at the SET, there is no C hook; the changed value is"
  echo "    refused when anything reads it: the accessors, RLS, the audit trigger)"
  "$govpool" exec --agent mallory --tenant tenant-1 --correlation demo-2 \
    "WITH changed AS MATERIALIZED (SELECT set_config('governance.tenant_id', 'tenant-2', true))
     SELECT governance.tenant_id() FROM changed" 2>&1 | sed 's/^/  /' || true
fi
if [ "$rls" = 1 ]; then
  echo "-- writing a row for another tenant (RLS):"
  "$govpool" exec --agent mallory --tenant tenant-1 --correlation demo-3 \
    "INSERT INTO demo.notes (tenant_id, agent_id, body) VALUES ('tenant-2', 'mallory', 'forged')" 2>&1 |
    sed 's/^/  /' || true
  # plain mode writes the denial at that backend's next transaction: give it one
  "$govpool" exec --agent mallory --tenant tenant-1 "SELECT 1" >/dev/null 2>&1 || true
fi

echo
echo "== notes per tenant (as the superuser, RLS not applied)"
psql_admin -c "SELECT tenant_id, count(*) AS notes, count(DISTINCT agent_id) AS agents FROM demo.notes GROUP BY 1 ORDER BY 1"

echo "== pool stats"
sed -n 's/^pool stats: //p' /tmp/govpool-demo-bench.$$ | python3 -m json.tool 2>/dev/null | sed 's/^/  /' ||
  sed -n 's/^pool stats: //p' /tmp/govpool-demo-bench.$$
rm -f /tmp/govpool-demo-bench.$$
if have "to_regclass('governance.pool_stats')"; then
  echo "-- governance.pool_stats while the workload ran: its pool, exactly its own connections"
  echo "   (server_*: its backends in pg_stat_activity; server_missing: connections it holds that the server does not have)"
  sed 's/^/  /' /tmp/govpool-demo-live.$$
  echo "-- governance.pool_stats now: every pool above has closed and said goodbye (the CLI's too), so none is left"
  psql_admin -c "SELECT pool_id, application_name, size, reported_at, stale FROM governance.pool_stats ORDER BY reported_at DESC"
  echo "-- governance.pool_alerts now (empty unless something is wrong):"
  psql_admin -c "SELECT pool_id, metric, value, threshold, setting FROM governance.pool_alerts ORDER BY 1, 2"
  echo "-- governance.connection_budget:"
  psql_admin -c "SELECT * FROM governance.connection_budget"
else
  echo "  (server-side governance.pool_stats view: NOT AVAILABLE in the installed pg_governance; needs 0.3)"
fi
rm -f /tmp/govpool-demo-live.$$

echo "== audit trail (last 10)"
if [ "$audit" = 1 ] && have "to_regclass('governance.audit_log')"; then
  psql_admin -c "SELECT id, at, op, relation, agent_id, tenant_id, correlation_id, db_user
                 FROM governance.audit_log ORDER BY id DESC LIMIT 10"
else
  echo "  NOT AVAILABLE YET: the installed pg_governance has no audit trail"
fi

echo "== denied attempts"
if [ "$edition" = sql ]; then
  echo "  (SQL edition: a write refused by RLS is raised by PostgreSQL itself, which no SQL code sees, so it"
  echo "   is not in denied_log; require_context = warn rows are: governance.capabilities(), denied_log)"
fi
if have "to_regclass('governance.denied_log')"; then
  psql_admin -c "SELECT * FROM governance.denied_log ORDER BY 1 DESC LIMIT 10"
else
  echo "  NOT AVAILABLE YET: the installed pg_governance has no governance.denied_log"
  echo "  (the refusals above were reported to the client with SQLSTATE 42501)"
fi
echo "demo: done"
