/* pg_governance 0.2 -> 0.3: pool health inside the database (no preload needed) */

\echo Use "ALTER EXTENSION pg_governance UPDATE TO '0.3'" to load this file. \quit

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
-- Pool reports
---------------------------------------------------------------------------

/*
 * One row per client pool, written only by report_pool_stats() (SECURITY
 * DEFINER); nobody else gets any privilege on it.  UNLOGGED: pool state is
 * a live picture, not history; after a crash it is empty until the next
 * report interval.
 *
 * The key is what the reporting backend knows about its client and cannot
 * be told otherwise (session_user, inet_client_addr()) plus what the pool
 * says about itself (pool_id, client_pid): a client can only ever write the
 * rows of its own role and address.
 *
 * sample_* hold cumulative counters about once a minute over the last hour
 * (plus one older sample as the baseline), for the per-hour figures.
 */
CREATE UNLOGGED TABLE governance.pool_reports (
	pool_id text NOT NULL,
	db_user name NOT NULL,
	client_addr inet,
	client_pid integer NOT NULL,
	application_name text NOT NULL,
	first_report_at timestamptz NOT NULL,
	reported_at timestamptz NOT NULL,
	report_interval_s double precision NOT NULL,
	uptime_s double precision NOT NULL,
	pool_size integer NOT NULL,
	max_overflow integer NOT NULL,
	size integer NOT NULL,
	checked_out integer NOT NULL,
	idle integer NOT NULL,
	overflow_in_use integer NOT NULL,
	waiters integer NOT NULL,
	circuit text NOT NULL,
	acquires_total bigint NOT NULL,
	timeouts_total bigint NOT NULL,
	exhaustion_events_total bigint NOT NULL,
	connect_failures_total bigint NOT NULL,
	invalidated_total bigint NOT NULL,
	acquire_wait_p50_ms double precision NOT NULL,
	acquire_wait_p99_ms double precision NOT NULL,
	query_p99_ms double precision,
	timeouts_last_hour bigint NOT NULL,
	exhaustion_events_last_hour bigint NOT NULL,
	sample_at timestamptz[] NOT NULL,
	sample_timeouts bigint[] NOT NULL,
	sample_exhaustion_events bigint[] NOT NULL,
	CONSTRAINT pool_reports_key UNIQUE NULLS NOT DISTINCT
		(pool_id, db_user, client_addr, client_pid)
);
REVOKE ALL ON governance.pool_reports FROM PUBLIC;
COMMENT ON TABLE governance.pool_reports IS
	'Latest report of each client pool, written by governance.report_pool_stats(); read it through governance.pool_stats';

/*
 * The alert thresholds (governance.pool_alert_* settings), one row per
 * metric.  In C so that reading it loads the library and so the settings,
 * also in a backend that has not called any other governance function.
 */
CREATE FUNCTION governance.pool_alert_settings(
	OUT metric text, OUT setting text, OUT threshold double precision)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'governance_pool_alert_settings'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION governance.pool_alert_settings() IS
	'Thresholds of governance.pool_alerts: metric, the setting that holds it, its value here';
GRANT EXECUTE ON FUNCTION governance.pool_alert_settings() TO PUBLIC;

/*
 * report_pool_stats(stats jsonb): what libgovpool sends every report
 * interval.  Every key is required unless marked optional, no other key is
 * accepted, every value must be a JSON number in range (or the listed
 * string); anything else is refused with SQLSTATE 22023 and nothing is
 * stored.
 */
CREATE FUNCTION governance.report_pool_stats(stats jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $report$
DECLARE
	-- key, minimum, maximum, integral, required
	spec CONSTANT jsonb := '{
		"pool_id": null, "circuit": null,
		"client_pid":             [1, 2147483647, true, true],
		"report_interval_s":      [0.001, 86400, false, true],
		"uptime_s":               [0, 1e10, false, true],
		"pool_size":              [0, 100000, true, true],
		"max_overflow":           [0, 100000, true, true],
		"size":                   [0, 200000, true, true],
		"checked_out":            [0, 200000, true, true],
		"idle":                   [0, 200000, true, true],
		"overflow_in_use":        [0, 100000, true, true],
		"waiters":                [0, 10000000, true, true],
		"acquires_total":         [0, 9007199254740991, true, true],
		"timeouts_total":         [0, 9007199254740991, true, true],
		"exhaustion_events_total":[0, 9007199254740991, true, true],
		"connect_failures_total": [0, 9007199254740991, true, true],
		"invalidated_total":      [0, 9007199254740991, true, true],
		"acquire_wait_p50_ms":    [0, 1e9, false, true],
		"acquire_wait_p99_ms":    [0, 1e9, false, true],
		"query_p99_ms":           [0, 1e9, false, false]
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

	-- Housekeeping: forget pools that stopped reporting an hour ago.
	DELETE FROM governance.pool_reports r
	 WHERE r.reported_at < now_ts - pg_catalog.make_interval(
				secs => GREATEST(3600::double precision, 3 * r.report_interval_s));

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
					  HINT = 'Pools that stop reporting are forgotten after an hour.';
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

---------------------------------------------------------------------------
-- Views
---------------------------------------------------------------------------

/*
 * The server's side, per (login role, client address, application_name):
 * the connections it sees, by state.  Runs with the reader's privileges on
 * pg_stat_activity: the state and address of another role's connections
 * are visible to members of pg_read_all_stats (or of that role) only.
 */
CREATE VIEW governance.pool_stats AS
	WITH server AS (
		SELECT a.usename, a.client_addr, a.application_name,
			   pg_catalog.count(*) AS connections,
			   pg_catalog.count(*) FILTER (WHERE a.state = 'active') AS active,
			   pg_catalog.count(*) FILTER (WHERE a.state = 'idle') AS idle,
			   pg_catalog.count(*) FILTER (WHERE a.state LIKE 'idle in transaction%') AS idle_in_transaction
		  FROM pg_catalog.pg_stat_activity a
		 WHERE a.backend_type = 'client backend'
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
		   r.reported_at < pg_catalog.now()
			   - pg_catalog.make_interval(secs => 3 * r.report_interval_s) AS stale,
		   COALESCE(s.connections, 0) AS server_connections,
		   COALESCE(s.active, 0) AS server_active,
		   COALESCE(s.idle, 0) AS server_idle,
		   COALESCE(s.idle_in_transaction, 0) AS server_idle_in_transaction
	  FROM governance.pool_reports r
	  LEFT JOIN server s ON s.usename = r.db_user
		   AND s.client_addr IS NOT DISTINCT FROM r.client_addr
		   AND s.application_name = r.application_name;
COMMENT ON VIEW governance.pool_stats IS
	'One row per client pool reporting through governance.report_pool_stats(): its own figures, stale when the last report is older than 3 report intervals, and the connections pg_stat_activity shows for the same role, client address and application_name';

CREATE VIEW governance.pool_alerts AS
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
		  JOIN grp g ON g.db_user = l.db_user
			   AND g.client_addr IS NOT DISTINCT FROM l.client_addr
			   AND g.application_name = l.application_name
		 CROSS JOIN LATERAL (VALUES
			('checked_out_pct',
			 CASE WHEN l.pool_size > 0
				  THEN pg_catalog.round(100.0 * l.checked_out / l.pool_size, 1) END),
			('exhaustion_events_per_hour', l.exhaustion_events_last_hour::numeric),
			('query_p99_ms', l.query_p99_ms::numeric),
			('timeouts_per_hour', l.timeouts_last_hour::numeric),
			('idle_in_transaction', l.server_idle_in_transaction::numeric),
			('server_connection_mismatch',
			 pg_catalog.abs(l.server_connections - g.reported)::numeric)
		 ) AS v(metric, value)
	)
	SELECT m.pool_id, m.application_name, m.db_user, m.client_addr,
		   m.client_pid, m.metric, m.value, t.threshold::numeric AS threshold,
		   t.setting, m.reported_at
	  FROM m
	  JOIN governance.pool_alert_settings() t ON t.metric = m.metric
	 WHERE m.value > t.threshold;
COMMENT ON VIEW governance.pool_alerts IS
	'One row per live pool and threshold crossed (value > threshold); thresholds are the governance.pool_alert_* settings';

CREATE VIEW governance.connection_budget AS
	WITH live AS (
		SELECT * FROM governance.pool_stats WHERE NOT stale
	), limits AS (
		SELECT pg_catalog.current_setting('max_connections')::integer AS max_connections,
			   pg_catalog.current_setting('superuser_reserved_connections')::integer
				   AS superuser_reserved_connections
	)
	SELECT (SELECT pg_catalog.count(*) FROM live) AS pools,
		   (SELECT COALESCE(pg_catalog.sum(pool_size), 0) FROM live)::bigint AS pool_size_total,
		   (SELECT COALESCE(pg_catalog.sum(max_overflow), 0) FROM live)::bigint AS max_overflow_total,
		   (SELECT COALESCE(pg_catalog.sum(pool_size + max_overflow), 0) FROM live)::bigint AS demand,
		   l.max_connections, l.superuser_reserved_connections,
		   l.max_connections - l.superuser_reserved_connections AS available,
		   l.max_connections - l.superuser_reserved_connections
			 - (SELECT COALESCE(pg_catalog.sum(pool_size + max_overflow), 0) FROM live)::bigint
			 AS headroom
	  FROM limits l;
COMMENT ON VIEW governance.connection_budget IS
	'Connections the live (not stale) reporting pools may open, Σ(pool_size + max_overflow), against max_connections - superuser_reserved_connections; negative headroom means the pools can exhaust the server';

/*
 * Reading: the role that owns the extension may read the three views and
 * grant reading to others (no cluster-wide role is created, see 0.1--0.2):
 *     GRANT SELECT ON governance.pool_stats, governance.pool_alerts,
 *                     governance.connection_budget TO monitoring;
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
			'GRANT SELECT ON governance.pool_stats, governance.pool_alerts, governance.connection_budget TO %I WITH GRANT OPTION',
			owner_name);
	END IF;
END
$grant$;
