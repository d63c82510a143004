"""Exceptions mirroring govpool_status.  Messages come from libgovpool,
which redacts credentials: no password, nor a piece of one, is in them."""

__all__ = [
    "GovpoolError", "ConfigError", "ConnectError", "PoolTimeout", "CircuitOpen",
    "QueryError", "ConnectionLost", "CommitUnknown", "RolledBack", "MisuseError",
    "PoolClosed", "Cancelled", "WrongLoopError",
]


class GovpoolError(Exception):
    """Base: .status (libgovpool's status name), .sqlstate ("" unless a server error)."""

    status = "error"

    def __init__(self, message, sqlstate=""):
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate or ""


class ConfigError(GovpoolError, ValueError):
    status = "config"


class ConnectError(GovpoolError):
    status = "connect"


class PoolTimeout(GovpoolError, TimeoutError):
    """No connection within the pool timeout."""
    status = "timeout"


class CircuitOpen(GovpoolError):
    status = "circuit_open"


class QueryError(GovpoolError):
    """The server reported an error; .sqlstate says which."""
    status = "query"


class ConnectionLost(GovpoolError):
    """The connection broke before COMMIT was sent: nothing was committed."""
    status = "connection_lost"


class CommitUnknown(GovpoolError):
    """The connection broke, or the operation was cancelled, after COMMIT was
    sent: the outcome is unknown; never retried."""
    status = "commit_unknown"


class Cancelled(GovpoolError):
    """The operation was cancelled in libgovpool (govpool_op_cancel) before any
    COMMIT of it could have run: nothing was committed, its connection was
    closed.  A task that is itself cancelled sees asyncio.CancelledError, not
    this; this is what an operation sees that was cancelled under it (for
    example by pool.close())."""
    status = "cancelled"


class RolledBack(GovpoolError):
    """The session was already rolled back by an earlier error."""
    status = "rolled_back"


class MisuseError(GovpoolError):
    status = "misuse"


class PoolClosed(GovpoolError):
    status = "closed"


class WrongLoopError(GovpoolError, RuntimeError):
    """A pool is bound to the event loop that created it."""
    status = "misuse"


# govpool_status values, in govpool.h's order (never renumbered)
_BY_KIND = {
    1: ConfigError, 2: MemoryError, 3: ConnectError, 4: PoolTimeout, 5: CircuitOpen,
    6: QueryError, 7: ConnectionLost, 8: CommitUnknown, 9: RolledBack,
    10: MisuseError, 11: PoolClosed, 12: Cancelled,
}


def from_error(kind, sqlstate, message):
    cls = _BY_KIND.get(kind, GovpoolError)
    if cls is MemoryError:
        return MemoryError(message)
    return cls(message, sqlstate)
