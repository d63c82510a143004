#!/usr/bin/env bash
# TAP: governed sessions through a real PgBouncer in transaction mode, where
# clients share server connections.  The context is transaction-scoped, so
# it never leaks from one client to the next; sealing and audit still hold.
# Runs against the server PG* points at (with-cluster); skipped when
# pgbouncer or the govpool CLI is missing.
set -u
cd "$(dirname "$0")/.."
PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}
GOVPOOL=client/build/govpool
if [ ! -x "$PGBOUNCER" ] || [ ! -x "$GOVPOOL" ] || [ -z "${PGHOST:-}" ]; then
  echo "1..0 # SKIP needs pgbouncer, client/build/govpool and a throwaway cluster"; exit 0
fi

db=governance_bouncer
dir=$(mktemp -d "${TMPDIR:-/tmp}/govbouncer.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  [ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null
  PGOPTIONS='-c client_min_messages=warning' psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT

PGOPTIONS='-c client_min_messages=warning' psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -XqAt -d $db >/dev/null <<'SQL'
CREATE EXTENSION pg_governance;
CREATE TABLE notes (id bigserial PRIMARY KEY, body text);
SELECT governance.enable_audit('notes');
SQL

# One server connection for everybody: every client shares it.
cat >"$dir/pgbouncer.ini" <<INI
[databases]
$db = host=$PGHOST port=$PGPORT dbname=$db user=${PGUSER:-postgres}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
default_pool_size = 1
max_client_conn = 50
server_reset_query =
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
echo "\"${PGUSER:-postgres}\" \"\"" >"$dir/users.txt"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$dir"; runas=(runuser -u postgres --); else runas=(); fi
"${runas[@]}" "$PGBOUNCER" -d "$dir/pgbouncer.ini" || { echo "1..0 # SKIP pgbouncer did not start"; exit 0; }
url="postgresql://${PGUSER:-postgres}@127.0.0.1:$port/$db"
for _ in $(seq 50); do psql "$url" -XAtqc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done

n=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; printf '# %s\n' "${3:-}"; fi; }
echo "1..7"

out=$(psql "$url" -XAtq -c "BEGIN" -c "SELECT governance.set_context('alice', 'acme')" \
          -c "SELECT governance.agent_id()" -c "COMMIT" 2>&1 | sed '/^$/d')
[ "$out" = "alice" ]; ok $? "a governed transaction through PgBouncer sees its context" "$out"

out=$(psql "$url" -XAtqc "SELECT coalesce(governance.agent_id(), '<null>')" 2>&1)
[ "$out" = "<null>" ]; ok $? "the next client on the same server connection sees no context" "$out"

out=$(psql "$url" -XAtq -c "BEGIN" -c "SELECT governance.set_context('alice')" \
          -c "SET governance.agent_id = 'mallory'" -c "COMMIT" 2>&1)
grep -q 'governance context is sealed for this transaction' <<<"$out"; ok $? "sealing holds through PgBouncer" "$out"

out=$(DATABASE_URL=$url ENVIRONMENT=uat "$GOVPOOL" exec -q --agent bob --tenant acme \
        "SELECT governance.agent_id() || '/' || governance.tenant_id()" 2>&1)
[ "$out" = "bob/acme" ]; ok $? "govpool_run's one-round-trip pipeline works through PgBouncer" "$out"

out=$(DATABASE_URL=$url ENVIRONMENT=uat "$GOVPOOL" exec -q --agent carol --correlation req-1 \
        "INSERT INTO notes (body) VALUES ('via bouncer') RETURNING id" 2>&1)
out=$(psql -XAtq -d $db -c "SELECT agent_id || '/' || correlation_id FROM governance.audit_log WHERE op = 'INSERT'" 2>&1)
[ "$out" = "carol/req-1" ]; ok $? "writes through PgBouncer are audited with their context" "$out"

# libgovpool's statement timeout travels as a startup option, which PgBouncer
# refuses (README: behind PgBouncer use DATABASE_STATEMENT_TIMEOUT_MS=0 and set
# the timeout on the role); the profiles without a timeout connect fine.

# Two clients interleaving on one server connection: each only ever sees itself
mismatch=0
for who in dave erin; do
  ( bad=0
    for i in $(seq 40); do
      got=$(DATABASE_URL=$url ENVIRONMENT=uat "$GOVPOOL" exec -q --agent "$who" "SELECT governance.agent_id()" 2>&1)
      [ "$got" = "$who" ] || bad=$((bad+1))
      got=$(psql "$url" -XAtqc "SELECT coalesce(governance.agent_id(), '<null>')" 2>&1)
      [ "$got" = "<null>" ] || bad=$((bad+1))
    done
    echo $bad >"$dir/bad.$who" ) &
done
wait
mismatch=$(( $(cat "$dir/bad.dave") + $(cat "$dir/bad.erin") ))
[ "$mismatch" = 0 ]; ok $? "160 interleaved transactions of two clients on one server connection: no context leaked" "mismatches: $mismatch"

servers=$(psql -XAtq -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db'" 2>&1)
[ "$servers" = 1 ]; ok $? "PgBouncer really shared one server connection" "server connections: $servers"
