#!/bin/bash
# Clients that pause between transactions (think time): connections opened
# per transaction and tx/s with GOVPOOL_OVERFLOW_IDLE_MS=0 (SQLAlchemy
# QueuePool's rule: an overflow connection closes when pool_size are idle)
# against the default (10 s), in alternating rounds.  Run it on a
# throwaway cluster after `make -C client bench`:
#   scripts/with-cluster -- bash scripts/bench-overflow-pause.sh
set -e
cd "$(dirname "$0")/.."
psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS pz" >/dev/null 2>&1
psql -XqAt -d postgres -c "CREATE DATABASE pz" >/dev/null
psql -XqAt -d pz -c "CREATE EXTENSION pg_governance" -f bench/side-setup.sql >/dev/null
B=client/build/bench/side_libpq
for round in 1 2 3; do
for cfg in "1 15 16 2" "5 20 24 5"; do
  set -- $cfg
  for oi in 0 10000; do
    out=$(env ENVIRONMENT=prod DATABASE_URL="postgresql:///pz?host=$PGHOST&port=$PGPORT" DATABASE_POOL_SIZE=$1 DATABASE_MAX_OVERFLOW=$2 GOVPOOL_OVERFLOW_IDLE_MS=$oi DATABASE_STATEMENT_TIMEOUT_MS=0 \
      $B --stack gov-run --workload select1 -c $3 -T 3 -W 0.5 --pause-ms $4)
    echo "round=$round pool=$1+$2 threads=$3 pause_ms=$4 overflow_idle_ms=$oi $(echo "$out" | grep -o 'connects=.*') $(echo "$out" | grep -o 'tps=[0-9.]* p50_ms=[0-9.]* p99_ms=[0-9.]*')"
  done
done
done
