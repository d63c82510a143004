--
-- RLS helpers: enable_rls() policies keyed on the governance context,
-- evaluated once per query (InitPlans), and governance.require_context on
-- reads of governed tables.
--
CREATE EXTENSION pg_governance;
-- This file tests the denied backend writing its own records (the path
-- without preload); the background writer of the preloaded mode is tested
-- in test/pgtap/preload.sql.
SET governance.denied_log_worker = off;
\set VERBOSITY default

CREATE ROLE regress_rls_app;
CREATE TABLE docs (id int PRIMARY KEY, agent text, tenant varchar(20), body text);
INSERT INTO docs VALUES
	(1, 'alice', 'acme', 'alice@acme'),
	(2, 'bob', 'acme', 'bob@acme'),
	(3, 'alice', 'globex', 'alice@globex');
GRANT ALL ON docs TO regress_rls_app;

SELECT governance.enable_rls('docs', 'agent', 'tenant');
-- idempotent: calling it again replaces the one policy
SELECT governance.enable_rls('docs', 'agent', 'tenant');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'docs'::regclass;
SELECT policyname, permissive, roles, cmd, qual, with_check
  FROM pg_policies WHERE tablename = 'docs';

SET ROLE regress_rls_app;
-- no context: nothing visible (require_context is off by default)
SELECT * FROM docs ORDER BY id;

-- visibility per agent and tenant
BEGIN;
SELECT governance.set_context('alice', 'acme');
SELECT * FROM docs ORDER BY id;
COMMIT;
BEGIN;
SELECT governance.set_context('alice', 'globex');
SELECT * FROM docs ORDER BY id;
COMMIT;
BEGIN;
SELECT governance.set_context('bob', 'acme');
SELECT * FROM docs ORDER BY id;
UPDATE docs SET body = body || '!' RETURNING *;
DELETE FROM docs WHERE agent = 'alice' RETURNING *;
COMMIT;

-- writes must match the context too
BEGIN;
SELECT governance.set_context('bob', 'acme');
INSERT INTO docs VALUES (4, 'bob', 'acme', 'ok');
INSERT INTO docs VALUES (5, 'alice', 'acme', 'not bob');
ROLLBACK;

-- the context is read once per query (InitPlans), not once per row
BEGIN;
SELECT governance.set_context('alice', 'acme');
EXPLAIN (COSTS OFF) SELECT * FROM docs WHERE body LIKE 'a%';
COMMIT;

-- the table owner is subject to the policy too (FORCE)
RESET ROLE;
CREATE ROLE regress_rls_owner;
ALTER TABLE docs OWNER TO regress_rls_owner;
SET ROLE regress_rls_owner;
SELECT count(*) AS owner_sees_without_context FROM docs;
RESET ROLE;

-- tenant-only and agent-only tables; non-text columns compare as text
CREATE TABLE tenant_rows (id int, tenant_no int);
INSERT INTO tenant_rows VALUES (1, 7), (2, 8);
GRANT SELECT ON tenant_rows TO regress_rls_app;
SELECT governance.enable_rls('tenant_rows', tenant_column => 'tenant_no');
SET ROLE regress_rls_app;
BEGIN;
SELECT governance.set_context('anyone', '7');
SELECT * FROM tenant_rows;
COMMIT;
RESET ROLE;

-- errors
SELECT governance.enable_rls('docs');
SELECT governance.enable_rls('docs', 'no_such_column');
SELECT governance.enable_rls('docs', tenant_column => 'ctid');
CREATE VIEW docs_v AS SELECT * FROM docs;
SELECT governance.enable_rls('docs_v', 'agent');
SELECT governance.enable_rls(NULL, 'agent');
SET ROLE regress_rls_app;
SELECT governance.enable_rls('tenant_rows', 'tenant_no');
RESET ROLE;

-- require_context on reads of governed tables
SET governance.require_context = off;
SET ROLE regress_rls_app;
SELECT count(*) AS off_no_context FROM docs;
RESET ROLE;
SET governance.require_context = warn;
SET ROLE regress_rls_app;
SELECT count(*) AS warn_no_context FROM docs;
-- one warning per table per statement
SELECT count(*) FROM docs a JOIN docs b USING (id);
RESET ROLE;
SET governance.require_context = enforce;
SET ROLE regress_rls_app;
SELECT count(*) AS enforce_no_context FROM docs;
-- an empty result does not get around it
SELECT count(*) FROM tenant_rows WHERE false;
-- with a context, enforce lets the query through
BEGIN;
SELECT governance.set_context('bob', 'acme');
SELECT count(*) AS enforce_with_context FROM docs;
COMMIT;
RESET ROLE;
-- (superusers are not subject to RLS; whether require_context still holds
-- for them depends on the mode: test/pgtap/preload.sql)
RESET governance.require_context;

-- ... also in a new session, on an empty table, before the session called
-- any governance function
CREATE TABLE empty_rows (agent text);
GRANT SELECT ON empty_rows TO regress_rls_app;
SELECT governance.enable_rls('empty_rows', 'agent');
\c -
SET governance.denied_log_worker = off;
SET governance.require_context = enforce;
SET ROLE regress_rls_app;
SELECT count(*) FROM empty_rows;
RESET ROLE;
RESET governance.require_context;

SELECT source, action, sqlstate, relation, command, agent_id, db_user, message
  FROM governance.denied_log ORDER BY id;

DROP VIEW docs_v;
DROP TABLE docs, tenant_rows, empty_rows;
DROP ROLE regress_rls_app, regress_rls_owner;
DROP EXTENSION pg_governance;
