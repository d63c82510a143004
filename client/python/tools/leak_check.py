"""Leak check: N governed sessions (default 100,000) on a small pool from one
loop; fails if connections, file descriptors or memory grow after warm-up.

    python3 -X dev tools/leak_check.py [N]
    PYTHONMALLOC=debug python3 tools/leak_check.py [N]
"""
import asyncio
import gc
import os
import sys
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import govpool  # noqa: E402


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def nfds():
    return len(os.listdir("/proc/self/fd"))


async def main(n):
    async with await govpool.create_pool(pool_size=8, max_overflow=0, echo=False, extensions="pg_governance",
                                         report_interval=0) as pool:
        async def worker(k, count):
            for i in range(count):
                async with pool.session(agent_id=f"a{k}", tenant_id="t") as s:
                    await s.fetchval("SELECT $1::int", i)
                if i % 10 == 0:
                    await pool.run("SELECT 1", agent_id="r")
                if i % 97 == 0:   # a cancelled one now and then
                    t = asyncio.ensure_future(pool.run("SELECT pg_sleep(1)", agent_id="c"))
                    await asyncio.sleep(0)
                    t.cancel()
                    try:
                        await t
                    except asyncio.CancelledError:
                        pass
        tasks = 32
        warm = max(n // 10, tasks)
        await asyncio.gather(*(worker(k, warm // tasks) for k in range(tasks)))
        gc.collect()
        tracemalloc.start()
        snap0 = tracemalloc.take_snapshot()
        rss0, fd0 = rss_kb(), nfds()
        await asyncio.gather(*(worker(k, (n - warm) // tasks) for k in range(tasks)))
        gc.collect()
        snap1 = tracemalloc.take_snapshot()
        rss1, fd1 = rss_kb(), nfds()
        st = pool.stats()
        grow = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
        print(f"sessions={n} rss_kb {rss0}->{rss1} fds {fd0}->{fd1} python_heap_growth={grow}B "
              f"size={st['size']} checked_out={st['checked_out']} waiters={st['waiters']} "
              f"committed={st['sessions_committed_total']} invalidated={st['invalidated_total']}")
        ok = (st["checked_out"] == 0 and st["waiters"] == 0 and st["size"] <= 8
              and fd1 <= fd0 + 8 and grow < 256 * 1024 and rss1 - rss0 < 16 * 1024)
        print("leak check:", "ok" if ok else "FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100000)))
