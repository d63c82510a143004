/*
 * itest.h
 *	  Helpers of the integration tests: a pool config for the server that
 *	  DATABASE_URL (or PG*) points at, an admin connection, small SQL
 *	  helpers, and a log collector.
 */
#ifndef ITEST_H
#define ITEST_H

#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "govpool_int.h"
#include "tap.h"

static PGconn *admin;

static void
itest_config(govpool_config *cfg, const char *appname)
{
	const char *url = getenv("DATABASE_URL");

	govpool_config_defaults(cfg);
	snprintf(cfg->conninfo, sizeof(cfg->conninfo), "%s", url ? url : "");
	snprintf(cfg->application_name, sizeof(cfg->application_name), "%s", appname);
	snprintf(cfg->extensions, sizeof(cfg->extensions), "pg_governance");
	cfg->pool_timeout_ms = 10000;
	cfg->leak_threshold_ms = 0;
	cfg->connect_backoff_ms = 1;
}

static govpool *
itest_pool(const govpool_config *cfg)
{
	govpool_error err;
	govpool    *pool = govpool_create(cfg, &err);

	if (pool == NULL || err.kind != GOVPOOL_OK)
	{
		fprintf(stderr, "govpool_create failed: %s\n", err.message);
		exit(1);
	}
	return pool;
}

static void
quiet(void *arg, const char *message)
{
	(void) arg;
	(void) message;
}

static void
itest_connect_admin(void)
{
	const char *url = getenv("DATABASE_URL");

	admin = PQconnectdb(url ? url : "");
	if (PQstatus(admin) != CONNECTION_OK)
	{
		fprintf(stderr, "integration tests need a server (DATABASE_URL or PG*): %s"
				"run them as: scripts/with-cluster -- make -C client check\n",
				PQerrorMessage(admin));
		printf("0 passed, 1 failed\n");
		exit(1);
	}
	PQsetNoticeProcessor(admin, quiet, NULL);
}

static void
sql(const char *q)
{
	PGresult   *r = PQexec(admin, q);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "setup SQL failed: %s: %s", q, PQerrorMessage(admin));
		exit(1);
	}
	PQclear(r);
}

/* First column of the first row as an integer (admin connection). */
static long
sql_long(const char *q)
{
	PGresult   *r = PQexec(admin, q);
	long		v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = atol(PQgetvalue(r, 0, 0));
	else if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "query failed: %s: %s", q, PQerrorMessage(admin));
	PQclear(r);
	return v;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/*
 * Terminate a backend and wait until it is gone from pg_stat_activity.  By
 * then its FATAL message has been written to the client socket (the
 * backend reports the error before it leaves the activity view).
 */
static bool
terminate_and_wait(int pid)
{
	char		q[200];

	snprintf(q, sizeof(q), "SELECT pg_terminate_backend(%d)::int", pid);
	if (sql_long(q) != 1)
		return false;
	snprintf(q, sizeof(q), "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
	for (int i = 0; i < 10000; i++)
	{
		if (sql_long(q) == 0)
			return true;
		sleep_ms(1);
	}
	return false;
}

/* ---- log collector ---- */
typedef struct logbuf
{
	pthread_mutex_t mu;
	pthread_cond_t cond;
	char		text[16384];
	int			lines;
} logbuf;

static void
logbuf_fn(govpool_log_level level, const char *line, void *ud)
{
	logbuf	   *lb = ud;

	(void) level;
	pthread_mutex_lock(&lb->mu);
	if (strlen(lb->text) + strlen(line) + 2 < sizeof(lb->text))
	{
		strcat(lb->text, line);
		strcat(lb->text, "\n");
	}
	lb->lines++;
	pthread_cond_broadcast(&lb->cond);
	pthread_mutex_unlock(&lb->mu);
}

static void
logbuf_init(logbuf *lb)
{
	pthread_mutex_init(&lb->mu, NULL);
	pthread_cond_init(&lb->cond, NULL);
	lb->text[0] = '\0';
	lb->lines = 0;
}

static int
count_substr(const char *hay, const char *needle)
{
	int			n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/*
 * A pool of one connection (no overflow, no reports) with these settings;
 * statement_cache < 0 keeps the default.  lb (if not NULL) gets its log.
 */
static inline govpool *
itest_one_conn_pool(const char *app, int statement_cache, govpool_prepare prepare,
					govpool_pooler pooler, govpool_reset reset, logbuf *lb)
{
	govpool_config cfg;
	govpool    *p;

	itest_config(&cfg, app);
	cfg.pool_size = 1;
	cfg.max_overflow = 0;
	cfg.report_interval_ms = 0;
	if (statement_cache >= 0)
		cfg.statement_cache = statement_cache;
	cfg.prepare_context = prepare;
	cfg.pooler = pooler;
	cfg.reset_on_return = reset;
	p = itest_pool(&cfg);
	if (lb)
	{
		logbuf_init(lb);
		govpool_set_logger(p, logbuf_fn, lb);
	}
	return p;
}

/* The only connection of a one-connection pool (idle between calls). */
static inline PGconn *
itest_the_conn(govpool *p, const govpool_context *ctx)
{
	govpool_error err;
	govpool_session *s = govpool_begin(p, ctx, -1, &err);
	PGconn	   *c = s ? govpool_conn(s) : NULL;

	if (s)
		govpool_commit(s, &err);
	return c;
}

/* Backend pid of the connection a session runs on. */
static int
session_pid(govpool_session *s)
{
	PGconn	   *c = govpool_conn(s);

	return c ? PQbackendPID(c) : -1;
}

#endif
