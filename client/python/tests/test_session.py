"""Sessions, run, rows, errors, stats, health, configuration."""
import asyncio
import os

import pytest

import govpool
from conftest import ORIG_URL, psql


async def test_context_reaches_the_server_and_is_transaction_local(pool):
    async with pool.session(agent_id="alice", tenant_id="acme", correlation_id="req-1") as s:
        r = await s.fetchrow("SELECT current_setting('governance.agent_id') AS a,"
                             " current_setting('governance.tenant_id') AS t,"
                             " current_setting('governance.correlation_id') AS c")
    assert (r["a"], r["t"], r["c"]) == ("alice", "acme", "req-1")
    assert (r[0], r[1], r[2]) == ("alice", "acme", "req-1")
    assert list(r.keys()) == ["a", "t", "c"]
    # the next session on the same connection starts without it
    rows = await pool.run("SELECT coalesce(current_setting('governance.tenant_id', true), '') AS t",
                          agent_id="bob")
    assert rows[0]["t"] == ""


async def test_commit_on_exit_rollback_on_exception(pool):
    await pool.run("CREATE TABLE IF NOT EXISTS t_commit (v int)", agent_id="setup")
    await pool.run("TRUNCATE t_commit", agent_id="setup")
    async with pool.session(agent_id="a") as s:
        assert await s.execute("INSERT INTO t_commit VALUES ($1)", 1) == "INSERT 0 1"
    with pytest.raises(ZeroDivisionError):
        async with pool.session(agent_id="a") as s:
            await s.execute("INSERT INTO t_commit VALUES ($1)", 2)
            1 / 0
    assert await pool.run("SELECT v FROM t_commit ORDER BY v", agent_id="a") == [(1,)]
    st = pool.stats()
    assert st["sessions_rolled_back_total"] >= 1


async def test_fetch_variants(pool):
    async with pool.session(agent_id="a") as s:
        assert await s.fetch("SELECT g FROM generate_series(1,3) g") == [(1,), (2,), (3,)]
        assert await s.fetchrow("SELECT 1 WHERE false") is None
        assert await s.fetchval("SELECT 1 WHERE false") is None
        assert await s.fetchval("SELECT 1, 2", column=1) == 2
        r = await s.fetchrow("SELECT 1 AS x, 2 AS y")
        assert r.get("y") == 2 and r.get("z", 9) == 9 and len(r) == 2 and dict(r.items()) == {"x": 1, "y": 2}


async def test_query_error_has_sqlstate_and_rolls_back(pool):
    await pool.run("CREATE TABLE IF NOT EXISTS t_uniq (v int PRIMARY KEY)", agent_id="setup")
    await pool.run("TRUNCATE t_uniq", agent_id="setup")
    with pytest.raises(govpool.QueryError) as ei:
        async with pool.session(agent_id="a") as s:
            await s.execute("INSERT INTO t_uniq VALUES (1)")
            try:
                await s.execute("INSERT INTO t_uniq VALUES (1)")
            except govpool.QueryError as e:
                assert e.sqlstate == "23505"
                # the session is rolled back: later calls say so
                with pytest.raises(govpool.RolledBack):
                    await s.execute("SELECT 1")
                raise
    assert ei.value.sqlstate == "23505"
    assert isinstance(ei.value, govpool.GovpoolError)
    assert await pool.run("SELECT count(*) FROM t_uniq", agent_id="a") == [(0,)]
    with pytest.raises(govpool.QueryError) as ei:
        await pool.run("SELECT 1/0", agent_id="a")
    assert ei.value.sqlstate == "22012"


async def test_context_is_required(pool):
    with pytest.raises(govpool.MisuseError):
        async with pool.session(agent_id=None):
            pass


async def test_pool_timeout():
    async with await govpool.create_pool(pool_size=1, max_overflow=0) as p:
        async with p.session(agent_id="holder") as s:
            await s.execute("SELECT 1")
            with pytest.raises(govpool.PoolTimeout):
                async with p.session(agent_id="waiter", timeout=0.05):
                    pass
            assert p.stats()["timeouts_total"] == 1
        assert p.stats()["checked_out"] == 0


async def test_stats_text_and_health(pool):
    await pool.run("SELECT 1", agent_id="a")
    prom = pool.stats_text("prometheus")
    assert "govpool_" in prom
    assert pool.stats_text("json").startswith("{")
    text = pool.stats_text("text")
    assert "\nacquires " in text and "  (cumulative)\n" in text and "\nidle_closed " in text
    # stats() agrees with the Prometheus form on every gauge and counter,
    # under the same names (govpool_<name>), and has the quantiles
    d = pool.stats()
    prom_values = {}
    for line in prom.splitlines():
        if line.startswith("govpool_") and "quantile" not in line and "_seconds" not in line:
            name, value = line.split("{", 1)[0][len("govpool_"):], line.rsplit(" ", 1)[1]
            prom_values[name] = float(value)
    assert prom_values["acquires_total"] >= 1 and prom_values["idle_closed_total"] == 0
    circuit = {"closed": 0, "open": 1, "half_open": 2}
    for name, value in prom_values.items():
        key = "size" if name == "connections" else "circuit" if name == "circuit_state" else name
        got = circuit[d[key]] if key == "circuit" else d[key]
        assert got == value, (name, got, value)
    assert isinstance(d["query_p50_us"], float) and isinstance(d["acquire_wait_p99_us"], float)
    assert isinstance(d["acquires_total"], int) and d["circuit"] == "closed"
    with pytest.raises(ValueError):
        pool.stats_text("xml")
    h = await pool.health()
    assert h["ok"] is True and h["rtt_ms"] > 0 and h["error"] is None
    assert h["stats"]["acquires_total"] >= 2


async def test_health_reports_a_dead_server_without_raising():
    async with await govpool.create_pool(dsn="postgresql://postgres@127.0.0.1:1/x",
                                         connect_attempts=1, extensions="") as p:
        h = await p.health()
        assert h["ok"] is False and h["error"]
        with pytest.raises(govpool.ConnectError):
            await p.run("SELECT 1", agent_id="a")


async def test_database_url_and_password_not_in_messages():
    assert ORIG_URL and "@" in ORIG_URL
    async with await govpool.create_pool(dsn=ORIG_URL) as p:      # real password over TCP
        assert await p.run("SELECT 1", agent_id="a") == [(1,)]
    secret = "s3cr3t-Pa55word"
    bad = ORIG_URL.split("://", 1)[0] + "://postgres:" + secret + "@127.0.0.1:1/x?bogus=1"
    with pytest.raises(govpool.ConfigError) as ei:
        await govpool.create_pool(dsn=bad)
    assert secret not in str(ei.value) and "Pa55" not in str(ei.value)
    wrong = ORIG_URL.replace(ORIG_URL.split(":")[2].split("@")[0], secret)
    async with await govpool.create_pool(dsn=wrong, connect_attempts=1, extensions="") as p:
        with pytest.raises(govpool.ConnectError) as ei:
            await p.run("SELECT 1", agent_id="a")
        assert secret not in str(ei.value)


async def test_unknown_keyword():
    with pytest.raises(TypeError, match="unknown keyword"):
        await govpool.create_pool(poolsize=3)


async def test_pool_is_bound_to_its_loop(pool):
    def other_thread():
        async def use():
            await pool.run("SELECT 1", agent_id="a")
        return asyncio.run(use())
    with pytest.raises(govpool.WrongLoopError):
        await asyncio.get_running_loop().run_in_executor(None, other_thread)


async def test_closed_pool_raises():
    p = await govpool.create_pool()
    await p.close()
    with pytest.raises(govpool.PoolClosed):
        await p.run("SELECT 1", agent_id="a")
    await p.close()  # twice is harmless


def test_every_status_maps_to_its_exception():
    """Each libgovpool status (govpool.h's order) raises the exception named
    after it; "cancelled" is its own, not connection_lost."""
    from govpool import _govpool
    from govpool.errors import from_error
    k = 1
    while _govpool.status_name(k) != "unknown":
        e = from_error(k, "", "m")
        name = _govpool.status_name(k)
        if isinstance(e, MemoryError):
            assert name == "out_of_memory"
        else:
            assert e.status == name, (k, name, type(e))
        k += 1
    assert k > 12 and isinstance(from_error(12, "", "m"), govpool.Cancelled)


def test_uvloop():
    uvloop = pytest.importorskip("uvloop")

    async def main():
        async with await govpool.create_pool(pool_size=2, max_overflow=0) as p:
            async def one(i):
                async with p.session(agent_id=f"u{i}") as s:
                    return await s.fetchval("SELECT $1::int", i)
            assert sorted(await asyncio.gather(*(one(i) for i in range(50)))) == list(range(50))
            assert p.stats()["checked_out"] == 0
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


async def test_statement_cache_prepares_repeated_statements():
    """pool.run() and a session run a repeated statement prepared (libgovpool's
    statement cache, statement_cache_size=), with the same results; 0 turns it off."""
    for size, prepared in ((100, True), (0, False)):
        p = await govpool.create_pool(pool_size=1, max_overflow=0, statement_cache_size=size)
        try:
            sql = "SELECT $1::int * 2 AS v"
            for i in range(4):
                assert await p.run(sql, i, agent_id="a") == [(2 * i,)]
            async with p.session(agent_id="a") as s:
                assert await s.fetchval(sql, 21) == 42
                names = await s.fetchval(
                    "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", sql)
            assert (names == 1) == prepared, (size, names)
        finally:
            await p.close()
