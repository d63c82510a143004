"""Cancellation at each await never returns a dirty connection to the pool
and never loses the pool timeout; many sessions on one loop; the loop stays
responsive."""
import asyncio

import pytest

import govpool
from conftest import psql


async def clean(pool):
    """Every connection given back, and what the pool hands out next is idle
    outside any transaction, without a context."""
    st = pool.stats()
    assert st["checked_out"] == 0 and st["waiters"] == 0, st
    # no connection of the database is left inside a transaction
    assert psql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%'") == "0"
    for _ in range(st["pool_size"]):
        rows = await pool.run("SELECT coalesce(current_setting('governance.agent_id', true), '') AS a",
                              agent_id="probe")
        assert rows[0]["a"] == "probe"


async def setup_table(pool, name):
    await pool.run(f"CREATE TABLE IF NOT EXISTS {name} (v int)", agent_id="setup")
    await pool.run(f"TRUNCATE {name}", agent_id="setup")


async def test_cancel_during_statement(pool):
    await setup_table(pool, "t_cancel_stmt")
    started = asyncio.Event()

    async def victim():
        async with pool.session(agent_id="victim") as s:
            await s.execute("INSERT INTO t_cancel_stmt VALUES (1)")
            started.set()
            await s.execute("SELECT pg_sleep(30)")

    t = asyncio.create_task(victim())
    await started.wait()
    await asyncio.sleep(0)       # let the pg_sleep be sent
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    assert pool.stats()["invalidated_total"] >= 1   # closed, not returned
    await clean(pool)
    assert await pool.run("SELECT count(*) FROM t_cancel_stmt", agent_id="a") == [(0,)]


async def test_wait_for_timeout_during_run(pool):
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(pool.run("SELECT pg_sleep(30)", agent_id="a"), 0.2)
    await clean(pool)


@pytest.mark.parametrize("where", ["begin", "first", "between", "commit"])
async def test_cancel_at_each_await(pool, where):
    """Cancel the task at a chosen await of a session: the insert never commits
    (except a cancelled COMMIT, whose outcome may be either), the pool is clean."""
    await setup_table(pool, "t_cancel_each")
    gate = asyncio.Event()
    reached = asyncio.Event()

    class Hook:
        async def at(self, name):
            if name == where:
                reached.set()
                await gate.wait()

    hook = Hook()

    async def victim():
        await hook.at("begin")
        async with pool.session(agent_id="victim") as s:
            await hook.at("first")
            await s.execute("INSERT INTO t_cancel_each VALUES (1)")
            await hook.at("between")
            await s.execute("SELECT 1")
            await hook.at("commit")
    t = asyncio.create_task(victim())
    await reached.wait()
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    await clean(pool)
    assert await pool.run("SELECT count(*) FROM t_cancel_each", agent_id="a") == [(0,)]


async def test_cancel_inside_library_steps(pool):
    """Cancel after every number of loop iterations: whichever step of begin,
    statement or commit the task is in, nothing dirty comes back."""
    await setup_table(pool, "t_cancel_steps")
    for n in range(0, 12):
        async def victim():
            async with pool.session(agent_id="victim") as s:
                await s.execute("INSERT INTO t_cancel_steps VALUES (1)")
                await s.execute("SELECT 1")
        t = asyncio.create_task(victim())
        for _ in range(n):
            await asyncio.sleep(0)
        t.cancel()
        try:
            await t
        except (asyncio.CancelledError, govpool.CommitUnknown):
            pass
        await clean(pool)


async def test_cancel_while_queued_keeps_pool_timeout():
    async with await govpool.create_pool(pool_size=1, max_overflow=0, pool_timeout=1) as p:
        async with p.session(agent_id="holder") as s:
            await s.execute("SELECT 1")
            queued = [asyncio.create_task(p.run("SELECT 1", agent_id=f"q{i}")) for i in range(5)]
            for _ in range(5):
                await asyncio.sleep(0)
            assert p.stats()["waiters"] == 5
            queued[0].cancel()
            queued[2].cancel()
            for _ in range(3):
                await asyncio.sleep(0)
            assert p.stats()["waiters"] == 3
            # the others still time out on the pool timeout (it is not lost)
            res = await asyncio.gather(*queued, return_exceptions=True)
        assert isinstance(res[0], asyncio.CancelledError) and isinstance(res[2], asyncio.CancelledError)
        assert all(isinstance(r, govpool.PoolTimeout) for r in (res[1], res[3], res[4])), res
        st = p.stats()
        assert st["waiters"] == 0 and st["checked_out"] == 0
        assert await p.run("SELECT 1", agent_id="a") == [(1,)]


async def test_hundreds_of_sessions_on_a_small_pool(pool):
    async def one(i):
        async with pool.session(agent_id=f"a{i}", tenant_id=f"t{i % 7}") as s:
            v = await s.fetchval("SELECT $1::int", i)
            t = await s.fetchval("SELECT current_setting('governance.tenant_id')")
            return v, t
    res = await asyncio.gather(*(one(i) for i in range(500)))
    assert res == [(i, f"t{i % 7}") for i in range(500)]
    st = pool.stats()
    assert st["size"] <= 4 and st["exhaustion_events_total"] > 0


async def test_loop_stays_responsive():
    """A ticker keeps ticking while 1,000 sessions queue for 8 connections."""
    async with await govpool.create_pool(pool_size=8, max_overflow=0, pool_timeout=60) as p:
        ticks = 0
        done = False
        seen_busy = seen_waiting = 0

        async def ticker():
            nonlocal ticks, seen_busy, seen_waiting
            while not done:
                ticks += 1
                st = p.stats()
                seen_busy = max(seen_busy, st["checked_out"])
                seen_waiting = max(seen_waiting, st["waiters"])
                await asyncio.sleep(0)

        async def one(i):
            async with p.session(agent_id="t") as s:
                await s.execute("SELECT $1::int", i)

        tk = asyncio.create_task(ticker())
        await asyncio.gather(*(one(i) for i in range(1000)))
        done = True
        await tk
        # Not a count of ticks per session: eight sessions in flight can
        # finish in one loop iteration, and a step whose answer is already
        # in the socket completes without waiting (the server is fast enough
        # on a unix socket).  What a blocking loop cannot do is below.
        assert ticks > 1, ticks
        # The ticker ran while all 8 connections were busy and sessions queued:
        # a loop blocked inside a checkout or a statement would never show that
        assert seen_busy == 8 and seen_waiting > 900, (seen_busy, seen_waiting)
        assert p.stats()["checked_out"] == 0
