#!/usr/bin/env bash
# Finding 03 and its class: the C code that writes the logs finds the
# extension's own tables and sequences by extension membership, checks
# owner and shape, and never writes into (or runs the index expressions
# of) a look-alike the installer planted; upgrades refuse a schema with
# plants, clean ones leave it superuser-owned.
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 13

# The plant of finding 03, in a database installed before 0.5 (where the
# installer owned the schema): simulated by handing the schema back to it.
plant() {  # plant DB
	as postgres "$1" >/dev/null <<'SQL' || bail "cannot prepare $1"
ALTER SCHEMA governance OWNER TO dbowner;
SQL
	as dbowner "$1" >/dev/null <<'SQL' || bail "cannot plant in $1"
CREATE SEQUENCE governance.denied_log_id_seq;
GRANT USAGE ON SEQUENCE governance.denied_log_id_seq TO PUBLIC;
CREATE TABLE governance.denied_log (
  id bigint, at timestamptz, logged_at timestamptz, source text, action text, sqlstate text,
  relid oid, relation text, command text, agent_id text, tenant_id text, correlation_id text,
  db_user text, db_session_user text, application_name text, client_addr inet, backend_pid integer,
  message text, statement text, recorded_by text);
CREATE TABLE public.loot (ran_as text, data text);
GRANT INSERT ON public.loot TO PUBLIC;
CREATE FUNCTION public.payload() RETURNS text LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
  INSERT INTO public.loot SELECT current_user, string_agg(k || '=' || v, ',') FROM public.b_secrets;
  RETURN 'ok';
EXCEPTION WHEN others THEN
  INSERT INTO public.loot VALUES (current_user, SQLERRM);
  RETURN 'ok';
END $f$;
CREATE FUNCTION public.trojan(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE r text;
BEGIN r := public.payload(); RETURN t; END $f$;
CREATE INDEX ON governance.denied_log (public.trojan(message));
SQL
}

tenant_b() {  # tenant_b DB: app_b's data and RLS-protected table
	as app_b "$1" >/dev/null <<'SQL' || bail "cannot prepare app_b in $1"
CREATE TABLE b_secrets (k text, v text);
INSERT INTO b_secrets VALUES ('api_key', 'tenant-B-secret-123');
CREATE TABLE b_notes (id int, tenant text);
ALTER TABLE b_notes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY only_b ON b_notes USING (tenant = 'b') WITH CHECK (tenant = 'b');
SQL
}

denial_b() {  # denial_b DB: app_b hits an RLS refusal, the backend writes it
	printf 'ALTER ROLE app_b IN DATABASE %s SET governance.denied_log_worker = off;\n' "$1" | as postgres "$1" >/dev/null
	as_all app_b "$1" <<'SQL'
BEGIN;
SELECT governance.set_context('b-agent', 'b');
INSERT INTO b_notes VALUES (2, 'a');
ROLLBACK;
SELECT 1;
SELECT 2;
SQL
}

# Finding 03 as written: at 0.1 the installer can no longer create anything
# in the extension's schema.
sec_db sec03
tenant_b sec03
printf "CREATE EXTENSION pg_governance VERSION '0.1';\n" | as "$SECURITY_INSTALLER" sec03 >/dev/null || bail "cannot install 0.1"
out=$(printf 'CREATE TABLE governance.denied_log (id bigint);\n' | as_all dbowner sec03)
like "$out" 'permission denied for schema governance' "finding 03: the installer cannot plant governance.denied_log at 0.1"

# The same plant in a schema the installer still owns (installed by 0.4):
# the writers ignore a denied_log that is not the extension's.
sec_db sec03_legacy
tenant_b sec03_legacy
printf "CREATE EXTENSION pg_governance VERSION '0.1';\n" | as "$SECURITY_INSTALLER" sec03_legacy >/dev/null || bail "cannot install 0.1"
plant sec03_legacy
out=$(denial_b sec03_legacy)
like "$out" 'row-level security' "the RLS refusal happened ($(printf '%s' "$out" | grep -m1 -o 'WARNING.*'))"
is "$(printf 'SELECT count(*) FROM public.loot;\n' | as postgres sec03_legacy)" 0 \
	"the planted index expression never ran (as the denied role or anyone)"
is "$(printf 'SELECT count(*) FROM governance.denied_log;\n' | as postgres sec03_legacy)" 0 \
	"nothing was written into the planted denied_log"
is "$(printf "SELECT active FROM governance.capabilities() WHERE feature = 'denied_log';\n" | as postgres sec03_legacy)" f \
	"capabilities() does not report the planted denied_log as active"

# ALTER EXTENSION UPDATE (by the extension's owner) with the plants is refused, naming them.
out=$(printf 'ALTER EXTENSION pg_governance UPDATE;\n' | as_all "$SECURITY_INSTALLER" sec03_legacy)
like "$out" 'holds objects that are not part of pg_governance: .*sequence governance.denied_log_id_seq.*table governance.denied_log' \
	"upgrade from 0.1 with planted objects is refused, naming them"
is "$(printf "SELECT extversion FROM pg_extension WHERE extname = 'pg_governance';\n" | as postgres sec03_legacy)" 0.1 \
	"... and the extension stays at 0.1"
is "$(is_superuser dbowner)$(is_superuser app_b)" ff "nobody became superuser"

# A look-alike made a member with ALTER EXTENSION ... ADD (the installer
# owns the extension) is still not the extension's: refused too.
sec_db sec03_added
printf "CREATE EXTENSION pg_governance VERSION '0.3';\n" | as "$SECURITY_INSTALLER" sec03_added >/dev/null || bail "cannot install 0.3"
printf 'ALTER SCHEMA governance OWNER TO dbowner;\n' | as postgres sec03_added >/dev/null
as_all dbowner sec03_added >/dev/null <<'SQL'
CREATE FUNCTION governance.oid_eq_int(a oid, b integer) RETURNS boolean LANGUAGE sql AS 'SELECT true';
ALTER EXTENSION pg_governance ADD FUNCTION governance.oid_eq_int(oid, integer);
SQL
out=$(printf 'ALTER EXTENSION pg_governance UPDATE;\n' | as_all "$SECURITY_INSTALLER" sec03_added)
like "$out" 'holds objects that are not part of pg_governance: function governance.oid_eq_int\(oid,integer\)' \
	"upgrade refused with an installer-owned object added to the extension"

# Clean upgrades by the installer from a schema the database owner owns
# (0.1, 0.3, 0.4, 0.5 installed by the old scripts) succeed and leave it
# superuser-owned.
for v in 0.1 0.3 0.4 0.5; do
	db=sec03_up_${v/./}
	sec_db "$db"
	printf "CREATE EXTENSION pg_governance VERSION '%s';\n" "$v" | as "$SECURITY_INSTALLER" "$db" >/dev/null || bail "cannot install $v"
	printf 'ALTER SCHEMA governance OWNER TO dbowner;\n' | as postgres "$db" >/dev/null
	out=$(printf 'ALTER EXTENSION pg_governance UPDATE;\n' | as_all "$SECURITY_INSTALLER" "$db")
	is "$(as postgres "$db" <<'SQL'
SELECT e.extversion || ' ' || r.rolsuper FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  JOIN pg_roles r ON r.oid = n.nspowner WHERE e.extname = 'pg_governance';
SQL
)" "0.8 true" "clean upgrade from $v by the installer: at 0.8, schema superuser-owned ($out)"
	printf 'DROP DATABASE "%s" WITH (FORCE);\n' "$db" | as postgres postgres >/dev/null
done
done_testing
