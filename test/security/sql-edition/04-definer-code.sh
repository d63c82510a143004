#!/usr/bin/env bash
# SQL edition (issue 15): the installer's code never runs code another role
# defined.  to_jsonb/to_json convert a value of a non-builtin scalar type
# (enum, range, multirange; looking through domains, arrays and
# composites) through a cast to json when there is one, and the owner of
# such a type can CREATE CAST at any time.  The audit trigger runs as the
# installer (SECURITY DEFINER): a cast function there would run as the
# installer, read the seal key, write the trail, and forge the images.  The
# trigger records a column of, or containing, a type a non-superuser owns
# as that type's text output (a 1-D array of it as the array of its
# elements' outputs), as the C edition does (extension/src/rowjson.c), so
# no such cast ever runs in it.
cd "$(dirname "$0")/../../.." && . test/security/lib.bash
plan 25
db=sqled04
sec_db $db
sec_install_sql $db >/dev/null || bail "cannot install the SQL edition"

# app_a owns the table and every type in it, and the casts: each cast
# function records who ran it, tries to copy the seal key and to forge an
# audit row, and lies about the value.
as app_a $db >/dev/null <<'SQL' || bail "cannot set up the attack"
CREATE TYPE verdict AS ENUM ('approved', 'rejected');
CREATE TYPE span AS RANGE (subtype = int4);
CREATE TYPE decision AS (who text, v verdict);
CREATE DOMAIN verdict_d AS verdict;
CREATE TABLE claims (id int PRIMARY KEY, v verdict, r span, d decision, vd verdict_d, vs verdict[],
                     note text);
SELECT governance.enable_audit('claims');
GRANT INSERT, UPDATE, DELETE, SELECT ON claims TO app_b;
CREATE TABLE ran (who text, what text);
CREATE TABLE stolen (who text, what text);
GRANT INSERT ON ran, stolen TO PUBLIC;
CREATE FUNCTION steal(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.ran VALUES (current_user, what);
	BEGIN
		INSERT INTO public.stolen SELECT current_user, pg_catalog.encode(k.ipad, 'hex') FROM governance.seal_key k;
	EXCEPTION WHEN insufficient_privilege THEN NULL;
	END;
	BEGIN
		INSERT INTO governance.audit_batch SELECT * FROM governance.audit_batch LIMIT 1;
	EXCEPTION WHEN insufficient_privilege THEN NULL;
	END;
END $$;
CREATE FUNCTION lie(verdict) RETURNS json LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.steal('verdict json'); RETURN '"approved"'; END $$;
CREATE FUNCTION lieb(verdict) RETURNS jsonb LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.steal('verdict jsonb'); RETURN '"approved"'; END $$;
CREATE FUNCTION spanlie(span) RETURNS json LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.steal('span json'); RETURN '"empty"'; END $$;
CREATE CAST (verdict AS json) WITH FUNCTION lie(verdict);
CREATE CAST (verdict AS jsonb) WITH FUNCTION lieb(verdict);
CREATE CAST (span AS json) WITH FUNCTION spanlie(span);
SQL

# app_b writes: a 1-row INSERT, a multi-row INSERT, an UPDATE, a DELETE
as app_b $db >/dev/null <<'SQL' || bail "the writes failed"
BEGIN; SELECT governance.set_context('agent-b');
INSERT INTO claims VALUES (1, 'rejected', '[1,5)', ROW('bob', 'rejected'), 'rejected', '{rejected,NULL}', 'one');
INSERT INTO claims (id, v, vs) VALUES (2, 'rejected', '{{rejected},{NULL}}'), (3, NULL, '{}');
UPDATE claims SET v = 'approved', note = 'uno' WHERE id = 1;
DELETE FROM claims WHERE id = 2;
COMMIT;
SQL
img() { as dbowner $db <<<"SELECT $1 FROM governance.audit_log WHERE relation = 'public.claims' AND op = '$2' AND ($3->>'id')::int = $4;"; }
is "$(img "new_row->>'v'" INSERT new_row 1)" rejected "an enum column is recorded as its value, not as the owner's cast says"
is "$(img "new_row->>'r'" INSERT new_row 1)" '[1,5)' "a range column is recorded as its text output"
is "$(img "new_row->'d'" INSERT new_row 1)" '"(bob,rejected)"' "a composite holding the enum is recorded as its text output"
is "$(img "new_row->'vd'" INSERT new_row 1)" '"rejected"' "a domain over the enum is recorded as the enum's value"
is "$(img "new_row->'vs'" INSERT new_row 1)" '["rejected", null]' "a 1-D array of the enum is the array of its values"
is "$(img "new_row->'vs'" INSERT new_row 2)" '"{{rejected},{NULL}}"' "a 2-D array of the enum is its text output"
is "$(img "(new_row->'vs')::text || '/' || (new_row->'v')::text" INSERT new_row 3)" '[]/null' "an empty array is [], a NULL is null (a row of a multi-row INSERT)"
is "$(img "old_row->>'v' || '>' || (new_row->>'v')" UPDATE new_row 1)" 'rejected>approved' "an UPDATE is recorded with the real old and new values"
is "$(img "(old_row->>'v') || ' ' || (old_row->'vs')::text" DELETE old_row 2)" 'rejected "{{rejected},{NULL}}"' \
   "a DELETE's image takes the same path"
is "$(as app_a $db <<<'SELECT count(*) FROM ran;')" 0 "no cast function of the table's owner ran inside the audit trigger"
is "$(as app_a $db <<<'SELECT count(*) FROM stolen;')" 0 "the seal key was not copied"
is "$(as dbowner $db <<<"SELECT string_agg(op, ',' ORDER BY id) FROM governance.audit_log WHERE relation = 'public.claims';")" \
   DDL,INSERT,INSERT,INSERT,UPDATE,DELETE "the trail holds enable_audit() and the five changed rows, nothing forged"

# a cast function that raises cannot make the owner's table unwritable
# through the trail (nor reveal, in its message, that it ran)
as app_a $db >/dev/null <<'SQL' || bail "cannot replace the cast"
DROP CAST (verdict AS json);
CREATE FUNCTION boom(verdict) RETURNS json LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'cast ran as %', current_user; END $$;
CREATE CAST (verdict AS json) WITH FUNCTION boom(verdict);
SQL
out=$(as_all app_b $db <<'SQL'
BEGIN; SELECT governance.set_context('agent-b');
INSERT INTO claims (id, v) VALUES (4, 'approved');
COMMIT;
SQL
)
unlike "$out" 'cast ran' "a raising cast function does not run in the audit trigger ($out)"
is "$(img "new_row->>'v'" INSERT new_row 4)" approved "and the row is audited"

# the writer's temporary tables named like the trigger's transition tables
# (pg_temp is on the trigger's pinned path, last) are not what it reads:
# the images are of the rows written, on both paths (a table of built-in
# types only, and one with the enum)
as app_a $db >/dev/null <<'SQL' || bail "cannot set up plain"
CREATE TABLE plain (id int, note text);
SELECT governance.enable_audit('plain');
GRANT INSERT, DELETE ON plain TO app_b;
SQL
as app_b $db >/dev/null <<'SQL' || bail "the shadowed writes failed"
CREATE TEMP TABLE governance_new AS SELECT 666 AS id, 'forged'::text AS note, NULL::public.verdict AS v;
CREATE TEMP TABLE governance_old AS SELECT * FROM governance_new;
BEGIN; SELECT governance.set_context('agent-b');
INSERT INTO public.plain VALUES (5, 'real');
INSERT INTO public.claims (id, v, note) VALUES (5, 'rejected', 'real');
DELETE FROM public.claims WHERE id = 5;
COMMIT;
SQL
is "$(img "new_row->>'note'" INSERT new_row 5)" real "a temporary table named governance_new is not read in place of the transition table"
is "$(img "old_row->>'note'" DELETE old_row 5)" real "nor one named governance_old"
is "$(as dbowner $db <<<"SELECT new_row->>'note' FROM governance.audit_log WHERE relation = 'public.plain' AND op = 'INSERT';")" real \
   "nor on the path of a table of built-in types"

# names are the installer's: a function that is not pinned and not bound at
# install (a string body) qualifies every type, so a temporary type named
# like a built-in one (pg_temp is searched first for types when the path
# does not name it) changes nothing
out=$(as_all app_b $db <<<"CREATE TEMP TABLE text (x int); SELECT (governance.edition()).edition;")
is "$out" sql "governance.edition() with a temporary type named text"

# set_context() runs as the installer without a pinned search_path (a SET
# clause costs every governed transaction): every operator and type in it
# is qualified.  A caller's schema ahead of pg_catalog with text operators
# that would run as the installer (public, where app_a creates them, ahead of
# pg_catalog), and a temporary type named text, change
# nothing, on the common path (first call) and on the others (a second
# call, unsealed, and a refused one while sealed).
as app_a $db >/dev/null <<'SQL' || bail "cannot set up the hostile path"
CREATE TABLE public.ran_b (who text, what text);
GRANT INSERT ON public.ran_b TO PUBLIC;
CREATE FUNCTION public.txt_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE WARNING 'evil = ran as %', current_user; INSERT INTO public.ran_b VALUES (current_user, 'eq');
        RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE FUNCTION public.txt_ne(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE WARNING 'evil <> ran as %', current_user; INSERT INTO public.ran_b VALUES (current_user, 'ne');
        RETURN $1 OPERATOR(pg_catalog.<>) $2; END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.txt_eq);
CREATE OPERATOR public.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = public.txt_ne);
SQL
out=$(as_all app_a $db <<'SQL'
CREATE TEMP TABLE text (x int);
SET search_path = public, pg_catalog;
BEGIN;
SELECT governance.set_context('agent-b', 'acme', 'req-1', false);
SELECT 'unsealed:' OPERATOR(pg_catalog.||) governance.tenant_id();
SELECT governance.set_context('agent-c', 'acme', 'req-2');
SELECT 'agent:' OPERATOR(pg_catalog.||) governance.agent_id();
SELECT 'context:' OPERATOR(pg_catalog.||) (governance.context() OPERATOR(pg_catalog.->>) 'tenant_id');
SAVEPOINT s;
SELECT pg_catalog.set_config('governance.tenant_id', 'other', true);
SELECT governance.tenant_id();
ROLLBACK TO s;
COMMIT;
BEGIN;
SELECT governance.set_context('agent-c');
SELECT governance.set_context('agent-d');
ROLLBACK;
SQL
)
like "$out" 'agent:agent-c' "set_context() under a hostile search_path: the context is set"
like "$out" 'unsealed:acme' "the readers under a hostile search_path: an unsealed context (the slow path) is read"
like "$out" 'context:acme' "and a sealed one (the fast path, without a SET clause since 0.8)"
like "$out" 'governance context is sealed for this transaction' "and a changed one refused"
like "$out" 'governance context is sealed' "and a second one refused while sealed"
unlike "$out" 'evil' "no operator of the caller's schema ran in set_context() or the readers ($out)"
is "$(as app_a $db <<<'SELECT count(*) FROM public.ran_b;')" 0 "nor left a row as the installer"

done_testing
