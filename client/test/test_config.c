/*
 * test_config.c
 *	  Unit tests (no server) of govpool_config_from_getenv: every variable,
 *	  every DATABASE_URL form, every kind of bad value, as one table.
 *
 * A case is a set of NAME=VALUE variables plus either substrings expected
 * in a dump of the resulting config ("|pool_size=5|"), or a substring of
 * the expected error.  Every error is also checked for not containing a
 * password ("s3cret" is the password in every case that has one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "govpool.h"
#include "tap.h"

/* the table leaves trailing fields out on purpose */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define MAXV 8

typedef struct config_case
{
	const char *name;
	const char *env[MAXV];		/* "NAME=VALUE" */
	const char *expect[MAXV];	/* substrings of dump(), or NULL */
	const char *error;			/* substring of the error, or NULL */
} config_case;

static const char *
case_getenv(const char *name, void *ud)
{
	const config_case *c = ud;
	size_t		n = strlen(name);

	for (int i = 0; i < MAXV && c->env[i]; i++)
		if (strncmp(c->env[i], name, n) == 0 && c->env[i][n] == '=')
			return c->env[i] + n + 1;
	return NULL;
}

static void
dump(const govpool_config *c, char *buf, size_t len)
{
	snprintf(buf, len,
			 "|pool_size=%d|max_overflow=%d|pool_timeout_ms=%d|pool_recycle_ms=%d"
			 "|connect_timeout_ms=%d|statement_timeout_ms=%d|echo=%d|reset=%d"
			 "|environment=%s|application_name=%s|extensions=%s|conninfo=%s"
			 "|leak_threshold_ms=%d|preping_idle_ms=%d|liveness_idle_ms=%d|connect_attempts=%d"
			 "|breaker_threshold=%d|breaker_cooldown_ms=%d|backoff=%d/%d|",
			 c->pool_size, c->max_overflow, c->pool_timeout_ms, c->pool_recycle_ms,
			 c->connect_timeout_ms, c->statement_timeout_ms, c->echo, (int) c->reset_on_return,
			 c->environment, c->application_name, c->extensions, c->conninfo,
			 c->leak_threshold_ms, c->preping_idle_ms, c->liveness_idle_ms, c->connect_attempts,
			 c->breaker_threshold, c->breaker_cooldown_ms, c->connect_backoff_ms,
			 c->connect_backoff_max_ms);
}

static const config_case cases[] = {
	/* ---- defaults and ENVIRONMENT profiles ---- */
	{"defaults are the local profile", {NULL},
		{"|environment=local|", "|pool_size=5|", "|max_overflow=10|", "|echo=1|",
			"|pool_timeout_ms=30000|", "|pool_recycle_ms=3600000|", "|connect_timeout_ms=10000|",
		"|statement_timeout_ms=0|"}},
	{"ENVIRONMENT=local", {"ENVIRONMENT=local"}, {"|pool_size=5|", "|max_overflow=10|", "|echo=1|"}},
	{"ENVIRONMENT=demo", {"ENVIRONMENT=demo"}, {"|pool_size=1|", "|max_overflow=10|", "|echo=0|"}},
	{"ENVIRONMENT=uat", {"ENVIRONMENT=uat"}, {"|pool_size=1|", "|max_overflow=15|", "|echo=0|"}},
	{"ENVIRONMENT=prod", {"ENVIRONMENT=prod"},
	{"|pool_size=5|", "|max_overflow=20|", "|echo=0|", "|statement_timeout_ms=60000|", "|pool_timeout_ms=30000|"}},
	{"ENVIRONMENT is case-insensitive", {"ENVIRONMENT=PROD"}, {"|environment=prod|", "|max_overflow=20|"}},
	{"unknown ENVIRONMENT", {"ENVIRONMENT=staging"}, {NULL}, "ENVIRONMENT=\"staging\": unknown profile"},
	{"empty variable counts as unset", {"DATABASE_POOL_SIZE=", "ENVIRONMENT="}, {"|pool_size=5|"}},

	/* ---- overrides, both names of aliased settings ---- */
	{"DATABASE_POOL_SIZE overrides the profile", {"ENVIRONMENT=prod", "DATABASE_POOL_SIZE=7"}, {"|pool_size=7|"}},
	{"DB_POOL_SIZE alias", {"DB_POOL_SIZE=8"}, {"|pool_size=8|"}},
	{"both pool size names agreeing", {"DATABASE_POOL_SIZE=3", "DB_POOL_SIZE=3"}, {"|pool_size=3|"}},
	{"both pool size names disagreeing", {"DATABASE_POOL_SIZE=3", "DB_POOL_SIZE=4"}, {NULL},
	"DATABASE_POOL_SIZE=\"3\" and DB_POOL_SIZE=\"4\" disagree"},
	{"DATABASE_MAX_OVERFLOW", {"DATABASE_MAX_OVERFLOW=0"}, {"|max_overflow=0|"}},
	{"DB_MAX_OVERFLOW alias", {"DB_MAX_OVERFLOW=12"}, {"|max_overflow=12|"}},
	{"DATABASE_POOL_TIMEOUT in seconds", {"DATABASE_POOL_TIMEOUT=5"}, {"|pool_timeout_ms=5000|"}},
	{"DATABASE_POOL_TIMEOUT with decimals", {"DATABASE_POOL_TIMEOUT=2.5"}, {"|pool_timeout_ms=2500|"}},
	{"DATABASE_POOL_TIMEOUT=0 fails fast", {"DATABASE_POOL_TIMEOUT=0"}, {"|pool_timeout_ms=0|"}},
	{"DATABASE_POOL_RECYCLE", {"DATABASE_POOL_RECYCLE=600"}, {"|pool_recycle_ms=600000|"}},
	{"DATABASE_POOL_RECYCLE=-1 is never", {"DATABASE_POOL_RECYCLE=-1"}, {"|pool_recycle_ms=0|"}},
	{"DATABASE_CONNECT_TIMEOUT", {"DATABASE_CONNECT_TIMEOUT=3"}, {"|connect_timeout_ms=3000|"}},
	{"DATABASE_STATEMENT_TIMEOUT_MS", {"DATABASE_STATEMENT_TIMEOUT_MS=1500"}, {"|statement_timeout_ms=1500|"}},
	{"DATABASE_ECHO=false", {"DATABASE_ECHO=false"}, {"|echo=0|"}},
	{"DB_ECHO_SQL=yes alias", {"ENVIRONMENT=prod", "DB_ECHO_SQL=yes"}, {"|echo=1|"}},
	{"DATABASE_ECHO=ON", {"ENVIRONMENT=demo", "DATABASE_ECHO=ON"}, {"|echo=1|"}},
	{"echo names disagreeing", {"DATABASE_ECHO=1", "DB_ECHO_SQL=0"}, {NULL}, "disagree"},
	{"GOVPOOL_RESET_ON_RETURN=discard", {"GOVPOOL_RESET_ON_RETURN=discard"}, {"|reset=3|"}},
	{"GOVPOOL_RESET_ON_RETURN=commit", {"GOVPOOL_RESET_ON_RETURN=commit"}, {"|reset=1|"}},
	{"GOVPOOL_RESET_ON_RETURN=none", {"GOVPOOL_RESET_ON_RETURN=none"}, {"|reset=2|"}},
	{"resilience knobs",
		{"GOVPOOL_LEAK_THRESHOLD_MS=250", "GOVPOOL_PREPING_IDLE_MS=-1", "GOVPOOL_LIVENESS_IDLE_MS=0",
			"GOVPOOL_CONNECT_ATTEMPTS=5", "GOVPOOL_BREAKER_THRESHOLD=2", "GOVPOOL_BREAKER_COOLDOWN_MS=700",
		"GOVPOOL_CONNECT_BACKOFF_MS=10", "GOVPOOL_CONNECT_BACKOFF_MAX_MS=90"},
		{"|leak_threshold_ms=250|", "|preping_idle_ms=-1|", "|liveness_idle_ms=0|", "|connect_attempts=5|",
	"|breaker_threshold=2|", "|breaker_cooldown_ms=700|", "|backoff=10/90|"}},

	/* ---- bad values: each names the variable and the problem ---- */
	{"pool size not a number", {"DATABASE_POOL_SIZE=abc"}, {NULL}, "DATABASE_POOL_SIZE=\"abc\": not an integer"},
	{"pool size trailing junk", {"DATABASE_POOL_SIZE=5x"}, {NULL}, "DATABASE_POOL_SIZE=\"5x\": not an integer"},
	{"pool size negative", {"DB_POOL_SIZE=-1"}, {NULL}, "DB_POOL_SIZE=\"-1\": must be between 0 and 10000"},
	{"pool size too large", {"DATABASE_POOL_SIZE=99999"}, {NULL}, "must be between 0 and 10000"},
	{"overflow not a number", {"DB_MAX_OVERFLOW=ten"}, {NULL}, "DB_MAX_OVERFLOW=\"ten\": not an integer"},
	{"no connection allowed at all", {"DATABASE_POOL_SIZE=0", "DATABASE_MAX_OVERFLOW=0"}, {NULL},
	"allows no connection"},
	{"timeout not a number", {"DATABASE_POOL_TIMEOUT=soon"}, {NULL},
	"DATABASE_POOL_TIMEOUT=\"soon\": not a non-negative number of seconds"},
	{"timeout negative", {"DATABASE_POOL_TIMEOUT=-3"}, {NULL}, "DATABASE_POOL_TIMEOUT=\"-3\""},
	{"timeout too precise", {"DATABASE_POOL_TIMEOUT=1.2345"}, {NULL}, "at most millisecond precision"},
	{"timeout too large", {"DATABASE_POOL_TIMEOUT=100000"}, {NULL}, "must be at most 86400 seconds"},
	{"recycle bad", {"DATABASE_POOL_RECYCLE=1h"}, {NULL}, "DATABASE_POOL_RECYCLE=\"1h\""},
	{"connect timeout bad", {"DATABASE_CONNECT_TIMEOUT=x"}, {NULL}, "DATABASE_CONNECT_TIMEOUT=\"x\""},
	{"statement timeout negative", {"DATABASE_STATEMENT_TIMEOUT_MS=-5"}, {NULL},
	"DATABASE_STATEMENT_TIMEOUT_MS=\"-5\": must be between 0"},
	{"echo not a boolean", {"DATABASE_ECHO=maybe"}, {NULL}, "DATABASE_ECHO=\"maybe\": not a boolean"},
	{"echo alias not a boolean", {"DB_ECHO_SQL=2"}, {NULL}, "DB_ECHO_SQL=\"2\": not a boolean"},
	{"reset mode unknown", {"GOVPOOL_RESET_ON_RETURN=flush"}, {NULL}, "GOVPOOL_RESET_ON_RETURN=\"flush\""},
	{"connect attempts zero", {"GOVPOOL_CONNECT_ATTEMPTS=0"}, {NULL}, "GOVPOOL_CONNECT_ATTEMPTS=\"0\": must be between 1"},
	{"log level unknown", {"GOVPOOL_LOG_LEVEL=loud"}, {NULL}, "GOVPOOL_LOG_LEVEL=\"loud\""},

	/* ---- DATABASE_URL forms ---- */
	{"postgresql:// URL", {"DATABASE_URL=postgresql://app:s3cret@db.example:5433/appdb"},
	{"|conninfo=host='db.example' port='5433' user='app' password='s3cret' dbname='appdb'|"}},
	{"postgres:// URL", {"DATABASE_URL=postgres://app@db/appdb"},
	{"|conninfo=host='db' user='app' dbname='appdb'|"}},
	{"postgresql+asyncpg:// URL", {"DATABASE_URL=postgresql+asyncpg://app:s3cret@db:5432/appdb"},
	{"|conninfo=host='db' port='5432' user='app' password='s3cret' dbname='appdb'|"}},
	{"postgresql+psycopg2:// URL with sslmode", {"DATABASE_URL=postgresql+psycopg2://app:s3cret@db/appdb?sslmode=require"},
	{"host='db' user='app' password='s3cret' dbname='appdb' sslmode='require'|"}},
	{"asyncpg ssl=true becomes sslmode=require", {"DATABASE_URL=postgresql+asyncpg://app@db/appdb?ssl=true"},
	{"dbname='appdb' sslmode='require'|"}},
	{"percent-encoded password and user", {"DATABASE_URL=postgresql://a%40b:p%40ss%3Aw%2F@db/x"},
	{"user='a@b' password='p@ss:w/' dbname='x'"}},
	{"quote in password is escaped", {"DATABASE_URL=postgresql://app:it's@db/x"},
	{"password='it\\'s'"}},
	{"unix_sock= query parameter (Cloud SQL)",
		{"DATABASE_URL=postgresql+asyncpg://app:s3cret@/appdb?unix_sock=/cloudsql/proj:europe-west1:inst/.s.PGSQL.5432"},
	{"|conninfo=host='/cloudsql/proj:europe-west1:inst' port='5432' user='app' password='s3cret' dbname='appdb'|"}},
	{"unix_sock= directory only", {"DATABASE_URL=postgresql://app@/appdb?unix_sock=/var/run/postgresql"},
	{"|conninfo=host='/var/run/postgresql' user='app' dbname='appdb'|"}},
	{"host=/cloudsql/... query parameter", {"DATABASE_URL=postgresql+psycopg2://app:s3cret@/appdb?host=/cloudsql/proj:us-central1:inst"},
	{"|conninfo=host='/cloudsql/proj:us-central1:inst' user='app' password='s3cret' dbname='appdb'|"}},
	{"percent-encoded socket directory as host", {"DATABASE_URL=postgresql://%2Fvar%2Frun%2Fpostgresql/appdb"},
	{"|conninfo=host='/var/run/postgresql' dbname='appdb'|"}},
	{"IPv6 host", {"DATABASE_URL=postgresql://app@[::1]:5433/appdb"}, {"host='::1' port='5433'"}},
	{"several hosts", {"DATABASE_URL=postgresql://h1:5432,h2:5433/appdb?target_session_attrs=read-write"},
	{"host='h1,h2' port='5432,5433' dbname='appdb' target_session_attrs='read-write'"}},
	{"no host, no database", {"DATABASE_URL=postgresql://"}, {"|conninfo=|"}},
	{"application_name in the URL is the base name", {"DATABASE_URL=postgresql://db/x?application_name=billing"},
	{"|application_name=billing|", "|conninfo=host='db' dbname='x'|"}},
	{"DATABASE_URL wins over Cloud SQL variables",
		{"DATABASE_URL=postgresql://db/x", "CLOUD_SQL_CONNECTION_NAME=p:r:i", "DB_USER=u"},
	{"|conninfo=host='db' dbname='x'|"}},

	/* ---- bad URLs: the message names the piece, never the password ---- */
	{"unsupported scheme", {"DATABASE_URL=mysql://app:s3cret@db/x"}, {NULL}, "unsupported scheme \"mysql\""},
	{"not a URL", {"DATABASE_URL=host=db password=s3cret"}, {NULL}, "DATABASE_URL: not a URL"},
	{"port not a number", {"DATABASE_URL=postgresql://app:s3cret@db:abc/x"}, {NULL}, "invalid port \"abc\""},
	{"port out of range", {"DATABASE_URL=postgresql://app:s3cret@db:70000/x"}, {NULL}, "invalid port \"70000\""},
	{"unknown query parameter", {"DATABASE_URL=postgresql://app:s3cret@db/x?pool=5"}, {NULL},
	"unknown query parameter \"pool\""},
	{"query parameter without value", {"DATABASE_URL=postgresql://app:s3cret@db/x?sslmode"}, {NULL},
	"query parameter \"sslmode\" has no value"},
	{"bad percent-encoding in password", {"DATABASE_URL=postgresql://app:s3cret%zz@db/x"}, {NULL},
	"bad percent-encoding in the password"},
	{"unterminated IPv6", {"DATABASE_URL=postgresql://app:s3cret@[::1/x"}, {NULL}, "unterminated [IPv6] host"},
	{"relative unix_sock", {"DATABASE_URL=postgresql://app:s3cret@/x?unix_sock=cloudsql/x"}, {NULL},
	"unix_sock must be an absolute path"},
	{"bad ssl mode", {"DATABASE_URL=postgresql+asyncpg://app:s3cret@db/x?ssl=maybe"}, {NULL},
	"ssl=\"maybe\" is not an SSL mode"},

	/* ---- Cloud SQL, DB_* ---- */
	{"Cloud SQL instance -> /cloudsql socket",
		{"CLOUD_SQL_CONNECTION_NAME=proj:europe-west1:inst", "DB_USER=app", "DB_PASS=s3cret", "DB_NAME=appdb"},
	{"|conninfo=host='/cloudsql/proj:europe-west1:inst' user='app' password='s3cret' dbname='appdb'|"}},
	{"INSTANCE_CONNECTION_NAME alias", {"INSTANCE_CONNECTION_NAME=example.com:proj:us-east1:inst", "DB_USER=app"},
	{"|conninfo=host='/cloudsql/example.com:proj:us-east1:inst' user='app'|"}},
	{"bad instance name", {"CLOUD_SQL_CONNECTION_NAME=proj/inst", "DB_PASS=s3cret"}, {NULL},
	"CLOUD_SQL_CONNECTION_NAME=\"proj/inst\": expected PROJECT:REGION:INSTANCE"},
	{"instance name with an empty part", {"INSTANCE_CONNECTION_NAME=proj::inst"}, {NULL},
	"INSTANCE_CONNECTION_NAME=\"proj::inst\""},
	{"instance names disagreeing", {"CLOUD_SQL_CONNECTION_NAME=a:b:c", "INSTANCE_CONNECTION_NAME=a:b:d"}, {NULL},
	"disagree"},
	{"DB_* without Cloud SQL", {"DB_USER=app", "DB_NAME=appdb"}, {"|conninfo=user='app' dbname='appdb'|"}},
	{"nothing set: libpq PG* variables apply", {"PGHOST=/tmp"}, {"|conninfo=|"}},

	/* ---- serverless, worker id, extensions ---- */
	{"K_SERVICE -> serverless", {"K_SERVICE=api", "ENVIRONMENT=prod"}, {"|pool_size=0|", "|max_overflow=20|",
	"|application_name=api|"}},
	{"explicit pool size beats K_SERVICE", {"K_SERVICE=api", "DATABASE_POOL_SIZE=2"}, {"|pool_size=2|"}},
	{"GOVPOOL_APPLICATION_NAME", {"GOVPOOL_APPLICATION_NAME=billing", "PGAPPNAME=other"}, {"|application_name=billing|"}},
	{"PGAPPNAME as the base", {"PGAPPNAME=other"}, {"|application_name=other|"}},
	{"GOVPOOL_EXTENSIONS list", {"GOVPOOL_EXTENSIONS=pg_governance, uuid-ossp"},
	{"|extensions=pg_governance,uuid-ossp|"}},
	{"GOVPOOL_EXTENSIONS empty name", {"GOVPOOL_EXTENSIONS=pg_governance,,x"}, {NULL}, "empty extension name"},
	{"GOVPOOL_EXTENSIONS trailing comma", {"GOVPOOL_EXTENSIONS=pg_governance,"}, {NULL}, "empty extension name"},
	{"GOVPOOL_EXTENSIONS quote", {"GOVPOOL_EXTENSIONS=a\"b"}, {NULL}, "contains a control character or '\"'"},
	{"GOVPOOL_EXTENSIONS too long a name",
		{"GOVPOOL_EXTENSIONS=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, {NULL},
	"longer than 63 bytes"},
	{"GOVPOOL_WORKER_ID bad", {"GOVPOOL_WORKER_ID=a b"}, {NULL},
	"GOVPOOL_WORKER_ID=\"a b\": expected 1-32 characters"},
};

/* the worker id case needs the pid: checked apart */
static void
test_worker_id_application_name(void)
{
	config_case c = {"worker", {"GOVPOOL_APPLICATION_NAME=api", "GOVPOOL_WORKER_ID=w-3"}, {NULL}, NULL};
	govpool_config cfg;
	govpool_error err;
	char		want[64];

	CHECK(govpool_config_from_getenv(&cfg, case_getenv, &c, &err) == GOVPOOL_OK);
	snprintf(want, sizeof(want), "api_w-3_%ld", (long) getpid());
	CHECK_MSG(strcmp(cfg.application_name, want) == 0, "got %s want %s", cfg.application_name, want);

	/* a long base is shortened so that worker and pid survive (NAMEDATALEN) */
	{
		config_case c2 = {"long", {"GOVPOOL_APPLICATION_NAME=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"GOVPOOL_WORKER_ID=w9"}, {NULL}, NULL};

		CHECK(govpool_config_from_getenv(&cfg, case_getenv, &c2, &err) == GOVPOOL_OK);
		snprintf(want, sizeof(want), "_w9_%ld", (long) getpid());
		CHECK(strlen(cfg.application_name) <= 63);
		CHECK_MSG(strstr(cfg.application_name, want) != NULL, "got %s", cfg.application_name);
	}
}

static void
test_config_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		const config_case *c = &cases[i];
		govpool_config cfg;
		govpool_error err;
		govpool_status st = govpool_config_from_getenv(&cfg, case_getenv, (void *) c, &err);
		char		d[4096];

		if (c->error)
		{
			CHECK_MSG(st == GOVPOOL_ERR_CONFIG && err.kind == GOVPOOL_ERR_CONFIG,
					  "[%s] expected an error, got status %d", c->name, st);
			CHECK_MSG(strstr(err.message, c->error) != NULL,
					  "[%s] message \"%s\" lacks \"%s\"", c->name, err.message, c->error);
			CHECK_MSG(strstr(err.message, "s3cret") == NULL,
					  "[%s] message leaks the password: %s", c->name, err.message);
			continue;
		}
		CHECK_MSG(st == GOVPOOL_OK, "[%s] unexpected error: %s", c->name, err.message);
		dump(&cfg, d, sizeof(d));
		for (int j = 0; j < MAXV && c->expect[j]; j++)
			CHECK_MSG(strstr(d, c->expect[j]) != NULL, "[%s] expected %s in %s", c->name, c->expect[j], d);
	}
}

/* Every URL form must also be accepted by libpq as we wrote it. */
static void
test_conninfo_parses_in_libpq(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		govpool_config cfg;
		govpool_error err;
		char	   *msg = NULL;
		PQconninfoOption *o;

		if (cases[i].error ||
			govpool_config_from_getenv(&cfg, case_getenv, (void *) &cases[i], &err) != GOVPOOL_OK)
			continue;
		o = PQconninfoParse(cfg.conninfo, &msg);
		CHECK_MSG(o != NULL, "[%s] libpq rejects %s: %s", cases[i].name, cfg.conninfo, msg ? msg : "");
		PQconninfoFree(o);
		PQfreemem(msg);
	}
}

static void
test_describe_hides_password(void)
{
	config_case c = {"d", {"DATABASE_URL=postgresql://app:s3cret@db:5433/appdb"}, {NULL}, NULL};
	govpool_config cfg;
	govpool_error err;
	char		buf[256];

	CHECK(govpool_config_from_getenv(&cfg, case_getenv, &c, &err) == GOVPOOL_OK);
	govpool_config_describe(&cfg, buf, sizeof(buf));
	CHECK_MSG(strstr(buf, "s3cret") == NULL, "%s", buf);
	CHECK_MSG(strstr(buf, "host=db") && strstr(buf, "port=5433") && strstr(buf, "user=app"), "%s", buf);
}

static void
test_from_env_reads_process_environment(void)
{
	govpool_config cfg;
	govpool_error err;

	setenv("DATABASE_POOL_SIZE", "4", 1);
	setenv("DB_POOL_SIZE", "4", 1);
	CHECK(govpool_config_from_env(&cfg, &err) == GOVPOOL_OK);
	CHECK(cfg.pool_size == 4);
	setenv("DB_POOL_SIZE", "5", 1);
	CHECK(govpool_config_from_env(&cfg, &err) == GOVPOOL_ERR_CONFIG);
	unsetenv("DATABASE_POOL_SIZE");
	unsetenv("DB_POOL_SIZE");
}

/* An invalid config makes govpool_create report, not crash or return NULL. */
static void
test_create_rejects_bad_config(void)
{
	govpool_config cfg;
	govpool_error err;
	govpool    *pool;

	govpool_config_defaults(&cfg);
	cfg.pool_size = -1;
	pool = govpool_create(&cfg, &err);
	CHECK(pool != NULL);
	CHECK(err.kind == GOVPOOL_ERR_CONFIG);
	CHECK_MSG(strstr(err.message, "pool_size") != NULL, "%s", err.message);
	{
		govpool_context ctx = {"a", NULL, NULL};
		govpool_error e2;

		CHECK(govpool_begin(pool, &ctx, 0, &e2) == NULL);
		CHECK(e2.kind == GOVPOOL_ERR_CLOSED);
	}
	govpool_destroy(pool);

	govpool_config_defaults(&cfg);
	snprintf(cfg.conninfo, sizeof(cfg.conninfo), "host=x password=s3cret bogus_option=1");
	pool = govpool_create(&cfg, &err);
	CHECK(pool != NULL && err.kind == GOVPOOL_ERR_CONFIG);
	CHECK_MSG(strstr(err.message, "s3cret") == NULL, "%s", err.message);
	govpool_destroy(pool);
}

int
main(void)
{
	RUN(test_config_table);
	RUN(test_conninfo_parses_in_libpq);
	RUN(test_worker_id_application_name);
	RUN(test_describe_hides_password);
	RUN(test_from_env_reads_process_environment);
	RUN(test_create_rejects_bad_config);
	return tap_done();
}
