#!/usr/bin/env bash
# Finding 11 and its class: denied_log cannot be flooded or spoofed.
#  - one statement adds at most one record per (kind, table), whatever the
#    number of tables or of refusals it makes (also refusals swallowed by an
#    EXCEPTION block in a loop);
#  - a loop of statements is held to governance.denied_log_rate_limit
#    records per second per backend; what the limit keeps out is counted in
#    a summary row (action 'suppressed', column suppressed), so that rows
#    plus suppressed counts account for every attempt;
#  - every record names its relation schema-qualified with its relid, the
#    relation the statement really used: a temp table named like another
#    tenant's table shows as pg_temp_N.name with its own OID.
cd "$(dirname "$0")/../.." && . test/security/lib.bash

plan 14
db=sec11
sec_db $db
sec_install $db >/dev/null || bail "cannot install pg_governance"
as app_a $db >/dev/null <<'SQL' || bail "cannot set up docs"
CREATE TABLE docs (id int, tenant text);
SELECT governance.enable_rls('docs', tenant_column => 'tenant');
GRANT ALL ON docs TO app_b;
SQL

# rows WHERE: wait (up to 10 s) until the denied sessions' records are
# settled (no session of app_b left, the background writer's queue empty),
# then print what the query prints.
settled() {
	as postgres $db <<'SQL' >/dev/null
DO $$ BEGIN
  FOR i IN 1..500 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity
                           WHERE usename = 'app_b' OR backend_type = 'pg_governance writer');
    PERFORM pg_catalog.pg_sleep(0.02);
  END LOOP;
END $$;
SQL
}
q() { as postgres $db <<<"$1"; }

# (a) the finding: warn mode, one statement writing 9 audited tables, one of
# them 200 times
as postgres $db >/dev/null <<SQL || bail "cannot set require_context"
LOAD 'pg_governance';
ALTER DATABASE $db SET governance.require_context = warn;
SQL
as_all app_b $db >/dev/null <<'SQL'
SET client_min_messages = error;
DO $$ BEGIN FOR i IN 1..9 LOOP
  EXECUTE format('CREATE TABLE w%s (id int)', i);
  PERFORM governance.enable_audit(format('w%s', i)::regclass);
END LOOP; END $$;
DO $$ BEGIN
  FOR i IN 1..8 LOOP EXECUTE format('INSERT INTO w%s VALUES (0)', i); END LOOP;
  FOR i IN 1..200 LOOP INSERT INTO w9 VALUES (i); END LOOP;
END $$;
SQL
settled
is "$(q "SELECT count(*) FROM governance.denied_log WHERE source = 'require_context' AND relation = 'public.w9'")" 1 \
	"one statement, 200 writes of w9: one record"
is "$(q "SELECT count(DISTINCT relation) || '/' || count(*) FROM governance.denied_log WHERE source = 'require_context' AND action = 'warned'")" \
	"9/9" "one statement, 9 tables: one record per table (no 8-table limit)"
is "$(q "SELECT count(*) FROM governance.denied_log WHERE source = 'require_context' AND relid IS DISTINCT FROM pg_catalog.to_regclass(relation)")" \
	0 "require_context records carry the relid of the schema-qualified relation"

# (b) a loop of statements, each refused, with a low limit.  This file
# holds the per-session bound; app_b's per-role bound (60 rows a minute,
# 14-redteam.sh case 32) is lifted here, or (b) would use up the minute's
# rows that (c) and (d) look for, depending on how fast the machine is.
as postgres $db >/dev/null <<SQL
ALTER DATABASE $db RESET governance.require_context;
ALTER ROLE app_b IN DATABASE $db SET governance.denied_log_rate_limit = 5;
ALTER ROLE app_b IN DATABASE $db SET governance.denied_log_role_limit = 0;
SQL
{
	echo "SELECT governance.set_context('eve', 'acme', 'flood');"
	for i in $(seq 1 300); do echo "INSERT INTO docs VALUES ($i, 'globex');"; done
} | PGAPPNAME=flood as_all app_b $db >/dev/null
settled
n=$(q "SELECT count(*) FILTER (WHERE action = 'refused') || ' ' || count(*) FILTER (WHERE action = 'suppressed') || ' ' || coalesce(sum(suppressed), 0) FROM governance.denied_log WHERE application_name = 'flood'")
read -r refused summaries suppressed <<<"$n"
ok $([ "$refused" -lt 60 ] && echo 0 || echo 1) "300 refused statements at rate_limit 5/s: $refused rows of refusals (bounded)"
ok $([ "$summaries" -ge 1 ] && echo 0 || echo 1) "... and $summaries summary rows"
is "$((refused + suppressed))" 300 "rows plus suppressed counts account for every attempt"
is "$(q "SELECT count(*) FROM governance.denied_log WHERE application_name = 'flood' AND action = 'suppressed' AND NOT (source = 'rls' AND relation = 'public.docs' AND relid = 'public.docs'::regclass AND suppressed > 0)")" \
	0 "summary rows say what was suppressed (source, relation, relid, count)"

# (c) one statement swallowing 1000 refusals in an EXCEPTION block
as_all app_b $db >/dev/null <<'SQL'
BEGIN;
SELECT governance.set_context('eve', 'acme', 'swallow-loop');
DO $$ BEGIN
  FOR i IN 1..1000 LOOP
    BEGIN INSERT INTO docs VALUES (i, 'globex');
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
  END LOOP;
END $$;
COMMIT;
SQL
settled
is "$(q "SELECT count(*) || '/' || coalesce(sum(suppressed), 0) FROM governance.denied_log WHERE correlation_id = 'swallow-loop'")" \
	"1/0" "1000 refusals swallowed in one statement: one record"
as postgres $db >/dev/null <<<"ALTER ROLE app_b IN DATABASE $db RESET governance.denied_log_rate_limit;"

# (d) the spoof: a temp table named like app_a's docs
as_all app_b $db >/dev/null <<'SQL'
CREATE TEMP TABLE docs (id int, tenant text);
ALTER TABLE pg_temp.docs ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY p ON pg_temp.docs USING (false) WITH CHECK (false);
BEGIN; SELECT governance.set_context('alice', 'acme', 'spoof-1');
INSERT INTO pg_temp.docs VALUES (1, 'globex');
ROLLBACK;
BEGIN; SELECT governance.set_context('alice', 'acme', 'spoof-2');
INSERT INTO pg_temp.docs SELECT 1, 'globex' FROM (SELECT count(*) FROM public.docs) s;
ROLLBACK;
BEGIN; SELECT governance.set_context('eve', 'acme', 'real-1');
INSERT INTO public.docs SELECT id, 'globex' FROM (VALUES (1)) v(id) LEFT JOIN pg_temp.docs USING (id);
ROLLBACK;
BEGIN; SELECT governance.set_context('alice', 'acme', 'spoof-3');
WITH t AS (INSERT INTO pg_temp.docs VALUES (1, 'globex') RETURNING 1)
INSERT INTO public.docs SELECT 2, 'acme' FROM t;
ROLLBACK;
SELECT 1;
SQL
settled
is "$(q "SELECT coalesce(relation, 'NULL') || ' ' || coalesce(relid::text, 'NULL') FROM governance.denied_log WHERE correlation_id = 'spoof-3'")" \
	"NULL NULL" "two written relations named docs in one statement: the record names neither rather than guess"
like "$(q "SELECT relation FROM governance.denied_log WHERE correlation_id = 'spoof-1'")" '^pg_temp_[0-9]+\.docs$' \
	"a refusal on a temp table names pg_temp_N.docs"
is "$(q "SELECT relid IS NOT NULL AND relid <> 'public.docs'::regclass FROM governance.denied_log WHERE correlation_id = 'spoof-1'")" \
	t "... with the temp table's own relid, not public.docs's"
like "$(q "SELECT relation FROM governance.denied_log WHERE correlation_id = 'spoof-2'")" '^pg_temp_[0-9]+\.docs$' \
	"public.docs in the same statement: still the table that refused (the insert target)"
is "$(q "SELECT relation || ' ' || (relid = 'public.docs'::regclass) FROM governance.denied_log WHERE correlation_id = 'real-1'")" \
	"public.docs true" "a refusal on public.docs with a temp docs in the statement names public.docs and its relid"
is "$(q "SELECT count(*) FROM governance.denied_log WHERE source = 'rls' AND relation IS NOT NULL AND relation !~ '^[a-z_0-9]+\.[a-z_0-9]+$'")" \
	0 "every RLS record's relation is schema-qualified"

done_testing
