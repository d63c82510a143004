-- pgTAP: the governance context: validation rules, NULL semantics, lifetime.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
CREATE EXTENSION pg_governance;
SELECT plan(56);

-- NULL semantics: unset and empty read as NULL, never ''
SELECT is(governance.agent_id(), NULL, 'agent_id() is NULL when unset');
SELECT is(governance.tenant_id(), NULL, 'tenant_id() is NULL when unset');
SELECT is(governance.correlation_id(), NULL, 'correlation_id() is NULL when unset');
SET LOCAL governance.agent_id = '';
SELECT is(governance.agent_id(), NULL, 'agent_id() is NULL when set to the empty string');
SELECT governance.set_context('alice', seal => false);
SELECT is(governance.agent_id(), 'alice', 'agent_id() reads set_context()');
RESET governance.agent_id;
SELECT is(governance.agent_id(), NULL, 'agent_id() is NULL after RESET (clearing an unsealed context is allowed)');

-- Only set_context() gives the context a value: SET of a non-empty value is
-- refused, also unsealed, also SET LOCAL (test/security/05-context-routes.sh
-- has every route)
SELECT throws_ok(format('SET LOCAL %s = %L', g, 'x'), '42501',
                 format('%s can only be set by governance.set_context()', g),
                 format('SET LOCAL of %s is refused', g))
  FROM (VALUES ('governance.agent_id'), ('governance.tenant_id'), ('governance.correlation_id')) AS t(g);

-- Function properties RLS policies rely on
SELECT is(p.provolatile::text, 's', p.proname || '() is STABLE')
  FROM pg_proc p WHERE p.pronamespace = 'governance'::regnamespace
   AND p.proname IN ('agent_id', 'tenant_id', 'correlation_id') ORDER BY p.proname;
SELECT is(p.proparallel::text, 's', p.proname || '() is PARALLEL SAFE')
  FROM pg_proc p WHERE p.pronamespace = 'governance'::regnamespace
   AND p.proname IN ('agent_id', 'tenant_id', 'correlation_id') ORDER BY p.proname;

-- Validation: every rule, through SET (check hook) and set_context()
SELECT throws_ok(format('SET LOCAL %s = %L', g, v), '22023',
                 format('invalid value for %s: %s', g, why),
                 format('%s refuses %s', g, what))
  FROM (VALUES
    ('governance.agent_id', E'a\tb', 'contains a control character', 'a tab'),
    ('governance.agent_id', E'a\nb', 'contains a control character', 'a newline'),
    ('governance.agent_id', E'\x01', 'contains a control character', 'U+0001'),
    ('governance.agent_id', E'x\x7f', 'contains a control character', 'DEL'),
    ('governance.agent_id', E'x\u0085', 'contains a control character', 'a C1 control (U+0085)'),
    ('governance.agent_id', repeat('a', 257), 'longer than 256 characters', '257 characters'),
    ('governance.tenant_id', E'acme\r', 'contains a control character', 'a carriage return'),
    ('governance.tenant_id', repeat('é', 257), 'longer than 256 characters', '257 two-byte characters'),
    ('governance.correlation_id', 'req 1', 'only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed', 'a space'),
    ('governance.correlation_id', 'req/1', 'only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed', 'a slash'),
    ('governance.correlation_id', 'réq', 'only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed', 'non-ASCII'),
    ('governance.correlation_id', repeat('a', 129), 'longer than 128 characters', '129 characters')
  ) AS t(g, v, why, what);

SELECT lives_ok(format('SELECT governance.set_context(%s, seal => false)', args), format('%s accepts %s', g, what))
  FROM (VALUES
    ('governance.agent_id', format('%L', repeat('a', 256)), '256 characters'),
    ('governance.agent_id', format('%L', repeat('é', 256)), '256 two-byte characters'),
    ('governance.agent_id', format('%L', 'svc:billing/worker 7 ✓'), 'spaces, punctuation and symbols'),
    ('governance.tenant_id', format('%L, %L', 'a', 'ACME Corp.'), 'a name with a space'),
    ('governance.correlation_id', format('%L, NULL, %L', 'a', repeat('a', 128)), '128 characters'),
    ('governance.correlation_id', format('%L, NULL, %L', 'a', 'Req-1_2.3:4'), 'every allowed punctuation')
  ) AS t(g, args, what);

SELECT throws_ok($$SELECT governance.set_context(repeat('x', 257), seal => false)$$, '22023',
                 'invalid value for governance.agent_id: longer than 256 characters',
                 'set_context() validates agent_id');
SELECT throws_ok($$SELECT governance.set_context('a', E'\x02', seal => false)$$, '22023',
                 'invalid value for governance.tenant_id: contains a control character',
                 'set_context() validates tenant_id');
SELECT throws_ok($$SELECT governance.set_context('a', 't', 'no spaces', false)$$, '22023',
                 'invalid value for governance.correlation_id: only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed',
                 'set_context() validates correlation_id');
SELECT throws_ok($$SELECT governance.set_context(NULL)$$, '22004',
                 'agent_id must not be null or empty', 'set_context() refuses a NULL agent_id');
SELECT throws_ok($$SELECT governance.set_context('')$$, '22004',
                 'agent_id must not be null or empty', 'set_context() refuses an empty agent_id');

-- A refused set_context() leaves the previous context as it was
SELECT governance.set_context('before', seal => false);
SELECT throws_ok($$SELECT governance.set_context('after', 'ok', 'bad value', false)$$, '22023');
SELECT is(governance.agent_id(), 'before', 'a refused set_context() changes nothing');
SELECT is(governance.tenant_id(), NULL, 'a refused set_context() sets no tenant either');

-- set_context() sets the whole context; NULLs clear
SELECT governance.set_context('bob', 'acme', 'req-9', seal => false);
SELECT is(governance.context(),
          '{"agent_id": "bob", "tenant_id": "acme", "correlation_id": "req-9", "sealed": false, "signed": false}'::jsonb,
          'context() reports the whole context');
SELECT governance.set_context('carol', seal => false);
SELECT is(governance.tenant_id(), NULL, 'set_context() with no tenant clears the tenant');
SELECT is(governance.correlation_id(), NULL, 'set_context() with no correlation id clears it');
SELECT is(current_setting('governance.agent_id'), 'carol', 'the setting carries the value for RLS and parallel workers');

-- Unsealed contexts can be changed, and sealed later
SELECT governance.set_context('dave', seal => false);
SELECT is(governance.context()->>'sealed', 'false', 'seal => false does not seal');
SELECT lives_ok($$SELECT governance.set_context('erin', seal => false)$$, 'an unsealed context can be changed by set_context()');
SELECT is(governance.agent_id(), 'erin', 'and the change is visible');
SELECT throws_ok($$SET LOCAL governance.agent_id = 'mallory'$$, '42501', NULL,
                 'but not by SET, also unsealed');
SELECT lives_ok($$SELECT governance.set_context('frank')$$, 'an unsealed context can be sealed by a later set_context()');
SELECT is(governance.context()->>'sealed', 'true', 'which seals it');

-- Prefix reservation: misspelled names fail instead of becoming placeholders
SELECT throws_ok($$SET governance.agnet_id = 'x'$$, '42602',
                 'invalid configuration parameter name "governance.agnet_id"',
                 'a misspelled governance.* setting is refused');
SELECT throws_ok($$SELECT set_config('governance.tenant', 'x', true)$$, '42602', NULL,
                 'set_config() of an unknown governance.* name is refused');

-- require_context is an enum off/warn/enforce, superuser-settable
SELECT is(current_setting('governance.require_context'), 'off', 'require_context defaults to off');
SELECT throws_ok($$SET LOCAL governance.require_context = 'maybe'$$, '22023', NULL,
                 'require_context accepts only off/warn/enforce');
SELECT is(context, 'superuser', 'require_context is SUSET (grantable with GRANT SET ON PARAMETER)')
  FROM pg_settings WHERE name = 'governance.require_context';

SELECT * FROM finish();
ROLLBACK;
