#!/usr/bin/env bash
# Finding 06 and its class: the owner of an audited table (here the database
# owner, who may also own a trusted extension such as pgcrypto) cannot
# silence its audit triggers: CREATE OR REPLACE TRIGGER (WHEN, other
# function), ALTER TRIGGER ... DEPENDS ON EXTENSION then dropping it, ALTER
# TRIGGER ... RENAME, ENABLE REPLICA / DISABLE (by name, USER, ALL), DROP
# TRIGGER are refused while the table is audited (disable_audit() is the
# recorded way).  governance.audited_tables tells the truth about triggers
# that a superuser changed.
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 28
db=sec06
sec_db $db
sec_install $db >/dev/null || bail "cannot install"

as dbowner $db >/dev/null <<'SQL' || bail "set-up failed"
CREATE TABLE pay (id int, amount int);
SELECT governance.enable_audit('pay');
CREATE TABLE wallet (id int, amount int);
SELECT governance.enable_audit('wallet');
CREATE TABLE pay2 (id int);
SELECT governance.enable_audit('pay2');
CREATE TABLE parts (id int, r text) PARTITION BY LIST (r);
CREATE TABLE parts_a PARTITION OF parts FOR VALUES IN ('a');
SELECT governance.enable_audit('parts');
SQL

refused() {  # refused DESCRIPTION  (SQL on stdin, run as dbowner)
	local out
	out=$(as dbowner $db)
	like "$out" 'ERROR: .*audit' "refused: $1"
}

refused "CREATE OR REPLACE TRIGGER ... WHEN (false) on an audit trigger" <<'SQL'
CREATE OR REPLACE TRIGGER governance_audit_insert AFTER INSERT ON pay
  REFERENCING NEW TABLE AS governance_new FOR EACH STATEMENT WHEN (false)
  EXECUTE FUNCTION governance.audit_trigger();
SQL
refused "CREATE OR REPLACE TRIGGER replacing an audit trigger by another function" <<'SQL'
CREATE FUNCTION nothing() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE OR REPLACE TRIGGER governance_audit_update AFTER UPDATE ON pay
  FOR EACH STATEMENT EXECUTE FUNCTION nothing();
SQL
refused "ALTER TRIGGER ... DEPENDS ON EXTENSION" <<'SQL'
CREATE EXTENSION IF NOT EXISTS pgcrypto;
ALTER TRIGGER governance_audit_insert ON wallet DEPENDS ON EXTENSION pgcrypto;
SQL
out=$(printf 'DROP EXTENSION pgcrypto;\n' | as dbowner $db); ok $? "pgcrypto dropped ($out)"
refused "ALTER TRIGGER ... RENAME of an audit trigger" <<'SQL'
ALTER TRIGGER governance_audit_delete ON pay RENAME TO something_else;
SQL
refused "ALTER TABLE ... ENABLE REPLICA TRIGGER on an audit trigger" <<'SQL'
ALTER TABLE pay2 ENABLE REPLICA TRIGGER governance_audit_insert;
SQL
refused "ALTER TABLE ... DISABLE TRIGGER <audit trigger>" <<'SQL'
ALTER TABLE pay2 DISABLE TRIGGER governance_audit_insert;
SQL
refused "ALTER TABLE ... DISABLE TRIGGER USER" <<'SQL'
ALTER TABLE pay2 DISABLE TRIGGER USER;
SQL
refused "ALTER TABLE ... DISABLE TRIGGER ALL" <<'SQL'
ALTER TABLE pay2 DISABLE TRIGGER ALL;
SQL
refused "DROP TRIGGER of an audit trigger" <<'SQL'
DROP TRIGGER governance_audit_truncate ON pay2;
SQL
refused "DISABLE TRIGGER on a partition's cloned audit trigger" <<'SQL'
ALTER TABLE parts_a DISABLE TRIGGER governance_audit_row;
SQL
refused "DISABLE TRIGGER through the partitioned table" <<'SQL'
ALTER TABLE parts DISABLE TRIGGER governance_audit_row;
SQL
out=$(printf 'ALTER TABLE pay2 ENABLE ALWAYS TRIGGER governance_audit_insert;\n' | as dbowner $db)
ok $? "ENABLE ALWAYS (still fires in origin mode) is allowed ($out)"

as dbowner $db >/dev/null <<'SQL' || bail "writes failed"
BEGIN;
SELECT governance.set_context('alice');
INSERT INTO pay VALUES (1, 5);
UPDATE pay SET amount = 1000000;
DELETE FROM pay;
INSERT INTO wallet VALUES (1, 1000000);
INSERT INTO pay2 VALUES (1);
TRUNCATE pay2;
INSERT INTO parts VALUES (1, 'a');
COMMIT;
SQL
is "$(printf "SELECT string_agg(op, ',' ORDER BY id) FROM governance.audit_log WHERE relid = 'pay'::regclass AND op <> 'DDL';\n" | as postgres $db)" \
	"INSERT,UPDATE,DELETE" "pay: every change has its audit row"
is "$(printf "SELECT string_agg(op, ',' ORDER BY id) FROM governance.audit_log WHERE relid = 'wallet'::regclass AND op <> 'DDL';\n" | as postgres $db)" \
	"INSERT" "wallet: the audit triggers survived DROP EXTENSION pgcrypto"
is "$(printf "SELECT string_agg(op, ',' ORDER BY id) FROM governance.audit_log WHERE relid = 'pay2'::regclass AND op <> 'DDL';\n" | as postgres $db)" \
	"INSERT,TRUNCATE" "pay2: audited after the refused tampering"
is "$(printf "SELECT string_agg(op, ',' ORDER BY id) FROM governance.audit_log WHERE relation = 'public.parts_a' AND op <> 'DDL';\n" | as postgres $db)" \
	"INSERT" "parts: the partition's row is audited"
is "$(printf "SELECT string_agg(relation::text || '=' || enabled, ',' ORDER BY relation::text) FROM governance.audited_tables;\n" | as postgres $db)" \
	"parts=true,pay=true,pay2=true,wallet=true" "audited_tables: all intact"

# audited_tables tells the truth when a superuser (out of scope, but it
# shows what a broken audit looks like) changes the triggers.
as postgres $db >/dev/null <<'SQL' || bail "superuser changes failed"
ALTER TABLE pay2 ENABLE REPLICA TRIGGER governance_audit_insert;
CREATE OR REPLACE TRIGGER governance_audit_insert AFTER INSERT ON pay
  REFERENCING NEW TABLE AS governance_new FOR EACH STATEMENT WHEN (false)
  EXECUTE FUNCTION governance.audit_trigger();
DROP TRIGGER governance_audit_delete ON wallet;
ALTER TABLE parts_a DISABLE TRIGGER governance_audit_row;
SQL
row() { printf "SELECT enabled, array_to_string(problems, '; ') FROM governance.audited_tables WHERE relation = '%s'::regclass;\n" "$1" | as dbowner $db; }
r=$(row pay2); like "$r" '^f\|.*governance_audit_insert.*replica' "audited_tables: ENABLE REPLICA shows as not enabled ($r)"
r=$(row pay); like "$r" '^f\|.*governance_audit_insert.*WHEN' "audited_tables: a WHEN condition shows ($r)"
r=$(row wallet); like "$r" '^f\|.*governance_audit_delete.*missing' "audited_tables: a dropped trigger shows ($r)"
r=$(row parts); like "$r" '^f\|.*parts_a' "audited_tables: a disabled partition trigger shows ($r)"
# the superuser's DROP TRIGGER and ENABLE REPLICA are recorded
n=$(printf "SELECT count(*) FROM governance.audit_log WHERE op = 'DDL' AND relid IN ('pay2'::regclass, 'wallet'::regclass) AND new_row->>'action' IN ('ENABLE REPLICA TRIGGER', 'DROP TRIGGER');\n" | as postgres $db)
is "$n" 2 "a superuser's ENABLE REPLICA and DROP TRIGGER are recorded"
n=$(printf "SELECT count(*) FROM governance.audit_log WHERE op = 'DDL' AND relid = 'pay'::regclass AND new_row->>'action' = 'CREATE OR REPLACE TRIGGER';\n" | as postgres $db)
is "$n" 1 "a superuser's CREATE OR REPLACE TRIGGER on an audit trigger is recorded"
# enable_audit repairs all of it (and says so)
as dbowner $db >/dev/null <<'SQL'
SELECT governance.enable_audit('pay2');
SELECT governance.enable_audit('wallet');
SELECT governance.enable_audit('parts');
SQL
r=$(row pay2); is "$r" "t|" "enable_audit repairs ENABLE REPLICA"
r=$(row wallet); is "$r" "t|" "enable_audit repairs a dropped trigger"
r=$(row parts); is "$r" "t|" "enable_audit repairs a disabled partition trigger"
printf "SELECT governance.enable_audit('pay');\n" | as dbowner $db >/dev/null
r=$(row pay); is "$r" "t|" "enable_audit replaces an audit trigger with a WHEN condition"
done_testing
