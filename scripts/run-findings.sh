#!/usr/bin/env bash
# Re-run the security review's scripts (../shared/security/findings/*.sql)
# against the server PG* points at (use inside scripts/with-cluster), each in
# a fresh database owned by the non-superuser "dbowner", as its header says.
# Output per script in log/findings/NN.out; prints whether the installer or
# an app role ended up superuser after each.  A developer's tool: the
# assertions that keep the findings fixed are test/security/*.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${FINDINGS_DIR:-../shared/security/findings}
out=log/findings; mkdir -p "$out"
q() { PGOPTIONS='-c client_min_messages=warning' psql -XqAt -U postgres "$@"; }
q -d postgres -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='dbowner') THEN CREATE ROLE dbowner LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='app_a') THEN CREATE ROLE app_a LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='app_b') THEN CREATE ROLE app_b LOGIN; END IF; END \$\$" >/dev/null
for f in "$dir"/[0-9][0-9]-*.sql; do
  n=$(basename "$f" | cut -c1-2); db=f$n
  q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db OWNER dbowner" >/dev/null
  q -d $db -c "GRANT CREATE ON SCHEMA public TO app_a, app_b" >/dev/null
  (cd "$dir" && timeout 120 psql -X -v ON_ERROR_STOP=0 -U postgres -d $db -f "$(basename "$f")") >"$out/$n.out" 2>&1
  supers=$(q -d postgres -c "SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname IN ('dbowner','app_a','app_b') AND rolsuper")
  echo "$n: superusers after: ${supers:-none}; output log/findings/$n.out"
  q -d postgres -c "ALTER ROLE dbowner NOSUPERUSER" -c "ALTER ROLE app_a NOSUPERUSER" -c "ALTER ROLE app_b NOSUPERUSER" >/dev/null
  q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
done
