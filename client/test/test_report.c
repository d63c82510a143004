/*
 * test_report.c
 *	  Integration tests of stats publishing: a pool's report reaches
 *	  governance.pool_stats in a pipeline it sends anyway, at most once per
 *	  interval, never when the interval is 0, and a failing report never
 *	  fails the caller's transaction.  The server side is exactly the pool's
 *	  own connections (their backend pids), a destroyed pool says goodbye
 *	  and leaves pool_stats, and an older server gets the old report.  The
 *	  clock is driven (report_next_ns), never slept on.
 */
#include <stdio.h>

#include "itest.h"

/* itest.h helpers this file does not need */
static void unused_helpers(void) __attribute__((unused));
static void
unused_helpers(void)
{
	(void) count_substr;
	(void) terminate_and_wait;
}

static govpool_context alice = {"alice", "acme", "req-1"};

static govpool *
report_pool(const char *app, int interval_ms)
{
	govpool_config cfg;

	itest_config(&cfg, app);
	cfg.extensions[0] = '\0';	/* main() installs the extension */
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

/* Open n connections in pool p (n concurrent sessions); their pids in pids. */
static void
hold_sessions(govpool *p, int n, govpool_session **ss, int *pids)
{
	govpool_error err;

	for (int i = 0; i < n; i++)
	{
		PGresult   *r;

		ss[i] = govpool_begin(p, &alice, -1, &err);
		r = ss[i] ? govpool_exec(ss[i], "SELECT 1", 0, NULL, &err) : NULL;
		CHECK_MSG(r != NULL, "%s", err.message);
		PQclear(r);
		pids[i] = session_pid(ss[i]);
	}
}

static void
test_server_side_is_exactly_the_pools_own_connections(void)
{
	/* two pools with the same role, address and application_name */
	govpool    *a = report_pool("gp_report_same", 3600 * 1000);
	govpool    *b = report_pool("gp_report_same", 3600 * 1000);
	govpool_session *ss[2];
	int			pids[2];
	char		q[512];
	govpool_error err;

	hold_sessions(b, 2, ss, pids);
	for (int i = 0; i < 2; i++)
		CHECK(govpool_commit(ss[i], &err) == GOVPOOL_OK);
	CHECK(run_ok(a));
	__atomic_store_n(&b->report_next_ns, gp_now_ns() - 1, __ATOMIC_RELAXED);
	CHECK(run_ok(b));
	snprintf(q, sizeof(q),
			 "SELECT server_connections FROM governance.pool_stats WHERE pool_id = '%s'", a->pool_id);
	CHECK_MSG(sql_long(q) == 1, "pool a: %ld server connections, not the 3 of its app name", sql_long(q));
	snprintf(q, sizeof(q),
			 "SELECT count(*) FROM governance.pool_stats WHERE pool_id = '%s'"
			 " AND server_connections = 2 AND server_idle + server_active = 2"
			 " AND backend_pids @> ARRAY[%d, %d] AND cardinality(backend_pids) = 2"
			 " AND server_missing = 0 AND NOT behind_pooler", b->pool_id, pids[0], pids[1]);
	CHECK(sql_long(q) == 1);
	snprintf(q, sizeof(q),
			 "SELECT count(*) FROM governance.pool_alerts WHERE pool_id IN ('%s', '%s')",
			 a->pool_id, b->pool_id);
	CHECK_MSG(sql_long(q) == 0, "no alert for two healthy pools sharing an app name (%ld)", sql_long(q));
	govpool_destroy(a);
	govpool_destroy(b);
}

static void
test_destroy_says_goodbye(void)
{
	govpool    *p = report_pool("gp_report_bye", 3600 * 1000);
	char		id[sizeof(p->pool_id)];
	char		q[256];

	CHECK(run_ok(p));
	snprintf(id, sizeof(id), "%s", p->pool_id);
	snprintf(q, sizeof(q), "SELECT count(*) FROM governance.pool_reports WHERE pool_id = '%s'", id);
	CHECK(sql_long(q) == 1);
	govpool_destroy(p);
	CHECK_MSG(sql_long(q) == 0, "the destroyed pool's row is gone at once (%ld)", sql_long(q));
}

static void
test_a_pool_that_never_reported_sends_no_goodbye(void)
{
	govpool    *p = report_pool("gp_report_bye0", 0);
	govpool    *q = report_pool("gp_report_bye1", 3600 * 1000);
	logbuf		lb;

	logbuf_init(&lb);
	govpool_set_logger(p, logbuf_fn, &lb);
	govpool_set_logger(q, logbuf_fn, &lb);
	CHECK(run_ok(p));			/* reports off */
	govpool_destroy(p);
	govpool_destroy(q);			/* never ran a pipeline: never reported */
	CHECK_MSG(strstr(lb.text, "stats_goodbye") == NULL, "%s", lb.text);
}

static void
test_a_dead_connection_the_pool_holds_is_a_mismatch(void)
{
	govpool    *p = report_pool("gp_report_dead", 3600 * 1000);
	govpool_session *ss[2];
	int			pids[2];
	char		q[512];
	govpool_error err;

	hold_sessions(p, 2, ss, pids);
	/* give back the second first: the first is on top of the idle stack */
	CHECK(govpool_commit(ss[1], &err) == GOVPOOL_OK);
	CHECK(govpool_commit(ss[0], &err) == GOVPOOL_OK);
	CHECK(terminate_and_wait(pids[1]));
	snprintf(q, sizeof(q),
			 "SELECT count(*) FROM governance.pool_alerts WHERE pool_id = '%s'"
			 " AND metric = 'server_connection_mismatch' AND value = 1", p->pool_id);
	/* the first report after the death: missing once, maybe a close in flight */
	__atomic_store_n(&p->report_next_ns, gp_now_ns() - 1, __ATOMIC_RELAXED);
	CHECK(run_ok(p));
	CHECK_MSG(sql_long(q) == 0, "no alert after one report (%ld)", sql_long(q));
	/* claimed again: the pool holds a connection the server does not have */
	__atomic_store_n(&p->report_next_ns, gp_now_ns() - 1, __ATOMIC_RELAXED);
	CHECK(run_ok(p));
	CHECK_MSG(sql_long(q) == 1, "mismatch alert after the second report (%ld)", sql_long(q));
	snprintf(q, sizeof(q),
			 "SELECT server_connections FROM governance.pool_stats WHERE pool_id = '%s'", p->pool_id);
	CHECK(sql_long(q) == 1);
	govpool_destroy(p);
}

static void
test_an_older_server_gets_the_old_report(void)
{
	govpool_config cfg;
	govpool    *p;
	PQconninfoOption *opts;
	char	   *errmsg = NULL;
	size_t		n = 0;
	PGconn	   *old;
	PGresult   *r;
	char		id[sizeof(p->pool_id)];

	if (itest_skip_in_sql_edition("it creates the C extension at version 0.5 (the old report's server)"))
		return;
	sql("DROP DATABASE IF EXISTS gp_report_05");
	sql("CREATE DATABASE gp_report_05");
	itest_config(&cfg, "gp_report_05");
	opts = PQconninfoParse(cfg.conninfo, &errmsg);
	CHECK(opts != NULL);
	cfg.conninfo[0] = '\0';
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val && strcmp(o->keyword, "dbname") != 0)
			n += (size_t) snprintf(cfg.conninfo + n, sizeof(cfg.conninfo) - n, "%s='%s' ",
								   o->keyword, o->val);
	snprintf(cfg.conninfo + n, sizeof(cfg.conninfo) - n, "dbname=gp_report_05");
	PQconninfoFree(opts);
	old = PQconnectdb(cfg.conninfo);
	CHECK(PQstatus(old) == CONNECTION_OK);
	PQclear(PQexec(old, "CREATE EXTENSION pg_governance VERSION '0.5'"));
	cfg.extensions[0] = '\0';
	cfg.report_interval_ms = 3600 * 1000;
	p = itest_pool(&cfg);
	CHECK(run_ok(p));			/* refused: unknown key; the next one is old-style */
	CHECK(GP_LOAD(p->reports_failed) == 1 && __atomic_load_n(&p->report_legacy, __ATOMIC_RELAXED));
	CHECK(run_ok(p));
	CHECK(GP_LOAD(p->reports_sent) == 1);
	snprintf(id, sizeof(id), "%s", p->pool_id);
	govpool_destroy(p);			/* no goodbye a 0.5 server would refuse */
	{
		char		q[256];

		snprintf(q, sizeof(q), "SELECT count(*) FROM governance.pool_stats WHERE pool_id = '%s'"
				 " AND acquires_total = 2", id);
		r = PQexec(old, q);
		CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "1") == 0);
		PQclear(r);
	}
	PQfinish(old);
	sql("DROP DATABASE gp_report_05 WITH (FORCE)");
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
	if (itest_sql_edition())
		itest_governance();
	else if (sql_long("SELECT count(*) FROM pg_extension WHERE extname = 'pg_governance'") == 0)
		sql("CREATE EXTENSION pg_governance");
	else if (sql_long("SELECT count(*) FROM pg_extension WHERE extname = 'pg_governance'"
					  " AND string_to_array(extversion, '.')::int[] < '{0,6}'") == 1)
		sql("ALTER EXTENSION pg_governance UPDATE");
	RUN(test_first_pipeline_reports_then_once_per_interval);
	RUN(test_a_session_carries_the_report_too);
	RUN(test_interval_zero_never_reports);
	RUN(test_refused_report_does_not_fail_the_transaction);
	RUN(test_idle_in_transaction_raises_an_alert);
	RUN(test_server_side_is_exactly_the_pools_own_connections);
	RUN(test_destroy_says_goodbye);
	RUN(test_a_pool_that_never_reported_sends_no_goodbye);
	RUN(test_a_dead_connection_the_pool_holds_is_a_mismatch);
	RUN(test_an_older_server_gets_the_old_report);
	RUN(test_env_sets_the_interval);
	PQfinish(admin);
	return tap_done();
}
