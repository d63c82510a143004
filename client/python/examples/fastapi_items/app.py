"""Items CRUD, one governed session per request, RLS per tenant, audit on.

    DATABASE_URL=postgresql://items_app:...@host/db uvicorn app:app

schema.sql creates the table (run once by the database owner).  The role in
DATABASE_URL must not be a superuser or BYPASSRLS (RLS would not apply).

The context comes from the request.  This example trusts the X-Agent-Id and
X-Tenant-Id headers to stay short: a real service takes them from a verified
token (JWT) or from its gateway, never from what a client may set.
"""
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel

import govpool
from govpool.fastapi import GovernedDB


def context(request: Request):
    agent = request.headers.get("x-agent-id")
    if not agent:
        raise HTTPException(401, "no agent")
    return {"agent_id": agent, "tenant_id": request.headers.get("x-tenant-id"),
            "correlation_id": request.headers.get("x-request-id")}


db = GovernedDB(context)
app = FastAPI(title="items")
db.install(app)


class ItemIn(BaseModel):
    name: str
    price: float = 0.0


class ItemOut(ItemIn):
    id: int
    tenant_id: str


@app.get("/items", response_model=list[ItemOut])
async def list_items(s=Depends(db.session)):
    rows = await s.fetch("SELECT id, name, price, tenant_id FROM items ORDER BY id")
    return [dict(r.items()) for r in rows]


@app.post("/items", response_model=ItemOut, status_code=201)
async def create_item(item: ItemIn, request: Request, s=Depends(db.session)):
    # tenant_id comes from the governance context, never from the body
    tenant = request.headers.get("x-tenant-override")  # only to demonstrate a refused write
    try:
        row = await s.fetchrow(
            "INSERT INTO items (name, price, tenant_id) "
            "VALUES ($1, $2, coalesce($3, governance.tenant_id())) RETURNING id, name, price, tenant_id",
            item.name, item.price, tenant)
    except govpool.QueryError as e:
        if e.sqlstate == "42501":
            raise HTTPException(403, "not allowed for this tenant")
        raise
    return dict(row.items())


@app.get("/items/{item_id}", response_model=ItemOut)
async def get_item(item_id: int, s=Depends(db.session)):
    row = await s.fetchrow("SELECT id, name, price, tenant_id FROM items WHERE id = $1", item_id)
    if row is None:
        raise HTTPException(404, "no such item")
    return dict(row.items())


@app.put("/items/{item_id}", response_model=ItemOut)
async def update_item(item_id: int, item: ItemIn, s=Depends(db.session)):
    row = await s.fetchrow("UPDATE items SET name = $2, price = $3 WHERE id = $1 "
                           "RETURNING id, name, price, tenant_id", item_id, item.name, item.price)
    if row is None:
        raise HTTPException(404, "no such item")
    if item.price < 0:
        # raising after the write: the session rolls back, the update is gone
        raise HTTPException(422, "price must not be negative")
    return dict(row.items())


@app.delete("/items/{item_id}", status_code=204)
async def delete_item(item_id: int, s=Depends(db.session)):
    if await s.execute("DELETE FROM items WHERE id = $1", item_id) == "DELETE 0":
        raise HTTPException(404, "no such item")
