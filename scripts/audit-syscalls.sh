#!/usr/bin/env bash
# What a 100-row INSERT costs that instruction counts (scripts/audit-callgrind.sh)
# do not show: system calls and WAL bytes per statement, into a table with no
# trigger and into one with governance.enable_audit(), in one backend each.
# strace -c on the backend counts its system calls (brk() calls are the heap
# growing and shrinking: page-table work in the kernel); WAL bytes come from
# pg_current_wal_insert_lsn() around the run.
#
#   bash scripts/audit-syscalls.sh        throwaway cluster (scripts/with-cluster)
#   AUDIT_SC_N=1500                       statements per table (default)
# Needs strace and root (or ptrace rights over the server's processes).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.bash
bench_in_cluster "$0" "$@"
command -v strace >/dev/null || { echo "audit-syscalls: needs strace" >&2; exit 1; }
n=${AUDIT_SC_N:-1500}
db=governance_syscalls
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
psql -XqAt -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -XqAt -d $db -c "CREATE EXTENSION pg_governance" >/dev/null
psql -XqAt -v client_min_messages=warning -d $db -f bench/audit-setup.sql >/dev/null
echo "audit-syscalls: $n prepared 100-row INSERTs per table, one backend each, per statement:"
for v in none gov; do
  {
    echo "PREPARE ins AS INSERT INTO bench_$v (account, amount, note) SELECT \$1, g, 'multi-row bench note' FROM generate_series(1, 100) g;"
    for i in $(seq 50); do echo "EXECUTE ins($i);"; done          # warm-up
    echo "\\o $work/pid_$v"; echo "SELECT pg_backend_pid(), pg_current_wal_insert_lsn();"; echo "\\o"
    echo "SELECT pg_sleep(1);"                                       # strace attaches
    for i in $(seq "$n"); do echo "EXECUTE ins($i);"; done
    echo "\\o $work/lsn_$v"; echo "SELECT pg_current_wal_insert_lsn();"; echo "\\o"
  } >"$work/$v.sql"
  psql -XqAt -d $db -f "$work/$v.sql" >/dev/null &
  client=$!
  while [ ! -s "$work/pid_$v" ]; do sleep 0.1; done
  IFS='|' read -r pid lsn0 <"$work/pid_$v"
  strace -c -p "$pid" -o "$work/strace_$v" 2>/dev/null &
  tracer=$!
  wait "$client"
  kill -INT "$tracer" 2>/dev/null || true; wait "$tracer" 2>/dev/null || true
  wal=$(psql -XqAt -d $db -c "SELECT pg_wal_lsn_diff('$(cat "$work/lsn_$v")', '$lsn0')")
  calls=$(awk -v n="$n" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" {
             printf "%s %.2f, ", $NF, $4 / n }' "$work/strace_$v")
  printf '  %-5s WAL %d bytes; system calls: %s\n' "$v" "$(( ${wal%.*} / n ))" "${calls%, }"
done
