/*-------------------------------------------------------------------------
 *
 * poolstats.c
 *	  Alert thresholds of governance.pool_alerts.
 *
 * Pool reports themselves are stored and validated in SQL
 * (governance.report_pool_stats() in pg_governance--0.2--0.3.sql: a
 * SECURITY DEFINER function over an unlogged table, which works without
 * shared_preload_libraries).  What needs C is the settings: each
 * threshold is a setting so that an administrator can tune it per
 * database or role, and the pool_alerts view reads them through
 * governance.pool_alert_settings(), which also loads the library in a
 * backend that has not used it yet.
 *
 * The settings are USERSET on purpose: they only change what the reader's
 * own session considers an alert, never what is stored.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "governance.h"

PG_FUNCTION_INFO_V1(governance_pool_alert_settings);

/*---- GUC variables ----*/
double		gov_pool_alert_checked_out_pct = 80.0;
int			gov_pool_alert_exhaustions_per_hour = 5;
int			gov_pool_alert_query_p99_ms = 1000;
int			gov_pool_alert_timeouts_per_hour = 1;
int			gov_pool_alert_idle_in_transaction = 0;
int			gov_pool_alert_connection_mismatch = 0;

/*
 * Define the governance.pool_alert_* settings.  Called from _PG_init
 * before the "governance" prefix is reserved, so that values set for
 * them (ALTER DATABASE ... SET) before the library was loaded are kept.
 */
void
gov_poolstats_init(void)
{
	/*
	 * A pool that keeps most of its connections checked out is about to
	 * make callers wait.  Lower it for latency-sensitive services, raise it
	 * for batch workers that are meant to run the pool full.
	 */
	DefineCustomRealVariable("governance.pool_alert_checked_out_pct",
							 "Alert when a pool has more than this percentage of pool_size checked out.",
							 NULL,
							 &gov_pool_alert_checked_out_pct,
							 80.0, 0.0, 1000.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	/*
	 * Checkouts that had to wait for a connection.  A few per hour are
	 * normal under bursts; more means the pool is too small for its load.
	 */
	DefineCustomIntVariable("governance.pool_alert_exhaustions_per_hour",
							"Alert when a pool reports more exhaustion events than this in the last hour.",
							NULL,
							&gov_pool_alert_exhaustions_per_hour,
							5, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	/* Slow queries as the application sees them (round trip included). */
	DefineCustomIntVariable("governance.pool_alert_query_p99_ms",
							"Alert when a pool's 99th percentile query time exceeds this.",
							NULL,
							&gov_pool_alert_query_p99_ms,
							1000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * Checkouts that gave up: each one is a failed request in the
	 * application, so the default tolerates a single one per hour.
	 */
	DefineCustomIntVariable("governance.pool_alert_timeouts_per_hour",
							"Alert when a pool reports more checkout timeouts than this in the last hour.",
							NULL,
							&gov_pool_alert_timeouts_per_hour,
							1, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	/*
	 * The pool's own connections the server sees idle inside a
	 * transaction: they hold locks and snapshots while the application
	 * does something else.
	 */
	DefineCustomIntVariable("governance.pool_alert_idle_in_transaction",
							"Alert when more of a pool's connections than this are idle in transaction.",
							NULL,
							&gov_pool_alert_idle_in_transaction,
							0, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	/*
	 * Connections a pool holds that the server does not have (0.6: pids it
	 * reported in two reports in a row that were no backend of its role):
	 * backends that died under idle connections.  Raise it to tolerate a
	 * few until the pool replaces them at their next checkout.
	 */
	DefineCustomIntVariable("governance.pool_alert_connection_mismatch",
							"Alert when a pool holds more than this many connections the server does not have.",
							NULL,
							&gov_pool_alert_connection_mismatch,
							0, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}

static void
add_threshold(Tuplestorestate *ts, TupleDesc desc, const char *metric,
			  const char *setting, double threshold)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(metric);
	values[1] = CStringGetTextDatum(setting);
	values[2] = Float8GetDatum(threshold);
	tuplestore_putvalues(ts, desc, values, nulls);
}

/*
 * governance.pool_alert_settings(): one row per pool_alerts metric with
 * the setting that holds its threshold and the value in this session.
 */
Datum
governance_pool_alert_settings(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Tuplestorestate *ts;
	TupleDesc	desc;

	InitMaterializedSRF(fcinfo, 0);
	ts = rsinfo->setResult;
	desc = rsinfo->setDesc;

	add_threshold(ts, desc, "checked_out_pct",
				  "governance.pool_alert_checked_out_pct",
				  gov_pool_alert_checked_out_pct);
	add_threshold(ts, desc, "exhaustion_events_per_hour",
				  "governance.pool_alert_exhaustions_per_hour",
				  gov_pool_alert_exhaustions_per_hour);
	add_threshold(ts, desc, "query_p99_ms",
				  "governance.pool_alert_query_p99_ms",
				  gov_pool_alert_query_p99_ms);
	add_threshold(ts, desc, "timeouts_per_hour",
				  "governance.pool_alert_timeouts_per_hour",
				  gov_pool_alert_timeouts_per_hour);
	add_threshold(ts, desc, "idle_in_transaction",
				  "governance.pool_alert_idle_in_transaction",
				  gov_pool_alert_idle_in_transaction);
	add_threshold(ts, desc, "server_connection_mismatch",
				  "governance.pool_alert_connection_mismatch",
				  gov_pool_alert_connection_mismatch);

	return (Datum) 0;
}
