# Shared helpers for the hostile-insider suite (test/security/*.sh).
#
# Each case runs against the throwaway cluster PG* points at (with-cluster),
# in a database of its own owned by a non-superuser, "dbowner".  The
# extension is installed by $SECURITY_INSTALLER: "dbowner" (default: the
# trusted install by the database owner) or "postgres" (a superuser install
# into a database a non-superuser owns).  The roles are those of
# ../shared/security/README.md: dbowner (installer, database owner), app_a
# (owner of the audited tables, app role), app_b (another tenant's role).
#
# TAP output: plan N, then ok / is / like / unlike; a case that cannot run
# its set-up bails out ("Bail out!"), which prove counts as a failure.

SECURITY_INSTALLER=${SECURITY_INSTALLER:-dbowner}
_sec_n=0
_sec_failed=0
_sec_dbs=()

plan() { echo "1..$1"; }

ok() {  # ok STATUS DESCRIPTION  (STATUS 0 = pass, as a shell status)
	_sec_n=$((_sec_n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $_sec_n - $2"; else echo "not ok $_sec_n - $2"; _sec_failed=$((_sec_failed + 1)); fi
}

is() {  # is GOT WANT DESCRIPTION
	_sec_n=$((_sec_n + 1))
	if [ "$1" = "$2" ]; then echo "ok $_sec_n - $3"
	else
		echo "not ok $_sec_n - $3"
		printf '#   got:  %s\n#   want: %s\n' "$1" "$2"
		_sec_failed=$((_sec_failed + 1))
	fi
}

like() {  # like TEXT EXTENDED-REGEX DESCRIPTION
	_sec_n=$((_sec_n + 1))
	if printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok $_sec_n - $3"
	else
		echo "not ok $_sec_n - $3"
		printf '#   %s\n' "text: ${1:0:600}" "does not match: $2"
		_sec_failed=$((_sec_failed + 1))
	fi
}

unlike() {  # unlike TEXT EXTENDED-REGEX DESCRIPTION
	_sec_n=$((_sec_n + 1))
	if ! printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok $_sec_n - $3"
	else
		echo "not ok $_sec_n - $3"
		printf '#   %s\n' "text: ${1:0:600}" "matches: $2"
		_sec_failed=$((_sec_failed + 1))
	fi
}

bail() { echo "Bail out! $*"; exit 1; }

# as ROLE DB: run SQL from stdin as ROLE in DB, print rows unaligned (-At),
# stop at the first error; stderr goes with stdout so that callers can match
# error messages.  Returns psql's status.
as() {
	local role=$1 db=$2
	PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
		psql -XqAt -v ON_ERROR_STOP=1 -U "$role" -d "$db" 2>&1
}

# as_all ROLE DB: the same, but go on after errors (like the findings'
# ON_ERROR_STOP=0): the attack runs to its end and the checks come after.
as_all() {
	local role=$1 db=$2
	PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
		psql -XqAt -v ON_ERROR_STOP=0 -U "$role" -d "$db" 2>&1
}

# The three roles, once per cluster.
sec_roles() {
	as postgres postgres >/dev/null <<'SQL' || bail "cannot create the test roles"
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'dbowner') THEN CREATE ROLE dbowner LOGIN; END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'app_a') THEN CREATE ROLE app_a LOGIN; END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'app_b') THEN CREATE ROLE app_b LOGIN; END IF;
END $$;
SQL
}

# sec_db NAME: a fresh database NAME owned by dbowner, app_a and app_b may
# create in public; dropped when the case exits.  The extension is NOT
# installed (some attacks prepare the database first): see sec_install.
sec_db() {
	local db=$1
	sec_roles
	as postgres postgres >/dev/null <<SQL || bail "cannot create database $db"
DROP DATABASE IF EXISTS "$db" WITH (FORCE);
CREATE DATABASE "$db" OWNER dbowner;
SQL
	as postgres "$db" >/dev/null <<'SQL' || bail "cannot prepare database $db"
GRANT CREATE ON SCHEMA public TO app_a, app_b;
SQL
	_sec_dbs+=("$db")
	trap _sec_cleanup EXIT
}

# sec_install DB: CREATE EXTENSION pg_governance as $SECURITY_INSTALLER.
sec_install() {
	printf 'CREATE EXTENSION pg_governance;\n' | as "$SECURITY_INSTALLER" "$1"
}

# sec_install_sql DB: the SQL edition (issue 15), installed by the database
# owner with psql -f from $GOVERNANCE_SQLED_SCRIPT (scripts/run-sql-edition.sh
# sets it; test/security/sql-edition/ runs only there).
sec_install_sql() {
	[ -n "${GOVERNANCE_SQLED_SCRIPT:-}" ] || bail "GOVERNANCE_SQLED_SCRIPT is not set (run scripts/run-sql-edition.sh)"
	psql -XqAt -v ON_ERROR_STOP=1 -U dbowner -d "$1" -f "$GOVERNANCE_SQLED_SCRIPT" 2>&1
}

# is_superuser ROLE: prints t or f.
is_superuser() {
	printf "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = '%s';\n" "$1" | as postgres postgres
}

# Put a role back to what it was (an attack that worked must not leak into
# the next case).
sec_unsuper() {
	printf 'ALTER ROLE %s NOSUPERUSER;\n' "$1" | as postgres postgres >/dev/null
}

_sec_cleanup() {
	local db
	for r in dbowner app_a app_b; do sec_unsuper "$r"; done
	for db in "${_sec_dbs[@]}"; do
		printf 'DROP DATABASE IF EXISTS "%s" WITH (FORCE);\n' "$db" | as postgres postgres >/dev/null
	done
}

# done_testing: exit status for prove.
done_testing() { [ "$_sec_failed" -eq 0 ]; }
