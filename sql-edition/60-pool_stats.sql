/*
 * Pool health: report_pool_stats(), pool_stats, pool_alerts,
 * connection_budget.  These are SQL in the C edition too; `make
 * sql-edition` copies their latest definitions from extension/sql/ (the
 * lines marked "@from-c-edition" below), so the two editions cannot drift.
 * The only change: report_pool_stats() drops the C edition's check that
 * pool_reports is a member of the extension (there is no extension here;
 * the schema belongs to the installer and nobody else can create in it).
 *
 * pool_alert_settings() is C in the C edition (it reads the
 * governance.pool_alert_* settings, USERSET there too); here it reads the
 * same placeholders, with the same defaults.
 */
-- @from-c-edition TABLE governance.pool_reports
REVOKE ALL ON governance.pool_reports FROM PUBLIC;
-- @from-c-edition TABLE governance.pool_report_roles
REVOKE ALL ON governance.pool_report_roles FROM PUBLIC;

CREATE FUNCTION governance.pool_alert_settings(
	OUT metric text, OUT setting text, OUT threshold double precision)
	RETURNS SETOF record
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT d.metric, d.setting,
		   COALESCE(NULLIF(pg_catalog.current_setting(d.setting, true), '')::double precision, d.threshold)
	  FROM (VALUES ('checked_out_pct', 'governance.pool_alert_checked_out_pct', 80::double precision, 1),
				   ('exhaustion_events_per_hour', 'governance.pool_alert_exhaustions_per_hour', 5, 2),
				   ('query_p99_ms', 'governance.pool_alert_query_p99_ms', 1000, 3),
				   ('timeouts_per_hour', 'governance.pool_alert_timeouts_per_hour', 1, 4),
				   ('idle_in_transaction', 'governance.pool_alert_idle_in_transaction', 0, 5),
				   ('server_connection_mismatch', 'governance.pool_alert_connection_mismatch', 0, 6))
		   AS d(metric, setting, threshold, ord)
	 ORDER BY d.ord
$$;
COMMENT ON FUNCTION governance.pool_alert_settings() IS
	'Thresholds of governance.pool_alerts: metric, the setting that holds it, its value here';

-- @from-c-edition FUNCTION governance.report_pool_stats
COMMENT ON FUNCTION governance.report_pool_stats(jsonb) IS
	'Publish a client pool''s stats (called by libgovpool every report interval); validated, keyed by pool id, client pid, login role and client address';
REVOKE ALL ON FUNCTION governance.report_pool_stats(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION governance.report_pool_stats(jsonb) TO PUBLIC;

-- @from-c-edition VIEW governance.pool_stats
REVOKE ALL ON governance.pool_stats FROM PUBLIC;
-- @from-c-edition VIEW governance.pool_alerts
REVOKE ALL ON governance.pool_alerts FROM PUBLIC;
-- @from-c-edition VIEW governance.connection_budget
REVOKE ALL ON governance.connection_budget FROM PUBLIC;
COMMENT ON VIEW governance.connection_budget IS
	'Connections the live (not stale) reporting pools may open, Σ(pool_size + max_overflow) with each role counted at most up to what the server lets it open, against max_connections - superuser_reserved_connections; negative headroom means the pools can exhaust the server';
