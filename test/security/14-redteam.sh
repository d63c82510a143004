#!/usr/bin/env bash
# Red team of the second round: routes the other cases do not cover.
#
# (a) Audit rows tell the truth about the row, whatever the table's owner
#     defines.  Row images are to_jsonb(row), and to_jsonb converts a value
#     of a user-defined type through that type's cast to json or jsonb when
#     one exists; the owner of an enum (app_a) can create such a cast at any
#     time, with no DDL on the audited table, and make the trail record
#     'approved' for a row that says 'rejected' (or anything else) -- and
#     make every writer, a superuser included, run its function.  The audit
#     trigger ignores those casts: such a column is recorded as the type's
#     text output, and the cast function never runs.
# (b) The context never outlives its transaction when a procedure commits
#     inside itself (set_context(), sealed or not, then COMMIT), and no
#     procedure's SET clause gives it a value.
# (c) ALTER TYPE ... RENAME VALUE of an enum that an audited table's column
#     uses changes what every stored row says, with no row change: refused
#     to non-superusers while such a table is audited.
# (d) The writer's own settings do not make the trail lossy: with
#     extra_float_digits = -15 (a user setting) float8out writes 1234.5678
#     as 1e+03; the audit trigger records floats (also inside points,
#     arrays and composites) exactly, whatever the session says.
# (e) ALTER TYPE ... CASCADE changes the tables created OF a composite
#     type: RENAME ATTRIBUTE and ADD ATTRIBUTE are recorded for an audited
#     typed table (as RENAME COLUMN and ALTER TABLE of it are); DROP
#     ATTRIBUTE and ALTER ATTRIBUTE ... TYPE are refused.
# (f) Nor do the writer's DateStyle, IntervalStyle and search_path change
#     what a row image says: dates in a text-output column (a composite
#     holding a user's enum) are ISO whatever DateStyle ('SQL, DMY' writes
#     01/02/2024, which a reader takes for January 2nd), and a regclass
#     column is schema-qualified whatever the writer's search_path (an
#     unqualified name means whatever the reader's search_path finds).
# (h) The type-owner rule of (a) follows the owner's status: a row format
#     cached while the enum's owner was a superuser is rebuilt when the
#     owner stops being one (and can then create the lying cast).
# (g) One role cannot flood denied_log by opening many sessions (to bury
#     a real attempt among its own, or to fill the disk): besides the
#     per-session rate limit, governance.denied_log_role_limit (default 60
#     rows per minute per role, all its sessions together) bounds what a
#     role adds; the attempts over it are counted in the sessions' summary
#     rows (rows plus their suppressed counts equal the attempts), each
#     still refused, and each session ending over the bound adds at most its
#     one last summary row.
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 34
db=sec14
sec_db $db
sec_install $db >/dev/null || bail "cannot install"

as app_a $db >/dev/null <<'SQL' || bail "set-up failed"
CREATE TYPE verdict AS ENUM ('approved', 'rejected');
CREATE TYPE decision AS (who text, v verdict);
CREATE DOMAIN verdict_d AS verdict;
CREATE TABLE claims (id int PRIMARY KEY, v verdict, vs verdict[], d decision, vd verdict_d);
SELECT governance.enable_audit('claims');
GRANT INSERT, UPDATE, SELECT ON claims TO app_b;
CREATE TABLE ran (who text);
GRANT INSERT ON ran TO PUBLIC;
CREATE FUNCTION lie(verdict) RETURNS json LANGUAGE sql AS
  $$ INSERT INTO public.ran VALUES (current_user) RETURNING '"approved"'::json $$;
CREATE FUNCTION lieb(verdict) RETURNS jsonb LANGUAGE sql AS
  $$ INSERT INTO public.ran VALUES (current_user) RETURNING '"approved"'::jsonb $$;
CREATE CAST (verdict AS json) WITH FUNCTION lie(verdict);
CREATE CAST (verdict AS jsonb) WITH FUNCTION lieb(verdict);
SQL

# (a) a writer (app_b) records a rejection; the trail must say so
as app_b $db >/dev/null <<'SQL' || bail "insert failed"
BEGIN; SELECT governance.set_context('agent-b');
INSERT INTO public.claims VALUES (1, 'rejected', '{rejected}', ROW('bob', 'rejected'), 'rejected');
COMMIT;
BEGIN; SELECT governance.set_context('agent-b');
INSERT INTO public.claims (id, vs) VALUES (2, '{{rejected},{NULL}}');
COMMIT;
SQL
row=$(as postgres $db <<<"SELECT new_row FROM governance.audit_log WHERE relation = 'public.claims' AND op = 'INSERT' AND (new_row->>'id')::int = 1;")
is "$(as postgres $db <<<"SELECT new_row->>'v' FROM governance.audit_log WHERE relation = 'public.claims' AND op = 'INSERT' AND (new_row->>'id')::int = 1;")" \
	rejected "an enum column is recorded as its value, not as the owner's cast to json(b) says ($row)"
is "$(as postgres $db <<<"SELECT new_row->'vs'->>0 FROM governance.audit_log WHERE relation = 'public.claims' AND op = 'INSERT' AND (new_row->>'id')::int = 1;")" \
	rejected "an array of the enum is recorded as its values"
is "$(as postgres $db <<<"SELECT new_row->>'vs' FROM governance.audit_log WHERE relation = 'public.claims' AND op = 'INSERT' AND (new_row->>'id')::int = 2;")" \
	'{{rejected},{NULL}}' "a two-dimensional array of the enum is recorded as its text"
like "$(as postgres $db <<<"SELECT new_row->>'d' FROM governance.audit_log WHERE relation = 'public.claims' AND op = 'INSERT' AND (new_row->>'id')::int = 1;")" \
	'rejected' "a composite holding the enum is recorded with its value"
is "$(as postgres $db <<<"SELECT new_row->>'vd' FROM governance.audit_log WHERE relation = 'public.claims' AND op = 'INSERT' AND (new_row->>'id')::int = 1;")" \
	rejected "a domain over the enum is recorded as its value"
is "$(as postgres $db <<<"SELECT count(*) FROM public.ran;")" 0 \
	"the owner's cast function never ran inside the audit trigger"
# a superuser writing the table does not run the owner's function either
as postgres $db >/dev/null <<'SQL'
UPDATE public.claims SET v = 'approved' WHERE id = 1;
SQL
is "$(as postgres $db <<<"SELECT count(*) FROM public.ran WHERE who = 'postgres';")" 0 \
	"a superuser's write runs no function of the table's owner through the audit trigger"
is "$(as postgres $db <<<"SELECT old_row->>'v' || '>' || (new_row->>'v') FROM governance.audit_log WHERE relation = 'public.claims' AND op = 'UPDATE';")" \
	"rejected>approved" "the update is recorded with the real old and new values"

# (b) procedures that commit inside themselves
as app_a $db >/dev/null <<'SQL' || bail "procedure set-up failed"
CREATE PROCEDURE ctx_commit(s boolean) LANGUAGE plpgsql AS $$
BEGIN
	PERFORM governance.set_context('mallory', 'tenant-x', NULL, s);
	COMMIT;
	RAISE NOTICE 'after commit: [%] [%]', current_setting('governance.agent_id'), current_setting('governance.tenant_id');
END $$;
SQL
out=$(as app_a $db <<<"SET client_min_messages = notice; CALL ctx_commit(false); SELECT 'next:[' || current_setting('governance.agent_id') || ']';")
like "$out" 'after commit: \[\] \[\]' "set_context() then COMMIT inside a procedure: the rest of the procedure has no context ($out)"
like "$out" 'next:\[\]' "... nor has the next transaction"
out=$(as app_a $db <<<"SET client_min_messages = notice; CALL ctx_commit(true); SELECT 'next:[' || current_setting('governance.agent_id') || ']';")
like "$out" 'after commit: \[\] \[\]' "a sealed context ends at a COMMIT inside a procedure too ($out)"
like "$out" 'next:\[\]' "... and the next transaction has none"
out=$(as_all app_a $db <<<"CREATE PROCEDURE ctx_set() LANGUAGE sql SET governance.agent_id = 'mallory' AS \$\$ SELECT 1 \$\$;")
like "$out" 'ERROR: .*(permission denied to set parameter "governance.agent_id"|governance.agent_id can only be set by governance.set_context)' "a procedure's SET clause cannot give the context a value"

# (c) renaming an enum label rewrites what the audited rows say
out=$(as_all app_a $db <<<"ALTER TYPE verdict RENAME VALUE 'rejected' TO 'approved_late';")
like "$out" 'ERROR: .*audit' "ALTER TYPE ... RENAME VALUE of an enum an audited column uses is refused"
is "$(as postgres $db <<<"SELECT v FROM public.claims WHERE id = 1; SELECT d FROM public.claims WHERE id = 1;" | tr '\n' ' ')" \
	"approved (bob,rejected) " "the stored rows still say what was audited"

# (d) lossy output settings of the writer
as app_a $db >/dev/null <<'SQL' || bail "float set-up failed"
CREATE TYPE reading AS (at int, val float8);
CREATE TABLE readings (id int, f float8, g float4, p point, fs float8[], r reading);
SELECT governance.enable_audit('readings');
GRANT INSERT ON readings TO app_b;
SQL
out=$(as app_b $db <<'SQL'
SET extra_float_digits = -15;
BEGIN; SELECT governance.set_context('agent-b');
INSERT INTO public.readings VALUES (1, 1234.5678, 1234.5, point(1234.5678, 0.000123456), '{1234.5678}', ROW(1, 1234.5678));
SELECT 'in:' || current_setting('extra_float_digits');
COMMIT;
SELECT 'after:' || current_setting('extra_float_digits');
SQL
) || bail "float insert failed: $out"
like "$out" 'in:-15' "the writer's extra_float_digits is its own again after the audit trigger"
like "$out" 'after:-15' "... and after COMMIT"
q() { as postgres $db <<<"SELECT $1 FROM governance.audit_log WHERE relation = 'public.readings' AND op = 'INSERT';"; }
is "$(q "new_row->>'f'")" 1234.5678 "a float8 is recorded exactly under the writer's extra_float_digits = -15"
is "$(q "new_row->>'g'")" 1234.5 "... a float4"
is "$(q "new_row->>'p'")" "(1234.5678,0.000123456)" "... a point"
is "$(q "new_row->'fs'->>0")" 1234.5678 "... an array of float8"
is "$(q "new_row->'r'->>'val'")" 1234.5678 "... a composite's float8"

# (e) typed tables
as app_a $db >/dev/null <<'SQL' || bail "typed set-up failed"
CREATE TYPE form AS (a int, b text);
CREATE TABLE forms OF form;
SELECT governance.enable_audit('forms');
BEGIN; SELECT governance.set_context('agent-a'); INSERT INTO forms VALUES (1, 'x'); COMMIT;
ALTER TYPE form RENAME ATTRIBUTE b TO c CASCADE;
ALTER TYPE form ADD ATTRIBUTE d int CASCADE;
SQL
ddl() { as postgres $db <<<"SELECT string_agg(new_row->>'action' || ':' || coalesce(new_row->>'detail', ''), ',' ORDER BY id) FROM governance.audit_log WHERE relation = 'public.forms' AND op = 'DDL' AND new_row->>'command' = 'ALTER TYPE';"; }
is "$(ddl)" "RENAME ATTRIBUTE:b -> c,ALTER TYPE:" "ALTER TYPE ... RENAME / ADD ATTRIBUTE ... CASCADE are recorded for an audited typed table"
out=$(as_all app_a $db <<<"ALTER TYPE form DROP ATTRIBUTE c CASCADE;")
like "$out" 'ERROR: .*audited table' "ALTER TYPE ... DROP ATTRIBUTE ... CASCADE is refused"
out=$(as_all app_a $db <<<"ALTER TYPE form ALTER ATTRIBUTE a TYPE bigint CASCADE;")
like "$out" 'ERROR: .*audited table' "ALTER TYPE ... ALTER ATTRIBUTE ... TYPE ... CASCADE is refused"
is "$(as postgres $db <<<"SELECT a || c FROM public.forms;")" 1x "the typed table's row is what was audited"

# (f) output settings that change what a value reads as
as app_a $db >/dev/null <<'SQL' || bail "style set-up failed"
CREATE TYPE stamped AS (v verdict, on_day date, took interval);
CREATE TABLE styled (id int, s stamped, rc regclass);
SELECT governance.enable_audit('styled');
GRANT INSERT ON styled TO app_b;
SQL
as app_b $db >/dev/null <<'SQL' || bail "style insert failed"
SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'sql_standard'; SET search_path = public;
BEGIN; SELECT governance.set_context('agent-b');
INSERT INTO public.styled VALUES (1, ROW('rejected', '2024-02-01', '1 day 2 hours'), 'public.claims');
COMMIT;
SQL
q() { as postgres $db <<<"SELECT $1 FROM governance.audit_log WHERE relation = 'public.styled' AND op = 'INSERT';"; }
like "$(q "new_row->>'s'")" '2024-02-01' "a date inside a text-output column is ISO whatever the writer's DateStyle"
like "$(q "new_row->>'s'")" '1 day 02:00:00' "an interval inside it is in the default style whatever the writer's IntervalStyle"
is "$(q "new_row->>'rc'")" public.claims "a regclass is schema-qualified whatever the writer's search_path"

# (h) an owner demoted while a session has the row format cached
as postgres $db >/dev/null <<'SQL' || bail "demotion set-up failed"
ALTER ROLE app_a SUPERUSER;
SQL
as app_a $db >/dev/null <<'SQL' || bail "demotion set-up failed"
CREATE TYPE grade AS ENUM ('pass', 'fail');
CREATE TABLE exams (id int, g grade);
SELECT governance.enable_audit('exams');
GRANT INSERT ON exams TO app_b;
SQL
out=$(as app_b $db <<SQL
BEGIN; SELECT governance.set_context('agent-b');
INSERT INTO public.exams VALUES (1, 'fail');
COMMIT;
\! printf 'ALTER ROLE app_a NOSUPERUSER;\n' | psql -XqAt -U postgres -d $db
\! printf 'CREATE FUNCTION glie(grade) RETURNS json LANGUAGE sql AS \$\$ INSERT INTO public.ran VALUES (current_user) RETURNING %s::json \$\$; CREATE CAST (grade AS json) WITH FUNCTION glie(grade);\n' "'\"pass\"'" | psql -XqAt -U app_a -d $db
BEGIN; SELECT governance.set_context('agent-b');
INSERT INTO public.exams VALUES (2, 'fail');
COMMIT;
SQL
) || bail "demotion inserts failed: $out"
is "$(as postgres $db <<<"SELECT string_agg(new_row->>'g', ',' ORDER BY new_row->>'id') FROM governance.audit_log WHERE relation = 'public.exams' AND op = 'INSERT';")" \
	"fail,fail" "after the enum's owner lost superuser, its new cast does not change the trail ($out)"
is "$(as postgres $db <<<"SELECT count(*) FROM public.ran WHERE who = 'app_b';")" 0 "... and never ran"

# (g) one role, 8 sessions, 40 refused statements each, at once
as app_a $db >/dev/null <<'SQL' || bail "flood set-up failed"
CREATE TABLE notes (id int, tenant text);
SELECT governance.enable_rls('notes', tenant_column => 'tenant');
GRANT ALL ON notes TO app_b;
SQL
burst() {
	{
		echo "SELECT governance.set_context('eve', 'acme', 'many-$1');"
		for i in $(seq 1 40); do echo "INSERT INTO notes VALUES ($i, 'globex');"; done
	} | PGAPPNAME=many as_all app_b $db 2>&1 | grep -c 'violates row-level security policy'
}
refused_dir=$(mktemp -d)
started=$SECONDS
for k in 1 2 3 4 5 6 7 8; do burst $k >"$refused_dir/$k" & done
wait
elapsed=$((SECONDS - started + 1))
as postgres $db <<'SQL' >/dev/null
DO $$ BEGIN
  FOR i IN 1..500 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity
                           WHERE usename = 'app_b' OR backend_type = 'pg_governance writer');
    PERFORM pg_catalog.pg_sleep(0.02);
  END LOOP;
END $$;
SQL
is "$(cat "$refused_dir"/* | awk '{ n += $1 } END { print n }')" 320 "8 sessions of one role, 40 statements each: all 320 refused"
rm -rf "$refused_dir"
IFS='|' read -r rows counted <<<"$(as postgres $db <<<"SELECT count(*), count(*) FILTER (WHERE action = 'refused') + coalesce(sum(suppressed), 0) FROM governance.denied_log WHERE application_name = 'many';")"
# 60 rows, one last summary per session, and (preloaded: a token bucket)
# one more row per second the burst lasted; the per-session limits alone
# let through 8 x (10 + 1) = 88 rows and more
bound=$((60 + 8 + elapsed))
ok $([ "$rows" -le "$bound" ] && echo 0 || echo 1) \
	"... denied_log took at most the role's 60 rows per minute plus one summary per session: $rows rows (at most $bound)"
is "$counted" 320 "... and its rows plus their suppressed counts account for every attempt"
done_testing
