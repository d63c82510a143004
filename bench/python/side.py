"""The Python stacks of scripts/bench-side.sh: one governed transaction per loop.

    /usr/bin/python3 bench/python/side.py --stack sqlalchemy|sqlalchemy-core|asyncpg
        [--workload select1|pk] [-c CLIENTS] [-T SECONDS] [-W WARMUP] --url URL

Every transaction is BEGIN; SELECT governance.set_context($1, $2, $3, true)
(agent, tenant, correlation as bind parameters); the statement; COMMIT, on a
connection checked out of the stack's pool and returned after:

  sqlalchemy       the seed documents' stack: SQLAlchemy 1.4 AsyncEngine on asyncpg
                   (create_async_engine("postgresql+asyncpg://...", pool_size=20,
                   max_overflow=10, pool_pre_ping=True)) used as get_db_session()
                   does: an AsyncSession per request, session.begin(), text()
                   statements with bound parameters
  sqlalchemy-core  the same engine without the ORM session: engine.begin()
                   (not run by default; how much of the cost is the session)
  asyncpg          asyncpg.create_pool(min_size=20, max_size=30):
                   pool.acquire(), con.transaction(), con.execute / fetchval

The pool holds min(CLIENTS, 20) open connections before the clock starts.
CLIENTS asyncio tasks in one event loop (one process, as an async service
worker runs) loop until WARMUP + SECONDS have passed; transactions that end in
the warm-up are not counted.  Uses Debian's python3-sqlalchemy (1.4) and
python3-asyncpg: run it with /usr/bin/python3.  The last line is
    summary: stack=... workload=... clients=N seconds=S tx=N errors=N tps=N p50_ms=N p99_ms=N
"""
import argparse
import asyncio
import math
import random
import sys
import time

PK_ROWS = 10000
SET_CTX = "SELECT governance.set_context($1, $2, $3, true)"
SET_CTX_NAMED = "SELECT governance.set_context(:agent, :tenant, :corr, true)"


def percentile(values, q):
    if not values:
        return 0.0
    i = max(0, math.ceil(q * len(values)) - 1)
    return values[min(i, len(values) - 1)]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stack", required=True, choices=["sqlalchemy", "sqlalchemy-core", "asyncpg"])
    ap.add_argument("--workload", default="select1", choices=["select1", "pk"])
    ap.add_argument("-c", type=int, default=16)
    ap.add_argument("-T", type=float, default=3.0)
    ap.add_argument("-W", type=float, default=0.3)
    ap.add_argument("--url", required=True, help="postgresql://user@host:port/db")
    a = ap.parse_args()
    pk = a.workload == "pk"
    errors = 0
    last_error = None
    lat = []
    clock = time.perf_counter

    if a.stack.startswith("sqlalchemy"):
        import sqlalchemy
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
        from sqlalchemy.orm import sessionmaker

        if not sqlalchemy.__version__.startswith("1.4."):
            print(f"side.py: SQLAlchemy {sqlalchemy.__version__}, expected 1.4.x", file=sys.stderr)
        engine = create_async_engine(a.url.replace("postgresql://", "postgresql+asyncpg://", 1),
                                     pool_size=20, max_overflow=10, pool_pre_ping=True)
        Session = sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        set_ctx = text(SET_CTX_NAMED)
        stmt = text("SELECT v FROM bench_side_kv WHERE id = :id" if pk else "SELECT 1")

        if a.stack == "sqlalchemy":
            async def tx(agent, corr, key):
                async with Session() as session:
                    async with session.begin():
                        await session.execute(set_ctx, {"agent": agent, "tenant": "bench", "corr": corr})
                        r = await session.execute(stmt, {"id": key} if pk else {})
                        if r.scalar_one() is None:
                            raise RuntimeError("no row")
        else:
            async def tx(agent, corr, key):
                async with engine.begin() as conn:
                    await conn.execute(set_ctx, {"agent": agent, "tenant": "bench", "corr": corr})
                    r = await conn.execute(stmt, {"id": key} if pk else {})
                    if r.scalar_one() is None:
                        raise RuntimeError("no row")

        async def close():
            await engine.dispose()

        async def prewarm(k):
            conns = await asyncio.gather(*(engine.connect() for _ in range(k)))
            for conn in conns:
                await conn.close()
    else:
        import asyncpg

        pool = await asyncpg.create_pool(a.url, min_size=20, max_size=30)
        stmt = "SELECT v FROM bench_side_kv WHERE id = $1" if pk else "SELECT 1"

        async def tx(agent, corr, key):
            async with pool.acquire() as con:
                async with con.transaction():
                    await con.execute(SET_CTX, agent, "bench", corr)
                    v = await (con.fetchval(stmt, key) if pk else con.fetchval(stmt))
                    if v is None:
                        raise RuntimeError("no row")

        async def close():
            await pool.close()

        async def prewarm(k):
            pass  # create_pool opened min_size (20) connections

    # the connections the pool keeps are open before the clock starts
    await prewarm(min(a.c, 20))
    start = clock()
    measure_from = start + a.W
    measure_to = measure_from + a.T

    async def client(i):
        nonlocal errors, last_error
        agent = f"bench-{i}"
        rng = random.Random(i * 7919 + int(start * 1e6))
        seq = 0
        t0 = clock()
        while t0 < measure_to:
            seq += 1
            try:
                await tx(agent, f"req-{i}-{seq}", rng.randint(1, PK_ROWS))
            except Exception as e:  # counted, and the loop goes on
                errors += 1
                last_error = repr(e)
                t1 = clock()
            else:
                t1 = clock()
                if measure_from <= t1 < measure_to:
                    lat.append((t1 - t0) * 1e3)
            t0 = t1

    await asyncio.gather(*(client(i) for i in range(a.c)))
    await close()
    lat.sort()
    if last_error:
        print(f"last error: {last_error}")
    print(f"summary: stack={a.stack} workload={a.workload} clients={a.c} seconds={a.T:.2f} "
          f"tx={len(lat)} errors={errors} tps={len(lat) / a.T:.1f} "
          f"p50_ms={percentile(lat, 0.50):.3f} p99_ms={percentile(lat, 0.99):.3f}")
    return 0 if lat else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
