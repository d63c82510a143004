#!/usr/bin/env bash
# TAP: governed sessions through a real PgBouncer in transaction mode, where
# clients share server connections.  The context is transaction-scoped, so
# it never leaks from one client to the next, whatever kind of SET a client
# sends (finding 05b); sealing and audit still hold.
# govpool_run's prepared set_context (GOVPOOL_PREPARE_CONTEXT) and its
# statement cache (GOVPOOL_STATEMENT_CACHE: the repeated statement prepared
# from its second use) work through it with the default setting,
# GOVPOOL_POOLER=transaction and "on", also when a pool's transactions land
# on several server connections.
# libgovpool's statement timeout is set transaction-locally (no startup
# option for PgBouncer to refuse), is in effect in the session and gone for
# the next client; pool stats still reach governance.pool_stats.
# Runs against the server PG* points at (with-cluster); skipped when
# pgbouncer or the govpool CLI is missing.
set -u
cd "$(dirname "$0")/../.."
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
${db}_many = host=$PGHOST port=$PGPORT dbname=$db pool_size=3 user=${PGUSER:-postgres}${GOVERNANCE_TEST_PASSWORD:+ password=$GOVERNANCE_TEST_PASSWORD}
$db = host=$PGHOST port=$PGPORT dbname=$db user=${PGUSER:-postgres}${GOVERNANCE_TEST_PASSWORD:+ password=$GOVERNANCE_TEST_PASSWORD}
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
# poll QUERY (on $db, directly) until it prints "t", for at most 10 s
poll() {
  local got deadline=$((SECONDS + 10))
  while :; do
    got=$(psql -XAtq -d $db -c "$1" 2>&1)
    [ "$got" = t ] && return 0
    [ $SECONDS -lt $deadline ] || { echo "$got"; return 1; }
    sleep 0.1
  done
}
echo "1..27"

out=$(psql "$url" -XAtq -c "BEGIN" -c "SELECT governance.set_context('alice', 'acme')" \
          -c "SELECT governance.agent_id()" -c "COMMIT" 2>&1 | sed '/^$/d')
[ "$out" = "alice" ]; ok $? "a governed transaction through PgBouncer sees its context" "$out"

out=$(psql "$url" -XAtqc "SELECT coalesce(governance.agent_id(), '<null>')" 2>&1)
[ "$out" = "<null>" ]; ok $? "the next client on the same server connection sees no context" "$out"

# Every kind of SET a client can send, then the next client on the same
# server connection (finding 05b): no context reaches it.  Value-setting
# kinds are refused (only set_context() sets the context, transaction-
# locally); clearing ones leave nothing either.
while IFS='|' read -r what sql; do
  first=$(psql "$url" -XAtq -c "$sql" 2>&1)
  out=$(psql "$url" -XAtqc "SELECT coalesce(governance.agent_id(), '<null>') || '/' || coalesce(governance.tenant_id(), '<null>')" 2>&1)
  [ "$out" = "<null>/<null>" ]; ok $? "after a client's $what, the next client on the server connection sees no context" "$out (first client: $first)"
done <<'KINDS'
SET|SET governance.agent_id = 'victim-agent'; SET governance.tenant_id = 'acme'
SET SESSION|SET SESSION governance.agent_id = 'victim-agent'; SET SESSION governance.tenant_id = 'acme'
set_config(..., false)|SELECT set_config('governance.agent_id', 'victim-agent', false), set_config('governance.tenant_id', 'acme', false)
SET LOCAL|BEGIN; SET LOCAL governance.agent_id = 'victim-agent'; SET LOCAL governance.tenant_id = 'acme'; COMMIT
RESET|BEGIN; SELECT governance.set_context('victim-agent', 'acme', seal => false); RESET governance.tenant_id; COMMIT
same-value SET SESSION under a seal|BEGIN; SELECT governance.set_context('victim-agent', 'acme'); SET SESSION governance.agent_id = 'victim-agent'; SELECT set_config('governance.tenant_id', 'acme', false); COMMIT
KINDS

out=$(psql "$url" -XAtq -c "BEGIN" -c "SELECT governance.set_context('alice')" \
          -c "SET governance.agent_id = 'mallory'" -c "COMMIT" 2>&1)
grep -q 'governance context is sealed for this transaction' <<<"$out"; ok $? "sealing holds through PgBouncer" "$out"

# The prod profile: a 60 s statement timeout, no workaround needed
out=$(DATABASE_URL=$url ENVIRONMENT=prod "$GOVPOOL" exec -q --agent bob --tenant acme \
        "SELECT governance.agent_id() || '/' || governance.tenant_id() || '/' || current_setting('statement_timeout')" 2>&1)
[ "$out" = "bob/acme/1min" ]; ok $? "govpool_run's one-round-trip pipeline works through PgBouncer, with the prod profile's statement timeout" "$out"

out=$(DATABASE_URL=$url ENVIRONMENT=prod "$GOVPOOL" exec -q --agent carol --correlation req-1 \
        "INSERT INTO notes (body) VALUES ('via bouncer') RETURNING id" 2>&1)
out=$(psql -XAtq -d $db -c "SELECT agent_id || '/' || correlation_id FROM governance.audit_log WHERE op = 'INSERT'" 2>&1)
[ "$out" = "carol/req-1" ]; ok $? "writes through PgBouncer are audited with their context" "$out"

# The statement timeout: set in the session's own transaction, not at connect
export DATABASE_URL=$url ENVIRONMENT=prod
server_default=$(psql -XAtq -d $db -c "SHOW statement_timeout")
out=$(DATABASE_STATEMENT_TIMEOUT_MS=300 "$GOVPOOL" exec -q --agent frank \
        "SELECT current_setting('statement_timeout') || '/' || pg_backend_pid()" 2>&1)
server_pid=${out#*/}
[ "${out%/*}" = "300ms" ]; ok $? "DATABASE_STATEMENT_TIMEOUT_MS is in effect in a session through PgBouncer" "$out"

start=$SECONDS
out=$(DATABASE_STATEMENT_TIMEOUT_MS=300 "$GOVPOOL" exec -q --agent frank "SELECT pg_sleep(30)" 2>&1); rc=$?
[ $rc = 1 ] && [ $((SECONDS - start)) -lt 10 ] && grep -q 'SQLSTATE 57014' <<<"$out" &&
  grep -q "statement_timeout is 300 ms" <<<"$out"
ok $? "a statement longer than the timeout is cancelled through PgBouncer (57014, says which timeout)" "rc=$rc: $out"

out=$(psql "$url" -XAtqc "SELECT current_setting('statement_timeout') || '/' || pg_backend_pid()" 2>&1)
[ "$out" = "$server_default/$server_pid" ]
ok $? "the next client on the same server connection does not inherit the timeout" "$out (server pid $server_pid)"

out=$(DATABASE_STATEMENT_TIMEOUT_MS=0 "$GOVPOOL" exec -q --agent frank \
        "SELECT current_setting('statement_timeout') || '/' || pg_backend_pid() FROM pg_sleep(0.5)" 2>&1)
[ "$out" = "$server_default/$server_pid" ]
ok $? "nor does the next libgovpool session without a timeout: a 500 ms statement runs" "$out"

out=$(grep -i 'unsupported startup parameter' "$dir/pgbouncer.log")
[ -z "$out" ]; ok $? "PgBouncer refused no startup parameter" "$out"

# Pool stats: the first pipeline of a pool carries a report.  A gate (an
# advisory lock the test holds) keeps the pool open while its row is
# looked at; when it exits, its goodbye removes the row.
coproc GATE { psql -XqAt -d $db 2>&1; }
printf 'SELECT pg_advisory_lock(4711);\nSELECT 1;\n' >&"${GATE[1]}"
read -r _ <&"${GATE[0]}"; read -r _ <&"${GATE[0]}"
DATABASE_STATEMENT_TIMEOUT_MS=0 GOVPOOL_APPLICATION_NAME=bouncer_exec \
  "$GOVPOOL" exec -q --agent grace "SELECT pg_advisory_lock_shared(4711)" >"$dir/exec.out" 2>&1 &
pid=$!
out=$(poll "SELECT count(*) = 1 FROM governance.pool_stats WHERE client_pid = $pid
              AND pool_id LIKE 'bouncer_exec.$pid.%' AND application_name = 'bouncer_exec'
              AND db_user = '${PGUSER:-postgres}' AND acquires_total = 1 AND NOT stale
              AND behind_pooler AND server_connections IS NULL")
ok $? "a libgovpool pool behind PgBouncer publishes its stats to governance.pool_stats (behind_pooler, no server pids)" "$out $(cat "$dir/exec.out")"

# The client address the server sees is PgBouncer's server connection's
out=$(psql -XAtq -d $db -c "SELECT count(*) = 1 FROM governance.pool_stats r, pg_stat_activity a
                             WHERE r.client_pid = $pid AND a.pid = $server_pid
                               AND r.client_addr IS NOT DISTINCT FROM a.client_addr" 2>&1)
[ "$out" = t ]; ok $? "pool_stats' client_addr is PgBouncer's, client_pid the application's" "$out"

printf 'SELECT pg_advisory_unlock(4711);\n\\q\n' >&"${GATE[1]}"
wait $pid; rc=$?
out=$(psql -XAtq -d $db -c "SELECT count(*) FROM governance.pool_stats WHERE client_pid = $pid" 2>&1)
[ $rc = 0 ] && [ "$out" = 0 ]
ok $? "its goodbye through PgBouncer removes the row when the pool is destroyed" "rc=$rc rows=$out $(cat "$dir/exec.out")"

# ... and every report interval after that, while two pool connections share
# the one server connection
GOVPOOL_REPORT_INTERVAL=0.001 GOVPOOL_APPLICATION_NAME=bouncer_bench \
  "$GOVPOOL" bench --run -c 2 -T 3 >"$dir/bench.out" 2>&1 &
pid=$!
out=$(poll "SELECT count(*) = 1 FROM governance.pool_stats WHERE client_pid = $pid
              AND application_name = 'bouncer_bench'
              AND reported_at > first_report_at AND acquires_total >= 3"); polled=$?
wait $pid; rc=$?
errors=$(sed -n 's/^summary: .* errors=\([0-9]*\) .*/\1/p' "$dir/bench.out")
[ $rc = 0 ] && [ "${errors:-1}" = 0 ] && [ $polled = 0 ]
ok $? "its reports keep coming through PgBouncer (GOVPOOL_REPORT_INTERVAL)" \
  "rc=$rc errors=$errors $out $(tail -n 3 "$dir/bench.out")"

# Two clients interleaving on one server connection: each only ever sees itself
mismatch=0
for who in dave erin; do
  ( bad=0
    for i in $(seq 40); do
      got=$(DATABASE_URL=$url ENVIRONMENT=prod "$GOVPOOL" exec -q --agent "$who" "SELECT governance.agent_id()" 2>&1)
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

# govpool_run through PgBouncer (1.18: no prepared-statement tracking) with
# three server connections under four pool connections: each transaction may
# land on a server connection that lacks the prepared set_context or the
# cached statement, or has them already.  With the default setting (auto),
# with the pooler declared, and with preparing forced on (the statement cache
# too: each loss is resent once as text), every transaction succeeds.
url_many="postgresql://${PGUSER:-postgres}@127.0.0.1:$port/${db}_many"
while IFS='|' read -r what vars; do
  env DATABASE_URL=$url_many GOVPOOL_APPLICATION_NAME=bouncer_many $vars \
    "$GOVPOOL" bench --run -c 4 -T 1 --sql "SELECT governance.agent_id()" >"$dir/many.out" 2>&1; rc=$?
  tx=$(sed -n 's/^summary: .* tx=\([0-9]*\) errors=\([0-9]*\) .*/\1/p' "$dir/many.out")
  errors=$(sed -n 's/^summary: .* errors=\([0-9]*\) .*/\1/p' "$dir/many.out")
  [ $rc = 0 ] && [ "${errors:-1}" = 0 ] && [ "${tx:-0}" -gt 0 ]
  ok $? "govpool_run through PgBouncer over 3 server connections, $what: no error" \
    "rc=$rc errors=$errors tx=$tx $(grep -v '^progress' "$dir/many.out" | tail -n 5)"
done <<'MODES'
default settings (GOVPOOL_PREPARE_CONTEXT=auto)|GOVPOOL_LOG_LEVEL=info
GOVPOOL_POOLER=transaction|GOVPOOL_POOLER=transaction
GOVPOOL_PREPARE_CONTEXT=on|GOVPOOL_PREPARE_CONTEXT=on
GOVPOOL_PREPARE_CONTEXT=on with a one-statement cache|GOVPOOL_PREPARE_CONTEXT=on GOVPOOL_STATEMENT_CACHE=1 GOVPOOL_LOG_LEVEL=debug
MODES
# ... and in that last run the cached statement really was prepared on one
# server connection and met another (the debug line of each resend)
out=$(grep -c 'event=statement_lost' "$dir/many.out")
[ "${out:-0}" -gt 0 ]
ok $? "the cached statement met server connections that lacked it and was resent each time (event=statement_lost)" \
  "statement_lost lines: $out"
