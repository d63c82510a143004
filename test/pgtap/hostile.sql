-- pgTAP: hostile context values through every SQL door: set_context(),
-- SET, set_config() and set_context_signed().  What test/pgtap/context.sql does
-- not: quotes, backslashes and SQL fragments are data (stored verbatim,
-- never run); NUL and invalid UTF-8 cannot even become text; 10 MB values;
-- every C0 and C1 control through set_config(); hostile tokens and hostile
-- claims inside validly signed tokens.  A refused value gets an error
-- naming the field (or, when it cannot be text at all, the encoding error)
-- and nothing is stored: the context stays unset, no row and no audit row
-- are written, and the session goes on working.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
CREATE EXTENSION pg_governance;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SET LOCAL client_min_messages = warning;

CREATE TABLE hostile_t (id bigserial PRIMARY KEY, note text NOT NULL);
SELECT governance.enable_audit('hostile_t');

-- Minting signed tokens as in test/pgtap/signed.sql
CREATE FUNCTION pg_temp.b64url(bytea) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT translate(encode($1, 'base64'), E'+/=\n', '-_') $$;
CREATE FUNCTION pg_temp.mint(payload text, key text) RETURNS text LANGUAGE sql
  AS $$ SELECT pg_temp.b64url(convert_to(payload, 'UTF8')) || '.' ||
               pg_temp.b64url(hmac(pg_temp.b64url(convert_to(payload, 'UTF8')), key, 'sha256')) $$;
CREATE FUNCTION pg_temp.soon() RETURNS text LANGUAGE sql
  AS $$ SELECT (extract(epoch FROM now())::bigint + 60)::text $$;
\set key '\'0123456789abcdef0123456789abcdef-hostile-key\''
SET LOCAL governance.signing_key = :key;

-- One governed write: sets the context (by the given SQL expression) and
-- inserts a row noting `note` in the same statement, so a refused context
-- can leave no row and no audit row behind.
CREATE FUNCTION pg_temp.governed_insert(setter text, note text) RETURNS text LANGUAGE sql
  AS $$ SELECT format('INSERT INTO hostile_t (note) SELECT %L FROM (SELECT %s) AS s', note, setter) $$;
CREATE FUNCTION pg_temp.stored(note text) RETURNS bigint LANGUAGE sql
  AS $$ SELECT (SELECT count(*) FROM hostile_t t WHERE t.note = $1)
             + (SELECT count(*) FROM governance.audit_log a WHERE a.new_row->>'note' = $1) $$;

SELECT plan(105);

-- ---- Data, not SQL: accepted verbatim in agent_id and tenant_id ----
CREATE TEMP TABLE verbatim (n int, v text);
INSERT INTO verbatim VALUES
  (1, $v$o'brien$v$), (2, $v$''''$v$), (3, $v$a\b\$v$), (4, $v$\x41\u0000\0$v$),
  (5, $v$'); DROP TABLE hostile_t; --$v$), (6, $v$$$; DROP TABLE hostile_t; $$$v$),
  (7, '$1'), (8, '%s%n%x%p%%'), (9, $v$"; SELECT pg_sleep(10); --$v$),
  (10, $v$Robert'); DELETE FROM governance.audit_log; --$v$), (11, $v${"agent_id": "root"}$v$),
  (12, $v$E'\x00'$v$), (13, $v$convert_from('\x00', 'UTF8')$v$), (14, 'café ✓ 🔑');

SELECT lives_ok(pg_temp.governed_insert(format('governance.set_context(%L, %L, seal => false)', v, v), 'verbatim-' || n),
                format('set_context() takes hostile value %s as data', n))
  FROM verbatim ORDER BY n;
SELECT is(a.agent_id || '|' || a.tenant_id, v.v || '|' || v.v,
          format('the audit row carries hostile value %s verbatim', v.n))
  FROM verbatim v JOIN governance.audit_log a ON a.new_row->>'note' = 'verbatim-' || v.n ORDER BY v.n;
SELECT is((SELECT count(*) FROM pg_class WHERE relname = 'hostile_t'), 1::bigint,
          'no hostile value was run as SQL (hostile_t still exists)');
SELECT is((SELECT count(*) FROM governance.audit_log WHERE relation LIKE '%hostile_t' AND op <> 'DDL' AND new_row ? 'note'), 14::bigint,
          'no hostile value was run as SQL (the audit trail holds exactly the 14 rows)');

-- the same values read back exactly; SET and set_config() refuse them as
-- they refuse every value (only set_context() sets the context), naming the
-- setting, and never run them
CREATE FUNCTION pg_temp.roundtrips() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE r record; n bigint := 0;
BEGIN
  FOR r IN SELECT v FROM verbatim LOOP
    PERFORM governance.set_context(r.v, r.v, seal => false);
    IF governance.agent_id() = r.v AND governance.tenant_id() = r.v THEN n := n + 1; END IF;
  END LOOP;
  RETURN n;
END $$;
SELECT is(pg_temp.roundtrips(), 14::bigint, 'set_context() stores every hostile value verbatim and reads it back');
SELECT governance.set_context('reset', seal => false);
CREATE FUNCTION pg_temp.set_refusals(how text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE r record; n bigint := 0;
BEGIN
  FOR r IN SELECT v FROM verbatim LOOP
    BEGIN
      IF how = 'SET' THEN
        EXECUTE format('SET LOCAL governance.agent_id = %L', r.v);
      ELSE
        PERFORM set_config('governance.tenant_id', r.v, false);
      END IF;
    EXCEPTION WHEN insufficient_privilege THEN
      IF SQLERRM LIKE 'governance.% can only be set by governance.set_context()' THEN n := n + 1; END IF;
    END;
  END LOOP;
  RETURN n;
END $$;
SELECT is(pg_temp.set_refusals('SET'), 14::bigint, 'SET refuses every hostile value as it refuses any value');
SELECT is(pg_temp.set_refusals('set_config'), 14::bigint, 'set_config() refuses every hostile value as it refuses any value');
SELECT is(governance.agent_id() || '/' || coalesce(governance.tenant_id(), '<null>'), 'reset/<null>',
          'and none of them was set');
RESET governance.agent_id;
RESET governance.tenant_id;

-- ---- Refused: an error naming the field, nothing stored ----
CREATE TEMP TABLE refused (n serial, setter text, state text, msg text, what text);
INSERT INTO refused (setter, state, msg, what) VALUES
  -- correlation ids: only [A-Za-z0-9._:-], at most 128
  ($$governance.set_context('a', NULL, $c$'); DROP TABLE hostile_t; --$c$, false)$$, '22023',
   'invalid value for governance.correlation_id: only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed',
   'SQL in a correlation id'),
  ($$governance.set_context('a', NULL, '$1', false)$$, '22023',
   'invalid value for governance.correlation_id: only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed',
   'a parameter reference as correlation id'),
  ($$governance.set_context('a', NULL, '%s', false)$$, '22023',
   'invalid value for governance.correlation_id: only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed',
   'a format directive as correlation id'),
  ($$governance.set_context('a', NULL, $c$req'1$c$, false)$$, '22023',
   'invalid value for governance.correlation_id: only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed',
   'a quote in a correlation id'),
  ($$governance.set_context('a', NULL, E'req\\1', false)$$, '22023',
   'invalid value for governance.correlation_id: only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed',
   'a backslash in a correlation id'),
  ($$set_config('governance.correlation_id', 'req;1', true)$$, '22023',
   'invalid value for governance.correlation_id: only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed',
   'set_config() of a correlation id with a semicolon'),
  ($$set_config('governance.correlation_id', repeat('c', 129), true)$$, '22023',
   'invalid value for governance.correlation_id: longer than 128 characters', 'set_config() of a 129-character correlation id'),
  ($$governance.set_context('a', NULL, repeat('c', 10 * 1024 * 1024), false)$$, '22023',
   'invalid value for governance.correlation_id: longer than 128 characters', 'a 10 MB correlation id'),
  -- 10 MB values
  ($$governance.set_context(repeat('x', 10 * 1024 * 1024), seal => false)$$, '22023',
   'invalid value for governance.agent_id: longer than 256 characters', 'a 10 MB agent_id'),
  ($$governance.set_context('a', repeat('é', 5 * 1024 * 1024), seal => false)$$, '22023',
   'invalid value for governance.tenant_id: longer than 256 characters', 'a 10 MB (5 M two-byte characters) tenant_id'),
  ($$set_config('governance.agent_id', repeat('x', 10 * 1024 * 1024), true)$$, '22023',
   'invalid value for governance.agent_id: longer than 256 characters', 'set_config() of a 10 MB agent_id'),
  ($$set_config('governance.tenant_id', repeat('x', 10 * 1024 * 1024), true)$$, '22023',
   'invalid value for governance.tenant_id: longer than 256 characters', 'set_config() of a 10 MB tenant_id'),
  -- controls the value would smuggle into logs
  ($$set_config('governance.agent_id', E'alice\n2026-01-01 00:00:00 UTC [1] LOG:  forged', true)$$, '22023',
   'invalid value for governance.agent_id: contains a control character', 'set_config() of a log-injection newline'),
  ($$set_config('governance.tenant_id', E'\x1b[2J', true)$$, '22023',
   'invalid value for governance.tenant_id: contains a control character', 'set_config() of an ANSI escape'),
  ($$governance.set_context(E'a\u009bb', seal => false)$$, '22023',
   'invalid value for governance.agent_id: contains a control character', 'set_context() of C1 CSI (U+009B)'),
  ($$governance.set_context('a', E'\u0085', seal => false)$$, '22023',
   'invalid value for governance.tenant_id: contains a control character', 'set_context() of C1 NEL in tenant_id'),
  -- NUL and invalid UTF-8 cannot become text: refused before any governance code runs
  ($$governance.set_context(convert_from('\x00'::bytea, 'UTF8'), seal => false)$$, '22021',
   'invalid byte sequence for encoding "UTF8": 0x00', 'NUL via convert_from() cannot become text'),
  ($$governance.set_context('a' || chr(0), seal => false)$$, '54000',
   'null character not permitted', 'NUL via chr(0) cannot become text'),
  ($$set_config('governance.tenant_id', convert_from('\x61006263'::bytea, 'UTF8'), true)$$, '22021',
   'invalid byte sequence for encoding "UTF8": 0x00', 'an embedded NUL via set_config() cannot become text'),
  ($$governance.set_context(convert_from('\xff'::bytea, 'UTF8'), seal => false)$$, '22021',
   'invalid byte sequence for encoding "UTF8": 0xff', 'invalid UTF-8 cannot become text'),
  ($$set_config('governance.agent_id', convert_from('\xc0af'::bytea, 'UTF8'), true)$$, '22021',
   'invalid byte sequence for encoding "UTF8": 0xc0 0xaf', 'an overlong UTF-8 encoding cannot become text'),
  ($$set_config('governance.agent_id', convert_from('\xeda080'::bytea, 'UTF8'), true)$$, '22021',
   'invalid byte sequence for encoding "UTF8": 0xed 0xa0 0x80', 'a UTF-8 surrogate cannot become text'),
  -- signed tokens: hostile tokens, and hostile claims under a good signature
  ($$governance.set_context_signed($t$'); DROP TABLE hostile_t; --$t$)$$, '22023',
   'truncated governance token', 'an SQL fragment as token'),
  ($$governance.set_context_signed('%s.%s%s%s')$$, '22023',
   'truncated governance token', 'format directives as token'),
  ($$governance.set_context_signed(repeat('A', 10 * 1024 * 1024) || '.AAAA')$$, '22023',
   'malformed governance token', 'a 10 MB token'),
  ($$governance.set_context_signed(convert_from('\x00'::bytea, 'UTF8'))$$, '22021',
   'invalid byte sequence for encoding "UTF8": 0x00', 'a NUL token cannot become text'),
  ($$governance.set_context_signed(pg_temp.mint('{"agent_id": "a\u0001b", "exp": ' || pg_temp.soon() || '}', current_setting('hostile.key')))$$, '22023',
   'invalid value for governance.agent_id: contains a control character', 'a signed agent_id with a control character'),
  ($$governance.set_context_signed(pg_temp.mint('{"agent_id": "a", "tenant_id": "\u0085", "exp": ' || pg_temp.soon() || '}', current_setting('hostile.key')))$$, '22023',
   'invalid value for governance.tenant_id: contains a control character', 'a signed tenant_id with C1 NEL'),
  ($$governance.set_context_signed(pg_temp.mint('{"agent_id": "a", "correlation_id": "''); DROP TABLE hostile_t; --", "exp": ' || pg_temp.soon() || '}', current_setting('hostile.key')))$$, '22023',
   'invalid value for governance.correlation_id: only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed', 'a signed correlation id with SQL'),
  ($$governance.set_context_signed(pg_temp.mint(format('{"agent_id": "%s", "exp": ' || pg_temp.soon() || '}', repeat('a', 300)), current_setting('hostile.key')))$$, '22023',
   'invalid value for governance.agent_id: longer than 256 characters', 'a signed 300-character agent_id'),
  ($$governance.set_context_signed(pg_temp.mint('{"agent_id": "a\u0000b", "exp": ' || pg_temp.soon() || '}', current_setting('hostile.key')))$$, '22023',
   'invalid governance token payload', 'a signed agent_id with an escaped NUL');
SET LOCAL hostile.key = :key;

SELECT throws_ok(pg_temp.governed_insert(setter, 'refused-' || n), state, msg, 'refused: ' || what)
  FROM refused ORDER BY n;
SELECT is(pg_temp.stored('refused-' || n), 0::bigint, 'nothing stored: ' || what)
  FROM refused ORDER BY n;
SELECT is(governance.context(),
          '{"agent_id": null, "tenant_id": null, "correlation_id": null, "sealed": false, "signed": false}'::jsonb,
          'after every refusal the context is still unset and unsealed');

-- Every C0 and C1 control, and DEL, through set_config() on agent_id and tenant_id
CREATE FUNCTION pg_temp.refusals(g text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE c int; n bigint := 0;
BEGIN
  FOR c IN SELECT * FROM generate_series(1, 31) UNION ALL SELECT 127 UNION ALL SELECT * FROM generate_series(128, 159) LOOP
    BEGIN
      PERFORM set_config(g, 'x' || chr(c) || 'y', true);
    EXCEPTION WHEN invalid_parameter_value THEN
      IF SQLERRM = format('invalid value for %s: contains a control character', g) THEN n := n + 1; END IF;
    END;
  END LOOP;
  RETURN n;
END $$;
SELECT is(pg_temp.refusals('governance.agent_id'), 64::bigint,
          'set_config() refuses all 64 C0/DEL/C1 controls in agent_id, naming it');
SELECT is(pg_temp.refusals('governance.tenant_id'), 64::bigint,
          'set_config() refuses all 64 C0/DEL/C1 controls in tenant_id, naming it');
SELECT is(governance.agent_id(), NULL, 'and none of them was set');

-- The session works on: a good governed write right after the refusals
SELECT lives_ok(pg_temp.governed_insert($$governance.set_context('after', 'acme', 'req-1', seal => false)$$, 'after-refusals'),
                'a good governed write works after the refusals');
SELECT is((SELECT agent_id || '/' || tenant_id || '/' || correlation_id FROM governance.audit_log
            WHERE new_row->>'note' = 'after-refusals'), 'after/acme/req-1', 'and is audited with its context');

-- A sealed context is not disturbed by hostile attempts either
SELECT governance.set_context('sealed-agent', 'acme');
SELECT throws_ok($$SELECT set_config('governance.agent_id', $x$'); DROP TABLE hostile_t; --$x$, true)$$, '42501',
                 'governance context is sealed for this transaction', 'a hostile value cannot replace a sealed one');
SELECT throws_ok($$SELECT governance.set_context(repeat('x', 10 * 1024 * 1024))$$, '42501',
                 'governance context is sealed for this transaction', 'a 10 MB value is refused under a seal too');
SELECT is(governance.agent_id(), 'sealed-agent', 'the sealed context is intact');

SELECT * FROM finish();
ROLLBACK;
