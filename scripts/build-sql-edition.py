#!/usr/bin/env python3
"""Build the SQL edition: sql-edition/*.sql -> build/pg_governance_sql--VERSION.sql.

One self-contained script (psql -f), version from extension/pg_governance.control.
Lines "-- @from-c-edition KIND NAME" are replaced by the latest definition of
that object in the C edition's install and upgrade scripts (extension/sql/, in
upgrade order), so what is SQL in both editions is written once.  Prints the
path of the script as its last line.
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
for part in sorted(glob.glob("sql-edition/*.sql")):
    out.append(f"-- ==== {part} ====")
    for line in open(part).read().split("\n"):
        m = re.match(r"^-- @from-c-edition (TABLE|FUNCTION|VIEW) (\S+)$", line)
        out.append(latest(m.group(1), m.group(2)) if m else line)
text = "\n".join(out).replace("@VERSION@", version)
if re.search(r"MODULE_PATHNAME|LANGUAGE\s+C\b|\\\\ir?\s", text):
    sys.exit("build-sql-edition: the script must not need the C library or other files")

os.makedirs("build", exist_ok=True)
path = f"build/pg_governance_sql--{version}.sql"
with open(path + ".tmp", "w") as f:
    f.write(text)
os.replace(path + ".tmp", path)
print(os.path.join(root, path))
