/* pg_governance 0.3 -> 0.4: what the preloaded mode adds */

\echo Use "ALTER EXTENSION pg_governance UPDATE TO '0.4'" to load this file. \quit

---------------------------------------------------------------------------
-- denied_log: who wrote the row
---------------------------------------------------------------------------

/*
 * 'backend': the denied backend itself, at its next statement or at exit
 * (plain mode, or when the shared queue was full); 'worker': the background
 * writer of the preloaded mode, within a second of the denial.
 */
ALTER TABLE governance.denied_log
	ADD COLUMN recorded_by text NOT NULL DEFAULT 'backend';
COMMENT ON COLUMN governance.denied_log.recorded_by IS
	'backend: written by the denied backend at its next statement or exit; worker: by the background writer (preloaded mode)';

---------------------------------------------------------------------------
-- session_context (preloaded mode)
---------------------------------------------------------------------------

CREATE FUNCTION governance.session_contexts(OUT pid integer, OUT agent_id text,
		OUT tenant_id text, OUT correlation_id text, OUT truncated boolean)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'governance_session_contexts'
	LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION governance.session_contexts() IS
	'Every backend''s governance context from shared memory (preloaded mode); other roles'' values only for their members and pg_read_all_stats';

/*
 * State, transaction start and query come from pg_stat_activity, which
 * applies its own visibility rules to them; the context columns follow the
 * same rule (members of the session's role and of pg_read_all_stats).
 */
CREATE VIEW governance.session_context AS
	SELECT a.pid,
		   a.datname,
		   a.usename,
		   a.application_name,
		   c.agent_id,
		   c.tenant_id,
		   c.correlation_id,
		   COALESCE(c.truncated, false) AS truncated,
		   a.state,
		   a.xact_start,
		   a.query_start,
		   a.query
	  FROM pg_catalog.pg_stat_activity a
	  LEFT JOIN governance.session_contexts() c ON c.pid = a.pid
	 WHERE a.backend_type = 'client backend'
		-- a session the reader may not see: pg_stat_activity hides its type too
		OR (a.backend_type IS NULL AND c.pid IS NOT NULL);
COMMENT ON VIEW governance.session_context IS
	'Per client backend: its governance context next to its state and query (needs shared_preload_libraries = ''pg_governance'')';
GRANT SELECT ON governance.session_context TO PUBLIC;

---------------------------------------------------------------------------
-- Latency histograms (preloaded mode)
---------------------------------------------------------------------------

CREATE FUNCTION governance.latency_histograms(group_by text DEFAULT 'agent_tenant',
		OUT agent_id text, OUT tenant_id text, OUT overflow boolean,
		OUT calls bigint, OUT total_ms double precision, OUT mean_ms double precision,
		OUT p50_ms double precision, OUT p95_ms double precision,
		OUT p99_ms double precision, OUT max_ms double precision)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'governance_latency_histograms'
	LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION governance.latency_histograms(text) IS
	'Top-level statement latency of this database per agent and tenant (''agent_tenant''), per agent or per tenant; percentiles within 6.25%; needs SELECT on governance.agent_latency or pg_read_all_stats';

CREATE VIEW governance.agent_latency AS
	SELECT agent_id, overflow, calls, total_ms, mean_ms, p50_ms, p95_ms, p99_ms, max_ms
	  FROM governance.latency_histograms('agent');
COMMENT ON VIEW governance.agent_latency IS
	'Top-level statement latency per agent_id (NULL: statements without a context) since the last reset (preloaded mode)';

CREATE VIEW governance.tenant_latency AS
	SELECT tenant_id, overflow, calls, total_ms, mean_ms, p50_ms, p95_ms, p99_ms, max_ms
	  FROM governance.latency_histograms('tenant');
COMMENT ON VIEW governance.tenant_latency IS
	'Top-level statement latency per tenant_id (NULL: statements without a tenant) since the last reset (preloaded mode)';

CREATE FUNCTION governance.reset_latency_histograms()
	RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'governance_reset_latency_histograms'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION governance.reset_latency_histograms() IS
	'Empty this database''s latency histograms; returns when they were reset before';
REVOKE ALL ON FUNCTION governance.reset_latency_histograms() FROM PUBLIC;

/*
 * Reading and resetting: the role that owns the extension may read the two
 * views and reset, and grant both to others:
 *     GRANT SELECT ON governance.agent_latency, governance.tenant_latency TO monitoring;
 *     GRANT EXECUTE ON FUNCTION governance.reset_latency_histograms() TO monitoring;
 */
DO $grant$
DECLARE
	owner_name name;
BEGIN
	SELECT r.rolname INTO owner_name
	  FROM pg_catalog.pg_extension e
	  JOIN pg_catalog.pg_roles r ON r.oid = e.extowner
	 WHERE e.extname = 'pg_governance' AND NOT r.rolsuper;
	IF owner_name IS NOT NULL THEN
		EXECUTE pg_catalog.format(
			'GRANT SELECT ON governance.agent_latency, governance.tenant_latency TO %I WITH GRANT OPTION',
			owner_name);
		EXECUTE pg_catalog.format(
			'GRANT EXECUTE ON FUNCTION governance.reset_latency_histograms() TO %I WITH GRANT OPTION',
			owner_name);
	END IF;
END
$grant$;
