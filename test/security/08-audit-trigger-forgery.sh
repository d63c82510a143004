#!/usr/bin/env bash
# Finding 08 and its class: governance.audit_trigger() attached by hand.
# Only governance.enable_audit() may create triggers calling it (CREATE
# TRIGGER naming it is refused for every non-superuser), and the function
# itself refuses, at run time, any attachment enable_audit would not have
# made (BEFORE, INSTEAD OF, the wrong level, events or name, a column list,
# a WHEN condition, arguments): a forged trigger cannot record a change
# and then cancel it, nor record rows that were never written.
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 17
db=sec08
sec_db $db
sec_install $db >/dev/null || bail "cannot install"

as app_a $db >/dev/null <<'SQL' || bail "set-up failed"
CREATE TABLE vault (id int, owner text, amount int);
SELECT governance.enable_audit('vault');
CREATE TABLE plain (id int, amount int);
CREATE VIEW vault_v AS SELECT * FROM vault;
SQL

refused() {  # refused DESCRIPTION  (SQL on stdin, run as app_a)
	local out
	out=$(as app_a $db)
	like "$out" 'ERROR: .*audit' "refused: $1"
}
refused "CREATE TRIGGER ... BEFORE ROW calling audit_trigger (finding 08)" <<'SQL'
CREATE TRIGGER a_forge BEFORE INSERT OR UPDATE OR DELETE ON vault
  FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger();
SQL
refused "CREATE TRIGGER ... AFTER calling audit_trigger on another table" <<'SQL'
CREATE TRIGGER governance_audit_insert AFTER INSERT ON plain
  REFERENCING NEW TABLE AS governance_new FOR EACH STATEMENT EXECUTE FUNCTION governance.audit_trigger();
SQL
refused "CREATE TRIGGER ... INSTEAD OF on a view calling audit_trigger" <<'SQL'
CREATE TRIGGER v INSTEAD OF INSERT ON vault_v FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger();
SQL
refused "CREATE CONSTRAINT TRIGGER calling audit_trigger" <<'SQL'
CREATE CONSTRAINT TRIGGER c AFTER INSERT ON vault DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger();
SQL
refused "CREATE TRIGGER through search_path (unqualified audit_trigger)" <<'SQL'
SET search_path = governance, public;
CREATE TRIGGER a_forge2 AFTER UPDATE ON vault FOR EACH ROW EXECUTE FUNCTION audit_trigger();
SQL
is "$(as app_a $db <<<"SELECT count(*) FROM pg_trigger WHERE tgfoid = 'governance.audit_trigger()'::regprocedure;")" 4 \
	"no trigger calling audit_trigger but enable_audit's four"

# At run time: a superuser (who may create triggers) makes the shapes; a
# write by app_a through each must fail, writing neither row nor audit row.
forged() {  # forged DESCRIPTION TRIGGER-DDL WRITE
	local out rows audit
	as postgres $db >/dev/null <<<"$2" || { ok 1 "set-up: $1"; ok 1 "$1"; return; }
	out=$(as app_a $db <<SQL
BEGIN; SELECT governance.set_context('bob', 'acme', 'req-forged');
$3;
COMMIT;
SQL
)
	like "$out" 'ERROR: .*audit' "run time: $1 is refused"
	audit=$(as postgres $db <<<"SELECT count(*) FROM governance.audit_log WHERE correlation_id = 'req-forged';")
	is "$audit" 0 "run time: $1 records nothing"
	as postgres $db >/dev/null <<<"DROP TRIGGER IF EXISTS forged ON vault; DROP TRIGGER IF EXISTS forged ON vault_v; DROP TRIGGER IF EXISTS forged ON plain;"
}
forged "BEFORE ROW" \
	"CREATE TRIGGER forged BEFORE INSERT ON vault FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger();" \
	"INSERT INTO vault VALUES (7, 'bob', 1000000)"
forged "AFTER ROW on a plain table" \
	"CREATE TRIGGER forged AFTER INSERT ON plain FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger();" \
	"INSERT INTO plain VALUES (7, 1)"
forged "INSTEAD OF on a view" \
	"CREATE TRIGGER forged INSTEAD OF INSERT ON vault_v FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger(); GRANT INSERT ON vault_v TO app_a;" \
	"INSERT INTO vault_v VALUES (7, 'bob', 1000000)"
forged "AFTER UPDATE OF a column (not enable_audit's shape)" \
	"CREATE TRIGGER forged AFTER UPDATE OF amount ON vault FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger(); INSERT INTO vault VALUES (1, 'x', 1);" \
	"UPDATE vault SET amount = 2"
forged "a trigger with arguments" \
	"CREATE TRIGGER forged AFTER INSERT ON plain REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION governance.audit_trigger('x');" \
	"INSERT INTO plain VALUES (7, 1)"
is "$(as app_a $db <<<"SELECT count(*) FROM vault WHERE id = 7;")" 0 "no forged row reached vault"
done_testing
