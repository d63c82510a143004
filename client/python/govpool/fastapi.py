"""FastAPI integration: a governed session per request, and /health/db.

    from fastapi import Depends, FastAPI, Request
    from govpool.fastapi import GovernedDB

    def context(request: Request):          # the app decides where it comes from:
        claims = verify_jwt(request)        # a verified token, never a bare header
        return {"agent_id": claims["sub"], "tenant_id": claims["tenant"],
                "correlation_id": request.headers.get("x-request-id")}

    db = GovernedDB(context)                # pool from the environment at startup
    app = FastAPI()
    db.install(app)                         # startup/shutdown, GET /health/db

    @app.get("/items")
    async def items(s = Depends(db.session)):
        return [dict(r.items()) for r in await s.fetch("SELECT id, name FROM items")]

db.session is the seeds' get_db_session(): it opens a governed session with
the request's context, yields it, commits when the endpoint returns, and
rolls back when it raises (HTTPException included).  FastAPI runs the code
after a dependency's yield once the endpoint has finished: with FastAPI
before 0.106 that is after the response was sent, so a failing COMMIT can no
longer change the response (it is logged by the server and the connection is
cleaned up); endpoints that must report a commit failure call
`await s.commit()` themselves before returning.

FastAPI is only imported by this module, not by `govpool`.
"""
import inspect

import govpool

try:
    from fastapi import Request
    from fastapi.responses import JSONResponse
except ImportError as e:  # pragma: no cover
    raise ImportError("govpool.fastapi needs FastAPI (Debian: python3-fastapi)") from e

__all__ = ["GovernedDB"]


class GovernedDB:
    """context(request) -> {"agent_id", "tenant_id", "correlation_id"} (sync or async;
    raise an HTTPException to refuse the request).  Pool options as for create_pool."""

    def __init__(self, context, **pool_options):
        self._context = context
        self._options = pool_options
        self.pool = None

    async def startup(self):
        if self.pool is None:
            self.pool = await govpool.create_pool(**self._options)

    async def shutdown(self):
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    def install(self, app, health_path="/health/db"):
        """Create the pool at startup, close it at shutdown, add GET health_path."""
        app.add_event_handler("startup", self.startup)
        app.add_event_handler("shutdown", self.shutdown)
        if health_path:
            app.add_api_route(health_path, self.health, methods=["GET"], include_in_schema=False)

    async def session(self, request: Request):
        """The dependency: one governed session per request."""
        ctx = self._context(request)
        if inspect.isawaitable(ctx):
            ctx = await ctx
        if self.pool is None:
            raise RuntimeError("govpool.fastapi: the pool is not started (call db.install(app))")
        async with self.pool.session(agent_id=ctx.get("agent_id"),
                                     tenant_id=ctx.get("tenant_id"),
                                     correlation_id=ctx.get("correlation_id")) as s:
            yield s

    async def health(self):
        """200 {"status": "ok", ...} or 503 {"status": "unavailable", "error": ...}."""
        if self.pool is None:
            return JSONResponse({"status": "unavailable", "error": "pool not started"}, status_code=503)
        h = await self.pool.health()
        st = h["stats"]
        body = {"status": "ok" if h["ok"] else "unavailable",
                "rtt_ms": round(h["rtt_ms"], 3),
                "pool": {k: st[k] for k in ("size", "checked_out", "idle", "waiters", "circuit")}}
        if not h["ok"]:
            body["error"] = h["error"]
        return JSONResponse(body, status_code=200 if h["ok"] else 503)
