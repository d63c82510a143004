/* pg_governance 0.1: the governance context */

\echo Use "CREATE EXTENSION pg_governance" to load this file. \quit

-- The schema is created by CREATE EXTENSION (schema = governance).
GRANT USAGE ON SCHEMA governance TO PUBLIC;

CREATE FUNCTION governance.agent_id() RETURNS text
	AS 'MODULE_PATHNAME', 'governance_agent_id'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION governance.agent_id() IS
	'Acting agent of the current transaction, NULL when unset';

CREATE FUNCTION governance.tenant_id() RETURNS text
	AS 'MODULE_PATHNAME', 'governance_tenant_id'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION governance.tenant_id() IS
	'Tenant of the current transaction, NULL when unset';

CREATE FUNCTION governance.correlation_id() RETURNS text
	AS 'MODULE_PATHNAME', 'governance_correlation_id'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION governance.correlation_id() IS
	'Request id of the current transaction, NULL when unset';

CREATE FUNCTION governance.context() RETURNS jsonb
	AS 'MODULE_PATHNAME', 'governance_context'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION governance.context() IS
	'The whole governance context as jsonb, with whether it is sealed and signed';

CREATE FUNCTION governance.set_context(agent_id text,
									   tenant_id text DEFAULT NULL,
									   correlation_id text DEFAULT NULL,
									   seal boolean DEFAULT true)
	RETURNS void
	AS 'MODULE_PATHNAME', 'governance_set_context'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION governance.set_context(text, text, text, boolean) IS
	'Set the governance context for the current transaction; sealed by default';

CREATE FUNCTION governance.set_context_signed(token text)
	RETURNS void
	AS 'MODULE_PATHNAME', 'governance_set_context_signed'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION governance.set_context_signed(text) IS
	'Set and seal the governance context from a token signed with governance.signing_key';

CREATE FUNCTION governance.capabilities(OUT feature text, OUT active boolean, OUT detail text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'governance_capabilities'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION governance.capabilities() IS
	'One row per feature: whether it is active in this session, and why not';
