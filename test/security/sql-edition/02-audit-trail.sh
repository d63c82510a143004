#!/usr/bin/env bash
# SQL edition (issue 15): the trail.  An app role cannot write, change or
# delete audit rows, nor silence the audit of a table it does not own.  The
# table's owner can drop or disable its audit triggers (no event triggers
# without a superuser): the SQL edition shows it in audited_tables and the
# trail keeps what was written (docs/sql-edition.md, trust model).
cd "$(dirname "$0")/../../.." && . test/security/lib.bash
plan 14
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

# A table owner attaching governance.audit_trigger() in a shape enable_audit()
# does not make (to forge rows, or to audit less than the name says): every
# part of the shape is checked (name, timing, level, events, transition
# tables, arguments, columns, condition); each is refused and writes nothing.
as app_b $db >/dev/null <<'SQL' || bail "cannot create b_t"
CREATE TABLE public.b_t (id int, v text);
CREATE TEMP TABLE governance_new AS SELECT 1 AS id, 'planted' AS v;
SQL
shapes=(
  "governance_audit_insert AFTER INSERT ON b_t REFERENCING NEW TABLE AS governance_new FOR EACH STATEMENT WHEN (true)"
  "governance_audit_update AFTER UPDATE OF v ON b_t FOR EACH ROW"
  "governance_audit_insert AFTER INSERT ON b_t REFERENCING NEW TABLE AS governance_new FOR EACH STATEMENT|'x'"
  "governance_audit_insert AFTER INSERT ON b_t REFERENCING NEW TABLE AS other_new FOR EACH STATEMENT"
  "governance_audit_insert AFTER INSERT ON b_t FOR EACH STATEMENT"
  "governance_audit_delete AFTER INSERT ON b_t REFERENCING NEW TABLE AS governance_new FOR EACH STATEMENT"
  "governance_audit_row BEFORE INSERT OR UPDATE OR DELETE ON b_t FOR EACH ROW"
  "governance_audit_update AFTER INSERT OR UPDATE ON b_t FOR EACH ROW"
  "CONSTRAINT governance_audit_update AFTER UPDATE ON b_t DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
  "CONSTRAINT governance_audit_update AFTER UPDATE ON b_t DEFERRABLE INITIALLY IMMEDIATE FOR EACH ROW"
  "CONSTRAINT governance_audit_update AFTER UPDATE ON b_t NOT DEFERRABLE FOR EACH ROW"
)
refused=0
for shape in "${shapes[@]}"; do
  clause=${shape%%|*}; arg=""; [ "$clause" = "$shape" ] || arg=${shape#*|}
  kind=""; case $clause in CONSTRAINT\ *) kind="CONSTRAINT "; clause=${clause#CONSTRAINT }; esac
  name=${clause%% *}
  out=$(as_all app_b $db <<SQL
CREATE TEMP TABLE IF NOT EXISTS governance_new AS SELECT 1 AS id, 'planted' AS v;
CREATE ${kind}TRIGGER $clause EXECUTE FUNCTION governance.audit_trigger($arg);
BEGIN;
SELECT governance.set_context('bob');
INSERT INTO b_t VALUES (1, 'one');
UPDATE b_t SET v = 'two';
COMMIT;
DROP TRIGGER $name ON b_t;
SQL
)
  if grep -q 'is not an audit trigger made by governance.enable_audit' <<<"$out"; then
    refused=$((refused + 1))
  else
    echo "# not refused: $shape" >&2; printf '%s\n' "$out" | sed 's/^/#   /' >&2
  fi
done
is "$refused" ${#shapes[@]} "each of ${#shapes[@]} trigger shapes enable_audit() does not make is refused"
is "$(printf "SELECT count(*) FROM governance.audit_log WHERE relid = 'b_t'::regclass;\n" | as dbowner $db)" 0 \
   "and none wrote an audit row"

# The owner swapping an audit trigger of its audited table for a deferred
# constraint trigger of the same shape (it would fire at COMMIT, under the
# context of then): audited_tables says so and enable_audit() repairs it
# (found by a review of 0.8; also in 0.7)
out=$(as_all app_b $db <<'SQL'
SELECT governance.enable_audit('b_t');
DROP TRIGGER governance_audit_update ON b_t;
CREATE CONSTRAINT TRIGGER governance_audit_update AFTER UPDATE ON b_t DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger();
SELECT 'problems:' || array_to_string(problems, ';') FROM governance.audited_tables WHERE relation = 'b_t'::regclass;
SELECT governance.enable_audit('b_t');
SELECT 'after:' || array_to_string(problems, ';') FROM governance.audited_tables WHERE relation = 'b_t'::regclass;
SELECT 'deferrable:' || tgdeferrable FROM pg_trigger WHERE tgrelid = 'b_t'::regclass AND tgname = 'governance_audit_update';
SQL
)
like "$out" "problems:.*trigger governance_audit_update is a constraint trigger" "a constraint trigger in place of an audit trigger shows in audited_tables"
is "$(grep -E '^(after|deferrable):' <<<"$out" | tr '\n' ' ')" "after: deferrable:false " \
   "and enable_audit() puts the plain trigger back (no problem left)"

done_testing
