/* pg_governance 0.1 -> 0.2: audit trail, denied-attempt log, RLS helpers, context enforcement */

\echo Use "ALTER EXTENSION pg_governance UPDATE TO '0.2'" to load this file. \quit

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

/*
 * Objects created here are owned by the bootstrap superuser even when a
 * non-superuser database owner installs the extension (trusted = true).
 * That ownership is what makes the two logs append-only for everyone else:
 * only the owner (a superuser) may be granted or hold UPDATE, DELETE or
 * TRUNCATE, and the guard triggers below refuse those even to roles a
 * superuser might grant them to.  Rows are appended by the C code directly
 * (heap + index insertion), so no role needs INSERT privilege either: a
 * client cannot forge audit rows.
 */

---------------------------------------------------------------------------
-- audit_log: a view over audit_batch
---------------------------------------------------------------------------

/*
 * One row of audit_batch per audited statement (per row for partitioned
 * tables, per TRUNCATE, per DDL record): the statement's context once, and
 * its row images as two jsonb arrays, element i of old_rows and of new_rows
 * being the same row.  A multi-row statement thus costs one heap tuple
 * (TOAST-compressed when large) and one entry per index, not one per row.
 * Rows of one batch get the consecutive ids first_id .. first_id + nrows - 1.
 * A batch holds at most 100 rows and takes 100 ids from its backend's block
 * of 6400 (one nextval per 64 statements; the sequence steps by a block), so
 * ids are unique and ascend in the order one backend wrote its batches
 * (with gaps; across backends, as with a sequence's CACHE, order by at).
 */
CREATE SEQUENCE governance.audit_batch_id_seq INCREMENT BY 6400;

CREATE TABLE governance.audit_batch (
	first_id			bigint NOT NULL DEFAULT pg_catalog.nextval('governance.audit_batch_id_seq'),
	nrows				integer NOT NULL,
	at					timestamptz NOT NULL,	-- statement start
	txid				xid8 NOT NULL,			-- top-level transaction
	relid				oid,					-- the audited table (stable across renames)
	relation			text NOT NULL,			-- its schema-qualified name when written
	op					text NOT NULL,			-- INSERT, UPDATE, DELETE, TRUNCATE or DDL
	agent_id			text,
	tenant_id			text,
	correlation_id		text,
	db_user				text NOT NULL,			-- current_user
	db_session_user		text NOT NULL,			-- session_user
	application_name	text,
	client_addr			inet,					-- NULL for Unix-socket connections
	old_rows			jsonb,					-- array: UPDATE, DELETE images before
	new_rows			jsonb					-- array: INSERT, UPDATE images after; DDL: what was done
);
ALTER SEQUENCE governance.audit_batch_id_seq OWNED BY governance.audit_batch.first_id;

COMMENT ON TABLE governance.audit_batch IS
	'Storage of governance.audit_log: one row per audited statement; read audit_log instead';

-- Row images of multi-row statements are large and repetitive: compress them
-- with lz4 where the server has it (several times faster than pglz).
DO $lz4$
BEGIN
	ALTER TABLE governance.audit_batch
		ALTER COLUMN old_rows SET COMPRESSION lz4,
		ALTER COLUMN new_rows SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	NULL;
END
$lz4$;

-- "What did agent X do (lately)?"
CREATE INDEX audit_batch_agent_at_idx ON governance.audit_batch (agent_id, at);
-- "What happened to table T in the last hour?"  Batches are appended in
-- time order, so a BRIN index finds the last hour's few block ranges (and
-- skips those without T) at a fraction of a btree's write cost: an insert
-- into the newest range, not yet summarized, writes nothing to the index.
CREATE INDEX audit_batch_relid_at_idx ON governance.audit_batch USING brin (relid, at);

CREATE VIEW governance.audit_log AS
	SELECT b.first_id + coalesce(r.ord, 1) - 1 AS id,
		   b.at, b.txid, b.relid, b.relation, b.op,
		   b.agent_id, b.tenant_id, b.correlation_id,
		   b.db_user, b.db_session_user, b.application_name, b.client_addr,
		   r.old_row, r.new_row
	  FROM governance.audit_batch b
	  LEFT JOIN LATERAL ROWS FROM (pg_catalog.jsonb_array_elements(b.old_rows),
								   pg_catalog.jsonb_array_elements(b.new_rows))
		   WITH ORDINALITY AS r (old_row, new_row, ord) ON true;

COMMENT ON VIEW governance.audit_log IS
	'Append-only audit trail of audited tables (one row per changed row), written in the same transaction as the change';

---------------------------------------------------------------------------
-- denied_log
---------------------------------------------------------------------------

CREATE TABLE governance.denied_log (
	id					bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at					timestamptz NOT NULL,	-- when the attempt was refused (or warned about)
	logged_at			timestamptz NOT NULL,	-- when this row was written
	source				text NOT NULL,			-- 'rls' or 'require_context'
	action				text NOT NULL,			-- 'refused' or 'warned'
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
	statement			text
);

COMMENT ON TABLE governance.denied_log IS
	'Append-only log of attempts refused by row-level security or governance.require_context';

CREATE INDEX denied_log_at_idx ON governance.denied_log (at);
CREATE INDEX denied_log_agent_at_idx ON governance.denied_log (agent_id, at);

---------------------------------------------------------------------------
-- Append-only guards and read access
---------------------------------------------------------------------------

REVOKE ALL ON governance.audit_batch, governance.audit_log, governance.denied_log FROM PUBLIC;

CREATE FUNCTION governance.append_only_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME', 'governance_append_only_trigger'
	LANGUAGE C;
COMMENT ON FUNCTION governance.append_only_trigger() IS
	'Refuses UPDATE, DELETE and TRUNCATE of the governance logs to non-superusers';

CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON governance.audit_batch
	FOR EACH STATEMENT EXECUTE FUNCTION governance.append_only_trigger();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON governance.audit_batch
	FOR EACH STATEMENT EXECUTE FUNCTION governance.append_only_trigger();
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON governance.denied_log
	FOR EACH STATEMENT EXECUTE FUNCTION governance.append_only_trigger();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON governance.denied_log
	FOR EACH STATEMENT EXECUTE FUNCTION governance.append_only_trigger();

/*
 * Reading the logs: the role that owns the extension (the database owner
 * who ran CREATE EXTENSION) may read them and grant reading to others
 * (audit_log is a view owned by the superuser: its readers need no access
 * to audit_batch):
 *     GRANT SELECT ON governance.audit_log, governance.denied_log TO auditor;
 * No cluster-wide role is created: roles are shared by every database of
 * the cluster, and a trusted extension installed by one database owner must
 * not create or hand privileges to a role that someone else may control.
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
			'GRANT SELECT ON governance.audit_log, governance.denied_log TO %I WITH GRANT OPTION',
			owner_name);
	END IF;
END
$grant$;

-- The logs are data, not configuration: pg_dump must keep their rows.
SELECT pg_catalog.pg_extension_config_dump('governance.audit_batch', '');
SELECT pg_catalog.pg_extension_config_dump('governance.audit_batch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('governance.denied_log', '');
SELECT pg_catalog.pg_extension_config_dump('governance.denied_log_id_seq', '');

---------------------------------------------------------------------------
-- Auditing
---------------------------------------------------------------------------

CREATE FUNCTION governance.audit_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME', 'governance_audit_trigger'
	LANGUAGE C;
COMMENT ON FUNCTION governance.audit_trigger() IS
	'Audit trigger attached by governance.enable_audit(); not for direct use';

CREATE FUNCTION governance.enable_audit(tbl regclass) RETURNS void
	AS 'MODULE_PATHNAME', 'governance_enable_audit'
	LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION governance.enable_audit(regclass) IS
	'Audit every INSERT, UPDATE, DELETE and TRUNCATE of a table into governance.audit_log; idempotent';

CREATE FUNCTION governance.disable_audit(tbl regclass) RETURNS void
	AS 'MODULE_PATHNAME', 'governance_disable_audit'
	LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION governance.disable_audit(regclass) IS
	'Stop auditing a table (recorded in governance.audit_log); idempotent';

CREATE VIEW governance.audited_tables AS
	SELECT t.tgrelid::pg_catalog.regclass AS relation,
		   pg_catalog.bool_and(t.tgenabled <> 'D') AS enabled,
		   pg_catalog.array_agg(t.tgname ORDER BY t.tgname) AS triggers
	  FROM pg_catalog.pg_trigger t
	 WHERE t.tgfoid = 'governance.audit_trigger()'::pg_catalog.regprocedure
	   AND t.tgparentid = 0
	 GROUP BY t.tgrelid;
COMMENT ON VIEW governance.audited_tables IS
	'Tables with governance audit triggers, and whether all of them are enabled';
GRANT SELECT ON governance.audited_tables TO PUBLIC;

/*
 * Silencing auditing must itself leave a trace: this event trigger records
 * in audit_log (op = 'DDL') any ALTER TABLE ... DISABLE/ENABLE TRIGGER,
 * DROP TRIGGER, DETACH PARTITION or DROP TABLE that touches an audited
 * table, in the same transaction as the command.  It also refuses to let a
 * non-superuser drop the extension or its schema while the audit trail
 * holds rows.  Event triggers belong to a superuser and cannot be disabled
 * by anyone else.
 */
CREATE FUNCTION governance.ddl_watch() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'governance_ddl_watch'
	LANGUAGE C;
COMMENT ON FUNCTION governance.ddl_watch() IS
	'Event trigger: records DDL that disables or removes auditing; not for direct use';

CREATE EVENT TRIGGER governance_ddl_watch ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE', 'DROP TABLE', 'DROP TRIGGER',
				 'DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION governance.ddl_watch();

---------------------------------------------------------------------------
-- Row-level security helpers and context enforcement
---------------------------------------------------------------------------

CREATE FUNCTION governance.enable_rls(tbl regclass,
									  agent_column name DEFAULT NULL,
									  tenant_column name DEFAULT NULL)
	RETURNS void
	AS 'MODULE_PATHNAME', 'governance_enable_rls'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION governance.enable_rls(regclass, name, name) IS
	'Enable and force row-level security with a policy keyed on governance.agent_id() / tenant_id(); idempotent';

/*
 * Evaluated once per scan of a governed table (a pseudo-constant qual, so
 * the planner turns it into a one-time filter): applies
 * governance.require_context.  PARALLEL RESTRICTED so that it always runs in
 * the backend that owns the session (a denial must be recorded there).
 */
CREATE FUNCTION governance.rls_guard(tbl regclass) RETURNS boolean
	AS 'MODULE_PATHNAME', 'governance_rls_guard'
	LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION governance.rls_guard(regclass) IS
	'Policy helper of enable_rls(): applies governance.require_context; not for direct use';
