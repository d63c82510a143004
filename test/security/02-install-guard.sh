#!/usr/bin/env bash
# Finding 02 and its class: nothing the installer prepared in the schema
# (or in its own pg_temp) is ever bound by the install scripts, and views
# that superusers read execute nothing a non-superuser wrote.
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 28
sec_db sec02

# The attack of finding 02: operators planted in a pre-created schema.
out=$(as_all dbowner sec02 <<'SQL'
CREATE SCHEMA governance;
CREATE FUNCTION governance.oid_eq_int(a oid, b integer) RETURNS boolean
LANGUAGE plpgsql AS $f$
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
     AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = 'dbowner') THEN
    EXECUTE 'ALTER ROLE dbowner SUPERUSER';
  END IF;
  RETURN a OPERATOR(pg_catalog.=) b::pg_catalog.oid;
END $f$;
CREATE OPERATOR governance.= (LEFTARG = oid, RIGHTARG = integer, FUNCTION = governance.oid_eq_int);
CREATE FUNCTION governance.i4_mul_f8(a integer, b double precision) RETURNS double precision
LANGUAGE plpgsql AS $f$
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
     AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = 'dbowner') THEN
    EXECUTE 'ALTER ROLE dbowner SUPERUSER';
  END IF;
  RETURN a::pg_catalog.float8 OPERATOR(pg_catalog.*) b;
END $f$;
CREATE OPERATOR governance.* (LEFTARG = integer, RIGHTARG = double precision, FUNCTION = governance.i4_mul_f8);
SQL
)
out=$(sec_install sec02)
like "$out" 'schema "governance" holds objects that are not part of pg_governance: .*function governance.oid_eq_int.*operator governance.=' \
	"finding 02: install into a schema with planted operators is refused, naming them"
as_all postgres sec02 >/dev/null <<'SQL'
CREATE TABLE t (id int);
SELECT governance.enable_audit('t');
SELECT * FROM governance.audited_tables;
SELECT * FROM governance.pool_stats;
SQL
is "$(is_superuser dbowner)" f "finding 02: the installer is not a superuser after a superuser read the views"
sec_unsuper dbowner

# Each kind of object the installer can create in a schema it owns refuses the install.
n=0
while IFS='|' read -r what ddl; do
	n=$((n + 1)); db=sec02_$n
	sec_db "$db"
	printf 'CREATE SCHEMA governance;\n%s\n' "$ddl" | as dbowner "$db" >/dev/null || bail "cannot plant $what"
	out=$(sec_install "$db")
	like "$out" 'schema "governance" (holds objects that are not part of pg_governance|grants privileges beyond)' \
		"pre-created schema with $what: install refused"
	printf 'DROP DATABASE "%s" WITH (FORCE);\n' "$db" | as postgres postgres >/dev/null
done <<'PLANTS'
a table|CREATE TABLE governance.denied_log (id int);
a view|CREATE VIEW governance.v AS SELECT 1 AS x;
a sequence|CREATE SEQUENCE governance.denied_log_id_seq;
a function|CREATE FUNCTION governance.f(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
a procedure|CREATE PROCEDURE governance.p() LANGUAGE sql AS 'SELECT 1';
an aggregate|CREATE AGGREGATE governance.agg(int) (SFUNC = int4pl, STYPE = int);
an operator|CREATE OPERATOR governance.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq);
an enum type|CREATE TYPE governance.e AS ENUM ('a');
a domain|CREATE DOMAIN governance.d AS int;
a composite type|CREATE TYPE governance.c AS (a int);
a range type|CREATE TYPE governance.r AS RANGE (subtype = int);
a collation|CREATE COLLATION governance.coll FROM "C";
a conversion|CREATE CONVERSION governance.conv FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
a text search configuration|CREATE TEXT SEARCH CONFIGURATION governance.cfg (COPY = simple);
a text search dictionary|CREATE TEXT SEARCH DICTIONARY governance.dict (TEMPLATE = simple);
extended statistics|CREATE TABLE public.st (a int, b int); CREATE STATISTICS governance.s ON a, b FROM public.st;
default privileges|ALTER DEFAULT PRIVILEGES IN SCHEMA governance GRANT SELECT ON TABLES TO app_a;
a grant of CREATE|GRANT CREATE ON SCHEMA governance TO app_a;
PLANTS

# Every install and upgrade script has the same guard (the chain may start
# at any version), and runs no statement before it.
guards=$(for f in extension/sql/pg_governance--*.sql; do
	awk '/^ \* Install guard/ { on = 1 } on { print } /^\$guard\$;$/ { exit }' "$f" | md5sum
done | sort -u | wc -l)
first=$(for f in extension/sql/pg_governance--*.sql; do
	grep -Ev '^\s*($|--|/\*|\*|\\echo)' "$f" | head -1
done | sort -u)
is "$guards $first" "1 SET LOCAL search_path = pg_catalog, pg_temp;" \
	"the same guard is the first statement of every script ($(ls extension/sql/pg_governance--*.sql | wc -l) scripts)"

# The guard's search_path is the scripts' own: the installer's session
# keeps its own afterwards.
sec_db sec02_path
is "$(printf 'CREATE EXTENSION pg_governance;\nSHOW search_path;\n' | as "$SECURITY_INSTALLER" sec02_path)" '"$user", public' \
	"CREATE EXTENSION leaves the session's search_path as it was"

# A schema pre-created by someone else (not the installer, not a superuser).
sec_db sec02_other
printf 'CREATE SCHEMA governance AUTHORIZATION app_a;\n' | as postgres sec02_other >/dev/null
out=$(sec_install sec02_other)
like "$out" 'schema "governance" is owned by role "app_a", which is neither' "pre-created schema owned by another role: install refused"

# An empty schema the installer made is taken over by the superuser.
sec_db sec02_empty
printf 'CREATE SCHEMA governance;\n' | as dbowner sec02_empty >/dev/null
out=$(sec_install sec02_empty); ok $? "an empty pre-created schema is accepted ($out)"
is "$(printf "SELECT r.rolsuper FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = 'governance';\n" | as postgres sec02_empty)" t \
	"... and owned by a superuser afterwards"

# The installer's temporary objects named like ours or like catalogs are
# never picked up by the install scripts.
sec_db sec02_temp
out=$( { cat <<'SQL'
CREATE TEMP TABLE pg_extension (oid oid, extname name, extnamespace oid, extowner oid);
CREATE TEMP TABLE pg_namespace (oid oid, nspname name, nspowner oid);
CREATE TEMP TABLE pg_roles (oid oid, rolname name, rolsuper bool);
CREATE TEMP TABLE text (a int);
CREATE TEMP TABLE jsonb (a int);
CREATE TEMP TABLE regclass (a int);
CREATE TEMP TABLE audit_batch (a int);
CREATE TEMP TABLE pool_reports (a int);
SQL
printf 'CREATE EXTENSION pg_governance;\n'; } | as_all "$SECURITY_INSTALLER" sec02_temp)
is "$(as postgres sec02_temp <<'SQL'
SELECT coalesce(string_agg(pg_describe_object(d.classid, d.objid, 0) || ' -> ' || pg_describe_object(r.refclassid, r.refobjid, 0), ', '), 'none')
  FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_governance' AND d.deptype = 'e'
  JOIN pg_depend r ON r.classid = d.classid AND r.objid = d.objid
 WHERE (r.refclassid = 'pg_type'::regclass AND (SELECT typnamespace FROM pg_type WHERE oid = r.refobjid) <> ALL (ARRAY['pg_catalog'::regnamespace, e.extnamespace]))
    OR (r.refclassid = 'pg_class'::regclass AND (SELECT relnamespace FROM pg_class WHERE oid = r.refobjid) <> ALL (ARRAY['pg_catalog'::regnamespace, e.extnamespace]));
SQL
)" none "install with the installer's temp tables named like catalogs and types: no member depends on them ($(printf '%s' "$out" | grep -m1 ERROR))"

# Views of the extension: every function and operator they call is
# pg_catalog's or the extension's own.  Checked where finding 02's install
# went through (it must not), else in the clean install of sec02_empty.
vdb=sec02_empty
[ "$(printf "SELECT count(*) FROM pg_extension WHERE extname = 'pg_governance';\n" | as postgres sec02)" = 1 ] && vdb=sec02
is "$(as postgres $vdb <<'SQL'
SELECT coalesce(string_agg(DISTINCT v.oid::regclass || ': ' || pg_describe_object(d.refclassid, d.refobjid, 0), ', '), 'none')
  FROM pg_class v
  JOIN pg_rewrite w ON w.ev_class = v.oid
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
  JOIN pg_extension e ON e.extname = 'pg_governance'
 WHERE v.relnamespace = e.extnamespace AND v.relkind = 'v'
   AND ((d.refclassid = 'pg_operator'::regclass AND (SELECT oprnamespace FROM pg_operator WHERE oid = d.refobjid) <> 'pg_catalog'::regnamespace)
	 OR (d.refclassid = 'pg_proc'::regclass AND (SELECT pronamespace FROM pg_proc WHERE oid = d.refobjid) <> 'pg_catalog'::regnamespace
		 AND NOT EXISTS (SELECT FROM pg_depend m WHERE m.classid = 'pg_proc'::regclass AND m.objid = d.refobjid AND m.refobjid = e.oid AND m.deptype = 'e')));
SQL
)" none "the extension's views call only pg_catalog operators and functions (or the extension's own)"
is "$(as postgres $vdb <<'SQL'
SELECT count(*) FROM pg_class v JOIN pg_extension e ON e.extname = 'pg_governance'
 WHERE v.relnamespace = e.extnamespace AND v.relkind = 'v'
   AND pg_get_viewdef(v.oid) ~ 'OPERATOR\((?!pg_catalog\.)';
SQL
)" 0 "no view definition shows an operator outside pg_catalog"
done_testing
