/*
 * Signed context: set_context_signed(token), the same token format, checks,
 * messages and SQLSTATEs as the C edition (extension/src/token.c):
 *   base64url(payload) "." base64url(HMAC-SHA256(key, first part))
 * payload {"agent_id", "tenant_id", "correlation_id", "exp", "role", "kid"}.
 * The signature is checked before the payload is decoded; both keys (current
 * and previous) are always computed, and compared through a second HMAC
 * under a random key (the comparison of PL/pgSQL's "=" is not constant-time;
 * comparing blinded values leaks nothing about the expected signature).
 *
 * The keys live in governance.signing_keys, readable by the installer only;
 * set them with governance.set_signing_key() (installer only), which stores
 * the key's HMAC pads, never the key in clear.
 */
CREATE TABLE governance.signing_keys (
	slot	text PRIMARY KEY CHECK (slot IN ('current', 'previous')),
	key_id	text CHECK (key_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
	ipad	bytea NOT NULL,
	opad	bytea NOT NULL,
	set_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON governance.signing_keys FROM PUBLIC;
COMMENT ON TABLE governance.signing_keys IS
	'Keys of signed contexts (HMAC pads only), current and previous; readable by the installer only';

/*
 * set_signing_key(key, key_id, slot): key NULL removes the slot's key.
 * Runs with the caller's rights (only the installer can write the table);
 * call it with the key as a bind parameter so it is not in a log line.
 */
CREATE FUNCTION governance.set_signing_key(key text, key_id text DEFAULT NULL, slot text DEFAULT 'current')
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF slot IS NULL OR slot NOT IN ('current', 'previous') THEN
		RAISE EXCEPTION 'invalid signing key slot: %', COALESCE(slot, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'The slots are "current" and "previous".';
	END IF;
	IF key IS NULL OR key = '' THEN
		DELETE FROM governance.signing_keys s WHERE s.slot OPERATOR(pg_catalog.=) set_signing_key.slot;
		RETURN;
	END IF;
	IF pg_catalog.octet_length(key) < 32 THEN
		RAISE EXCEPTION 'governance.signing_key is too short'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = 'A signing key has at least 32 bytes.';
	END IF;
	IF key_id IS NOT NULL AND key_id !~ '^[A-Za-z0-9._:-]{1,64}$' THEN
		RAISE EXCEPTION 'invalid key id'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A key id is 1 to 64 characters of A-Z, a-z, 0-9, ".", "_", ":" and "-".';
	END IF;
	INSERT INTO governance.signing_keys AS s (slot, key_id, ipad, opad)
		VALUES (slot, key_id, governance._hmac_pad(pg_catalog.convert_to(key, 'UTF8'), 54),
				governance._hmac_pad(pg_catalog.convert_to(key, 'UTF8'), 92))
		ON CONFLICT ON CONSTRAINT signing_keys_pkey DO UPDATE
		   SET key_id = excluded.key_id, ipad = excluded.ipad, opad = excluded.opad, set_at = excluded.set_at;
END
$$;
REVOKE ALL ON FUNCTION governance.set_signing_key(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION governance.set_signing_key(text, text, text) IS
	'Set (or with NULL remove) the current or previous key of signed contexts; installer only';

/* base64url (padding optional) to bytea; NULL if it is not base64url. */
CREATE FUNCTION governance._b64url_decode(s text) RETURNS bytea
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN (SELECT CASE WHEN t.t OPERATOR(pg_catalog.=) '' OR t.t OPERATOR(pg_catalog.!~) '^[A-Za-z0-9_-]*$'
						  OR pg_catalog.length(t.t) OPERATOR(pg_catalog.%) 4 OPERATOR(pg_catalog.=) 1 THEN NULL
					ELSE pg_catalog.decode(pg_catalog.rpad(pg_catalog.translate(t.t, '-_', '+/'),
						 (pg_catalog.length(t.t) OPERATOR(pg_catalog.+) 3) OPERATOR(pg_catalog./) 4 OPERATOR(pg_catalog.*) 4, '='), 'base64') END
			  FROM (SELECT pg_catalog.rtrim(s, '=') AS t) t);

CREATE FUNCTION governance.set_context_signed(token text) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	dot integer;
	payload_b64 text;
	sig_b64 text;
	sig bytea;
	payload bytea;
	claims json;
	blind governance.seal_key;
	matched governance.signing_keys;
	k governance.signing_keys;
	now_unix numeric;
	exp numeric;
	max_lifetime integer;
	v json;
BEGIN
	IF token IS NULL THEN
		RAISE EXCEPTION 'governance token must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT FROM governance.signing_keys) THEN
		RAISE EXCEPTION 'governance.signing_key is not set'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'The installer sets the key with governance.set_signing_key().';
	END IF;
	IF pg_catalog.octet_length(token) > 8192 THEN
		RAISE EXCEPTION 'malformed governance token' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The token is longer than 8192 bytes.';
	END IF;
	dot := pg_catalog.strpos(token, '.');
	IF dot = 0 THEN
		RAISE EXCEPTION 'truncated governance token' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The token has no signature part (expected payload.signature).';
	END IF;
	payload_b64 := pg_catalog.substr(token, 1, dot - 1);
	sig_b64 := pg_catalog.substr(token, dot + 1);
	IF pg_catalog.strpos(sig_b64, '.') > 0 THEN
		RAISE EXCEPTION 'malformed governance token' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The token has more than two parts.';
	END IF;
	IF payload_b64 = '' THEN
		RAISE EXCEPTION 'malformed governance token' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The payload part is empty.';
	END IF;
	sig_b64 := pg_catalog.rtrim(sig_b64, '=');
	IF pg_catalog.length(sig_b64) < 43 THEN
		RAISE EXCEPTION 'truncated governance token' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The signature part is shorter than an HMAC-SHA256 signature.';
	END IF;
	sig := governance._b64url_decode(sig_b64);
	IF sig IS NULL THEN
		RAISE EXCEPTION 'malformed governance token' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The signature part is not valid base64url.';
	END IF;
	IF pg_catalog.length(sig) <> 32 THEN
		RAISE EXCEPTION 'malformed governance token' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The signature part is not an HMAC-SHA256 signature.';
	END IF;

	-- every key, whichever matches; compared blinded (see the top)
	SELECT * INTO STRICT blind FROM governance.seal_key;
	FOR k IN SELECT * FROM governance.signing_keys ORDER BY slot LOOP
		IF governance._hmac(blind.ipad, blind.opad,
							governance._hmac(k.ipad, k.opad, pg_catalog.convert_to(payload_b64, 'UTF8')))
		   = governance._hmac(blind.ipad, blind.opad, sig)
		   AND matched.slot IS NULL THEN
			matched := k;
		END IF;
	END LOOP;
	IF matched.slot IS NULL THEN
		RAISE EXCEPTION 'governance token signature is invalid' USING ERRCODE = 'invalid_authorization_specification',
			DETAIL = 'The signature does not match the payload under governance.signing_key (nor governance.signing_key_previous).';
	END IF;

	payload := governance._b64url_decode(payload_b64);
	IF payload IS NULL THEN
		RAISE EXCEPTION 'invalid governance token payload' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The payload part is not valid base64url.';
	END IF;
	BEGIN
		claims := pg_catalog.convert_from(payload, 'UTF8')::json;
	EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
		RAISE EXCEPTION 'invalid governance token payload' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The payload is not valid UTF-8.';
	WHEN invalid_text_representation OR invalid_parameter_value THEN
		RAISE EXCEPTION 'invalid governance token payload' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The payload is not valid JSON.';
	END;
	IF pg_catalog.json_typeof(claims) <> 'object' THEN
		RAISE EXCEPTION 'invalid governance token payload' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The payload is not a JSON object.';
	END IF;
	IF (SELECT pg_catalog.count(*) <> pg_catalog.count(DISTINCT key) FROM pg_catalog.json_object_keys(claims) key) THEN
		RAISE EXCEPTION 'invalid governance token payload' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'A member appears more than once.';
	END IF;
	FOR v IN SELECT claims -> f FROM pg_catalog.unnest(ARRAY['agent_id', 'tenant_id', 'correlation_id', 'role', 'kid']) f
			  WHERE claims -> f IS NOT NULL LOOP
		IF pg_catalog.json_typeof(v) NOT IN ('string', 'null') THEN
			RAISE EXCEPTION 'invalid governance token payload' USING ERRCODE = 'invalid_parameter_value',
				DETAIL = 'agent_id, tenant_id, correlation_id, role and kid must be strings (or null).';
		END IF;
	END LOOP;
	IF claims -> 'agent_id' IS NULL OR pg_catalog.json_typeof(claims -> 'agent_id') <> 'string' THEN
		RAISE EXCEPTION 'invalid governance token payload' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The payload has no agent_id.';
	END IF;
	IF claims -> 'exp' IS NULL THEN
		RAISE EXCEPTION 'invalid governance token payload' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The payload has no exp.';
	END IF;
	IF pg_catalog.json_typeof(claims -> 'exp') <> 'number' THEN
		RAISE EXCEPTION 'invalid governance token payload' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'exp must be a number of Unix seconds.';
	END IF;
	exp := (claims ->> 'exp')::numeric;
	IF exp <> pg_catalog.trunc(exp) OR pg_catalog.abs(exp) > 9007199254740991 THEN
		RAISE EXCEPTION 'invalid governance token payload' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'exp must be a whole number of Unix seconds.';
	END IF;

	IF claims ->> 'kid' IS NOT NULL AND (matched.key_id IS NULL OR claims ->> 'kid' <> matched.key_id) THEN
		RAISE EXCEPTION 'governance token signature is invalid' USING ERRCODE = 'invalid_authorization_specification',
			DETAIL = 'The token''s kid does not name the key that signed it.';
	END IF;
	now_unix := pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()));
	IF exp <= now_unix THEN
		RAISE EXCEPTION 'governance token has expired' USING ERRCODE = 'invalid_authorization_specification',
			DETAIL = pg_catalog.format('The token expired at %s.', pg_catalog.to_timestamp(exp::double precision));
	END IF;
	max_lifetime := governance._setting('token_max_lifetime')::integer;
	IF max_lifetime > 0 AND exp - now_unix > max_lifetime THEN
		RAISE EXCEPTION 'governance token lives longer than governance.token_max_lifetime'
			USING ERRCODE = 'invalid_authorization_specification',
				  DETAIL = pg_catalog.format('The token''s exp is %s seconds ahead; at most %s are allowed.', exp - now_unix, max_lifetime),
				  HINT = 'Mint tokens per request with a short exp.';
	END IF;
	IF claims ->> 'role' IS NOT NULL AND claims ->> 'role' <> session_user THEN
		RAISE EXCEPTION 'governance token is not for this role' USING ERRCODE = 'invalid_authorization_specification',
			DETAIL = pg_catalog.format('The token is bound to role "%s"; the session user is "%s".', claims ->> 'role', session_user);
	END IF;

	PERFORM governance._check_value('agent_id', claims ->> 'agent_id'),
			governance._check_value('tenant_id', claims ->> 'tenant_id'),
			governance._check_value('correlation_id', claims ->> 'correlation_id');
	IF claims ->> 'agent_id' = '' THEN
		RAISE EXCEPTION 'agent_id must not be null or empty' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF (governance._context_core()).sealed THEN
		RAISE EXCEPTION 'governance context is sealed for this transaction'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'A sealed context lasts until COMMIT or ROLLBACK.';
	END IF;
	PERFORM governance._write_context(claims ->> 'agent_id', claims ->> 'tenant_id',
									  claims ->> 'correlation_id', true, true, blind);
END
$$;
COMMENT ON FUNCTION governance.set_context_signed(text) IS
	'Verify an HMAC-SHA256-signed token and set and seal the context it carries';
