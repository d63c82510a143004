"""govpool: governed PostgreSQL sessions for asyncio, on libgovpool.

    pool = await govpool.create_pool()            # DATABASE_URL etc., as in C
    async with pool.session(agent_id="a", tenant_id="t") as s:
        rows = await s.fetch("SELECT id, name FROM items WHERE id = $1", 7)
    await pool.run("INSERT INTO items(name) VALUES ($1)", "x", agent_id="a")
    await pool.close()

Every operation is one libgovpool non-blocking operation driven from the
event loop: each step registers the socket it waits on (add_reader /
add_writer) and a timer for its deadline; a checkout queued on an exhausted
pool waits for the library's wake (an eventfd) without a thread.  Nothing
blocks the loop, except what libgovpool documents: resolving a host name
(use an IP address or a unix socket) and the first TLS step.

Cancellation (task.cancel(), asyncio.wait_for): the operation in flight is
cancelled in libgovpool, which closes a connection that had anything in
flight instead of returning it, and the session is ended; the connection's
pool slot is freed, never handed out in an unknown state.

A pool belongs to the event loop that created it; using it from another
loop raises WrongLoopError.
"""
import asyncio
import json
import os

from . import _govpool
from ._types import Json, decoder_for, encode
from .errors import (Cancelled, CircuitOpen, CommitUnknown, ConfigError, ConnectError,
                     ConnectionLost, GovpoolError, MisuseError, PoolClosed, PoolTimeout, QueryError,
                     RolledBack, WrongLoopError, from_error)

__all__ = [
    "create_pool", "Pool", "Session", "Record", "Json",
    "GovpoolError", "ConfigError", "ConnectError", "PoolTimeout", "CircuitOpen",
    "QueryError", "ConnectionLost", "CommitUnknown", "RolledBack", "MisuseError",
    "PoolClosed", "Cancelled", "WrongLoopError",
]
__version__ = "0.1.0"

_OK = _govpool.POLL_OK
_FAILED = _govpool.POLL_FAILED
_WAITING = _govpool.POLL_WAITING

# keyword argument -> environment variable read by govpool_config_from_env
_KWARGS = {
    "dsn": "DATABASE_URL",
    "database_url": "DATABASE_URL",
    "environment": "ENVIRONMENT",
    "pool_size": "DATABASE_POOL_SIZE",
    "max_overflow": "DATABASE_MAX_OVERFLOW",
    "pool_timeout": "DATABASE_POOL_TIMEOUT",
    "pool_recycle": "DATABASE_POOL_RECYCLE",
    "connect_timeout": "DATABASE_CONNECT_TIMEOUT",
    "statement_timeout_ms": "DATABASE_STATEMENT_TIMEOUT_MS",
    "echo": "DATABASE_ECHO",
    "extensions": "GOVPOOL_EXTENSIONS",
    "report_interval": "GOVPOOL_REPORT_INTERVAL",
    "connect_attempts": "GOVPOOL_CONNECT_ATTEMPTS",
    "breaker_threshold": "GOVPOOL_BREAKER_THRESHOLD",
    "breaker_cooldown_ms": "GOVPOOL_BREAKER_COOLDOWN_MS",
    "breaker_cooldown_min_ms": "GOVPOOL_BREAKER_COOLDOWN_MIN_MS",
    "breaker_window_ms": "GOVPOOL_BREAKER_WINDOW_MS",
    "statement_cache_size": "GOVPOOL_STATEMENT_CACHE",
    "overflow_idle_ms": "GOVPOOL_OVERFLOW_IDLE_MS",
}


class Record:
    """One row: r[0], r["name"], len, iteration (values), keys(), items(), get()."""

    __slots__ = ("_values", "_index")

    def __init__(self, values, index):
        self._values = values
        self._index = index

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __len__(self):
        return len(self._values)

    def __iter__(self):
        return iter(self._values)

    def __eq__(self, other):
        if isinstance(other, Record):
            return self._values == other._values
        if isinstance(other, tuple):
            return self._values == other
        return NotImplemented

    def __hash__(self):
        return hash(self._values)

    def get(self, key, default=None):
        i = self._index.get(key)
        return default if i is None else self._values[i]

    def keys(self):
        return self._index.keys()

    def values(self):
        return self._values

    def items(self):
        return zip(self._index.keys(), self._values)

    def __repr__(self):
        return "<Record " + " ".join(f"{k}={v!r}" for k, v in self.items()) + ">"


def _records(res):
    cols, rows, _status = res
    index = {}
    for i, (name, _oid) in enumerate(cols):
        index.setdefault(name, i)
    decs = [(i, d) for i, (_n, oid) in enumerate(cols) if (d := decoder_for(oid)) is not None]
    out = []
    for row in rows:
        if decs:
            row = list(row)
            for i, d in decs:
                v = row[i]
                if v is not None:
                    row[i] = d(v)
            row = tuple(row)
        out.append(Record(row, index))
    return out


def _params(args):
    return [encode(a) for a in args]


def _wake_future(fut):
    if not fut.done():
        fut.set_result(None)


class Pool:
    """Use create_pool(); see the module docstring."""

    def __init__(self, cpool, loop):
        self._c = cpool
        self._loop = loop
        self._free = []            # idle op handles, reused
        self._waiting = {}         # op -> future: queued checkouts
        self._busy = set()         # op handles in use
        self._sessions = set()     # open sessions (cancelled by close)
        self._closed = False
        loop.add_reader(self._c.wake_fd, self._on_wakes)

    # -- the driver --

    def _check(self):
        if self._closed:
            raise PoolClosed("the pool is closed")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._loop:
            raise WrongLoopError("this pool belongs to the event loop that created it; "
                                 "create one pool per event loop")

    def _on_wakes(self):
        for op in self._c.take_wakes():
            fut = self._waiting.get(op)
            if fut is not None:
                _wake_future(fut)

    def _op(self):
        op = self._free.pop() if self._free else self._c.op()
        self._busy.add(op)
        return op

    def _put(self, op):
        self._busy.discard(op)
        if self._closed:
            return
        self._free.append(op)

    async def _drive(self, op):
        """Poll op until it finishes; returns True on success, False on failure."""
        loop = self._loop
        while True:
            st, fd, want_r, want_w, deadline = op.poll()
            if st == _OK:
                return True
            if st == _FAILED:
                return False
            fut = loop.create_future()
            if want_r and fd >= 0:
                loop.add_reader(fd, _wake_future, fut)
            if want_w and fd >= 0:
                loop.add_writer(fd, _wake_future, fut)
            timer = None
            if deadline >= 0:
                delay = (deadline - _govpool.now_ns()) / 1e9
                timer = loop.call_later(delay if delay > 0 else 0, _wake_future, fut)
            if st == _WAITING:
                self._waiting[op] = fut
            try:
                await fut
            except BaseException:
                # unregister while the socket is still open, then cancel
                self._unwatch(op, fd, want_r, want_w, timer, st)
                op.cancel()
                raise
            self._unwatch(op, fd, want_r, want_w, timer, st)

    def _unwatch(self, op, fd, want_r, want_w, timer, st):
        if want_r and fd >= 0:
            self._loop.remove_reader(fd)
        if want_w and fd >= 0:
            self._loop.remove_writer(fd)
        if timer is not None:
            timer.cancel()
        if st == _WAITING:
            self._waiting.pop(op, None)

    def _raise(self, op):
        raise from_error(*op.error())

    # -- public API --

    def session(self, agent_id, tenant_id=None, correlation_id=None, timeout=None):
        """A governed transaction: `async with pool.session(agent_id=...) as s:`.
        timeout: seconds to wait for a connection (default: the pool's)."""
        return Session(self, agent_id, tenant_id, correlation_id, timeout)

    async def run(self, sql, *args, agent_id, tenant_id=None, correlation_id=None):
        """One governed statement in one round trip (the prepared context and the
        statement up to one Sync: one implicit transaction); returns the rows (a
        list of Record; [] for commands)."""
        self._check()
        params = _params(args)
        op = self._op()
        try:
            if op.run_start(agent_id, tenant_id, correlation_id, sql, params) != 0:
                self._raise(op)
            if not await self._drive(op):
                self._raise(op)
            res = op.result()
            return [] if res is None else _records(res)
        finally:
            self._put(op)

    async def health(self):
        """Check out a connection and run SELECT 1: {"ok", "rtt_ms", "error", "stats"}."""
        self._check()
        op = self._op()
        t0 = self._loop.time()
        try:
            op.health_start()
            ok = await self._drive(op)
            err = None if ok else op.error()[2]
        finally:
            self._put(op)
        return {"ok": ok, "rtt_ms": (self._loop.time() - t0) * 1000.0,
                "error": err, "stats": self.stats()}

    def stats(self):
        """libgovpool's stats snapshot: current values and *_total counters.

        Made from the library's JSON form, which its one table of fields
        drives (as Prometheus and the server report): a field added there
        appears here.  Configuration and current values keep their names;
        cumulative counters get "_total", the latency quantiles ("_us") not.
        """
        if self._closed:
            raise PoolClosed("the pool is closed")
        doc = json.loads(self._c.stats_text("json"))
        d = {k: v for k, v in doc.items() if not isinstance(v, (dict, str))}
        d.update(doc["current"])
        for k, v in doc["cumulative"].items():
            d[k if k.endswith("_us") else k + "_total"] = v
        return d

    def stats_text(self, fmt="json"):
        """The snapshot as "json", "prometheus" or "text"."""
        if self._closed:
            raise PoolClosed("the pool is closed")
        return self._c.stats_text(fmt)

    async def close(self):
        """Close the pool.  Sessions still open are cancelled (their connections
        closed, nothing committed)."""
        if self._closed:
            return
        self._check()
        self._closed = True
        self._loop.remove_reader(self._c.wake_fd)
        for op in list(self._busy):
            op.cancel()
        for s in list(self._sessions):
            s._abandon()
        self._free.clear()
        self._busy.clear()
        self._waiting.clear()
        import gc
        gc.collect()
        try:
            # The pool's goodbye report is a round trip: made in a worker
            # thread, so the loop goes on serving while it travels.
            await self._loop.run_in_executor(None, self._c.close)
        except RuntimeError:
            pass  # a handle is still referenced; the pool is freed with it

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


class Session:
    """A governed transaction on one pooled connection (from Pool.session).

    The context (agent, tenant, correlation id) is sent, sealed, in the same
    round trip as the first statement.  Normal exit commits; an exception
    (including cancellation) rolls back.  After a failed statement the
    session is rolled back and later calls raise RolledBack."""

    def __init__(self, pool, agent_id, tenant_id, correlation_id, timeout):
        self._pool = pool
        self._ctx = (agent_id, tenant_id, correlation_id)
        self._timeout_ms = -1 if timeout is None else int(timeout * 1000)
        self._h = None
        self._op = None

    async def __aenter__(self):
        pool = self._pool
        pool._check()
        op = pool._op()
        try:
            if op.begin_start(*self._ctx, self._timeout_ms) != 0:
                pool._raise(op)
            if not await pool._drive(op):
                pool._raise(op)
            self._h = op.session()
        except BaseException:
            pool._put(op)
            raise
        self._op = op
        pool._sessions.add(self)
        return self

    async def __aexit__(self, exc_type, exc, tb):
        if exc_type is None:
            await self.commit()
        elif exc_type is asyncio.CancelledError or not isinstance(exc, Exception):
            self._abandon()
        else:
            await self.rollback()
        return False

    def _end(self):
        self._pool._sessions.discard(self)
        self._h = None
        if self._op is not None:
            self._pool._put(self._op)
            self._op = None

    def _abandon(self):
        """End the session without waiting: start its rollback and cancel it
        at once (libgovpool closes the connection if anything was in flight)."""
        if self._h is None:
            return
        op = self._op
        op.rollback_start(self._h)
        op.cancel()
        op.poll()
        self._end()

    async def _exec(self, sql, args):
        if self._h is None:
            raise MisuseError("the session has ended")
        self._pool._check()
        op = self._op
        if op.exec_start(self._h, sql, _params(args)) != 0:
            self._pool._raise(op)
        if not await self._pool._drive(op):
            self._pool._raise(op)
        return op.result()

    async def execute(self, sql, *args):
        """Run a statement; returns its command status ("INSERT 0 1", ...)."""
        res = await self._exec(sql, args)
        return "" if res is None else res[2]

    async def fetch(self, sql, *args):
        """Run a statement; returns its rows as a list of Record."""
        res = await self._exec(sql, args)
        return [] if res is None else _records(res)

    async def fetchrow(self, sql, *args):
        """The first row, or None."""
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql, *args, column=0):
        """One value of the first row, or None when there is no row."""
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[column]

    async def commit(self):
        """COMMIT and give the connection back (the context manager does it)."""
        if self._h is None:
            return
        op = self._op
        h, self._h = self._h, None
        try:
            op.commit_start(h)
            if not await self._pool._drive(op):
                self._pool._raise(op)
        finally:
            self._h = None
            self._end()

    async def rollback(self):
        """ROLLBACK and give the connection back."""
        if self._h is None:
            return
        op = self._op
        h, self._h = self._h, None
        try:
            op.rollback_start(h)
            await self._pool._drive(op)
        finally:
            self._end()


async def create_pool(env=None, **kwargs):
    """A pool configured like libgovpool's govpool_config_from_env (DATABASE_URL in
    every form, ENVIRONMENT, Cloud SQL, K_SERVICE, ...), with keyword overrides
    (dsn=, pool_size=, max_overflow=, pool_timeout= (s), extensions=, echo=, ...)
    or env={VARIABLE: value} for any other variable."""
    loop = asyncio.get_running_loop()
    overrides = {k: str(v) for k, v in (env or {}).items()}
    for k, v in kwargs.items():
        var = _KWARGS.get(k)
        if var is None:
            raise TypeError(f"create_pool: unknown keyword {k!r} (known: {', '.join(sorted(_KWARGS))};"
                            " or env={{VARIABLE: value}})")
        if isinstance(v, bool):
            v = "true" if v else "false"
        overrides[var] = str(v)
    # govpool_create opens a connection when GOVPOOL_EXTENSIONS is set (to create
    # them): a blocking start-up step, so it runs in the default executor, once.
    try:
        cpool = await loop.run_in_executor(None, _govpool.Pool, overrides)
    except ValueError as e:
        # the C layer raises ValueError(kind, sqlstate, message)
        if len(e.args) == 3 and isinstance(e.args[0], int):
            raise from_error(*e.args) from None
        raise
    return Pool(cpool, loop)
