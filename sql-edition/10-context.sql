/*
 * The governance context: validation, set_context(), the accessors, the seal.
 *
 * The values live where the C edition keeps them, in the transaction-local
 * settings governance.agent_id, governance.tenant_id and
 * governance.correlation_id (set_config(..., true): gone at COMMIT or
 * ROLLBACK).  Without the C library nothing checks a SET of those
 * placeholders, so the SQL edition checks at read time instead:
 * set_context() writes a fourth setting, governance.context_seal, holding
 * "<flags>:" and an HMAC-SHA256 under the seal key (readable by the
 * installer only) over the backend pid, the transaction's start time, the
 * flags (sealed, signed) and the values (sealed: one MAC over the three;
 * unsealed: one per value, see _write_context()).  Every reader
 * (agent_id(), tenant_id(), correlation_id(), context(), the RLS policy and
 * the audit trigger) goes through governance._context(), which recomputes
 * the MACs and raises instead of returning a value set_context() did not
 * write:
 *   - a value changed after a sealed set_context(): 42501 "governance
 *     context is sealed for this transaction";
 *   - any other value not written by set_context(): 42501 "governance.X can
 *     only be set by governance.set_context()" (22023 if it is not even a
 *     valid value);
 *   - clearing a value is allowed unless sealed, as in the C edition.
 * A MAC cannot be copied from another backend or from a transaction that
 * started at another time (pid and transaction start are in it), nor made
 * without the key.  What is not detected: clearing every governance.*
 * setting, the seal included (RESET ALL), and a seal undone by ROLLBACK TO
 * a savepoint taken before it; both leave the context as it was before
 * set_context() (none, usually) and let set_context() run again.  And the
 * transactions of one simple-Query message (a multi-statement string)
 * share their start time, so a seal saved in one verifies in a later one
 * of the same message: the reach of one long transaction, which keeps its
 * context anyway.  docs/sql-edition.md ("What the seal cannot
 * see") says why no state a PL/pgSQL function can keep does better at a
 * cost below the transaction's own.
 *
 * Cost: the hot path (set_context(), a reader of a sealed context, the
 * audit trigger) is one query each: expressions are compiled at every
 * execution, and each function call in them is checked for EXECUTE, so
 * the queries are kept small; their plans are generic (plan_cache_mode):
 * a custom plan would re-plan the inlined seal at every call.
 */

/* NULL if the value is valid for the field, else why not (as the C edition says it). */
CREATE FUNCTION governance._invalid_reason(field text, value text) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN CASE
		WHEN value IS NULL OR value OPERATOR(pg_catalog.=) '' THEN NULL
		WHEN field OPERATOR(pg_catalog.=) 'correlation_id' THEN
			CASE WHEN value OPERATOR(pg_catalog.!~) '^[A-Za-z0-9._:-]*$'
					 THEN 'only A-Z, a-z, 0-9, ".", "_", ":" and "-" are allowed'
				 WHEN pg_catalog.length(value) OPERATOR(pg_catalog.>) 128 THEN 'longer than 128 characters' END
		WHEN value OPERATOR(pg_catalog.~) '[\u0001-\u001f\u007f-\u009f]' THEN 'contains a control character'
		WHEN pg_catalog.length(value) OPERATOR(pg_catalog.>) 256 THEN 'longer than 256 characters'
	END;

/*
 * set_context()'s fast path may write: an agent, the three values valid
 * (NULL and '' are, for the tenant and the correlation id) and no seal yet
 * (SEAL is governance.context_seal, NULL or '' when no context is set).
 * The same rules as _invalid_reason() in fewer function calls (expressions
 * are compiled at every execution and each call in them is checked for
 * EXECUTE: calls are what set_context()'s one expression costs): the
 * characters of all three and the empty seal in one regular expression
 * (U+001F, the separator, is a control character, which a valid value
 * cannot hold, so the parts are unambiguous), then the lengths (bounds in
 * the expression, {0,255}, cost ten times more to match).  A value it
 * refuses is then reported by _check_value().
 */
CREATE FUNCTION governance._values_ok(agent text, tenant text, corr text, seal text) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN pg_catalog.concat_ws(E'\x1f', COALESCE(agent, ''), COALESCE(tenant, ''), COALESCE(corr, ''), COALESCE(seal, ''))
			   OPERATOR(pg_catalog.~) '^[^\u0001-\u001f\u007f-\u009f]+\u001f[^\u0001-\u001f\u007f-\u009f]*\u001f[A-Za-z0-9._:-]*\u001f$'
		   AND GREATEST(pg_catalog.length(agent), pg_catalog.length(tenant)) OPERATOR(pg_catalog.<=) 256
		   AND (pg_catalog.length(corr) OPERATOR(pg_catalog.<=) 128) IS NOT FALSE;

/* Raise 22023 naming the setting if the value is not valid for it. */
CREATE FUNCTION governance._check_value(field text, value text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	why CONSTANT text := governance._invalid_reason(field, value);
BEGIN
	IF why IS NOT NULL THEN
		RAISE EXCEPTION 'invalid value for governance.%: %', field, why
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$$;

/*
 * The MAC of (part of) the context of this transaction: of the backend,
 * the transaction's start (seconds since 1970 to the microsecond, as
 * EXTRACT gives them: whatever TimeZone or DateStyle say) and MSG, which
 * the caller makes with concat_ws(E'\x1f', flags, field ("*" for all three),
 * value(s)).  E'\x1f' cannot occur in a valid value and the number of parts
 * is fixed per kind of seal, so the message is unambiguous.  Its bytes are
 * UTF-8 (convert_to), never the client's encoding (textsend() would
 * convert to it, and encodings such as SJIS write two characters, "\" and
 * U+00A5, as one byte: a value changed from one to the other would keep
 * its MAC).  Ten function calls, inlined into its callers' queries.
 */
CREATE FUNCTION governance._context_mac(ipad bytea, opad bytea, msg text)
	RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN pg_catalog.encode(governance._hmac(ipad, opad,
		pg_catalog.convert_to(pg_catalog.concat_ws(E'\x1f', pg_catalog.pg_backend_pid(),
												   EXTRACT(epoch FROM pg_catalog.transaction_timestamp()), msg), 'UTF8')), 'base64');

/*
 * The MAC of a sealed context: _context_mac(ipad, opad, concat_ws(E'\x1f',
 * flags, '*', a, t, c)), the same bytes with one concat_ws() call instead of
 * two (concat_ws() skips NULLs either way).  Nine function calls.
 */
CREATE FUNCTION governance._seal_mac(ipad bytea, opad bytea, flags text, a text, t text, c text)
	RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN pg_catalog.encode(governance._hmac(ipad, opad,
		pg_catalog.convert_to(pg_catalog.concat_ws(E'\x1f', pg_catalog.pg_backend_pid(),
												   EXTRACT(epoch FROM pg_catalog.transaction_timestamp()),
												   flags, '*', a, t, c), 'UTF8')), 'base64');

/* Is M (governance.context_seal) a valid seal of the sealed context A, T, C? */
CREATE FUNCTION governance._sealed_ok(ipad bytea, opad bytea, m text, a text, t text, c text)
	RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN pg_catalog.left(m, 3) OPERATOR(pg_catalog.=) ANY (ARRAY['s-:', 'sg:'])
		   AND pg_catalog.substr(m, 4) OPERATOR(pg_catalog.=)
			   governance._seal_mac(ipad, opad, pg_catalog.left(m, 2), a, t, c);

/*
 * Write the context (validated by the caller) and its seal: sealed, one
 * MAC over the three values ("s-:mac"); unsealed, one per value
 * ("u-:mac:mac:mac"), since clearing one value of an unsealed context is
 * allowed, as in the C edition.  "g" in place of "-": signed.  Returns the
 * seal.  _write_sealed() is the sealed case alone, a SQL function with a
 * SQL-standard body: inlined into set_context()'s and set_context_signed()'s
 * query, no call and no query of its own, and small, since its expression
 * is compiled at every call (expressions are compiled per execution).  The
 * three values are written as the MAC's arguments (set_config() returns
 * the value it set; arguments are evaluated before the call, so the seal is
 * written last): no call to join the four writes.
 */
CREATE FUNCTION governance._write_sealed(agent text, tenant text, corr text, flags text, ipad bytea, opad bytea)
	RETURNS text
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	RETURN pg_catalog.set_config('governance.context_seal',
		pg_catalog.concat(flags, ':', governance._seal_mac(ipad, opad, flags,
			pg_catalog.set_config('governance.agent_id', agent, true),
			pg_catalog.set_config('governance.tenant_id', COALESCE(tenant, ''), true),
			pg_catalog.set_config('governance.correlation_id', COALESCE(corr, ''), true))), true);
REVOKE ALL ON FUNCTION governance._write_sealed(text, text, text, text, bytea, bytea) FROM PUBLIC;

CREATE FUNCTION governance._write_context(agent text, tenant text, corr text, sealed boolean, signed boolean,
										  k governance.seal_key)
	RETURNS text
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	RETURN CASE WHEN sealed
		THEN governance._write_sealed(agent, tenant, corr, CASE WHEN signed THEN 'sg' ELSE 's-' END, k.ipad, k.opad)
		ELSE pg_catalog.concat(
			pg_catalog.set_config('governance.agent_id', agent, true),
			pg_catalog.set_config('governance.tenant_id', COALESCE(tenant, ''), true),
			pg_catalog.set_config('governance.correlation_id', COALESCE(corr, ''), true),
			pg_catalog.set_config('governance.context_seal', pg_catalog.concat(CASE WHEN signed THEN 'ug' ELSE 'u-' END, ':',
				governance._context_mac(k.ipad, k.opad, pg_catalog.concat_ws(E'\x1f', CASE WHEN signed THEN 'ug' ELSE 'u-' END, 'agent_id', agent)), ':',
				governance._context_mac(k.ipad, k.opad, pg_catalog.concat_ws(E'\x1f', CASE WHEN signed THEN 'ug' ELSE 'u-' END, 'tenant_id', COALESCE(tenant, ''))), ':',
				governance._context_mac(k.ipad, k.opad, pg_catalog.concat_ws(E'\x1f', CASE WHEN signed THEN 'ug' ELSE 'u-' END, 'correlation_id', COALESCE(corr, '')))), true)) END;
REVOKE ALL ON FUNCTION governance._write_context(text, text, text, boolean, boolean, governance.seal_key) FROM PUBLIC;

/*
 * The verified context of this transaction (see the top of this file).
 * Every reader goes through here; it raises rather than return a value
 * that set_context() did not write.  _context_core() is the body, for the
 * SECURITY DEFINER functions that already run under the pinned path;
 * _context() is the entry point for everyone else.
 */
CREATE FUNCTION governance._context_core(OUT agent_id text, OUT tenant_id text, OUT correlation_id text,
										 OUT sealed boolean, OUT signed boolean)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
	a CONSTANT text := COALESCE(pg_catalog.current_setting('governance.agent_id', true), '');
	t CONSTANT text := COALESCE(pg_catalog.current_setting('governance.tenant_id', true), '');
	c CONSTANT text := COALESCE(pg_catalog.current_setting('governance.correlation_id', true), '');
	m CONSTANT text := COALESCE(pg_catalog.current_setting('governance.context_seal', true), '');
	parts text[];
	k governance.seal_key;
	fields CONSTANT text[] := ARRAY['agent_id', 'tenant_id', 'correlation_id'];
	vals text[];
	bad text;
BEGIN
	sealed := false;
	signed := false;
	IF a = '' AND t = '' AND c = '' AND m = '' THEN
		RETURN;
	END IF;
	vals := ARRAY[a, t, c];
	parts := pg_catalog.string_to_array(m, ':');
	IF pg_catalog.cardinality(parts) = 2 AND parts[1] IN ('s-', 'sg') THEN
		SELECT * INTO STRICT k FROM governance.seal_key;
		sealed := true;
		signed := parts[1] = 'sg';
		IF parts[2] <> governance._seal_mac(k.ipad, k.opad, parts[1], a, t, c) THEN
			bad := '*';
		END IF;
	ELSIF pg_catalog.cardinality(parts) = 4 AND parts[1] IN ('u-', 'ug') THEN
		SELECT * INTO STRICT k FROM governance.seal_key;
		signed := parts[1] = 'ug';
		FOR i IN 1..3 LOOP
			IF vals[i] <> '' AND parts[i + 1] <> governance._context_mac(k.ipad, k.opad, pg_catalog.concat_ws(E'\x1f', parts[1], fields[i], vals[i])) THEN
				bad := fields[i];
				EXIT;
			END IF;
		END LOOP;
	ELSE
		-- no seal (or a mangled one): every non-empty value was SET directly
		FOR i IN 1..3 LOOP
			IF vals[i] <> '' THEN
				bad := fields[i];
				EXIT;
			END IF;
		END LOOP;
		IF bad IS NULL AND m <> '' THEN
			bad := 'context_seal';
		END IF;
	END IF;
	IF bad IS NULL THEN
		agent_id := NULLIF(a, '');
		tenant_id := NULLIF(t, '');
		correlation_id := NULLIF(c, '');
		RETURN;
	END IF;
	-- an invalid value is reported as such first (as the C edition's SET would)
	FOR i IN 1..3 LOOP
		PERFORM governance._check_value(fields[i], vals[i]);
	END LOOP;
	IF sealed THEN
		RAISE EXCEPTION 'governance context is sealed for this transaction'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'A governance.* setting was changed after governance.set_context() sealed the context; the SQL edition refuses to read it.';
	END IF;
	RAISE EXCEPTION 'governance.% can only be set by governance.set_context()', bad
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = 'Without the C library a SET of a governance.* setting is not refused at once; its value is refused when read.';
END
$$;
REVOKE ALL ON FUNCTION governance._context_core() FROM PUBLIC;

/* _context_core() under a pinned search_path, for _context(), which pins none. */
CREATE FUNCTION governance._context_slow(OUT agent_id text, OUT tenant_id text, OUT correlation_id text,
										 OUT sealed boolean, OUT signed boolean)
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	SELECT * INTO agent_id, tenant_id, correlation_id, sealed, signed FROM governance._context_core();
END
$$;
REVOKE ALL ON FUNCTION governance._context_slow() FROM PUBLIC;

CREATE FUNCTION governance._context(OUT agent_id text, OUT tenant_id text, OUT correlation_id text,
									OUT sealed boolean, OUT signed boolean)
	LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
AS $$
BEGIN
	-- A sealed context (what governed transactions have): the settings, the
	-- key and the check in one query, without parameters (a generic plan);
	-- no SET clause, every name and operator qualified, as in set_context()
	-- (_sealed_ok() has a SQL-standard body, bound when it was created).
	-- Anything else: _context_slow(), which pins search_path.
	SELECT CASE WHEN v.a OPERATOR(pg_catalog.=) '' THEN NULL ELSE v.a END,
		   CASE WHEN v.t OPERATOR(pg_catalog.=) '' THEN NULL ELSE v.t END,
		   CASE WHEN v.c OPERATOR(pg_catalog.=) '' THEN NULL ELSE v.c END,
		   true, pg_catalog.left(v.m, 2) OPERATOR(pg_catalog.=) 'sg'
	  INTO agent_id, tenant_id, correlation_id, sealed, signed
	  FROM (SELECT COALESCE(pg_catalog.current_setting('governance.agent_id', true), '') AS a,
				   COALESCE(pg_catalog.current_setting('governance.tenant_id', true), '') AS t,
				   COALESCE(pg_catalog.current_setting('governance.correlation_id', true), '') AS c,
				   COALESCE(pg_catalog.current_setting('governance.context_seal', true), '') AS m OFFSET 0) v,
		   governance.seal_key k
	 WHERE governance._sealed_ok(k.ipad, k.opad, v.m, v.a, v.t, v.c);
	IF NOT FOUND THEN
		SELECT * INTO agent_id, tenant_id, correlation_id, sealed, signed FROM governance._context_slow();
	END IF;
END
$$;
COMMENT ON FUNCTION governance._context() IS
	'The verified governance context of this transaction (what every reader uses); raises if it was changed other than by set_context()';

/*
 * The accessors: NULL when unset or empty.  An unset context is answered
 * without the call to _context() (no seal key read); otherwise every call
 * verifies.  RLS policies read them once per query (InitPlan).
 */
CREATE FUNCTION governance.agent_id() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN CASE WHEN COALESCE(pg_catalog.current_setting('governance.agent_id', true), '') OPERATOR(pg_catalog.=) ''
				 AND COALESCE(pg_catalog.current_setting('governance.context_seal', true), '') OPERATOR(pg_catalog.=) ''
				THEN NULL ELSE (governance._context()).agent_id END;
COMMENT ON FUNCTION governance.agent_id() IS
	'The acting agent of this transaction, or NULL; raises if the context was changed other than by set_context()';

CREATE FUNCTION governance.tenant_id() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN CASE WHEN COALESCE(pg_catalog.current_setting('governance.tenant_id', true), '') OPERATOR(pg_catalog.=) ''
				 AND COALESCE(pg_catalog.current_setting('governance.context_seal', true), '') OPERATOR(pg_catalog.=) ''
				THEN NULL ELSE (governance._context()).tenant_id END;
COMMENT ON FUNCTION governance.tenant_id() IS
	'The tenant of this transaction, or NULL; raises if the context was changed other than by set_context()';

CREATE FUNCTION governance.correlation_id() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN CASE WHEN COALESCE(pg_catalog.current_setting('governance.correlation_id', true), '') OPERATOR(pg_catalog.=) ''
				 AND COALESCE(pg_catalog.current_setting('governance.context_seal', true), '') OPERATOR(pg_catalog.=) ''
				THEN NULL ELSE (governance._context()).correlation_id END;
COMMENT ON FUNCTION governance.correlation_id() IS
	'The correlation (request) id of this transaction, or NULL; raises if the context was changed other than by set_context()';

CREATE FUNCTION governance.context() RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (SELECT pg_catalog.jsonb_build_object('agent_id', c.agent_id, 'tenant_id', c.tenant_id,
												 'correlation_id', c.correlation_id,
												 'sealed', c.sealed, 'signed', c.signed)
			  FROM governance._context() c);
COMMENT ON FUNCTION governance.context() IS
	'The whole governance context as jsonb: agent_id, tenant_id, correlation_id, sealed, signed';

/*
 * set_context(): validate everything, refuse while sealed, then write the
 * three values and their seal transaction-locally.  SECURITY DEFINER to
 * read the seal key; it writes only settings of the caller's transaction.
 *
 * It is the hot path of every governed transaction, so it does not pin
 * search_path (that SET clause cost about 10k instructions a call: a
 * setting write on entry, the path recomputed, a pass over every setting on
 * exit): every name in it is qualified instead, operators as
 * OPERATOR(pg_catalog.x), types as pg_catalog.x, so that nothing resolves
 * through the caller's path (pg_temp is searched for tables and types,
 * never for functions and operators);
 * test/security/sql-edition/04-definer-code.sh calls it under a hostile
 * search_path.  Nor does it pin plan_cache_mode (another SET clause):
 * its common case is a PL/pgSQL simple expression, which always runs its
 * generic plan, and its one query has no parameters (a query with them got
 * custom plans by default, the inlined seal re-planned at every call).
 * Instructions per governed SELECT 1 transaction
 * (scripts/sql-edition-callgrind.sh): 271k in 0.7, 224k now.
 */
CREATE FUNCTION governance.set_context(agent_id text, tenant_id text DEFAULT NULL,
									   correlation_id text DEFAULT NULL, seal boolean DEFAULT true)
	RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
AS $$
DECLARE
	require_signed pg_catalog.bool;
	ipad pg_catalog.bytea;
	opad pg_catalog.bytea;
	written pg_catalog.text;
BEGIN
	-- The key and the copy of require_signed (00-install.sql): one row of
	-- one table, a query without parameters (a generic plan, made once per
	-- session).
	SELECT k.ipad, k.opad, k.require_signed INTO STRICT ipad, opad, require_signed
	  FROM governance.seal_key k;
	-- The common case in one simple expression (no query: PL/pgSQL
	-- evaluates it with its generic plan, _values_ok() and _write_sealed()
	-- inlined): require_signed off, an agent, the values valid, sealing
	-- asked for and no context set yet in this transaction; then the
	-- context is written with its seal.  Every other case (a NULL argument
	-- included) writes nothing here and is sorted out below, in the order
	-- the C edition checks.
	written := CASE WHEN NOT require_signed
						 AND seal
						 AND governance._values_ok(set_context.agent_id, set_context.tenant_id, set_context.correlation_id,
												   pg_catalog.current_setting('governance.context_seal', true))
					THEN governance._write_sealed(set_context.agent_id, set_context.tenant_id,
												  set_context.correlation_id, 's-', ipad, opad) END;
	IF written IS NOT NULL THEN
		RETURN;
	END IF;
	IF set_context.agent_id IS NULL OR set_context.agent_id OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'agent_id must not be null or empty'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass the acting agent or user as the first argument of governance.set_context().';
	END IF;
	IF seal IS NULL THEN
		RAISE EXCEPTION 'seal must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- the settings table itself, not the copy (a missing row refuses; not
	-- IS DISTINCT FROM, which would look "=" up on the caller's path)
	IF COALESCE(governance._setting('require_signed') OPERATOR(pg_catalog.<>) 'off', true) THEN
		RAISE EXCEPTION 'unsigned governance context refused'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'governance.require_signed is on.',
				  HINT = 'Use governance.set_context_signed() with a token signed with governance.signing_key.';
	END IF;
	PERFORM governance._check_value('agent_id', set_context.agent_id),
			governance._check_value('tenant_id', set_context.tenant_id),
			governance._check_value('correlation_id', set_context.correlation_id);
	-- a context is set already: refused while sealed (_context() also
	-- raises if it was changed other than by set_context(); not
	-- _context_core(), which relies on its caller's pinned search_path)
	IF COALESCE(pg_catalog.current_setting('governance.context_seal', true), '') OPERATOR(pg_catalog.<>) ''
	   AND (governance._context()).sealed THEN
		RAISE EXCEPTION 'governance context is sealed for this transaction'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'A sealed context lasts until COMMIT or ROLLBACK.';
	END IF;
	PERFORM governance._write_context(set_context.agent_id, set_context.tenant_id,
									  set_context.correlation_id, seal, false, k)
	   FROM governance.seal_key k;
END
$$;
COMMENT ON FUNCTION governance.set_context(text, text, text, boolean) IS
	'Set the governance context for the current transaction; sealed (tamper-evident) by default';
