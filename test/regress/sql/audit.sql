--
-- Audit trail: one audit row per changed row (TRUNCATE: one per statement),
-- written in the changing transaction, with the governance context; the
-- exact errors of enable_audit/disable_audit; silencing auditing is itself
-- recorded.
--
CREATE EXTENSION pg_governance;
\set VERBOSITY default

CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric,
					   active boolean, opened date, tags text[], extra jsonb);

-- enable_audit is idempotent
SELECT governance.enable_audit('accounts');
SELECT governance.enable_audit('accounts');
SELECT relation, enabled, triggers FROM governance.audited_tables;

-- A view of the trail without the columns that change from run to run
CREATE TEMP VIEW trail AS
	SELECT op, relation, agent_id, tenant_id, correlation_id, db_user,
		   db_session_user, old_row, new_row
	  FROM governance.audit_log ORDER BY id;

-- Each op, multi-row statements, with the context
BEGIN;
SELECT governance.set_context('alice', 'acme', 'req-1');
INSERT INTO accounts VALUES
	(1, 'ann', 10.50, true, '2024-01-02', '{a,b}', '{"k": [1, 2]}'),
	(2, 'bob', NULL, NULL, NULL, NULL, NULL),
	(3, 'cy', 0, false, '2024-03-04', '{}', 'null');
UPDATE accounts SET balance = coalesce(balance, 0) + 1 WHERE id IN (1, 2);
DELETE FROM accounts WHERE id = 3;
-- every audit row carries this transaction's id
SELECT count(*) AS rows_of_this_txid
  FROM governance.audit_log WHERE txid = pg_current_xact_id();
COMMIT;
TRUNCATE accounts;
SELECT * FROM trail WHERE op <> 'DDL';

-- new_row is exactly to_jsonb(row), whatever the column types
INSERT INTO accounts VALUES (4, 'dee', 1e-3, true, 'infinity', '{"x y",NULL}', '{"a": {"b": null}}');
SELECT a.new_row = to_jsonb(t) AS same_as_to_jsonb
  FROM governance.audit_log a, accounts t
 WHERE t.id = 4 AND a.op = 'INSERT' AND a.new_row->>'id' = '4';

-- Large statements: one audit row per changed row, stored in batches of at
-- most 100; UPDATE pairs each old image with its new one
CREATE TABLE bulk (id int PRIMARY KEY, v int);
SELECT governance.enable_audit('bulk');
INSERT INTO bulk SELECT g, g FROM generate_series(1, 250) g;
UPDATE bulk SET v = v * 2;
DELETE FROM bulk WHERE id % 2 = 0;
SELECT op, count(*) AS row_images, count(DISTINCT id) AS distinct_ids,
	   bool_and(CASE op
				WHEN 'UPDATE' THEN (new_row->>'v')::int = 2 * (old_row->>'v')::int
								   AND new_row->'id' = old_row->'id'
				WHEN 'INSERT' THEN new_row->'v' = new_row->'id' AND old_row IS NULL
				ELSE new_row IS NULL AND (old_row->>'id')::int % 2 = 0 END) AS images_ok
  FROM governance.audit_log WHERE relid = 'bulk'::regclass AND op <> 'DDL'
 GROUP BY op ORDER BY op;
SELECT op, count(*) AS batches, sum(nrows) AS row_images
  FROM governance.audit_batch WHERE relid = 'bulk'::regclass AND op <> 'DDL'
 GROUP BY op ORDER BY op;
DROP TABLE bulk;

-- A rolled-back change leaves no audit row
SELECT count(*) AS before FROM governance.audit_log \gset
BEGIN;
INSERT INTO accounts VALUES (5, 'eve');
UPDATE accounts SET owner = 'x';
ROLLBACK;
SELECT count(*) - :before AS added_by_rollback FROM governance.audit_log;

-- A rolled-back savepoint removes only its own rows
BEGIN;
INSERT INTO accounts VALUES (6, 'kept-1');
SAVEPOINT s;
INSERT INTO accounts VALUES (7, 'undone');
ROLLBACK TO SAVEPOINT s;
INSERT INTO accounts VALUES (8, 'kept-2');
COMMIT;
SELECT new_row->>'owner' AS owner FROM governance.audit_log
 WHERE op = 'INSERT' AND new_row->>'owner' IN ('kept-1', 'undone', 'kept-2') ORDER BY id;

-- Errors: what cannot be audited, and by whom
CREATE VIEW accounts_v AS SELECT * FROM accounts;
SELECT governance.enable_audit('accounts_v');
CREATE MATERIALIZED VIEW accounts_mv AS SELECT * FROM accounts;
SELECT governance.enable_audit('accounts_mv');
CREATE SEQUENCE accounts_seq;
SELECT governance.enable_audit('accounts_seq');
CREATE FOREIGN DATA WRAPPER regress_audit_fdw;
CREATE SERVER regress_audit_server FOREIGN DATA WRAPPER regress_audit_fdw;
CREATE FOREIGN TABLE accounts_ft (id int) SERVER regress_audit_server;
SELECT governance.enable_audit('accounts_ft');
CREATE TEMP TABLE scratch (id int);
SELECT governance.enable_audit('scratch');
SELECT governance.enable_audit('governance.audit_batch');
SELECT governance.enable_audit('pg_class');
SELECT governance.enable_audit('no_such_table');
DROP VIEW accounts_v;
DROP MATERIALIZED VIEW accounts_mv;
DROP SEQUENCE accounts_seq;
DROP FOREIGN TABLE accounts_ft;
DROP SERVER regress_audit_server;
DROP FOREIGN DATA WRAPPER regress_audit_fdw;
DROP TABLE scratch;
CREATE ROLE regress_audit_other;
GRANT ALL ON accounts TO regress_audit_other;
SET ROLE regress_audit_other;
SELECT governance.enable_audit('accounts');
SELECT governance.disable_audit('accounts');
RESET ROLE;
-- a trigger of that name that is not ours is not silently taken over
CREATE TABLE clash (id int);
CREATE FUNCTION clash_trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER governance_audit_insert AFTER INSERT ON clash
	FOR EACH STATEMENT EXECUTE FUNCTION clash_trg();
SELECT governance.enable_audit('clash');

-- Silencing auditing leaves a trace (op = 'DDL'), in the same transaction
ALTER TABLE accounts DISABLE TRIGGER ALL;
ALTER TABLE accounts DISABLE TRIGGER governance_audit_update;
ALTER TABLE accounts ENABLE TRIGGER ALL;
DROP TRIGGER governance_audit_delete ON accounts;
BEGIN;
ALTER TABLE accounts DISABLE TRIGGER USER;
ROLLBACK;
-- enable_audit repairs what was dropped or disabled
ALTER TABLE accounts DISABLE TRIGGER governance_audit_insert;
SELECT governance.enable_audit('accounts');
SELECT relation, enabled, triggers FROM governance.audited_tables;
SELECT new_row->>'action' AS action, new_row->>'detail' AS detail,
	   new_row->>'statement' AS statement
  FROM governance.audit_log WHERE op = 'DDL' ORDER BY id;

-- disable_audit is idempotent, and recorded once
SELECT governance.disable_audit('accounts');
SELECT governance.disable_audit('accounts');
SELECT count(*) AS audited FROM governance.audited_tables;
SELECT count(*) AS added_after_disable FROM governance.audit_log \gset
INSERT INTO accounts VALUES (9, 'not audited');
SELECT count(*) - :added_after_disable AS new_rows FROM governance.audit_log;

-- Dropping an audited table is recorded
SELECT governance.enable_audit('accounts');
DROP TABLE accounts;
SELECT op, relation, new_row->>'action' AS action
  FROM governance.audit_log ORDER BY id DESC LIMIT 1;

-- Dropping a schema or a role's objects with audited tables in them is recorded
CREATE SCHEMA regress_audit_app;
CREATE TABLE regress_audit_app.notes (id int);
SELECT governance.enable_audit('regress_audit_app.notes');
DROP SCHEMA regress_audit_app CASCADE;
CREATE ROLE regress_audit_leaver;
CREATE SCHEMA regress_audit_app2;
CREATE TABLE regress_audit_app2.notes2 (id int);
ALTER TABLE regress_audit_app2.notes2 OWNER TO regress_audit_leaver;
SELECT governance.enable_audit('regress_audit_app2.notes2');
DROP OWNED BY regress_audit_leaver;
DROP SCHEMA regress_audit_app2;
DROP ROLE regress_audit_leaver;
SELECT relation, new_row->>'command' AS command, new_row->>'action' AS action
  FROM governance.audit_log WHERE relation LIKE 'regress_audit_app%' ORDER BY id;

-- Upserts, MERGE and COPY are audited like any other write
CREATE TABLE kv (k int PRIMARY KEY, v text);
SELECT governance.enable_audit('kv');
INSERT INTO kv VALUES (1, 'a'), (2, 'b');
INSERT INTO kv VALUES (2, 'B'), (3, 'c') ON CONFLICT (k) DO UPDATE SET v = excluded.v;
MERGE INTO kv USING (VALUES (3, 'C'), (4, 'd')) AS s(k, v) ON kv.k = s.k
	WHEN MATCHED THEN UPDATE SET v = s.v
	WHEN NOT MATCHED THEN INSERT VALUES (s.k, s.v);
COPY kv FROM stdin;
5	e
\.
SELECT op, old_row, new_row FROM governance.audit_log
 WHERE relid = 'kv'::regclass AND op <> 'DDL' ORDER BY id;
DROP TABLE kv;

-- Partitioned tables: a row trigger on every partition, present and future
CREATE TABLE events (id int, region text) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
SELECT governance.enable_audit('events');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
BEGIN;
SELECT governance.set_context('bob');
INSERT INTO events VALUES (1, 'eu'), (2, 'us');
INSERT INTO events_us VALUES (3, 'us');
-- a row moving to another partition is a DELETE there and an INSERT here
UPDATE events SET region = 'us' WHERE id = 1;
TRUNCATE events;
COMMIT;
SELECT op, relation, agent_id, old_row, new_row
  FROM governance.audit_log WHERE relation LIKE 'public.events%' AND op <> 'DDL'
 ORDER BY id;
SELECT governance.disable_audit('events');
SELECT count(*) AS audit_triggers_left
  FROM pg_trigger WHERE tgfoid = 'governance.audit_trigger()'::regprocedure;

-- The indexes answer "what did agent X do" and "what happened to T lately"
-- (the second is a BRIN index: shown on a log of a realistic size, as on a
-- few rows a full scan of the btree costs less)
CREATE TABLE fill (n int);
SELECT governance.enable_audit('fill');
DO $$ BEGIN FOR i IN 1..1000 LOOP INSERT INTO fill VALUES (i); END LOOP; END $$;
ANALYZE governance.audit_batch;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT * FROM governance.audit_log WHERE agent_id = 'alice' ORDER BY at DESC LIMIT 10;
EXPLAIN (COSTS OFF)
SELECT * FROM governance.audit_log
 WHERE relid = (SELECT 'events'::regclass::oid) AND at > now() - interval '1 hour';
RESET enable_seqscan;
DROP TABLE fill;

-- Row images equal to_jsonb(row) for every kind of column: inline kinds
-- (integers, numeric with NaN/Infinity, floats, text, date/time) and those
-- through to_jsonb (arrays, composites, json, jsonb, intervals), domains,
-- NULLs, names of every length (jsonb sorts keys by length, then bytes),
-- a dropped column, and one added with a default after rows were stored
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (b text, a numeric);
CREATE TABLE kinds (id int PRIMARY KEY, gone text, s smallint, big bigint,
	"Zz" numeric, f4 real, f8 double precision, ts timestamp, tstz timestamptz,
	d date, t time, iv interval, vc varchar(5), bp char(3), arr int[],
	c pair, j json, jb jsonb, dom posint, "a long column name" text, b boolean);
SELECT governance.enable_audit('kinds');
INSERT INTO kinds VALUES
	(1, 'x', -32768, 9223372036854775807, 'NaN', 'Infinity', '-Infinity',
	 '2024-02-29 12:34:56.789', '2024-02-29 12:34:56+05', '4713-01-01 BC',
	 '23:59:59', '1 year 2 mons 3 days 04:05:06', 'ab', 'a', '{{1,2},{3,NULL}}',
	 ROW('q"', 1.50), '{"b": 1, "a": [true, null], "b": 2}', '{"z": {"y": 1}, "a": []}',
	 7, 'é "quoted"', true),
	(2, NULL, NULL, NULL, 'Infinity', 'NaN', 1.5e300, 'infinity', '-infinity',
	 'infinity', NULL, NULL, NULL, NULL, '{}', ROW(NULL, NULL), '"s"', '3',
	 NULL, NULL, NULL),
	(3, 'y', 0, -1, '-0.000100', 0.1, 1e-310, '1999-12-31 23:59:59.999999',
	 '2000-01-01 00:00:00+00', '2000-01-01', '00:00', '-1 day', '', '', NULL,
	 NULL, 'null', 'null', 1, '', false);
ALTER TABLE kinds DROP COLUMN gone;
ALTER TABLE kinds ADD COLUMN added text DEFAULT 'dflt', ADD COLUMN e int;
-- row images do not follow the writer's IntervalStyle (pg_regress runs with
-- postgres_verbose): compare with to_jsonb under the default style
SET IntervalStyle = postgres;
CREATE TEMP TABLE kinds_before AS SELECT id, to_jsonb(k) AS img FROM kinds k;
UPDATE kinds SET e = id;
CREATE TEMP TABLE kinds_mid AS SELECT id, to_jsonb(k) AS img FROM kinds k;
DELETE FROM kinds WHERE id = 3;
SELECT op, count(*) AS images,
	   bool_and(CASE op
				WHEN 'INSERT' THEN new_row - 'gone' =
					(SELECT img - 'added' - 'e' FROM kinds_before b
					  WHERE b.id = (new_row->>'id')::int)
				WHEN 'UPDATE' THEN
					old_row = (SELECT img FROM kinds_before b
								WHERE b.id = (old_row->>'id')::int)
					AND new_row = (SELECT to_jsonb(k) FROM kinds k
									WHERE k.id = (new_row->>'id')::int)
				ELSE old_row = (SELECT img FROM kinds_mid WHERE id = 3)
				END) AS same_as_to_jsonb,
	   bool_and(coalesce(new_row, old_row)::text =
				(coalesce(new_row, old_row)::text)::jsonb::text) AS canonical
  FROM governance.audit_log WHERE relid = 'kinds'::regclass AND op <> 'DDL'
 GROUP BY op ORDER BY op;
RESET IntervalStyle;
-- keys come out in jsonb order (shorter first, then bytewise), without the
-- dropped column
SELECT jsonb_object_keys(new_row) AS key FROM governance.audit_log
 WHERE relid = 'kinds'::regclass AND op = 'UPDATE' AND new_row->>'id' = '1';
DROP TABLE kinds, kinds_before, kinds_mid;
DROP TYPE pair;
DROP DOMAIN posint;

-- Trigger functions cannot be called directly
SELECT governance.audit_trigger();

-- DDL that would change an audited table's rows or silence its audit
-- triggers without an audit row is refused for every non-superuser, the
-- table's owner included; a superuser's is recorded; audited_tables says
-- what is really audited
CREATE ROLE regress_audit_owner;
GRANT CREATE ON SCHEMA public TO regress_audit_owner;
SET ROLE regress_audit_owner;
CREATE TABLE guarded (id int, v int);
SELECT governance.enable_audit('guarded');
CREATE TABLE guarded_side (id int, v int);
ALTER TABLE guarded DROP COLUMN v;
ALTER TABLE guarded ALTER COLUMN v TYPE bigint;
ALTER TABLE guarded ADD COLUMN r float8 DEFAULT random();
ALTER TABLE guarded SET UNLOGGED;
ALTER TABLE guarded INHERIT guarded_side;
CREATE TABLE guarded_child () INHERITS (guarded);
CREATE RULE r AS ON INSERT TO guarded DO INSTEAD NOTHING;
ALTER TABLE guarded DISABLE TRIGGER governance_audit_insert;
ALTER TABLE guarded ENABLE REPLICA TRIGGER governance_audit_insert;
ALTER TABLE guarded DISABLE TRIGGER USER;
DROP TRIGGER governance_audit_delete ON guarded;
ALTER TRIGGER governance_audit_delete ON guarded RENAME TO renamed;
CREATE OR REPLACE TRIGGER governance_audit_insert AFTER INSERT ON guarded
	REFERENCING NEW TABLE AS n FOR EACH STATEMENT WHEN (false)
	EXECUTE FUNCTION governance.audit_trigger();
CREATE TRIGGER forged BEFORE INSERT ON guarded
	FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger();
-- what changes no row is allowed, and recorded
ALTER TABLE guarded ADD COLUMN note text DEFAULT 'n/a';
RESET ROLE;
-- a superuser may; audited_tables then shows the damage
ALTER TABLE guarded ENABLE REPLICA TRIGGER governance_audit_insert;
CREATE TRIGGER forged BEFORE INSERT ON guarded
	FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger();
SELECT relation, enabled, triggers, problems
  FROM governance.audited_tables WHERE relation = 'guarded'::regclass;
-- audit_trigger() refuses to run as anything enable_audit would not attach
INSERT INTO guarded VALUES (1);
-- enable_audit repairs it all
SELECT governance.enable_audit('guarded');
SELECT relation, enabled, triggers, problems
  FROM governance.audited_tables WHERE relation = 'guarded'::regclass;
SELECT new_row->>'command' AS command, new_row->>'action' AS action,
	   new_row->>'detail' AS detail, db_user
  FROM governance.audit_log WHERE relid = 'guarded'::regclass AND op = 'DDL' ORDER BY id;
DROP TABLE guarded, guarded_side;
-- A constraint trigger in an audit trigger's place (only a superuser can
-- make one: ddl_watch refuses CREATE TRIGGER naming the function to everyone
-- else): deferred, it would fire at COMMIT and record the context of then.
-- Refused when it fires; enable_audit() puts the plain trigger back.
CREATE TABLE deferred_t (id int);
SELECT governance.enable_audit('deferred_t');
INSERT INTO deferred_t VALUES (1);
DROP TRIGGER governance_audit_update ON deferred_t;
CREATE CONSTRAINT TRIGGER governance_audit_update AFTER UPDATE ON deferred_t
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger();
BEGIN;
UPDATE deferred_t SET id = 2;
COMMIT;
SELECT governance.enable_audit('deferred_t');
SELECT tgdeferrable, tgconstraint <> 0 AS constraint_trigger FROM pg_trigger
 WHERE tgrelid = 'deferred_t'::regclass AND tgname = 'governance_audit_update';
DROP TABLE deferred_t;
REVOKE CREATE ON SCHEMA public FROM regress_audit_owner;
DROP ROLE regress_audit_owner;

DROP VIEW trail;
DROP TABLE events, clash;
DROP FUNCTION clash_trg();
DROP ROLE regress_audit_other;
DROP EXTENSION pg_governance;
