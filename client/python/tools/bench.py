"""Governed transactions per second from one Python process, side by side.

    scripts/with-cluster -- /usr/bin/python3 client/python/tools/bench.py [SECONDS]

Each driver runs the same governed transaction (BEGIN; governance.set_context
(agent, tenant, correlation, true); the statement; COMMIT) from N tasks on one
event loop, N = 1, 16, 64, for SELECT 1 and a primary-key lookup, with a pool
of 10 connections over TCP (DATABASE_URL):
  govpool run      pool.run(): the whole transaction in one round trip
  govpool session  async with pool.session(): s.fetchval()
  asyncpg          asyncpg.create_pool: acquire, transaction, set_context, statement
  psycopg_pool     psycopg 3 AsyncConnectionPool: connection, transaction, set_context, statement
  sqlalchemy       SQLAlchemy 1.4 async engine on asyncpg, AsyncSession.begin() (the seed stack)
and, as the yardstick of the moonshot (a governed transaction as fast as an
ungoverned statement), one more that is not governed:
  asyncpg ungov.   asyncpg's pool: pool.fetchval(statement), no transaction, no context
Prints tx/s, p50/p99 in ms, and govpool's ratios to the others.
"""
import asyncio
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import govpool  # noqa: E402

URL = os.environ["DATABASE_URL"]
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
POOL = 10
CTX = ("bench-agent", "bench-tenant", "bench-1")
SET = "SELECT governance.set_context($1, $2, $3, true)"
QUERIES = {"select1": ("SELECT 1", False), "pk": ("SELECT v FROM bench_items WHERE id = $1", True)}


def setup():
    sql = ("CREATE EXTENSION IF NOT EXISTS pg_governance;"
           "DROP TABLE IF EXISTS bench_items;"
           "CREATE TABLE bench_items (id int PRIMARY KEY, v text);"
           "INSERT INTO bench_items SELECT g, 'v' || g FROM generate_series(1, 10000) g;"
           "ANALYZE bench_items;")
    subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True)


async def measure(tx, n):
    lat = []
    stop = time.perf_counter() + SECONDS

    async def worker():
        rnd = random.Random()
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            await tx(rnd.randint(1, 10000))
            lat.append(time.perf_counter() - t0)
    # warm-up at this concurrency: every pool opens its connections first
    await asyncio.gather(*(tx(i + 1) for i in range(max(n, POOL) * 3)))
    stop = time.perf_counter() + SECONDS
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(n)))
    el = time.perf_counter() - t0
    lat.sort()
    return len(lat) / el, lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3


async def drivers():
    out = {}
    gp = await govpool.create_pool(dsn=URL, pool_size=POOL, max_overflow=0, echo=False,
                                   report_interval=0)

    def gp_run(sql, param):
        async def tx(i):
            await gp.run(sql, *((i,) if param else ()), agent_id=CTX[0], tenant_id=CTX[1],
                         correlation_id=CTX[2])
        return tx

    def gp_session(sql, param):
        async def tx(i):
            async with gp.session(agent_id=CTX[0], tenant_id=CTX[1], correlation_id=CTX[2]) as s:
                await s.fetchval(sql, *((i,) if param else ()))
        return tx
    out["govpool run"] = (gp_run, gp.close)
    out["govpool session"] = (gp_session, None)
    try:
        import asyncpg
        ap = await asyncpg.create_pool(URL, min_size=POOL, max_size=POOL)

        def ap_tx(sql, param):
            async def tx(i):
                async with ap.acquire() as c:
                    async with c.transaction():
                        await c.execute(SET, *CTX)
                        await c.fetchval(sql, *((i,) if param else ()))
            return tx
        out["asyncpg"] = (ap_tx, ap.close)

        def ap_ungoverned(sql, param):
            async def tx(i):
                await ap.fetchval(sql, *((i,) if param else ()))
            return tx
        out["asyncpg ungov."] = (ap_ungoverned, None)
    except ImportError:
        pass
    try:
        from psycopg_pool import AsyncConnectionPool
        pp = AsyncConnectionPool(URL, min_size=POOL, max_size=POOL, open=False)
        await pp.open(wait=True)

        def pp_tx(sql, param):
            psql_ = sql.replace("$1", "%s")
            pset = SET.replace("$1", "%s").replace("$2", "%s").replace("$3", "%s")

            async def tx(i):
                async with pp.connection() as c:
                    async with c.transaction():
                        await c.execute(pset, CTX)
                        await (await c.execute(psql_, (i,) if param else ())).fetchone()
            return tx
        out["psycopg_pool"] = (pp_tx, pp.close)
    except ImportError:
        pass
    try:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
        from sqlalchemy.orm import sessionmaker
        eng = create_async_engine(URL.replace("postgresql://", "postgresql+asyncpg://", 1),
                                  pool_size=POOL, max_overflow=0)
        Session = sessionmaker(eng, class_=AsyncSession, expire_on_commit=False)
        tset = text("SELECT governance.set_context(:a, :t, :c, true)")

        def sa_tx(sql, param):
            q = text(sql.replace("$1", ":i"))

            async def tx(i):
                async with Session() as s:
                    async with s.begin():
                        await s.execute(tset, {"a": CTX[0], "t": CTX[1], "c": CTX[2]})
                        (await s.execute(q, {"i": i} if param else {})).scalar()
            return tx
        out["sqlalchemy"] = (sa_tx, eng.dispose)
    except ImportError:
        pass
    return out


async def main():
    setup()
    ds = await drivers()
    res = {}
    print(f"{SECONDS:g} s per cell, pool of {POOL}, one process, {sys.version.split()[0]}")
    print(f"{'driver':16} {'query':8} {'tasks':>5} {'tx/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for qname, (sql, param) in QUERIES.items():
        for n in (1, 16, 64):
            for name, (mk, _close) in ds.items():
                r = await measure(mk(sql, param), n)
                res[(name, qname, n)] = r
                print(f"{name:16} {qname:8} {n:5} {r[0]:9.0f} {r[1]:8.2f} {r[2]:8.2f}", flush=True)
    print("\ngovpool run / other (tx/s; p99 other / govpool run):")
    for qname in QUERIES:
        for n in (1, 16, 64):
            g = res[("govpool run", qname, n)]
            parts = [f"{o}: {g[0] / res[(o, qname, n)][0]:.2f}x tx/s, p99 {res[(o, qname, n)][2] / g[2]:.2f}x"
                     for o in ds if o != "govpool run"]
            print(f"  {qname:8} {n:3} tasks: " + "; ".join(parts))
    for name, (_mk, close) in ds.items():
        if close:
            r = close()
            if asyncio.iscoroutine(r):
                await r


asyncio.run(main())
