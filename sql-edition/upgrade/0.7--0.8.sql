/*
 * SQL edition, upgrade 0.7 -> 0.8: migrations of what the upgrade does not
 * re-create (see 0.6--0.7.sql for the rules: runs as the installer, search_path
 * pg_catalog, pg_temp, inside the upgrade's transaction; qualify every name).
 */

-- == section: performance (issue 15) ==
-- set_context() reads the key and require_signed from one row of one
-- table: the seal key's row carries a copy of require_signed, kept by a
-- trigger on governance.settings (sql-edition/00-install.sql; the trigger
-- and its function are created by the re-creation that follows).
ALTER TABLE governance.seal_key ADD COLUMN require_signed boolean;
UPDATE governance.seal_key k
   SET require_signed = governance._setting('require_signed') OPERATOR(pg_catalog.=) 'on';
-- _context_mac() takes the message whole (one concat_ws() in its callers
-- instead of two) and binds it to the transaction in text: CREATE OR
-- REPLACE cannot change its arguments.  The three SQL functions whose
-- bodies call it depend on it; they are re-created below.  No CASCADE: an
-- object of someone else's that depends on one of them stops the upgrade
-- rather than being dropped with it.  (IF EXISTS: an upgrade from 0.6 has
-- no _sealed_ok() or _write_sealed() to drop.)
DROP FUNCTION IF EXISTS governance._sealed_ok(bytea, bytea, text, text, text, text);
DROP FUNCTION IF EXISTS governance._write_context(text, text, text, boolean, boolean, governance.seal_key);
DROP FUNCTION IF EXISTS governance._write_sealed(text, text, text, text, bytea, bytea);
DROP FUNCTION governance._context_mac(bytea, bytea, text, text, text);
-- _values_ok() also checks that an agent is given and no seal is set yet
-- (set_context()'s fast path: two calls fewer); a new argument.  (IF
-- EXISTS: 0.6 has none.)
DROP FUNCTION IF EXISTS governance._values_ok(text, text, text);
-- == end of section: performance (issue 15) ==

-- == section: denied_log role limit ==
-- denied_log_role_limit (rows per minute per role, as the C edition's
-- governance.denied_log_role_limit): a new setting, its value check, and
-- the index _deny() counts a role's rows of the last minute through.
ALTER TABLE governance.settings DROP CONSTRAINT settings_value_ok;
ALTER TABLE governance.settings ADD CONSTRAINT settings_value_ok CHECK (CASE name
		WHEN 'require_context' THEN value IN ('off', 'warn', 'enforce')
		WHEN 'require_signed' THEN value IN ('on', 'off')
		WHEN 'token_max_lifetime' THEN value ~ '^[0-9]{1,9}$'
		WHEN 'denied_log_role_limit' THEN CASE WHEN value ~ '^[0-9]{1,7}$' THEN value::integer <= 1000000 ELSE false END
		ELSE false END);
INSERT INTO governance.settings VALUES ('denied_log_role_limit', '60');
CREATE INDEX denied_log_session_user_logged_at_idx ON governance.denied_log (db_session_user, logged_at);
-- == end of section: denied_log role limit ==

-- == section: require_context per role ==
CREATE TABLE governance.role_settings (
	role	regrole NOT NULL,
	name	text NOT NULL,
	value	text NOT NULL,
	PRIMARY KEY (role, name),
	CONSTRAINT role_settings_value_ok CHECK (name = 'require_context' AND value IN ('off', 'warn', 'enforce'))
);
-- == end of section: require_context per role ==
