#!/usr/bin/env bash
# Finding 05 and its class: the context (agent_id, tenant_id,
# correlation_id) takes effect only through governance.set_context() /
# set_context_signed(), transaction-locally.  Every other way PostgreSQL has
# of setting a setting -- SET, SET LOCAL, SET SESSION, set_config() local or
# session, UPDATE pg_settings, a function's SET clause, PGOPTIONS, options=
# in the connection string, ALTER ROLE / ALTER DATABASE / ALTER ROLE IN
# DATABASE ... SET, ALTER SYSTEM -- is refused, or (values stored before the
# library is loaded) discarded with a WARNING before anything reads them:
# no such value reaches RLS, the audit trail or require_context.  And a
# context never outlives its transaction: a same-value SET SESSION inside a
# sealed transaction no longer keeps it alive after COMMIT.
#
# Mode-aware: preloaded, connection options are checked at connection start
# (FATAL); plain, values given before the library loads are placeholders,
# re-checked when it loads (WARNING, discarded).
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 34
mode=${GOVERNANCE_MODE:-}
if [ -z "$mode" ]; then
	if printf 'SHOW shared_preload_libraries;\n' | as postgres postgres | grep -q pg_governance; then mode=preload; else mode=plain; fi
fi
db=sec05
key=0123456789abcdef0123456789abcdef-sec05-key
sec_db $db
sec_install $db >/dev/null || bail "cannot install the extension"

# orders: audited, RLS on agent and tenant, one acme row; then the strict
# modes for this database (new sessions).
as postgres $db >/dev/null <<SQL || bail "cannot set up orders"
CREATE TABLE public.orders (id int PRIMARY KEY, tenant text, agent text, v text);
ALTER TABLE public.orders OWNER TO app_a;
SQL
as app_a $db >/dev/null <<'SQL' || bail "cannot govern orders"
SELECT governance.enable_audit('orders');
SELECT governance.enable_rls('orders', 'agent', 'tenant');
GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO app_b;
BEGIN;
SELECT governance.set_context('alice', 'acme');
INSERT INTO orders VALUES (1, 'acme', 'alice', 'acme-secret');
COMMIT;
SQL
as postgres $db >/dev/null <<SQL || bail "cannot set the strict modes"
ALTER DATABASE $db SET governance.require_signed = on;
ALTER DATABASE $db SET governance.require_context = enforce;
ALTER DATABASE $db SET governance.signing_key = '$key';
SQL

# the system python3 (a version manager's shim can take seconds to start)
py=$(command -v /usr/bin/python3 || command -v python3)
# mint AGENT TENANT TTL: a token signed with $key (as a service would)
mint() {
	"$py" - "$1" "$2" "$3" "$key" <<'PY'
import base64, hashlib, hmac, json, sys, time
agent, tenant, ttl, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
p = b(json.dumps({"agent_id": agent, "tenant_id": tenant, "exp": int(time.time()) + ttl}).encode())
print(p + "." + b(hmac.new(key.encode(), p.encode(), hashlib.sha256).digest()))
PY
}

# probe: what app_b's session sees and may do after the attempt in $1 (SQL)
# Prints the context's agent, then tries to read acme's row and to write one.
probe='SELECT coalesce(governance.agent_id(), $$<null>$$) AS agent;
SELECT v FROM orders;
INSERT INTO orders VALUES (100 + (random() * 1000)::int, $$acme$$, $$alice$$, $$forged$$) RETURNING $$inserted$$;'
refusal='can only be set by governance.set_context'

# ---- SQL routes: each refused with 42501, nothing reaches the table ----
# (the library loaded first, as in any session that used governance before;
# before it is loaded, see "placeholder" below)
while IFS='|' read -r what sql; do
	out=$(printf 'SELECT governance.context() IS NOT NULL;\n%s\n%s\n' "$sql" "$probe" | as_all app_b $db)
	like "$out" "$refusal" "$what: refused, saying how the context is set"
	unlike "$out" 'acme-secret|inserted|^alice$' "$what: no acme row read or written, agent stays unset"
done <<'ROUTES'
SET LOCAL in a transaction|BEGIN; SET LOCAL governance.agent_id = 'alice'; SET LOCAL governance.tenant_id = 'acme';
SET|SET governance.agent_id = 'alice'; SET governance.tenant_id = 'acme';
SET SESSION|SET SESSION governance.agent_id = 'alice'; SET SESSION governance.tenant_id = 'acme';
set_config(..., false)|SELECT set_config('governance.agent_id', 'alice', false), set_config('governance.tenant_id', 'acme', false);
set_config(..., true)|BEGIN; SELECT set_config('governance.agent_id', 'alice', true), set_config('governance.tenant_id', 'acme', true);
UPDATE pg_settings|UPDATE pg_settings SET setting = 'alice' WHERE name = 'governance.agent_id'; UPDATE pg_settings SET setting = 'acme' WHERE name = 'governance.tenant_id';
a function SET clause|CREATE FUNCTION public.as_alice() RETURNS text LANGUAGE sql SET governance.agent_id = 'alice' SET governance.tenant_id = 'acme' AS $f$ SELECT string_agg(v, ',') FROM public.orders $f$; SELECT public.as_alice();
ROUTES

# a same-value SET is refused too (it was the door of the laundering below)
out=$(as_all app_b $db <<SQL
BEGIN;
SELECT governance.set_context_signed('$(mint alice acme 60)');
SET LOCAL governance.agent_id = 'alice';
ROLLBACK;
SQL
)
like "$out" "$refusal" "a SET of the sealed value itself is refused"

# ---- finding 05, part 2: a signed context laundered into the session ----
out=$(as_all app_b $db <<SQL
BEGIN;
SELECT governance.set_context_signed('$(mint alice acme 60)');
SET SESSION governance.agent_id = 'alice';
SELECT set_config('governance.tenant_id', 'acme', false);
COMMIT;
SELECT 'after:' || coalesce(governance.agent_id(), '<null>') || '/' || coalesce(governance.tenant_id(), '<null>');
SELECT v FROM orders;
SQL
)
like "$out" 'after:<null>/<null>' "a signed context does not outlive COMMIT after a same-value SET SESSION / set_config(false)"
unlike "$out" 'acme-secret' "and acme's rows are not readable after COMMIT"

# ---- the product's path still works (control: the probe can succeed) ----
out=$(as_all app_b $db <<SQL
BEGIN;
SELECT governance.set_context_signed('$(mint alice acme 60)');
SELECT v FROM orders;
COMMIT;
SQL
)
like "$out" 'acme-secret' "control: a signed context reads acme's row"

# ---- connection options: PGOPTIONS and options= ----
for how in PGOPTIONS options=; do
	if [ "$how" = PGOPTIONS ]; then
		out=$(printf '%s\n' "$probe" | PGOPTIONS='-c governance.agent_id=alice -c governance.tenant_id=acme' as_all app_b $db)
	else
		out=$(printf '%s\n' "$probe" | PGOPTIONS='-c client_min_messages=warning' \
			psql -XqAt -v ON_ERROR_STOP=0 "dbname=$db user=app_b options='-c governance.agent_id=alice -c governance.tenant_id=acme'" 2>&1)
	fi
	if [ "$mode" = preload ]; then
		like "$out" "FATAL: .*$refusal" "preloaded: a context in $how is refused at connection start"
	else
		like "$out" "WARNING: .*$refusal" "plain: a context in $how is discarded with a WARNING when the library loads"
	fi
	unlike "$out" 'acme-secret|inserted|^alice$' "$how: no acme row read or written, agent stays unset"
done

# plain: a placeholder set in the session before the library is loaded
out=$(printf "SET governance.agent_id = 'alice'; SET governance.tenant_id = 'acme';\n%s\n" "$probe" | as_all app_b $db)
if [ "$mode" = preload ]; then
	like "$out" "$refusal" "preloaded: SET before any governance call is refused"
else
	like "$out" "WARNING: .*$refusal" "plain: a SET made before the library loads is discarded when it loads"
fi
unlike "$out" 'acme-secret|inserted|^alice$' "SET before the library loads: no acme row read or written"

# ---- stored settings: ALTER ROLE / DATABASE / ROLE IN DATABASE ... SET ----
# by the role itself and by the database owner, with the library loaded:
out=$(as_all app_b $db <<'SQL'
SELECT governance.context() IS NOT NULL;
ALTER ROLE app_b SET governance.agent_id = 'alice';
SQL
)
like "$out" "$refusal" "ALTER ROLE ... SET by the role itself is refused"
out=$(as_all dbowner $db <<SQL
SELECT governance.context() IS NOT NULL;
ALTER DATABASE $db SET governance.agent_id = 'alice';
ALTER ROLE dbowner IN DATABASE $db SET governance.tenant_id = 'acme';
SQL
)
is "$(grep -c "$refusal" <<<"$out")" 2 "ALTER DATABASE ... SET and ALTER ROLE IN DATABASE ... SET by the database owner are refused"
# ... and without the library loaded (a non-superuser cannot store a placeholder)
out=$(as_all dbowner $db <<SQL
ALTER DATABASE $db SET governance.agent_id = 'alice';
SQL
)
like "$out" "ERROR" "ALTER DATABASE ... SET by the database owner is refused also before the library loads"
# by a superuser: refused with the library loaded
out=$(as_all postgres $db <<SQL
LOAD 'pg_governance';
ALTER ROLE app_b SET governance.agent_id = 'alice';
ALTER SYSTEM SET governance.agent_id = 'alice';
SQL
)
is "$(grep -c "$refusal" <<<"$out")" 2 "ALTER ROLE ... SET and ALTER SYSTEM SET by a superuser are refused once the library is loaded"
as_all postgres $db >/dev/null <<SQL
ALTER SYSTEM RESET governance.agent_id;
ALTER DATABASE $db RESET governance.agent_id;
ALTER ROLE dbowner IN DATABASE $db RESET ALL;
SQL
# values stored anyway (before 0.5, or by a superuser session that never
# loaded the library) never reach a session: stored in the catalog directly
as postgres $db >/dev/null <<SQL || bail "cannot store role settings"
ALTER ROLE app_b RESET ALL;
INSERT INTO pg_catalog.pg_db_role_setting (setdatabase, setrole, setconfig)
  VALUES ((SELECT oid FROM pg_catalog.pg_database WHERE datname = '$db'), 'app_b'::regrole,
          '{governance.agent_id=alice,governance.tenant_id=acme}');
SQL
out=$(printf '%s\n' "$probe" | as_all app_b $db)
like "$out" "WARNING: .*$refusal" "$mode: a context stored with ALTER ROLE IN DATABASE ... SET is discarded with a WARNING"
unlike "$out" 'acme-secret|inserted|^alice$' "stored role settings: no acme row read or written, agent stays unset"
as postgres $db >/dev/null <<SQL
ALTER ROLE app_b IN DATABASE $db RESET ALL;
SQL

# ---- require_signed: agent and tenant only from a token, by every route ----
out=$(printf "SELECT governance.set_context('alice', 'acme', seal => false);\n%s\n" "$probe" | as_all app_b $db)
like "$out" 'unsigned governance context refused' "require_signed: an unsigned set_context() is refused"
unlike "$out" 'acme-secret|inserted|^alice$' "require_signed: no acme row read or written without a token"

# ---- what got through, seen by the superuser ----
is "$(printf "SET governance.require_context = off;\nSELECT count(*) FROM public.orders WHERE v = 'forged';\n" | as postgres $db)" 0 \
	"no forged row was committed"
is "$(printf "SELECT count(*) FROM governance.audit_log WHERE new_row->>'v' = 'forged';\n" | as postgres $db)" 0 \
	"no audit row of a forged write"
done_testing
