/* pg_governance 0.3 -> 0.4: what the preloaded mode adds */

\echo Use "ALTER EXTENSION pg_governance UPDATE TO '0.4'" to load this file. \quit

/*
 * Install guard (the same block opens every script of the upgrade chain,
 * since the chain may start at any version; see docs/security.md).  Before
 * anything else: names resolve in pg_catalog only (PostgreSQL would search
 * the installer's pg_temp first for relations), the extension's schema --
 * found through pg_extension, not by name -- must be "governance", hold
 * nothing that is not a superuser-owned member of this extension, carry no
 * grants or default privileges beyond USAGE for PUBLIC, and be owned by a
 * superuser, the installer or the database owner; then it is given to the
 * superuser running this script, so that no non-superuser can rename it or
 * create anything in it.  SET LOCAL: the installer's session keeps its own
 * search_path afterwards.
 */
SET LOCAL search_path = pg_catalog, pg_temp;
DO $guard$
DECLARE
	ext oid;
	nsp oid;
	nsp_name name;
	nsp_owner oid;
	ext_owner oid;
	found_objects text;
BEGIN
	SELECT e.oid, e.extnamespace, e.extowner INTO ext, nsp, ext_owner
	  FROM pg_catalog.pg_extension e
	 WHERE e.extname OPERATOR(pg_catalog.=) 'pg_governance'::pg_catalog.name;
	SELECT n.nspname, n.nspowner INTO nsp_name, nsp_owner
	  FROM pg_catalog.pg_namespace n WHERE n.oid OPERATOR(pg_catalog.=) nsp;
	IF nsp_name IS DISTINCT FROM 'governance'::pg_catalog.name THEN
		RAISE EXCEPTION 'pg_governance must be installed in schema "governance", not "%"', nsp_name
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'A superuser must rename the schema back (ALTER SCHEMA ... RENAME TO governance).';
	END IF;
	WITH member AS (
		SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
		 WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.refobjid OPERATOR(pg_catalog.=) ext AND d.deptype OPERATOR(pg_catalog.=) 'e'::"char"
	), member_rel AS (
		SELECT m.objid FROM member m WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
	), obj (classid, objid, owner) AS (
		SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid, c.relowner FROM pg_catalog.pg_class c
		 WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
		   -- the indexes of our tables (only their superuser owner can make them)
		   AND NOT EXISTS (SELECT FROM pg_catalog.pg_index i JOIN member_rel r ON r.objid OPERATOR(pg_catalog.=) i.indrelid
						    WHERE i.indexrelid OPERATOR(pg_catalog.=) c.oid)
		UNION ALL
		SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, t.typowner FROM pg_catalog.pg_type t
		 WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp
		   -- row types of our relations, and their array types
		   AND NOT EXISTS (SELECT FROM member_rel r JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.objid
						    WHERE c.reltype OPERATOR(pg_catalog.=) t.oid
							   OR c.reltype OPERATOR(pg_catalog.=) t.typelem)
		UNION ALL
		SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, p.proowner FROM pg_catalog.pg_proc p WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp
		UNION ALL
		SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid, o.oprowner FROM pg_catalog.pg_operator o WHERE o.oprnamespace OPERATOR(pg_catalog.=) nsp
		UNION ALL
		SELECT 'pg_catalog.pg_opclass'::pg_catalog.regclass, o.oid, o.opcowner FROM pg_catalog.pg_opclass o WHERE o.opcnamespace OPERATOR(pg_catalog.=) nsp
		UNION ALL
		SELECT 'pg_catalog.pg_opfamily'::pg_catalog.regclass, o.oid, o.opfowner FROM pg_catalog.pg_opfamily o WHERE o.opfnamespace OPERATOR(pg_catalog.=) nsp
		UNION ALL
		SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, o.oid, o.collowner FROM pg_catalog.pg_collation o WHERE o.collnamespace OPERATOR(pg_catalog.=) nsp
		UNION ALL
		SELECT 'pg_catalog.pg_conversion'::pg_catalog.regclass, o.oid, o.conowner FROM pg_catalog.pg_conversion o WHERE o.connamespace OPERATOR(pg_catalog.=) nsp
		UNION ALL
		SELECT 'pg_catalog.pg_ts_config'::pg_catalog.regclass, o.oid, o.cfgowner FROM pg_catalog.pg_ts_config o WHERE o.cfgnamespace OPERATOR(pg_catalog.=) nsp
		UNION ALL
		SELECT 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, o.oid, o.dictowner FROM pg_catalog.pg_ts_dict o WHERE o.dictnamespace OPERATOR(pg_catalog.=) nsp
		UNION ALL
		SELECT 'pg_catalog.pg_ts_parser'::pg_catalog.regclass, o.oid, 10::pg_catalog.oid FROM pg_catalog.pg_ts_parser o WHERE o.prsnamespace OPERATOR(pg_catalog.=) nsp
		UNION ALL
		SELECT 'pg_catalog.pg_ts_template'::pg_catalog.regclass, o.oid, 10::pg_catalog.oid FROM pg_catalog.pg_ts_template o WHERE o.tmplnamespace OPERATOR(pg_catalog.=) nsp
		UNION ALL
		SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, o.oid, o.stxowner FROM pg_catalog.pg_statistic_ext o WHERE o.stxnamespace OPERATOR(pg_catalog.=) nsp
		UNION ALL
		SELECT 'pg_catalog.pg_extension'::pg_catalog.regclass, o.oid, o.extowner FROM pg_catalog.pg_extension o
		 WHERE o.extnamespace OPERATOR(pg_catalog.=) nsp AND o.oid OPERATOR(pg_catalog.<>) ext
		UNION ALL
		SELECT 'pg_catalog.pg_default_acl'::pg_catalog.regclass, o.oid, o.defaclrole FROM pg_catalog.pg_default_acl o WHERE o.defaclnamespace OPERATOR(pg_catalog.=) nsp
	)
	SELECT pg_catalog.string_agg(pg_catalog.pg_describe_object(o.classid, o.objid, 0), ', '
								 ORDER BY pg_catalog.pg_describe_object(o.classid, o.objid, 0))
	  INTO found_objects
	  FROM obj o
	 WHERE NOT EXISTS (SELECT FROM member m WHERE m.classid OPERATOR(pg_catalog.=) o.classid
												 AND m.objid OPERATOR(pg_catalog.=) o.objid)
		-- a member a non-superuser owns was added with ALTER EXTENSION ... ADD
		OR NOT EXISTS (SELECT FROM pg_catalog.pg_authid r WHERE r.oid OPERATOR(pg_catalog.=) o.owner AND r.rolsuper);
	IF found_objects IS NOT NULL THEN
		RAISE EXCEPTION 'schema "governance" holds objects that are not part of pg_governance: %', found_objects
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Objects in the extension''s schema could be run by its privileged code. Move or drop them (a superuser should review them), then try again.';
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s',
				CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
					 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END,
				a.privilege_type), ', ')
	  INTO found_objects
	  FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
	 WHERE n.oid OPERATOR(pg_catalog.=) nsp
	   AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner
	   AND NOT (a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
				AND a.privilege_type OPERATOR(pg_catalog.=) 'USAGE'::pg_catalog.text);
	IF found_objects IS NOT NULL THEN
		RAISE EXCEPTION 'schema "governance" grants privileges beyond USAGE for PUBLIC: %', found_objects
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Revoke them (REVOKE ... ON SCHEMA governance), then try again.';
	END IF;
	-- the owner: a superuser, the installer or the database owner (who
	-- could have made it); anyone else may have kept a foot in it
	IF nsp_owner OPERATOR(pg_catalog.<>) ext_owner
	   AND nsp_owner OPERATOR(pg_catalog.<>) (SELECT d.datdba FROM pg_catalog.pg_database d
											  WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
	   AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_authid r WHERE r.oid OPERATOR(pg_catalog.=) nsp_owner) THEN
		RAISE EXCEPTION 'schema "governance" is owned by role "%", which is neither the installer, the database owner nor a superuser',
			pg_catalog.pg_get_userbyid(nsp_owner)
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Drop the schema, or have a superuser check it and change its owner, then try again.';
	END IF;
	EXECUTE pg_catalog.format('ALTER SCHEMA %I OWNER TO %I', nsp_name, CURRENT_USER);
	EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO PUBLIC', nsp_name);
END
$guard$;

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
