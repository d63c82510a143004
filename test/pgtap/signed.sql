-- pgTAP: signed context tokens: payload.signature, HMAC-SHA256 with
-- governance.signing_key; good, forged, wrong key, truncated, expired,
-- malformed and no-key cases; the key is never shown.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
CREATE EXTENSION pg_governance;
CREATE EXTENSION pgcrypto;
CREATE ROLE regress_gov_reader IN ROLE pg_read_all_settings;
CREATE ROLE regress_gov_app;

-- Minting, as a service holding the key would (README shows the openssl way)
CREATE FUNCTION pg_temp.b64url(bytea) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT translate(encode($1, 'base64'), E'+/=\n', '-_') $$;
CREATE FUNCTION pg_temp.mint(payload text, key text) RETURNS text LANGUAGE sql
  AS $$ SELECT pg_temp.b64url(convert_to(payload, 'UTF8')) || '.' ||
               pg_temp.b64url(hmac(pg_temp.b64url(convert_to(payload, 'UTF8')), key, 'sha256')) $$;
CREATE FUNCTION pg_temp.claims(agent text, ttl int DEFAULT 300) RETURNS text LANGUAGE sql
  AS $$ SELECT format('{"agent_id": %s, "tenant_id": "acme", "correlation_id": "req-7", "exp": %s}',
                      to_jsonb(agent), extract(epoch FROM now())::bigint + ttl) $$;

\set key '\'0123456789abcdef0123456789abcdef-test-key\''
\set otherkey '\'fedcba9876543210fedcba9876543210-other-key\''

SELECT plan(59);

-- No key configured
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)',
                        pg_temp.mint(pg_temp.claims('alice'), :key)),
                 '55000', 'governance.signing_key is not set', 'no key: signed context refused');
SELECT is(active, false, 'capabilities(): signed_context inactive without a key')
  FROM governance.capabilities() WHERE feature = 'signed_context';

-- The key: superuser-only, at least 32 bytes, never shown
SELECT throws_ok($$SET LOCAL governance.signing_key = 'too-short'$$, '22023',
                 'governance.signing_key is too short', 'a short key is refused');
SET LOCAL governance.signing_key = :key;
SELECT is(current_setting('governance.signing_key'), '********', 'current_setting() masks the key');
SELECT is((SELECT count(*) FROM pg_settings WHERE name = 'governance.signing_key'), 0::bigint,
          'pg_settings does not list the key');
SET LOCAL ROLE regress_gov_reader;
SELECT is(current_setting('governance.signing_key'), '********',
          'a pg_read_all_settings member sees only the mask');
RESET ROLE;
SET LOCAL ROLE regress_gov_app;
SELECT throws_ok($$SELECT current_setting('governance.signing_key')$$, '42501', NULL,
                 'an ordinary role cannot read the key setting at all');
SELECT throws_ok($$SET governance.signing_key = 'fedcba9876543210fedcba9876543210-other-key'$$, '42501', NULL,
                 'an ordinary role cannot set the key');
SELECT throws_ok($$SET governance.require_signed = off$$, '42501', NULL,
                 'an ordinary role cannot turn require_signed off');
RESET ROLE;
SELECT is(active, true, 'capabilities(): signed_context active with a key')
  FROM governance.capabilities() WHERE feature = 'signed_context';

-- Refusals, each with its own message
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)', tok), code, msg, what)
  FROM (VALUES
    -- forged: payload changed after signing
    ((SELECT split_part(pg_temp.mint(pg_temp.claims('admin'), :key), '.', 1) || '.' ||
             split_part(pg_temp.mint(pg_temp.claims('alice'), :key), '.', 2)),
     '28000', 'governance token signature is invalid', 'forged payload'),
    (pg_temp.mint(pg_temp.claims('alice'), :otherkey),
     '28000', 'governance token signature is invalid', 'signed with another key'),
    (left(pg_temp.mint(pg_temp.claims('alice'), :key), -5),
     '22023', 'truncated governance token', 'signature cut short'),
    (split_part(pg_temp.mint(pg_temp.claims('alice'), :key), '.', 1),
     '22023', 'truncated governance token', 'no signature part'),
    (split_part(pg_temp.mint(pg_temp.claims('alice'), :key), '.', 1) || '.',
     '22023', 'truncated governance token', 'empty signature part'),
    (pg_temp.mint(pg_temp.claims('alice', -10), :key),
     '28000', 'governance token has expired', 'expired'),
    (pg_temp.mint(pg_temp.claims('alice'), :key) || '.x',
     '22023', 'malformed governance token', 'three parts'),
    ('.' || split_part(pg_temp.mint(pg_temp.claims('alice'), :key), '.', 2),
     '22023', 'malformed governance token', 'empty payload part'),
    (split_part(pg_temp.mint(pg_temp.claims('alice'), :key), '.', 1) || '.' || repeat('!', 43),
     '22023', 'malformed governance token', 'signature not base64url'),
    ('', '22023', 'truncated governance token', 'empty token'),
    (repeat('a', 9000) || '.' || repeat('b', 43),
     '22023', 'malformed governance token', 'oversized token'),
    (pg_temp.mint('not json', :key),
     '22023', 'invalid governance token payload', 'payload not JSON'),
    (pg_temp.mint('["alice"]', :key),
     '22023', 'invalid governance token payload', 'payload not an object'),
    (pg_temp.mint(format('{"exp": %s}', extract(epoch FROM now())::bigint + 60), :key),
     '22023', 'invalid governance token payload', 'no agent_id'),
    (pg_temp.mint('{"agent_id": "alice"}', :key),
     '22023', 'invalid governance token payload', 'no exp'),
    (pg_temp.mint('{"agent_id": "alice", "exp": "tomorrow"}', :key),
     '22023', 'invalid governance token payload', 'exp not a number'),
    (pg_temp.mint(format('{"agent_id": 42, "exp": %s}', extract(epoch FROM now())::bigint + 60), :key),
     '22023', 'invalid governance token payload', 'agent_id not a string'),
    (pg_temp.mint(format('{"agent_id": "alice", "agent_id": "admin", "exp": %s}', extract(epoch FROM now())::bigint + 60), :key),
     '22023', 'invalid governance token payload', 'duplicate agent_id'),
    (pg_temp.mint(format('{"agent_id": {"id": 1}, "exp": %s}', extract(epoch FROM now())::bigint + 60), :key),
     '22023', 'invalid governance token payload', 'agent_id an object'),
    (pg_temp.mint(pg_temp.claims(E'ali\tce'), :key),
     '22023', 'invalid value for governance.agent_id: contains a control character', 'signed but invalid agent_id')
  ) AS t(tok, code, msg, what);
SELECT throws_ok($$SELECT governance.set_context_signed(NULL)$$, '22004', NULL, 'NULL token');

-- Lifetime: exp at most governance.token_max_lifetime ahead (default 1 h)
SELECT is(current_setting('governance.token_max_lifetime'), '1h', 'token_max_lifetime defaults to one hour');
SELECT is(context, 'superuser', 'token_max_lifetime is SUSET')
  FROM pg_settings WHERE name = 'governance.token_max_lifetime';
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)', pg_temp.mint(pg_temp.claims('alice', 3700), :key)),
                 '28000', 'governance token lives longer than governance.token_max_lifetime',
                 'an exp more than token_max_lifetime ahead is refused');
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)', pg_temp.mint('{"agent_id": "alice", "exp": 9999999999}', :key)),
                 '28000', 'governance token lives longer than governance.token_max_lifetime',
                 'an exp years ahead is refused');
SET LOCAL governance.token_max_lifetime = '10s';
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)', pg_temp.mint(pg_temp.claims('alice', 60), :key)),
                 '28000', 'governance token lives longer than governance.token_max_lifetime',
                 'a lower token_max_lifetime refuses a 60 s token');
SET LOCAL governance.token_max_lifetime = '2h';
SET LOCAL ROLE regress_gov_app;
SELECT throws_ok($$SET governance.token_max_lifetime = '100d'$$, '42501', NULL,
                 'an ordinary role cannot raise token_max_lifetime');
RESET ROLE;

-- Role binding: a "role" claim names the session user that may use the token
CREATE FUNCTION pg_temp.for_role(agent text, r text) RETURNS text LANGUAGE sql
  AS $$ SELECT format('{"agent_id": %s, "role": %s, "exp": %s}', to_jsonb(agent), to_jsonb(r),
                      extract(epoch FROM now())::bigint + 300) $$;
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)', pg_temp.mint(pg_temp.for_role('alice', 'regress_gov_app'), :key)),
                 '28000', 'governance token is not for this role',
                 'a token bound to another role is refused');
SET LOCAL ROLE regress_gov_app;
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)', pg_temp.mint(pg_temp.for_role('alice', 'regress_gov_app'), :key)),
                 '28000', 'governance token is not for this role',
                 'the binding is to session_user: SET ROLE to the named role does not make it usable');
RESET ROLE;
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)',
                        pg_temp.mint(format('{"agent_id": "alice", "role": 10, "exp": %s}', extract(epoch FROM now())::bigint + 60), :key)),
                 '22023', 'invalid governance token payload', 'a role claim that is not a string is refused');

-- Key rotation: the current key and the previous one, each with an id that
-- a "kid" claim may name; the previous key is as hidden as the current one
SELECT throws_ok($$SET LOCAL governance.signing_key_previous = 'too-short'$$, '22023',
                 'governance.signing_key_previous is too short', 'a short previous key is refused');
SET LOCAL governance.signing_key_id = 'k2';
SET LOCAL governance.signing_key_previous = :otherkey;
SET LOCAL governance.signing_key_previous_id = 'k1';
SELECT is(current_setting('governance.signing_key_previous'), '********', 'current_setting() masks the previous key');
SELECT is((SELECT count(*) FROM pg_settings WHERE name = 'governance.signing_key_previous'), 0::bigint,
          'pg_settings does not list the previous key');
SET LOCAL ROLE regress_gov_app;
SELECT throws_ok($$SELECT current_setting('governance.signing_key_previous')$$, '42501', NULL,
                 'an ordinary role cannot read the previous key');
SELECT throws_ok($$SET governance.signing_key_previous_id = 'k9'$$, '42501', NULL,
                 'an ordinary role cannot set a key id');
RESET ROLE;
CREATE FUNCTION pg_temp.with_kid(agent text, kid text) RETURNS text LANGUAGE sql
  AS $$ SELECT format('{"agent_id": %s, "kid": %s, "exp": %s}', to_jsonb(agent), to_jsonb(kid),
                      extract(epoch FROM now())::bigint + 300) $$;
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)', pg_temp.mint(pg_temp.with_kid('alice', 'k1'), :key)),
                 '28000', 'governance token signature is invalid',
                 'a kid naming the previous key on a token signed with the current key is refused');
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)', pg_temp.mint(pg_temp.with_kid('alice', 'k2'), :otherkey)),
                 '28000', 'governance token signature is invalid',
                 'a kid naming the current key on a token signed with the previous key is refused');
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)', pg_temp.mint(pg_temp.with_kid('alice', 'k7'), :key)),
                 '28000', 'governance token signature is invalid', 'a kid naming no configured key is refused');
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)',
                        pg_temp.mint(pg_temp.claims('alice'), 'a-third-key-0123456789abcdef0123456789')),
                 '28000', 'governance token signature is invalid', 'a token signed with neither key is refused');

SELECT is(governance.agent_id(), NULL, 'refused tokens set nothing');

-- require_signed: plain set_context() refused
SET LOCAL governance.require_signed = on;
SELECT throws_ok($$SELECT governance.set_context('alice')$$, '42501',
                 'unsigned governance context refused', 'require_signed refuses set_context()');

-- A good token sets and seals the context
SELECT lives_ok(format('SELECT governance.set_context_signed(%L)',
                       pg_temp.mint(pg_temp.claims('alice'), :key)), 'a good token is accepted');
SELECT is(governance.context(),
          '{"agent_id": "alice", "tenant_id": "acme", "correlation_id": "req-7", "sealed": true, "signed": true}'::jsonb,
          'the token''s claims are the context, sealed and signed');
SELECT throws_ok($$SET governance.agent_id = 'mallory'$$, '42501', NULL, 'a signed context is sealed');

-- Tokens that pass verification now meet the seal: "sealed" (not a token
-- error) shows that verification accepted them
SELECT throws_ok(format('SELECT governance.set_context_signed(%L)', tok), '42501',
                 'governance context is sealed for this transaction', 'accepted: ' || what)
  FROM (VALUES
    (pg_temp.mint(pg_temp.claims('bob', 3700), :key), 'a 3700 s token under token_max_lifetime = 2h'),
    (pg_temp.mint(pg_temp.for_role('bob', session_user), :key), 'a token bound to session_user'),
    (pg_temp.mint(pg_temp.with_kid('bob', 'k2'), :key), 'a kid naming the current key, signed with it'),
    (pg_temp.mint(pg_temp.with_kid('bob', 'k1'), :otherkey), 'a kid naming the previous key, signed with it'),
    (pg_temp.mint(pg_temp.claims('bob'), :otherkey), 'a token without kid signed with the previous key')
  ) AS t(tok, what);

SELECT * FROM finish();
ROLLBACK;
