#!/usr/bin/env bash
# Governed transactions from one Python process: govpool (client/python) vs
# asyncpg's pool, psycopg 3's AsyncConnectionPool and SQLAlchemy 1.4 async on
# asyncpg (the seed stack); 1/16/64 tasks; SELECT 1 and a PK lookup.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -C client/python >/dev/null
GOVPOOL_LOG_LEVEL=error scripts/with-cluster -- /usr/bin/python3 client/python/tools/bench.py "${BENCH_SECONDS:-5}"
