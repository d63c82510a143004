#!/usr/bin/env bash
# Finding 07 and its class: no committed change of an audited table's rows
# without its audit row.  Against the table's owner (app_a): inheritance
# (INHERIT, NO INHERIT, CREATE TABLE ... INHERITS, enable_audit on a table in
# an inheritance tree), rules (CREATE RULE on an audited table, enable_audit
# on a table with rules), ATTACH PARTITION of a non-empty table or of a table
# audited on its own, enable_audit on a partition, table-rewriting ALTER
# TABLE (ALTER COLUMN TYPE with and without USING, ADD COLUMN with a volatile
# default, DROP COLUMN, SET UNLOGGED) are refused while the table is audited.
# ALTER TABLE that changes no row (SET DEFAULT, ADD COLUMN with a constant
# default) is allowed and recorded (op = 'DDL').
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 39
db=sec07
sec_db $db
sec_install $db >/dev/null || bail "cannot install"

as app_a $db >/dev/null <<'SQL' || bail "set-up failed"
CREATE TABLE acct (id int PRIMARY KEY, owner text, balance int);
SELECT governance.enable_audit('acct');
BEGIN; SELECT governance.set_context('alice');
INSERT INTO acct VALUES (1, 'alice', 100), (2, 'bob', 50), (3, 'carol', 70);
COMMIT;
CREATE TABLE shadow (id int, owner text, balance int);
CREATE TABLE ledger (id int, amount int) PARTITION BY RANGE (id);
CREATE TABLE ledger_p1 PARTITION OF ledger FOR VALUES FROM (0) TO (100);
SELECT governance.enable_audit('ledger');
CREATE TABLE forged (id int, amount int);
INSERT INTO forged VALUES (150, 1000000);
CREATE TABLE clean (id int, amount int);
CREATE TABLE own_audit (id int, amount int);
SELECT governance.enable_audit('own_audit');
CREATE TABLE loose (id int, amount int) PARTITION BY RANGE (id);
CREATE TABLE loose_p PARTITION OF loose FOR VALUES FROM (0) TO (100);
CREATE TABLE inh_parent (id int);
CREATE TABLE inh_child () INHERITS (inh_parent);
CREATE TABLE ruled (id int);
CREATE RULE r AS ON INSERT TO ruled DO INSTEAD NOTHING;
SQL

refused() {  # refused DESCRIPTION  (SQL on stdin, run as app_a)
	local out
	out=$(as app_a $db)
	like "$out" 'ERROR: .*audit' "refused: $1"
}

# (a) inheritance
refused "ALTER TABLE audited INHERIT unaudited parent" <<<'ALTER TABLE acct INHERIT shadow;'
refused "ALTER TABLE other INHERIT audited" <<<'ALTER TABLE shadow INHERIT acct;'
refused "CREATE TABLE ... INHERITS (audited)" <<<'CREATE TABLE acct_child () INHERITS (acct);'
refused "enable_audit on an inheritance parent" <<<"SELECT governance.enable_audit('inh_parent');"
refused "enable_audit on an inheritance child" <<<"SELECT governance.enable_audit('inh_child');"
# (b) rules
refused "CREATE RULE ... DO INSTEAD on an audited table" <<<'CREATE RULE redirect AS ON INSERT TO acct DO INSTEAD INSERT INTO shadow VALUES (NEW.*);'
refused "CREATE RULE ... DO ALSO on an audited table" <<<'CREATE RULE also AS ON UPDATE TO acct DO ALSO NOTHING;'
refused "CREATE RULE ... DO INSTEAD NOTHING on an audited table" <<<'CREATE RULE nothing AS ON DELETE TO acct DO INSTEAD NOTHING;'
refused "enable_audit on a table with a rule" <<<"SELECT governance.enable_audit('ruled');"
# (c) partitions
refused "ATTACH PARTITION of a non-empty table" <<<'ALTER TABLE ledger ATTACH PARTITION forged FOR VALUES FROM (100) TO (200);'
refused "ATTACH PARTITION of a non-empty table (rows added in the same transaction)" <<'SQL'
BEGIN;
INSERT INTO clean VALUES (250, 1);
ALTER TABLE ledger ATTACH PARTITION clean FOR VALUES FROM (200) TO (300);
COMMIT;
SQL
refused "ATTACH PARTITION of a table audited on its own into an unaudited table" <<<'ALTER TABLE loose ATTACH PARTITION own_audit FOR VALUES FROM (100) TO (200);'
refused "enable_audit on a partition of an unaudited table" <<<"SELECT governance.enable_audit('loose_p');"
out=$(as app_a $db <<<'ALTER TABLE ledger ATTACH PARTITION clean FOR VALUES FROM (200) TO (300);')
ok $? "ATTACH PARTITION of an empty table is allowed ($out)"
# (d) row-changing ALTER TABLE
refused "ALTER COLUMN ... TYPE ... USING" <<<'ALTER TABLE acct ALTER COLUMN balance TYPE bigint USING CASE WHEN id = 1 THEN 1000000 ELSE balance END;'
refused "ALTER COLUMN ... TYPE (no USING)" <<<'ALTER TABLE acct ALTER COLUMN balance TYPE numeric(3,-2);'
refused "ALTER COLUMN ... TYPE through the partitioned table" <<<'ALTER TABLE ledger ALTER COLUMN amount TYPE bigint;'
refused "DROP COLUMN" <<<'ALTER TABLE acct DROP COLUMN owner;'
refused "ADD COLUMN with a volatile default" <<<'ALTER TABLE acct ADD COLUMN r float8 DEFAULT random();'
refused "ADD COLUMN ... GENERATED ... STORED (rewrites every row)" <<<'ALTER TABLE acct ADD COLUMN g int GENERATED ALWAYS AS (balance * 2) STORED;'
refused "SET UNLOGGED (a crash would empty the table)" <<<'ALTER TABLE acct SET UNLOGGED;'
# a column dropped by a cascade, by the owner of the type it uses (another role)
as app_b $db >/dev/null <<<'CREATE DOMAIN b_amount AS int;' || bail "cannot create the domain"
as app_a $db >/dev/null <<<"CREATE TABLE wallet (id int, amt b_amount); SELECT governance.enable_audit('wallet'); INSERT INTO wallet VALUES (1, 5);" || bail "cannot create wallet"
out=$(as app_b $db <<<'DROP DOMAIN b_amount CASCADE;')
like "$out" 'ERROR: .*audit' "refused: DROP DOMAIN ... CASCADE dropping an audited table's column (by another role)"
is "$(as app_a $db <<<'SELECT amt FROM wallet;')" 5 "the audited column and its value are still there"
out=$(as app_a $db <<<'ALTER TABLE acct ADD COLUMN ts timestamptz DEFAULT now();')
ok $? "ADD COLUMN with a stable default (no rewrite) is allowed ($out)"
out=$(as app_a $db <<<"ALTER TABLE acct ALTER COLUMN balance SET DEFAULT 0;")
ok $? "ALTER COLUMN SET DEFAULT is allowed ($out)"
out=$(as app_a $db <<<"ALTER TABLE acct ADD COLUMN note text DEFAULT 'n/a';")
ok $? "ADD COLUMN with a constant default is allowed ($out)"
n=$(as postgres $db <<<"SELECT count(*) FROM governance.audit_log WHERE relid = 'acct'::regclass AND op = 'DDL' AND new_row->>'statement' LIKE '%ADD COLUMN note%';")
is "$n" 1 "ADD COLUMN on an audited table is recorded"

# writes after the attempts are audited; the data is what the audited writes made
as app_a $db >/dev/null <<'SQL' || bail "writes failed"
BEGIN; SELECT governance.set_context('alice');
INSERT INTO acct VALUES (4, 'dave', 10);
INSERT INTO ledger VALUES (250, 7);
COMMIT;
SQL
is "$(as app_a $db <<<"SELECT string_agg(id || ':' || balance, ',' ORDER BY id) FROM acct;")" \
	"1:100,2:50,3:70,4:10" "acct holds only audited changes"
is "$(as postgres $db <<<"SELECT count(*) FROM governance.audit_log WHERE relid = 'acct'::regclass AND op = 'INSERT';")" \
	4 "every acct row has its INSERT audit row"
is "$(as postgres $db <<<"SELECT string_agg(relation, ',') FROM governance.audit_log WHERE op = 'INSERT' AND new_row->>'id' = '250';")" \
	"public.clean" "a write to the attached (empty) partition is audited"
is "$(as app_a $db <<<"SELECT count(*) FROM ledger WHERE id = 150;")" 0 "the pre-filled table never joined ledger"

# TRUNCATE of one partition (present at enable_audit, attached, created later)
as app_a $db >/dev/null <<'SQL' || bail "truncates failed"
CREATE TABLE ledger_p3 PARTITION OF ledger FOR VALUES FROM (300) TO (400);
INSERT INTO ledger VALUES (1, 1), (350, 1);
TRUNCATE ledger_p1;
TRUNCATE clean;
TRUNCATE ledger_p3;
SQL
is "$(as postgres $db <<<"SELECT string_agg(relation, ',' ORDER BY id) FROM governance.audit_log WHERE op = 'TRUNCATE';")" \
	"public.ledger_p1,public.clean,public.ledger_p3" "TRUNCATE of a single partition is audited"
is "$(as postgres $db <<<"SELECT enabled || '|' || array_to_string(problems, ';') FROM governance.audited_tables WHERE relation = 'ledger'::regclass;")" \
	"true|" "audited_tables: ledger and all its partitions are audited"

# DETACH PARTITION is recorded; the detached table is plainly not audited
out=$(as app_a $db <<<'ALTER TABLE ledger DETACH PARTITION ledger_p3;'); ok $? "DETACH PARTITION is allowed ($out)"
is "$(as postgres $db <<<"SELECT new_row->>'detail' FROM governance.audit_log WHERE relid = 'ledger'::regclass AND new_row->>'action' = 'DETACH PARTITION';")" \
	"ledger_p3" "DETACH PARTITION is recorded"
is "$(as postgres $db <<<"SELECT count(*) FROM pg_trigger WHERE tgrelid = 'ledger_p3'::regclass AND tgfoid = 'governance.audit_trigger()'::regprocedure;")" \
	0 "the detached table keeps no audit trigger"

# renaming the table or a column is not a row change, but it is recorded
as app_a $db >/dev/null <<'SQL' || bail "renames failed"
ALTER TABLE acct RENAME COLUMN owner TO holder;
ALTER TABLE acct RENAME TO acct_renamed;
ALTER TABLE acct_renamed RENAME TO acct;
SQL
is "$(as postgres $db <<<"SELECT string_agg(new_row->>'action' || ':' || (new_row->>'detail'), ',' ORDER BY id) FROM governance.audit_log WHERE relid = 'acct'::regclass AND new_row->>'action' LIKE 'RENAME%';")" \
	"RENAME COLUMN:owner -> holder,RENAME:acct_renamed,RENAME:acct" "RENAME of an audited table and of its columns is recorded"

# a superuser may (out of scope), and it is recorded
out=$(as postgres $db <<<'ALTER TABLE acct DROP COLUMN note;'); ok $? "a superuser may drop a column ($out)"
is "$(as postgres $db <<<"SELECT count(*) FROM governance.audit_log WHERE relid = 'acct'::regclass AND op = 'DDL' AND new_row->>'statement' LIKE '%DROP COLUMN note%';")" \
	1 "a superuser's DROP COLUMN is recorded"
done_testing
