#!/usr/bin/env bash
# The governance.* settings from a session's first statement without
# shared_preload_libraries (issue 11, part 3; docs/settings.md): the
# database owner, no superuser, sets local_preload_libraries =
# 'pg_governance'; the install links the library into $libdir/plugins, the
# only place local_preload_libraries loads from.  And the hostile side:
# nothing here lets a non-superuser load any other library.
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 14
sec_db sec15
out=$(sec_install sec15); ok $? "CREATE EXTENSION by $SECURITY_INSTALLER ($out)"
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
preloaded=$(printf 'SHOW shared_preload_libraries;\n' | as postgres postgres | grep -c pg_governance)

# The installed link: $libdir/plugins/pg_governance.so is the library itself
link="$("$PG_CONFIG" --pkglibdir)/plugins/pg_governance.so"
[ -L "$link" ] && [ "$(readlink -f "$link")" = "$(readlink -f "$("$PG_CONFIG" --pkglibdir)/pg_governance.so")" ]
ok $? "make install links \$libdir/plugins/pg_governance.so to the library ($(ls -l "$link" 2>&1))"

# The database owner (not a superuser) turns it on, in one line
out=$(printf 'ALTER DATABASE sec15 SET local_preload_libraries = pg_governance;\n' | as dbowner sec15)
ok $? "the database owner sets local_preload_libraries ($out)"

# A fresh session's first statement
out=$(printf 'SHOW governance.agent_id;\n' | as app_a sec15); st=$?
is "$st:$out" "0:" "SHOW governance.agent_id works as a session's first statement"
is "$(printf "SELECT string_agg(name, ' ' ORDER BY name) FROM pg_catalog.pg_settings WHERE name IN ('governance.agent_id', 'governance.tenant_id', 'governance.correlation_id');\n" | as app_b sec15)" \
	"governance.agent_id governance.correlation_id governance.tenant_id" \
	"pg_settings lists the governance.* settings from the first statement"
out=$(as app_a sec15 <<'SQL'
CREATE TABLE notes (agent text, body text);
INSERT INTO notes VALUES ('alice', 'a'), ('bob', 'b');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_agent ON notes USING (agent = pg_catalog.current_setting('governance.agent_id'));
GRANT SELECT ON notes TO app_b;
SQL
); ok $? "app_a's own policy reads current_setting('governance.agent_id') ($out)"
out=$(printf 'SELECT count(*) FROM public.notes;\n' | as app_b sec15); st=$?
is "$st:$out" "0:0" "... and works in another role's first statement (no context: no rows)"
out=$(printf "BEGIN;\nSELECT governance.set_context('alice');\nSELECT body FROM public.notes;\nCOMMIT;\n" | as app_b sec15 | tail -n 1)
is "$out" "a" "... and with the context set, shows the agent's rows"
is "$(printf "SELECT active || ' ' || detail FROM governance.capabilities() WHERE feature = 'settings_from_first_statement';\n" | as app_b sec15)" \
	"$([ "$preloaded" = 1 ] && echo "true shared_preload_libraries loads the library into every session" ||
		echo "true local_preload_libraries loads the library at connection start")" \
	"capabilities() says the settings exist from the first statement, and why"

# Hostile: local_preload_libraries loads only from $libdir/plugins
printf "ALTER ROLE app_b SET local_preload_libraries = '\$libdir/plpgsql';\n" | as app_b sec15 >/dev/null
out=$(printf 'SELECT 1;\n' | as app_b sec15)
like "$out" 'access to library "\$libdir/plpgsql" is not allowed' "a role cannot make its sessions load a library outside \$libdir/plugins"
printf "ALTER ROLE app_b SET local_preload_libraries = '../pg_governance';\n" | as app_b sec15 >/dev/null
out=$(printf 'SELECT 1;\n' | as app_b sec15)
like "$out" 'is not allowed' "... nor climb out of it ($out)"
printf 'ALTER ROLE app_b RESET local_preload_libraries;\n' | as postgres postgres >/dev/null
out=$(printf "ALTER DATABASE sec15 SET session_preload_libraries = 'pg_governance';\n" | as dbowner sec15)
like "$out" 'permission denied to set parameter "session_preload_libraries"' \
	"the database owner cannot set session_preload_libraries (superusers only)"

# Without the setting: the session says what it lacks (plain mode)
printf 'ALTER DATABASE sec15 RESET local_preload_libraries;\n' | as dbowner sec15 >/dev/null
is "$(printf "SELECT active FROM governance.capabilities() WHERE feature = 'settings_from_first_statement';\n" | as app_b sec15)" \
	"$([ "$preloaded" = 1 ] && echo t || echo f)" \
	"without it, capabilities() reports the settings as not there from the first statement (unless preloaded)"

# The setting outlives DROP EXTENSION harmlessly: the library stays installed
printf 'ALTER DATABASE sec15 SET local_preload_libraries = pg_governance;\n' | as dbowner sec15 >/dev/null
printf 'DROP TABLE public.notes;\nDROP EXTENSION pg_governance;\n' | as postgres sec15 >/dev/null
out=$(printf 'SHOW governance.agent_id;\n' | as app_a sec15); st=$?
is "$st:$out" "0:" "after DROP EXTENSION, sessions still start (the library is still installed)"
done_testing
