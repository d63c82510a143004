-- pgTAP: once set_context(..., seal => true) ran, no SQL in the transaction
-- can change or clear any governance.* context value.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
CREATE EXTENSION pg_governance;
CREATE ROLE regress_gov_definer;
CREATE ROLE regress_gov_other;
GRANT regress_gov_other TO CURRENT_USER;
GRANT USAGE, CREATE ON SCHEMA public TO regress_gov_definer;

-- Helpers created before the seal
-- (a SET clause can only clear: a value is refused at CREATE FUNCTION,
-- see test/security/05-context-routes.sh)
CREATE FUNCTION public.with_set_clause() RETURNS text LANGUAGE sql
  SET governance.agent_id = '' AS $$ SELECT governance.agent_id() $$;
CREATE FUNCTION public.definer_sets() RETURNS text LANGUAGE sql SECURITY DEFINER
  AS $$ SELECT set_config('governance.agent_id', 'mallory', true) $$;
ALTER FUNCTION public.definer_sets() OWNER TO regress_gov_definer;
CREATE FUNCTION public.definer_with_set_clause() RETURNS text LANGUAGE sql SECURITY DEFINER
  SET governance.tenant_id = '' AS $$ SELECT governance.tenant_id() $$;
ALTER FUNCTION public.definer_with_set_clause() OWNER TO regress_gov_definer;
PREPARE sneaky AS SELECT set_config('governance.agent_id', 'mallory', false);

SELECT plan(40);

-- Stored settings cannot carry a context (so SET ROLE has none to bring in)
SELECT throws_ok($$ALTER ROLE regress_gov_other SET governance.agent_id = 'role-default'$$, '42501',
                 'governance.agent_id can only be set by governance.set_context()',
                 'ALTER ROLE ... SET of a context value is refused');
SELECT throws_ok($$CREATE FUNCTION public.with_value_clause() RETURNS text LANGUAGE sql
                   SET governance.agent_id = 'mallory' AS 'SELECT 1::text'$$, '42501',
                 'governance.agent_id can only be set by governance.set_context()',
                 'a function SET clause with a context value is refused at CREATE FUNCTION');

SELECT governance.set_context('alice', 'acme', 'req-1');
SELECT is(governance.context()->>'sealed', 'true', 'set_context() seals by default');

-- Every way SQL has of changing a setting, each refused with 42501
SELECT throws_ok(cmd, '42501', NULL, 'sealed: ' || what)
  FROM (VALUES
    ($$SET governance.agent_id = 'mallory'$$, 'SET'),
    ($$SET LOCAL governance.agent_id = 'mallory'$$, 'SET LOCAL'),
    ($$SET SESSION governance.agent_id = 'mallory'$$, 'SET SESSION'),
    ($$SET governance.tenant_id = 'evil'$$, 'SET of tenant_id'),
    ($$SET governance.correlation_id = 'forged'$$, 'SET of correlation_id'),
    ($$SELECT set_config('governance.agent_id', 'mallory', true)$$, 'set_config(local)'),
    ($$SELECT set_config('governance.agent_id', 'mallory', false)$$, 'set_config(session)'),
    ($$SELECT set_config('governance.agent_id', NULL, true)$$, 'set_config(NULL) reset'),
    ($$SELECT set_config('governance.tenant_id', '', true)$$, 'set_config to empty (clearing)'),
    ($$RESET governance.agent_id$$, 'RESET'),
    ($$RESET governance.correlation_id$$, 'RESET of correlation_id'),
    ($$SET governance.agent_id TO DEFAULT$$, 'SET TO DEFAULT'),
    ($$RESET ALL$$, 'RESET ALL'),
    ($$DISCARD ALL$$, 'DISCARD ALL'),
    ($$SELECT public.with_set_clause()$$, 'function SET clause (clearing)'),
    ($$SELECT public.definer_sets()$$, 'security-definer function calling set_config'),
    ($$SELECT public.definer_with_set_clause()$$, 'security-definer function SET clause (clearing)'),
    ($q$DO $do$ BEGIN PERFORM set_config('governance.agent_id', 'mallory', true); END $do$$q$, 'DO block'),
    ($q$DO $do$ BEGIN EXECUTE 'RESET governance.agent_id'; END $do$$q$, 'dynamic SQL in a DO block'),
    ($$EXECUTE sneaky$$, 'prepared statement'),
    ($$SELECT governance.set_context('mallory')$$, 'a second set_context()'),
    ($$SELECT governance.set_context('mallory', seal => false)$$, 'an unsealed second set_context()')
  ) AS t(cmd, what);

SELECT throws_ok($$SET governance.agent_id = 'mallory'$$, '42501',
                 'governance context is sealed for this transaction',
                 'the refusal says the context is sealed');

-- After all that, the sealed values are intact everywhere they are read
SELECT is(governance.agent_id(), 'alice', 'agent_id() still the sealed value');
SELECT is(governance.tenant_id(), 'acme', 'tenant_id() still the sealed value');
SELECT is(governance.correlation_id(), 'req-1', 'correlation_id() still the sealed value');
SELECT is(current_setting('governance.agent_id'), 'alice', 'current_setting() still the sealed value');
SELECT is((SELECT setting FROM pg_settings WHERE name = 'governance.tenant_id'), 'acme',
          'pg_settings still shows the sealed value');

-- An error caught inside PL/pgSQL does not leave a changed value behind
DO $$ BEGIN PERFORM set_config('governance.agent_id', 'mallory', true);
   EXCEPTION WHEN insufficient_privilege THEN NULL; END $$;
SELECT is(governance.agent_id(), 'alice', 'a caught refusal leaves the sealed value');

-- Cursors: a cursor whose query changes the setting fails when fetched
DECLARE c CURSOR FOR SELECT set_config('governance.agent_id', 'mallory', true);
SELECT throws_ok($$FETCH c$$, '42501', NULL, 'sealed: FETCH from a cursor that calls set_config');
CLOSE c;

-- Savepoints taken after the seal: a refused change inside, then ROLLBACK TO
SAVEPOINT after_seal;
SELECT throws_ok($$SET governance.agent_id = 'mallory'$$, '42501', NULL, 'sealed inside a savepoint');
ROLLBACK TO after_seal;
SELECT is(governance.agent_id(), 'alice', 'ROLLBACK TO a savepoint after the seal keeps the sealed value');
RELEASE after_seal;

-- SET ROLE does not bring in the role's own settings, nor unseal
SET LOCAL ROLE regress_gov_other;
SELECT is(governance.agent_id(), 'alice', 'SET ROLE keeps the sealed agent');
SELECT throws_ok($$SET governance.agent_id = 'mallory'$$, '42501', NULL, 'sealed after SET ROLE');
RESET ROLE;

-- Setting the same value again is refused too: only set_context() sets a
-- value, and a session-level copy would outlive the transaction (finding 05)
SELECT throws_ok($$SET LOCAL governance.agent_id = 'alice'$$, '42501',
                 'governance.agent_id can only be set by governance.set_context()',
                 'setting the sealed value itself is refused');
SELECT throws_ok($$SET SESSION governance.agent_id = 'alice'$$, '42501', NULL,
                 'a same-value SET SESSION is refused');
SELECT is(governance.agent_id(), 'alice', 'and the sealed value is intact');

SELECT * FROM finish();
ROLLBACK;
