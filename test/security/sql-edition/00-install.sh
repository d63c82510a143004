#!/usr/bin/env bash
# SQL edition (issue 15): the install, as an insider would meet it.  The
# script installs as the database owner without a superuser; it refuses a
# database where another role prepared a schema "governance", where the C
# extension is installed (not here: it is not available), and an installer
# whose default privileges would hand the keys and logs to another role; it
# is one transaction (a refused install leaves nothing); and afterwards no
# other role can create in, or read the secrets of, the schema.
cd "$(dirname "$0")/../../.." && . test/security/lib.bash
plan 8
db=sqled00
sec_db $db

# another role prepares a schema "governance" before the owner installs
as postgres $db >/dev/null <<'SQL' || bail "cannot plant the schema"
CREATE SCHEMA governance AUTHORIZATION app_a;
SET ROLE app_a;
CREATE FUNCTION governance.agent_id() RETURNS text LANGUAGE sql AS $f$SELECT 'mallory'$f$;
SQL
out=$(sec_install_sql $db)
like "$out" 'schema "governance" already exists' "a planted schema governance is refused"
is "$(printf "SELECT governance.agent_id();\n" | as app_a $db)" mallory "and nothing of the install was left (one transaction)"
printf 'DROP SCHEMA governance CASCADE;\n' | as postgres $db >/dev/null

# default privileges of the installer
printf 'ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO app_b;\n' | as dbowner $db >/dev/null
out=$(sec_install_sql $db)
like "$out" 'role "dbowner" has default privileges' "an installer whose default privileges grant to others is refused"
is "$(printf "SELECT count(*) FROM pg_namespace WHERE nspname = 'governance';\n" | as dbowner $db)" 0 "and nothing is installed"
printf 'ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM app_b;\n' | as dbowner $db >/dev/null

out=$(sec_install_sql $db)
is "$?" 0 "the database owner installs it (no superuser)"
is "$(printf "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'governance';\n" | as dbowner $db)" dbowner \
   "the installer owns the schema (top of the trust chain)"
out=$(as_all app_a $db <<'SQL'
CREATE TABLE governance.x (i int);
CREATE FUNCTION governance.set_context(a text) RETURNS void LANGUAGE sql AS '';
SELECT * FROM governance.seal_key;
SELECT * FROM governance.signing_keys;
SQL
)
is "$(grep -c 'permission denied' <<<"$out")" 4 "another role can neither create in governance nor read its keys"
is "$(printf "SELECT count(*) FROM information_schema.role_table_grants WHERE table_schema = 'governance' AND grantee NOT IN ('dbowner', 'PUBLIC');\n" | as dbowner $db)" 0 \
   "no table of governance is granted to another role"

done_testing
