#!/usr/bin/env bash
# SQL edition (issue 15): an app role cannot forge or change a sealed
# context undetected.  Without the C library a SET of governance.* is not
# refused; the edition's promise is that no reader (accessors, RLS, the
# audit trigger) ever uses a value set_context()/set_context_signed() did
# not write in this transaction (docs/sql-edition.md).  Attacks by app_b,
# a login role of its own, against orders (app_a's, audited, RLS), with
# require_signed on so that app_b cannot simply call set_context().
cd "$(dirname "$0")/../../.." && . test/security/lib.bash
plan 16
db=sqled01
key=0123456789abcdef0123456789abcdef-sqled01-key
sec_db $db
sec_install_sql $db >/dev/null || bail "cannot install the SQL edition"

as app_a $db >/dev/null <<'SQL' || bail "cannot set up orders"
CREATE TABLE public.orders (id int PRIMARY KEY, tenant text, agent text, v text);
SELECT governance.enable_audit('orders');
INSERT INTO orders VALUES (1, 'acme', 'alice', 'alice-secret'), (2, 'acme', 'bob', 'bob-row');
SELECT governance.enable_rls('orders', 'agent', 'tenant');
GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO app_b;
SQL
as dbowner $db >/dev/null <<SQL || bail "cannot configure signing"
SELECT governance.set_signing_key('$key');
SELECT governance.set_setting('require_signed', 'on');
SELECT governance.set_setting('require_context', 'enforce');
SQL
mint() {  # mint AGENT: a token for AGENT, tenant acme, 5 minutes
	local p; p=$(printf '{"agent_id":"%s","tenant_id":"acme","exp":%d}' "$1" $(( $(date +%s) + 300 )) | basenc --base64url | tr -d '=\n')
	echo "$p.$(printf %s "$p" | openssl dgst -sha256 -hmac "$key" -binary | basenc --base64url | tr -d '=\n')"
}
bob=$(mint bob)

out=$(as_all app_b $db <<SQL
BEGIN;
SELECT governance.set_context_signed('$bob');
SELECT pg_catalog.set_config('governance.agent_id', 'alice', true);
SELECT v FROM orders;
ROLLBACK;
SQL
)
like "$out" "governance context is sealed for this transaction" "change of a signed context: the read is refused"
unlike "$out" "alice-secret" "and alice's row is not shown"

out=$(as_all app_b $db <<SQL
BEGIN;
SELECT governance.set_context_signed('$bob');
SET LOCAL governance.agent_id = 'alice';
INSERT INTO orders VALUES (10, 'acme', 'alice', 'forged');
COMMIT;
SQL
)
like "$out" "governance context is sealed for this transaction" "a write under a changed context is refused"
is "$(printf "SELECT count(*) FROM governance.audit_log WHERE agent_id = 'alice' AND op <> 'DDL' AND new_row->>'v' = 'forged';\n" | as dbowner $db)" 0 \
   "no audit row names alice for it"

# Replay: the seal of one transaction in the next one (same backend)
out=$(as_all app_b $db <<SQL
BEGIN;
SELECT governance.set_context_signed('$bob');
SELECT pg_catalog.set_config('governance.agent_id', 'x', false), pg_catalog.set_config('governance.agent_id', 'bob', true);
SELECT pg_catalog.set_config('regress.saved', pg_catalog.current_setting('governance.context_seal'), false);
COMMIT;
BEGIN;
SELECT pg_catalog.set_config('governance.agent_id', 'bob', true), pg_catalog.set_config('governance.tenant_id', 'acme', true),
       pg_catalog.set_config('governance.context_seal', pg_catalog.current_setting('regress.saved'), true);
SELECT 'replayed as ' || governance.agent_id();
ROLLBACK;
SQL
)
unlike "$out" "replayed as" "a seal replayed in a later transaction is not accepted"
like "$out" "can only be set by governance.set_context|context is sealed" "it is refused with 42501"

# Forgery through the client encoding: in SJIS "\\" and "¥" (U+00A5) are one
# byte; a MAC over the value as the client would receive it takes one for the
# other (found by a review of 0.8; the MAC is over the UTF-8 bytes now)
bobx=$(mint 'corp\\bob')
out=$(as_all app_b $db <<SQL
SET client_encoding = 'SJIS';
BEGIN;
SELECT governance.set_context_signed('$bobx');
SELECT pg_catalog.set_config('governance.agent_id', U&'corp\00A5bob', true);
SELECT 'read as another agent' WHERE governance.agent_id() IS NOT NULL;
ROLLBACK;
SQL
)
unlike "$out" "read as another agent" "a value equal to the sealed one only in the client's encoding (SJIS) is not accepted"
like "$out" "governance context is sealed for this transaction" "it is refused with 42501"

# Forgery: flags changed, a MAC made up
out=$(as_all app_b $db <<'SQL'
BEGIN;
SELECT pg_catalog.set_config('governance.agent_id', 'alice', true), pg_catalog.set_config('governance.tenant_id', 'acme', true),
       pg_catalog.set_config('governance.context_seal', 'sg:' || pg_catalog.encode(pg_catalog.sha256('alice'), 'base64') || '::', true);
SELECT 'forged as ' || governance.agent_id();
SELECT v FROM orders;
ROLLBACK;
SQL
)
unlike "$out" "forged as|alice-secret" "a made-up seal gives no context and no rows"

# RESET ALL after the seal: no context at all (not another agent's)
out=$(as_all app_b $db <<SQL
BEGIN;
SELECT governance.set_context_signed('$bob');
RESET ALL;
SELECT 'agent ' || COALESCE(governance.agent_id(), 'none');
SELECT v FROM orders;
INSERT INTO orders VALUES (11, 'acme', 'alice', 'anonymous');
ROLLBACK;
SQL
)
like "$out" "agent none" "RESET ALL after the seal leaves no context (not detected, see docs)"
like "$out" "governance context required for SELECT on table" "and require_context = enforce refuses to read (or write) the governed table"
unlike "$out" "alice-secret" "and RLS shows nothing"

# The keys and the writer of the context are out of reach
out=$(as_all app_b $db <<'SQL'
SELECT * FROM governance.seal_key;
SELECT * FROM governance.signing_keys;
SELECT governance._write_context('alice', 'acme', NULL, true, true, NULL);
SELECT governance.set_setting('require_signed', 'off');
SELECT governance.set_signing_key(repeat('k', 40));
CREATE FUNCTION governance.agent_id(x int) RETURNS text LANGUAGE sql AS 'SELECT ''alice''';
SQL
)
is "$(grep -c 'permission denied' <<<"$out")" 6 "app_b can read no key, write no context, change no setting, create nothing in governance"
out=$(as_all app_b $db <<'SQL'
SELECT governance.set_context('alice', 'acme');
SQL
)
like "$out" "unsigned governance context refused" "require_signed: set_context() is refused"

# A temp table posing as the audit trigger's transition table
out=$(as_all app_b $db <<SQL
CREATE TABLE public.b_own (id int);
CREATE TRIGGER governance_audit_insert AFTER INSERT ON public.b_own FOR EACH STATEMENT EXECUTE FUNCTION governance.audit_trigger();
CREATE TEMP TABLE governance_new AS SELECT 1 AS id, 'alice' AS agent, 'planted' AS v;
BEGIN;
SELECT governance.set_context_signed('$bob');
INSERT INTO public.b_own VALUES (1);
COMMIT;
SQL
)
like "$out" "is not an audit trigger made by governance.enable_audit" "an audit trigger without its transition table is refused"
is "$(printf "SELECT count(*) FROM governance.audit_log WHERE new_row->>'v' = 'planted';\n" | as dbowner $db)" 0 \
   "the planted rows are not in the trail"

done_testing
