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
#include "govpool_int.h"
#include "tap.h"

/* the table leaves trailing fields out on purpose */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define MAXV 12

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
			 "|breaker_threshold=%d|breaker_cooldown_ms=%d|backoff=%d/%d|pooler=%d|prepare=%d"
			 "|breaker_window_ms=%d|breaker_cooldown_min_ms=%d|statement_cache=%d"
			 "|overflow_idle_ms=%d|",
			 c->pool_size, c->max_overflow, c->pool_timeout_ms, c->pool_recycle_ms,
			 c->connect_timeout_ms, c->statement_timeout_ms, c->echo, (int) c->reset_on_return,
			 c->environment, c->application_name, c->extensions, c->conninfo,
			 c->leak_threshold_ms, c->preping_idle_ms, c->liveness_idle_ms, c->connect_attempts,
			 c->breaker_threshold, c->breaker_cooldown_ms, c->connect_backoff_ms,
			 c->connect_backoff_max_ms, (int) c->pooler, (int) c->prepare_context,
			 c->breaker_window_ms, c->breaker_cooldown_min_ms, c->statement_cache,
			 c->overflow_idle_ms);
}

static const config_case cases[] = {
	/* ---- defaults and ENVIRONMENT profiles ---- */
	{"defaults are the local profile", {NULL},
		{"|environment=local|", "|pool_size=5|", "|max_overflow=10|", "|echo=1|",
			"|pool_timeout_ms=30000|", "|pool_recycle_ms=3600000|", "|connect_timeout_ms=10000|",
		"|statement_timeout_ms=0|"}},
	{"breaker defaults: 5 failures over 3 s open it; cool-downs 500 ms doubling to 10 s", {NULL},
		{"|breaker_threshold=5|", "|breaker_window_ms=3000|", "|breaker_cooldown_min_ms=500|",
		"|breaker_cooldown_ms=10000|"}},
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
	{"no pooler, context prepared automatically by default", {NULL}, {"|pooler=0|", "|prepare=0|"}},
	{"GOVPOOL_POOLER=transaction", {"GOVPOOL_POOLER=Transaction"}, {"|pooler=2|", "|prepare=0|"}},
	{"GOVPOOL_POOLER=session", {"GOVPOOL_POOLER=session"}, {"|pooler=1|"}},
	{"GOVPOOL_PREPARE_CONTEXT=off", {"GOVPOOL_PREPARE_CONTEXT=off"}, {"|prepare=2|"}},
	{"GOVPOOL_PREPARE_CONTEXT=on", {"GOVPOOL_PREPARE_CONTEXT=on"}, {"|prepare=1|"}},
	{"statement cache: 100 statements by default", {NULL}, {"|statement_cache=100|"}},
	{"GOVPOOL_STATEMENT_CACHE=0 turns it off", {"GOVPOOL_STATEMENT_CACHE=0"}, {"|statement_cache=0|"}},
	{"GOVPOOL_STATEMENT_CACHE=500", {"GOVPOOL_STATEMENT_CACHE=500"}, {"|statement_cache=500|"}},
	{"overflow connections close after 10 s idle by default", {NULL}, {"|overflow_idle_ms=10000|"}},
	{"GOVPOOL_OVERFLOW_IDLE_MS=0: SQLAlchemy's rule", {"GOVPOOL_OVERFLOW_IDLE_MS=0"}, {"|overflow_idle_ms=0|"}},
	{"GOVPOOL_OVERFLOW_IDLE_MS=250", {"ENVIRONMENT=prod", "GOVPOOL_OVERFLOW_IDLE_MS=250"},
	{"|overflow_idle_ms=250|", "|max_overflow=20|"}},
	{"resilience knobs",
		{"GOVPOOL_LEAK_THRESHOLD_MS=250", "GOVPOOL_PREPING_IDLE_MS=-1", "GOVPOOL_LIVENESS_IDLE_MS=0",
			"GOVPOOL_CONNECT_ATTEMPTS=5", "GOVPOOL_BREAKER_THRESHOLD=2", "GOVPOOL_BREAKER_COOLDOWN_MS=700",
		"GOVPOOL_CONNECT_BACKOFF_MS=10", "GOVPOOL_CONNECT_BACKOFF_MAX_MS=90",
		"GOVPOOL_BREAKER_WINDOW_MS=0", "GOVPOOL_BREAKER_COOLDOWN_MIN_MS=250"},
		{"|leak_threshold_ms=250|", "|preping_idle_ms=-1|", "|liveness_idle_ms=0|", "|connect_attempts=5|",
			"|breaker_threshold=2|", "|breaker_cooldown_ms=700|", "|backoff=10/90|",
	"|breaker_window_ms=0|", "|breaker_cooldown_min_ms=250|"}},

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
	{"overflow idle negative", {"GOVPOOL_OVERFLOW_IDLE_MS=-1"}, {NULL},
	"GOVPOOL_OVERFLOW_IDLE_MS=\"-1\": must be between 0"},
	{"statement timeout negative", {"DATABASE_STATEMENT_TIMEOUT_MS=-5"}, {NULL},
	"DATABASE_STATEMENT_TIMEOUT_MS=\"-5\": must be between 0"},
	{"echo not a boolean", {"DATABASE_ECHO=maybe"}, {NULL}, "DATABASE_ECHO=\"maybe\": not a boolean"},
	{"echo alias not a boolean", {"DB_ECHO_SQL=2"}, {NULL}, "DB_ECHO_SQL=\"2\": not a boolean"},
	{"reset mode unknown", {"GOVPOOL_RESET_ON_RETURN=flush"}, {NULL}, "GOVPOOL_RESET_ON_RETURN=\"flush\""},
	{"pooler unknown", {"GOVPOOL_POOLER=pgbouncer"}, {NULL},
	"GOVPOOL_POOLER=\"pgbouncer\": expected none, session or transaction"},
	{"statement cache too large", {"GOVPOOL_STATEMENT_CACHE=10001"}, {NULL},
	"GOVPOOL_STATEMENT_CACHE"},
	{"statement cache negative", {"GOVPOOL_STATEMENT_CACHE=-1"}, {NULL},
	"GOVPOOL_STATEMENT_CACHE"},
	{"prepare mode unknown", {"GOVPOOL_PREPARE_CONTEXT=yes"}, {NULL},
	"GOVPOOL_PREPARE_CONTEXT=\"yes\": expected auto, on or off"},
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

	/* ---- unencoded special characters: the readings (finding 13) ---- */
	{"'/' and '?' in the password, unencoded", {"DATABASE_URL=postgresql://app:s3/cr?et@db:5433/appdb"},
	{"|conninfo=host='db' port='5433' user='app' password='s3/cr?et' dbname='appdb'|"}},
	{"'@' and ':' in the password, unencoded", {"DATABASE_URL=postgresql://app:s3@cr:et@db/appdb"},
	{"|conninfo=host='db' user='app' password='s3@cr:et' dbname='appdb'|"}},
	{"'@' in a query value stays there", {"DATABASE_URL=postgresql://app:s3cret@db/x?application_name=me@work"},
	{"|application_name=me@work|", "password='s3cret' dbname='x'|"}},
	{"'@' in a query value, user without password", {"DATABASE_URL=postgresql://app@db/x?application_name=me@work"},
	{"|application_name=me@work|", "|conninfo=host='db' user='app' dbname='x'|"}},
	{"'@' in a query value, no userinfo", {"DATABASE_URL=postgresql://db/x?application_name=me@work"},
	{"|application_name=me@work|", "|conninfo=host='db' dbname='x'|"}},
	{"read with and without a password: refused", {"DATABASE_URL=postgresql://h:5432/db?options=x@y"}, {NULL},
	"reads both with and without a password"},
	{"read with and without a password, with a user: refused",
		{"DATABASE_URL=postgresql://u@h:5432/db?application_name=a@b"}, {NULL},
	"reads both with and without a password"},
	{"'@' in the database name is refused", {"DATABASE_URL=postgresql://db/x@y"}, {NULL},
	"unencoded '@' after the host list, in the database name: write it as %40"},
	{"'@' after a '/': two readings", {"DATABASE_URL=postgresql://app:s3cret@db/x@y"}, {NULL},
	"could end at more than one '@'"},
	{"'@' then no host list", {"DATABASE_URL=postgresql://app:s3/cret@bad host/x"}, {NULL},
	"what follows an '@' is not a host list"},
	/* a password= value that an '@' would cut into a host and a database name */
	{"password= value with '@', bad host list: refused",
		{"DATABASE_URL=postgresql://myhost:54 32/db?password=abc@def/ghij"}, {NULL},
	"a password parameter in the query before an '@'"},
	{"password= value in the userinfo's reading, bad port: refused",
		{"DATABASE_URL=postgresql://u:p?x=1&password=s3cret@kb/myd"}, {NULL},
	"a password parameter in the query before an '@'"},
	{"password= after '&' in what the '@' makes a database name: refused",
		{"DATABASE_URL=postgresql://h:1 2/db?a=b@kb/my&password=s3cret"}, {NULL},
	"a password parameter in the query before an '@'"},
	{"percent-encoded sslpassword key before the '@': refused",
		{"DATABASE_URL=postgresql://u:54 32/db?sslpass%77ord=abc@def/ghij"}, {NULL},
	"a password parameter in the query before an '@'"},
	{"password= in the query after the host list is not a second reading",
		{"DATABASE_URL=postgresql://app:s3/cr?et@db/appdb?password=other"},
	{"|conninfo=host='db' user='app' password='other' dbname='appdb'|"}},

	/* ---- bad URLs: the message names the piece, never the password ---- */
	{"unsupported scheme", {"DATABASE_URL=mysql://app:s3cret@db/x"}, {NULL}, "unsupported scheme before \"://\""},
	{"not a URL", {"DATABASE_URL=host=db password=s3cret"}, {NULL}, "DATABASE_URL: not a URL"},
	{"port not a number", {"DATABASE_URL=postgresql://app:s3cret@db:abc/x"}, {NULL},
	"invalid port for host 1 of the host list"},
	{"port out of range", {"DATABASE_URL=postgresql://app:s3cret@db:70000/x"}, {NULL},
	"invalid port for host 1 of the host list (expected a number 1-65535)"},
	{"second port bad", {"DATABASE_URL=postgresql://h1:5432,h2:0/x"}, {NULL}, "invalid port for host 2"},
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

/* ---- unencoded special characters in a URL's password (finding 13) ---- */

/*
 * Does text hold a piece of secret of n bytes or more?  (A secret shorter
 * than n counts whole.)  The piece found goes to piece, for the message.
 */
static bool
holds_piece(const char *text, const char *secret, size_t n, char *piece, size_t piece_size)
{
	size_t		sl = strlen(secret);
	size_t		tl = strlen(text);

	if (sl == 0)
		return false;
	if (sl < n)
		n = sl;
	for (size_t i = 0; i + n <= sl; i++)
		if (memmem(text, tl, secret + i, n) != NULL)
		{
			snprintf(piece, piece_size, "%.*s", (int) n, secret + i);
			return true;
		}
	return false;
}

/* The URL shapes a password is put into ("%s" is the raw password). */
static const char *const pw_shapes[] = {
	"postgresql://app:%s@db.example:5433/appdb",
	"postgresql://app:%s@db.example/appdb?sslmode=require&application_name=billing",
	"postgres://app:%s@/appdb?host=/var/run/postgresql",
	"postgresql+asyncpg://app:%s@h1:5432,h2:5433/appdb",
	"postgresql://app:%s@[::1]:5433",
	"postgresql://app:%s@",
};

/*
 * The special characters, raw as they stand in the URL, and the password
 * libpq must get for them (NULL: the URL is refused, with error_has in the
 * message).
 */
typedef struct pw_char
{
	const char *raw;
	const char *decoded;		/* NULL: refused */
	const char *error_has;
} pw_char;

static const pw_char pw_chars[] = {
	{"?", "?"}, {"/", "/"}, {"#", "#"}, {"@", "@"}, {":", ":"}, {" ", " "},
	{"&", "&"}, {"=", "="}, {",", ","}, {"[", "["}, {"]", "]"}, {"'", "'"},
	{"??", "??"}, {"//", "//"}, {"@@", "@@"}, {"?#:", "?#:"}, {":7777/", ":7777/"},
	{"%3F", "?"}, {"%2F", "/"}, {"%40", "@"}, {"%25", "%"},
	{"%", NULL, "bad percent-encoding in the password"},
	{"%zz", NULL, "bad percent-encoding in the password"},
	{"%G1", NULL, "bad percent-encoding in the password"},
	{"%00", NULL, "bad percent-encoding in the password"},
	/* an '@' followed by what could be a host and a '/' or '?': two readings */
	{"@db/", NULL, "percent-encode"},
	{"@x?", NULL, "percent-encode"},
	{"@h:5432/db?", NULL, "percent-encode"},
};

#define PW_BASE "Hq7Wz3KjVx"
#define PW_PIECE 3				/* no piece of this many bytes may show */

/*
 * Every special character at the start, in the middle and at the end of
 * the password, in every URL shape: the URL is either read with exactly that
 * password, or refused with a message that says what is wrong; and no error
 * and no description of the target holds any 3-byte piece of the password,
 * raw or decoded.
 */
static void
test_password_special_characters(void)
{
	for (size_t s = 0; s < sizeof(pw_shapes) / sizeof(pw_shapes[0]); s++)
		for (size_t c = 0; c < sizeof(pw_chars) / sizeof(pw_chars[0]); c++)
			for (int pos = 0; pos < 3; pos++)
			{
				const pw_char *pc = &pw_chars[c];
				char		raw[64],
							decoded[64],
							url[256],
							env0[300],
							piece[16],
							desc[256];
				config_case cc = {"pw", {env0}, {NULL}, NULL};
				govpool_config cfg;
				govpool_error err;
				govpool_status st;
				const char *base = PW_BASE;
				int			half = (int) strlen(base) / 2;

				if (pos == 0)
				{
					snprintf(raw, sizeof(raw), "%s%s", pc->raw, PW_BASE);
					snprintf(decoded, sizeof(decoded), "%s%s", pc->decoded ? pc->decoded : "", PW_BASE);
				}
				else if (pos == 1)
				{
					snprintf(raw, sizeof(raw), "%.*s%s%s", half, base, pc->raw, base + half);
					snprintf(decoded, sizeof(decoded), "%.*s%s%s", half, base,
							 pc->decoded ? pc->decoded : "", base + half);
				}
				else
				{
					snprintf(raw, sizeof(raw), "%s%s", PW_BASE, pc->raw);
					snprintf(decoded, sizeof(decoded), "%s%s", PW_BASE, pc->decoded ? pc->decoded : "");
				}
				snprintf(url, sizeof(url), pw_shapes[s], raw);
				snprintf(env0, sizeof(env0), "DATABASE_URL=%s", url);
				st = govpool_config_from_getenv(&cfg, case_getenv, &cc, &err);
				if (pc->decoded)
				{
					PQconninfoOption *o;
					char	   *msg = NULL;
					const char *got = NULL;

					CHECK_MSG(st == GOVPOOL_OK, "[%s] refused: %s", url, err.message);
					if (st != GOVPOOL_OK)
						goto leak_check;
					o = PQconninfoParse(cfg.conninfo, &msg);
					CHECK_MSG(o != NULL, "[%s] libpq rejects %s", url, cfg.conninfo);
					for (PQconninfoOption *p = o; o && p->keyword; p++)
						if (strcmp(p->keyword, "password") == 0 && p->val)
							got = p->val;
					CHECK_MSG(got && strcmp(got, decoded) == 0, "[%s] password [%s], want [%s]",
							  url, got ? got : "(none)", decoded);
					PQconninfoFree(o);
					PQfreemem(msg);
					govpool_config_describe(&cfg, desc, sizeof(desc));
					CHECK_MSG(!holds_piece(desc, raw, PW_PIECE, piece, sizeof(piece)) &&
							  !holds_piece(desc, decoded, PW_PIECE, piece, sizeof(piece)),
							  "[%s] the description shows \"%s\": %s", url, piece, desc);
				}
				else
				{
					CHECK_MSG(st == GOVPOOL_ERR_CONFIG, "[%s] accepted: %s", url, cfg.conninfo);
					CHECK_MSG(st != GOVPOOL_ERR_CONFIG ||
							  (strstr(err.message, "DATABASE_URL") && strstr(err.message, pc->error_has)),
							  "[%s] message \"%s\" lacks \"%s\"", url, err.message, pc->error_has);
				}
		leak_check:
				if (st != GOVPOOL_OK)
					CHECK_MSG(!holds_piece(err.message, raw, PW_PIECE, piece, sizeof(piece)) &&
							  !holds_piece(err.message, decoded, PW_PIECE, piece, sizeof(piece)),
							  "[%s] the error shows \"%s\": %s", url, piece, err.message);
			}
}

/*
 * The URLs of the finding, and malformed ones around them: whatever the
 * reading, neither the error nor the description shows a piece of the
 * password the writer meant.
 */
static void
test_malformed_urls_show_no_piece(void)
{
	static const struct
	{
		const char *url;
		const char *secret;		/* what the writer meant as the password */
	}			bad[] = {
		{"postgresql://app:S3cr?tPass@db.example/prod", "S3cr?tPass"},
		{"postgresql://app:Sec/retPass@db.example/prod", "Sec/retPass"},
		{"postgresql://app:5432/TopSecretPw@db.example/prod", "5432/TopSecretPw"},
		{"postgresql://app:Sec/retPass@bad host/prod", "Sec/retPass"},
		{"postgresql://app:S3cr?tPass@bad host/prod", "S3cr?tPass"},
		{"postgresql://app:Sec@ret/Pass@db.example/prod", "Sec@ret/Pass"},
		{"postgresql://app:Sec@ret/Pass@bad host/prod", "Sec@ret/Pass"},
		{"postgresql://app:Sec@ret?Pass=1@db.example/prod", "Sec@ret?Pass=1"},
		{"postgresql://app:TopSecretPw:99999@db.example/prod", "TopSecretPw:99999"},
		{"postgresql://app:TopSecretPw%zz@db.example/prod", "TopSecretPw%zz"},
		{"postgresql://app:Top[Secret@db.example/prod", "Top[Secret"},
		{"postgresql://app:TopSecret@[::1/prod", "TopSecret"},
		{"postgresql://app:TopSecret@db.example:5432:5433/prod", "TopSecret"},
		{"postgresql://app:TopSecret@db.example/prod?Secret=1", "TopSecret"},
		{"postgresql://app:Top?sslmode=Secret@db.example/prod", "Top?sslmode=Secret"},
		{"postgresql://app:Top&unix_sock=Secret@db.example/prod", "Top&unix_sock=Secret"},
		{"postgresql://app:5432?options=TopSecret@db.example/prod", "5432?options=TopSecret"},
		{"postgresql://app:5432/TopSecret?application_name=x@db.example/prod",
		"5432/TopSecret?application_name=x"},
		{"TopSecret://app:x@db.example/prod", "TopSecret"},
		{"app:TopSecret://db.example/prod", "TopSecret"},
		{"app:TopSecret@db.example/prod", "TopSecret"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		char		env0[300],
					piece[16],
					desc[256];
		config_case cc = {"bad", {env0}, {NULL}, NULL};
		govpool_config cfg;
		govpool_error err;

		snprintf(env0, sizeof(env0), "DATABASE_URL=%s", bad[i].url);
		if (govpool_config_from_getenv(&cfg, case_getenv, &cc, &err) == GOVPOOL_OK)
		{
			govpool_config_describe(&cfg, desc, sizeof(desc));
			CHECK_MSG(!holds_piece(desc, bad[i].secret, 4, piece, sizeof(piece)),
					  "[%s] the description shows \"%s\": %s", bad[i].url, piece, desc);
		}
		else
		{
			CHECK_MSG(strncmp(err.message, "DATABASE_URL: ", 14) == 0 && strlen(err.message) > 24,
					  "[%s] the message does not say what is wrong: %s", bad[i].url, err.message);
			CHECK_MSG(!holds_piece(err.message, bad[i].secret, 4, piece, sizeof(piece)),
					  "[%s] the error shows \"%s\": %s", bad[i].url, piece, err.message);
		}
	}
}

/* The redactor removes any piece of 4 bytes or more of the password. */
static void
test_redact_pieces(void)
{
	static const struct
	{
		const char *text;
		const char *secret;
		const char *want;
	}			cases[] = {
		{"failed: \"S3cr\" is bad", "S3cr?tPass", "failed: \"***\" is bad"},
		{"db tPass@db.example/x", "S3cr?tPass", "db ***@db.example/x"},
		{"a S3cr?tPass b", "S3cr?tPass", "a *** b"},
		{"a Pass b cr?t c", "S3cr?tPass", "a *** b *** c"},
		{"a Pas b", "S3cr?tPass", "a Pas b"},
		{"x S3cr?tPassS3cr?tPass y", "S3cr?tPass", "x *** y"},
		{"short pw: ab abc", "abc", "short pw: ab ***"},
		{"a star * and ** here", "*", "a star *** and ****** here"},
		{"one x, two xx", "x", "one ***, two ******"},
		{"url postgresql://app:Sec/ret@Pass@db/x failed", NULL, "url postgresql://app:***@db/x failed"},
		{"url postgresql://app:S3cr?tPass@db/x", NULL, "url postgresql://app:***@db/x"},
		{"postgresql://h/db?application_name=a@b", NULL, "postgresql://h/db?application_name=a@b"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		buf[128];

		snprintf(buf, sizeof(buf), "%s", cases[i].text);
		gp_redact(buf, sizeof(buf), cases[i].secret);
		CHECK_MSG(strcmp(buf, cases[i].want) == 0, "redact(\"%s\", \"%s\") = \"%s\", want \"%s\"",
				  cases[i].text, cases[i].secret, buf, cases[i].want);
	}
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
	RUN(test_password_special_characters);
	RUN(test_malformed_urls_show_no_piece);
	RUN(test_redact_pieces);
	RUN(test_from_env_reads_process_environment);
	RUN(test_create_rejects_bad_config);
	return tap_done();
}
