#!/usr/bin/env bash
# SQL edition: the upgrade (build/pg_governance_sql--0.6--V.sql), as an
# insider would meet it.  Between the install and the upgrade, someone may
# have planted an object in schema governance (a role the installer once
# granted CREATE or TRIGGER, or someone logged in as the installer): the
# upgrade would keep it, trusted, next to the re-created functions.  So the
# upgrade refuses a schema holding any object another role owns or that the
# released install does not make, one other roles may create in, a schema
# that is not the SQL edition, and any role but the one that installed it (a
# superuser included); a refused upgrade changes nothing (one transaction).
cd "$(dirname "$0")/../../.." && . test/security/lib.bash
[ -n "${GOVERNANCE_SQLED_SCRIPT:-}" ] || bail "GOVERNANCE_SQLED_SCRIPT is not set (run scripts/run-sql-edition.sh)"
version=${GOVERNANCE_SQLED_SCRIPT##*--}; version=${version%.sql}
upgrade=${GOVERNANCE_SQLED_SCRIPT%--*}--0.6--$version.sql
[ -f "$upgrade" ] || bail "no upgrade script $upgrade (make sql-edition writes it)"
plan 13
db=sqled03
sec_db $db

install_06() {
  printf 'DROP SCHEMA IF EXISTS governance CASCADE;\n' | as dbowner $db >/dev/null
  psql -XqAt -v ON_ERROR_STOP=1 -U dbowner -d $db -f sql-edition/released/pg_governance_sql--0.6.sql >/dev/null 2>&1 ||
    bail "cannot install the released 0.6"
}
run_upgrade() {  # run_upgrade ROLE
  psql -XqAt -v ON_ERROR_STOP=1 -U "$1" -d $db -f "$upgrade" 2>&1
}
still_06() {
  printf 'SELECT version FROM governance.edition();\n' | as dbowner $db
}

# another role, once granted CREATE on the schema, plants a function
install_06
printf 'GRANT CREATE ON SCHEMA governance TO app_a;\n' | as dbowner $db >/dev/null
printf "CREATE FUNCTION governance.helper() RETURNS text LANGUAGE sql AS \$\$SELECT 'planted'\$\$;\n" | as app_a $db >/dev/null ||
  bail "app_a cannot plant"
out=$(run_upgrade dbowner)
like "$out" 'schema "governance" holds objects of other roles: function governance.helper\(\) \(owner app_a\)' \
     "an object another role planted in governance is refused, named with its owner"
is "$(still_06)" 0.6 "and the refused upgrade changed nothing"

# CREATE on the schema granted to another role, nothing planted yet: it could
# plant while the upgrade runs
install_06
printf 'GRANT CREATE ON SCHEMA governance TO app_b;\n' | as dbowner $db >/dev/null
out=$(run_upgrade dbowner)
like "$out" 'other roles may create in schema "governance": app_b' "a schema other roles may create in is refused"

# the same role (someone logged in as the installer) adds an object the install does not make
install_06
printf 'CREATE INDEX audit_by_relation ON governance.audit_batch (relation);\n' | as dbowner $db >/dev/null
out=$(run_upgrade dbowner)
like "$out" 'Not made by the 0.6 install: index governance.audit_by_relation\.' \
     "an object the 0.6 install does not make is refused, even the installer's own"

# a role granted TRIGGER on a log plants a trigger there
install_06
printf 'GRANT TRIGGER ON governance.audit_batch TO app_a;\n' | as dbowner $db >/dev/null
as app_a $db >/dev/null <<'SQL' || bail "app_a cannot plant the trigger"
CREATE FUNCTION public.spy() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER spy AFTER INSERT ON governance.audit_batch FOR EACH ROW EXECUTE FUNCTION public.spy();
SQL
out=$(run_upgrade dbowner)
like "$out" 'Not made by the 0.6 install: trigger spy on table governance.audit_batch' \
     "a trigger planted on a log is refused"
is "$(still_06)" 0.6 "and nothing changed"

# one of the install's objects missing (dropped, perhaps to be replaced by another)
install_06
printf 'DROP VIEW governance.audited_tables;\n' | as dbowner $db >/dev/null
out=$(run_upgrade dbowner)
like "$out" 'Missing: .*view governance.audited_tables\.' "a schema missing one of the install's objects is refused"

# the upgrade by any role but the installer
install_06
out=$(run_upgrade app_a)
like "$out" 'schema "governance" is owned by role "dbowner", not by "app_a"' "another role's upgrade is refused"
out=$(run_upgrade postgres)
like "$out" 'schema "governance" is owned by role "dbowner", not by "postgres"' \
     "a superuser's too (only the installer upgrades what it owns)"
is "$(still_06)" 0.6 "and nothing changed"

# a schema governance of another role, made to look like the SQL edition
printf 'DROP SCHEMA governance CASCADE;\nCREATE SCHEMA governance AUTHORIZATION app_a;\n' | as postgres $db >/dev/null
out=$(run_upgrade dbowner)
like "$out" 'schema "governance" is owned by role "app_a", not by "dbowner"' "a schema governance of another role is refused"
# the installer's own schema governance that is not the SQL edition
printf 'DROP SCHEMA governance CASCADE;\n' | as postgres $db >/dev/null
as dbowner $db >/dev/null <<'SQL'
CREATE SCHEMA governance;
CREATE FUNCTION governance.edition(OUT edition text, OUT version text) LANGUAGE sql AS $$SELECT 'sql', '0.6'$$;
SQL
out=$(run_upgrade dbowner)
like "$out" 'is not the SQL edition 0.6 as installed' "a schema that merely claims to be the SQL edition is refused"

# and the genuine 0.6 upgrades (the refusals above are not everything refused)
install_06
out=$(run_upgrade dbowner)
is "$?:$(printf 'SELECT version FROM governance.edition();\n' | as dbowner $db)" "0:$version" "an untouched 0.6 upgrades"

done_testing
