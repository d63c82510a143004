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
-- the per-role bound of _deny() counts a role's rows of the last minute here
CREATE INDEX denied_log_session_user_logged_at_idx ON governance.denied_log (db_session_user, logged_at);

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
 *
 * At most denied_log_role_limit rows per minute per role (the session
 * user; governance.settings, default 60, 0: no bound; superusers are not
 * bound), as the C edition's governance.denied_log_role_limit: one role
 * cannot bury a real attempt among its own rows or fill the disk by
 * running statements without a context.  The role's rows of the last
 * minute are counted through denied_log_session_user_logged_at_idx (at
 * most the limit of them), as the C edition counts them when it is not
 * preloaded; rows of transactions not yet committed are not seen, so
 * concurrent sessions of one role can each add up to the limit.  An
 * attempt over the bound keeps its log line, which says
 * "over_role_limit": true; no summary row counts it (the SQL edition has
 * no code that runs when a session ends).
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
	role_limit integer;
	over boolean := false;
	-- The count reads the role's newest rows through
	-- denied_log_session_user_logged_at_idx and stops at the limit or at
	-- the cutoff: a value (clock_timestamp() in the query, a volatile
	-- function, cannot bound an index scan), the role's name in the
	-- index's collation (name's "C" would make it a filter), newest first
	-- (else a generic plan scans every row of the role ever logged).
	cutoff timestamptz;
BEGIN
	SELECT * INTO ctx FROM governance._context();
	IF action = 'warned' THEN
		-- a missing or unreadable setting counts as the default
		role_limit := COALESCE(governance._setting('denied_log_role_limit')::integer, 60);
		cutoff := pg_catalog.clock_timestamp() - interval '1 minute';
		over := role_limit > 0
				AND NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user), false)
				AND (SELECT count(*) FROM (SELECT FROM governance.denied_log d
											WHERE d.db_session_user = session_user::text COLLATE pg_catalog."default"
											  AND d.logged_at > cutoff
											ORDER BY d.logged_at DESC
											LIMIT role_limit) recent) >= role_limit;
	END IF;
	SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO rel
	  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	 WHERE c.oid OPERATOR(pg_catalog.=) _deny.relid;
	RAISE LOG 'governance denied attempt: %', pg_catalog.json_build_object(
		'source', source, 'action', action, 'sqlstate', sqlstate, 'relation', rel,
		'command', command, 'agent_id', ctx.agent_id, 'tenant_id', ctx.tenant_id,
		'correlation_id', ctx.correlation_id, 'db_user', governance._db_user(),
		'db_session_user', session_user, 'application_name', pg_catalog.current_setting('application_name'),
		'at', at, 'backend_pid', pg_catalog.pg_backend_pid(), 'message', message, 'statement', stmt,
		'over_role_limit', over);
	IF action = 'warned' AND NOT over THEN
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
 * require_context (governance.settings, or the session user's row of
 * governance.role_settings; installer only): a governed table
 * used with no agent_id.  off: nothing; warn: WARNING and a row; enforce:
 * 42501 and a log line.  Messages as in the C edition.
 */
CREATE FUNCTION governance._require_context(relid oid, command text) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- the session user's own value (role_settings), else the database's
	mode CONSTANT text := COALESCE((SELECT r.value FROM governance.role_settings r
									 WHERE r.role = (SELECT a.oid FROM pg_catalog.pg_roles a WHERE a.rolname = session_user)
									   AND r.name = 'require_context'),
								   governance._setting('require_context'));
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
