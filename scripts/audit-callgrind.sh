#!/usr/bin/env bash
# Instructions per single-row INSERT into a plain and into an audited table,
# counted by callgrind in a single-user backend (postgres --single): stable
# on a noisy machine where tx/s is not.  Each table gets N1 and then N2
# INSERTs, one per transaction, in fresh backends; the difference divided by
# N2 - N1 is the cost of one INSERT with start-up cancelled out, and the
# rest is what a backend pays once (e.g. at its first audited write).
#
#   bash scripts/audit-callgrind.sh [PGBIN]     (default: pg_config --bindir)
#   AUDIT_CG_N1=500 AUDIT_CG_N2=2000            (defaults)
set -euo pipefail
PGBIN=${1:-$( (/usr/lib/postgresql/15/bin/pg_config --bindir || pg_config --bindir) 2>/dev/null)}
n1=${AUDIT_CG_N1:-500}; n2=${AUDIT_CG_N2:-2000}
command -v valgrind >/dev/null || { echo "audit-callgrind: needs valgrind" >&2; exit 1; }
d=$(mktemp -d "${TMPDIR:-/tmp}/auditcg.XXXXXX"); trap 'rm -rf "$d"' EXIT
as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres "$d"; runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$PGBIN/initdb" -D "$d/data" -A trust -U postgres >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$d/data" -o "-k $d -c listen_addresses=''" -w start -l "$d/log" >/dev/null
psql -XqAt -h "$d" -U postgres -d postgres >/dev/null <<'SQL'
CREATE EXTENSION pg_governance;
CREATE TABLE plain_t (id int, v text);
CREATE TABLE aud_t (id int, v text);
SELECT governance.enable_audit('aud_t');
SQL
as_pg "$PGBIN/pg_ctl" -D "$d/data" -w stop >/dev/null
count() {  # count TABLE N -> total instructions of a backend running N INSERTs
	local f=$d/in.$1.$2 out=$d/cg.$1.$2
	for i in $(seq "$2"); do echo "INSERT INTO $1 VALUES ($i, 'x');"; done >"$f"
	as_pg valgrind --tool=callgrind --callgrind-out-file="$out" -q \
		"$PGBIN/postgres" --single -D "$d/data" postgres <"$f" >/dev/null 2>&1
	awk '/^summary:/ {print $2}' "$out"
}
for t in plain_t aud_t; do
	a=$(count $t "$n1"); b=$(count $t "$n2")
	eval "per_$t=$(( (b - a) / (n2 - n1) ))"
	eval "once_$t=$(( a - n1 * (b - a) / (n2 - n1) ))"
done
echo "instructions per single-row INSERT (callgrind, postgres --single, $n1 and $n2 INSERTs):"
echo "  plain table:   $per_plain_t"
echo "  audited table: $per_aud_t (the audit trigger adds $((per_aud_t - per_plain_t)))"
echo "  once per backend beyond the plain table's: $((once_aud_t - once_plain_t))"
