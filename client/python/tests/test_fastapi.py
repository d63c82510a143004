"""The FastAPI example (examples/fastapi_items) through its ASGI app with
httpx, against the real server: the context reaches RLS and the audit trail,
a refused write lands in denied_log, a request that raises rolls back."""
import importlib
import os
import sys
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from conftest import DB, SQL_EDITION, psql  # noqa: E402

HERE = os.path.dirname(__file__)
EXAMPLE = os.path.join(HERE, "..", "examples", "fastapi_items")


@pytest.fixture
async def client():
    psql("DROP TABLE IF EXISTS items")
    psql("DO $$ BEGIN CREATE ROLE items_app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    if not SQL_EDITION:
        psql("CREATE EXTENSION IF NOT EXISTS pg_governance")
    with open(os.path.join(EXAMPLE, "schema.sql")) as f:
        subprocess_psql_file(f.name)
    sys.path.insert(0, EXAMPLE)
    try:
        app_mod = importlib.import_module("app")
    finally:
        sys.path.remove(EXAMPLE)
    host = os.environ.get("PGHOST", "/tmp")
    app_mod.db._options.update(dsn=f"postgresql://items_app@/{DB}?host={host}", extensions="",
                               pool_size=2, max_overflow=0)
    await app_mod.db.startup()
    async with httpx.AsyncClient(app=app_mod.app, base_url="http://items") as c:
        c.db = app_mod.db
        yield c
    if app_mod.db.pool is not None:
        st = app_mod.db.pool.stats()
        assert st["checked_out"] == 0, st
    await app_mod.db.shutdown()


def subprocess_psql_file(path):
    import subprocess
    subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", DB, "-f", path],
                   check=True, capture_output=True)


def h(agent, tenant, **extra):
    return {"x-agent-id": agent, "x-tenant-id": tenant, "x-request-id": "req-" + agent, **extra}


async def test_crud_rls_and_audit(client):
    r = await client.post("/items", json={"name": "apple", "price": 1.5}, headers=h("alice", "acme"))
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["tenant_id"] == "acme"
    assert (await client.post("/items", json={"name": "pear"}, headers=h("bob", "globex"))).status_code == 201
    # each tenant sees its own rows only (RLS keyed on the context)
    acme = (await client.get("/items", headers=h("alice", "acme"))).json()
    globex = (await client.get("/items", headers=h("bob", "globex"))).json()
    assert [i["name"] for i in acme] == ["apple"] and [i["name"] for i in globex] == ["pear"]
    assert (await client.get(f"/items/{item['id']}", headers=h("bob", "globex"))).status_code == 404
    r = await client.put(f"/items/{item['id']}", json={"name": "green apple", "price": 2},
                         headers=h("alice", "acme"))
    assert r.status_code == 200 and r.json()["name"] == "green apple"
    assert (await client.delete(f"/items/{item['id']}", headers=h("bob", "globex"))).status_code == 404
    # the audit trail has the context of each change
    audit = psql("SELECT string_agg(op || ':' || agent_id || ':' || tenant_id || ':' || correlation_id, ' '"
                 " ORDER BY at, op) FROM governance.audit_log WHERE relation = 'public.items'")
    assert "INSERT:alice:acme:req-alice" in audit
    assert "INSERT:bob:globex:req-bob" in audit
    assert "UPDATE:alice:acme:req-alice" in audit
    assert (await client.delete(f"/items/{item['id']}", headers=h("alice", "acme"))).status_code == 204


async def test_request_that_raises_rolls_back(client):
    r = await client.post("/items", json={"name": "plum", "price": 3}, headers=h("alice", "acme"))
    iid = r.json()["id"]
    r = await client.put(f"/items/{iid}", json={"name": "changed", "price": -1}, headers=h("alice", "acme"))
    assert r.status_code == 422
    assert (await client.get(f"/items/{iid}", headers=h("alice", "acme"))).json()["name"] == "plum"
    assert psql("SELECT count(*) FROM governance.audit_log WHERE relation = 'public.items'"
                " AND op = 'UPDATE' AND new_row::text LIKE '%changed%'") == "0"


async def test_refused_write_lands_in_denied_log(client):
    if SQL_EDITION:
        pytest.skip("SQL edition: an RLS violation is raised by PostgreSQL itself, which no SQL code sees: "
                    "no denied_log row (docs/sql-edition.md, denied_log)")
    r = await client.post("/items", json={"name": "spy"},
                          headers=h("mallory", "acme", **{"x-tenant-override": "globex"}))
    assert r.status_code == 403
    assert psql("SELECT count(*) FROM items") == "0"
    # plain mode: the backend writes its queue at its next statement or exit;
    # preloaded: the background writer within a second.  Closing the pool
    # ends the backends; then wait (bounded) for the row.
    await client.db.shutdown()
    deadline = time.monotonic() + 10
    while True:
        n = psql("SELECT count(*) FROM governance.denied_log WHERE agent_id = 'mallory'"
                 " AND tenant_id = 'acme' AND source = 'rls' AND relation = 'public.items'")
        if n == "1" or time.monotonic() > deadline:
            break
        psql("SELECT pg_stat_clear_snapshot()")
    assert n == "1"


async def test_no_context_is_refused_before_the_database(client):
    r = await client.get("/items")
    assert r.status_code == 401
    assert client.db.pool.stats()["acquires_total"] == 0


async def test_health_db(client):
    r = await client.get("/health/db")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    await client.db.shutdown()
    r = await client.get("/health/db")
    assert r.status_code == 503
