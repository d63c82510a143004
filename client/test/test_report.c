/*
 * test_report.c
 *	  Integration tests of stats publishing: a pool's report reaches
 *	  governance.pool_stats in a pipeline it sends anyway, at most once per
 *	  interval, never when the interval is 0, and a failing report never
 *	  fails the caller's transaction.  The clock is driven (report_next_ns),
 *	  never slept on.
 */
#include <stdio.h>

#include "itest.h"

/* itest.h helpers this file does not need */
static void unused_helpers(void) __attribute__((unused));
static void
unused_helpers(void)
{
	(void) session_pid;
	(void) count_substr;
	(void) terminate_and_wait;
}

static govpool_context alice = {"alice", "acme", "req-1"};

static govpool *
report_pool(const char *app, int interval_ms)
{
	govpool_config cfg;

	itest_config(&cfg, app);
	cfg.extensions[0] = '\0';	/* main() installs 0.3 */
	cfg.pool_size = 2;
	cfg.max_overflow = 1;
	cfg.report_interval_ms = interval_ms;
	return itest_pool(&cfg);
}

/* acquires_total of the pool's row in pool_stats; -1 when there is none. */
static long
reported_acquires(govpool *p)
{
	char		q[256];

	snprintf(q, sizeof(q),
			 "SELECT coalesce((SELECT acquires_total FROM governance.pool_stats"
			 " WHERE pool_id = '%s' AND NOT stale), -1)", p->pool_id);
	return sql_long(q);
}

static bool
run_ok(govpool *p)
{
	govpool_error err;
	PGresult   *r = govpool_run(p, &alice, "SELECT governance.agent_id()", 0, NULL, &err);
	bool		ok = r != NULL && strcmp(PQgetvalue(r, 0, 0), "alice") == 0;

	PQclear(r);
	return ok;
}

static void
test_first_pipeline_reports_then_once_per_interval(void)
{
	govpool    *p = report_pool("gp_report", 3600 * 1000);

	CHECK(reported_acquires(p) == -1);
	CHECK(run_ok(p));
	CHECK_MSG(reported_acquires(p) == 1, "%ld", reported_acquires(p));
	CHECK(run_ok(p) && run_ok(p));
	CHECK_MSG(reported_acquires(p) == 1, "not due: no new report (%ld)", reported_acquires(p));
	/* the interval elapses */
	__atomic_store_n(&p->report_next_ns, gp_now_ns() - 1, __ATOMIC_RELAXED);
	CHECK(run_ok(p));
	CHECK_MSG(reported_acquires(p) == 4, "%ld", reported_acquires(p));
	CHECK(GP_LOAD(p->reports_sent) == 2);
	{
		char		q[512];

		snprintf(q, sizeof(q),
				 "SELECT count(*) FROM governance.pool_stats WHERE pool_id = '%s'"
				 " AND application_name = 'gp_report' AND pool_size = 2 AND max_overflow = 1"
				 " AND report_interval_s = 3600 AND circuit = 'closed'"
				 " AND server_connections >= 1 AND db_user = current_user", p->pool_id);
		CHECK(sql_long(q) == 1);
	}
	govpool_destroy(p);
}

static void
test_a_session_carries_the_report_too(void)
{
	govpool    *p = report_pool("gp_report_s", 3600 * 1000);
	govpool_error err;
	govpool_session *s = govpool_begin(p, &alice, -1, &err);
	PGresult   *r = govpool_exec(s, "SELECT 1", 0, NULL, &err);

	CHECK(r != NULL);
	PQclear(r);
	CHECK(govpool_commit(s, &err) == GOVPOOL_OK);
	CHECK(reported_acquires(p) == 1);
	govpool_destroy(p);
}

static void
test_interval_zero_never_reports(void)
{
	govpool    *p = report_pool("gp_report_off", 0);

	CHECK(run_ok(p) && run_ok(p));
	CHECK(reported_acquires(p) == -1);
	CHECK(GP_LOAD(p->reports_sent) == 0);
	govpool_destroy(p);
}

static void
test_refused_report_does_not_fail_the_transaction(void)
{
	govpool    *p = report_pool("gp_report_bad", 3600 * 1000);
	logbuf		lb;
	govpool_error err;
	govpool_session *s;
	PGresult   *r;

	logbuf_init(&lb);
	govpool_set_logger(p, logbuf_fn, &lb);
	/* report_pool_stats() refuses this id: the report fails on the server */
	snprintf(p->pool_id, sizeof(p->pool_id), "bad id'; --");
	sql("CREATE TABLE IF NOT EXISTS gp_report_t (x int)");
	r = govpool_run(p, &alice, "INSERT INTO gp_report_t VALUES (42)", 0, NULL, &err);
	CHECK_MSG(r != NULL, "%s", err.message);
	PQclear(r);
	CHECK(sql_long("SELECT count(*) FROM gp_report_t WHERE x = 42") == 1);
	CHECK(GP_LOAD(p->reports_failed) == 1);
	CHECK(strstr(lb.text, "event=stats_report_failed") != NULL);
	/* and in a session: the report precedes BEGIN, the session goes on */
	__atomic_store_n(&p->report_next_ns, gp_now_ns() - 1, __ATOMIC_RELAXED);
	s = govpool_begin(p, &alice, -1, &err);
	r = govpool_exec(s, "INSERT INTO gp_report_t VALUES (43)", 0, NULL, &err);
	CHECK(r != NULL);
	PQclear(r);
	CHECK(govpool_commit(s, &err) == GOVPOOL_OK);
	CHECK(sql_long("SELECT count(*) FROM gp_report_t WHERE x = 43") == 1);
	CHECK(GP_LOAD(p->reports_failed) == 2);
	sql("DROP TABLE gp_report_t");
	govpool_destroy(p);
}

static void
test_idle_in_transaction_raises_an_alert(void)
{
	govpool    *p = report_pool("gp_report_iit", 3600 * 1000);
	govpool_error err;
	govpool_session *s;
	PGresult   *r;
	char		q[256];

	s = govpool_begin(p, &alice, -1, &err);
	r = govpool_exec(s, "SELECT 1", 0, NULL, &err);	/* carries the report */
	PQclear(r);
	snprintf(q, sizeof(q),
			 "SELECT count(*) FROM governance.pool_alerts WHERE pool_id = '%s'"
			 " AND metric = 'idle_in_transaction' AND value = 1", p->pool_id);
	CHECK(sql_long(q) == 1);
	CHECK(govpool_commit(s, &err) == GOVPOOL_OK);
	CHECK(sql_long(q) == 0);
	govpool_destroy(p);
}

static void
test_env_sets_the_interval(void)
{
	govpool_config cfg;
	govpool_error err;

	setenv("GOVPOOL_REPORT_INTERVAL", "0.5", 1);
	CHECK(govpool_config_from_env(&cfg, &err) == GOVPOOL_OK && cfg.report_interval_ms == 500);
	setenv("GOVPOOL_REPORT_INTERVAL", "0", 1);
	CHECK(govpool_config_from_env(&cfg, &err) == GOVPOOL_OK && cfg.report_interval_ms == 0);
	setenv("GOVPOOL_REPORT_INTERVAL", "-1", 1);
	CHECK(govpool_config_from_env(&cfg, &err) == GOVPOOL_ERR_CONFIG);
	unsetenv("GOVPOOL_REPORT_INTERVAL");
	CHECK(govpool_config_from_env(&cfg, &err) == GOVPOOL_OK && cfg.report_interval_ms == 10000);
}

int
main(void)
{
	itest_connect_admin();
	if (sql_long("SELECT count(*) FROM pg_extension WHERE extname = 'pg_governance'") == 0)
		sql("CREATE EXTENSION pg_governance VERSION '0.3'");
	else if (sql_long("SELECT count(*) FROM pg_extension WHERE extname = 'pg_governance'"
					  " AND string_to_array(extversion, '.')::int[] < '{0,3}'") == 1)
		sql("ALTER EXTENSION pg_governance UPDATE TO '0.3'");
	RUN(test_first_pipeline_reports_then_once_per_interval);
	RUN(test_a_session_carries_the_report_too);
	RUN(test_interval_zero_never_reports);
	RUN(test_refused_report_does_not_fail_the_transaction);
	RUN(test_idle_in_transaction_raises_an_alert);
	RUN(test_env_sets_the_interval);
	PQfinish(admin);
	return tap_done();
}
