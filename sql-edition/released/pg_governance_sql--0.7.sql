-- GENERATED FILE, kept on purpose: the SQL edition's install script as released
-- in 0.7, built by `make sql-edition` at the release commit d192304 (sql-edition/,
-- scripts/build-sql-edition.py and extension/sql/ of that commit).  It is the
-- baseline the upgrade scripts are built for and tested from
-- (docs/sql-edition.md, "Upgrade"); never edit it.
-- pg_governance 0.7, SQL edition: install with psql -v ON_ERROR_STOP=1 -f <this file>
-- Built by `make sql-edition` from sql-edition/*.sql; see docs/sql-edition.md.

-- ==== sql-edition/00-install.sql ====
/*
 * pg_governance, SQL edition: install guard, schema, settings and the seal key.
 *
 * The SQL edition is the governance API in SQL and PL/pgSQL for hosts that
 * accept no C extension (Cloud SQL, RDS).  It is installed with
 *     psql -v ON_ERROR_STOP=1 -f pg_governance_sql--<version>.sql
 * by a role that needs no superuser: CREATE on the database is enough.
 * The role that runs it owns everything it creates and is the top of the
 * trust chain of this edition (docs/sql-edition.md, "Trust model").
 *
 * The whole script is one transaction: it installs completely or not at all.
 * Every name is qualified; search_path is pg_catalog (pg_temp last) while it
 * runs.  Every function either pins it (SET search_path = pg_catalog,
 * pg_temp) or has a SQL-standard body (RETURN ..., parsed and bound when the
 * script runs: nothing is looked up by name when it is called, and it can
 * be inlined), or is an internal PL/pgSQL helper that PUBLIC may not
 * execute, called only from pinned SECURITY DEFINER functions (whose pinned
 * path it runs under).  A SET clause costs a search-path recomputation on
 * entry and exit; the hot path (set_context, the audit trigger) pays it
 * once.
 */
\set ON_ERROR_STOP 1
BEGIN;
SET LOCAL search_path = pg_catalog, pg_temp;
SET LOCAL client_min_messages = warning;

/*
 * Install guard.  The C extension and this edition cannot share a database
 * (same schema, same names); a schema "governance" that already exists may
 * hold objects another role planted, so it is refused rather than reused.
 */
DO $guard$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_extension e
				WHERE e.extname OPERATOR(pg_catalog.=) 'pg_governance'::pg_catalog.name) THEN
		RAISE EXCEPTION 'extension "pg_governance" is installed in this database'
			USING ERRCODE = 'duplicate_object',
				  HINT = 'The SQL edition replaces the C extension where it cannot be installed; use one or the other.';
	END IF;
	-- Default privileges of the installing role would hand the new tables
	-- (the seal and signing keys, the logs) and functions to other roles.
	IF EXISTS (SELECT FROM pg_catalog.pg_default_acl d
				WHERE d.defaclrole OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r
															WHERE r.rolname OPERATOR(pg_catalog.=) current_user)) THEN
		RAISE EXCEPTION 'role "%" has default privileges', current_user
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'They would grant other roles access to what this script creates (the seal and signing keys, the logs).',
				  HINT = 'Remove them (ALTER DEFAULT PRIVILEGES ... REVOKE ...), or install as a role without any.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_namespace n
				WHERE n.nspname OPERATOR(pg_catalog.=) 'governance'::pg_catalog.name) THEN
		RAISE EXCEPTION 'schema "governance" already exists'
			USING ERRCODE = 'duplicate_schema',
				  HINT = 'The SQL edition installs into a new schema "governance" only; drop the old one (DROP SCHEMA governance CASCADE) after saving its logs.';
	END IF;
END
$guard$;

CREATE SCHEMA governance;
COMMENT ON SCHEMA governance IS 'pg_governance, SQL edition';
REVOKE ALL ON SCHEMA governance FROM PUBLIC;
GRANT USAGE ON SCHEMA governance TO PUBLIC;

/*
 * Settings only the installer may change.  The C edition keeps these in
 * SUSET / superuser-only server settings; without the C library a
 * governance.* setting is a placeholder any role can SET, so the values
 * that constrain app roles live here instead.  Change them with
 * governance.set_setting() (installer only).
 */
CREATE TABLE governance.settings (
	name	text PRIMARY KEY,
	value	text NOT NULL,
	CONSTRAINT settings_value_ok CHECK (CASE name
		WHEN 'require_context' THEN value IN ('off', 'warn', 'enforce')
		WHEN 'require_signed' THEN value IN ('on', 'off')
		WHEN 'token_max_lifetime' THEN value ~ '^[0-9]{1,9}$'
		ELSE false END)
);
REVOKE ALL ON governance.settings FROM PUBLIC;
GRANT SELECT ON governance.settings TO PUBLIC;
COMMENT ON TABLE governance.settings IS
	'Settings of the SQL edition that constrain app roles (require_context, require_signed, token_max_lifetime); change with governance.set_setting()';
INSERT INTO governance.settings VALUES
	('require_context', 'off'), ('require_signed', 'off'), ('token_max_lifetime', '3600');

CREATE FUNCTION governance.set_setting(name text, value text) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE governance.settings s SET value = set_setting.value
	 WHERE s.name OPERATOR(pg_catalog.=) set_setting.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unrecognized governance setting "%"', set_setting.name
			USING ERRCODE = 'undefined_object',
				  HINT = 'The settings are require_context, require_signed and token_max_lifetime.';
	END IF;
EXCEPTION WHEN check_violation OR not_null_violation THEN
	RAISE EXCEPTION 'invalid value for governance setting "%": %', set_setting.name, pg_catalog.left(set_setting.value, 64)
		USING ERRCODE = 'invalid_parameter_value',
			  HINT = 'require_context: off, warn or enforce; require_signed: on or off; token_max_lifetime: seconds.';
END
$$;
REVOKE ALL ON FUNCTION governance.set_setting(text, text) FROM PUBLIC;
COMMENT ON FUNCTION governance.set_setting(text, text) IS
	'Change a setting of the SQL edition (installer only; runs with the caller''s rights on governance.settings)';

CREATE FUNCTION governance._setting(name text) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (SELECT s.value FROM governance.settings s WHERE s.name OPERATOR(pg_catalog.=) _setting.name);

/*
 * HMAC-SHA256 (RFC 2104) with PostgreSQL's built-in sha256(): no pgcrypto,
 * so nothing is resolved in a schema another role may control.  Keys are
 * kept as their inner and outer pads, computed once when the key is set.
 */
CREATE FUNCTION governance._hmac_pad(key bytea, pad integer) RETURNS bytea
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN (SELECT pg_catalog.decode(pg_catalog.string_agg(
				pg_catalog.lpad(pg_catalog.to_hex(pg_catalog.get_byte(k.k, i.i) OPERATOR(pg_catalog.#) pad), 2, '0'),
				'' ORDER BY i.i), 'hex')
		  FROM (SELECT CASE WHEN pg_catalog.length(key) OPERATOR(pg_catalog.>) 64 THEN pg_catalog.sha256(key) ELSE key END
				   OPERATOR(pg_catalog.||) pg_catalog.decode(pg_catalog.repeat('00', 64), 'hex') AS k) k,
			   pg_catalog.generate_series(0, 63) i(i));

CREATE FUNCTION governance._hmac(ipad bytea, opad bytea, msg bytea) RETURNS bytea
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN pg_catalog.sha256(opad OPERATOR(pg_catalog.||) pg_catalog.sha256(ipad OPERATOR(pg_catalog.||) msg));

/*
 * The seal key: 256 bits from gen_random_uuid() (122 random bits each),
 * readable only by the installer, i.e. by the SECURITY DEFINER functions
 * that set and verify the context.  It makes the context tamper-evident
 * (10-context.sql).
 */
CREATE TABLE governance.seal_key (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	ipad	bytea NOT NULL,
	opad	bytea NOT NULL
);
REVOKE ALL ON governance.seal_key FROM PUBLIC;
COMMENT ON TABLE governance.seal_key IS
	'Key of the context seal (HMAC pads); readable by the installer only';
INSERT INTO governance.seal_key (ipad, opad)
	SELECT governance._hmac_pad(k, 54), governance._hmac_pad(k, 92)
	  FROM (SELECT pg_catalog.decode(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', '')
									 OPERATOR(pg_catalog.||) pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', '')
									 OPERATOR(pg_catalog.||) pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 'hex') AS k) s;

-- ==== sql-edition/10-context.sql ====
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
 * A MAC cannot be copied from another transaction or backend (pid and
 * transaction start are in it), nor made without the key.  What is not
 * detected: clearing every governance.* setting, the seal included (RESET
 * ALL), and a seal undone by ROLLBACK TO a savepoint taken before it; both
 * leave the context as it was before set_context() (none, usually) and let
 * set_context() run again.  docs/sql-edition.md ("What the seal cannot
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
 * Are the three values valid (NULL and '' are)?  The same rules as
 * _invalid_reason() in fewer operations, for set_context()'s one query;
 * a value it refuses is then reported by _check_value().
 */
CREATE FUNCTION governance._values_ok(agent text, tenant text, corr text) RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN (COALESCE(agent, '') OPERATOR(pg_catalog.||) COALESCE(tenant, '')) OPERATOR(pg_catalog.!~) '[\u0001-\u001f\u007f-\u009f]'
		   AND pg_catalog.length(COALESCE(agent, '')) OPERATOR(pg_catalog.<=) 256
		   AND pg_catalog.length(COALESCE(tenant, '')) OPERATOR(pg_catalog.<=) 256
		   AND COALESCE(corr, '') OPERATOR(pg_catalog.~) '^[A-Za-z0-9._:-]*$'
		   AND pg_catalog.length(COALESCE(corr, '')) OPERATOR(pg_catalog.<=) 128;

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
 * The MAC of (part of) the context of this transaction: the backend, the
 * transaction's start (its binary form: whatever TimeZone or DateStyle say),
 * the flags, the field ("*" for all three) and the value.  E'\x1f' cannot
 * occur in a valid value, so the message is unambiguous.
 */
CREATE FUNCTION governance._context_mac(ipad bytea, opad bytea, flags text, field text, value text)
	RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN pg_catalog.encode(governance._hmac(ipad, opad,
		pg_catalog.int4send(pg_catalog.pg_backend_pid())
		OPERATOR(pg_catalog.||) pg_catalog.timestamptz_send(pg_catalog.transaction_timestamp())
		OPERATOR(pg_catalog.||) pg_catalog.textsend(pg_catalog.concat_ws(E'\x1f', flags, field, value))), 'base64');

/* Is M (governance.context_seal) a valid seal of the sealed context A, T, C? */
CREATE FUNCTION governance._sealed_ok(ipad bytea, opad bytea, m text, a text, t text, c text)
	RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN pg_catalog.left(m, 3) OPERATOR(pg_catalog.=) ANY (ARRAY['s-:', 'sg:'])
		   AND pg_catalog.substr(m, 4) OPERATOR(pg_catalog.=)
			   governance._context_mac(ipad, opad, pg_catalog.left(m, 2), '*', pg_catalog.concat_ws(E'\x1f', a, t, c));

/*
 * Write the context (validated by the caller) and its seal: sealed, one
 * MAC over the three values ("s-:mac"); unsealed, one per value
 * ("u-:mac:mac:mac"), since clearing one value of an unsealed context is
 * allowed, as in the C edition.  "g" in place of "-": signed.  Returns the
 * seal.  _write_sealed() is the sealed case alone, a SQL function with a
 * SQL-standard body: inlined into set_context()'s and set_context_signed()'s
 * query, no call and no query of its own, and small, since its expression
 * is compiled at every call (expressions are compiled per execution).
 */
CREATE FUNCTION governance._write_sealed(agent text, tenant text, corr text, flags text, ipad bytea, opad bytea)
	RETURNS text
	LANGUAGE sql VOLATILE PARALLEL UNSAFE
	RETURN pg_catalog.concat(
		pg_catalog.set_config('governance.agent_id', agent, true),
		pg_catalog.set_config('governance.tenant_id', COALESCE(tenant, ''), true),
		pg_catalog.set_config('governance.correlation_id', COALESCE(corr, ''), true),
		pg_catalog.set_config('governance.context_seal',
			pg_catalog.concat(flags, ':', governance._context_mac(ipad, opad, flags, '*',
				pg_catalog.concat_ws(E'\x1f', agent, COALESCE(tenant, ''), COALESCE(corr, '')))), true));
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
				governance._context_mac(k.ipad, k.opad, CASE WHEN signed THEN 'ug' ELSE 'u-' END, 'agent_id', agent), ':',
				governance._context_mac(k.ipad, k.opad, CASE WHEN signed THEN 'ug' ELSE 'u-' END, 'tenant_id', COALESCE(tenant, '')), ':',
				governance._context_mac(k.ipad, k.opad, CASE WHEN signed THEN 'ug' ELSE 'u-' END, 'correlation_id', COALESCE(corr, ''))), true)) END;
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
		IF parts[2] <> governance._context_mac(k.ipad, k.opad, parts[1], '*', pg_catalog.concat_ws(E'\x1f', a, t, c)) THEN
			bad := '*';
		END IF;
	ELSIF pg_catalog.cardinality(parts) = 4 AND parts[1] IN ('u-', 'ug') THEN
		SELECT * INTO STRICT k FROM governance.seal_key;
		signed := parts[1] = 'ug';
		FOR i IN 1..3 LOOP
			IF vals[i] <> '' AND parts[i + 1] <> governance._context_mac(k.ipad, k.opad, parts[1], fields[i], vals[i]) THEN
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

CREATE FUNCTION governance._context(OUT agent_id text, OUT tenant_id text, OUT correlation_id text,
									OUT sealed boolean, OUT signed boolean)
	LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
	-- A sealed context (what governed transactions have): the settings, the
	-- key and the check in one query.  Anything else: _context_core().
	SELECT NULLIF(v.a, ''), NULLIF(v.t, ''), NULLIF(v.c, ''), true, pg_catalog.left(v.m, 2) = 'sg'
	  INTO agent_id, tenant_id, correlation_id, sealed, signed
	  FROM (SELECT COALESCE(pg_catalog.current_setting('governance.agent_id', true), '') AS a,
				   COALESCE(pg_catalog.current_setting('governance.tenant_id', true), '') AS t,
				   COALESCE(pg_catalog.current_setting('governance.correlation_id', true), '') AS c,
				   COALESCE(pg_catalog.current_setting('governance.context_seal', true), '') AS m) v,
		   governance.seal_key k
	 WHERE governance._sealed_ok(k.ipad, k.opad, v.m, v.a, v.t, v.c);
	IF NOT FOUND THEN
		SELECT * INTO agent_id, tenant_id, correlation_id, sealed, signed FROM governance._context_core();
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
 * search_path.  plan_cache_mode stays pinned: with the default the plan
 * cache kept choosing custom plans and re-planned the inlined seal at every
 * call (about 4x the instructions).
 */
CREATE FUNCTION governance.set_context(agent_id text, tenant_id text DEFAULT NULL,
									   correlation_id text DEFAULT NULL, seal boolean DEFAULT true)
	RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
	require_signed pg_catalog.text;
	written pg_catalog.text;
BEGIN
	IF set_context.agent_id IS NULL OR set_context.agent_id OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'agent_id must not be null or empty'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass the acting agent or user as the first argument of governance.set_context().';
	END IF;
	IF seal IS NULL THEN
		RAISE EXCEPTION 'seal must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- The common case in one query: require_signed read and, if it is off,
	-- the values valid, sealing asked for and no context set yet in this
	-- transaction, the context written with its seal (_write_sealed() is
	-- inlined).  Every other case writes nothing here and is sorted out
	-- below.
	SELECT s.value,
		   CASE WHEN s.value OPERATOR(pg_catalog.<>) 'on'
					 AND governance._values_ok(set_context.agent_id, set_context.tenant_id, set_context.correlation_id)
					 AND COALESCE(pg_catalog.current_setting('governance.context_seal', true), '') OPERATOR(pg_catalog.=) ''
					 AND seal
				THEN governance._write_sealed(set_context.agent_id, set_context.tenant_id,
											  set_context.correlation_id, 's-', k.ipad, k.opad) END
	  INTO STRICT require_signed, written
	  FROM governance.seal_key k, governance.settings s
	 WHERE s.name OPERATOR(pg_catalog.=) 'require_signed';
	IF written IS NOT NULL THEN
		RETURN;
	END IF;
	IF require_signed OPERATOR(pg_catalog.=) 'on' THEN
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

-- ==== sql-edition/20-tokens.sql ====
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

-- ==== sql-edition/30-denied_log.sql ====
/*
 * denied_log: attempts refused by require_context (and what else can be
 * caught), with the same columns as the C edition.
 *
 * Without the C library nothing runs after a refused statement's
 * transaction has rolled back, and a row written before the refusal rolls
 * back with it.  So:
 *   - every denied attempt (refused or warned) is logged at once as one
 *     server-log line "governance denied attempt: {...}" (RAISE LOG), as in
 *     the C edition;
 *   - a warning (require_context = warn) lets the statement go on, and its
 *     row is written in the same transaction: it is in denied_log if that
 *     transaction commits;
 *   - a refusal (require_context = enforce) has its log line only.  RLS
 *     violations raised by PostgreSQL itself ("new row violates row-level
 *     security policy") are not seen by any SQL code: neither row nor line.
 * docs/sql-edition.md says it feature by feature.
 */
CREATE TABLE governance.denied_log (
	id					bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at					timestamptz NOT NULL,
	logged_at			timestamptz NOT NULL,
	source				text NOT NULL,
	action				text NOT NULL,
	sqlstate			text NOT NULL,
	relid				oid,
	relation			text,
	command				text,
	agent_id			text,
	tenant_id			text,
	correlation_id		text,
	db_user				text,
	db_session_user		text,
	application_name	text,
	client_addr			inet,
	backend_pid			integer NOT NULL,
	message				text NOT NULL,
	statement			text,
	recorded_by			text NOT NULL DEFAULT 'backend',
	suppressed			integer
);
REVOKE ALL ON governance.denied_log FROM PUBLIC;
COMMENT ON TABLE governance.denied_log IS
	'Attempts warned about by governance.require_context (SQL edition: refusals are server-log lines only)';
CREATE INDEX denied_log_at_idx ON governance.denied_log (at);
CREATE INDEX denied_log_agent_at_idx ON governance.denied_log (agent_id, at);

/* The logs refuse UPDATE, DELETE and TRUNCATE (also to the installer, who must drop this trigger first). */
CREATE FUNCTION governance.append_only_trigger() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'governance.% is append-only', TG_TABLE_NAME
		USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON governance.denied_log
	FOR EACH STATEMENT EXECUTE FUNCTION governance.append_only_trigger();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON governance.denied_log
	FOR EACH STATEMENT EXECUTE FUNCTION governance.append_only_trigger();

/* Who writes: the role in effect outside security-definer code (SET ROLE, else the login role). */
CREATE FUNCTION governance._db_user() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN CASE WHEN pg_catalog.current_setting('role') OPERATOR(pg_catalog.=) 'none'
				THEN session_user::text ELSE pg_catalog.current_setting('role') END;

/*
 * Record a denied attempt: the log line always, the row when the
 * statement goes on (action 'warned').  Internal: SECURITY DEFINER callers
 * (the audit trigger, rls_guard) only.  Token-like runs in the statement are
 * replaced by [token], as in the C edition.
 */
CREATE FUNCTION governance._deny(source text, action text, sqlstate text, relid oid,
								 command text, message text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ctx record;
	rel text;
	stmt CONSTANT text := pg_catalog.regexp_replace(pg_catalog.current_query(),
		'[A-Za-z0-9_-]{16,}={0,2}\.[A-Za-z0-9_-]{43,}={0,2}', '[token]', 'g');
	at CONSTANT timestamptz := pg_catalog.statement_timestamp();
BEGIN
	SELECT * INTO ctx FROM governance._context();
	SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO rel
	  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	 WHERE c.oid OPERATOR(pg_catalog.=) _deny.relid;
	RAISE LOG 'governance denied attempt: %', pg_catalog.json_build_object(
		'source', source, 'action', action, 'sqlstate', sqlstate, 'relation', rel,
		'command', command, 'agent_id', ctx.agent_id, 'tenant_id', ctx.tenant_id,
		'correlation_id', ctx.correlation_id, 'db_user', governance._db_user(),
		'db_session_user', session_user, 'application_name', pg_catalog.current_setting('application_name'),
		'at', at, 'backend_pid', pg_catalog.pg_backend_pid(), 'message', message, 'statement', stmt);
	IF action = 'warned' THEN
		INSERT INTO governance.denied_log (at, logged_at, source, action, sqlstate, relid, relation,
			command, agent_id, tenant_id, correlation_id, db_user, db_session_user,
			application_name, client_addr, backend_pid, message, statement)
		VALUES (at, pg_catalog.clock_timestamp(), source, action, sqlstate, relid, rel,
			command, ctx.agent_id, ctx.tenant_id, ctx.correlation_id, governance._db_user(), session_user,
			pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
			pg_catalog.pg_backend_pid(), message, stmt);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION governance._deny(text, text, text, oid, text, text) FROM PUBLIC;

/*
 * require_context (governance.settings, installer only): a governed table
 * used with no agent_id.  off: nothing; warn: WARNING and a row; enforce:
 * 42501 and a log line.  Messages as in the C edition.
 */
CREATE FUNCTION governance._require_context(relid oid, command text) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	mode CONSTANT text := governance._setting('require_context');
	message text;
BEGIN
	IF mode = 'off' OR (governance._context()).agent_id IS NOT NULL THEN
		RETURN;
	END IF;
	message := pg_catalog.format('governance context required for %s on table "%s"', command,
								 COALESCE((SELECT c.relname::text FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) relid), relid::text));
	IF mode = 'warn' THEN
		PERFORM governance._deny('require_context', 'warned', '01007', relid, command, message);
		RAISE WARNING USING MESSAGE = message, ERRCODE = '01007',
			DETAIL = 'governance.agent_id is not set; governance.require_context is "warn", so the statement goes on and the attempt is recorded in governance.denied_log.',
			HINT = 'Call governance.set_context() at the start of the transaction.';
		RETURN;
	END IF;
	PERFORM governance._deny('require_context', 'refused', '42501', relid, command, message);
	RAISE EXCEPTION USING MESSAGE = message, ERRCODE = 'insufficient_privilege',
		DETAIL = 'governance.agent_id is not set and governance.require_context is "enforce".',
		HINT = 'Call governance.set_context() at the start of the transaction.';
END
$$;
REVOKE ALL ON FUNCTION governance._require_context(oid, text) FROM PUBLIC;

-- ==== sql-edition/40-audit.sql ====
/*
 * Audit trail: enable_audit() / disable_audit(), the PL/pgSQL audit
 * trigger, audit_batch + the audit_log view (same columns as the C edition).
 *
 * INSERT and DELETE are recorded by statement-level AFTER triggers with
 * transition tables (one INSERT into audit_batch per 100 rows of a
 * statement), TRUNCATE by a statement trigger, UPDATE by a row-level AFTER
 * trigger (a transition table does not pair each old row with its new one).
 * The trigger function is SECURITY DEFINER (only the installer can write
 * the log) and checks, per statement, that the trigger firing it is one
 * enable_audit() makes (name, timing, events, level, transition tables, no
 * WHEN, columns or arguments), so an attachment of another shape (e.g. one
 * reading a table of the attacker's in place of a transition table) records
 * nothing and fails.
 */
CREATE SEQUENCE governance.audit_batch_id_seq INCREMENT BY 100;
REVOKE ALL ON SEQUENCE governance.audit_batch_id_seq FROM PUBLIC;

CREATE TABLE governance.audit_batch (
	first_id			bigint NOT NULL,
	nrows				integer NOT NULL,
	at					timestamptz NOT NULL,
	txid				xid8 NOT NULL,
	relid				oid,
	relation			text NOT NULL,
	op					text NOT NULL,
	agent_id			text,
	tenant_id			text,
	correlation_id		text,
	db_user				text NOT NULL,
	db_session_user		text NOT NULL,
	application_name	text,
	client_addr			inet,
	old_rows			jsonb,
	new_rows			jsonb
);
ALTER SEQUENCE governance.audit_batch_id_seq OWNED BY governance.audit_batch.first_id;
-- Row images of multi-row statements are large and repetitive: compressed
-- with lz4 where the server has it, as in the C edition (pglz costs a
-- 100-row INSERT about a seventh of its instructions).  0.6--0.7: upgrade/.
DO $lz4$
BEGIN
	ALTER TABLE governance.audit_batch
		ALTER COLUMN old_rows SET COMPRESSION lz4,
		ALTER COLUMN new_rows SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	NULL;
END
$lz4$;
REVOKE ALL ON governance.audit_batch FROM PUBLIC;
COMMENT ON TABLE governance.audit_batch IS
	'Storage of governance.audit_log: one row per audited statement and 100 rows; read audit_log instead';
CREATE INDEX audit_batch_agent_at_idx ON governance.audit_batch (agent_id, at);
CREATE INDEX audit_batch_relid_at_idx ON governance.audit_batch USING brin (relid, at);
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON governance.audit_batch
	FOR EACH STATEMENT EXECUTE FUNCTION governance.append_only_trigger();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON governance.audit_batch
	FOR EACH STATEMENT EXECUTE FUNCTION governance.append_only_trigger();

-- VIEW governance.audit_log: from pg_governance--0.4--0.5.sql
CREATE VIEW governance.audit_log AS
	SELECT b.first_id OPERATOR(pg_catalog.+) COALESCE(r.ord, 1::bigint) OPERATOR(pg_catalog.-) 1::bigint AS id,
		   b.at, b.txid, b.relid, b.relation, b.op,
		   b.agent_id, b.tenant_id, b.correlation_id,
		   b.db_user, b.db_session_user, b.application_name, b.client_addr,
		   r.old_row, r.new_row
	  FROM governance.audit_batch b
	  LEFT JOIN LATERAL ROWS FROM (pg_catalog.jsonb_array_elements(b.old_rows),
								   pg_catalog.jsonb_array_elements(b.new_rows))
		   WITH ORDINALITY AS r (old_row, new_row, ord) ON true;
REVOKE ALL ON governance.audit_log FROM PUBLIC;
COMMENT ON VIEW governance.audit_log IS
	'Append-only audit trail of audited tables (one row per changed row), written in the same transaction as the change';

/*
 * The triggers enable_audit() makes, per relkind: name, pg_trigger.tgtype,
 * transition tables, the CREATE TRIGGER clause.  A partitioned table gets
 * row-level triggers (cloned to every partition, so writes addressed to a
 * partition are audited too) and a TRUNCATE trigger, as in the C edition.
 */
CREATE FUNCTION governance._audit_spec(OUT relkind "char", OUT tgname name, OUT tgtype smallint,
									   OUT old_table name, OUT new_table name, OUT clause text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
	VALUES ('r'::"char", 'governance_audit_insert'::name, 4::smallint, NULL::name, 'governance_new'::name,
			'AFTER INSERT ON %s REFERENCING NEW TABLE AS governance_new FOR EACH STATEMENT'),
		   ('r', 'governance_audit_update', 17, NULL, NULL, 'AFTER UPDATE ON %s FOR EACH ROW'),
		   ('r', 'governance_audit_delete', 8, 'governance_old', NULL,
			'AFTER DELETE ON %s REFERENCING OLD TABLE AS governance_old FOR EACH STATEMENT'),
		   ('r', 'governance_audit_truncate', 32, NULL, NULL, 'AFTER TRUNCATE ON %s FOR EACH STATEMENT'),
		   ('p', 'governance_audit_row', 29, NULL, NULL, 'AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW'),
		   ('p', 'governance_audit_truncate', 32, NULL, NULL, 'AFTER TRUNCATE ON %s FOR EACH STATEMENT')
$$;

/*
 * Row images of columns whose values another role's code could convert.
 * to_jsonb (and jsonb_agg, jsonb_build_object) convert a value of a scalar
 * type that is not built in (enum, range, multirange: looked for through
 * domains, arrays and composites) through a cast to json when one exists,
 * and the owner of such a type can CREATE CAST at any time.  In the audit
 * trigger that cast function would run as the installer.  So, as in the C
 * edition (extension/src/rowjson.c, type_has_user_scalar), a column of, or
 * containing, a type a non-superuser owns is recorded as that type's text
 * output (format('%s', ...) calls the type's output function, the
 * system's: only a superuser creates base types), a 1-D array of such a
 * scalar as the array of its elements' outputs; types of the system and of
 * superusers keep to_jsonb (only a type's owner or a superuser can create a
 * cast from it).  Deep types (more than 16 levels) count as unsafe.
 */
CREATE FUNCTION governance._type_has_user_scalar(typ oid) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (WITH RECURSIVE walk(t, depth) AS (
				SELECT typ, 0
				UNION ALL
				SELECT c.t, w.depth OPERATOR(pg_catalog.+) c.step
				  FROM walk w JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) w.t
				 CROSS JOIN LATERAL (
						-- a domain: its base type (at the same depth)
						SELECT y.typbasetype, 0 WHERE y.typtype OPERATOR(pg_catalog.=) 'd'::pg_catalog."char"
						UNION ALL
						-- an array: its element type
						SELECT y.typelem, 1
						 WHERE y.typsubscript OPERATOR(pg_catalog.=) 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
						   AND y.typtype OPERATOR(pg_catalog.<>) 'd'::pg_catalog."char"
						UNION ALL
						-- a composite: its attributes' types
						SELECT a.atttypid, 1 FROM pg_catalog.pg_attribute a
						 WHERE y.typtype OPERATOR(pg_catalog.=) 'c'::pg_catalog."char"
						   AND a.attrelid OPERATOR(pg_catalog.=) y.typrelid
						   AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT a.attisdropped) c(t, step)
				 WHERE w.depth OPERATOR(pg_catalog.<=) 16)
			SELECT EXISTS (
				SELECT FROM walk w JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) w.t
				 WHERE w.depth OPERATOR(pg_catalog.>) 16
					OR w.t OPERATOR(pg_catalog.=) 'pg_catalog.record'::pg_catalog.regtype
					OR (y.typtype OPERATOR(pg_catalog.<>) ALL (ARRAY['d', 'c']::pg_catalog."char"[])
						AND y.typsubscript OPERATOR(pg_catalog.<>) 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
						AND w.t OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid
						AND NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r
										   WHERE r.oid OPERATOR(pg_catalog.=) y.typowner), false))));
COMMENT ON FUNCTION governance._type_has_user_scalar(oid) IS
	'Does a value of the type contain one of a scalar type a non-superuser owns (recorded as its text output by the audit trigger)?';

/* The type under a (chain of) domain(s). */
CREATE FUNCTION governance._base_type(typ oid) RETURNS oid
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (WITH RECURSIVE d(t) AS (
				SELECT typ
				UNION ALL
				SELECT y.typbasetype FROM d JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) d.t
				 WHERE y.typtype OPERATOR(pg_catalog.=) 'd'::pg_catalog."char")
			SELECT d.t FROM d JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) d.t
			 WHERE y.typtype OPERATOR(pg_catalog.<>) 'd'::pg_catalog."char");

/*
 * The select list of a row image of rel's rows, read from a relation "r"
 * with rel's columns, or NULL if every column can go through to_jsonb.  A
 * column of (or containing) a user-owned scalar: its text output, or, for
 * a 1-D array of a scalar (not of a composite or an array), the array of
 * its elements' outputs (a NULL element null; an array of more dimensions:
 * its text output), as the C edition records it.  Names are quoted with
 * %I; no value is ever spliced into the text.
 */
CREATE FUNCTION governance._audit_image_columns(rel oid) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (SELECT CASE WHEN pg_catalog.bool_or(c.kind OPERATOR(pg_catalog.<>) 'v') THEN
				pg_catalog.string_agg(CASE c.kind
					WHEN 'v' THEN pg_catalog.format('r.%I', c.attname)
					WHEN 'a' THEN pg_catalog.format(
						'CASE WHEN pg_catalog.num_nulls(r.%1$I) OPERATOR(pg_catalog.=) 1 THEN NULL'
						' WHEN pg_catalog.array_ndims(r.%1$I) OPERATOR(pg_catalog.>) 1 THEN pg_catalog.to_jsonb(pg_catalog.format(''%%s'', r.%1$I))'
						' ELSE COALESCE((SELECT pg_catalog.jsonb_agg(CASE WHEN pg_catalog.num_nulls(e.e) OPERATOR(pg_catalog.=) 1 THEN NULL'
						' ELSE pg_catalog.format(''%%s'', e.e) END ORDER BY e.n) FROM pg_catalog.unnest(r.%1$I) WITH ORDINALITY e(e, n)),'
						' ''[]''::pg_catalog.jsonb) END AS %1$I', c.attname)
					ELSE pg_catalog.format(
						'CASE WHEN pg_catalog.num_nulls(r.%1$I) OPERATOR(pg_catalog.=) 1 THEN NULL'
						' ELSE pg_catalog.format(''%%s'', r.%1$I) END AS %1$I', c.attname) END,
					', ' ORDER BY c.attnum) END
			  FROM (SELECT a.attnum, a.attname,
						   CASE WHEN NOT governance._type_has_user_scalar(a.atttypid) THEN 'v'
								WHEN e.elem OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
									 AND (SELECT y.typtype OPERATOR(pg_catalog.<>) 'c'::pg_catalog."char"
												 AND y.typsubscript OPERATOR(pg_catalog.<>) 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
											FROM pg_catalog.pg_type y
										   WHERE y.oid OPERATOR(pg_catalog.=) governance._base_type(e.elem)) THEN 'a'
								ELSE 't' END AS kind
					  FROM pg_catalog.pg_attribute a
					 CROSS JOIN LATERAL (
							SELECT CASE WHEN y.typsubscript OPERATOR(pg_catalog.=) 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
										THEN y.typelem ELSE 0::pg_catalog.oid END
							  FROM pg_catalog.pg_type y
							 WHERE y.oid OPERATOR(pg_catalog.=) governance._base_type(a.atttypid)) e(elem)
					 WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2
					   AND NOT a.attisdropped) c);

CREATE FUNCTION governance.audit_trigger() RETURNS trigger
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
	-- Row images are made with these settings whatever the writer set (as in
	-- the C edition).  Only when the session's differ are they set, and put
	-- back after the insert (an error on the way rolls them back anyway):
	-- a SET clause would cost every audited statement.
	images CONSTANT text[] := ARRAY['extra_float_digits', '1', 'DateStyle', 'ISO, MDY', 'IntervalStyle', 'postgres'];
	saved text[];
	attached boolean;
	v_agent text;
	v_tenant text;
	v_corr text;
	c_agent text;
	c_tenant text;
	c_corr text;
	batches bigint := 0;
	rel CONSTANT text := pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
	root oid := TG_RELID;
	root_name text := rel;
	at CONSTANT timestamptz := pg_catalog.statement_timestamp();
	who CONSTANT text := governance._db_user();
	textout boolean;
	sel text;
	o_img jsonb;
	n_img jsonb;
	imgs jsonb[];
BEGIN
	-- One query: whether the trigger firing this is one enable_audit()
	-- makes (_audit_spec(), inline), the context if it is sealed,
	-- verified under the seal key (v_agent NULL otherwise: an unsealed,
	-- absent or changed context goes through _context_core() below, which
	-- raises when it must), and whether a column's type is not built in
	-- (other than a domain over a built-in type): only then can a column
	-- need its text output in the images (_audit_image_columns()).  That
	-- check is one index scan of pg_attribute (_base_type() runs only for
	-- a column whose type is not built in): about 38k instructions of a
	-- 1-row INSERT's 790k (scripts/sql-edition-callgrind.sh).
	SELECT EXISTS (
			SELECT FROM pg_catalog.pg_trigger t
			 WHERE t.tgrelid OPERATOR(pg_catalog.=) TG_RELID AND t.tgname OPERATOR(pg_catalog.=) TG_NAME
			   AND t.tgfoid OPERATOR(pg_catalog.=) 'governance.audit_trigger()'::pg_catalog.regprocedure
			   AND t.tgqual IS NULL
			   -- name, type, transition tables, arguments, columns as one
			   -- text (quote_nullable keeps it unambiguous): one comparison
			   AND pg_catalog.format('%s %s %s %s %s %s', pg_catalog.quote_ident(t.tgname), t.tgtype,
									 pg_catalog.quote_nullable(t.tgoldtable), pg_catalog.quote_nullable(t.tgnewtable),
									 t.tgnargs, pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]))
				   OPERATOR(pg_catalog.=) ANY (ARRAY[
					'governance_audit_insert 4 NULL ''governance_new'' 0 0',
					'governance_audit_update 17 NULL NULL 0 0',
					'governance_audit_delete 8 ''governance_old'' NULL 0 0',
					'governance_audit_truncate 32 NULL NULL 0 0',
					'governance_audit_row 29 NULL NULL 0 0'])),
		   CASE WHEN governance._sealed_ok(k.ipad, k.opad, v.m, v.a, v.t, v.c) THEN v.a END, v.t, v.c,
		   EXISTS (
			SELECT FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2
			   AND a.atttypid OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid
			   AND governance._base_type(a.atttypid) OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid)
	  INTO attached, v_agent, v_tenant, v_corr, textout
	  FROM (SELECT COALESCE(pg_catalog.current_setting('governance.agent_id', true), '') AS a,
				   COALESCE(pg_catalog.current_setting('governance.tenant_id', true), '') AS t,
				   COALESCE(pg_catalog.current_setting('governance.correlation_id', true), '') AS c,
				   COALESCE(pg_catalog.current_setting('governance.context_seal', true), '') AS m) v,
		   governance.seal_key k;
	IF TG_WHEN <> 'AFTER' OR NOT attached THEN
		RAISE EXCEPTION 'trigger "%" on "%" is not an audit trigger made by governance.enable_audit()', TG_NAME, TG_TABLE_NAME
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Drop the trigger and run governance.enable_audit() on the table.';
	END IF;
	-- a row of a partition is recorded under the audited partitioned table
	-- (a separate query: a statement trigger does not start it up)
	IF TG_LEVEL <> 'ROW' THEN
		NULL;
	ELSIF EXISTS (SELECT FROM pg_catalog.pg_class c
				   WHERE c.oid OPERATOR(pg_catalog.=) TG_RELID AND c.relispartition) THEN
		SELECT a.relid INTO root FROM pg_catalog.pg_partition_ancestors(TG_RELID) a
		  JOIN pg_catalog.pg_trigger t ON t.tgrelid OPERATOR(pg_catalog.=) a.relid
		 WHERE t.tgname OPERATOR(pg_catalog.=) 'governance_audit_row' AND t.tgparentid OPERATOR(pg_catalog.=) 0::pg_catalog.oid;
		SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO root_name
		  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		 WHERE c.oid OPERATOR(pg_catalog.=) root;
	END IF;
	IF v_agent IS NOT NULL THEN
		c_agent := v_agent;
		c_tenant := NULLIF(v_tenant, '');
		c_corr := NULLIF(v_corr, '');
	ELSE
		SELECT cc.agent_id, cc.tenant_id, cc.correlation_id INTO c_agent, c_tenant, c_corr FROM governance._context_core() cc;
		IF c_agent IS NULL THEN
			PERFORM governance._require_context(root, TG_OP);
		END IF;
	END IF;
	IF pg_catalog.current_setting('extra_float_digits') <> '1' OR pg_catalog.current_setting('DateStyle') <> 'ISO, MDY'
	   OR pg_catalog.current_setting('IntervalStyle') <> 'postgres' THEN
		saved := ARRAY[pg_catalog.current_setting('extra_float_digits'), pg_catalog.current_setting('DateStyle'),
					   pg_catalog.current_setting('IntervalStyle')];
		FOR i IN 1..3 LOOP
			PERFORM pg_catalog.set_config(images[2 * i - 1], images[2 * i], true);
		END LOOP;
	END IF;

	-- Row images.  A transition table's row is named "x.*", never "x": a
	-- column of the audited table called x would be taken instead.
	-- A column of (or containing) a type a non-superuser owns never goes
	-- through to_jsonb (see _type_has_user_scalar()): the images of such a
	-- table are made by a query of its columns (names quoted, no value in
	-- the text), in the same batches.
	IF textout AND TG_OP <> 'TRUNCATE' THEN
		sel := governance._audit_image_columns(TG_RELID);
	END IF;
	IF sel IS NOT NULL THEN
		IF TG_LEVEL = 'ROW' THEN
			IF TG_OP <> 'INSERT' THEN
				EXECUTE pg_catalog.format('SELECT pg_catalog.to_jsonb(s.*) FROM (SELECT %s FROM (SELECT ($1).*) r) s', sel)
				   INTO o_img USING OLD;
			END IF;
			IF TG_OP <> 'DELETE' THEN
				EXECUTE pg_catalog.format('SELECT pg_catalog.to_jsonb(s.*) FROM (SELECT %s FROM (SELECT ($1).*) r) s', sel)
				   INTO n_img USING NEW;
			END IF;
			INSERT INTO governance.audit_batch VALUES (
				pg_catalog.nextval('governance.audit_batch_id_seq'), 1, at, pg_catalog.pg_current_xact_id(),
				root, root_name, TG_OP, c_agent, c_tenant, c_corr,
				who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
				CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.jsonb_build_array(o_img) END,
				CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.jsonb_build_array(n_img) END);
		ELSE
			EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(pg_catalog.to_jsonb(s.*)) FROM (SELECT %s FROM %I r) s',
									  sel, CASE WHEN TG_OP = 'INSERT' THEN 'governance_new' ELSE 'governance_old' END)
			   INTO imgs;
			INSERT INTO governance.audit_batch
			SELECT pg_catalog.nextval('governance.audit_batch_id_seq'), pg_catalog.count(*), at, pg_catalog.pg_current_xact_id(),
				   TG_RELID, rel, TG_OP, c_agent, c_tenant, c_corr,
				   who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
				   CASE WHEN TG_OP = 'DELETE' THEN pg_catalog.jsonb_agg(u.j ORDER BY u.n) END,
				   CASE WHEN TG_OP = 'INSERT' THEN pg_catalog.jsonb_agg(u.j ORDER BY u.n) END
			  FROM pg_catalog.unnest(imgs) WITH ORDINALITY u(j, n)
			 GROUP BY (u.n OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 100;
		END IF;
	ELSIF TG_LEVEL = 'ROW' THEN
		batches := 1;
		INSERT INTO governance.audit_batch VALUES (
			pg_catalog.nextval('governance.audit_batch_id_seq'), 1, at, pg_catalog.pg_current_xact_id(),
			root, root_name, TG_OP, c_agent, c_tenant, c_corr,
			who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
			CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(OLD)) END,
			CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(NEW)) END);
	ELSIF TG_OP = 'INSERT' THEN
		-- 1 to 100 rows (most statements): one batch, a plain aggregate
		-- over at most 101 rows (none or more than 100: nothing inserted
		-- here, the chunked form below)
		INSERT INTO governance.audit_batch
		SELECT pg_catalog.nextval('governance.audit_batch_id_seq'), pg_catalog.count(*), at, pg_catalog.pg_current_xact_id(),
			   TG_RELID, rel, TG_OP, c_agent, c_tenant, c_corr,
			   who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
			   NULL, pg_catalog.jsonb_agg(s.*)
		  FROM (SELECT r.* FROM governance_new r LIMIT 101) s
		HAVING pg_catalog.count(*) BETWEEN 1 AND 100;
		GET DIAGNOSTICS batches = ROW_COUNT;
	END IF;
	IF batches > 0 OR sel IS NOT NULL THEN
		NULL;
	ELSIF TG_OP = 'INSERT' THEN
		INSERT INTO governance.audit_batch
		SELECT pg_catalog.nextval('governance.audit_batch_id_seq'), pg_catalog.count(*), at, pg_catalog.pg_current_xact_id(),
			   TG_RELID, rel, TG_OP, c_agent, c_tenant, c_corr,
			   who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
			   NULL, pg_catalog.jsonb_agg(r.j)
		  FROM (SELECT pg_catalog.to_jsonb(n.*) AS j, (pg_catalog.row_number() OVER () OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 100 AS chunk
				  FROM governance_new n) r
		 GROUP BY r.chunk;
	ELSIF TG_OP = 'DELETE' AND TG_LEVEL = 'STATEMENT' THEN
		INSERT INTO governance.audit_batch
		SELECT pg_catalog.nextval('governance.audit_batch_id_seq'), pg_catalog.count(*), at, pg_catalog.pg_current_xact_id(),
			   TG_RELID, rel, TG_OP, c_agent, c_tenant, c_corr,
			   who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
			   pg_catalog.jsonb_agg(r.j), NULL
		  FROM (SELECT pg_catalog.to_jsonb(o.*) AS j, (pg_catalog.row_number() OVER () OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 100 AS chunk
				  FROM governance_old o) r
		 GROUP BY r.chunk;
	ELSE
		INSERT INTO governance.audit_batch VALUES (
			pg_catalog.nextval('governance.audit_batch_id_seq'), 0, at, pg_catalog.pg_current_xact_id(),
			TG_RELID, rel, TG_OP, c_agent, c_tenant, c_corr,
			who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
			NULL, NULL);
	END IF;
	IF saved IS NOT NULL THEN
		FOR i IN 1..3 LOOP
			PERFORM pg_catalog.set_config(images[2 * i - 1], saved[i], true);
		END LOOP;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION governance.audit_trigger() IS
	'Audit trigger of the SQL edition; only as attached by governance.enable_audit()';

/*
 * enable_audit(tbl) / disable_audit(tbl): run with the caller's rights,
 * since CREATE TRIGGER needs the table's owner (or TRIGGER privilege); both
 * are themselves recorded (op DDL, as in the C edition).  Idempotent:
 * enable_audit() replaces triggers of another shape and re-enables
 * disabled ones.
 */
CREATE FUNCTION governance._audit_check_table(tbl regclass, verb text) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c pg_catalog.pg_class;
	relname text;
BEGIN
	SELECT * INTO c FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) tbl;
	relname := c.relname;
	IF c.relkind = 'v' THEN
		RAISE EXCEPTION 'cannot % auditing of "%" because it is a view', verb, relname
			USING ERRCODE = 'wrong_object_type', HINT = 'Audit the tables the view writes to instead.';
	ELSIF c.relkind = 'f' THEN
		RAISE EXCEPTION 'cannot % auditing of "%" because it is a foreign table', verb, relname
			USING ERRCODE = 'wrong_object_type', HINT = 'Audit the table on the server that stores it.';
	ELSIF c.relkind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'cannot % auditing of "%" because it is not a table', verb, relname
			USING ERRCODE = 'wrong_object_type', HINT = 'Only tables and partitioned tables can be audited.';
	ELSIF c.relpersistence = 't' THEN
		RAISE EXCEPTION 'cannot % auditing of temporary table "%"', verb, relname
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Temporary tables disappear with their session; audit a permanent table.';
	ELSIF c.relnamespace IN ('pg_catalog'::regnamespace, 'governance'::regnamespace) THEN
		RAISE EXCEPTION 'cannot % auditing of "%"', verb, relname
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'System catalogs and the tables of pg_governance itself cannot be audited.';
	ELSIF NOT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table "%" to % auditing', relname, verb
			USING ERRCODE = 'insufficient_privilege',
				  HINT = pg_catalog.format('Ask the owner of the table to run governance.%s_audit().', verb);
	END IF;
	IF verb = 'disable' THEN
		RETURN;
	END IF;
	IF c.relhasrules THEN
		RAISE EXCEPTION 'cannot enable auditing of "%" because it has rules', relname
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A rule can rewrite or replace a write before any audit trigger sees it.',
				  HINT = 'Drop the table''s rules, then call governance.enable_audit() again.';
	ELSIF c.relispartition THEN
		RAISE EXCEPTION 'cannot enable auditing of "%" because it is a partition', relname
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Writes routed through the partitioned table would not fire its statement triggers.',
				  HINT = 'Audit the partitioned table (the root of the hierarchy): every partition is then audited.';
	ELSIF EXISTS (SELECT FROM pg_catalog.pg_inherits i
				   WHERE i.inhrelid OPERATOR(pg_catalog.=) tbl OR (i.inhparent OPERATOR(pg_catalog.=) tbl AND c.relkind = 'r')) THEN
		RAISE EXCEPTION 'cannot enable auditing of "%" because it is part of an inheritance tree', relname
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A statement on an inheritance parent changes its children''s rows, and fires only the parent''s statement triggers.',
				  HINT = 'Use declarative partitioning, or remove the inheritance (ALTER TABLE ... NO INHERIT).';
	ELSIF c.relpersistence = 'u' THEN
		RAISE EXCEPTION 'cannot enable auditing of unlogged table "%"', relname
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Audit a logged table (ALTER TABLE ... SET LOGGED).';
	END IF;
END
$$;

/* Record enable/disable (op DDL); runs as the installer. */
CREATE FUNCTION governance._audit_ddl(tbl regclass, what text) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ctx record;
BEGIN
	IF what NOT IN ('governance.enable_audit()', 'governance.disable_audit()') THEN
		RAISE EXCEPTION 'governance._audit_ddl() records only enable_audit() and disable_audit()'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT pg_catalog.pg_has_role(session_user, (SELECT c.relowner FROM pg_catalog.pg_class c
												  WHERE c.oid OPERATOR(pg_catalog.=) tbl), 'USAGE')
	   AND NOT pg_catalog.pg_has_role(governance._db_user(), (SELECT c.relowner FROM pg_catalog.pg_class c
												  WHERE c.oid OPERATOR(pg_catalog.=) tbl), 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table "%" to record its auditing', tbl
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT * INTO ctx FROM governance._context();
	INSERT INTO governance.audit_batch VALUES (
		pg_catalog.nextval('governance.audit_batch_id_seq'), 1, pg_catalog.statement_timestamp(),
		pg_catalog.pg_current_xact_id(), tbl,
		(SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
		   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		  WHERE c.oid OPERATOR(pg_catalog.=) tbl),
		'DDL', ctx.agent_id, ctx.tenant_id, ctx.correlation_id,
		governance._db_user(), session_user, pg_catalog.current_setting('application_name'),
		pg_catalog.inet_client_addr(), NULL, pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('command', what)));
END
$$;
REVOKE ALL ON FUNCTION governance._audit_ddl(regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION governance._audit_ddl(regclass, text) TO PUBLIC;

CREATE FUNCTION governance.enable_audit(tbl regclass) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	qual CONSTANT text := pg_catalog.format('%I.%I',
		(SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
		   ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.oid OPERATOR(pg_catalog.=) tbl),
		(SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl));
	t pg_catalog.pg_trigger;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM governance._audit_check_table(tbl, 'enable');
	FOR s IN SELECT * FROM governance._audit_spec() x
			  WHERE x.relkind OPERATOR(pg_catalog.=) (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl) LOOP
		SELECT * INTO t FROM pg_catalog.pg_trigger x
		 WHERE x.tgrelid OPERATOR(pg_catalog.=) tbl AND x.tgname OPERATOR(pg_catalog.=) s.tgname;
		IF FOUND AND (t.tgfoid <> 'governance.audit_trigger()'::regprocedure OR t.tgtype <> s.tgtype
					  OR t.tgnargs <> 0 OR t.tgqual IS NOT NULL OR COALESCE(pg_catalog.array_length(t.tgattr, 1), 0) <> 0
					  OR t.tgoldtable IS DISTINCT FROM s.old_table OR t.tgnewtable IS DISTINCT FROM s.new_table) THEN
			EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', s.tgname, qual);
			t := NULL;
		END IF;
		IF t.tgname IS NULL THEN
			EXECUTE pg_catalog.format('CREATE TRIGGER %I ', s.tgname)
				 OPERATOR(pg_catalog.||) pg_catalog.format(s.clause, qual)
				 OPERATOR(pg_catalog.||) ' EXECUTE FUNCTION governance.audit_trigger()';
		ELSIF t.tgenabled NOT IN ('O', 'A') THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER %I', qual, s.tgname);
		END IF;
	END LOOP;
	PERFORM governance._audit_ddl(tbl, 'governance.enable_audit()');
END
$$;
COMMENT ON FUNCTION governance.enable_audit(regclass) IS
	'Audit INSERT, UPDATE, DELETE and TRUNCATE of a table into governance.audit_log; idempotent, repairs a tampered audit';

CREATE FUNCTION governance.disable_audit(tbl regclass) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	qual CONSTANT text := pg_catalog.format('%I.%I',
		(SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
		   ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.oid OPERATOR(pg_catalog.=) tbl),
		(SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl));
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM governance._audit_check_table(tbl, 'disable');
	FOR s IN SELECT DISTINCT x.tgname FROM governance._audit_spec() x LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', s.tgname, qual);
	END LOOP;
	PERFORM governance._audit_ddl(tbl, 'governance.disable_audit()');
END
$$;
COMMENT ON FUNCTION governance.disable_audit(regclass) IS
	'Stop auditing a table (recorded in governance.audit_log); idempotent';

/*
 * audited_tables: the C edition's columns (relation, enabled, triggers,
 * problems) and messages.  Without event triggers (superuser-only) the SQL
 * edition cannot refuse a table owner's DISABLE TRIGGER, DROP TRIGGER,
 * CREATE RULE or inheritance change; this view shows them (tamper-evident).
 */
CREATE VIEW governance.audited_tables AS
WITH spec AS (
	SELECT * FROM governance._audit_spec()
), audited AS (
	SELECT DISTINCT t.tgrelid AS relid, c.relkind, c.relispartition, c.relpersistence
	  FROM pg_catalog.pg_trigger t
	  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid
	 WHERE t.tgparentid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
	   AND t.tgfoid OPERATOR(pg_catalog.=) 'governance.audit_trigger()'::pg_catalog.regprocedure::pg_catalog.oid
), trig AS (
	SELECT a.relid, t.tgname, t.tgenabled, t.tgqual IS NOT NULL AS has_qual,
		   s.tgname IS NOT NULL AS known,
		   (t.tgfoid OPERATOR(pg_catalog.<>) 'governance.audit_trigger()'::pg_catalog.regprocedure::pg_catalog.oid
			OR t.tgtype OPERATOR(pg_catalog.<>) s.tgtype OR t.tgnargs OPERATOR(pg_catalog.<>) 0::pg_catalog.int2
			OR t.tgoldtable IS DISTINCT FROM s.old_table OR t.tgnewtable IS DISTINCT FROM s.new_table
			OR pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.<>) 0) AS wrong_shape
	  FROM audited a
	  JOIN pg_catalog.pg_trigger t ON t.tgrelid OPERATOR(pg_catalog.=) a.relid
	  LEFT JOIN spec s ON s.relkind OPERATOR(pg_catalog.=) a.relkind AND s.tgname OPERATOR(pg_catalog.=) t.tgname
	 WHERE t.tgparentid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
	   AND (t.tgfoid OPERATOR(pg_catalog.=) 'governance.audit_trigger()'::pg_catalog.regprocedure::pg_catalog.oid
			OR s.tgname IS NOT NULL)
), problem (relid, what) AS (
	SELECT a.relid, pg_catalog.format('trigger %s is missing', s.tgname)
	  FROM audited a JOIN spec s ON s.relkind OPERATOR(pg_catalog.=) a.relkind
	 WHERE NOT EXISTS (SELECT FROM trig WHERE trig.relid OPERATOR(pg_catalog.=) a.relid
										  AND trig.tgname OPERATOR(pg_catalog.=) s.tgname)
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s is not one that enable_audit makes', tgname) FROM trig WHERE NOT known
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s has the wrong timing, level, events, transition tables, columns or arguments', tgname)
	  FROM trig WHERE known AND wrong_shape
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s has a WHEN condition', tgname) FROM trig WHERE has_qual
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s is disabled', tgname)
	  FROM trig WHERE tgenabled OPERATOR(pg_catalog.=) 'D'::pg_catalog."char"
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s fires on replicas only', tgname)
	  FROM trig WHERE tgenabled OPERATOR(pg_catalog.=) 'R'::pg_catalog."char"
	UNION ALL
	SELECT a.relid, pg_catalog.format('partition %s is not audited (its audit trigger is missing, disabled, replica-only or has a WHEN condition)', d.relid)
	  FROM audited a, pg_catalog.pg_partition_tree(a.relid) d
	 WHERE a.relkind OPERATOR(pg_catalog.=) 'p'::pg_catalog."char"
	   AND d.relid::pg_catalog.oid OPERATOR(pg_catalog.<>) a.relid AND d.isleaf
	   AND NOT EXISTS (
			SELECT FROM pg_catalog.pg_trigger t
			 WHERE t.tgrelid OPERATOR(pg_catalog.=) d.relid::pg_catalog.oid
			   AND t.tgfoid OPERATOR(pg_catalog.=) 'governance.audit_trigger()'::pg_catalog.regprocedure::pg_catalog.oid
			   AND t.tgname OPERATOR(pg_catalog.=) 'governance_audit_row'::pg_catalog.name
			   AND t.tgqual IS NULL
			   AND (t.tgenabled OPERATOR(pg_catalog.=) 'O'::pg_catalog."char"
					OR t.tgenabled OPERATOR(pg_catalog.=) 'A'::pg_catalog."char"))
	UNION ALL
	SELECT a.relid, 'the table has rules, which can rewrite writes before the audit triggers see them'::pg_catalog.text
	  FROM audited a
	 WHERE EXISTS (SELECT FROM pg_catalog.pg_rewrite r WHERE r.ev_class OPERATOR(pg_catalog.=) a.relid)
	UNION ALL
	SELECT a.relid, 'the table is a partition: writes routed through its partitioned table do not fire its statement triggers'::pg_catalog.text
	  FROM audited a WHERE a.relispartition
	UNION ALL
	SELECT a.relid, 'the table is part of an inheritance tree: statements on the parent change the children unaudited'::pg_catalog.text
	  FROM audited a
	 WHERE a.relkind OPERATOR(pg_catalog.=) 'r'::pg_catalog."char"
	   AND EXISTS (SELECT FROM pg_catalog.pg_inherits i
				    WHERE i.inhparent OPERATOR(pg_catalog.=) a.relid
					   OR (i.inhrelid OPERATOR(pg_catalog.=) a.relid AND NOT a.relispartition))
	UNION ALL
	SELECT a.relid, 'the table is unlogged: a crash empties it without audit rows'::pg_catalog.text
	  FROM audited a WHERE a.relpersistence OPERATOR(pg_catalog.=) 'u'::pg_catalog."char"
)
SELECT a.relid::pg_catalog.regclass AS relation,
	   NOT EXISTS (SELECT FROM problem p WHERE p.relid OPERATOR(pg_catalog.=) a.relid) AS enabled,
	   (SELECT pg_catalog.array_agg(t.tgname ORDER BY t.tgname)
		  FROM trig t WHERE t.relid OPERATOR(pg_catalog.=) a.relid) AS triggers,
	   COALESCE((SELECT pg_catalog.array_agg(p.what COLLATE pg_catalog."default" ORDER BY p.what)
				   FROM problem p WHERE p.relid OPERATOR(pg_catalog.=) a.relid),
				'{}'::pg_catalog.text[]) AS problems
  FROM audited a;
GRANT SELECT ON governance.audited_tables TO PUBLIC;
COMMENT ON VIEW governance.audited_tables IS
	'Tables with governance audit triggers; enabled only if every change of the table reaches its audit triggers (problems says why not)';

-- ==== sql-edition/50-rls.sql ====
/*
 * Row-level security: enable_rls() and its policy guard.
 *
 * enable_rls(tbl, agent_column, tenant_column) enables and forces RLS and
 * (re)creates the policy governance_context for all commands, the same
 * policy as the C edition's:
 *   (SELECT governance.rls_guard(tbl)) AND agent_column = (SELECT governance.agent_id())
 *   AND tenant_column = (SELECT governance.tenant_id())
 * so the context is read (and verified) once per query.  It runs with the
 * caller's rights: the caller must own the table.
 */

/*
 * The guard applies require_context once per query.  VOLATILE (unlike the
 * C edition's STABLE guard) because in warn mode it writes the denied_log
 * row itself; as an InitPlan it still runs once per query.  PARALLEL
 * RESTRICTED: it runs in the session's own backend.
 */
CREATE FUNCTION governance.rls_guard(tbl regclass) RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL RESTRICTED SECURITY DEFINER STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM governance._require_context(tbl, 'SELECT');
	RETURN true;
END
$$;
COMMENT ON FUNCTION governance.rls_guard(regclass) IS
	'Policy helper of enable_rls(): applies require_context; not for direct use';

CREATE FUNCTION governance._rls_condition(tbl regclass, col name, accessor text, role text) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	typ oid;
	cat "char";
BEGIN
	SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col
	   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation "%" does not exist', col, pg_catalog.get_rel_name(tbl)
			USING ERRCODE = 'undefined_column', HINT = pg_catalog.format('Pass the name of the column that holds the %s id.', role);
	END IF;
	-- the category of the type under any domains
	SELECT t.typcategory INTO cat FROM pg_catalog.pg_type t
	 WHERE t.oid OPERATOR(pg_catalog.=) governance._base_type(typ);
	RETURN pg_catalog.format(' AND %I%s OPERATOR(pg_catalog.=) (SELECT governance.%s())',
							 col, CASE WHEN cat = 'S' THEN '' ELSE '::pg_catalog.text' END, accessor);
END
$$;

CREATE FUNCTION governance.enable_rls(tbl regclass, agent_column name DEFAULT NULL,
									  tenant_column name DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c pg_catalog.pg_class;
	qual text;
	cond text;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF agent_column IS NULL AND tenant_column IS NULL THEN
		RAISE EXCEPTION 'enable_rls needs an agent column, a tenant column or both'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass agent_column, tenant_column or both.';
	END IF;
	SELECT * INTO c FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) tbl;
	IF c.relkind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'cannot enable row-level security on "%" because it is not a table', c.relname
			USING ERRCODE = 'wrong_object_type', HINT = 'Row-level security applies to tables and partitioned tables.';
	END IF;
	IF NOT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table "%" to enable row-level security', c.relname
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Ask the owner of the table to run governance.enable_rls().';
	END IF;
	qual := pg_catalog.format('%I.%I', (SELECT n.nspname FROM pg_catalog.pg_namespace n
										 WHERE n.oid OPERATOR(pg_catalog.=) c.relnamespace), c.relname);
	cond := pg_catalog.format('(SELECT governance.rls_guard(%L::pg_catalog.regclass))', tbl::oid);
	IF agent_column IS NOT NULL THEN
		cond := cond OPERATOR(pg_catalog.||) governance._rls_condition(tbl, agent_column, 'agent_id', 'agent');
	END IF;
	IF tenant_column IS NOT NULL THEN
		cond := cond OPERATOR(pg_catalog.||) governance._rls_condition(tbl, tenant_column, 'tenant_id', 'tenant');
	END IF;
	EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', qual);
	-- (not DROP POLICY IF EXISTS: its NOTICE is one the C edition does not print)
	IF EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid OPERATOR(pg_catalog.=) tbl
			   AND p.polname OPERATOR(pg_catalog.=) 'governance_context') THEN
		EXECUTE pg_catalog.format('DROP POLICY governance_context ON %s', qual);
	END IF;
	EXECUTE pg_catalog.format('CREATE POLICY governance_context ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
							  qual, cond, cond);
END
$$;
COMMENT ON FUNCTION governance.enable_rls(regclass, name, name) IS
	'Enable and force row-level security with a policy keyed on governance.agent_id() / tenant_id(); idempotent';

-- ==== sql-edition/60-pool_stats.sql ====
/*
 * Pool health: report_pool_stats(), pool_stats, pool_alerts,
 * connection_budget.  These are SQL in the C edition too; `make
 * sql-edition` copies their latest definitions from extension/sql/ (the
 * lines marked "@from-c-edition" below), so the two editions cannot drift.
 * The only change: report_pool_stats() drops the C edition's check that
 * pool_reports is a member of the extension (there is no extension here;
 * the schema belongs to the installer and nobody else can create in it).
 *
 * pool_alert_settings() is C in the C edition (it reads the
 * governance.pool_alert_* settings, USERSET there too); here it reads the
 * same placeholders, with the same defaults.
 */
-- TABLE governance.pool_reports: from pg_governance--0.2--0.3.sql
CREATE UNLOGGED TABLE governance.pool_reports (
	pool_id text NOT NULL,
	db_user name NOT NULL,
	client_addr inet,
	client_pid integer NOT NULL,
	application_name text NOT NULL,
	first_report_at timestamptz NOT NULL,
	reported_at timestamptz NOT NULL,
	report_interval_s double precision NOT NULL,
	uptime_s double precision NOT NULL,
	pool_size integer NOT NULL,
	max_overflow integer NOT NULL,
	size integer NOT NULL,
	checked_out integer NOT NULL,
	idle integer NOT NULL,
	overflow_in_use integer NOT NULL,
	waiters integer NOT NULL,
	circuit text NOT NULL,
	acquires_total bigint NOT NULL,
	timeouts_total bigint NOT NULL,
	exhaustion_events_total bigint NOT NULL,
	connect_failures_total bigint NOT NULL,
	invalidated_total bigint NOT NULL,
	acquire_wait_p50_ms double precision NOT NULL,
	acquire_wait_p99_ms double precision NOT NULL,
	query_p99_ms double precision,
	timeouts_last_hour bigint NOT NULL,
	exhaustion_events_last_hour bigint NOT NULL,
	sample_at timestamptz[] NOT NULL,
	sample_timeouts bigint[] NOT NULL,
	sample_exhaustion_events bigint[] NOT NULL,
	CONSTRAINT pool_reports_key UNIQUE NULLS NOT DISTINCT
		(pool_id, db_user, client_addr, client_pid)
);
-- from pg_governance--0.5--0.6.sql
ALTER TABLE governance.pool_reports
	ADD COLUMN behind_pooler boolean NOT NULL DEFAULT false,
	ADD COLUMN backend_pids integer[],
	ADD COLUMN backend_starts timestamptz[],
	ADD COLUMN missing_pids integer[],
	ADD COLUMN server_missing integer;
REVOKE ALL ON governance.pool_reports FROM PUBLIC;
-- TABLE governance.pool_report_roles: from pg_governance--0.4--0.5.sql
CREATE UNLOGGED TABLE governance.pool_report_roles (
	db_user name PRIMARY KEY
);
REVOKE ALL ON governance.pool_report_roles FROM PUBLIC;

CREATE FUNCTION governance.pool_alert_settings(
	OUT metric text, OUT setting text, OUT threshold double precision)
	RETURNS SETOF record
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT d.metric, d.setting,
		   COALESCE(NULLIF(pg_catalog.current_setting(d.setting, true), '')::double precision, d.threshold)
	  FROM (VALUES ('checked_out_pct', 'governance.pool_alert_checked_out_pct', 80::double precision, 1),
				   ('exhaustion_events_per_hour', 'governance.pool_alert_exhaustions_per_hour', 5, 2),
				   ('query_p99_ms', 'governance.pool_alert_query_p99_ms', 1000, 3),
				   ('timeouts_per_hour', 'governance.pool_alert_timeouts_per_hour', 1, 4),
				   ('idle_in_transaction', 'governance.pool_alert_idle_in_transaction', 0, 5),
				   ('server_connection_mismatch', 'governance.pool_alert_connection_mismatch', 0, 6))
		   AS d(metric, setting, threshold, ord)
	 ORDER BY d.ord
$$;
COMMENT ON FUNCTION governance.pool_alert_settings() IS
	'Thresholds of governance.pool_alerts: metric, the setting that holds it, its value here';

-- FUNCTION governance.report_pool_stats: from pg_governance--0.5--0.6.sql
CREATE FUNCTION governance.report_pool_stats(stats jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $report$
DECLARE
	-- key, minimum, maximum, integral, required.  The limits are
	-- libgovpool's own (client/src/config.c): DATABASE_POOL_SIZE and
	-- DATABASE_MAX_OVERFLOW at most 10000 each, GOVPOOL_REPORT_INTERVAL and
	-- DATABASE_POOL_TIMEOUT at most a day.  null: a string, checked below;
	-- false: optional, checked below (0.6: final, backend_pids).
	spec CONSTANT jsonb := '{
		"pool_id": null, "circuit": null, "final": false, "backend_pids": false,
		"client_pid":             [1, 2147483647, true, true],
		"report_pid":             [-2147483648, 2147483647, true, false],
		"report_interval_s":      [0.001, 86400, false, true],
		"uptime_s":               [0, 1e10, false, true],
		"pool_size":              [0, 10000, true, true],
		"max_overflow":           [0, 10000, true, true],
		"size":                   [0, 20000, true, true],
		"checked_out":            [0, 20000, true, true],
		"idle":                   [0, 20000, true, true],
		"overflow_in_use":        [0, 10000, true, true],
		"waiters":                [0, 100000, true, true],
		"acquires_total":         [0, 9007199254740991, true, true],
		"timeouts_total":         [0, 9007199254740991, true, true],
		"exhaustion_events_total":[0, 9007199254740991, true, true],
		"connect_failures_total": [0, 9007199254740991, true, true],
		"invalidated_total":      [0, 9007199254740991, true, true],
		"acquire_wait_p50_ms":    [0, 86400000, false, true],
		"acquire_wait_p99_ms":    [0, 86400000, false, true],
		"query_p99_ms":           [0, 2147483647, false, false]
	}';
	-- the report without backend_pids; those are bounded by "size"
	max_bytes CONSTANT integer := 4096;
	max_pools_per_role CONSTANT integer := 1000;
	k text;
	v jsonb;
	lim jsonb;
	n numeric;
	now_ts CONSTANT timestamptz := pg_catalog.now();
	me CONSTANT name := session_user;
	addr CONSTANT inet := pg_catalog.inet_client_addr();
	prev governance.pool_reports;
	s_at timestamptz[];
	s_to bigint[];
	s_ex bigint[];
	base_i integer;
	first_keep integer;
	t_total bigint;
	e_total bigint;
	uptime double precision;
	is_final boolean := false;
	claimed integer[];
	pooler boolean := false;
	live_pids integer[];
	live_starts timestamptz[];
	missing integer[];
	still_missing integer;
BEGIN
	IF stats IS NULL OR pg_catalog.jsonb_typeof(stats) <> 'object' THEN
		RAISE EXCEPTION 'invalid pool stats report: not a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'governance.report_pool_stats() is called by libgovpool.';
	END IF;
	IF pg_catalog.octet_length((stats OPERATOR(pg_catalog.-) 'backend_pids'::text)::text) > max_bytes THEN
		RAISE EXCEPTION 'invalid pool stats report: larger than % bytes', max_bytes
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	FOR k, v IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(stats) e LOOP
		IF NOT spec ? k THEN
			RAISE EXCEPTION 'invalid pool stats report: unknown key "%"', pg_catalog.left(k, 64)
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		lim := spec -> k;
		IF pg_catalog.jsonb_typeof(lim) = 'array' THEN
			IF pg_catalog.jsonb_typeof(v) = 'null' AND NOT (lim ->> 3)::boolean THEN
				CONTINUE;
			END IF;
			IF pg_catalog.jsonb_typeof(v) <> 'number' THEN
				RAISE EXCEPTION 'invalid pool stats report: "%" must be a number', k
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			n := (v #>> '{}')::numeric;
			IF n < (lim ->> 0)::numeric OR n > (lim ->> 1)::numeric
			   OR ((lim ->> 2)::boolean AND n <> pg_catalog.trunc(n)) THEN
				RAISE EXCEPTION 'invalid pool stats report: "%" must be % between % and %',
					k, CASE WHEN (lim ->> 2)::boolean THEN 'an integer' ELSE 'a number' END,
					lim ->> 0, lim ->> 1
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END IF;
	END LOOP;
	FOR k IN SELECT e.key FROM pg_catalog.jsonb_each(spec) e
			  WHERE e.value = 'null'::jsonb OR (e.value ->> 3)::boolean LOOP
		IF NOT stats ? k THEN
			RAISE EXCEPTION 'invalid pool stats report: "%" is missing', k
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	IF pg_catalog.jsonb_typeof(stats -> 'pool_id') <> 'string'
	   OR (stats ->> 'pool_id') !~ '^[A-Za-z0-9._:-]{1,64}$' THEN
		RAISE EXCEPTION 'invalid pool stats report: "pool_id" must be 1 to 64 characters of [A-Za-z0-9._:-]'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_catalog.jsonb_typeof(stats -> 'circuit') <> 'string'
	   OR (stats ->> 'circuit') NOT IN ('closed', 'open', 'half_open') THEN
		RAISE EXCEPTION 'invalid pool stats report: "circuit" must be "closed", "open" or "half_open"'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF stats ? 'final' THEN
		IF pg_catalog.jsonb_typeof(stats -> 'final') <> 'boolean' THEN
			RAISE EXCEPTION 'invalid pool stats report: "final" must be true or false'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		is_final := (stats ->> 'final')::boolean;
	END IF;

	-- The figures must be those of one libgovpool pool: open connections
	-- are the checked-out plus the idle ones, at most pool_size +
	-- max_overflow, the overflow being those above pool_size.
	IF (stats ->> 'checked_out')::integer OPERATOR(pg_catalog.+) (stats ->> 'idle')::integer
			OPERATOR(pg_catalog.>) (stats ->> 'size')::integer
	   OR (stats ->> 'size')::integer OPERATOR(pg_catalog.>)
			((stats ->> 'pool_size')::integer OPERATOR(pg_catalog.+) (stats ->> 'max_overflow')::integer)
	   OR (stats ->> 'overflow_in_use')::integer OPERATOR(pg_catalog.>) (stats ->> 'max_overflow')::integer
	   OR (stats ->> 'overflow_in_use')::integer OPERATOR(pg_catalog.>)
			GREATEST((stats ->> 'size')::integer OPERATOR(pg_catalog.-) (stats ->> 'pool_size')::integer, 0) THEN
		RAISE EXCEPTION 'invalid pool stats report: inconsistent pool figures'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'checked_out + idle must not exceed size, size must not exceed pool_size + max_overflow, overflow_in_use must not exceed max_overflow nor size - pool_size.';
	END IF;

	/*
	 * backend_pids: distinct pids, at most one per open connection ("size"),
	 * and only together with report_pid.
	 */
	IF stats ? 'backend_pids' OR stats ? 'report_pid' THEN
		IF NOT (stats ? 'backend_pids' AND stats ? 'report_pid')
		   OR pg_catalog.jsonb_typeof(stats -> 'report_pid') <> 'number' THEN
			RAISE EXCEPTION 'invalid pool stats report: "backend_pids" and "report_pid" must be given together'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF pg_catalog.jsonb_typeof(stats -> 'backend_pids') <> 'array'
		   OR pg_catalog.jsonb_array_length(stats -> 'backend_pids') > (stats ->> 'size')::integer THEN
			RAISE EXCEPTION 'invalid pool stats report: "backend_pids" must be an array of at most "size" pids'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(stats -> 'backend_pids') e
					WHERE pg_catalog.jsonb_typeof(e) <> 'number'
					   OR (e #>> '{}')::numeric NOT BETWEEN 1 AND 2147483647
					   OR (e #>> '{}')::numeric <> pg_catalog.trunc((e #>> '{}')::numeric)) THEN
			RAISE EXCEPTION 'invalid pool stats report: "backend_pids" must hold integers between 1 and 2147483647'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		claimed := ARRAY(SELECT (e #>> '{}')::integer
						   FROM pg_catalog.jsonb_array_elements(stats -> 'backend_pids') e);
		IF (SELECT pg_catalog.count(DISTINCT p) FROM pg_catalog.unnest(claimed) p)
		   <> pg_catalog.cardinality(claimed) THEN
			RAISE EXCEPTION 'invalid pool stats report: "backend_pids" must be distinct'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		pooler := (stats ->> 'report_pid')::integer <> pg_catalog.pg_backend_pid();
	END IF;

	/*
	 * Only the extension's own table, in the extension's own schema (owned
	 * by a superuser since 0.5, so nobody else can rename it or create in
	 * it; checked anyway, as this function runs as its superuser owner).
	 */
	-- (C edition: a check that pool_reports is a member of the extension)

	/*
	 * One report at a time per role: the per-role limit below counts
	 * committed rows, so concurrent sessions of one role would each see
	 * room for their own pools.  The lock is a row of a table nobody else
	 * can touch, so one role can only ever delay its own reports.
	 */
	INSERT INTO governance.pool_report_roles AS l (db_user) VALUES (me)
		ON CONFLICT (db_user) DO NOTHING;
	PERFORM FROM governance.pool_report_roles l
	  WHERE l.db_user OPERATOR(pg_catalog.=) me FOR UPDATE;

	-- Housekeeping: forget pools not refreshed within 3 report intervals
	-- (at least an hour; report_interval_s is at most a day).
	DELETE FROM governance.pool_reports r
	 WHERE r.reported_at OPERATOR(pg_catalog.<) (now_ts OPERATOR(pg_catalog.-) pg_catalog.make_interval(
				secs => GREATEST(3600::double precision, 3::double precision OPERATOR(pg_catalog.*) r.report_interval_s)));

	-- Goodbye: the pool is closing, its row leaves the views now.
	IF is_final THEN
		DELETE FROM governance.pool_reports r
		 WHERE r.pool_id = stats ->> 'pool_id' AND r.db_user = me
		   AND r.client_addr IS NOT DISTINCT FROM addr
		   AND r.client_pid = (stats ->> 'client_pid')::integer;
		RETURN;
	END IF;

	SELECT * INTO prev FROM governance.pool_reports r
	 WHERE r.pool_id = stats ->> 'pool_id' AND r.db_user = me
	   AND r.client_addr IS NOT DISTINCT FROM addr
	   AND r.client_pid = (stats ->> 'client_pid')::integer
	   FOR UPDATE;
	IF NOT FOUND THEN
		IF (SELECT pg_catalog.count(*) FROM governance.pool_reports r WHERE r.db_user = me)
		   >= max_pools_per_role THEN
			RAISE EXCEPTION 'too many client pools reported by role "%"', me
				USING ERRCODE = 'program_limit_exceeded',
					  DETAIL = pg_catalog.format('At most %s pools per role are kept.', max_pools_per_role),
					  HINT = 'Pools that stop reporting are forgotten after 3 report intervals (at least an hour).';
		END IF;
	END IF;

	/*
	 * The pool's connections as the server sees them: of the claimed pids,
	 * the client backends of this role in this database (this function
	 * runs as a superuser, so it sees every backend; the reader of
	 * pool_stats later sees what its own rights show).  A claimed pid that
	 * is none of them is missing; one missing in the previous report too is
	 * a connection the pool holds and the server does not have (a pid
	 * missing once may be a connection the pool closed while the report
	 * travelled).
	 */
	IF claimed IS NOT NULL AND NOT pooler THEN
		SELECT COALESCE(pg_catalog.array_agg(a.pid ORDER BY a.pid), '{}'),
			   COALESCE(pg_catalog.array_agg(a.backend_start ORDER BY a.pid), '{}')
		  INTO live_pids, live_starts
		  FROM pg_catalog.pg_stat_activity a
		 WHERE a.pid = ANY (claimed)
		   AND a.usename = me
		   AND a.datname = pg_catalog.current_database()
		   AND a.backend_type = 'client backend';
		missing := ARRAY(SELECT p FROM pg_catalog.unnest(claimed) p
						  WHERE p <> ALL (live_pids) ORDER BY p);
		still_missing := (SELECT pg_catalog.count(*) FROM pg_catalog.unnest(missing) p
						   WHERE p = ANY (COALESCE(prev.missing_pids, '{}')));
	END IF;

	/*
	 * Per-hour counts: a sample of the cumulative counters about once a
	 * minute; the figure is now minus the newest sample at least an hour
	 * old.  Without one, the pool is younger than an hour (count it all) or
	 * its older history is lost (count from the oldest sample we have).
	 */
	t_total := (stats ->> 'timeouts_total')::bigint;
	e_total := (stats ->> 'exhaustion_events_total')::bigint;
	uptime := (stats ->> 'uptime_s')::double precision;
	s_at := COALESCE(prev.sample_at, '{}');
	s_to := COALESCE(prev.sample_timeouts, '{}');
	s_ex := COALESCE(prev.sample_exhaustion_events, '{}');
	IF prev.pool_id IS NOT NULL AND
	   (t_total < prev.timeouts_total OR e_total < prev.exhaustion_events_total) THEN
		-- counters went backwards: a new pool reusing the id, start over
		s_at := '{}'; s_to := '{}'; s_ex := '{}';
	END IF;
	IF pg_catalog.cardinality(s_at) = 0
	   OR s_at[pg_catalog.cardinality(s_at)] <= now_ts - interval '60 seconds' THEN
		s_at := s_at || now_ts; s_to := s_to || t_total; s_ex := s_ex || e_total;
	END IF;
	SELECT pg_catalog.max(i) INTO base_i
	  FROM pg_catalog.generate_subscripts(s_at, 1) i
	 WHERE s_at[i] <= now_ts - interval '1 hour';
	first_keep := COALESCE(base_i, 1);
	s_at := s_at[first_keep:]; s_to := s_to[first_keep:]; s_ex := s_ex[first_keep:];

	INSERT INTO governance.pool_reports AS r VALUES (
		stats ->> 'pool_id', me, addr, (stats ->> 'client_pid')::integer,
		pg_catalog.current_setting('application_name'),
		now_ts, now_ts,
		(stats ->> 'report_interval_s')::double precision, uptime,
		(stats ->> 'pool_size')::integer, (stats ->> 'max_overflow')::integer,
		(stats ->> 'size')::integer, (stats ->> 'checked_out')::integer,
		(stats ->> 'idle')::integer, (stats ->> 'overflow_in_use')::integer,
		(stats ->> 'waiters')::integer, stats ->> 'circuit',
		(stats ->> 'acquires_total')::bigint, t_total, e_total,
		(stats ->> 'connect_failures_total')::bigint,
		(stats ->> 'invalidated_total')::bigint,
		(stats ->> 'acquire_wait_p50_ms')::double precision,
		(stats ->> 'acquire_wait_p99_ms')::double precision,
		(stats ->> 'query_p99_ms')::double precision,
		t_total - CASE WHEN base_i IS NOT NULL THEN s_to[1]
					   WHEN uptime <= 3600 THEN 0 ELSE s_to[1] END,
		e_total - CASE WHEN base_i IS NOT NULL THEN s_ex[1]
					   WHEN uptime <= 3600 THEN 0 ELSE s_ex[1] END,
		s_at, s_to, s_ex,
		pooler, live_pids, live_starts, missing, still_missing)
	ON CONFLICT ON CONSTRAINT pool_reports_key DO UPDATE SET
		application_name = excluded.application_name,
		reported_at = excluded.reported_at,
		report_interval_s = excluded.report_interval_s,
		uptime_s = excluded.uptime_s,
		pool_size = excluded.pool_size, max_overflow = excluded.max_overflow,
		size = excluded.size, checked_out = excluded.checked_out,
		idle = excluded.idle, overflow_in_use = excluded.overflow_in_use,
		waiters = excluded.waiters, circuit = excluded.circuit,
		acquires_total = excluded.acquires_total,
		timeouts_total = excluded.timeouts_total,
		exhaustion_events_total = excluded.exhaustion_events_total,
		connect_failures_total = excluded.connect_failures_total,
		invalidated_total = excluded.invalidated_total,
		acquire_wait_p50_ms = excluded.acquire_wait_p50_ms,
		acquire_wait_p99_ms = excluded.acquire_wait_p99_ms,
		query_p99_ms = excluded.query_p99_ms,
		timeouts_last_hour = excluded.timeouts_last_hour,
		exhaustion_events_last_hour = excluded.exhaustion_events_last_hour,
		sample_at = excluded.sample_at,
		sample_timeouts = excluded.sample_timeouts,
		sample_exhaustion_events = excluded.sample_exhaustion_events,
		behind_pooler = excluded.behind_pooler,
		backend_pids = excluded.backend_pids,
		backend_starts = excluded.backend_starts,
		missing_pids = excluded.missing_pids,
		server_missing = excluded.server_missing;
END
$report$;
COMMENT ON FUNCTION governance.report_pool_stats(jsonb) IS
	'Publish a client pool''s stats (called by libgovpool every report interval); validated, keyed by pool id, client pid, login role and client address';
REVOKE ALL ON FUNCTION governance.report_pool_stats(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION governance.report_pool_stats(jsonb) TO PUBLIC;

-- VIEW governance.pool_stats: from pg_governance--0.5--0.6.sql
CREATE VIEW governance.pool_stats AS
	WITH act AS MATERIALIZED (
		SELECT a.pid, a.backend_start, a.usename, a.state
		  FROM pg_catalog.pg_stat_activity a
		 WHERE a.backend_type OPERATOR(pg_catalog.=) 'client backend'::pg_catalog.text
		   AND a.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
	), server AS (
		SELECT r.pool_id, r.db_user, r.client_addr, r.client_pid,
			   pg_catalog.count(a.pid) AS connections,
			   pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.=) 'active'::pg_catalog.text) AS active,
			   pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.=) 'idle'::pg_catalog.text) AS idle,
			   pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.~~) 'idle in transaction%'::pg_catalog.text) AS idle_in_transaction
		  FROM governance.pool_reports r
		 CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(r.backend_pids),
									   pg_catalog.unnest(r.backend_starts)) AS b(pid, started)
		  JOIN act a ON a.pid OPERATOR(pg_catalog.=) b.pid
				AND a.backend_start OPERATOR(pg_catalog.=) b.started
				AND a.usename OPERATOR(pg_catalog.=) r.db_user
		 GROUP BY 1, 2, 3, 4
	)
	SELECT r.pool_id, r.application_name, r.db_user,
		   r.client_addr, r.client_pid,
		   r.pool_size, r.max_overflow, r.size, r.checked_out, r.idle,
		   r.overflow_in_use, r.waiters,
		   r.acquires_total, r.timeouts_total, r.exhaustion_events_total,
		   r.connect_failures_total, r.invalidated_total,
		   r.timeouts_last_hour, r.exhaustion_events_last_hour,
		   r.acquire_wait_p50_ms, r.acquire_wait_p99_ms, r.query_p99_ms,
		   r.circuit, r.first_report_at, r.reported_at, r.report_interval_s,
		   r.reported_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-)
			   pg_catalog.make_interval(secs => 3::double precision OPERATOR(pg_catalog.*) r.report_interval_s)) AS stale,
		   CASE WHEN r.backend_pids IS NOT NULL THEN COALESCE(s.connections, 0::bigint) END AS server_connections,
		   CASE WHEN r.backend_pids IS NOT NULL THEN COALESCE(s.active, 0::bigint) END AS server_active,
		   CASE WHEN r.backend_pids IS NOT NULL THEN COALESCE(s.idle, 0::bigint) END AS server_idle,
		   CASE WHEN r.backend_pids IS NOT NULL THEN COALESCE(s.idle_in_transaction, 0::bigint) END AS server_idle_in_transaction,
		   r.server_missing, r.backend_pids, r.behind_pooler
	  FROM governance.pool_reports r
	  LEFT JOIN server s ON s.pool_id OPERATOR(pg_catalog.=) r.pool_id
		   AND s.db_user OPERATOR(pg_catalog.=) r.db_user
		   AND (s.client_addr OPERATOR(pg_catalog.=) r.client_addr
				OR (s.client_addr IS NULL AND r.client_addr IS NULL))
		   AND s.client_pid OPERATOR(pg_catalog.=) r.client_pid;
REVOKE ALL ON governance.pool_stats FROM PUBLIC;
-- VIEW governance.pool_alerts: from pg_governance--0.5--0.6.sql
CREATE VIEW governance.pool_alerts AS
	WITH ps AS (
		SELECT * FROM governance.pool_stats
	), m AS (
		SELECT l.pool_id, l.application_name, l.db_user, l.client_addr,
			   l.client_pid, l.reported_at, v.metric, v.value
		  FROM ps l
		 CROSS JOIN LATERAL (VALUES
			('checked_out_pct'::pg_catalog.text,
			 CASE WHEN l.pool_size OPERATOR(pg_catalog.>) 0
				  THEN pg_catalog.round(100.0 OPERATOR(pg_catalog.*) l.checked_out::pg_catalog.numeric
										OPERATOR(pg_catalog./) l.pool_size::pg_catalog.numeric, 1) END),
			('exhaustion_events_per_hour'::pg_catalog.text, l.exhaustion_events_last_hour::pg_catalog.numeric),
			('query_p99_ms'::pg_catalog.text, l.query_p99_ms::pg_catalog.numeric),
			('timeouts_per_hour'::pg_catalog.text, l.timeouts_last_hour::pg_catalog.numeric),
			('idle_in_transaction'::pg_catalog.text, l.server_idle_in_transaction::pg_catalog.numeric),
			('server_connection_mismatch'::pg_catalog.text, l.server_missing::pg_catalog.numeric)
		 ) AS v(metric, value)
		 WHERE NOT l.stale
	)
	SELECT m.pool_id, m.application_name, m.db_user, m.client_addr,
		   m.client_pid, m.metric, m.value, t.threshold::pg_catalog.numeric AS threshold,
		   t.setting, m.reported_at
	  FROM m
	  JOIN governance.pool_alert_settings() t ON t.metric OPERATOR(pg_catalog.=) m.metric
	 WHERE m.value::double precision OPERATOR(pg_catalog.>) t.threshold
	UNION ALL
	SELECT l.pool_id, l.application_name, l.db_user, l.client_addr, l.client_pid,
		   'stale'::pg_catalog.text,
		   pg_catalog.round(pg_catalog.date_part('epoch'::pg_catalog.text,
				pg_catalog.now() OPERATOR(pg_catalog.-) l.reported_at)::pg_catalog.numeric, 1),
		   (3::double precision OPERATOR(pg_catalog.*) l.report_interval_s)::pg_catalog.numeric,
		   NULL::pg_catalog.text, l.reported_at
	  FROM ps l
	 WHERE l.stale;
REVOKE ALL ON governance.pool_alerts FROM PUBLIC;
-- VIEW governance.connection_budget: from pg_governance--0.4--0.5.sql
CREATE VIEW governance.connection_budget AS
	WITH live AS (
		SELECT * FROM governance.pool_stats WHERE NOT stale
	), limits AS (
		SELECT pg_catalog.current_setting('max_connections'::pg_catalog.text)::integer AS max_connections,
			   pg_catalog.current_setting('superuser_reserved_connections'::pg_catalog.text)::integer
				   AS superuser_reserved_connections
	), per_role AS (
		SELECT LEAST(pg_catalog.sum(lv.pool_size OPERATOR(pg_catalog.+) lv.max_overflow),
					 (l.max_connections OPERATOR(pg_catalog.-) l.superuser_reserved_connections)::bigint,
					 CASE WHEN ro.rolconnlimit OPERATOR(pg_catalog.>=) 0 AND NOT ro.rolsuper
						  THEN ro.rolconnlimit::bigint END) AS demand
		  FROM live lv
		 CROSS JOIN limits l
		  LEFT JOIN pg_catalog.pg_roles ro ON ro.rolname OPERATOR(pg_catalog.=) lv.db_user
		 GROUP BY lv.db_user, l.max_connections, l.superuser_reserved_connections,
				  ro.rolconnlimit, ro.rolsuper
	)
	SELECT (SELECT pg_catalog.count(*) FROM live) AS pools,
		   (SELECT COALESCE(pg_catalog.sum(pool_size), 0::bigint) FROM live)::bigint AS pool_size_total,
		   (SELECT COALESCE(pg_catalog.sum(max_overflow), 0::bigint) FROM live)::bigint AS max_overflow_total,
		   (SELECT COALESCE(pg_catalog.sum(demand), 0::numeric) FROM per_role)::bigint AS demand,
		   l.max_connections, l.superuser_reserved_connections,
		   l.max_connections OPERATOR(pg_catalog.-) l.superuser_reserved_connections AS available,
		   (l.max_connections OPERATOR(pg_catalog.-) l.superuser_reserved_connections)::bigint
			 OPERATOR(pg_catalog.-) (SELECT COALESCE(pg_catalog.sum(demand), 0::numeric) FROM per_role)::bigint
			 AS headroom
	  FROM limits l;
REVOKE ALL ON governance.connection_budget FROM PUBLIC;
COMMENT ON VIEW governance.connection_budget IS
	'Connections the live (not stale) reporting pools may open, Σ(pool_size + max_overflow) with each role counted at most up to what the server lets it open, against max_connections - superuser_reserved_connections; negative headroom means the pools can exhaust the server';

-- ==== sql-edition/90-capabilities.sql ====
/*
 * capabilities(): the C edition's rows, each saying what the SQL edition
 * does instead, plus "edition".  docs/sql-edition.md has the details.
 */
CREATE FUNCTION governance.capabilities(OUT feature text, OUT active boolean, OUT detail text)
	RETURNS SETOF record
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT f, a, d FROM (VALUES
		(0, 'edition', true, 'SQL edition 0.7 (PL/pgSQL, no C library): see docs/sql-edition.md'),
		(1, 'context_gucs', true,
		 'governance.agent_id, governance.tenant_id, governance.correlation_id; a SET of them is not refused at once (no C hook): the accessors refuse to read a value set_context() did not write'),
		(2, 'sealing', true,
		 'tamper-evident, fails closed: a change to a sealed context makes agent_id(), tenant_id(), correlation_id(), context(), the RLS policy and the audit trigger raise 42501; clearing every governance.* setting (RESET ALL) and ROLLBACK TO a savepoint taken before the seal are not detected: they leave no context'),
		(3, 'signed_context', EXISTS (SELECT FROM governance.signing_keys),
		 CASE WHEN NOT EXISTS (SELECT FROM governance.signing_keys) THEN 'governance.signing_key is not set'
			  WHEN governance._setting('require_signed') = 'on'
			  THEN 'governance.require_signed is on: only signed contexts are accepted'
			  ELSE 'governance.signing_key is set' END),
		(4, 'audit', true,
		 'PL/pgSQL audit triggers writing governance.audit_log; a table''s owner can drop or disable them (no event triggers without a superuser): governance.audited_tables shows it'),
		(5, 'denied_log', true,
		 'require_context warnings get a row; refusals are server-log lines only (a row would roll back with them); RLS violations raised by PostgreSQL are not seen'),
		(6, 'pool_stats', true,
		 -- report_pool_stats() runs as the installer: it needs pg_read_all_stats
		 -- to see the backend_start of other roles' backends in pg_stat_activity
		 CASE WHEN pg_catalog.pg_has_role((SELECT n.nspowner FROM pg_catalog.pg_namespace n
											WHERE n.nspname OPERATOR(pg_catalog.=) 'governance'),
										  'pg_read_all_stats', 'USAGE')
			  THEN 'report_pool_stats() into an unlogged table; pool_stats, pool_alerts, connection_budget'
			  ELSE 'report_pool_stats() into an unlogged table; pool_stats, pool_alerts, connection_budget; '
				   'the installer is not a member of pg_read_all_stats, so report_pool_stats() cannot see other roles'' '
				   'backends: their pools show server_connections 0 and a server_connection_mismatch alert '
				   '(GRANT pg_read_all_stats TO the installer)' END),
		(7, 'session_context', false, 'needs the C extension with shared_preload_libraries = ''pg_governance'''),
		(8, 'latency_histograms', false, 'needs the C extension with shared_preload_libraries = ''pg_governance'''),
		(9, 'executor_enforcement', false,
		 'needs the C extension: require_context is applied by the audit triggers and the RLS policy only')
	) AS c(ord, f, a, d)
	ORDER BY ord
$$;
COMMENT ON FUNCTION governance.capabilities() IS
	'One row per feature: active here or not, and why';

/* Which edition and version this is (also for the tests). */
CREATE FUNCTION governance.edition(OUT edition text, OUT version text)
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT 'sql'::pg_catalog.text, '0.7'::pg_catalog.text $$;

COMMIT;
