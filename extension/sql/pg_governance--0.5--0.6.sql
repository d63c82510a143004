/* pg_governance 0.5 -> 0.6 */

\echo Use "ALTER EXTENSION pg_governance UPDATE TO '0.6'" to load this file. \quit

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


-- == section: pool stats lifecycle ==

/*
 * Exact per pool, and only live pools (issue 11, part 2; docs/monitoring.md).
 *
 * A 0.6 client's report carries the backend pids of the pool's own
 * connections ("backend_pids") and the pid of the connection carrying the
 * report ("report_pid").  report_pool_stats() keeps only the pids that are
 * client backends of the reporting role (session_user) in this database at
 * report time, with their backend_start, so that a role can never claim
 * another role's backends and a reused pid is not taken for the pool's
 * connection; pool_stats joins pg_stat_activity on (pid, backend_start).
 * When report_pid is not this backend's pid, the pool talks to a pooler
 * (PgBouncer hands out random keys, negative pids among them; the client
 * reports only positive ones): its pids are no server backends and
 * the server-side columns are NULL.  Reports of older clients carry no
 * pids either: NULL, not a guess.
 *
 * A pool says goodbye: a report with "final": true deletes its row.  A pool
 * that died without one is stale after 3 report intervals, raises only the
 * "stale" alert, and is deleted max(1 hour, 3 intervals) after its last
 * report, as before.
 */
ALTER TABLE governance.pool_reports
	ADD COLUMN behind_pooler boolean NOT NULL DEFAULT false,
	ADD COLUMN backend_pids integer[],
	ADD COLUMN backend_starts timestamptz[],
	ADD COLUMN missing_pids integer[],
	ADD COLUMN server_missing integer;
COMMENT ON COLUMN governance.pool_reports.backend_pids IS
	'The pool''s connections the server had at the report: backend pids of client backends of db_user in this database (NULL: not reported, or behind a pooler)';
COMMENT ON COLUMN governance.pool_reports.backend_starts IS
	'backend_start of each of backend_pids, so that a reused pid is never counted as the pool''s';
COMMENT ON COLUMN governance.pool_reports.missing_pids IS
	'Pids the pool reported as its connections that were no client backend of db_user in this database at the report';
COMMENT ON COLUMN governance.pool_reports.server_missing IS
	'How many of missing_pids the pool also reported in its previous report: connections it holds that the server does not have';

CREATE OR REPLACE FUNCTION governance.report_pool_stats(stats jsonb) RETURNS void
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
	'Publish a client pool''s stats (called by libgovpool every report interval, and with "final": true when the pool closes); validated, keyed by pool id, client pid, login role and client address';

/*
 * pool_stats: the server-side columns come from the pool's own backends
 * (pid and backend_start as verified at the report), no longer from every
 * connection of the same role, address and application_name.  NULL when
 * the pool did not report its pids (clients before 0.6) or talks to a
 * pooler.  New columns at the end.
 */
CREATE OR REPLACE VIEW governance.pool_stats AS
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
COMMENT ON VIEW governance.pool_stats IS
	'One row per client pool that reported and has not closed: its report, stale after 3 report intervals without one, and its own connections as pg_stat_activity shows them now (NULL for clients before 0.6 and behind a pooler)';
COMMENT ON COLUMN governance.pool_stats.server_missing IS
	'Connections the pool reported in its last two reports that the server does not have (NULL: not known)';
COMMENT ON COLUMN governance.pool_stats.backend_pids IS
	'Backend pids of the pool''s connections that the server had at the last report';
COMMENT ON COLUMN governance.pool_stats.behind_pooler IS
	'The pool talks to a pooler (PgBouncer): its connections are not server backends, server_* are NULL';

/*
 * pool_alerts: per pool, only live pools; a stale pool raises "stale" and
 * nothing else (its figures are what it reported before it went quiet).
 * server_connection_mismatch is server_missing: connections the pool
 * holds that the server does not have.
 */
CREATE OR REPLACE VIEW governance.pool_alerts AS
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
COMMENT ON VIEW governance.pool_alerts IS
	'Thresholds crossed by live pools (governance.pool_alert_* settings), and "stale" for a pool that stopped reporting without closing (value: seconds since its last report; threshold: 3 report intervals)';

-- == end of section: pool stats lifecycle ==
