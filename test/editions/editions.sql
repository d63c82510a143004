-- pgTAP: one suite for both editions of pg_governance (issue 15).
--
-- Runs in a database where one edition is installed: the C extension
-- (scripts/run-suites.sh: CREATE EXTENSION pg_governance, as a superuser) or
-- the SQL edition (scripts/run-sql-edition.sh: psql -f by a non-superuser
-- with CREATEDB CREATEROLE, in a cluster where the C extension does not
-- exist).  The edition is detected from pg_extension.  Each test says which
-- editions it applies to: pg_temp.on(ARRAY['c', 'sql'], test) runs it in
-- both, ARRAY['sql'] only in the SQL edition (and skips it with the reason
-- in the other), so a behaviour cannot silently differ: where the editions
-- differ on purpose the test says so, edition by edition.
--
-- Needs pgtap and pgcrypto (pgcrypto mints the test tokens: an HMAC
-- implementation independent of the SQL edition's).  Runs in autocommit
-- mode (the context's lifetime is part of what is tested) and removes what
-- it created at the end.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;

DROP TABLE IF EXISTS public.regress_ed_t, public.regress_ed_r, public.regress_ed_other, public.regress_ed_forged, public.regress_ed_p, public.regress_ed_img CASCADE;
DROP VIEW IF EXISTS public.regress_ed_v;
DROP TYPE IF EXISTS public.regress_ed_verdict, public.regress_ed_span CASCADE;
DO $$ BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_ed_app') THEN
    EXECUTE 'DROP OWNED BY regress_ed_app'; EXECUTE 'DROP ROLE regress_ed_app';
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_ed_other') THEN
    EXECUTE 'DROP OWNED BY regress_ed_other'; EXECUTE 'DROP ROLE regress_ed_other';
  END IF;
END $$;
CREATE ROLE regress_ed_app;
CREATE ROLE regress_ed_other;
GRANT regress_ed_app, regress_ed_other TO current_user;
GRANT CREATE ON SCHEMA public TO regress_ed_other;

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

CREATE FUNCTION pg_temp.edition() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_governance')
              THEN 'c' ELSE 'sql' END $$;

-- Run TEST (a query returning pgTAP result lines) if this edition is one
-- of EDITIONS, else skip its N tests with the reason.
CREATE FUNCTION pg_temp.on(editions text[], test text, n integer DEFAULT 1) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_temp.edition() = ANY (editions) THEN
    RETURN QUERY EXECUTE test;
  ELSE
    RETURN NEXT skip(format('applies to the %s edition only', array_to_string(editions, ' and ')), n);
  END IF;
END $$;

-- Settings the installer (C: a superuser) controls, edition by edition.
-- C: transaction-local settings; SQL: governance.settings / signing_keys
-- (transactional: call them in a transaction that rolls back, or reset).
CREATE FUNCTION pg_temp.set_require_context(mode text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF pg_temp.edition() = 'c' THEN PERFORM set_config('governance.require_context', mode, true);
  ELSE EXECUTE 'SELECT governance.set_setting($1, $2)' USING 'require_context', mode; END IF;
END $$;
CREATE FUNCTION pg_temp.set_require_signed(onoff text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF pg_temp.edition() = 'c' THEN PERFORM set_config('governance.require_signed', onoff, true);
  ELSE EXECUTE 'SELECT governance.set_setting($1, $2)' USING 'require_signed', onoff; END IF;
END $$;
CREATE FUNCTION pg_temp.set_key(key text, kid text DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF pg_temp.edition() = 'c' THEN
    PERFORM set_config('governance.signing_key', key, true);
    IF kid IS NOT NULL THEN PERFORM set_config('governance.signing_key_id', kid, true); END IF;
  ELSE EXECUTE 'SELECT governance.set_signing_key($1, $2)' USING key, kid; END IF;
END $$;

-- Change a governance.* setting by ROUTE (not set_context), then read
-- agent_id().  Whichever edition: the changed value must never be read.
-- The C edition refuses the change itself; the SQL edition refuses the
-- read; both with the same SQLSTATE and message.
CREATE FUNCTION pg_temp.tamper_then_read(route text, setting text, value text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  CASE route
    WHEN 'set_config local' THEN PERFORM set_config(setting, value, true);
    WHEN 'set_config session' THEN PERFORM set_config(setting, value, false);
    WHEN 'SET LOCAL' THEN EXECUTE format('SET LOCAL %s = %L', setting, value);
    WHEN 'SET' THEN EXECUTE format('SET %s = %L', setting, value);
    WHEN 'RESET' THEN EXECUTE format('RESET %s', setting);
  END CASE;
  RETURN governance.agent_id();
END $$;

-- Tokens, minted with pgcrypto as a service holding the key would.
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;
CREATE FUNCTION pg_temp.b64url(bytea) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT translate(encode($1, 'base64'), E'+/=\n', '-_') $$;
CREATE FUNCTION pg_temp.mint(payload text, key text) RETURNS text LANGUAGE sql
  AS $$ SELECT pg_temp.b64url(convert_to(payload, 'UTF8')) || '.' ||
               pg_temp.b64url(public.hmac(convert_to(pg_temp.b64url(convert_to(payload, 'UTF8')), 'UTF8'),
                                          convert_to(key, 'UTF8'), 'sha256')) $$;
CREATE FUNCTION pg_temp.claims(agent text, ttl int DEFAULT 300, extra text DEFAULT '') RETURNS text LANGUAGE sql
  AS $$ SELECT format('{"agent_id": %s, "tenant_id": "acme", "correlation_id": "req-7", "exp": %s%s}',
                      to_jsonb(agent), extract(epoch FROM now())::bigint + ttl, extra) $$;

\set key '\'0123456789abcdef0123456789abcdef-test-key\''
\set otherkey '\'fedcba9876543210fedcba9876543210-other-key\''

CREATE TABLE public.regress_ed_t (id int PRIMARY KEY, agent text, tenant text, v text);
CREATE TABLE public.regress_ed_r (id int PRIMARY KEY, agent text, tenant text, v text);
CREATE TABLE public.regress_ed_other (id int PRIMARY KEY);
CREATE VIEW public.regress_ed_v AS SELECT 1 AS x;
ALTER TABLE public.regress_ed_other OWNER TO regress_ed_other;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON public.regress_ed_t, public.regress_ed_r TO regress_ed_app;

SELECT plan(145);

SELECT diag('edition: ' || pg_temp.edition());
SELECT pg_temp.on(ARRAY['c'], $$ SELECT ok(false, 'never') WHERE false UNION ALL SELECT pass('the C extension is installed') $$);
SELECT pg_temp.on(ARRAY['sql'], $$ SELECT is((governance.edition()).edition, 'sql', 'governance.edition() says sql') $$);
SELECT pg_temp.on(ARRAY['sql'], $$ SELECT is(count(*), 0::bigint, 'no pg_governance in pg_available_extensions')
                                     FROM pg_available_extensions WHERE name = 'pg_governance' $$);

---------------------------------------------------------------------------
-- The context: NULL when unset, values, lifetime
---------------------------------------------------------------------------

SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(f, NULL, f_name || '() is NULL when unset')
    FROM (VALUES (governance.agent_id(), 'agent_id'), (governance.tenant_id(), 'tenant_id'),
                 (governance.correlation_id(), 'correlation_id')) v(f, f_name) $$, 3);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(governance.context(), '{"agent_id": null, "tenant_id": null, "correlation_id": null, "sealed": false, "signed": false}'::jsonb,
            'context() when unset') $$);

BEGIN;
SELECT governance.set_context('alice', 'acme', 'req-1');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(governance.context(), '{"agent_id": "alice", "tenant_id": "acme", "correlation_id": "req-1", "sealed": true, "signed": false}'::jsonb,
            'set_context() sets and seals the context') $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(ARRAY[governance.agent_id(), governance.tenant_id(), governance.correlation_id()],
            ARRAY['alice', 'acme', 'req-1'], 'the accessors read it') $$);
COMMIT;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$ SELECT is(governance.agent_id(), NULL, 'the context ends with its transaction') $$);
SELECT governance.set_context('alice');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$ SELECT is(governance.agent_id(), NULL, 'outside a transaction block it ends with its statement') $$);

BEGIN;
SELECT governance.set_context('alice', 'acme');
ROLLBACK;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$ SELECT is(governance.tenant_id(), NULL, 'ROLLBACK ends it too') $$);

-- NULL tenant / correlation clear them; NULL or empty agent is refused
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok(format('SELECT governance.set_context(%s)', a), '22004', 'agent_id must not be null or empty',
                   'set_context() refuses agent_id ' || a)
    FROM (VALUES ('NULL'), ($q$''$q$)) v(a) $$, 2);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$SELECT governance.set_context('alice', seal => NULL)$q$, '22004', 'seal must not be null',
                   'set_context() refuses seal NULL') $$);

---------------------------------------------------------------------------
-- Validation: one table, both editions, through set_context()
---------------------------------------------------------------------------

CREATE TEMP TABLE invalid_values (field text, value text, reason text, what text);
INSERT INTO invalid_values VALUES
  ('agent_id', E'a\tb', 'contains a control character', 'a tab'),
  ('agent_id', E'a\nb', 'contains a control character', 'a newline'),
  ('agent_id', E'\x01', 'contains a control character', 'U+0001'),
  ('agent_id', E'x\x7f', 'contains a control character', 'DEL'),
  ('agent_id', E'x\u0085', 'contains a control character', 'a C1 control (U+0085)'),
  ('agent_id', E'\x1b[31mred', 'contains a control character', 'an ANSI escape'),
  ('agent_id', repeat('a', 257), 'longer than 256 characters', '257 characters'),
  ('tenant_id', E'acme\r', 'contains a control character', 'a carriage return'),
  ('tenant_id', repeat('é', 257), 'longer than 256 characters', '257 two-byte characters'),
  ('correlation_id', 'req 1', 'only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed', 'a space'),
  ('correlation_id', 'req;1', 'only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed', 'a semicolon'),
  ('correlation_id', 'réq', 'only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed', 'non-ASCII'),
  ('correlation_id', repeat('r', 129), 'longer than 128 characters', '129 characters');

SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok(format('SELECT governance.set_context(%L, %L, %L)',
                          CASE WHEN field = 'agent_id' THEN value ELSE 'alice' END,
                          CASE WHEN field = 'tenant_id' THEN value END,
                          CASE WHEN field = 'correlation_id' THEN value END),
                   '22023', format('invalid value for governance.%s: %s', field, reason),
                   format('set_context() refuses %s %s', field, what))
    FROM invalid_values ORDER BY field, what $$, 13);

-- Data, never SQL: hostile-looking but valid ids are stored byte for byte
BEGIN;
SELECT governance.set_context($$'); DROP TABLE x; --$$, E'$$\\%s%n"{}', 'a.b_c:d-e');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(ARRAY[governance.agent_id(), governance.tenant_id(), governance.correlation_id()],
            ARRAY[$q$'); DROP TABLE x; --$q$, E'\x24\x24\\%s%n"{}'::text, 'a.b_c:d-e'],
            'quotes, backslashes, dollar quotes, format codes are data') $$);
ROLLBACK;
BEGIN;
SELECT governance.set_context(repeat('é', 256), repeat('t', 256), repeat('r', 128));
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(ARRAY[length(governance.agent_id()), length(governance.tenant_id()), length(governance.correlation_id())],
            ARRAY[256, 256, 128], 'the longest valid values are accepted') $$);
ROLLBACK;

---------------------------------------------------------------------------
-- Only set_context() gives the context a value; sealing
---------------------------------------------------------------------------

-- Unsealed, no context at all: a raw SET never becomes the context
CREATE TEMP TABLE raw_routes (route text);
INSERT INTO raw_routes VALUES ('set_config local'), ('set_config session'), ('SET LOCAL'), ('SET');
BEGIN;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok(format('SELECT pg_temp.tamper_then_read(%L, %L, %L)', route, 'governance.agent_id', 'mallory'),
                   '42501', 'governance.agent_id can only be set by governance.set_context()',
                   route || ' of governance.agent_id is never read as the context')
    FROM raw_routes ORDER BY route $$, 4);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok(format('SELECT pg_temp.tamper_then_read(%L, %L, %L)', 'set_config local', 'governance.agent_id', E'a\tb'),
                   '22023', 'invalid value for governance.agent_id: contains a control character',
                   'a raw invalid value is refused as invalid') $$);
ROLLBACK;

-- Sealed: every route of change is refused (C) or makes the read raise (SQL)
CREATE TEMP TABLE seal_routes (route text, setting text, value text);
INSERT INTO seal_routes VALUES
  ('set_config local', 'governance.agent_id', 'mallory'),
  ('set_config session', 'governance.agent_id', 'mallory'),
  ('SET LOCAL', 'governance.agent_id', 'mallory'),
  ('SET', 'governance.tenant_id', 'evil'),
  ('RESET', 'governance.agent_id', NULL),
  ('RESET', 'governance.correlation_id', NULL),
  ('set_config local', 'governance.correlation_id', 'other');
BEGIN;
SELECT governance.set_context('alice', 'acme', 'req-1');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok(format('SELECT pg_temp.tamper_then_read(%L, %L, %L)', route, setting, value),
                   '42501', 'governance context is sealed for this transaction',
                   format('sealed: %s of %s is never read', route, setting))
    FROM seal_routes ORDER BY route, setting $$, 7);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(governance.context(), '{"agent_id": "alice", "tenant_id": "acme", "correlation_id": "req-1", "sealed": true, "signed": false}'::jsonb,
            'the sealed values are read after the refused changes') $$);
ROLLBACK;

BEGIN;
SELECT governance.set_context('alice', 'acme');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$SELECT governance.set_context('bob')$q$, '42501',
                   'governance context is sealed for this transaction', 'a second set_context() is refused') $$);
SAVEPOINT s1;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$SELECT pg_temp.tamper_then_read('set_config local', 'governance.agent_id', 'bob')$q$, '42501',
                   'governance context is sealed for this transaction', 'in a savepoint too') $$);
ROLLBACK TO SAVEPOINT s1;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(governance.agent_id(), 'alice', 'after ROLLBACK TO the sealed value is read') $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$SELECT governance.set_context('bob')$q$, '42501',
                   'governance context is sealed for this transaction', 'and the seal holds') $$);
ROLLBACK;

-- Unsealed: set_context() again is allowed, clearing is allowed, then seal
BEGIN;
SELECT governance.set_context('alice', 'acme', seal => false);
SELECT governance.set_context('bob', 'acme', seal => false);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$ SELECT is(governance.agent_id(), 'bob', 'unsealed: set_context() may change it') $$);
RESET governance.tenant_id;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$ SELECT is(governance.tenant_id(), NULL, 'unsealed: clearing a value is allowed') $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$ SELECT is(governance.agent_id(), 'bob', 'and leaves the others') $$);
SELECT governance.set_context('carol');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$ SELECT is((governance.context()->>'sealed')::boolean, true, 'a later set_context() seals') $$);
ROLLBACK;

---------------------------------------------------------------------------
-- Signed context
---------------------------------------------------------------------------

BEGIN;
SELECT pg_temp.on(ARRAY['c', 'sql'], format($$
  SELECT throws_ok(format('SELECT governance.set_context_signed(%%L)', pg_temp.mint(pg_temp.claims('alice'), %L)),
                   '55000', 'governance.signing_key is not set', 'no key: signed context refused') $$, :key));
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(active, false, 'capabilities(): signed_context inactive without a key')
    FROM governance.capabilities() WHERE feature = 'signed_context' $$);
SELECT pg_temp.set_key(:key, 'k1');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(active, true, 'capabilities(): signed_context active with a key')
    FROM governance.capabilities() WHERE feature = 'signed_context' $$);
CREATE TEMP TABLE bad_tokens (token text, sqlstate text, message text, what text);
INSERT INTO bad_tokens VALUES
  (pg_temp.mint(pg_temp.claims('alice'), :otherkey), '28000', 'governance token signature is invalid', 'wrong key'),
  (split_part(pg_temp.mint(pg_temp.claims('alice'), :key), '.', 1) || '.' ||
     split_part(pg_temp.mint(pg_temp.claims('mallory'), :key), '.', 2), '28000', 'governance token signature is invalid', 'forged payload'),
  (split_part(pg_temp.mint(pg_temp.claims('alice'), :key), '.', 1), '22023', 'truncated governance token', 'no signature part'),
  (left(pg_temp.mint(pg_temp.claims('alice'), :key), -5), '22023', 'truncated governance token', 'short signature'),
  (pg_temp.mint(pg_temp.claims('alice'), :key) || '.x', '22023', 'malformed governance token', 'three parts'),
  ('.' || split_part(pg_temp.mint(pg_temp.claims('alice'), :key), '.', 2), '22023', 'malformed governance token', 'empty payload'),
  ('ab*d.' || repeat('A', 43), '28000', 'governance token signature is invalid', 'unsigned junk (the signature is checked first)'),
  (repeat('a', 8193), '22023', 'malformed governance token', 'over 8192 bytes'),
  (pg_temp.mint(pg_temp.claims('alice', -10), :key), '28000', 'governance token has expired', 'expired'),
  (pg_temp.mint(pg_temp.claims('alice', 7200), :key), '28000', 'governance token lives longer than governance.token_max_lifetime', 'exp 2 h ahead'),
  (pg_temp.mint(pg_temp.claims('alice', 300, ', "role": "somebody_else"'), :key), '28000', 'governance token is not for this role', 'role claim of another role'),
  (pg_temp.mint(pg_temp.claims('alice', 300, ', "kid": "k0"'), :key), '28000', 'governance token signature is invalid', 'kid of another key'),
  (pg_temp.mint('{"agent_id": "a", "agent_id": "b", "exp": 9999999999}', :key), '22023', 'invalid governance token payload', 'a repeated member'),
  (pg_temp.mint('[1, 2]', :key), '22023', 'invalid governance token payload', 'not an object'),
  (pg_temp.mint('{"agent_id": 5, "exp": 9999999999}', :key), '22023', 'invalid governance token payload', 'numeric agent_id'),
  (pg_temp.mint(format('{"agent_id": "a", "exp": "%s"}', extract(epoch FROM now())::bigint + 60), :key), '22023', 'invalid governance token payload', 'string exp'),
  (pg_temp.mint('{"agent_id": "a"}', :key), '22023', 'invalid governance token payload', 'no exp'),
  (pg_temp.mint(pg_temp.claims(E'a\tb'), :key), '22023', 'invalid value for governance.agent_id: contains a control character', 'a signed invalid value');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok(format('SELECT governance.set_context_signed(%L)', token), sqlstate, message, 'token refused: ' || what)
    FROM bad_tokens ORDER BY what $$, 18);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(governance.agent_id(), NULL, 'refused tokens set nothing') $$);

SELECT pg_temp.set_require_signed('on');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$SELECT governance.set_context('alice')$q$, '42501', 'unsigned governance context refused',
                   'require_signed: set_context() is refused') $$);
ROLLBACK;

-- The SQL edition's set_context() reads require_signed from a copy in the
-- seal key's row, kept by a trigger on governance.settings: the copy must
-- follow every way the installer can change the table, and a missing row
-- must refuse (each statement runs in throws_ok's subtransaction).
BEGIN;
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT throws_ok($q$UPDATE governance.settings SET value = 'on' WHERE name = 'require_signed';
                      SELECT governance.set_context('alice')$q$, '42501', 'unsigned governance context refused',
                   'require_signed on by a plain UPDATE of governance.settings: set_context() is refused') $$);
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT throws_ok($q$DELETE FROM governance.settings WHERE name = 'require_signed';
                      SELECT governance.set_context('alice')$q$, '42501', 'unsigned governance context refused',
                   'the require_signed row deleted: set_context() is refused') $$);
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT throws_ok($q$TRUNCATE governance.settings; SELECT governance.set_context('alice')$q$, '42501',
                   'unsigned governance context refused', 'governance.settings truncated: set_context() is refused') $$);
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT lives_ok($q$UPDATE governance.settings SET value = 'on' WHERE name = 'require_signed';
                     UPDATE governance.settings SET value = 'off' WHERE name = 'require_signed';
                     SELECT governance.set_context('alice')$q$,
                  'require_signed on, then off again: set_context() sets the context') $$);
ROLLBACK;


BEGIN;
SELECT pg_temp.set_key(:key, 'k1');
SELECT governance.set_context_signed(pg_temp.mint(pg_temp.claims('alice'), :key));
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(governance.context(), '{"agent_id": "alice", "tenant_id": "acme", "correlation_id": "req-7", "sealed": true, "signed": true}'::jsonb,
            'a good token sets, seals and marks the context signed') $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$SELECT pg_temp.tamper_then_read('set_config local', 'governance.agent_id', 'mallory')$q$, '42501',
                   'governance context is sealed for this transaction', 'a signed context is sealed') $$);
ROLLBACK;
BEGIN;
SELECT pg_temp.set_key(:key, 'k1');
SELECT governance.set_context_signed(pg_temp.mint(pg_temp.claims('alice', 300, format(', "role": %s, "kid": "k1"', to_jsonb(session_user::text))), :key));
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(governance.agent_id(), 'alice', 'a token bound to this session user and naming its key id is accepted') $$);
ROLLBACK;

-- A seal made inside a savepoint that is rolled back: the C edition keeps
-- it (the seal belongs to the top-level transaction); in the SQL edition
-- the settings, seal included, go back to what they were at the savepoint.
BEGIN;
SAVEPOINT before_seal;
SELECT governance.set_context('alice');
ROLLBACK TO SAVEPOINT before_seal;
SELECT pg_temp.on(ARRAY['c'], $$ SELECT is(governance.agent_id(), 'alice', 'C: ROLLBACK TO does not undo a seal made after the savepoint') $$);
SELECT pg_temp.on(ARRAY['sql'], $$ SELECT is(governance.agent_id(), NULL, 'SQL: ROLLBACK TO undoes a seal made after the savepoint (no context)') $$);
ROLLBACK;

---------------------------------------------------------------------------
-- Audit trail
---------------------------------------------------------------------------

SELECT governance.enable_audit('public.regress_ed_t');
SELECT governance.enable_audit('public.regress_ed_t');   -- idempotent
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(enabled, true, 'audited_tables: enabled') FROM governance.audited_tables WHERE relation = 'public.regress_ed_t'::regclass $$);

SET ROLE regress_ed_app;
BEGIN;
SELECT governance.set_context('alice', 'acme', 'req-a');
INSERT INTO public.regress_ed_t VALUES (1, 'alice', 'acme', 'one'), (2, 'alice', 'acme', 'two');
UPDATE public.regress_ed_t SET v = 'uno' WHERE id = 1;
DELETE FROM public.regress_ed_t WHERE id = 2;
COMMIT;
BEGIN;
SELECT governance.set_context('bob');
INSERT INTO public.regress_ed_t SELECT g, 'bob', NULL, 'bulk' FROM generate_series(100, 249) g;
COMMIT;
BEGIN;
SELECT governance.set_context('carol');
INSERT INTO public.regress_ed_t VALUES (3, 'carol', NULL, 'rolled back');
ROLLBACK;
BEGIN;
SELECT governance.set_context('dave');
TRUNCATE public.regress_ed_t;
COMMIT;
RESET ROLE;

SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT results_eq(
    $q$SELECT op, agent_id, tenant_id, correlation_id, db_user, old_row, new_row FROM governance.audit_log
        WHERE relid = 'public.regress_ed_t'::regclass AND op <> 'DDL' AND agent_id = 'alice' ORDER BY id$q$,
    $q$VALUES ('INSERT', 'alice', 'acme', 'req-a', 'regress_ed_app', NULL::jsonb, '{"id": 1, "v": "one", "agent": "alice", "tenant": "acme"}'::jsonb),
              ('INSERT', 'alice', 'acme', 'req-a', 'regress_ed_app', NULL, '{"id": 2, "v": "two", "agent": "alice", "tenant": "acme"}'),
              ('UPDATE', 'alice', 'acme', 'req-a', 'regress_ed_app', '{"id": 1, "v": "one", "agent": "alice", "tenant": "acme"}', '{"id": 1, "v": "uno", "agent": "alice", "tenant": "acme"}'),
              ('DELETE', 'alice', 'acme', 'req-a', 'regress_ed_app', '{"id": 2, "v": "two", "agent": "alice", "tenant": "acme"}', NULL)$q$,
    'INSERT, UPDATE, DELETE: one audit row per changed row, with the context, the role and the row images') $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(count(DISTINCT id), 150::bigint, 'a 150-row INSERT: 150 audit rows with distinct ids')
    FROM governance.audit_log WHERE relid = 'public.regress_ed_t'::regclass AND agent_id = 'bob' $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(array_agg((new_row->>'id')::int ORDER BY id), array_agg(g ORDER BY g), 'in statement order, every row once')
    FROM governance.audit_log, generate_series(100, 249) g
   WHERE relid = 'public.regress_ed_t'::regclass AND agent_id = 'bob' AND (new_row->>'id')::int = g $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(count(*), 0::bigint, 'a rolled-back change leaves no audit row')
    FROM governance.audit_log WHERE agent_id = 'carol' $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(count(*), 1::bigint, 'TRUNCATE: one audit row')
    FROM governance.audit_log WHERE relid = 'public.regress_ed_t'::regclass AND op = 'TRUNCATE' AND agent_id = 'dave' $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT cmp_ok(count(*), '>=', 1::bigint, 'enable_audit() is itself recorded (op DDL)')
    FROM governance.audit_log WHERE relid = 'public.regress_ed_t'::regclass AND op = 'DDL' $$);

-- Row images do not depend on the writer's settings
CREATE TABLE public.regress_ed_img (id int, f float8, i interval, r tstzrange, n int, o int, j int, s int);
SELECT governance.enable_audit('public.regress_ed_img');
BEGIN;
SELECT governance.set_context('img');
SET LOCAL extra_float_digits = -3;
SET LOCAL IntervalStyle = 'sql_standard';
SET LOCAL DateStyle = 'German';
SET LOCAL TimeZone = 'UTC';
INSERT INTO public.regress_ed_img VALUES (1, 0.1::float8 + 0.2::float8, '1 day 2 hours', tstzrange('2026-01-02 03:04:05+00', NULL), 5, 6, 7, 8);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(current_setting('IntervalStyle') || '/' || current_setting('extra_float_digits'), 'sql_standard/-3',
            'the writer''s settings are its own after the audited write') $$);
COMMIT;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(new_row, '{"f": 0.30000000000000004, "i": "1 day 02:00:00", "r": "[\"2026-01-02 03:04:05+00\",)", "id": 1, "n": 5, "o": 6, "j": 7, "s": 8}'::jsonb,
            'row images are made with extra_float_digits = 1, IntervalStyle = postgres, DateStyle = ISO (and are whole rows, whatever the columns are called)')
    FROM governance.audit_log WHERE agent_id = 'img' AND op = 'INSERT' $$);
BEGIN;
SELECT governance.set_context('img2');
INSERT INTO public.regress_ed_img SELECT g, 0.5, '1 hour', NULL, 5, 6, 7, 8 FROM generate_series(2, 102) g;
DELETE FROM public.regress_ed_img WHERE id = 1;
COMMIT;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(count(*) FILTER (WHERE new_row->>'n' = '5' AND new_row->>'o' = '6' AND new_row ? 'id'), 101::bigint,
            'a 101-row INSERT: whole-row images, whatever the columns are called')
    FROM governance.audit_log WHERE agent_id = 'img2' AND op = 'INSERT' $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(old_row->>'id' || '/' || (old_row->>'o') || '/' || (old_row->>'n'), '1/6/5',
            'a DELETE: whole-row images, whatever the columns are called')
    FROM governance.audit_log WHERE agent_id = 'img2' AND op = 'DELETE' $$);
DROP TABLE public.regress_ed_img;

-- Columns of types a non-superuser owns are recorded as the type's text
-- output (a 1-D array of such a scalar: its elements' outputs), never
-- through to_jsonb: it would call a cast to json that the type's owner can
-- create at any time, inside the audit trigger (C: rowjson.c; SQL: the
-- trigger runs as the installer).  The same images with and without such
-- a cast, and the cast never runs.
SET ROLE regress_ed_other;
CREATE TYPE public.regress_ed_verdict AS ENUM ('approved', 'rejected');
CREATE TYPE public.regress_ed_span AS RANGE (subtype = int4);
CREATE TYPE public.regress_ed_decision AS (who text, v public.regress_ed_verdict);
CREATE DOMAIN public.regress_ed_verdict_d AS public.regress_ed_verdict;
CREATE TABLE public.regress_ed_ran (what text);
GRANT INSERT ON public.regress_ed_ran TO PUBLIC;
CREATE TABLE public.regress_ed_typed (id int PRIMARY KEY, v public.regress_ed_verdict, r public.regress_ed_span,
                                      vs public.regress_ed_verdict[], d public.regress_ed_decision,
                                      vd public.regress_ed_verdict_d, ds public.regress_ed_decision[]);
RESET ROLE;
SELECT governance.enable_audit('public.regress_ed_typed');
-- (id offset, agent): written before the owner's casts exist, then after
CREATE TEMP TABLE regress_ed_typed_rows (id int, v text, r text, vs text, d text, vd text, ds text, image jsonb);
INSERT INTO regress_ed_typed_rows VALUES
  (1, 'rejected', '[1,5)', '{rejected,NULL}', '(bob,rejected)', 'rejected', '{"(bob,rejected)"}',
   '{"id": 1, "v": "rejected", "r": "[1,5)", "vs": ["rejected", null], "d": "(bob,rejected)", "vd": "rejected", "ds": "{\"(bob,rejected)\"}"}'),
  (2, NULL, 'empty', '{{rejected},{approved}}', '(,)', NULL, NULL,
   '{"id": 2, "v": null, "r": "empty", "vs": "{{rejected},{approved}}", "d": "(,)", "vd": null, "ds": null}'),
  (3, 'approved', NULL, '{}', NULL, NULL, '{}',
   '{"id": 3, "v": "approved", "r": null, "vs": [], "d": null, "vd": null, "ds": "{}"}');
CREATE FUNCTION pg_temp.write_typed(agent text, offs int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM governance.set_context(agent);
  INSERT INTO public.regress_ed_typed
  SELECT t.id + offs, t.v::public.regress_ed_verdict, t.r::public.regress_ed_span, t.vs::public.regress_ed_verdict[],
         t.d::public.regress_ed_decision, t.vd::public.regress_ed_verdict_d, t.ds::public.regress_ed_decision[]
    FROM pg_temp.regress_ed_typed_rows t ORDER BY t.id;
END $$;
BEGIN;
SELECT pg_temp.write_typed('typed-nocast', 0);
COMMIT;
SET ROLE regress_ed_other;
CREATE FUNCTION public.regress_ed_lie(public.regress_ed_verdict) RETURNS json LANGUAGE plpgsql AS
  $f$ BEGIN INSERT INTO public.regress_ed_ran VALUES (current_user); RETURN '"approved"'; END $f$;
CREATE FUNCTION public.regress_ed_lieb(public.regress_ed_verdict) RETURNS jsonb LANGUAGE plpgsql AS
  $f$ BEGIN INSERT INTO public.regress_ed_ran VALUES (current_user); RETURN '"approved"'; END $f$;
CREATE FUNCTION public.regress_ed_spanlie(public.regress_ed_span) RETURNS json LANGUAGE plpgsql AS
  $f$ BEGIN INSERT INTO public.regress_ed_ran VALUES (current_user); RETURN '"[0,0)"'; END $f$;
CREATE CAST (public.regress_ed_verdict AS json) WITH FUNCTION public.regress_ed_lie(public.regress_ed_verdict);
CREATE CAST (public.regress_ed_verdict AS jsonb) WITH FUNCTION public.regress_ed_lieb(public.regress_ed_verdict);
CREATE CAST (public.regress_ed_span AS json) WITH FUNCTION public.regress_ed_spanlie(public.regress_ed_span);
RESET ROLE;
BEGIN;
SELECT pg_temp.write_typed('typed-cast', 10);
UPDATE public.regress_ed_typed SET v = 'approved' WHERE id = 11;
DELETE FROM public.regress_ed_typed WHERE id = 12;
COMMIT;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT results_eq($q$SELECT agent_id, new_row FROM governance.audit_log
                        WHERE relid = 'public.regress_ed_typed'::regclass AND op = 'INSERT' ORDER BY (new_row->>'id')::int$q$,
                    $q$SELECT a.agent, t.image || jsonb_build_object('id', t.id + a.offs) FROM pg_temp.regress_ed_typed_rows t,
                              (VALUES ('typed-nocast', 0), ('typed-cast', 10)) a(agent, offs) ORDER BY t.id + a.offs$q$,
                    'user-owned enum, range, array, composite, domain columns: their text output, with or without the owner''s casts to json(b)') $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(old_row->>'v' || '>' || (new_row->>'v'), 'rejected>approved', 'an UPDATE of such a column records the real old and new values')
    FROM governance.audit_log WHERE relid = 'public.regress_ed_typed'::regclass AND op = 'UPDATE' $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(old_row, t.image || '{"id": 12}', 'a DELETE''s image follows the same rule')
    FROM governance.audit_log, pg_temp.regress_ed_typed_rows t
   WHERE relid = 'public.regress_ed_typed'::regclass AND op = 'DELETE' AND t.id = 2 $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(count(*), 0::bigint, 'the type owner''s cast functions never ran in the audit trigger') FROM public.regress_ed_ran $$);
DROP TABLE public.regress_ed_typed, public.regress_ed_ran;
DROP TYPE public.regress_ed_verdict, public.regress_ed_span CASCADE;   -- and the casts, their functions

-- A partitioned table: rows written through it and into a partition are audited
CREATE TABLE public.regress_ed_p (id int, agent text) PARTITION BY RANGE (id);
CREATE TABLE public.regress_ed_p1 PARTITION OF public.regress_ed_p FOR VALUES FROM (0) TO (100);
CREATE TABLE public.regress_ed_p2 PARTITION OF public.regress_ed_p FOR VALUES FROM (100) TO (200);
SELECT governance.enable_audit('public.regress_ed_p');
BEGIN;
SELECT governance.set_context('erin');
INSERT INTO public.regress_ed_p VALUES (1, 'erin'), (150, 'erin');
INSERT INTO public.regress_ed_p2 VALUES (160, 'erin');
UPDATE public.regress_ed_p SET id = 2 WHERE id = 1;
COMMIT;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT results_eq($q$SELECT op, new_row->>'id' FROM governance.audit_log WHERE agent_id = 'erin' AND op <> 'DDL' ORDER BY id$q$,
                    $q$VALUES ('INSERT'::text, '1'::text), ('INSERT', '150'), ('INSERT', '160'), ('UPDATE', '2')$q$,
                    'partitioned table: rows through the parent and into a partition are audited') $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(enabled, true, 'audited_tables: the partitioned table is enabled') FROM governance.audited_tables WHERE relation = 'public.regress_ed_p'::regclass $$);
DROP TABLE public.regress_ed_p;

-- A sealed context changed before an audited write: the write fails, nothing is recorded
SET ROLE regress_ed_app;
BEGIN;
SELECT governance.set_context('alice', 'acme');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$SELECT set_config('governance.agent_id', 'mallory', true);
                      INSERT INTO public.regress_ed_t VALUES (7, 'mallory', 'acme', 'forged')$q$,
                   '42501', 'governance context is sealed for this transaction',
                   'an audited write after a change to the sealed context fails') $$);
ROLLBACK;
RESET ROLE;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(count(*), 0::bigint, 'and no audit row names the forged agent') FROM governance.audit_log WHERE agent_id = 'mallory' $$);

-- The trail is append-only to app roles; audit triggers are the owner's.
-- (The C edition's DDL watch refuses trigger changes on audited tables with
-- 55000 before PostgreSQL's ownership check would say 42501.)
SET ROLE regress_ed_app;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok(sql, CASE WHEN pg_temp.edition() = 'c' THEN c_state ELSE '42501' END, NULL, 'app role: ' || what)
    FROM (VALUES ($q$INSERT INTO governance.audit_batch SELECT * FROM governance.audit_batch$q$, 'cannot insert audit rows', '42501'),
                 ($q$UPDATE governance.audit_batch SET agent_id = 'x'$q$, 'cannot update audit rows', '42501'),
                 ($q$DELETE FROM governance.audit_batch$q$, 'cannot delete audit rows', '42501'),
                 ($q$TRUNCATE governance.audit_batch$q$, 'cannot truncate the trail', '42501'),
                 ($q$SELECT * FROM governance.audit_log$q$, 'cannot read the trail without a grant', '42501'),
                 ($q$ALTER TABLE public.regress_ed_t DISABLE TRIGGER governance_audit_insert$q$, 'cannot disable the audit trigger of a table it does not own', '55000'),
                 ($q$DROP TRIGGER governance_audit_insert ON public.regress_ed_t$q$, 'cannot drop the audit trigger of a table it does not own', '55000'),
                 ($q$SELECT governance.disable_audit('public.regress_ed_t')$q$, 'cannot disable_audit() a table it does not own', '42501'),
                 ($q$SELECT governance.enable_audit('public.regress_ed_r')$q$, 'cannot enable_audit() a table it does not own', '42501')) v(sql, what, c_state)
   ORDER BY what $$, 9);
RESET ROLE;

SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$SELECT governance.enable_audit('public.regress_ed_v')$q$, '42809',
                   'cannot enable auditing of "regress_ed_v" because it is a view', 'enable_audit() refuses a view') $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$CREATE TEMP TABLE regress_ed_tmp (i int); SELECT governance.enable_audit('regress_ed_tmp')$q$, '0A000',
                   'cannot enable auditing of temporary table "regress_ed_tmp"', 'enable_audit() refuses a temporary table') $$);

-- Tampering by a table's owner (a non-superuser): the C edition refuses it;
-- the SQL edition (no event triggers without a superuser) cannot, and shows it
SET ROLE regress_ed_other;
SELECT governance.enable_audit('public.regress_ed_other');
SELECT pg_temp.on(ARRAY['c'], $$
  SELECT throws_ok($q$ALTER TABLE public.regress_ed_other DISABLE TRIGGER governance_audit_insert$q$, '55000', NULL,
                   'C: the owner cannot disable an audit trigger') $$);
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT lives_ok($q$ALTER TABLE public.regress_ed_other DISABLE TRIGGER governance_audit_insert$q$,
                  'SQL: the owner can disable an audit trigger') $$);
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT results_eq($q$SELECT enabled, problems FROM governance.audited_tables WHERE relation = 'public.regress_ed_other'::regclass$q$,
                    $q$VALUES (false, ARRAY['trigger governance_audit_insert is disabled'])$q$, 'SQL: and audited_tables shows it') $$);
SELECT governance.enable_audit('public.regress_ed_other');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT results_eq($q$SELECT enabled FROM governance.audited_tables WHERE relation = 'public.regress_ed_other'::regclass$q$,
                    $q$VALUES (true)$q$, 'enable_audit() repairs the audit') $$);

-- A trigger of another shape calling the audit function records nothing
CREATE TABLE public.regress_ed_forged (id int);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$CREATE TRIGGER regress_forged BEFORE INSERT ON public.regress_ed_forged FOR EACH ROW EXECUTE FUNCTION governance.audit_trigger();
                      INSERT INTO public.regress_ed_forged VALUES (1)$q$, '42501', NULL,
                   'governance.audit_trigger() refuses an attachment enable_audit() did not make') $$);
SELECT governance.disable_audit('public.regress_ed_other');
DROP TABLE public.regress_ed_forged;
RESET ROLE;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT is(count(*), 0::bigint, 'and no audit row came from it') FROM governance.audit_log WHERE relation = 'public.regress_ed_forged' $$);

---------------------------------------------------------------------------
-- Row-level security and require_context
---------------------------------------------------------------------------

INSERT INTO public.regress_ed_r VALUES (1, 'alice', 'acme', 'a1'), (2, 'bob', 'acme', 'b1'), (3, 'alice', 'other', 'a2');
SELECT governance.enable_rls('public.regress_ed_r', 'agent', 'tenant');
SET ROLE regress_ed_app;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$ SELECT is(count(*), 0::bigint, 'RLS: no context, no rows') FROM public.regress_ed_r $$);
BEGIN;
SELECT governance.set_context('alice', 'acme');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$ SELECT results_eq('SELECT id FROM public.regress_ed_r ORDER BY id', ARRAY[1], 'RLS: the agent''s rows of its tenant') $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$INSERT INTO public.regress_ed_r VALUES (9, 'bob', 'acme', 'x')$q$, '42501', NULL,
                   'RLS: writing another agent''s row is refused') $$);
ROLLBACK;
BEGIN;
SELECT governance.set_context('alice', 'acme');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$SELECT set_config('governance.agent_id', 'bob', true); SELECT * FROM public.regress_ed_r$q$, '42501',
                   'governance context is sealed for this transaction', 'RLS never reads a changed sealed context') $$);
ROLLBACK;
RESET ROLE;

-- require_context: enforce refuses, warn records
SELECT governance.enable_audit('public.regress_ed_t');
BEGIN;
SELECT pg_temp.set_require_context('enforce');
SET LOCAL ROLE regress_ed_app;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$INSERT INTO public.regress_ed_t VALUES (50, 'x', NULL, 'no context')$q$, '42501',
                   'governance context required for INSERT on table "regress_ed_t"', 'enforce: an audited write without a context is refused') $$);
ROLLBACK;
BEGIN;
SELECT pg_temp.set_require_context('warn');
SET LOCAL ROLE regress_ed_app;
INSERT INTO public.regress_ed_t VALUES (51, 'x', NULL, 'warned');
COMMIT;
-- SQL edition: require_context per login role (governance.role_settings,
-- the C edition's ALTER ROLE ... SET): the session user's row wins over the
-- database's value, NULL removes it, only the installer sets it
BEGIN;
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT throws_ok($q$SELECT governance.set_role_setting(session_user::text::regrole, 'require_context', 'enforce');
                      SET LOCAL ROLE regress_ed_app;
                      INSERT INTO public.regress_ed_t VALUES (52, 'x', NULL, 'no context')$q$, '42501',
                   'governance context required for INSERT on table "regress_ed_t"',
                   'require_context per role: the session user''s enforce refuses, the database''s being off') $$);
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT lives_ok($q$SELECT governance.set_setting('require_context', 'enforce');
                     SELECT governance.set_role_setting(session_user::text::regrole, 'require_context', 'off');
                     SET LOCAL ROLE regress_ed_app;
                     INSERT INTO public.regress_ed_t VALUES (53, 'x', NULL, 'per-role off')$q$,
                  'require_context per role: the session user''s off goes before the database''s enforce') $$);
ROLLBACK;
BEGIN;
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT throws_ok($q$SELECT governance.set_setting('require_context', 'enforce');
                      SELECT governance.set_role_setting(session_user::text::regrole, 'require_context', 'off');
                      SELECT governance.set_role_setting(session_user::text::regrole, 'require_context', NULL);
                      SET LOCAL ROLE regress_ed_app;
                      INSERT INTO public.regress_ed_t VALUES (54, 'x', NULL, 'no context')$q$, '42501',
                   'governance context required for INSERT on table "regress_ed_t"',
                   'require_context per role: NULL removes the role''s value (the database''s enforce again)') $$);
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT throws_ok($q$SELECT governance.set_role_setting(session_user::text::regrole, 'require_signed', 'on')$q$, '42704',
                   'governance setting "require_signed" cannot be set per role', 'set_role_setting(): only require_context') $$);
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT throws_ok($q$SELECT governance.set_role_setting(session_user::text::regrole, 'require_context', 'maybe')$q$, '22023',
                   'invalid value for governance setting "require_context": maybe', 'set_role_setting(): the value is checked') $$);
SET LOCAL ROLE regress_ed_app;
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT throws_ok($q$SELECT governance.set_role_setting('regress_ed_app', 'require_context', 'off')$q$, '42501', NULL,
                   'set_role_setting(): not for an app role') $$);
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT throws_ok($q$INSERT INTO governance.role_settings VALUES ('regress_ed_app', 'require_context', 'off')$q$, '42501', NULL,
                   'nor a write of governance.role_settings') $$);
ROLLBACK;
RESET ROLE;
SELECT pg_temp.set_require_context('off');
-- The C edition writes the row at the session's next statement (plain) or
-- from its background writer (preload): wait for it, up to 10 s
CREATE FUNCTION pg_temp.wait_warned() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..500 LOOP
    IF EXISTS (SELECT FROM governance.denied_log WHERE relid = 'public.regress_ed_t'::regclass AND action = 'warned') THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.02);
  END LOOP;
  RETURN false;
END $$;
SELECT pg_temp.wait_warned();
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT results_eq($q$SELECT source, action, sqlstate, relation, command, agent_id FROM governance.denied_log
                        WHERE relid = 'public.regress_ed_t'::regclass AND action = 'warned'$q$,
                    $q$VALUES ('require_context'::text, 'warned'::text, '01007'::text, 'public.regress_ed_t'::text, 'INSERT'::text, NULL::text)$q$,
                    'warn: the write goes on and denied_log has its row') $$);

---------------------------------------------------------------------------
-- Pool stats
---------------------------------------------------------------------------

SET ROLE regress_ed_app;
SELECT governance.report_pool_stats('{"pool_id": "regress-ed", "client_pid": 4242, "report_interval_s": 10, "uptime_s": 5,
  "pool_size": 4, "max_overflow": 2, "size": 4, "checked_out": 4, "idle": 0, "overflow_in_use": 0, "waiters": 3,
  "circuit": "closed", "acquires_total": 10, "timeouts_total": 2, "exhaustion_events_total": 7,
  "connect_failures_total": 0, "invalidated_total": 0, "acquire_wait_p50_ms": 1.5, "acquire_wait_p99_ms": 20}');
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT throws_ok($q$SELECT governance.report_pool_stats('{"pool_id": "x"}')$q$, '22023', NULL,
                   'report_pool_stats() refuses an incomplete report') $$);
RESET ROLE;
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT results_eq($q$SELECT pool_id, db_user::text COLLATE "default", pool_size, checked_out, waiters, stale FROM governance.pool_stats WHERE pool_id = 'regress-ed'$q$,
                    $q$VALUES ('regress-ed'::text, session_user::text COLLATE "default", 4, 4, 3, false)$q$, 'pool_stats shows the report, keyed by the login role (not SET ROLE)') $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT results_eq($q$SELECT metric FROM governance.pool_alerts WHERE pool_id = 'regress-ed' ORDER BY metric$q$,
                    $q$VALUES ('checked_out_pct'::text), ('exhaustion_events_per_hour'), ('timeouts_per_hour')$q$,
                    'pool_alerts: the thresholds crossed (no server_connection_mismatch: the report names no backend pids)') $$);
SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT cmp_ok(demand, '>=', 6::bigint, 'connection_budget counts the pool') FROM governance.connection_budget $$);

---------------------------------------------------------------------------
-- Capabilities, privileges
---------------------------------------------------------------------------

SELECT pg_temp.on(ARRAY['c', 'sql'], $$
  SELECT bag_has($q$SELECT feature FROM governance.capabilities()$q$,
                 $q$VALUES ('context_gucs'), ('sealing'), ('signed_context'), ('audit'), ('denied_log'), ('pool_stats'),
                           ('session_context'), ('latency_histograms'), ('executor_enforcement')$q$,
                 'capabilities() lists the same features') $$);
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT results_eq($q$SELECT feature, active FROM governance.capabilities()
                        WHERE feature IN ('session_context', 'latency_histograms', 'executor_enforcement') ORDER BY feature$q$,
                    $q$VALUES ('executor_enforcement', false), ('latency_histograms', false), ('session_context', false)$q$,
                    'SQL: what needs the C library is said to be inactive') $$);
SET ROLE regress_ed_app;
SELECT pg_temp.on(ARRAY['sql'], $$
  SELECT throws_ok(sql, '42501', NULL, 'SQL, app role: ' || what)
    FROM (VALUES ($q$SELECT * FROM governance.seal_key$q$, 'cannot read the seal key'),
                 ($q$SELECT * FROM governance.signing_keys$q$, 'cannot read the signing keys'),
                 ($q$SELECT governance.set_signing_key(repeat('k', 40))$q$, 'cannot set a signing key'),
                 ($q$SELECT governance.set_setting('require_context', 'off')$q$, 'cannot change require_context'),
                 ($q$UPDATE governance.settings SET value = 'off'$q$, 'cannot write the settings'),
                 ($q$SELECT governance._write_context('mallory', NULL, NULL, true, false, NULL)$q$, 'cannot write a sealed context'),
                 ($q$INSERT INTO governance.denied_log (at, logged_at, source, action, sqlstate, backend_pid, message) VALUES (now(), now(), 'x', 'x', 'x', 1, 'x')$q$, 'cannot forge denied_log rows')) v(sql, what)
   ORDER BY what $$, 7);
RESET ROLE;

SELECT * FROM finish();

-- Clean up what this suite made (the logs keep their rows)
DROP TABLE public.regress_ed_t, public.regress_ed_r, public.regress_ed_other;
DROP VIEW public.regress_ed_v;
DROP OWNED BY regress_ed_app;
DROP OWNED BY regress_ed_other;
DROP ROLE regress_ed_app;
DROP ROLE regress_ed_other;
