/*
 * test_hostile.c
 *	  Hostile context values through the C API, and the test password kept
 *	  out of every error and log line.
 *
 * One table of values: quotes, backslashes, SQL fragments, format
 * directives, bytes after a NUL, a 10 MB value, invalid UTF-8, C0 and C1
 * controls, over-long and malformed correlation ids.  Each value goes into
 * one field (agent_id, tenant_id or correlation_id) of a governed
 * transaction that would insert an audited row, through both govpool_run
 * (one round trip) and govpool_begin/exec/commit, on a one-connection pool
 * with echo on (so every value also passes through the logger).  A value is
 * either
 *
 *	  accepted: it reaches the server byte for byte (governance.*() and the
 *				audit row read it back exactly; SQL in it is data, never run);
 *	  refused:	an error naming the field, and nothing is stored: no row, no
 *				audit row, the value in no audit or pool_stats row; the
 *				connection goes back to the pool healthy (same backend, no
 *				invalidation) and the next session on it works.
 *
 * Invalid UTF-8 (also overlong forms and surrogates) is refused by the
 * client itself (session.c check_ctx), with the field's name, before
 * anything is sent.
 *
 * A C string ends at its first NUL: "agent\0DROP" *is* "agent" to every C
 * API (strlen, libpq's text parameters).  The bytes after it are never
 * read, so never sent: the wire trace of that session must not hold them.
 *
 * Passwords: a pool with a wrong password fails with an error that names
 * the authentication failure and holds neither the wrong nor the real
 * password (GOVERNANCE_TEST_PASSWORD), nor do the pool's log lines; a
 * libpq message that echoes the password is redacted.  The server logs a
 * failed-authentication line; scripts/scan-logs.sh checks no log holds the
 * password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* itest.h has helpers this file does not need */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "itest.h"

/* the table leaves trailing fields out on purpose */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef enum field
{
	F_AGENT,
	F_TENANT,
	F_CORRELATION
} field;

static const char *const field_name[] = {"agent_id", "tenant_id", "correlation_id"};

typedef enum expect
{
	ACCEPT,						/* read back byte for byte */
	REFUSE						/* error naming the field, nothing stored */
} expect;

typedef struct hostile_case
{
	const char *what;
	field		field;
	const char *value;			/* NULL: built at run time (big) */
	expect		expect;
	const char *sent;			/* ACCEPT: what the server must see (default value) */
} hostile_case;

#define BIG_BYTES (10 * 1024 * 1024)
static char *big;				/* 10 MB of 'x' */
static char *long_corr;			/* 129 characters */
static char *max_corr;			/* 128 characters */
static char *long_agent;		/* 257 characters */

static const hostile_case cases[] = {
	/* quoting and injection: data, never SQL */
	{"a single quote", F_AGENT, "o'brien", ACCEPT},
	{"doubled quotes", F_TENANT, "''''", ACCEPT},
	{"a backslash", F_AGENT, "a\\b\\", ACCEPT},
	{"an E-string escape", F_TENANT, "\\x41\\u0000", ACCEPT},
	{"a statement terminator", F_AGENT, "'); DROP TABLE gp_hostile; --", ACCEPT},
	{"a dollar quote", F_TENANT, "$$; DROP TABLE gp_hostile; $$", ACCEPT},
	{"a parameter reference", F_AGENT, "$1", ACCEPT},
	{"printf directives", F_AGENT, "%s%n%x%p%%", ACCEPT},
	{"a log-injection newline look-alike", F_TENANT, "x level=error event=forged", ACCEPT},
	{"a quote in a correlation id", F_CORRELATION, "req'1", REFUSE},
	{"SQL in a correlation id", F_CORRELATION, "'); DROP TABLE gp_hostile; --", REFUSE},
	{"a format directive in a correlation id", F_CORRELATION, "%s", REFUSE},
	/* NUL: the value ends there */
	{"bytes after a NUL (agent)", F_AGENT, "agent\0DROP-AFTER-NUL", ACCEPT, "agent"},
	{"bytes after a NUL (tenant)", F_TENANT, "acme\0DROP-AFTER-NUL", ACCEPT, "acme"},
	{"bytes after a NUL (correlation)", F_CORRELATION, "req-1\0DROP-AFTER-NUL", ACCEPT, "req-1"},
	{"an empty agent (NUL first)", F_AGENT, "\0DROP-AFTER-NUL", REFUSE},
	/* size */
	{"a 10 MB agent_id", F_AGENT, NULL, REFUSE},
	{"a 10 MB tenant_id", F_TENANT, NULL, REFUSE},
	{"a 10 MB correlation_id", F_CORRELATION, NULL, REFUSE},
	{"a 257-character agent_id", F_AGENT, NULL, REFUSE},
	{"a 129-character correlation_id", F_CORRELATION, NULL, REFUSE},
	{"a 128-character correlation_id", F_CORRELATION, NULL, ACCEPT},
	/* encoding */
	{"invalid UTF-8 (agent)", F_AGENT, "ab\xff\xfe", REFUSE},
	{"invalid UTF-8 (tenant)", F_TENANT, "\xc3\x28", REFUSE},
	{"a truncated UTF-8 sequence", F_AGENT, "caf\xc3", REFUSE},
	{"an overlong UTF-8 slash", F_TENANT, "\xc0\xaf", REFUSE},
	{"a UTF-8 surrogate", F_AGENT, "\xed\xa0\x80", REFUSE},
	{"non-ASCII in a correlation id", F_CORRELATION, "r\xc3\xa9q", REFUSE},
	{"valid multibyte UTF-8", F_AGENT, "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x94\x91", ACCEPT},
	/* controls */
	{"U+0001", F_AGENT, "\x01", REFUSE},
	{"a tab", F_TENANT, "a\tb", REFUSE},
	{"a newline (log injection)", F_AGENT, "alice\nlevel=error event=forged", REFUSE},
	{"a carriage return", F_TENANT, "acme\r", REFUSE},
	{"an ANSI escape", F_AGENT, "\x1b[31mred", REFUSE},
	{"DEL", F_TENANT, "x\x7f", REFUSE},
	{"C1 NEL (U+0085)", F_AGENT, "x\xc2\x85", REFUSE},
	{"C1 CSI (U+009B)", F_TENANT, "\xc2\x9b" "31m", REFUSE},
	{"a control in a correlation id", F_CORRELATION, "req\x01", REFUSE},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static govpool *pool;
static logbuf logs;

static const char *
case_value(const hostile_case *c)
{
	if (c->value)
		return c->value;
	if (strstr(c->what, "10 MB"))
		return big;
	if (strstr(c->what, "257"))
		return long_agent;
	if (strstr(c->what, "129"))
		return long_corr;
	return max_corr;
}

static void
fill_ctx(govpool_context *ctx, const hostile_case *c, const char *corr_marker)
{
	ctx->agent_id = "hostile-agent";
	ctx->tenant_id = "hostile-tenant";
	ctx->correlation_id = corr_marker;
	if (c->field == F_AGENT)
		ctx->agent_id = case_value(c);
	else if (c->field == F_TENANT)
		ctx->tenant_id = case_value(c);
	else
		ctx->correlation_id = case_value(c);
}

/* The session's backend pid on the pool's only connection (good context). */
static int
current_pid(void)
{
	govpool_context good = {"pid-probe", NULL, NULL};
	govpool_error err;
	PGresult   *r = govpool_run(pool, &good, "SELECT pg_backend_pid()", 0, NULL, &err);
	int			pid = -1;

	if (r && PQresultStatus(r) == PGRES_TUPLES_OK)
		pid = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return pid;
}

/* Rows of gp_hostile / audit rows about it with this correlation marker. */
static long
stored(const char *marker)
{
	char		q[512];
	long		rows,
				audit;

	snprintf(q, sizeof(q), "SELECT count(*) FROM gp_hostile WHERE note = '%s'", marker);
	rows = sql_long(q);
	snprintf(q, sizeof(q),
			 "SELECT count(*) FROM governance.audit_log WHERE new_row->>'note' = '%s'", marker);
	audit = sql_long(q);
	return rows + audit;
}

/*
 * Run one case through one path.  The row's note is a marker unique to
 * this run so stored() can find it whatever the context did.
 */
static void
run_case(const hostile_case *c, bool via_run, int n)
{
	char		marker[64];
	govpool_context ctx;
	govpool_error err;
	govpool_stats before,
				after;
	PGresult   *r;
	const char *params[1];
	const char *sql = "INSERT INTO gp_hostile (note, agent, tenant, correlation) "
		"VALUES ($1, governance.agent_id(), governance.tenant_id(), governance.correlation_id()) "
		"RETURNING agent, tenant, correlation";
	int			pid_before = current_pid();
	const char *want = c->sent ? c->sent : case_value(c);

	snprintf(marker, sizeof(marker), "hostile-%d-%d-%s", (int) getpid(), n, via_run ? "run" : "session");
	params[0] = marker;
	fill_ctx(&ctx, c, "corr-marker");
	govpool_stats(pool, &before);

	if (via_run)
		r = govpool_run(pool, &ctx, sql, 1, params, &err);
	else
	{
		govpool_session *s = govpool_begin(pool, &ctx, -1, &err);

		r = NULL;
		if (s)
		{
			r = govpool_exec(s, sql, 1, params, &err);
			if (r)
			{
				govpool_error cerr;

				if (govpool_commit(s, &cerr) != GOVPOOL_OK)
				{
					PQclear(r);
					r = NULL;
					err = cerr;
				}
			}
			else
				govpool_rollback(s);	/* a no-op after a failed statement */
		}
	}

	if (c->expect == ACCEPT)
	{
		CHECK_MSG(r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK,
				  "[%s, %s] refused: %s", c->what, via_run ? "run" : "session",
				  r ? "" : err.message);
		if (r && PQresultStatus(r) == PGRES_TUPLES_OK)
		{
			const char *got = PQgetvalue(r, 0, (int) c->field);

			CHECK_MSG(strcmp(got, want) == 0, "[%s] server saw [%s]", c->what, got);
		}
		CHECK_MSG(stored(marker) == 2, "[%s] row + audit row expected", c->what);
		if (c->field == F_AGENT || c->field == F_TENANT)
		{
			char		q[512];
			char	   *lit = PQescapeLiteral(admin, want, strlen(want));

			snprintf(q, sizeof(q), "SELECT count(*) FROM governance.audit_log WHERE new_row->>'note' = '%s' "
					 "AND %s = %s", marker, field_name[c->field], lit ? lit : "NULL");
			CHECK_MSG(strlen(want) > 300 || sql_long(q) == 1,
					  "[%s] the audit row does not carry the value verbatim", c->what);
			PQfreemem(lit);
		}
	}
	else
	{
		CHECK_MSG(r == NULL, "[%s, %s] accepted", c->what, via_run ? "run" : "session");
		bool		named = strstr(err.message, field_name[c->field]) != NULL;

		CHECK_MSG(named,
				  "[%s, %s] the error does not name %s: kind=%s sqlstate=%s %s", c->what,
				  via_run ? "run" : "session", field_name[c->field],
				  govpool_status_name(err.kind), err.sqlstate, err.message);
		CHECK_MSG(err.message[0] != '\0' && strlen(err.message) < sizeof(err.message), "%s", c->what);
		CHECK_MSG(stored(marker) == 0, "[%s] something was stored", c->what);
	}
	PQclear(r);

	/* the connection is back, healthy, and the next session works on it */
	govpool_stats(pool, &after);
	CHECK_MSG(after.checked_out == 0, "[%s] connection not returned", c->what);
	CHECK_MSG(after.invalidated_total == before.invalidated_total,
			  "[%s] the connection was thrown away", c->what);
	CHECK_MSG(current_pid() == pid_before, "[%s] the next session runs on another backend", c->what);
	{
		govpool_context good = {"after-hostile", "acme", "req-after"};
		PGresult   *g = govpool_run(pool, &good,
									"SELECT governance.agent_id() || '/' || governance.tenant_id() "
									"|| '/' || governance.correlation_id()", 0, NULL, &err);

		CHECK_MSG(g && strcmp(PQgetvalue(g, 0, 0), "after-hostile/acme/req-after") == 0,
				  "[%s] next session: %s", c->what, g ? PQgetvalue(g, 0, 0) : err.message);
		PQclear(g);
	}
}

static void
test_hostile_values_through_run(void)
{
	for (size_t i = 0; i < NCASES; i++)
		run_case(&cases[i], true, (int) i);
}

static void
test_hostile_values_through_a_session(void)
{
	for (size_t i = 0; i < NCASES; i++)
		run_case(&cases[i], false, (int) i);
}

/* The bytes after a NUL are never on the wire (PQtrace of the session). */
static void
test_bytes_after_nul_are_not_sent(void)
{
	govpool_context ctx = {"agent\0AFTER-NUL-1", "acme\0AFTER-NUL-2", "req\0AFTER-NUL-3"};
	govpool_error err;
	govpool_session *s = govpool_begin(pool, &ctx, -1, &err);
	PGconn	   *conn = s ? govpool_conn(s) : NULL;
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *f;
	PGresult   *r;

	CHECK_MSG(s != NULL, "%s", err.message);
	if (s == NULL)
		return;
	govpool_commit(s, &err);
	f = open_memstream(&buf, &len);
	PQtrace(conn, f);
	r = govpool_run(pool, &ctx, "SELECT governance.agent_id(), governance.tenant_id(), "
					"governance.correlation_id()", 0, NULL, &err);
	PQuntrace(conn);
	fclose(f);
	CHECK_MSG(r != NULL, "%s", err.message);
	if (r)
		CHECK(strcmp(PQgetvalue(r, 0, 0), "agent") == 0 && strcmp(PQgetvalue(r, 0, 1), "acme") == 0 &&
			  strcmp(PQgetvalue(r, 0, 2), "req") == 0);
	PQclear(r);
	CHECK_MSG(strstr(buf, " 5 'agent' 4 'acme' 3 'req' ") != NULL, "the trace shows no context:\n%s", buf);
	CHECK_MSG(strstr(buf, "AFTER-NUL") == NULL, "bytes after a NUL were sent:\n%s", buf);
	free(buf);
}

/* Nothing hostile reached a pool_stats row or the log lines' structure. */
static void
test_nothing_hostile_in_pool_stats_or_logs(void)
{
	if (sql_long("SELECT (to_regclass('governance.pool_stats') IS NOT NULL)::int") == 1)
	{
		CHECK(sql_long("SELECT count(*) FROM governance.pool_stats WHERE pool_stats::text LIKE '%DROP TABLE%' "
					   "OR pool_stats::text LIKE '%AFTER-NUL%' OR pool_stats::text LIKE '%hostile-agent%'") == 0);
		char		q[256];

		snprintf(q, sizeof(q), "SELECT count(*) FROM governance.pool_stats "
				 "WHERE application_name = 'gp_hostile' AND client_pid = %d", (int) getpid());
		CHECK_MSG(sql_long(q) <= 1, "one pool, at most one row");
	}
	CHECK(sql_long("SELECT count(*) FROM pg_class WHERE relname = 'gp_hostile'") == 1);
	/* echo logged the accepted values; no refused control character made a line of its own */
	pthread_mutex_lock(&logs.mu);
	CHECK_MSG(logs.lines > 0, "echo logged nothing");
	for (const char *l = logs.text; *l; l = strchr(l, '\n') + 1)
	{
		CHECK_MSG(strncmp(l, "ts=", 3) == 0 && strstr(l, " level=") != NULL,
				  "a log line that is not structured: %.80s", l);
		if (strchr(l, '\n') == NULL)
			break;
	}
	CHECK(strstr(logs.text, "AFTER-NUL") == NULL);
	pthread_mutex_unlock(&logs.mu);
}

/* ---- passwords ---- */

/* conninfo of DATABASE_URL's server with another password (and extra) */
static void
conninfo_with_password(char *buf, size_t size, const char *password, const char *extra)
{
	const char *url = getenv("DATABASE_URL");
	PQconninfoOption *opts = PQconninfoParse(url ? url : "", NULL);
	size_t		pos = 0;

	buf[0] = '\0';
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val && *o->val && strcmp(o->keyword, "password") != 0)
			pos += snprintf(buf + pos, size - pos, "%s='%s' ", o->keyword, o->val);
	snprintf(buf + pos, size - pos, "password='%s' %s", password, extra);
	PQconninfoFree(opts);
}

static bool
holds_secret(const char *text, const char *wrong)
{
	const char *real = getenv("GOVERNANCE_TEST_PASSWORD");

	return strstr(text, wrong) != NULL || (real && *real && strstr(text, real) != NULL);
}

static void
test_wrong_password_error_is_redacted(void)
{
	char		wrong[64];
	govpool_config cfg;
	govpool_error err;
	govpool    *p;
	logbuf		lb;

	snprintf(wrong, sizeof(wrong), "Wr0ng-pw-%ld-%d", (long) time(NULL), (int) getpid());
	itest_config(&cfg, "gp_hostile_badpw");
	conninfo_with_password(cfg.conninfo, sizeof(cfg.conninfo), wrong, "");
	cfg.connect_attempts = 1;
	cfg.breaker_threshold = 0;
	cfg.report_interval_ms = 0;
	logbuf_init(&lb);
	p = govpool_create(&cfg, &err);
	if (p)
		govpool_set_logger(p, logbuf_fn, &lb);
	if (p && err.kind == GOVPOOL_OK)
	{
		govpool_context ctx = {"alice", NULL, NULL};
		PGresult   *r = govpool_run(p, &ctx, "SELECT 1", 0, NULL, &err);

		CHECK_MSG(r == NULL, "a wrong password connected");
		PQclear(r);
	}
	CHECK_MSG(err.kind == GOVPOOL_ERR_CONNECT, "kind=%s %s", govpool_status_name(err.kind), err.message);
	CHECK_MSG(strstr(err.message, "password authentication failed") != NULL, "%s", err.message);
	CHECK_MSG(!holds_secret(err.message, wrong), "a password in the error: %s", err.message);
	CHECK_MSG(!holds_secret(lb.text, wrong), "a password in the log:\n%s", lb.text);
	govpool_destroy(p);
}

/* libpq echoes a value that happens to be the password: redacted anyway. */
static void
test_password_echoed_by_libpq_is_redacted(void)
{
	char		wrong[64],
				extra[128];
	govpool_config cfg;
	govpool_error err;
	govpool    *p;

	snprintf(wrong, sizeof(wrong), "Ech0ed-pw-%d", (int) getpid());
	snprintf(extra, sizeof(extra), "sslmode='%s'", wrong);
	itest_config(&cfg, "gp_hostile_echo");
	conninfo_with_password(cfg.conninfo, sizeof(cfg.conninfo), wrong, extra);
	cfg.connect_attempts = 1;
	cfg.breaker_threshold = 0;
	p = govpool_create(&cfg, &err);
	if (p && err.kind == GOVPOOL_OK)
	{
		govpool_context ctx = {"alice", NULL, NULL};

		PQclear(govpool_run(p, &ctx, "SELECT 1", 0, NULL, &err));
	}
	CHECK_MSG(err.kind != GOVPOOL_OK, "an invalid sslmode connected");
	CHECK_MSG(strstr(err.message, "sslmode") != NULL, "%s", err.message);
	CHECK_MSG(!holds_secret(err.message, wrong), "a password in the error: %s", err.message);
	govpool_destroy(p);
}

int
main(void)
{
	govpool_config cfg;

	itest_connect_admin();
	big = malloc(BIG_BYTES + 1);
	memset(big, 'x', BIG_BYTES);
	big[BIG_BYTES] = '\0';
	long_agent = calloc(1, 258);
	memset(long_agent, 'a', 257);
	long_corr = calloc(1, 130);
	memset(long_corr, 'c', 129);
	max_corr = calloc(1, 129);
	memset(max_corr, 'c', 128);

	sql("SET client_min_messages = warning");
	itest_governance();
	sql("DROP TABLE IF EXISTS gp_hostile");
	sql("CREATE TABLE gp_hostile (id bigserial PRIMARY KEY, note text, agent text, tenant text, correlation text)");
	sql("SELECT governance.enable_audit('gp_hostile')");

	itest_config(&cfg, "gp_hostile");
	cfg.pool_size = 1;
	cfg.max_overflow = 0;
	cfg.echo = true;			/* every value also goes through the logger */
	cfg.report_interval_ms = 1;
	pool = itest_pool(&cfg);
	logbuf_init(&logs);
	govpool_set_logger(pool, logbuf_fn, &logs);

	RUN(test_hostile_values_through_run);
	RUN(test_hostile_values_through_a_session);
	RUN(test_bytes_after_nul_are_not_sent);
	RUN(test_nothing_hostile_in_pool_stats_or_logs);
	RUN(test_wrong_password_error_is_redacted);
	RUN(test_password_echoed_by_libpq_is_redacted);

	govpool_destroy(pool);
	sql("SELECT governance.disable_audit('gp_hostile')");
	sql("DROP TABLE gp_hostile");
	PQfinish(admin);
	free(big);
	free(long_agent);
	free(long_corr);
	free(max_corr);
	return tap_done();
}
