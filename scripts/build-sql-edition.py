#!/usr/bin/env python3
"""Build the SQL edition: sql-edition/*.sql -> build/pg_governance_sql--VERSION.sql,
and its upgrade scripts build/pg_governance_sql--FROM--VERSION.sql.

One self-contained install script (psql -f), version from
extension/pg_governance.control.  Lines "-- @from-c-edition KIND NAME" are
replaced by the latest definition of that object in the C edition's install and
upgrade scripts (extension/sql/, in upgrade order), so what is SQL in both
editions is written once.

One upgrade script per released version FROM older than VERSION
(sql-edition/released/pg_governance_sql--FROM.sql, with the list of objects
that release installs in FROM.objects): the upgrade guard (the schema is an
SQL edition at FROM, owned by the running role, holding exactly FROM's
objects), the table migrations sql-edition/upgrade/FROM--...--VERSION.sql in
order, then every function, view, trigger, comment and privilege of the
current sources re-created in place (CREATE OR REPLACE); tables, indexes,
sequences and rows are the migrations' business.  docs/sql-edition.md,
"Upgrade".

Prints the path of each upgrade script, then the install script's path as
its last line.
"""
import glob
import os
import re
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(root)

control = open("extension/pg_governance.control").read()
version = re.search(r"^default_version\s*=\s*'([^']+)'", control, re.M).group(1)


def vkey(v):
    return tuple(int(x) for x in v.split("."))


# The C edition's chain: the install script of the lowest version, then each
# upgrade script in order.
scripts = sorted(glob.glob("extension/sql/pg_governance--*.sql"))
installs = {}
upgrades = {}
for s in scripts:
    m = re.match(r".*pg_governance--([0-9.]+)(?:--([0-9.]+))?\.sql$", s)
    if m.group(2):
        upgrades[m.group(1)] = (m.group(2), s)
    else:
        installs[m.group(1)] = s
start = min(installs, key=vkey)
chain = [installs[start]]
v = start
while v in upgrades and vkey(upgrades[v][0]) <= vkey(version):
    v, s = upgrades[v]
    chain.append(s)
if v != version:
    sys.exit(f"build-sql-edition: the C edition's scripts reach {v}, not {version}")


def statement(lines, i, kind):
    """The statement starting at lines[i]: a table ends at ');', a view at
    the first line ending in ';', a function at its closing dollar quote."""
    if kind == "FUNCTION":
        tag = None
        for j in range(i, len(lines)):
            if tag is None:
                m = re.search(r"AS\s+(\$[A-Za-z_]*\$)", lines[j])
                if m:
                    tag = m.group(1)
                    if lines[j].count(tag) >= 2:
                        return j
            elif lines[j].lstrip().startswith(tag):
                return j
    for j in range(i, len(lines)):
        if kind == "TABLE" and lines[j].startswith(");"):
            return j
        if kind == "VIEW" and lines[j].rstrip().endswith(";"):
            return j
    sys.exit(f"build-sql-edition: unterminated {kind} at line {i + 1}")


def latest(kind, name):
    pat = re.compile(r"^CREATE\s+(OR\s+REPLACE\s+)?(UNLOGGED\s+)?" + kind + r"\s+" + re.escape(name) + r"\b")
    found = None
    for s in chain:
        lines = open(s).read().split("\n")
        for i, line in enumerate(lines):
            if pat.match(line):
                j = statement(lines, i, kind)
                found = (s, lines[i:j + 1])
    if found is None:
        sys.exit(f"build-sql-edition: {kind} {name} not found in {', '.join(chain)}")
    src, body = found
    alters = []
    if kind == "TABLE":
        # later ALTER TABLEs of it (new columns, constraints) follow it, in
        # upgrade order, so the two editions' tables cannot drift
        alter = re.compile(r"^ALTER\s+TABLE\s+(IF\s+EXISTS\s+)?(ONLY\s+)?" + re.escape(name) + r"\b")
        for s in chain[chain.index(src):]:
            lines = open(s).read().split("\n")
            start = lines.index(body[0]) + len(body) if s == src else 0
            for i in range(start, len(lines)):
                if alter.match(lines[i]):
                    j = statement(lines, i, "VIEW")  # ends at the first line ending in ';'
                    alters.append(f"-- from {os.path.basename(s)}")
                    alters.extend(lines[i:j + 1])
    text = "\n".join(body + alters)
    text = re.sub(r"^CREATE\s+OR\s+REPLACE\s+", "CREATE ", text)
    if kind == "FUNCTION" and name == "governance.report_pool_stats":
        # Drop the check that pool_reports is the extension's own table.
        check = re.compile(r"\n\tIF NOT EXISTS \(\n\t\tSELECT FROM pg_catalog\.pg_extension e\n.*?\n\tEND IF;\n", re.S)
        text, n = check.subn("\n\t-- (C edition: a check that pool_reports is a member of the extension)\n", text)
        if n != 1:
            sys.exit("build-sql-edition: report_pool_stats' extension-membership check not found")
    if "MODULE_PATHNAME" in text or "LANGUAGE C" in text:
        sys.exit(f"build-sql-edition: {kind} {name} in {src} needs the C library")
    return f"-- {kind} {name}: from {os.path.basename(src)}\n{text}"


out = [f"-- pg_governance {version}, SQL edition: install with psql -v ON_ERROR_STOP=1 -f <this file>",
       "-- Built by `make sql-edition` from sql-edition/*.sql; see docs/sql-edition.md.", ""]
parts = []                      # (source file, its text with the C edition's objects copied in)
for part in sorted(glob.glob("sql-edition/*.sql")):
    lines = []
    for line in open(part).read().split("\n"):
        m = re.match(r"^-- @from-c-edition (TABLE|FUNCTION|VIEW) (\S+)$", line)
        lines.append(latest(m.group(1), m.group(2)) if m else line)
    parts.append((part, "\n".join(lines).replace("@VERSION@", version)))
    out.append(f"-- ==== {part} ====")
    out.extend(lines)
text = "\n".join(out).replace("@VERSION@", version)
if re.search(r"MODULE_PATHNAME|LANGUAGE\s+C\b|\\\\ir?\s", text):
    sys.exit("build-sql-edition: the script must not need the C library or other files")


def write(path, content):
    os.makedirs("build", exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(content)
    os.replace(path + ".tmp", path)


# ---- upgrade scripts ----

def comment_end(sql, i):
    """Where the /* comment starting at sql[i] ends (PostgreSQL nests them)."""
    depth, i = 1, i + 2
    while i < len(sql) and depth:
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    if depth:
        sys.exit("build-sql-edition: unterminated /* comment (PostgreSQL nests them)")
    return i


def statements(sql):
    """Split SQL text into statements (each with the comments before it):
    ends at a ";" outside quotes, comments and dollar quotes; a psql
    meta-command at a statement's start ends at its line's end."""
    out, i, start, n = [], 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            i = sql.find("\n", i)
            i = n if i < 0 else i + 1
        elif sql.startswith("/*", i):
            i = comment_end(sql, i)
        elif c == "\\" and head(sql[start:i]) == "":
            e = sql.find("\n", i)
            e = n if e < 0 else e
            out.append(sql[start:e])
            i = start = e
        elif c == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            i += 1
            while i < n:
                if escapes and sql[i] == "\\":
                    i += 2
                elif sql[i] == "'" and sql.startswith("''", i):
                    i += 2
                elif sql[i] == "'":
                    break
                else:
                    i += 1
            i += 1
        elif c == '"':
            i = sql.index('"', i + 1) + 1
        elif c == "$" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")) and \
                re.match(r"\$[A-Za-z_][A-Za-z_0-9]*\$|\$\$", sql[i:]):
            tag = re.match(r"\$[A-Za-z_][A-Za-z_0-9]*\$|\$\$", sql[i:]).group(0)
            e = sql.find(tag, i + len(tag))
            if e < 0:
                sys.exit(f"build-sql-edition: unterminated {tag} quote")
            i = e + len(tag)
        elif c == ";":
            out.append(sql[start:i + 1])
            i = start = i + 1
        else:
            i += 1
    if head(sql[start:]):
        sys.exit(f"build-sql-edition: text after the last statement: {sql[start:][:80]!r}")
    return out


def head(stmt):
    """The statement without the comments and blanks before it."""
    while True:
        stmt = stmt.lstrip()
        if stmt.startswith("--"):
            stmt = stmt[stmt.find("\n") + 1:] if "\n" in stmt else ""
        elif stmt.startswith("/*"):
            stmt = stmt[comment_end(stmt, 0):]
        else:
            return stmt


# What the upgrade does with each statement of the install script, by how it
# starts: re-run it (None), re-run it as CREATE OR REPLACE (the replacement),
# or leave it out ("skip": the install guard (DO $guard$), the schema, tables
# and their storage (DO $lz4$: the migration sets it on upgrade),
# indexes, sequences and rows, which stay as they are or are migrated).  A
# statement of any other kind fails the build: decide what the upgrade does
# with it, here.
RECREATE = [
    (r"\\set\b|BEGIN\b|COMMIT\b|SET\s+LOCAL\b|DO\s+\$guard\$|DO\s+\$lz4\$|CREATE\s+SCHEMA\b", "skip"),
    (r"CREATE\s+(UNLOGGED\s+)?TABLE\b|CREATE\s+(UNIQUE\s+)?INDEX\b|CREATE\s+SEQUENCE\b"
     r"|ALTER\s+(TABLE|SEQUENCE)\b|INSERT\s+INTO\b", "skip"),
    (r"CREATE\s+FUNCTION\b", "CREATE OR REPLACE FUNCTION"),
    (r"CREATE\s+VIEW\b", "CREATE OR REPLACE VIEW"),
    (r"CREATE\s+TRIGGER\b", "CREATE OR REPLACE TRIGGER"),
    (r"COMMENT\s+ON\b|GRANT\b|REVOKE\b", None),
]


def recreated(part, sql):
    """The statements of one source file the upgrade re-runs."""
    kept = []
    for stmt in statements(sql):
        h = head(stmt)
        for pat, what in RECREATE:
            m = re.match(pat, h, re.I)
            if m:
                break
        else:
            sys.exit(f"build-sql-edition: {part}: the upgrade does not know what to do with: {h[:60]!r}"
                     " (scripts/build-sql-edition.py, RECREATE)")
        if what == "skip":
            continue
        if what is not None:
            h = what + h[m.end():]
        kept.append(h)
    return kept


objects_query = open("sql-edition/upgrade/objects.sql").read()
objects_query = "\n".join(l for l in objects_query.split("\n") if not l.startswith("--")).strip()


def upgrade_guard(frm, objects):
    if any("$objects$" in o for o in objects):
        sys.exit("build-sql-edition: an object name holds $objects$")
    listing = "\n".join(objects)
    query = objects_query.replace("\n", "\n\t\t")
    return f"""/*
 * Upgrade guard.  The upgrade runs as the role that installed the SQL
 * edition and re-creates its functions in place: it refuses a database
 * with the C extension, a role with default privileges (as the install
 * does), a schema governance that is not the SQL edition at {frm} owned by
 * the running role, and a schema holding any object a fresh {frm} install
 * does not have or owned by another role (someone may have planted it
 * since the install: the upgrade would leave it there, trusted).
 */
DO $guard$
DECLARE
	expected CONSTANT text[] := pg_catalog.array_remove(pg_catalog.string_to_array($objects$
{listing}
$objects$, E'\\n'), '');
	me CONSTANT oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user);
	owner oid;
	present text[];
	others text;
	strays text;
	missing text;
	ed record;
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_extension e
				WHERE e.extname OPERATOR(pg_catalog.=) 'pg_governance'::pg_catalog.name) THEN
		RAISE EXCEPTION 'extension "pg_governance" is installed in this database'
			USING ERRCODE = 'duplicate_object',
				  HINT = 'This script upgrades the SQL edition; upgrade the C extension with ALTER EXTENSION pg_governance UPDATE.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_default_acl d WHERE d.defaclrole OPERATOR(pg_catalog.=) me) THEN
		RAISE EXCEPTION 'role "%" has default privileges', current_user
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'They would grant other roles access to what this script creates.',
				  HINT = 'Remove them (ALTER DEFAULT PRIVILEGES ... REVOKE ...), then run the upgrade again.';
	END IF;
	SELECT n.nspowner INTO owner FROM pg_catalog.pg_namespace n
	 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance'::pg_catalog.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'schema "governance" does not exist'
			USING ERRCODE = 'invalid_schema_name',
				  HINT = 'Nothing to upgrade: install the SQL edition with pg_governance_sql--{version}.sql.';
	END IF;
	IF owner OPERATOR(pg_catalog.<>) me THEN
		RAISE EXCEPTION 'schema "governance" is owned by role "%", not by "%"', owner::pg_catalog.regrole, current_user
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'The SQL edition is upgraded by the role that installed it (it owns every object of the schema).',
				  HINT = pg_catalog.format('Run the upgrade as %s.', owner::pg_catalog.regrole);
	END IF;
	SELECT pg_catalog.array_agg(o.object ORDER BY o.object),
		   pg_catalog.string_agg(pg_catalog.format('%s (owner %s)', o.object, o.owner::pg_catalog.regrole), ', ' ORDER BY o.object)
			   FILTER (WHERE o.owner OPERATOR(pg_catalog.<>) me)
	  INTO present, others
	  FROM ({query}) o;
	IF others IS NOT NULL THEN
		RAISE EXCEPTION 'schema "governance" holds objects of other roles: %', others
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Every object of the SQL edition belongs to the role that installed it; these were put there by someone else.',
				  HINT = 'Find out who made them and why; drop them, then run the upgrade again.';
	END IF;
	SELECT pg_catalog.string_agg(f, ', ' ORDER BY f) INTO strays
	  FROM pg_catalog.unnest(present) f WHERE f OPERATOR(pg_catalog.<>) ALL (expected);
	SELECT pg_catalog.string_agg(x, ', ' ORDER BY x) INTO missing
	  FROM pg_catalog.unnest(expected) x WHERE x OPERATOR(pg_catalog.<>) ALL (present);
	IF strays IS NOT NULL OR missing IS NOT NULL THEN
		RAISE EXCEPTION 'schema "governance" is not the SQL edition {frm} as installed'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.concat_ws(' ', 'Not made by the {frm} install: ' OPERATOR(pg_catalog.||) strays OPERATOR(pg_catalog.||) '.',
											   'Missing: ' OPERATOR(pg_catalog.||) missing OPERATOR(pg_catalog.||) '.'),
				  HINT = 'Drop or move out of schema governance what the install did not make (the upgrade would keep it, trusted), or reinstall into a new schema after saving the logs.';
	END IF;
	-- a role that may create in the schema could plant an object while the
	-- upgrade runs, after the checks above
	SELECT pg_catalog.string_agg(DISTINCT a.grantee::pg_catalog.regrole::text, ', ') INTO others
	  FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
	 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance'::pg_catalog.name
	   AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE' AND a.grantee OPERATOR(pg_catalog.<>) me;
	IF others IS NOT NULL THEN
		RAISE EXCEPTION 'other roles may create in schema "governance": %', others
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'REVOKE CREATE ON SCHEMA governance FROM them, then run the upgrade again.';
	END IF;
	-- only now is governance.edition() known to be the running role's own
	SELECT * INTO ed FROM governance.edition();
	IF ed.edition IS DISTINCT FROM 'sql' OR ed.version IS DISTINCT FROM '{frm}' THEN
		RAISE EXCEPTION 'schema "governance" holds pg_governance % %, not the SQL edition {frm}', ed.edition, ed.version
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Use the upgrade script from the installed version (pg_governance_sql--<installed>--{version}.sql).';
	END IF;
END
$guard$;
"""


def chain_of(frm):
    """sql-edition/upgrade/A--B.sql files from frm to version, in order."""
    steps, v = [], frm
    while v != version:
        nxt = [f for f in glob.glob(f"sql-edition/upgrade/{v}--*.sql")]
        if len(nxt) != 1:
            sys.exit(f"build-sql-edition: no single sql-edition/upgrade/{v}--<next>.sql on the way to {version}")
        steps.append(nxt[0])
        v = re.match(r".*--([0-9.]+)\.sql$", nxt[0]).group(1)
        if vkey(v) > vkey(version):
            sys.exit(f"build-sql-edition: {nxt[0]} goes past {version}")
    return steps


upgrade_paths = []
for released in sorted(glob.glob("sql-edition/released/pg_governance_sql--*.sql")):
    frm = re.match(r".*--([0-9.]+)\.sql$", released).group(1)
    if vkey(frm) >= vkey(version):
        continue
    objfile = released[:-len(".sql")] + ".objects"
    if not os.path.exists(objfile):
        sys.exit(f"build-sql-edition: {objfile} is missing (the objects a {frm} install has)")
    objects = [l for l in open(objfile).read().split("\n") if l and not l.startswith("#")]
    up = [f"-- pg_governance SQL edition, upgrade {frm} -> {version}: run with psql -v ON_ERROR_STOP=1 -f <this file>",
          f"-- as the role that installed {frm}.  Built by `make sql-edition`; see docs/sql-edition.md, \"Upgrade\".",
          "\\set ON_ERROR_STOP 1",
          "BEGIN;",
          "SET LOCAL search_path = pg_catalog, pg_temp;",
          "SET LOCAL client_min_messages = warning;",
          "",
          upgrade_guard(frm, objects)]
    for step in chain_of(frm):
        up.append(f"-- ==== migrations: {step} ====")
        up.append(open(step).read())
        statements(up[-1])      # fails on an unterminated comment or statement
    for part, sql in parts:
        up.append(f"-- ==== re-created from {part} ====")
        up.extend(recreated(part, sql))
    up.append("")
    up.append("COMMIT;")
    up.append("")
    utext = "\n".join(up)
    if re.search(r"MODULE_PATHNAME|LANGUAGE\s+C\b|\\\\ir?\s", utext):
        sys.exit("build-sql-edition: the upgrade script must not need the C library or other files")
    upath = f"build/pg_governance_sql--{frm}--{version}.sql"
    write(upath, utext)
    upgrade_paths.append(upath)

path = f"build/pg_governance_sql--{version}.sql"
write(path, text)
for upath in upgrade_paths:
    print(os.path.join(root, upath))
print(os.path.join(root, path))
