#!/usr/bin/env bash
# make bench: every side-by-side benchmark, each in its own throwaway cluster
# (or against DATABASE_URL), printed as medians and ratios measured in this run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
make -s PG_CONFIG="$PG_CONFIG" all >/dev/null
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
echo "make bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(/usr/lib/postgresql/15/bin/postgres --version)"
for b in side audit preload python sql-edition; do
  if [ -f scripts/bench-$b.sh ]; then
    echo "== $b"
    bash scripts/bench-$b.sh
  fi
done
