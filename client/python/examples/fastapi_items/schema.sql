-- The items service's table: run once as the database owner (pg_governance installed).
CREATE TABLE items (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name      text NOT NULL,
    price     numeric(12,2) NOT NULL DEFAULT 0,
    tenant_id text NOT NULL,
    agent_id  text NOT NULL DEFAULT governance.agent_id()
);
-- every row visible and writable only in its tenant's context
SELECT governance.enable_rls('items', tenant_column => 'tenant_id');
-- every change in governance.audit_log with the context that made it
SELECT governance.enable_audit('items');
-- the application's role (LOGIN, no superuser, no BYPASSRLS)
GRANT SELECT, INSERT, UPDATE, DELETE ON items TO items_app;
