#!/usr/bin/env bash
# SQL edition: the upgrade from a released version, 0.6 unless
# SQLED_UPGRADE_FROM says another (upgrade-0.7.sh) (issue 15; docs/sql-edition.md,
# "Upgrade").  In a cluster without the C extension (scripts/run-sql-edition.sh
# sets GOVERNANCE_SQLED_SCRIPT, the current install script, next to which
# `make sql-edition` wrote the upgrade script pg_governance_sql--0.6--V.sql):
#   - the released 0.6 (sql-edition/released/) is installed by the database
#     owner (no superuser; CREATEROLE, as the suite of (c) needs), and written to: an audited table's rows, a
#     warned-about attempt, a pool report, a signing key, changed settings;
#   - the upgrade keeps every row, key and setting, the audit triggers and
#     RLS policies of the users' tables keep working, the version says V;
#   - the upgraded schema equals a fresh V install: every object of schema
#     governance with its definition, owner, privileges and comment;
#   - the shared pgTAP suite (test/editions/) passes on the upgraded database;
#   - the objects list the guard checks against
#     (sql-edition/released/pg_governance_sql--0.6.objects) is what a fresh
#     0.6 install has.
# The upgrade's insider cases are test/security/sql-edition/03-upgrade.sh.
cd "$(dirname "$0")/../.." && . test/security/lib.bash
[ -n "${GOVERNANCE_SQLED_SCRIPT:-}" ] || bail "GOVERNANCE_SQLED_SCRIPT is not set (run scripts/run-sql-edition.sh)"
version=${GOVERNANCE_SQLED_SCRIPT##*--}; version=${version%.sql}
from=${SQLED_UPGRADE_FROM:-0.6}
released=sql-edition/released/pg_governance_sql--$from.sql
upgrade=${GOVERNANCE_SQLED_SCRIPT%--*}--$from--$version.sql
[ -f "$upgrade" ] || bail "no upgrade script $upgrade (make sql-edition writes it)"
plan 17
db=sqledup fresh=sqledup_fresh
# The installer: the database owner, no superuser; CREATEROLE for the shared
# suite (c), which makes its own roles, as run-sql-edition.sh's installer has.
inst=regress_sqled_upgrader
sec_roles
as postgres postgres >/dev/null <<SQL || bail "cannot create $inst and the databases"
DROP DATABASE IF EXISTS $db WITH (FORCE);
DROP DATABASE IF EXISTS $fresh WITH (FORCE);
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$inst') THEN
    CREATE ROLE $inst LOGIN CREATEDB CREATEROLE NOSUPERUSER;
  END IF;
END \$\$;
CREATE DATABASE $db OWNER $inst;
CREATE DATABASE $fresh OWNER $inst;
SQL
_sec_dbs+=("$db" "$fresh")
trap _sec_cleanup EXIT

# Every object of schema governance (sql-edition/upgrade/objects.sql) with
# what makes it: definition, columns, owner, privileges, comment.
fingerprint() {
  { echo "SET search_path = pg_catalog, pg_temp;"
    echo "SELECT o.object, o.owner::regrole, obj_description(o.objid, o.classid::regclass::name) AS comment,"
    cat <<'SQL'
       CASE o.classid
       WHEN 'pg_class'::regclass THEN
         (SELECT concat_ws(' | ', c.relkind, c.relpersistence, c.relacl::text, c.reloptions::text,
                           (SELECT string_agg(format('%s %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                                     CASE WHEN a.attnotnull THEN ' not null' END,
                                                     ' default ' || pg_get_expr(ad.adbin, ad.adrelid)
                                                     || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text END),
                                              ', ' ORDER BY a.attnum)
                              FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                           CASE WHEN c.relkind = 'i' THEN pg_get_indexdef(c.oid) END,
                           CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END,
                           (SELECT format('%s %s %s %s %s', s.seqtypid::regtype, s.seqincrement, s.seqmin, s.seqmax, s.seqcache)
                              FROM pg_sequence s WHERE s.seqrelid = c.oid))
            FROM pg_class c WHERE c.oid = o.objid)
       WHEN 'pg_proc'::regclass THEN
         (SELECT concat_ws(' | ', pg_get_functiondef(p.oid), p.proacl::text) FROM pg_proc p WHERE p.oid = o.objid)
       WHEN 'pg_trigger'::regclass THEN
         (SELECT concat_ws(' | ', pg_get_triggerdef(t.oid), t.tgenabled) FROM pg_trigger t WHERE t.oid = o.objid)
       WHEN 'pg_constraint'::regclass THEN
         (SELECT pg_get_constraintdef(x.oid) FROM pg_constraint x WHERE x.oid = o.objid)
       WHEN 'pg_type'::regclass THEN
         (SELECT concat_ws(' | ', t.typtype, t.typacl::text) FROM pg_type t WHERE t.oid = o.objid)
       END AS definition
  FROM (
SQL
    cat sql-edition/upgrade/objects.sql
    echo ") o"
    echo "UNION ALL SELECT 'schema governance', n.nspowner::regrole, obj_description(n.oid, 'pg_namespace'), n.nspacl::text"
    echo "  FROM pg_namespace n WHERE n.nspname = 'governance'"
    echo "ORDER BY 1;"
  } | as "$inst" "$1"
}

# the rows, keys and settings an upgrade must keep, as one text per table
kept() {
  as "$inst" "$1" <<'SQL'
SELECT 'audit_batch', md5(string_agg(b::text, ',' ORDER BY b.first_id)) FROM governance.audit_batch b;
SELECT 'denied_log', md5(string_agg(d::text, ',' ORDER BY d.id)) FROM governance.denied_log d;
SELECT 'pool_reports', md5(string_agg(r::text, ',' ORDER BY r.pool_id)) FROM governance.pool_reports r;
SELECT 'signing_keys', md5(string_agg(k::text, ',' ORDER BY k.slot)) FROM governance.signing_keys k;
SELECT 'seal_key', md5(string_agg(k.ipad::text || '|' || k.opad::text, ',')) FROM governance.seal_key k;  -- the key (0.8 added a column)
SELECT 'settings', string_agg(s.name || '=' || s.value, ',' ORDER BY s.name) FROM governance.settings s
 WHERE s.name <> 'denied_log_role_limit';  -- new in 0.8 (checked below)
SELECT 'counts', (SELECT count(*) FROM governance.audit_log), (SELECT count(*) FROM governance.denied_log),
       (SELECT count(*) FROM governance.pool_reports), (SELECT count(*) FROM governance.signing_keys);
SQL
}

out=$(psql -XqAt -v ON_ERROR_STOP=1 -U "$inst" -d $db -f "$released" 2>&1)
is "$?:$(printf 'SELECT edition, version FROM governance.edition();\n' | as "$inst" $db)" "0:sql|$from" \
   "the released $from installs as the database owner"

# the objects the guard expects of $from are those a $from install has
got=$({ echo "SET search_path = pg_catalog, pg_temp; SELECT object FROM ("; cat sql-edition/upgrade/objects.sql
        echo ") o ORDER BY 1;"; } | as "$inst" $db)
is "$got" "$(grep -v '^#' sql-edition/released/pg_governance_sql--$from.objects)" \
   "sql-edition/released/pg_governance_sql--$from.objects lists what a $from install has"

# writes of every kind, as an app role and as the installer
as "$inst" $db >/dev/null <<'SQL' || bail "cannot set up the $from database"
CREATE TABLE public.up_notes (id int PRIMARY KEY, tenant text NOT NULL, body text);
CREATE TABLE public.up_plain (id int);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.up_notes, public.up_plain TO app_a;
SELECT governance.enable_audit('public.up_notes'), governance.enable_audit('public.up_plain');
SELECT governance.enable_rls('public.up_notes', tenant_column => 'tenant');
SELECT governance.set_signing_key('0123456789abcdef0123456789abcdef-upgrade-key', 'kid-up');
SELECT governance.set_setting('require_context', 'warn'), governance.set_setting('token_max_lifetime', '600');
SQL
as app_a $db >/dev/null <<'SQL' || bail "cannot write as app_a"
BEGIN;
SELECT governance.set_context('agent-up', 't1', 'req-up-1');
INSERT INTO public.up_notes VALUES (1, 't1', 'before the upgrade'), (2, 't1', 'also before');
UPDATE public.up_notes SET body = 'changed before' WHERE id = 2;
COMMIT;
INSERT INTO public.up_plain VALUES (1);   -- no context: warned, a denied_log row
SELECT governance.report_pool_stats('{"pool_id": "up-pool", "client_pid": 4242, "report_interval_s": 10, "uptime_s": 5,
  "pool_size": 4, "max_overflow": 2, "size": 1, "checked_out": 0, "idle": 1, "overflow_in_use": 0, "waiters": 0,
  "circuit": "closed", "acquires_total": 10, "timeouts_total": 0, "exhaustion_events_total": 0,
  "connect_failures_total": 0, "invalidated_total": 0, "acquire_wait_p50_ms": 1.5, "acquire_wait_p99_ms": 2}');
SQL
before=$(kept $db)
like "$before" 'counts\|6\|1\|1\|1' "$from holds audit rows, a denied attempt, a pool report and a key"

out=$(psql -XqAt -v ON_ERROR_STOP=1 -U "$inst" -d $db -f "$upgrade" 2>&1)
is "$?" 0 "the installer runs the upgrade $(basename "$upgrade")${out:+ ($out)}"
is "$(printf 'SELECT edition, version FROM governance.edition();\nSELECT detail FROM governance.capabilities() WHERE feature = $$edition$$;\n' | as "$inst" $db)" \
   "sql|$version
SQL edition $version (PL/pgSQL, no C library): see docs/sql-edition.md" "edition() and capabilities() say $version"
is "$(kept $db)" "$before" "every audit and denied row, pool report, key and setting is kept (a)"
is "$(printf "SELECT string_agg(name || '=' || value, ',' ORDER BY name) FROM governance.settings WHERE name = 'denied_log_role_limit';\n" | as "$inst" $db)" \
   "denied_log_role_limit=60" "the setting new in 0.8 has its default"

# the users' audit triggers and RLS policies work on with the new functions
out=$(as app_a $db <<'SQL'
BEGIN;
SELECT governance.set_context('agent-up', 't1', 'req-up-2');
INSERT INTO public.up_notes VALUES (3, 't1', 'after the upgrade');
SELECT count(*) FROM public.up_notes;
COMMIT;
BEGIN;
SELECT governance.set_context('agent-up', 't2');
SELECT count(*) FROM public.up_notes;
COMMIT;
SQL
)
is "$(grep -v '^$' <<<"$out" | tr '\n' ' ')" "3 0 " "RLS keeps each tenant to its rows after the upgrade"
is "$(printf "SELECT count(*) FROM governance.audit_log WHERE relation = 'public.up_notes' AND correlation_id = 'req-up-2' AND new_row->>'body' = 'after the upgrade';\n" | as "$inst" $db)" 1 \
   "the audit trigger of a table audited before the upgrade records after it"
is "$(printf "SELECT relation, enabled FROM governance.audited_tables ORDER BY 1;\n" | as "$inst" $db | tr '\n' ' ')" \
   "up_notes|t up_plain|t " "audited_tables shows both tables intact"

# the functions are the current sources' (0.6's enable_rls() printed a NOTICE
# "policy ... does not exist, skipping" on a table without its policy, which
# the C edition does not print)
out=$(psql -XqAt -v ON_ERROR_STOP=1 -U "$inst" -d $db -c "SELECT governance.enable_rls('public.up_plain', agent_column => 'id')" 2>&1)
is "$out" "" "the upgraded enable_rls() prints nothing, as the C edition's does"

# a token signed with the key set before the upgrade is accepted after it
tok=$(python3 -c '
import base64, hashlib, hmac, json, time
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
p = b(json.dumps({"agent_id": "agent-tok", "tenant_id": "t1", "exp": int(time.time()) + 300, "kid": "kid-up"}).encode())
print(p + "." + b(hmac.new(b"0123456789abcdef0123456789abcdef-upgrade-key", p.encode(), hashlib.sha256).digest()))')
is "$(psql -XqAt -v ON_ERROR_STOP=1 -v tok="$tok" -U app_a -d $db 2>&1 <<'SQL'
BEGIN;
SELECT governance.set_context_signed(:'tok');
SELECT governance.agent_id(), governance.context()->>'signed';
COMMIT;
SQL
)" "
agent-tok|true" "a token signed with the key set before the upgrade is accepted after it"

# (b) the upgraded schema against a fresh install of the current version
psql -XqAt -v ON_ERROR_STOP=1 -U "$inst" -d $fresh -f "$GOVERNANCE_SQLED_SCRIPT" >/dev/null 2>&1 ||
  bail "cannot install $GOVERNANCE_SQLED_SCRIPT into $fresh"
fp_up=$(fingerprint $db) || bail "fingerprint of $db: $fp_up"
fp_fresh=$(fingerprint $fresh) || bail "fingerprint of $fresh: $fp_fresh"
is "$(wc -l <<<"$fp_fresh" | awk '$1 > 90 {print "many"}')" many "the fingerprint covers every object of a fresh install"
d=$(diff <(printf '%s\n' "$fp_up") <(printf '%s\n' "$fp_fresh") | head -c 3000)
is "$d" "" "the upgraded schema equals a fresh $version install: objects, definitions, owners, privileges, comments (b)"

# (c) the shared suite on the upgraded database, its settings and keys as a
# fresh install has them (the suite sets its own, transaction by transaction)
as "$inst" $db >/dev/null <<'SQL' || bail "cannot reset the settings"
SELECT governance.set_setting('require_context', 'off'), governance.set_setting('token_max_lifetime', '3600');
DELETE FROM governance.signing_keys;
SELECT governance.disable_audit('public.up_notes'), governance.disable_audit('public.up_plain');
DROP TABLE public.up_notes, public.up_plain;
SQL
printf 'CREATE EXTENSION pgtap;\n' | as postgres $db >/dev/null || bail "cannot create pgtap"
out=$(pg_prove -U "$inst" -d $db --ext .sql test/editions/*.sql 2>&1)
rc=$?
is "$rc" 0 "the shared pgTAP suite passes on the upgraded database (c)"
[ $rc -eq 0 ] || printf '%s\n' "$out" | grep -v '^ok' | tail -n 30 | sed 's/^/#   /'

# a second run of the upgrade: refused, the schema is already at $version
out=$(psql -XqAt -v ON_ERROR_STOP=1 -U "$inst" -d $db -f "$upgrade" 2>&1)
like "$out" "holds pg_governance sql $version, not the SQL edition $from|is not the SQL edition $from as installed" \
   "the upgrade refuses a schema already upgraded"
is "$(printf 'SELECT version FROM governance.edition();\n' | as "$inst" $db)" "$version" "and changes nothing"

done_testing
