/* pg_governance 0.4 -> 0.5: the trust boundary (docs/security.md) */

\echo Use "ALTER EXTENSION pg_governance UPDATE TO '0.5'" to load this file. \quit

---------------------------------------------------------------------------
-- 1. Install guard and schema ownership
---------------------------------------------------------------------------

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

-- (end of section 1)


---------------------------------------------------------------------------
-- 2. The context
---------------------------------------------------------------------------

-- (end of section 2)


---------------------------------------------------------------------------
-- 3. Audit completeness and the trail's survival
---------------------------------------------------------------------------

/*
 * ddl_watch (audit.c) now refuses, for every non-superuser, DDL that would
 * change an audited table's rows or silence its audit triggers without an
 * audit row (rules, inheritance, ATTACH of a filled table, DROP COLUMN,
 * ALTER COLUMN TYPE, SET UNLOGGED, trigger tampering, audit_trigger()
 * attached by hand), and the destruction of a non-empty audit trail or
 * denied_log (DROP OWNED, DROP EXTENSION, DROP SCHEMA, ALTER EXTENSION ...
 * DROP).  It needs more command tags, and the table_rewrite event.
 * Event triggers belong to the superuser that ran this script; no one else
 * can alter or drop them.
 */
DROP EVENT TRIGGER governance_ddl_watch;
CREATE EVENT TRIGGER governance_ddl_watch ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'DROP TABLE',
				 'DROP TRIGGER', 'DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED',
				 'CREATE TRIGGER', 'ALTER TRIGGER', 'CREATE RULE',
				 'CREATE TABLE', 'CREATE FOREIGN TABLE', 'ALTER EXTENSION')
	EXECUTE FUNCTION governance.ddl_watch();
CREATE EVENT TRIGGER governance_rewrite_watch ON table_rewrite
	EXECUTE FUNCTION governance.ddl_watch();
CREATE EVENT TRIGGER governance_drop_watch ON sql_drop
	EXECUTE FUNCTION governance.ddl_watch();
-- TRUNCATE of a partition fires no trigger of the partitioned table: each
-- partition of an audited partitioned table gets its own TRUNCATE audit
-- trigger, from enable_audit() and, for later partitions, from this one.
CREATE EVENT TRIGGER governance_partition_watch ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
	EXECUTE FUNCTION governance.ddl_watch();
COMMENT ON FUNCTION governance.ddl_watch() IS
	'Event trigger: refuses (or, for a superuser, records) DDL that would change audited rows or silence auditing unrecorded, and the destruction of a non-empty trail; not for direct use';

/*
 * audited_tables tells the truth: a table is "enabled" only when every
 * audit trigger enable_audit() makes is there, unmodified (timing, level,
 * events, transition tables, no column list, WHEN condition or
 * arguments), enabled in origin mode ('O' or 'A'), every partition's clone
 * and TRUNCATE trigger likewise, and nothing lets changes pass the triggers (rules, inheritance,
 * a partition audited on its own, an unlogged table).  "problems" says
 * what is wrong.  Only pg_catalog operators and functions.
 */
CREATE OR REPLACE VIEW governance.audited_tables AS
WITH fn AS (
	SELECT 'governance.audit_trigger()'::pg_catalog.regprocedure::pg_catalog.oid AS oid
), spec (relkind, tgname, tgtype, old_table, new_table) AS (
	VALUES ('r'::pg_catalog."char", 'governance_audit_insert'::pg_catalog.name, 4::pg_catalog.int2, false, true),
		   ('r'::pg_catalog."char", 'governance_audit_update'::pg_catalog.name, 16::pg_catalog.int2, true, true),
		   ('r'::pg_catalog."char", 'governance_audit_delete'::pg_catalog.name, 8::pg_catalog.int2, true, false),
		   ('r'::pg_catalog."char", 'governance_audit_truncate'::pg_catalog.name, 32::pg_catalog.int2, false, false),
		   ('p'::pg_catalog."char", 'governance_audit_row'::pg_catalog.name, 29::pg_catalog.int2, false, false),
		   ('p'::pg_catalog."char", 'governance_audit_truncate'::pg_catalog.name, 32::pg_catalog.int2, false, false)
), audited AS (
	SELECT DISTINCT t.tgrelid AS relid, c.relkind, c.relispartition, c.relpersistence
	  FROM pg_catalog.pg_trigger t
	  JOIN fn ON t.tgfoid OPERATOR(pg_catalog.=) fn.oid
	  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid
	 WHERE t.tgparentid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
	   -- a partition of an audited partitioned table is shown with it
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger ct
					    WHERE ct.tgrelid OPERATOR(pg_catalog.=) t.tgrelid
						  AND ct.tgfoid OPERATOR(pg_catalog.=) fn.oid
						  AND ct.tgparentid OPERATOR(pg_catalog.<>) 0::pg_catalog.oid)
), trig AS (
	SELECT a.relid, t.tgname, t.tgtype, t.tgenabled, t.tgqual IS NOT NULL AS has_qual,
		   t.tgoldtable IS NOT NULL AS has_old, t.tgnewtable IS NOT NULL AS has_new,
		   t.tgnargs, pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) AS nattr,
		   s.tgname IS NOT NULL AS known, s.tgtype AS want_type,
		   s.old_table AS want_old, s.new_table AS want_new
	  FROM audited a
	  JOIN pg_catalog.pg_trigger t ON t.tgrelid OPERATOR(pg_catalog.=) a.relid
	  JOIN fn ON t.tgfoid OPERATOR(pg_catalog.=) fn.oid
	  LEFT JOIN spec s ON s.relkind OPERATOR(pg_catalog.=) a.relkind
					  AND s.tgname OPERATOR(pg_catalog.=) t.tgname
	 WHERE t.tgparentid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
), problem (relid, what) AS (
	SELECT a.relid, pg_catalog.format('trigger %s is missing', s.tgname)
	  FROM audited a
	  JOIN spec s ON s.relkind OPERATOR(pg_catalog.=) a.relkind
	 WHERE NOT EXISTS (SELECT FROM trig WHERE trig.relid OPERATOR(pg_catalog.=) a.relid
										  AND trig.tgname OPERATOR(pg_catalog.=) s.tgname)
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s is not one that enable_audit makes', tgname)
	  FROM trig WHERE NOT known
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s has the wrong timing, level, events, transition tables, columns or arguments', tgname)
	  FROM trig
	 WHERE known AND (tgtype OPERATOR(pg_catalog.<>) want_type
					  OR has_old OPERATOR(pg_catalog.<>) want_old
					  OR has_new OPERATOR(pg_catalog.<>) want_new
					  OR tgnargs OPERATOR(pg_catalog.<>) 0::pg_catalog.int2
					  OR nattr OPERATOR(pg_catalog.<>) 0)
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s has a WHEN condition', tgname)
	  FROM trig WHERE has_qual
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
	   AND d.relid::pg_catalog.oid OPERATOR(pg_catalog.<>) a.relid
	   AND NOT EXISTS (
			SELECT FROM pg_catalog.pg_trigger t, fn
			 WHERE t.tgrelid OPERATOR(pg_catalog.=) d.relid::pg_catalog.oid
			   AND t.tgfoid OPERATOR(pg_catalog.=) fn.oid
			   AND t.tgname OPERATOR(pg_catalog.=) 'governance_audit_row'::pg_catalog.name
			   AND t.tgqual IS NULL
			   AND (t.tgenabled OPERATOR(pg_catalog.=) 'O'::pg_catalog."char"
					OR t.tgenabled OPERATOR(pg_catalog.=) 'A'::pg_catalog."char"))
	UNION ALL
	SELECT a.relid, pg_catalog.format('partition %s has no enabled TRUNCATE audit trigger', d.relid)
	  FROM audited a, pg_catalog.pg_partition_tree(a.relid) d
	 WHERE a.relkind OPERATOR(pg_catalog.=) 'p'::pg_catalog."char"
	   AND d.relid::pg_catalog.oid OPERATOR(pg_catalog.<>) a.relid
	   AND NOT EXISTS (
			SELECT FROM pg_catalog.pg_trigger t, fn
			 WHERE t.tgrelid OPERATOR(pg_catalog.=) d.relid::pg_catalog.oid
			   AND t.tgfoid OPERATOR(pg_catalog.=) fn.oid
			   AND t.tgname OPERATOR(pg_catalog.=) 'governance_audit_truncate'::pg_catalog.name
			   AND t.tgtype OPERATOR(pg_catalog.=) 32::pg_catalog.int2
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
	   COALESCE((SELECT pg_catalog.array_agg(p.what ORDER BY p.what)
				   FROM problem p WHERE p.relid OPERATOR(pg_catalog.=) a.relid),
				'{}'::pg_catalog.text[]) AS problems
  FROM audited a;
COMMENT ON VIEW governance.audited_tables IS
	'Tables with governance audit triggers; enabled only if every change of the table reaches its audit triggers (problems says why not)';

-- (end of section 3)


---------------------------------------------------------------------------
-- 4. denied_log and pool stats
---------------------------------------------------------------------------

/*
 * denied_log: bounded growth (governance.denied_log_rate_limit records per
 * second per session; what is over it is counted in one row with action
 * 'suppressed') and unambiguous relations (schema-qualified, with relid).
 */
ALTER TABLE governance.denied_log ADD COLUMN suppressed integer;
COMMENT ON COLUMN governance.denied_log.suppressed IS
	'action = ''suppressed'': how many denied attempts of this session the rate limit (governance.denied_log_rate_limit) kept out of denied_log since the previous row; the other columns are those of the first of them.  NULL in every other row';
COMMENT ON COLUMN governance.denied_log.relid IS
	'OID of the relation the refused statement used (NULL when it could not be established, e.g. a refusal raised before execution; and in rows written before 0.5)';
COMMENT ON COLUMN governance.denied_log.relation IS
	'Schema-qualified name of relid when the row was written (a temporary table shows as pg_temp_N.name); NULL with relid NULL';
COMMENT ON COLUMN governance.denied_log.action IS
	'refused, warned (require_context = warn), or suppressed (a count of attempts over governance.denied_log_rate_limit, see suppressed)';

-- pool stats

/*
 * report_pool_stats() serialises the reports of one role on its row here
 * (SELECT ... FOR UPDATE), so that the per-role limit on pools holds under
 * concurrent sessions.  Nobody but the function's superuser owner has any
 * privilege on it.
 */
CREATE UNLOGGED TABLE governance.pool_report_roles (
	db_user name PRIMARY KEY
);
REVOKE ALL ON governance.pool_report_roles FROM PUBLIC;
COMMENT ON TABLE governance.pool_report_roles IS
	'Per-role lock rows of governance.report_pool_stats(); no data';

/*
 * 0.5: values are bounded by libgovpool's own limits and must be
 * consistent with each other; one role's reports are serialised, so at
 * most 1000 pools per role are kept; pools not refreshed within 3 report
 * intervals (at least an hour, at most 3 days) are deleted by the next
 * report of any role.
 */
CREATE OR REPLACE FUNCTION governance.report_pool_stats(stats jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $report$
DECLARE
	-- key, minimum, maximum, integral, required
	-- key, minimum, maximum, integral, required.  The limits are
	-- libgovpool's own (client/src/config.c): DATABASE_POOL_SIZE and
	-- DATABASE_MAX_OVERFLOW at most 10000 each, GOVPOOL_REPORT_INTERVAL and
	-- DATABASE_POOL_TIMEOUT at most a day.
	spec CONSTANT jsonb := '{
		"pool_id": null, "circuit": null,
		"client_pid":             [1, 2147483647, true, true],
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
BEGIN
	IF stats IS NULL OR pg_catalog.jsonb_typeof(stats) <> 'object' THEN
		RAISE EXCEPTION 'invalid pool stats report: not a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'governance.report_pool_stats() is called by libgovpool.';
	END IF;
	IF pg_catalog.octet_length(stats::text) > max_bytes THEN
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
	 * Only the extension's own table, in the extension's own schema (owned
	 * by a superuser since 0.5, so nobody else can rename it or create in
	 * it; checked anyway, as this function runs as its superuser owner).
	 */
	IF NOT EXISTS (
		SELECT FROM pg_catalog.pg_extension e
		  JOIN pg_catalog.pg_depend d
			ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.refobjid OPERATOR(pg_catalog.=) e.oid AND d.deptype OPERATOR(pg_catalog.=) 'e'::"char"
		   AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND d.objid OPERATOR(pg_catalog.=) 'governance.pool_reports'::pg_catalog.regclass
		 WHERE e.extname OPERATOR(pg_catalog.=) 'pg_governance'::pg_catalog.name
		   AND e.extnamespace OPERATOR(pg_catalog.=) 'governance'::pg_catalog.regnamespace) THEN
		RAISE EXCEPTION 'governance.pool_reports is not the table of extension pg_governance'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'A superuser should check the schema "governance".';
	END IF;

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
		s_at, s_to, s_ex)
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
		sample_exhaustion_events = excluded.sample_exhaustion_events;
END
$report$;
COMMENT ON FUNCTION governance.report_pool_stats(jsonb) IS
	'Publish a client pool''s stats (called by libgovpool every report interval); validated, keyed by pool id, client pid, login role and client address';
REVOKE ALL ON FUNCTION governance.report_pool_stats(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION governance.report_pool_stats(jsonb) TO PUBLIC;

-- (end of section 4)


---------------------------------------------------------------------------
-- 5. Views rebuilt with pg_catalog operators only
---------------------------------------------------------------------------

/*
 * Every view of the extension again, binding only pg_catalog: operators
 * written OPERATOR(pg_catalog.x) with arguments of the operator's exact
 * types (explicit casts), functions schema-qualified, IS NOT DISTINCT FROM
 * (which looks "=" up by name) spelled out.  The scripts already run with
 * search_path = pg_catalog, pg_temp (the guard of section 1); written this
 * way, what a view calls does not depend on the path it was created under.
 * Superusers and tenants read these views: they must execute nothing a
 * non-superuser wrote.  Same columns, types and meaning as in 0.4 (CREATE
 * OR REPLACE keeps grants and comments), except where a comment says.
 */

CREATE OR REPLACE VIEW governance.audit_log AS
	SELECT b.first_id OPERATOR(pg_catalog.+) COALESCE(r.ord, 1::bigint) OPERATOR(pg_catalog.-) 1::bigint AS id,
		   b.at, b.txid, b.relid, b.relation, b.op,
		   b.agent_id, b.tenant_id, b.correlation_id,
		   b.db_user, b.db_session_user, b.application_name, b.client_addr,
		   r.old_row, r.new_row
	  FROM governance.audit_batch b
	  LEFT JOIN LATERAL ROWS FROM (pg_catalog.jsonb_array_elements(b.old_rows),
								   pg_catalog.jsonb_array_elements(b.new_rows))
		   WITH ORDINALITY AS r (old_row, new_row, ord) ON true;

CREATE OR REPLACE VIEW governance.pool_stats AS
	WITH server AS (
		SELECT a.usename, a.client_addr, a.application_name,
			   pg_catalog.count(*) AS connections,
			   pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.=) 'active'::pg_catalog.text) AS active,
			   pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.=) 'idle'::pg_catalog.text) AS idle,
			   pg_catalog.count(*) FILTER (WHERE a.state OPERATOR(pg_catalog.~~) 'idle in transaction%'::pg_catalog.text) AS idle_in_transaction
		  FROM pg_catalog.pg_stat_activity a
		 WHERE a.backend_type OPERATOR(pg_catalog.=) 'client backend'::pg_catalog.text
		 GROUP BY 1, 2, 3
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
		   COALESCE(s.connections, 0::bigint) AS server_connections,
		   COALESCE(s.active, 0::bigint) AS server_active,
		   COALESCE(s.idle, 0::bigint) AS server_idle,
		   COALESCE(s.idle_in_transaction, 0::bigint) AS server_idle_in_transaction
	  FROM governance.pool_reports r
	  LEFT JOIN server s ON s.usename OPERATOR(pg_catalog.=) r.db_user
		   AND (s.client_addr OPERATOR(pg_catalog.=) r.client_addr
				OR (s.client_addr IS NULL AND r.client_addr IS NULL))
		   AND s.application_name OPERATOR(pg_catalog.=) r.application_name;

CREATE OR REPLACE VIEW governance.pool_alerts AS
	WITH live AS (
		SELECT * FROM governance.pool_stats WHERE NOT stale
	), grp AS (
		-- several pools (processes) may share role, address and application_name
		SELECT db_user, client_addr, application_name,
			   pg_catalog.sum(size) AS reported
		  FROM live GROUP BY 1, 2, 3
	), m AS (
		SELECT l.pool_id, l.application_name, l.db_user, l.client_addr,
			   l.client_pid, l.reported_at, v.metric, v.value
		  FROM live l
		  JOIN grp g ON g.db_user OPERATOR(pg_catalog.=) l.db_user
			   AND (g.client_addr OPERATOR(pg_catalog.=) l.client_addr
					OR (g.client_addr IS NULL AND l.client_addr IS NULL))
			   AND g.application_name OPERATOR(pg_catalog.=) l.application_name
		 CROSS JOIN LATERAL (VALUES
			('checked_out_pct'::pg_catalog.text,
			 CASE WHEN l.pool_size OPERATOR(pg_catalog.>) 0
				  THEN pg_catalog.round(100.0 OPERATOR(pg_catalog.*) l.checked_out::pg_catalog.numeric
										OPERATOR(pg_catalog./) l.pool_size::pg_catalog.numeric, 1) END),
			('exhaustion_events_per_hour'::pg_catalog.text, l.exhaustion_events_last_hour::pg_catalog.numeric),
			('query_p99_ms'::pg_catalog.text, l.query_p99_ms::pg_catalog.numeric),
			('timeouts_per_hour'::pg_catalog.text, l.timeouts_last_hour::pg_catalog.numeric),
			('idle_in_transaction'::pg_catalog.text, l.server_idle_in_transaction::pg_catalog.numeric),
			('server_connection_mismatch'::pg_catalog.text,
			 pg_catalog.abs(l.server_connections OPERATOR(pg_catalog.-) g.reported::bigint)::pg_catalog.numeric)
		 ) AS v(metric, value)
	)
	SELECT m.pool_id, m.application_name, m.db_user, m.client_addr,
		   m.client_pid, m.metric, m.value, t.threshold::pg_catalog.numeric AS threshold,
		   t.setting, m.reported_at
	  FROM m
	  JOIN governance.pool_alert_settings() t ON t.metric OPERATOR(pg_catalog.=) m.metric
	 WHERE m.value::double precision OPERATOR(pg_catalog.>) t.threshold;

/*
 * 0.5: demand counts each role's live pools at most up to what the server
 * lets that role open (its CONNECTION LIMIT, unless it is a superuser, and
 * max_connections - superuser_reserved_connections), so that one role's
 * reports cannot make the budget meaningless for everyone.
 * pool_size_total and max_overflow_total stay the plain sums.
 */
CREATE OR REPLACE VIEW governance.connection_budget AS
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
COMMENT ON VIEW governance.connection_budget IS
	'Connections the live (not stale) reporting pools may open, Σ(pool_size + max_overflow) with each role counted at most up to what the server lets it open, against max_connections - superuser_reserved_connections; negative headroom means the pools can exhaust the server';

CREATE OR REPLACE VIEW governance.session_context AS
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
	  LEFT JOIN governance.session_contexts() c ON c.pid OPERATOR(pg_catalog.=) a.pid
	 WHERE a.backend_type OPERATOR(pg_catalog.=) 'client backend'::pg_catalog.text
		-- a session the reader may not see: pg_stat_activity hides its type too
		OR (a.backend_type IS NULL AND c.pid IS NOT NULL);

CREATE OR REPLACE VIEW governance.agent_latency AS
	SELECT agent_id, overflow, calls, total_ms, mean_ms, p50_ms, p95_ms, p99_ms, max_ms
	  FROM governance.latency_histograms('agent'::pg_catalog.text);

CREATE OR REPLACE VIEW governance.tenant_latency AS
	SELECT tenant_id, overflow, calls, total_ms, mean_ms, p50_ms, p95_ms, p99_ms, max_ms
	  FROM governance.latency_histograms('tenant'::pg_catalog.text);

-- (end of section 5)


---------------------------------------------------------------------------
-- 6. Red team: routes found after the second round
---------------------------------------------------------------------------

/*
 * ALTER TYPE ... RENAME VALUE of an enum that an audited table's column
 * uses rewrites what every stored row says with no row change: ddl_watch
 * refuses it to non-superusers (records it for a superuser).  ALTER TYPE's
 * other table-changing forms already reach ddl_watch through table_rewrite
 * (ALTER ATTRIBUTE ... TYPE ... CASCADE) and sql_drop (DROP ATTRIBUTE ...
 * CASCADE); ADD and RENAME ATTRIBUTE ... CASCADE of a typed table are
 * recorded.  A trigger of its own so that governance_ddl_watch's tag list
 * stays as section 3 left it.
 */
CREATE EVENT TRIGGER governance_type_watch ON ddl_command_start
	WHEN TAG IN ('ALTER TYPE')
	EXECUTE FUNCTION governance.ddl_watch();

-- (end of section 6)
