/*
 * itest.h
 *	  Helpers of the integration tests: a pool config for the server that
 *	  DATABASE_URL (or PG*) points at, an admin connection, small SQL
 *	  helpers, the edition of pg_governance under test, and a log collector.
 *
 *	  GOVPOOL_TEST_EDITION says which edition the tests run against: "c"
 *	  (the default) creates the C extension (CREATE EXTENSION, also by the
 *	  pool through cfg.extensions); "sql" uses the SQL edition already
 *	  installed in the database (docs/sql-edition.md; scripts/run-sql-edition.sh
 *	  installs it), creates nothing, and fails if it is not there.  A test
 *	  of a feature the edition does not have (governance.capabilities())
 *	  is skipped with the reason, never passed.
 */
#ifndef ITEST_H
#define ITEST_H

#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "govpool_int.h"
#include "tap.h"

static PGconn *admin;

/* GOVPOOL_TEST_EDITION is "sql": the SQL edition is under test. */
static inline bool
itest_sql_edition(void)
{
	const char *e = getenv("GOVPOOL_TEST_EDITION");

	return e != NULL && strcmp(e, "sql") == 0;
}

static void
itest_config(govpool_config *cfg, const char *appname)
{
	const char *url = getenv("DATABASE_URL");

	govpool_config_defaults(cfg);
	snprintf(cfg->conninfo, sizeof(cfg->conninfo), "%s", url ? url : "");
	snprintf(cfg->application_name, sizeof(cfg->application_name), "%s", appname);
	/*
	 * The SQL edition is installed by psql -f, not CREATE EXTENSION: the
	 * pool creates plpgsql instead (there already: the SQL edition needs
	 * it), so that it opens its first connection at start as with the C
	 * edition and the tests count connections the same way.
	 */
	snprintf(cfg->extensions, sizeof(cfg->extensions), "%s", itest_sql_edition() ? "plpgsql" : "pg_governance");
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

/*
 * Make pg_governance ready in the admin connection's database: the C
 * extension is created (or kept); the SQL edition must already be there.
 * An unknown GOVPOOL_TEST_EDITION, or "sql" without an installed SQL
 * edition, fails the binary: the tests never run against nothing.
 */
static inline void
itest_governance(void)
{
	const char *e = getenv("GOVPOOL_TEST_EDITION");
	PGresult   *r;

	if (e != NULL && *e != '\0' && strcmp(e, "c") != 0 && strcmp(e, "sql") != 0)
	{
		fprintf(stderr, "GOVPOOL_TEST_EDITION=%s: expected c or sql\n", e);
		printf("0 passed, 1 failed\n");
		exit(1);
	}
	if (!itest_sql_edition())
	{
		sql("CREATE EXTENSION IF NOT EXISTS pg_governance");
		return;
	}
	r = PQexec(admin, "SELECT e.edition || ' ' || e.version FROM governance.edition() e "
			   "WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_governance')");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
		strncmp(PQgetvalue(r, 0, 0), "sql ", 4) != 0)
	{
		fprintf(stderr, "GOVPOOL_TEST_EDITION=sql, but this database has no SQL edition of pg_governance "
				"(install it with psql -f, see docs/sql-edition.md): %s",
				PQresultStatus(r) == PGRES_TUPLES_OK ? "governance.edition() is not 'sql'\n" : PQerrorMessage(admin));
		printf("0 passed, 1 failed\n");
		exit(1);
	}
	PQclear(r);
}

/*
 * Skip the calling test (it returns when this says true) unless the
 * installed edition has FEATURE active (a row of governance.capabilities()),
 * with capabilities()' own reason.
 */
static inline bool
itest_skip_unless(const char *feature)
{
	const char *params[1] = {feature};
	PGresult   *r = PQexecParams(admin, "SELECT active, detail FROM governance.capabilities() WHERE feature = $1",
								 1, NULL, params, NULL, NULL, 0);
	bool		skip = true;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		SKIP("%s: not a feature governance.capabilities() knows", feature);
	else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		SKIP("%s is not active here (governance.capabilities(): %s)", feature, PQgetvalue(r, 0, 1));
	else
		skip = false;
	PQclear(r);
	return skip;
}

/* Skip the calling test in the SQL edition, saying why (a C-edition-only behaviour). */
static inline bool
itest_skip_in_sql_edition(const char *why)
{
	if (!itest_sql_edition())
		return false;
	SKIP("SQL edition: %s", why);
	return true;
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
