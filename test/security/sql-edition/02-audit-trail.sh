#!/usr/bin/env bash
# SQL edition (issue 15): the trail.  An app role cannot write, change or
# delete audit rows, nor silence the audit of a table it does not own.  The
# table's owner can drop or disable its audit triggers (no event triggers
# without a superuser): the SQL edition shows it in audited_tables and the
# trail keeps what was written (docs/sql-edition.md, trust model).
cd "$(dirname "$0")/../../.." && . test/security/lib.bash
plan 10
db=sqled02
sec_db $db
sec_install_sql $db >/dev/null || bail "cannot install the SQL edition"

as app_a $db >/dev/null <<'SQL' || bail "cannot set up orders"
CREATE TABLE public.orders (id int PRIMARY KEY, v text);
SELECT governance.enable_audit('orders');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON orders TO app_b;
SQL
as app_b $db >/dev/null <<'SQL' || bail "cannot write orders"
BEGIN;
SELECT governance.set_context('bob');
INSERT INTO orders VALUES (1, 'one'), (2, 'two');
COMMIT;
SQL
count() { printf "SELECT count(*) FROM governance.audit_log WHERE relid = 'orders'::regclass AND op <> 'DDL';\n" | as dbowner $db; }
is "$(count)" 2 "two audited rows"

out=$(as_all app_b $db <<'SQL'
INSERT INTO governance.audit_batch SELECT * FROM governance.audit_batch;
UPDATE governance.audit_batch SET agent_id = 'alice';
DELETE FROM governance.audit_batch;
TRUNCATE governance.audit_batch;
SELECT nextval('governance.audit_batch_id_seq');
SELECT governance._audit_ddl('orders', 'governance.disable_audit()');
SQL
)
is "$(grep -Ec 'permission denied|must be owner' <<<"$out")" 6 "app_b cannot insert, update, delete, truncate, draw ids or record DDL"

out=$(as_all app_b $db <<'SQL'
ALTER TABLE orders DISABLE TRIGGER governance_audit_insert;
ALTER TABLE orders DISABLE TRIGGER ALL;
DROP TRIGGER governance_audit_insert ON orders;
SELECT governance.disable_audit('orders');
CREATE RULE r AS ON INSERT TO orders DO INSTEAD NOTHING;
SQL
)
is "$(grep -c 'must be owner' <<<"$out")" 5 "app_b cannot disable, drop or route around the audit of app_a's table"
is "$(printf "SELECT enabled FROM governance.audited_tables WHERE relation = 'orders'::regclass;\n" | as dbowner $db)" t \
   "the audit is still enabled"
as app_b $db >/dev/null <<'SQL'
BEGIN;
SELECT governance.set_context('bob');
UPDATE orders SET v = 'uno' WHERE id = 1;
DELETE FROM orders WHERE id = 2;
COMMIT;
SQL
is "$(count)" 4 "and app_b's later writes are audited"

# The owner (app_a) is above app roles in this edition: it can silence its own table's audit,
# which audited_tables shows, and the trail keeps what was written.
printf 'ALTER TABLE orders DISABLE TRIGGER governance_audit_update;\n' | as app_a $db >/dev/null
is "$(printf "SELECT enabled, problems FROM governance.audited_tables WHERE relation = 'orders'::regclass;\n" | as dbowner $db)" \
   "f|{\"trigger governance_audit_update is disabled\"}" "a disabled trigger shows in audited_tables"
printf "SELECT governance.disable_audit('orders');\n" | as app_a $db >/dev/null
is "$(printf "SELECT count(*) FROM governance.audit_log WHERE relid = 'orders'::regclass AND op = 'DDL' AND new_row->>'command' = 'governance.disable_audit()';\n" | as dbowner $db)" 1 \
   "disable_audit() is recorded"
is "$(count)" 4 "and the trail keeps the rows"
out=$(printf "SELECT governance._audit_ddl('orders', 'anything');\n" | as_all app_a $db)
like "$out" "records only enable_audit" "the owner cannot record a DDL row of its choosing"
out=$(printf 'DELETE FROM governance.audit_batch;\n' | as_all app_a $db)
like "$out" "permission denied" "the owner cannot delete audit rows either"

done_testing
