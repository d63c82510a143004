-- pgTAP: installing without a superuser (Cloud SQL-compatible model),
-- control-file properties, and capabilities().
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(19);

SELECT is(trusted, true, 'the extension is trusted (a database owner can install it)')
  FROM pg_available_extension_versions WHERE name = 'pg_governance' AND version = (
    SELECT default_version FROM pg_available_extensions WHERE name = 'pg_governance');
SELECT is(relocatable, false, 'the extension is not relocatable')
  FROM pg_available_extension_versions WHERE name = 'pg_governance' AND version = (
    SELECT default_version FROM pg_available_extensions WHERE name = 'pg_governance');
SELECT is(schema::text, 'governance', 'the extension lives in schema governance')
  FROM pg_available_extension_versions WHERE name = 'pg_governance' AND version = (
    SELECT default_version FROM pg_available_extensions WHERE name = 'pg_governance');

-- A non-superuser who may create objects in the database installs it
CREATE ROLE regress_gov_dbowner LOGIN;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_gov_dbowner', current_database()) \gexec
CREATE ROLE regress_gov_app;
SET LOCAL ROLE regress_gov_dbowner;
SELECT is(rolsuper, false, 'the installing role is not a superuser') FROM pg_roles WHERE rolname = current_user;
SELECT lives_ok($$CREATE EXTENSION pg_governance$$, 'CREATE EXTENSION works for a non-superuser database owner');
SELECT is(extowner::regrole::text, 'regress_gov_dbowner', 'the installing role owns the extension')
  FROM pg_extension WHERE extname = 'pg_governance';
SELECT is(extversion, (SELECT default_version FROM pg_available_extensions WHERE name = 'pg_governance'),
          'the default version is installed') FROM pg_extension WHERE extname = 'pg_governance';
SELECT lives_ok($$SELECT governance.set_context('alice', 'acme', 'req-1')$$,
                'the installer can set a sealed context');
SELECT is(governance.agent_id(), 'alice', 'and read it back');
RESET ROLE;

-- Any role can use the context functions; nothing needs a superuser at run time
SET LOCAL ROLE regress_gov_app;
SELECT is(has_schema_privilege('governance', 'USAGE'), true, 'PUBLIC has USAGE on schema governance');
SELECT is(has_function_privilege('governance.set_context(text,text,text,boolean)', 'EXECUTE'), true,
          'PUBLIC may call set_context()');
SELECT is(governance.agent_id(), 'alice', 'another role reads the same transaction''s context');
RESET ROLE;

-- capabilities(): one row per feature, each saying why it is off
SELECT set_eq($$SELECT feature FROM governance.capabilities()$$,
              ARRAY['context_gucs', 'settings_from_first_statement', 'sealing', 'signed_context', 'audit',
                    'denied_log', 'pool_stats', 'session_context', 'latency_histograms', 'executor_enforcement'],
              'capabilities() lists every feature');
SELECT is(count(*), 0::bigint, 'every inactive feature says why')
  FROM governance.capabilities() WHERE NOT active AND coalesce(detail, '') = '';
SELECT ok(active, 'context GUCs are active') FROM governance.capabilities() WHERE feature = 'context_gucs';
SELECT ok(active, 'sealing is active') FROM governance.capabilities() WHERE feature = 'sealing';
SELECT is(active, current_setting('shared_preload_libraries') LIKE '%pg_governance%',
          'settings_from_first_statement: active when preloaded; here the library came with a function call')
  FROM governance.capabilities() WHERE feature = 'settings_from_first_statement';
SELECT is(detail, CASE WHEN current_setting('shared_preload_libraries') LIKE '%pg_governance%'
                       THEN detail ELSE 'needs shared_preload_libraries = ''pg_governance''' END,
          'without preload, session_context says it needs shared_preload_libraries')
  FROM governance.capabilities() WHERE feature = 'session_context';

-- Prefix reservation is in force once the library is loaded
SELECT throws_ok($$SET governance.agnet_id = 'x'$$, '42602', NULL,
                 'governance.* is a reserved prefix');

SELECT * FROM finish();
ROLLBACK;
