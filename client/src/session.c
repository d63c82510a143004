/*
 * session.c
 *	  Governed sessions: begin, the first-statement pipeline, exec, commit,
 *	  rollback, and the one-round-trip govpool_run.
 *
 * A session is embedded in its pool entry and owned by one thread at a
 * time.  BEGIN and governance.set_context($1,$2,$3,true) are queued at
 * begin and sent with the first statement in one libpq pipeline (one
 * round trip); the context travels as bind parameters, never as SQL text.
 *
 * The statement timeout (cfg.statement_timeout_ms) rides in that same
 * statement as set_config('statement_timeout', $4, true): transaction-local,
 * so it is gone at COMMIT/ROLLBACK and never outlives the session on a
 * server connection a transaction-mode pooler (PgBouncer) hands to the next
 * client, and nothing is sent at connect time (PgBouncer refuses a startup
 * "options" parameter).  It costs no message and no round trip.
 *
 * Retry rule: a statement is retried on a fresh connection only when it
 * failed before anything was handed to the socket (libpq queues pipeline
 * messages until PQpipelineSync).  Once the pipeline is sent nothing is
 * retried; if the connection breaks after a COMMIT was sent and before
 * its result arrived, the outcome is reported as unknown.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "govpool_int.h"

/*
 * The prelude's second statement.  With a statement timeout it is set in
 * the same statement, after the context (the statement that sets it runs
 * under the server's own timeout; every later one under ours).
 */
static const char set_context_sql[] = "SELECT governance.set_context($1, $2, $3, true)";
static const char set_context_timeout_sql[] =
	"SELECT governance.set_context($1, $2, $3, true), "
	"pg_catalog.set_config('statement_timeout', $4, true)";

/* ---- Context ---- */

/*
 * Characters in a NUL-terminated UTF-8 string (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF), or -1 when it is not valid UTF-8.
 * Refused here, the value names its field; the server would refuse it too,
 * but only with a generic encoding error after a round trip.
 */
static long
utf8_chars(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	long		chars = 0;

	while (*p)
	{
		int			n;
		unsigned int cp;

		if (*p < 0x80)
		{
			p++;
			chars++;
			continue;
		}
		else if ((*p & 0xE0) == 0xC0)
			n = 1, cp = *p & 0x1F;
		else if ((*p & 0xF0) == 0xE0)
			n = 2, cp = *p & 0x0F;
		else if ((*p & 0xF8) == 0xF0)
			n = 3, cp = *p & 0x07;
		else
			return -1;
		for (int i = 1; i <= n; i++)
		{
			if ((p[i] & 0xC0) != 0x80)
				return -1;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
			cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return -1;
		p += n + 1;
		chars++;
	}
	return chars;
}

static bool
check_ctx(const govpool_context *ctx, govpool_error *err)
{
	const char *bad = NULL;
	long		n;

	if (ctx == NULL || ctx->agent_id == NULL || ctx->agent_id[0] == '\0')
		bad = "a governed session needs ctx->agent_id";
	else if ((n = utf8_chars(ctx->agent_id)) < 0)
		bad = "agent_id is not valid UTF-8";
	else if (n > GP_MAX_AGENT)
		bad = "agent_id is longer than 256 characters";
	else if (ctx->tenant_id && (n = utf8_chars(ctx->tenant_id)) < 0)
		bad = "tenant_id is not valid UTF-8";
	else if (ctx->tenant_id && n > GP_MAX_TENANT)
		bad = "tenant_id is longer than 256 characters";
	else if (ctx->correlation_id && strlen(ctx->correlation_id) > GP_MAX_CORRELATION)
		bad = "correlation_id is longer than 128 characters";
	else if (ctx->correlation_id)
	{
		for (const char *c = ctx->correlation_id; *c; c++)
			if (!isalnum((unsigned char) *c) && !strchr("._:-", *c))
				bad = "correlation_id may only contain [A-Za-z0-9._:-]";
	}
	if (bad)
	{
		gp_error_set(err, GOVPOOL_ERR_MISUSE, "%s", bad);
		return false;
	}
	return true;
}

static void
fill_session(govpool_session *s, gp_entry *e, const govpool_context *ctx,
			 const char *file, int line)
{
	s->entry = e;
	s->state = GP_SESSION_QUEUED;
	snprintf(s->agent, sizeof(s->agent), "%s", ctx->agent_id);
	s->has_tenant = ctx->tenant_id != NULL;
	snprintf(s->tenant, sizeof(s->tenant), "%s", s->has_tenant ? ctx->tenant_id : "");
	s->has_correlation = ctx->correlation_id != NULL;
	snprintf(s->correlation, sizeof(s->correlation), "%s",
			 s->has_correlation ? ctx->correlation_id : "");
	s->file = file;
	s->line = line;
	s->leak_reported = false;
}

/* ---- The pipeline ---- */

typedef struct pl_query
{
	const char *sql;
	int			nparams;
	const char *const *params;
} pl_query;

/*
 * The context statement of a governed transaction: params[0..2] hold the
 * context (filled by the caller); with a statement timeout configured,
 * params[3] is pointed at its value, written into timeout.
 */
static pl_query
context_query(const govpool *pool, const char **params, char *timeout, size_t size)
{
	int			ms = pool->cfg.statement_timeout_ms;

	if (ms <= 0)
		return (pl_query) {set_context_sql, 3, params};
	snprintf(timeout, size, "%d", ms);
	params[3] = timeout;
	return (pl_query) {set_context_timeout_sql, 4, params};
}

/*
 * A statement cancelled (SQLSTATE 57014) while our statement timeout was in
 * effect names that timeout: the server's message says "statement timeout"
 * but not which one, nor where it was set.
 */
static void
note_timeout(const govpool *pool, govpool_error *err)
{
	size_t		n;

	if (err == NULL || pool->cfg.statement_timeout_ms <= 0 ||
		strcmp(err->sqlstate, "57014") != 0)
		return;
	n = strlen(err->message);
	snprintf(err->message + n, sizeof(err->message) - n,
			 " (the session's statement_timeout is %d ms)", pool->cfg.statement_timeout_ms);
}

typedef enum pl_outcome
{
	PL_OK,
	PL_NOT_SENT,				/* failed before anything reached the socket */
	PL_SERVER_ERROR,			/* query *failed_at failed; connection fine */
	PL_LOST						/* connection broke; see *failed_at */
} pl_outcome;

/* All results of the current pipeline query; keeps the last. */
static PGresult *
read_one(PGconn *conn)
{
	PGresult   *last = NULL,
			   *r;

	while ((r = PQgetResult(conn)) != NULL)
	{
		PQclear(last);
		last = r;
		if (PQstatus(conn) != CONNECTION_OK)
			break;
	}
	return last;
}

/*
 * The stats report (report.c), when one is due, goes first as its own
 * implicit transaction with its own Sync: whatever happens to it, the
 * queries after it run as if it were not there.  Its result is read here
 * and handed to gp_report_done; a lost connection while reading it counts
 * as a failure of query 0.
 */
static pl_outcome
send_report(govpool *pool, PGconn *conn, const char *report)
{
	const char *params[1] = {report};

	if (!PQsendQueryParams(conn, gp_report_sql, 1, NULL, params, NULL, NULL, 0) ||
		!PQpipelineSync(conn))
		return PL_NOT_SENT;		/* nothing of the caller's was sent */
	(void) pool;
	return PL_OK;
}

static bool
read_report(govpool *pool, PGconn *conn)
{
	PGresult   *r = read_one(conn),
			   *sync;
	bool		ok;

	gp_report_done(pool, PQstatus(conn) == CONNECTION_OK ? r : NULL);
	PQclear(r);
	if (PQstatus(conn) != CONNECTION_OK)
		return false;
	sync = PQgetResult(conn);
	ok = sync != NULL && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
	PQclear(sync);
	return ok;
}

/*
 * Send the due stats report (if report is not NULL, see send_report), then
 * n queries and one Sync, read every result.  res[i] get the results (NULL
 * where none arrived).  *failed_at is the first query whose result is an
 * error or missing.
 */
static pl_outcome
pipeline(govpool *pool, PGconn *conn, const char *report, int n, const pl_query *q,
		 PGresult **res, int *failed_at)
{
	PGresult   *sync;
	bool		server_error = false;

	*failed_at = -1;
	for (int i = 0; i < n; i++)
		res[i] = NULL;
	if (PQstatus(conn) != CONNECTION_OK || !PQenterPipelineMode(conn))
		return PL_NOT_SENT;
	if (report && send_report(pool, conn, report) != PL_OK)
		return PL_NOT_SENT;
	for (int i = 0; i < n; i++)
		if (!PQsendQueryParams(conn, q[i].sql, q[i].nparams, NULL, q[i].params, NULL, NULL, 0))
			return PL_NOT_SENT;
	if (!PQpipelineSync(conn))
	{
		*failed_at = 0;
		return PL_LOST;
	}
	if (report && !read_report(pool, conn))
	{
		*failed_at = 0;
		return PL_LOST;
	}
	for (int i = 0; i < n; i++)
	{
		ExecStatusType st;

		res[i] = read_one(conn);
		st = res[i] ? PQresultStatus(res[i]) : PGRES_FATAL_ERROR;
		if (PQstatus(conn) != CONNECTION_OK)
		{
			if (*failed_at < 0)
				*failed_at = i;
			return PL_LOST;
		}
		if ((st == PGRES_FATAL_ERROR || st == PGRES_PIPELINE_ABORTED) && *failed_at < 0)
		{
			*failed_at = i;
			server_error = true;
		}
	}
	sync = PQgetResult(conn);
	if (sync == NULL || PQresultStatus(sync) != PGRES_PIPELINE_SYNC)
	{
		PQclear(sync);
		if (*failed_at < 0)
			*failed_at = n;
		return PL_LOST;
	}
	PQclear(sync);
	if (!PQexitPipelineMode(conn))
	{
		if (*failed_at < 0)
			*failed_at = n;
		return PL_LOST;
	}
	return server_error ? PL_SERVER_ERROR : PL_OK;
}

static void
clear_results(PGresult **res, int n, int keep)
{
	for (int i = 0; i < n; i++)
		if (i != keep)
			PQclear(res[i]);
}

/* Name of query i of the governed pipeline, for messages. */
static const char *
step_name(int i, int stmt_index)
{
	if (i == 0)
		return "BEGIN";
	if (i == 1)
		return "governance.set_context";
	if (i == stmt_index)
		return NULL;
	return "COMMIT";
}

/* ROLLBACK after a server error; false if the connection is now unusable. */
static bool
rollback_now(PGconn *conn)
{
	PGresult   *r;
	bool		ok;

	if (PQtransactionStatus(conn) == PQTRANS_IDLE)
		return true;
	r = PQexec(conn, "ROLLBACK");
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok;
}

/* Reconnect a held slot for a retry that is known to be safe. */
static bool
reconnect(govpool *pool, gp_entry *e, govpool_error *err)
{
	gp_pool_invalidate(pool, e, "failed before sending");
	GP_INC(pool->retries);
	return gp_pool_reopen(pool, e, err);
}

/*
 * Send the queued BEGIN + set_context, plus sql when given, in one
 * pipeline.  On success the session is OPEN and *out (if sql) holds the
 * statement's result.  On failure: false, *err set, session FAILED (rolled
 * back, or its broken connection invalidated).
 */
static bool
send_prelude(govpool_session *s, const char *sql, int nparams, const char *const *params,
			 PGresult **out, govpool_error *err)
{
	gp_entry   *e = s->entry;
	govpool    *pool = e->pool;
	const char *ctxp[4] = {s->agent, s->has_tenant ? s->tenant : NULL,
	s->has_correlation ? s->correlation : NULL, NULL};
	char		timeout[16];
	pl_query	q[3] = {{"BEGIN", 0, NULL},
	context_query(pool, ctxp, timeout, sizeof(timeout)), {sql, nparams, params}};
	PGresult   *res[3];
	int			n = sql ? 3 : 2;
	int			failed_at;
	pl_outcome	o;
	char		report_buf[1024];
	const char *report = gp_report_take(pool, report_buf, sizeof(report_buf)) ? report_buf : NULL;
	int64_t		start = gp_now_ns();

	for (int attempt = 0;; attempt++)
	{
		o = pipeline(pool, e->conn, report, n, q, res, &failed_at);
		if (o != PL_NOT_SENT || attempt > 0)
			break;
		clear_results(res, n, -1);
		if (!reconnect(pool, e, err))
		{
			s->state = GP_SESSION_FAILED;
			GP_INC(pool->rolled_back);
			return false;
		}
	}

	switch (o)
	{
		case PL_OK:
			if (sql)
				gp_query_done(pool, start);
			s->state = GP_SESSION_OPEN;
			clear_results(res, n, sql ? 2 : -1);
			if (sql)
				*out = res[2];
			return true;
		case PL_SERVER_ERROR:
			gp_error_from_result(err, res[failed_at], step_name(failed_at, 2));
			note_timeout(pool, err);
			clear_results(res, n, -1);
			s->state = GP_SESSION_FAILED;
			GP_INC(pool->rolled_back);
			if (!rollback_now(e->conn))
				gp_pool_invalidate(pool, e, "ROLLBACK after an error failed");
			return false;
		case PL_NOT_SENT:
		case PL_LOST:
			if (failed_at >= 0 && failed_at < n && res[failed_at] &&
				PQresultErrorField(res[failed_at], PG_DIAG_SQLSTATE))
				gp_error_from_result(err, res[failed_at], step_name(failed_at, 2));
			else
				gp_error_from_conn(err, GOVPOOL_ERR_CONNECTION_LOST, e->conn, "connection lost");
			if (err)
				err->kind = GOVPOOL_ERR_CONNECTION_LOST;
			clear_results(res, n, -1);
			s->state = GP_SESSION_FAILED;
			GP_INC(pool->rolled_back);
			gp_pool_invalidate(pool, e, "connection lost during a session");
			return false;
	}
	return false;
}

/* ---- Public API ---- */

govpool_session *
govpool_begin_at(govpool *pool, const govpool_context *ctx, int timeout_ms,
				 govpool_error *err, const char *file, int line)
{
	gp_entry   *e;
	govpool_session *s;

	gp_error_clear(err);
	if (pool == NULL)
	{
		gp_error_set(err, GOVPOOL_ERR_MISUSE, "govpool_begin: no pool");
		return NULL;
	}
	if (!check_ctx(ctx, err))
		return NULL;
	e = gp_pool_checkout(pool, timeout_ms, err);
	if (e == NULL)
		return NULL;
	s = &e->session;
	fill_session(s, e, ctx, file, line);
	GP_INC(pool->begun);
	if (pool->cfg.leak_threshold_ms > 0)
	{
		s->begun_ns = gp_now_ns();
		pthread_mutex_lock(&pool->bag.lock);
		e->watched = true;
		pthread_mutex_unlock(&pool->bag.lock);
	}
	return s;
}

static bool
session_usable(govpool_session *s, govpool_error *err)
{
	if (s == NULL || s->state == GP_SESSION_ENDED)
	{
		gp_error_set(err, GOVPOOL_ERR_MISUSE, "the session has ended");
		return false;
	}
	if (s->state == GP_SESSION_FAILED)
	{
		gp_error_set(err, GOVPOOL_ERR_ROLLED_BACK,
					 "the session was rolled back after an earlier error; end it with govpool_rollback");
		return false;
	}
	return true;
}

PGresult *
govpool_exec(govpool_session *s, const char *sql, int nparams, const char *const *params,
			 govpool_error *err)
{
	PGconn	   *conn;
	PGresult   *r;
	ExecStatusType st;
	int64_t		start;

	gp_error_clear(err);
	if (!session_usable(s, err))
		return NULL;
	if (sql == NULL || nparams < 0 || (nparams > 0 && params == NULL))
	{
		gp_error_set(err, GOVPOOL_ERR_MISUSE, "govpool_exec: bad sql or parameters");
		return NULL;
	}
	gp_echo(s->entry->pool, s, sql);
	if (s->state == GP_SESSION_QUEUED)
	{
		r = NULL;
		return send_prelude(s, sql, nparams, params, &r, err) ? r : NULL;
	}

	conn = s->entry->conn;
	start = gp_now_ns();
	r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(r);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		gp_query_done(s->entry->pool, start);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		gp_error_from_conn(err, GOVPOOL_ERR_CONNECTION_LOST, conn, "connection lost");
		PQclear(r);
		s->state = GP_SESSION_FAILED;
		GP_INC(s->entry->pool->rolled_back);
		gp_pool_invalidate(s->entry->pool, s->entry, "connection lost during a session");
		return NULL;
	}
	if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || r == NULL)
	{
		gp_error_from_result(err, r, NULL);
		note_timeout(s->entry->pool, err);
		PQclear(r);
		s->state = GP_SESSION_FAILED;
		GP_INC(s->entry->pool->rolled_back);
		if (!rollback_now(conn))
			gp_pool_invalidate(s->entry->pool, s->entry, "ROLLBACK after an error failed");
		return NULL;
	}
	if (PQtransactionStatus(conn) == PQTRANS_IDLE)
	{
		/* the statement itself ended the governed transaction */
		PQclear(r);
		gp_error_set(err, GOVPOOL_ERR_MISUSE,
					 "the statement ended the session's transaction; use govpool_commit/govpool_rollback");
		s->state = GP_SESSION_FAILED;
		GP_INC(s->entry->pool->rolled_back);
		return NULL;
	}
	return r;
}

PGconn *
govpool_conn(govpool_session *s)
{
	if (!session_usable(s, NULL))
		return NULL;
	if (s->state == GP_SESSION_QUEUED && !send_prelude(s, NULL, 0, NULL, NULL, NULL))
		return NULL;
	return s->entry->conn;
}

govpool_status
govpool_commit(govpool_session *s, govpool_error *err)
{
	gp_entry   *e;
	govpool    *pool;
	govpool_status rc = GOVPOOL_OK;

	gp_error_clear(err);
	if (s == NULL || s->state == GP_SESSION_ENDED)
	{
		gp_error_set(err, GOVPOOL_ERR_MISUSE, "govpool_commit: the session has already ended");
		return GOVPOOL_ERR_MISUSE;
	}
	e = s->entry;
	pool = e->pool;
	if (s->state == GP_SESSION_FAILED)
	{
		gp_error_set(err, GOVPOOL_ERR_ROLLED_BACK,
					 "not committed: the session was rolled back after an earlier error");
		rc = GOVPOOL_ERR_ROLLED_BACK;
	}
	else if (s->state == GP_SESSION_QUEUED)
		GP_INC(pool->committed);	/* nothing was sent: nothing to commit */
	else
	{
		PGresult   *r;

		gp_echo(pool, s, "COMMIT");
		r = PQexec(e->conn, "COMMIT");
		if (PQstatus(e->conn) != CONNECTION_OK)
		{
			gp_error_from_conn(err, GOVPOOL_ERR_COMMIT_UNKNOWN, e->conn,
							   "connection lost during COMMIT: outcome unknown");
			rc = GOVPOOL_ERR_COMMIT_UNKNOWN;
		}
		else if (PQresultStatus(r) != PGRES_COMMAND_OK)
		{
			gp_error_from_result(err, r, "COMMIT");
			note_timeout(pool, err);
			rc = GOVPOOL_ERR_QUERY;
			GP_INC(pool->rolled_back);
		}
		else if (strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
		{
			gp_error_set(err, GOVPOOL_ERR_ROLLED_BACK,
						 "not committed: the transaction had failed, the server rolled it back");
			rc = GOVPOOL_ERR_ROLLED_BACK;
			GP_INC(pool->rolled_back);
		}
		else
			GP_INC(pool->committed);
		PQclear(r);
	}
	gp_pool_checkin(pool, e);
	return rc;
}

void
govpool_rollback(govpool_session *s)
{
	gp_entry   *e;

	if (s == NULL || s->state == GP_SESSION_ENDED)
		return;
	e = s->entry;
	if (s->state == GP_SESSION_OPEN)
	{
		gp_echo(e->pool, s, "ROLLBACK");
		if (!rollback_now(e->conn))
			gp_pool_invalidate(e->pool, e, "ROLLBACK failed");
	}
	if (s->state != GP_SESSION_FAILED)
		GP_INC(e->pool->rolled_back);
	gp_pool_checkin(e->pool, e);
}

PGresult *
govpool_run(govpool *pool, const govpool_context *ctx, const char *sql, int nparams,
			const char *const *params, govpool_error *err)
{
	gp_entry   *e;
	pl_query	q[4];
	PGresult   *res[4];
	const char *ctxp[4];
	char		timeout[16];
	int			failed_at = -1;
	pl_outcome	o = PL_NOT_SENT;
	char		report_buf[1024];
	const char *report;
	int64_t		start;

	gp_error_clear(err);
	if (pool == NULL || sql == NULL || nparams < 0 || (nparams > 0 && params == NULL))
	{
		gp_error_set(err, GOVPOOL_ERR_MISUSE, "govpool_run: bad arguments");
		return NULL;
	}
	if (!check_ctx(ctx, err))
		return NULL;
	e = gp_pool_checkout(pool, -1, err);
	if (e == NULL)
		return NULL;
	GP_INC(pool->begun);
	ctxp[0] = ctx->agent_id;
	ctxp[1] = ctx->tenant_id;
	ctxp[2] = ctx->correlation_id;
	q[0] = (pl_query) {"BEGIN", 0, NULL};
	q[1] = context_query(pool, ctxp, timeout, sizeof(timeout));
	q[2] = (pl_query) {sql, nparams, params};
	q[3] = (pl_query) {"COMMIT", 0, NULL};
	if (pool->cfg.echo)
	{
		fill_session(&e->session, e, ctx, NULL, 0);
		gp_echo(pool, &e->session, sql);
	}

	report = gp_report_take(pool, report_buf, sizeof(report_buf)) ? report_buf : NULL;
	start = gp_now_ns();
	for (int attempt = 0; attempt < 2; attempt++)
	{
		o = pipeline(pool, e->conn, report, 4, q, res, &failed_at);
		if (o != PL_NOT_SENT)
			break;
		clear_results(res, 4, -1);
		if (attempt == 0 && !reconnect(pool, e, err))
		{
			gp_bag_remove(&pool->bag, e);
			return NULL;
		}
	}

	switch (o)
	{
		case PL_OK:
			gp_query_done(pool, start);
			clear_results(res, 4, 2);
			GP_INC(pool->committed);
			gp_pool_checkin(pool, e);
			return res[2];
		case PL_SERVER_ERROR:
			gp_error_from_result(err, res[failed_at], step_name(failed_at, 2));
			note_timeout(pool, err);
			clear_results(res, 4, -1);
			GP_INC(pool->rolled_back);
			if (!rollback_now(e->conn))
				gp_pool_invalidate(pool, e, "ROLLBACK after an error failed");
			gp_pool_checkin(pool, e);
			return NULL;
		case PL_NOT_SENT:
			gp_error_from_conn(err, GOVPOOL_ERR_CONNECTION_LOST, e->conn,
							   "could not send (nothing was executed)");
			break;
		case PL_LOST:
			/*
			 * An error response for a query before COMMIT means the server
			 * skipped the rest: not committed.  Otherwise COMMIT may have run.
			 */
			if (failed_at >= 0 && failed_at < 3 && res[failed_at] &&
				PQresultErrorField(res[failed_at], PG_DIAG_SQLSTATE))
			{
				gp_error_from_result(err, res[failed_at], step_name(failed_at, 2));
				if (err)
					err->kind = GOVPOOL_ERR_CONNECTION_LOST;
			}
			else
				gp_error_from_conn(err, GOVPOOL_ERR_COMMIT_UNKNOWN, e->conn,
								   "connection lost after COMMIT was sent: outcome unknown, not retried");
			break;
	}
	/* connection unusable */
	{
		bool		unknown = err && err->kind == GOVPOOL_ERR_COMMIT_UNKNOWN;

		clear_results(res, 4, -1);
		if (!unknown)
			GP_INC(pool->rolled_back);
		gp_pool_invalidate(pool, e, "connection lost during govpool_run");
		gp_pool_checkin(pool, e);
	}
	return NULL;
}
