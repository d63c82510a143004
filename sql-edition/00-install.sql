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
		WHEN 'denied_log_role_limit' THEN CASE WHEN value ~ '^[0-9]{1,7}$' THEN value::integer <= 1000000 ELSE false END
		ELSE false END)
);
REVOKE ALL ON governance.settings FROM PUBLIC;
GRANT SELECT ON governance.settings TO PUBLIC;
COMMENT ON TABLE governance.settings IS
	'Settings of the SQL edition that constrain app roles (require_context, require_signed, token_max_lifetime, denied_log_role_limit); change with governance.set_setting()';
INSERT INTO governance.settings VALUES
	('require_context', 'off'), ('require_signed', 'off'), ('token_max_lifetime', '3600'),
	('denied_log_role_limit', '60');

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
				  HINT = 'The settings are require_context, require_signed, token_max_lifetime and denied_log_role_limit.';
	END IF;
EXCEPTION WHEN check_violation OR not_null_violation THEN
	RAISE EXCEPTION 'invalid value for governance setting "%": %', set_setting.name, pg_catalog.left(set_setting.value, 64)
		USING ERRCODE = 'invalid_parameter_value',
			  HINT = 'require_context: off, warn or enforce; require_signed: on or off; token_max_lifetime: seconds; denied_log_role_limit: rows per minute per role, 0 to 1000000 (0: no limit).';
END
$$;
REVOKE ALL ON FUNCTION governance.set_setting(text, text) FROM PUBLIC;
COMMENT ON FUNCTION governance.set_setting(text, text) IS
	'Change a setting of the SQL edition (installer only; runs with the caller''s rights on governance.settings)';

CREATE FUNCTION governance._setting(name text) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (SELECT s.value FROM governance.settings s WHERE s.name OPERATOR(pg_catalog.=) _setting.name);

/*
 * require_context per role (0.8), what the C edition's ALTER ROLE ... SET
 * governance.require_context gives: a row here for a login role (the
 * session user) takes the place of the database-wide value for its
 * sessions.  Only the installer writes it (set_role_setting()); everyone
 * may read it, as governance.settings.
 */
CREATE TABLE governance.role_settings (
	role	regrole NOT NULL,
	name	text NOT NULL,
	value	text NOT NULL,
	PRIMARY KEY (role, name),
	CONSTRAINT role_settings_value_ok CHECK (name = 'require_context' AND value IN ('off', 'warn', 'enforce'))
);
REVOKE ALL ON governance.role_settings FROM PUBLIC;
GRANT SELECT ON governance.role_settings TO PUBLIC;
COMMENT ON TABLE governance.role_settings IS
	'Per-role values of SQL edition settings (require_context), for sessions of that login role; change with governance.set_role_setting()';

CREATE FUNCTION governance.set_role_setting(role regrole, name text, value text) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF role IS NULL OR name IS NULL THEN
		RAISE EXCEPTION 'role and name must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name <> 'require_context' THEN
		RAISE EXCEPTION 'governance setting "%" cannot be set per role', name
			USING ERRCODE = 'undefined_object',
				  HINT = 'Only require_context can be set per role.';
	END IF;
	IF value IS NULL THEN
		DELETE FROM governance.role_settings r
		 WHERE r.role = set_role_setting.role AND r.name = set_role_setting.name;
		RETURN;
	END IF;
	INSERT INTO governance.role_settings AS r VALUES (set_role_setting.role, set_role_setting.name, set_role_setting.value)
		ON CONFLICT ON CONSTRAINT role_settings_pkey DO UPDATE SET value = EXCLUDED.value;
EXCEPTION WHEN check_violation THEN
	RAISE EXCEPTION 'invalid value for governance setting "%": %', set_role_setting.name, pg_catalog.left(set_role_setting.value, 64)
		USING ERRCODE = 'invalid_parameter_value',
			  HINT = 'require_context: off, warn or enforce.';
END
$$;
REVOKE ALL ON FUNCTION governance.set_role_setting(regrole, text, text) FROM PUBLIC;
COMMENT ON FUNCTION governance.set_role_setting(regrole, text, text) IS
	'Set (NULL: remove) require_context for the sessions of one login role (installer only; runs with the caller''s rights on governance.role_settings)';

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
 * (10-context.sql).  Its row also carries require_signed ('on' in
 * governance.settings; NULL when that row is missing), kept by the trigger
 * below, so that set_context() reads what it needs from one row of one
 * table: a join with governance.settings cost it 23k instructions a call.
 */
CREATE TABLE governance.seal_key (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	ipad	bytea NOT NULL,
	opad	bytea NOT NULL,
	require_signed boolean
);
REVOKE ALL ON governance.seal_key FROM PUBLIC;
COMMENT ON TABLE governance.seal_key IS
	'Key of the context seal (HMAC pads) and a copy of require_signed; readable by the installer only';
INSERT INTO governance.seal_key (ipad, opad, require_signed)
	SELECT governance._hmac_pad(k, 54), governance._hmac_pad(k, 92),
		   governance._setting('require_signed') OPERATOR(pg_catalog.=) 'on'
	  FROM (SELECT pg_catalog.decode(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', '')
									 OPERATOR(pg_catalog.||) pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', '')
									 OPERATOR(pg_catalog.||) pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 'hex') AS k) s;

/*
 * Any change of governance.settings (set_setting(), or the installer's own
 * INSERT, UPDATE, DELETE or TRUNCATE) copies require_signed again into the
 * seal key's row.  set_context() trusts the copy only when it says off; in
 * every other case it reads governance.settings itself.
 */
CREATE FUNCTION governance._settings_changed() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE governance.seal_key k
	   SET require_signed = governance._setting('require_signed') OPERATOR(pg_catalog.=) 'on';
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION governance._settings_changed() FROM PUBLIC;
CREATE TRIGGER settings_require_signed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON governance.settings
	FOR EACH STATEMENT EXECUTE FUNCTION governance._settings_changed();
