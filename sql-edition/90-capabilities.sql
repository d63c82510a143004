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
		(0, 'edition', true, 'SQL edition @VERSION@ (PL/pgSQL, no C library): see docs/sql-edition.md'),
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
		 'require_context warnings get a row, at most denied_log_role_limit rows per minute per role (governance.settings; superusers not bound; each concurrent transaction of a role can add up to the limit; no summary row of the attempts over it, their log lines say so); refusals are server-log lines only (a row would roll back with them); RLS violations raised by PostgreSQL are not seen'),
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
	AS $$ SELECT 'sql'::pg_catalog.text, '@VERSION@'::pg_catalog.text $$;

COMMIT;
