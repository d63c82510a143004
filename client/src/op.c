/*
 * op.c
 *	  The one state machine of libgovpool: checkout (queue, validate, connect
 *	  with PQconnectStart/PQconnectPoll, retry, breaker), the governed
 *	  statements (run, the first-statement prelude, exec, commit, rollback),
 *	  health, and checkin (reset on return, keep or close), driven step by
 *	  step without ever blocking.
 *
 * The non-blocking API (govpool_*_start, govpool_op_poll) drives it from
 * the caller's event loop; the blocking API (govpool_run, govpool_begin,
 * ...) drives it with gp_op_block, which waits with poll() on the socket
 * and on a condition variable for a queued checkout.  So a session's
 * protocol lives here only.
 *
 * Why one file of about 2,000 lines: the states of one operation call each
 * other (a statement that finds its connection dead goes back to checkout,
 * a checkout that connects goes on to the statement, every failure goes
 * through one path to checkin), and keeping them in one translation unit
 * keeps every transition visible and every helper static.  What does not
 * step the machine lives elsewhere: the queue (bag.c), connections
 * (entry.c), the breaker (breaker.c), the context (context.c), reports
 * (report.c).
 *
 * An operation is owned by one thread at a time.  It holds its pool entry
 * (slot) from the moment the bag hands it out until checkin gives it back;
 * nothing else touches the entry's connection meanwhile.  The bag lock is
 * never held across network work.
 *
 * Every statement goes out as a libpq pipeline with one Sync in
 * non-blocking mode: queued by PQsendQueryParams, pushed by PQflush,
 * results read with PQconsumeInput/PQisBusy/PQgetResult as they arrive.
 * A due stats report (report.c) rides in front as its own implicit
 * transaction with its own Sync.
 *
 * Governance at the price of one statement: govpool_run sends no BEGIN
 * and no COMMIT.  Everything up to a Sync runs as one implicit
 * transaction, so governance.set_context(..., true) and the statement
 * share it, the sealed context ends at the Sync, and the transaction
 * commits there: deferred triggers and constraints run at that point and
 * their error arrives as an error result ahead of the Sync's, which we
 * report as the failed COMMIT.  The set_context statement is prepared once
 * per connection (a PREPARE in front of the first pipeline; forgotten
 * when the connection closes or is DISCARDed; when the server says it is
 * missing, the operation is resent once with the context as text and the
 * next one prepares it again) unless prepare_context says otherwise.
 * Sessions (begin/exec/commit) keep their explicit BEGIN/COMMIT and use
 * the same prepared statement.  The caller's statement goes through the
 * connection's statement cache (stmtcache.c): from its second use it is
 * prepared in the same pipeline and then executed by name; when the server
 * lost it (26000), has its name (42P05) or refuses its plan (0A000), the
 * entry is dropped and, where nothing of the caller's ran (govpool_run, a
 * session's first statement), the operation is resent once with the
 * statement as text; later statements of a session return the error.
 *
 * Retry rule: a governed statement is retried on a fresh connection only
 * when it failed before anything was handed to the socket.  Once the
 * pipeline is sent nothing is retried; if the connection breaks after a
 * COMMIT was sent and before its result arrived, the outcome is unknown.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "govpool_int.h"

/* Phases of an operation; batches come back to b.next_phase. */
enum
{
	PH_IDLE = 0,				/* never started */
	PH_FINISHED,				/* outcome in err (kind OK or not) */
	PH_CHECKOUT,
	PH_QUEUED,
	PH_VALIDATE,
	PH_PING_DONE,
	PH_CONNECT,
	PH_CONNECTING,
	PH_BACKOFF,
	PH_ACQUIRED,
	PH_BATCH_SEND,
	PH_BATCH_FLUSH,
	PH_BATCH_READ,
	PH_RUN_SEND,
	PH_RUN_DONE,
	PH_EXEC_SEND,
	PH_EXEC_DONE,
	PH_COMMIT_SEND,
	PH_COMMIT_DONE,
	PH_ROLLBACK_SEND,
	PH_ROLLBACK_DONE,
	PH_ERROR_ROLLBACK_DONE,
	PH_HEALTH_DONE,
	PH_CHECKIN,
	PH_CHECKIN_RESET_DONE,
	PH_CHECKIN_FINISH
};

#define CONTINUE (-1)

/*
 * The prelude's second statement.  With a statement timeout it is set in
 * the same statement, after the context (the statement that sets it runs
 * under the server's own timeout; every later one under ours).
 */
static const char set_context_sql[] = "SELECT governance.set_context($1, $2, $3, true)";
static const char set_context_timeout_sql[] =
	"SELECT governance.set_context($1, $2, $3, true), "
	"pg_catalog.set_config('statement_timeout', $4, true)";

/* Their prepared names (distinct: two pools may share a pooled server). */
static const char set_context_stmt[] = "govpool_set_context";
static const char set_context_timeout_stmt[] = "govpool_set_context_timeout";

/*
 * The server's word that our prepared statement is missing (26000) or was
 * already there when we prepared it (42P05): auto mode stops preparing
 * after this many, the sign of a transaction pooler nobody declared.
 */
#define GP_CTX_VANISHED_LIMIT 3

/* ---- small helpers ---- */

int64_t
govpool_now_ns(void)
{
	return gp_now_ns();
}

int
govpool_wait_timeout_ms(const govpool_wait *w)
{
	int64_t		left;

	if (w == NULL || w->deadline_ns < 0)
		return -1;
	left = w->deadline_ns - gp_now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > 1000000000 ? 1000000000 : (int) left;
}

static int
wait_for(govpool_wait *w, govpool_poll p, int fd, int64_t deadline_ns)
{
	if (w)
	{
		w->fd = fd;
		w->want_read = p == GOVPOOL_POLL_READING || p == GOVPOOL_POLL_WRITING;
		w->want_write = p == GOVPOOL_POLL_WRITING;
		w->deadline_ns = deadline_ns;
	}
	return p;
}

/* Is fd ready for what we wait on?  (Protects PQconnectPoll from early calls.) */
static bool
fd_ready(int fd, bool write)
{
	struct pollfd pfd = {fd, (short) (write ? POLLOUT : POLLIN), 0};
	int			rc;

	if (fd < 0)
		return true;
	do
		rc = poll(&pfd, 1, 0);
	while (rc < 0 && errno == EINTR);
	return rc != 0;
}

/* Is the context statement prepared per connection (prepare_context)? */
static bool
prepare_context(govpool *pool)
{
	switch (pool->cfg.prepare_context)
	{
		case GOVPOOL_PREPARE_ON:
			return true;
		case GOVPOOL_PREPARE_OFF:
			return false;
		case GOVPOOL_PREPARE_AUTO:
			break;
	}
	return pool->cfg.pooler != GOVPOOL_POOLER_TRANSACTION &&
		!__atomic_load_n(&pool->ctx_prepare_off, __ATOMIC_RELAXED);
}

/*
 * Queue the context statement at b->q[at]: its PREPARE first when this
 * connection has not got it, then its execution (or its text, when not
 * prepared).  Sets b->prepare_at and b->context_at; returns the next index.
 */
static int
context_queries(govpool_op *op, int at)
{
	gp_batch   *b = &op->b;
	int			ms = op->pool->cfg.statement_timeout_ms;
	gp_query	q = {set_context_sql, 3, GQ_CTX_TEXT};

	if (ms > 0)
	{
		snprintf(op->timeout_buf, sizeof(op->timeout_buf), "%d", ms);
		op->ctx[3] = op->timeout_buf;
		q.sql = set_context_timeout_sql;
		q.nparams = 4;
	}
	b->prepare_at = -1;
	b->context_bit = 0;
	if (prepare_context(op->pool) && !op->ctx_lost)
	{
		b->context_bit = ms > 0 ? 2 : 1;
		if (!(op->entry->ctx_prepared & b->context_bit))
		{
			b->prepare_at = at;
			b->q[at++] = (gp_query) {q.sql, q.nparams, GQ_PREPARE};
		}
		q.kind = GQ_EXECUTE;
	}
	b->context_at = at;
	b->q[at++] = q;
	return at;
}

/*
 * Is the statement cache in use?  Where the context statement is prepared
 * (prepare_context: not behind a transaction pooler, not after auto mode
 * gave up), with a size.
 */
static bool
cache_statements(govpool *pool)
{
	return pool->cfg.statement_cache > 0 && prepare_context(pool);
}

/*
 * Queue the caller's statement at b->q[at]: executed by name when the
 * connection's cache has it (prepared first, in the same pipeline, when
 * the server has not got it yet), else as text.  Sets b->stmt_at and
 * b->stmt_prepare_at; returns the next index.  The lookup happens once
 * per connection and operation: a resend does not count as another use.
 */
static int
stmt_queries(govpool_op *op, int at)
{
	gp_batch   *b = &op->b;
	gp_entry   *e = op->entry;

	b->stmt_prepare_at = -1;
	if (!op->stmt_looked)
	{
		op->stmt_looked = true;
		b->stmt_slot = -1;
		if (cache_statements(op->pool))
		{
			if (e->stmts == NULL)
				e->stmts = gp_stmt_cache_new(op->pool->cfg.statement_cache);
			b->stmt_slot = (int16_t) gp_stmt_lookup(e->stmts, op->sql, op->nparams);
		}
	}
	if (b->stmt_slot >= 0 && !op->stmt_text && cache_statements(op->pool))
	{
		if (!gp_stmt_prepared(e->stmts, b->stmt_slot))
		{
			b->stmt_prepare_at = at;
			b->q[at++] = (gp_query) {op->sql, op->nparams, GQ_STMT_PREPARE};
		}
		b->stmt_at = at;
		b->q[at++] = (gp_query) {op->sql, op->nparams, GQ_STMT_EXECUTE};
		return at;
	}
	b->stmt_at = at;
	b->q[at++] = (gp_query) {op->sql, op->nparams, GQ_TEXT};
	return at;
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

	if (pool->cfg.statement_timeout_ms <= 0 || strcmp(err->sqlstate, "57014") != 0)
		return;
	n = strlen(err->message);
	snprintf(err->message + n, sizeof(err->message) - n,
			 " (the session's statement_timeout is %d ms)", pool->cfg.statement_timeout_ms);
}

static void
clear_results(gp_batch *b, int keep)
{
	for (int i = 0; i < GP_BATCH_MAX; i++)
	{
		if (i != keep)
			PQclear(b->res[i]);
		b->res[i] = NULL;
	}
	PQclear(b->report_res);
	b->report_res = NULL;
	PQclear(b->sync_err);
	b->sync_err = NULL;
}

static int
finish(govpool_op *op)
{
	op->phase = PH_FINISHED;
	return CONTINUE;
}

/* The entry's connection is gone or unusable: drop it and free the slot. */
static void
drop_entry(govpool_op *op, const char *why)
{
	gp_entry   *e = op->entry;

	if (e == NULL)
		return;
	if (e->watched)
	{
		pthread_mutex_lock(&op->pool->bag.lock);
		e->watched = false;
		pthread_mutex_unlock(&op->pool->bag.lock);
	}
	e->session.state = GP_SESSION_ENDED;
	if (why)
		gp_pool_invalidate(op->pool, e, why);
	else
		gp_entry_close(e);
	gp_bag_remove(&op->pool->bag, e);
	op->entry = NULL;
}

/* ---- Batches: one pipeline, one Sync, read as results arrive ---- */

/*
 * Send q[0..n-1] (filled by the caller, who also sets prepare_at,
 * context_at and stmt_at) and come back to next_phase once read.
 */
static int
batch(govpool_op *op, int n, bool report, int next_phase)
{
	gp_batch   *b = &op->b;

	b->n = n;
	for (int i = 0; i < GP_BATCH_MAX; i++)
		b->res[i] = NULL;
	b->report_res = b->sync_err = NULL;
	b->sync_null = false;
	b->report = report;
	b->pos = 0;
	b->side = b->n_side = b->n_closes = 0;
	b->side_sync = false;
	b->failed_at = -1;
	b->server_error = false;
	b->outcome = GB_OK;
	b->next_phase = next_phase;
	op->phase = PH_BATCH_SEND;
	return CONTINUE;
}

static int
batch_end(govpool_op *op, gp_batch_outcome o, int failed_at)
{
	gp_batch   *b = &op->b;

	/* a PREPARE that succeeded holds whatever came after it */
	if (b->prepare_at >= 0 && b->res[b->prepare_at] && op->entry &&
		PQresultStatus(b->res[b->prepare_at]) == PGRES_COMMAND_OK)
		op->entry->ctx_prepared |= b->context_bit;
	/* the same for the caller's statement (a Parse outlives its transaction) */
	if (b->stmt_prepare_at >= 0 && b->res[b->stmt_prepare_at] && op->entry &&
		PQresultStatus(b->res[b->stmt_prepare_at]) == PGRES_COMMAND_OK)
		gp_stmt_set_prepared(op->entry->stmts, b->stmt_slot);
	op->b.outcome = o;
	if (failed_at >= 0 && op->b.failed_at < 0)
		op->b.failed_at = failed_at;
	op->phase = op->b.next_phase;
	return CONTINUE;
}

static int
batch_send(govpool_op *op)
{
	gp_batch   *b = &op->b;
	PGconn	   *conn = op->entry ? op->entry->conn : NULL;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK ||
		(!PQisnonblocking(conn) && PQsetnonblocking(conn, 1) != 0) ||
		!PQenterPipelineMode(conn))
		return batch_end(op, GB_NOT_SENT, -1);
	if (b->report)
	{
		char	   *json = gp_report_take(op->pool, PQbackendPID(conn));
		const char *params[1] = {json};
		bool		sent;

		b->report = json != NULL;
		sent = !b->report ||
			(PQsendQueryParams(conn, gp_report_sql, 1, NULL, params, NULL, NULL, 0) &&
			 PQpipelineSync(conn));
		free(json);
		if (!sent)
			return batch_end(op, GB_NOT_SENT, -1);
		b->n_side = b->report ? 1 : 0;
	}

	/*
	 * Statements evicted from the cache are closed here, each in a segment
	 * of its own: outside a transaction, so that its failure (the server
	 * had lost it already) aborts nothing of ours.
	 */
	if (op->entry->stmts && PQtransactionStatus(conn) == PQTRANS_IDLE &&
		(op->kind == GP_OP_RUN || op->kind == GP_OP_EXEC))
	{
		const char *closes[GP_STMT_CLOSE_MAX];
		int			nc = gp_stmt_closing(op->entry->stmts, closes);

		for (int i = 0; i < nc; i++)
			if (!PQsendQueryParams(conn, closes[i], 0, NULL, NULL, NULL, NULL, 0) ||
				!PQpipelineSync(conn))
				return batch_end(op, GB_NOT_SENT, -1);
		gp_stmt_closed(op->entry->stmts, nc);
		b->n_closes = (int8_t) nc;
		b->n_side += (int8_t) nc;
	}
	for (int i = 0; i < b->n; i++)
	{
		const gp_query *q = &b->q[i];
		const char *name = b->context_bit == 2 ? set_context_timeout_stmt : set_context_stmt;
		const char *const *params = op->params;
		int			ok;

		if (q->kind == GQ_EXECUTE || q->kind == GQ_CTX_TEXT)
			params = op->ctx;
		if (q->kind == GQ_STMT_PREPARE || q->kind == GQ_STMT_EXECUTE)
			name = gp_stmt_name(op->entry->stmts, b->stmt_slot);
		if (q->kind == GQ_PREPARE || q->kind == GQ_STMT_PREPARE)
			ok = PQsendPrepare(conn, name, q->sql, q->nparams, NULL);
		else if (q->kind == GQ_EXECUTE || q->kind == GQ_STMT_EXECUTE)
			ok = PQsendQueryPrepared(conn, name, q->nparams, params, NULL, NULL, 0);
		else
			ok = PQsendQueryParams(conn, q->sql, q->nparams, NULL, q->nparams ? params : NULL,
								   NULL, NULL, 0);
		if (!ok)
			return batch_end(op, GB_NOT_SENT, -1);
	}
	if (op->kind == GP_OP_RUN || op->kind == GP_OP_COMMIT)
		op->commit_sent = true;
	if (!PQpipelineSync(conn))
		return batch_end(op, GB_LOST, 0);
	op->phase = PH_BATCH_FLUSH;
	return CONTINUE;
}

/*
 * Push the pipeline out, then wait for its answer.  No read is tried
 * before the first wait: the answer cannot have arrived before the request
 * left, and a read that finds nothing is a wasted system call (reading
 * first made three reads per transaction where the ungoverned statement
 * makes one; test_reads.c counts them).  While the socket will not take
 * all of it, PQflush reads what the server sends meanwhile (the server may
 * be blocked writing to us), as libpq's pqSendSome does.
 */
static int
batch_flush(govpool_op *op, govpool_wait *w)
{
	PGconn	   *conn = op->entry->conn;
	int			rc;

	rc = PQflush(conn);
	if (rc < 0 || PQstatus(conn) != CONNECTION_OK)
		return batch_end(op, GB_LOST, 0);
	if (rc > 0)
		return wait_for(w, GOVPOOL_POLL_WRITING, PQsocket(conn), -1);
	op->phase = PH_BATCH_READ;
	if (PQisBusy(conn))			/* parses what is buffered; never reads */
		return wait_for(w, GOVPOOL_POLL_READING, PQsocket(conn), -1);
	return CONTINUE;
}

static int
batch_read(govpool_op *op, govpool_wait *w)
{
	gp_batch   *b = &op->b;
	PGconn	   *conn = op->entry->conn;

	/* a failed read still leaves what arrived before EOF to be parsed */
	(void) PQconsumeInput(conn);
	for (;;)
	{
		PGresult   *r;
		int			i = b->pos;

		if (PQisBusy(conn))
		{
			if (PQstatus(conn) != CONNECTION_OK)
				return batch_end(op, GB_LOST, b->side < b->n_side ? 0 : i);
			return wait_for(w, GOVPOOL_POLL_READING, PQsocket(conn), -1);
		}
		r = PQgetResult(conn);
		if (b->side < b->n_side && !b->side_sync)
		{
			/*
			 * A side segment: the report (keep its last result until its
			 * NULL), then the DEALLOCATEs of evicted statements (their
			 * errors mean the server had lost them already: ignored).
			 */
			bool		report = b->report && b->side == 0;

			if (r && report)
			{
				PQclear(b->report_res);
				b->report_res = r;
			}
			else
				PQclear(r);
			if (PQstatus(conn) != CONNECTION_OK)
			{
				if (report)
					gp_report_done(op->pool, NULL);
				PQclear(b->report_res);
				b->report_res = NULL;
				return batch_end(op, GB_LOST, 0);
			}
			if (r == NULL)
			{
				if (report)
					gp_report_done(op->pool, b->report_res);
				PQclear(b->report_res);
				b->report_res = NULL;
				b->side_sync = true;
			}
			continue;
		}
		if (b->side < b->n_side)
		{
			bool		ok = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;

			PQclear(r);
			if (!ok || PQstatus(conn) != CONNECTION_OK)
				return batch_end(op, GB_LOST, 0);
			b->side++;
			b->side_sync = false;
			continue;
		}
		if (i < b->n)
		{
			if (r)
			{
				PQclear(b->res[i]);
				b->res[i] = r;
			}
			if (PQstatus(conn) != CONNECTION_OK)
				return batch_end(op, GB_LOST, i);
			if (r == NULL)
			{
				ExecStatusType st = b->res[i] ? PQresultStatus(b->res[i]) : PGRES_FATAL_ERROR;

				if ((st == PGRES_FATAL_ERROR || st == PGRES_PIPELINE_ABORTED) && b->failed_at < 0)
				{
					b->failed_at = i;
					b->server_error = true;
				}
				b->pos++;
			}
			continue;
		}
		/*
		 * The Sync.  An error result ahead of it (then a NULL) is the
		 * implicit transaction failing to commit: a deferred constraint or
		 * trigger, a serialization failure.  Nothing was committed.
		 */
		if (r && PQresultStatus(r) == PGRES_FATAL_ERROR && b->sync_err == NULL)
		{
			b->sync_err = r;
			if (b->failed_at < 0)
			{
				b->failed_at = b->n;
				b->server_error = true;
			}
			if (PQstatus(conn) != CONNECTION_OK)
				return batch_end(op, GB_LOST, b->n);
			continue;
		}
		if (r == NULL && b->sync_err && !b->sync_null && PQstatus(conn) == CONNECTION_OK)
		{
			b->sync_null = true;
			continue;
		}
		{
			bool		ok = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;

			PQclear(r);
			if (!ok || PQstatus(conn) != CONNECTION_OK || !PQexitPipelineMode(conn))
				return batch_end(op, GB_LOST, b->n);
			return batch_end(op, b->server_error ? GB_SERVER_ERROR : GB_OK, -1);
		}
	}
}

/* One statement (no parameters) as a batch of its own. */
static int
batch1(govpool_op *op, const char *sql, int next_phase)
{
	op->b.q[0] = (gp_query) {sql, 0, GQ_TEXT};
	op->b.prepare_at = op->b.context_at = op->b.stmt_at = op->b.stmt_prepare_at = -1;
	op->b.context_bit = 0;
	return batch(op, 1, false, next_phase);
}

/* Did the one-statement batch just read succeed with status st? */
static bool
batch1_ok(govpool_op *op, ExecStatusType st)
{
	bool		ok = op->b.outcome == GB_OK && op->b.res[0] &&
		PQresultStatus(op->b.res[0]) == st;

	clear_results(&op->b, -1);
	return ok;
}

/* ---- Checkout ---- */

static void
op_wake(void *arg)
{
	govpool_op *op = arg;

	if (op->wake_fn)
		op->wake_fn(op, op->wake_ud);
}

static int
borrowed(govpool_op *op, gp_borrow_result r, gp_entry *e)
{
	govpool    *pool = op->pool;
	const govpool_config *c = &pool->cfg;

	switch (r)
	{
		case GP_BORROW_QUEUED:
			op->phase = PH_QUEUED;
			return CONTINUE;
		case GP_BORROW_TIMEOUT:
			{
				int			waiters;

				pthread_mutex_lock(&pool->bag.lock);
				waiters = pool->bag.n_waiters;
				pthread_mutex_unlock(&pool->bag.lock);
				gp_error_set(&op->err, GOVPOOL_ERR_TIMEOUT,
							 "pool exhausted: all %d connections in use (pool_size=%d, max_overflow=%d), "
							 "none free within timeout=%d ms (%d other callers waiting)",
							 c->pool_size + c->max_overflow, c->pool_size, c->max_overflow,
							 op->timeout_ms, waiters);
				gp_log(&pool->logger, GOVPOOL_LOG_WARN, "pool_exhausted", "error",
					   op->err.message, (char *) NULL);
				return finish(op);
			}
		case GP_BORROW_CLOSED:
			gp_error_set(&op->err, GOVPOOL_ERR_CLOSED, "pool is being destroyed");
			return finish(op);
		case GP_BORROW_OPEN:
			op->entry = e;
			op->attempt = 0;
			op->phase = PH_CONNECT;
			return CONTINUE;
		case GP_BORROW_IDLE:
			op->entry = e;
			op->phase = PH_VALIDATE;
			return CONTINUE;
	}
	return finish(op);
}

static int
checkout(govpool_op *op)
{
	govpool    *pool = op->pool;
	gp_entry   *e = NULL;
	gp_borrow_result r;

	if (pool->failed)
	{
		gp_error_set(&op->err, GOVPOOL_ERR_CLOSED, "pool failed to start: %s",
					 pool->start_error.message);
		return finish(op);
	}
	if (op->timeout_ms < 0)
		op->timeout_ms = pool->cfg.pool_timeout_ms;
	op->deadline_ns = op->timeout_ms > 0 ? gp_now_ns() + (int64_t) op->timeout_ms * 1000000 : -1;
	op->waiter.cond = NULL;
	op->waiter.wake = op_wake;
	op->waiter.wake_arg = op;
	r = gp_bag_try_borrow(&pool->bag, &op->waiter, op->deadline_ns, &e);
	if (r == GP_BORROW_QUEUED || r == GP_BORROW_TIMEOUT)
		GP_INC(pool->m.exhaustion_events);
	if (r != GP_BORROW_QUEUED && r != GP_BORROW_CLOSED)
		gp_metrics_wait(&pool->m, 0, r == GP_BORROW_TIMEOUT);
	return borrowed(op, r, e);
}

static int
queued(govpool_op *op, govpool_wait *w)
{
	gp_entry   *e = NULL;
	gp_borrow_result r = gp_bag_check_wait(&op->pool->bag, &op->waiter, op->deadline_ns, &e);

	if (r == GP_BORROW_QUEUED)
		return wait_for(w, GOVPOOL_POLL_WAITING, -1, op->deadline_ns);
	if (r != GP_BORROW_CLOSED)
		gp_metrics_wait(&op->pool->m, gp_now_ns() - op->waiter.since_ns, r == GP_BORROW_TIMEOUT);
	return borrowed(op, r, e);
}

/* An idle connection: is it still good?  (No round trip unless pre-ping.) */
static int
validate(govpool_op *op)
{
	govpool    *pool = op->pool;
	const govpool_config *c = &pool->cfg;
	gp_entry   *e = op->entry;
	int64_t		now = gp_now_ns();
	int64_t		idle_ms = (now - e->last_used_ns) / 1000000;
	const char *why = NULL;

	if (c->pool_recycle_ms > 0 && (now - e->created_ns) / 1000000 >= c->pool_recycle_ms)
	{
		GP_INC(pool->m.recycled);
		gp_log(&pool->logger, GOVPOOL_LOG_DEBUG, "recycle", (char *) NULL);
		gp_entry_close(e);
	}
	else if (idle_ms >= c->liveness_idle_ms)
	{
		gp_liveness l = gp_entry_liveness(e);

		if (l == GP_DEAD)
			why = "socket closed by the server";
		else if (l == GP_UNSURE || (c->preping_idle_ms >= 0 && idle_ms > c->preping_idle_ms))
			return batch1(op, "SELECT 1", PH_PING_DONE);
	}
	if (why)
	{
		GP_INC(pool->m.invalidated);
		gp_log(&pool->logger, GOVPOOL_LOG_INFO, "connection_replaced", "reason", why, (char *) NULL);
		gp_entry_close(e);
	}
	op->attempt = 0;
	op->phase = e->conn ? PH_ACQUIRED : PH_CONNECT;
	return CONTINUE;
}

static int
ping_done(govpool_op *op)
{
	govpool    *pool = op->pool;
	bool		ok = batch1_ok(op, PGRES_TUPLES_OK) &&
		PQtransactionStatus(op->entry->conn) == PQTRANS_IDLE;

	if (ok)
	{
		op->phase = PH_ACQUIRED;
		return CONTINUE;
	}
	GP_INC(pool->m.invalidated);
	gp_log(&pool->logger, GOVPOOL_LOG_INFO, "connection_replaced", "reason", "pre-ping failed",
		   (char *) NULL);
	gp_entry_close(op->entry);
	op->attempt = 0;
	op->phase = PH_CONNECT;
	return CONTINUE;
}

/* No connection could be opened into the slot we hold: give up. */
static int
connect_gave_up(govpool_op *op)
{
	if (op->reopening && op->kind == GP_OP_EXEC)
	{
		/* a session's retry: the session is failed, its slot stays with it */
		govpool_session *s = op->session;

		s->state = GP_SESSION_FAILED;
		GP_INC(op->pool->m.rolled_back);
		op->entry = NULL;
		return finish(op);
	}
	drop_entry(op, NULL);
	return finish(op);
}

static int
connect_start(govpool_op *op, govpool_wait *w)
{
	govpool    *pool = op->pool;
	gp_entry   *e = op->entry;
	int64_t		now = gp_now_ns();
	bool		allowed;
	int			secs;
	char		why[GOVPOOL_MESSAGE_MAX];

	pthread_mutex_lock(&pool->bag.lock);
	allowed = gp_breaker_allow(&pool->breaker, now);
	if (!allowed)
		gp_breaker_message(&pool->breaker, now, pool->describe, why, sizeof(why));
	pthread_mutex_unlock(&pool->bag.lock);
	if (!allowed)
	{
		gp_error_set(&op->err, GOVPOOL_ERR_CIRCUIT_OPEN, "%s", why);
		return connect_gave_up(op);
	}
	op->attempt++;
	e->conn = PQconnectStartParams(pool->kw, pool->val, 0);
	if (e->conn == NULL)
	{
		gp_error_set(&op->err, GOVPOOL_ERR_OOM, "out of memory opening a connection");
		return connect_gave_up(op);
	}
	/* so that a refusal's SQLSTATE can be read (gp_error_from_connect) */
	PQsetErrorVerbosity(e->conn, PQERRORS_VERBOSE);
	/* libpq's connect_timeout rule: whole seconds, at least 2 */
	secs = (pool->cfg.connect_timeout_ms + 999) / 1000;
	if (secs > 0 && secs < 2)
		secs = 2;
	op->timer_ns = secs > 0 ? now + (int64_t) secs * 1000000000 : -1;
	op->cpoll = PGRES_POLLING_WRITING;
	op->phase = PH_CONNECTING;
	if (PQstatus(e->conn) == CONNECTION_BAD)
		op->cpoll = PGRES_POLLING_FAILED;
	(void) w;
	return CONTINUE;
}

/* Transient failures are retried every 50-250 ms (equal jitter). */
#define GP_TRANSIENT_BACKOFF_MAX_MS 250

static int
connect_failed(govpool_op *op, govpool_wait *w, const char *what)
{
	govpool    *pool = op->pool;
	const govpool_config *c = &pool->cfg;
	gp_entry   *e = op->entry;
	int64_t		now = gp_now_ns();
	int64_t		limit = op->deadline_ns;
	int64_t		cooldown_ns;
	gp_failure_class cls;
	bool		opened,
				transient;
	char		num[16],
				max[16];

	if (what)
		gp_error_from_connect(&op->err, e->conn, what);
	else
		gp_error_set(&op->err, GOVPOOL_ERR_CONNECT,
					 "connection failed: timeout expired (connect_timeout) connecting to %s",
					 pool->describe);
	gp_redact(op->err.message, sizeof(op->err.message), pool->password);
	gp_entry_close(e);
	GP_INC(pool->m.connect_failures);
	pthread_mutex_lock(&pool->bag.lock);
	cls = gp_breaker_classify(&pool->breaker, op->err.sqlstate);
	opened = gp_breaker_failure(&pool->breaker, now, op->err.message);
	cooldown_ns = pool->breaker.cooldown_ns;
	pthread_mutex_unlock(&pool->bag.lock);

	/*
	 * A transient failure (the server restarting or full) does not end the
	 * checkout: it is retried until the checkout deadline, or until the
	 * breaker opens because the failures went on for its window.  Without
	 * a deadline (pool_timeout 0) it counts as hard.
	 */
	transient = cls == GP_FAILURE_TRANSIENT && limit >= 0;
	snprintf(num, sizeof(num), "%d", op->attempt);
	snprintf(max, sizeof(max), "%d", c->connect_attempts);
	gp_log(&pool->logger, transient ? GOVPOOL_LOG_INFO : GOVPOOL_LOG_WARN, "connect_failed",
		   "attempt", num, "max_attempts", transient ? "deadline" : max,
		   "class", transient ? "transient" : "hard", "sqlstate",
		   op->err.sqlstate[0] ? op->err.sqlstate : NULL, "target", pool->describe,
		   "error", op->err.message, (char *) NULL);
	if (opened)
	{
		snprintf(num, sizeof(num), "%lld", (long long) (cooldown_ns / 1000000));
		gp_log(&pool->logger, GOVPOOL_LOG_ERROR, "circuit_open", "target", pool->describe,
			   "cooldown_ms", num, (char *) NULL);
		return connect_gave_up(op);
	}
	if (!transient && op->attempt >= c->connect_attempts)
		return connect_gave_up(op);
	/* back-off, never past the checkout deadline */
	{
		int			shift = op->attempt - 1 < 20 ? op->attempt - 1 : 20;
		int64_t		cap,
					wait;

		pthread_mutex_lock(&pool->bag.lock);
		if (transient)
		{
			/* short, and never a busy loop: c/2 + random(0, c/2) */
			cap = (int64_t) (c->connect_backoff_ms > 10 ? c->connect_backoff_ms : 10) << shift;
			if (cap > GP_TRANSIENT_BACKOFF_MAX_MS)
				cap = GP_TRANSIENT_BACKOFF_MAX_MS;
			wait = cap - cap / 2 + (int64_t) (rand_r(&pool->rand_state) % (cap / 2 + 1));
		}
		else
		{
			/* exponential, full jitter */
			cap = (int64_t) c->connect_backoff_ms << shift;
			if (cap > c->connect_backoff_max_ms)
				cap = c->connect_backoff_max_ms;
			wait = cap > 0 ? (int64_t) (rand_r(&pool->rand_state) % (cap + 1)) : 0;
		}
		pthread_mutex_unlock(&pool->bag.lock);
		if (limit >= 0 && now + wait * 1000000 >= limit)
			return connect_gave_up(op);
		op->timer_ns = now + wait * 1000000;
		op->phase = PH_BACKOFF;
		return wait > 0 ? wait_for(w, GOVPOOL_POLL_TIMER, -1, op->timer_ns) : CONTINUE;
	}
}

static int
connecting(govpool_op *op, govpool_wait *w)
{
	govpool    *pool = op->pool;
	gp_entry   *e = op->entry;
	int			fd = PQsocket(e->conn);

	if (op->cpoll == PGRES_POLLING_FAILED)
		return connect_failed(op, w, "connection failed");
	/* no socket (an address failed at once): libpq moves on to the next */
	if (fd >= 0 && !fd_ready(fd, op->cpoll == PGRES_POLLING_WRITING))
	{
		/* as in libpq: a timed-out attempt counts like any failed one */
		if (op->timer_ns >= 0 && gp_now_ns() >= op->timer_ns)
			return connect_failed(op, w, NULL);
		return wait_for(w, op->cpoll == PGRES_POLLING_WRITING ? GOVPOOL_POLL_WRITING :
						GOVPOOL_POLL_READING, fd, op->timer_ns);
	}
	op->cpoll = PQconnectPoll(e->conn);
	switch (op->cpoll)
	{
		case PGRES_POLLING_OK:
			break;
		case PGRES_POLLING_FAILED:
			return connect_failed(op, w, "connection failed");
		case PGRES_POLLING_READING:
			return wait_for(w, GOVPOOL_POLL_READING, PQsocket(e->conn), op->timer_ns);
		default:
			return wait_for(w, GOVPOOL_POLL_WRITING, PQsocket(e->conn), op->timer_ns);
	}
	/* connected */
	PQsetErrorVerbosity(e->conn, PQERRORS_DEFAULT);
	gp_entry_opened(pool, e->conn);
	gp_entry_publish_pid(e);
	pthread_mutex_lock(&pool->bag.lock);
	if (pool->breaker.state != GOVPOOL_CIRCUIT_CLOSED)
		gp_log(&pool->logger, GOVPOOL_LOG_INFO, "circuit_closed",
			   "target", pool->describe, (char *) NULL);
	gp_breaker_success(&pool->breaker);
	pthread_mutex_unlock(&pool->bag.lock);
	GP_INC(pool->m.connects);
	gp_error_clear(&op->err);
	e->created_ns = e->last_used_ns = gp_now_ns();
	gp_bag_opened(&pool->bag, e);
	if (op->reopening)
	{
		op->reopening = false;
		op->phase = op->after_reopen;
	}
	else
		op->phase = PH_ACQUIRED;
	return CONTINUE;
}

/* Replace the connection of a held slot for a retry that is known to be safe. */
static int
reopen(govpool_op *op, int after)
{
	gp_pool_invalidate(op->pool, op->entry, "failed before sending");
	GP_INC(op->pool->m.retries);
	op->retried = true;
	op->reopening = true;
	op->stmt_looked = false;	/* a new connection: a new cache */
	op->after_reopen = after;
	op->attempt = 0;
	/* connecting again is a checkout: the same time limit, from now */
	op->deadline_ns = op->pool->cfg.pool_timeout_ms > 0 ?
		gp_now_ns() + (int64_t) op->pool->cfg.pool_timeout_ms * 1000000 : -1;
	op->phase = PH_CONNECT;
	return CONTINUE;
}

/* ---- The operations ---- */

static int
acquired(govpool_op *op)
{
	govpool    *pool = op->pool;
	gp_entry   *e = op->entry;

	GP_INC(pool->m.acquires);
	switch (op->kind)
	{
		case GP_OP_BEGIN:
			{
				govpool_session *s = &e->session;

				gp_fill_session(s, e, op->ctx[0], op->ctx[1], op->ctx[2], op->file, op->line);
				GP_INC(pool->m.begun);
				if (pool->cfg.leak_threshold_ms > 0)
				{
					s->begun_ns = gp_now_ns();
					pthread_mutex_lock(&pool->bag.lock);
					e->watched = true;
					pthread_mutex_unlock(&pool->bag.lock);
				}
				op->session = s;
				op->entry = NULL;	/* the session's now */
				return finish(op);
			}
		case GP_OP_RUN:
			GP_INC(pool->m.begun);
			if (pool->cfg.echo)
			{
				gp_fill_session(&e->session, e, op->ctx[0], op->ctx[1], op->ctx[2], NULL, 0);
				gp_echo(pool, &e->session, op->sql);
			}
			op->start_ns = gp_now_ns();
			op->phase = PH_RUN_SEND;
			return CONTINUE;
		case GP_OP_HEALTH:
			return batch1(op, "SELECT 1", PH_HEALTH_DONE);
		default:
			return finish(op);	/* GP_OP_CHECKOUT: the caller has op->entry */
	}
}

/* [PREPARE,] set_context, the statement, Sync: one implicit transaction. */
static int
run_send(govpool_op *op)
{
	int			n = context_queries(op, 0);

	n = stmt_queries(op, n);
	return batch(op, n, true, PH_RUN_DONE);
}

/* After a server error: ROLLBACK (if the server holds a transaction), then after. */
static int
error_rollback(govpool_op *op, int after)
{
	op->after_reopen = after;
	if (PQtransactionStatus(op->entry->conn) == PQTRANS_IDLE)
	{
		op->phase = after;
		return CONTINUE;
	}
	return batch1(op, "ROLLBACK", PH_ERROR_ROLLBACK_DONE);
}

static int
error_rollback_done(govpool_op *op)
{
	if (!batch1_ok(op, PGRES_COMMAND_OK))
		gp_pool_invalidate(op->pool, op->entry, "ROLLBACK after an error failed");
	op->phase = op->after_reopen;
	return CONTINUE;
}

/*
 * The server lost one of our prepared statements or already had its name
 * (event: what).  Counted for the pool: in auto mode the third time turns
 * preparing off (context and statement cache alike), the sign of a
 * transaction pooler nobody declared.
 */
static void
prepared_vanished(govpool_op *op, const char *what, const char *state)
{
	govpool    *pool = op->pool;

	if (GP_INC(pool->ctx_vanished) + 1 >= GP_CTX_VANISHED_LIMIT &&
		pool->cfg.prepare_context == GOVPOOL_PREPARE_AUTO &&
		!__atomic_exchange_n(&pool->ctx_prepare_off, true, __ATOMIC_RELAXED))
		gp_log(&pool->logger, GOVPOOL_LOG_WARN, "context_unprepared", "reason",
			   "the server lost or duplicated libgovpool's prepared statements "
			   "repeatedly (a transaction pooler?); sending set_context and statements "
			   "unprepared from now on "
			   "(set GOVPOOL_POOLER=transaction or GOVPOOL_PREPARE_CONTEXT=off to say so)",
			   (char *) NULL);
	else
		gp_log(&pool->logger, GOVPOOL_LOG_DEBUG, what, "sqlstate", state, (char *) NULL);
}

/*
 * Did the batch fail because the server lost our prepared context
 * statement (26000 at its execution) or already had it (42P05 at its
 * PREPARE)?  Then nothing after it ran, and the entry's flag is put right
 * for the next operation; this one is resent with the context as text,
 * which works on whatever server connection it lands (behind a
 * transaction pooler the resend may meet another one).  In auto mode, the
 * third time turns preparing off for the pool.
 */
static bool
context_statement_lost(govpool_op *op)
{
	gp_batch   *b = &op->b;
	const PGresult *r = b->failed_at >= 0 && b->failed_at < b->n ? b->res[b->failed_at] : NULL;
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (state == NULL)
		return false;
	if (b->failed_at == b->context_at && b->q[b->context_at].kind == GQ_EXECUTE &&
		strcmp(state, "26000") == 0)
		op->entry->ctx_prepared &= ~b->context_bit;
	else if (b->failed_at == b->prepare_at && strcmp(state, "42P05") == 0)
		op->entry->ctx_prepared |= b->context_bit;
	else
		return false;
	prepared_vanished(op, "context_statement_lost", state);
	return true;
}

/*
 * Was r's error state raised by the server's source file file?  The
 * statement cache's errors are told from the same SQLSTATEs raised by the
 * caller's statement itself (a function's own 0A000, say, which must not be
 * run a second time) by where the server raised them: the Bind of a
 * prepared statement it does not have (prepare.c), the revalidation of a
 * cached plan (plancache.c).  The file name, unlike the message, does not
 * depend on the server's language.
 */
static bool
raised_in(const PGresult *r, const char *state, const char *file)
{
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *f = PQresultErrorField(r, PG_DIAG_SOURCE_FILE);

	return s != NULL && f != NULL && strcmp(s, state) == 0 && strcmp(f, file) == 0;
}

/*
 * Did the batch fail because of the statement cache?  The server lost the
 * caller's prepared statement (26000 at its execution: DEALLOCATE,
 * DISCARD ALL, another server connection), already had its name (42P05
 * at its PREPARE), or can no longer run its cached plan (0A000, "cached
 * plan must not change result type", after ALTER TABLE).  The entry is
 * dropped (and closed on the server when it holds it): the next use
 * starts afresh.  Nothing after the failure ran and the transaction is
 * aborted; whether to resend is the caller's decision.
 */
static bool
cached_statement_failed(govpool_op *op)
{
	gp_batch   *b = &op->b;
	const PGresult *r = b->failed_at >= 0 && b->failed_at < b->n ? b->res[b->failed_at] : NULL;
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	bool		lost;

	if (state == NULL || b->stmt_slot < 0 || op->entry == NULL)
		return false;
	if (b->failed_at == b->stmt_at && b->q[b->stmt_at].kind == GQ_STMT_EXECUTE &&
		(raised_in(r, "26000", "prepare.c") || raised_in(r, "0A000", "plancache.c")))
		lost = state[0] == '2';
	else if (b->failed_at == b->stmt_prepare_at && strcmp(state, "42P05") == 0)
		lost = false;
	else
		return false;
	gp_stmt_drop(op->entry->stmts, b->stmt_slot, !lost);
	b->stmt_slot = -1;
	if (strcmp(state, "0A000") == 0 || op->ctx_lost)
		/* a plan, not a loss; or the loss the context statement counted already */
		gp_log(&op->pool->logger, GOVPOOL_LOG_DEBUG,
			   state[0] == '0' ? "statement_plan_changed" : "statement_lost",
			   "sqlstate", state, (char *) NULL);
	else
		prepared_vanished(op, "statement_lost", state);
	return true;
}

/* What query i of the batch is, for messages (NULL: the caller's statement). */
static const char *
query_name(const gp_batch *b, int i)
{
	if (i == b->n)
		return "COMMIT";		/* the implicit transaction's, at the Sync */
	if (i < 0 || i > b->n || i == b->stmt_at || i == b->stmt_prepare_at)
		return NULL;
	if (i == b->prepare_at)
		return "PREPARE governance.set_context";
	if (i == b->context_at)
		return "governance.set_context";
	return b->q[i].sql;			/* BEGIN */
}

/*
 * The one failure path of governed statements (run, the prelude, exec):
 * what the failed batch means for the transaction, the error, the count,
 * and where the operation goes.  commit_at: index in the batch of what
 * commits (b->n: the Sync of an implicit transaction; -1: nothing);
 * retry_phase: where a retry resumes when nothing was sent or the
 * prepared context statement had to be prepared again (-1: none);
 * after: the next phase.
 */
static int
governed_failure(govpool_op *op, int commit_at, int retry_phase, int after)
{
	govpool    *pool = op->pool;
	gp_batch   *b = &op->b;
	gp_entry   *e = op->entry;
	const PGresult *failed = b->failed_at >= 0 && b->failed_at < b->n ? b->res[b->failed_at] :
		b->failed_at == b->n ? b->sync_err : NULL;
	const char *what = query_name(b, b->failed_at);
	bool		cached = false;

	if (b->outcome == GB_NOT_SENT && retry_phase >= 0 && !op->retried)
	{
		clear_results(b, -1);
		return reopen(op, retry_phase);
	}
	if (b->outcome == GB_SERVER_ERROR && retry_phase >= 0 && !op->ctx_lost &&
		context_statement_lost(op))
	{
		/* nothing after the context ran: roll back (a session's BEGIN) and resend */
		clear_results(b, -1);
		op->ctx_lost = true;
		return error_rollback(op, retry_phase);
	}
	if (b->outcome == GB_SERVER_ERROR && !op->stmt_text && cached_statement_failed(op))
	{
		op->stmt_text = true;
		if (retry_phase >= 0)
		{
			/* nothing ran (a run's implicit transaction, a session's prelude): resend */
			clear_results(b, -1);
			return error_rollback(op, retry_phase);
		}
		cached = true;			/* inside a session: its transaction is aborted */
	}
	switch (b->outcome)
	{
		case GB_OK:
		case GB_SERVER_ERROR:
			gp_error_from_result(&op->err, failed, what);
			note_timeout(pool, &op->err);
			if (cached)
			{
				size_t		n = strlen(op->err.message);

				snprintf(op->err.message + n, sizeof(op->err.message) - n,
						 " (a statement prepared by libgovpool's statement cache; "
						 "the cache dropped it: the next use prepares it afresh)");
			}
			break;
		case GB_NOT_SENT:
			gp_error_from_conn(&op->err, GOVPOOL_ERR_CONNECTION_LOST, e->conn,
							   "could not send (nothing was executed)");
			break;
		case GB_LOST:

			/*
			 * An error response for a query before our COMMIT means the
			 * server skipped the rest: not committed.  Otherwise a COMMIT
			 * we sent may have run.
			 */
			if (failed && PQresultErrorField(failed, PG_DIAG_SQLSTATE) &&
				(commit_at < 0 || b->failed_at < commit_at))
			{
				gp_error_from_result(&op->err, failed, what);
				op->err.kind = GOVPOOL_ERR_CONNECTION_LOST;
			}
			else if (commit_at >= 0)
				gp_error_from_conn(&op->err, GOVPOOL_ERR_COMMIT_UNKNOWN, e->conn,
								   "connection lost after COMMIT was sent: outcome unknown, not retried");
			else
				gp_error_from_conn(&op->err, GOVPOOL_ERR_CONNECTION_LOST, e->conn, "connection lost");
			break;
	}
	clear_results(b, -1);
	if (op->err.kind != GOVPOOL_ERR_COMMIT_UNKNOWN)
		GP_INC(pool->m.rolled_back);
	op->counted = true;
	if (op->session)
		op->session->state = GP_SESSION_FAILED;
	if (b->outcome == GB_SERVER_ERROR)
		return error_rollback(op, after);
	gp_pool_invalidate(pool, e, op->session ? "connection lost during a session" :
					   "connection lost during govpool_run");
	op->phase = after;
	return CONTINUE;
}

static int
run_done(govpool_op *op)
{
	govpool    *pool = op->pool;
	gp_batch   *b = &op->b;

	if (b->outcome != GB_OK)
		return governed_failure(op, b->n, PH_RUN_SEND, PH_CHECKIN);
	gp_metrics_query(&pool->m, op->start_ns);
	if (PQtransactionStatus(op->entry->conn) != PQTRANS_IDLE)
	{
		/* the statement opened a transaction block (BEGIN): nothing committed */
		clear_results(b, -1);
		gp_error_set(&op->err, GOVPOOL_ERR_MISUSE,
					 "the statement left a transaction block open; govpool_run runs one "
					 "statement in its own transaction (use govpool_begin for more): rolled back");
		GP_INC(pool->m.rolled_back);
		op->counted = true;
		op->phase = PH_CHECKIN;
		return CONTINUE;
	}
	op->result = b->res[b->stmt_at];
	clear_results(b, b->stmt_at);
	GP_INC(pool->m.committed);
	op->counted = true;
	op->phase = PH_CHECKIN;
	return CONTINUE;
}

static int
exec_send(govpool_op *op)
{
	govpool_session *s = op->session;
	gp_batch   *b = &op->b;

	op->start_ns = gp_now_ns();
	b->prepare_at = b->context_at = b->stmt_at = b->stmt_prepare_at = -1;
	b->context_bit = 0;
	if (s->state == GP_SESSION_QUEUED)
	{
		int			n;

		op->ctx[0] = s->agent;
		op->ctx[1] = s->has_tenant ? s->tenant : NULL;
		op->ctx[2] = s->has_correlation ? s->correlation : NULL;
		b->q[0] = (gp_query) {"BEGIN", 0, GQ_TEXT};
		n = context_queries(op, 1);
		if (op->sql)
			n = stmt_queries(op, n);
		return batch(op, n, true, PH_EXEC_DONE);
	}
	return batch(op, stmt_queries(op, 0), false, PH_EXEC_DONE);
}

static int
exec_done(govpool_op *op)
{
	govpool    *pool = op->pool;
	gp_batch   *b = &op->b;
	govpool_session *s = op->session;
	bool		prelude = s->state == GP_SESSION_QUEUED;
	int			stmt = b->stmt_at;

	if (b->outcome != GB_OK)
		return governed_failure(op, -1, prelude ? PH_EXEC_SEND : -1, PH_FINISHED);
	if (op->sql)
		gp_metrics_query(&pool->m, op->start_ns);
	if (!prelude && PQtransactionStatus(op->entry->conn) == PQTRANS_IDLE)
	{
		/* the statement itself ended the governed transaction */
		clear_results(b, -1);
		gp_error_set(&op->err, GOVPOOL_ERR_MISUSE,
					 "the statement ended the session's transaction; use govpool_commit/govpool_rollback");
		s->state = GP_SESSION_FAILED;
		GP_INC(pool->m.rolled_back);
		return finish(op);
	}
	s->state = GP_SESSION_OPEN;
	if (op->sql)
		op->result = b->res[stmt];
	clear_results(b, op->sql ? stmt : -1);
	return finish(op);
}

static int
commit_send(govpool_op *op)
{
	govpool_session *s = op->session;

	if (s->state == GP_SESSION_FAILED)
	{
		gp_error_set(&op->err, GOVPOOL_ERR_ROLLED_BACK,
					 "not committed: the session was rolled back after an earlier error");
		op->phase = PH_CHECKIN;
		return CONTINUE;
	}
	if (s->state == GP_SESSION_QUEUED)
	{
		GP_INC(op->pool->m.committed);	/* nothing was sent: nothing to commit */
		op->phase = PH_CHECKIN;
		return CONTINUE;
	}
	gp_echo(op->pool, s, "COMMIT");
	return batch1(op, "COMMIT", PH_COMMIT_DONE);
}

static int
commit_done(govpool_op *op)
{
	govpool    *pool = op->pool;
	gp_batch   *b = &op->b;
	PGresult   *r = b->res[0];

	if (b->outcome == GB_LOST || b->outcome == GB_NOT_SENT)
		gp_error_from_conn(&op->err, GOVPOOL_ERR_COMMIT_UNKNOWN, op->entry->conn,
						   "connection lost during COMMIT: outcome unknown");
	else if (b->outcome == GB_SERVER_ERROR || r == NULL)
	{
		gp_error_from_result(&op->err, r, "COMMIT");
		note_timeout(pool, &op->err);
		op->err.kind = GOVPOOL_ERR_QUERY;
		GP_INC(pool->m.rolled_back);
	}
	else if (strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
	{
		gp_error_set(&op->err, GOVPOOL_ERR_ROLLED_BACK,
					 "not committed: the transaction had failed, the server rolled it back");
		GP_INC(pool->m.rolled_back);
	}
	else
		GP_INC(pool->m.committed);
	clear_results(b, -1);
	op->phase = PH_CHECKIN;
	return CONTINUE;
}

static int
rollback_send(govpool_op *op)
{
	govpool_session *s = op->session;
	gp_entry   *e = op->entry;

	if (s->state != GP_SESSION_FAILED)
		GP_INC(op->pool->m.rolled_back);
	op->phase = PH_CHECKIN;
	if (s->state == GP_SESSION_OPEN)
	{
		gp_echo(op->pool, s, "ROLLBACK");
		if (e->conn && PQstatus(e->conn) == CONNECTION_OK &&
			PQtransactionStatus(e->conn) != PQTRANS_IDLE)
			return batch1(op, "ROLLBACK", PH_ROLLBACK_DONE);
		if (e->conn && PQstatus(e->conn) != CONNECTION_OK)
			gp_pool_invalidate(op->pool, e, "ROLLBACK failed");
	}
	return CONTINUE;
}

static int
rollback_done(govpool_op *op)
{
	if (!batch1_ok(op, PGRES_COMMAND_OK))
		gp_pool_invalidate(op->pool, op->entry, "ROLLBACK failed");
	op->phase = PH_CHECKIN;
	return CONTINUE;
}

static int
health_done(govpool_op *op)
{
	gp_batch   *b = &op->b;
	PGconn	   *conn = op->entry->conn;

	if (b->outcome == GB_OK && b->res[0] && PQresultStatus(b->res[0]) == PGRES_TUPLES_OK)
		;
	else if (conn && PQstatus(conn) == CONNECTION_OK && b->res[0])
		gp_error_from_result(&op->err, b->res[0], "SELECT 1");
	else
		gp_error_from_conn(&op->err, GOVPOOL_ERR_CONNECTION_LOST, conn, "SELECT 1");
	clear_results(b, -1);
	op->phase = PH_CHECKIN;
	return CONTINUE;
}

/* ---- Checkin: reset per policy, then keep, hand on or close ---- */

/* The reset statements a returned connection needs (NULL-terminated), or broken. */
static const char *const *
reset_plan(govpool_op *op, const char **broken)
{
	static const char *const discard[] = {"DISCARD ALL", NULL};
	static const char *const rollback[] = {"ROLLBACK", NULL};
	static const char *const commit[] = {"COMMIT", NULL};
	static const char *const rollback_discard[] = {"ROLLBACK", "DISCARD ALL", NULL};
	static const char *const nothing[] = {NULL};
	PGconn	   *conn = op->entry->conn;
	govpool_reset mode = op->pool->cfg.reset_on_return;

	*broken = NULL;
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		*broken = "connection lost";
	else if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF)
		*broken = "returned in pipeline mode";
	else
		switch (PQtransactionStatus(conn))
		{
			case PQTRANS_IDLE:
				return mode == GOVPOOL_RESET_DISCARD ? discard : nothing;
			case PQTRANS_INTRANS:
			case PQTRANS_INERROR:
				switch (mode)
				{
					case GOVPOOL_RESET_ROLLBACK:
						return rollback;
					case GOVPOOL_RESET_COMMIT:
						return commit;
					case GOVPOOL_RESET_NONE:
						*broken = "returned inside a transaction (reset_on_return=none)";
						break;
					case GOVPOOL_RESET_DISCARD:
						return rollback_discard;
				}
				break;
			case PQTRANS_ACTIVE:
				*broken = "returned with a query in progress";
				break;
			case PQTRANS_UNKNOWN:
				*broken = "connection state unknown";
				break;
		}
	return nothing;
}

static const char *
reset_failed_why(const char *sql)
{
	if (strcmp(sql, "DISCARD ALL") == 0)
		return "DISCARD ALL failed";
	if (strcmp(sql, "COMMIT") == 0)
		return "COMMIT on return failed";
	return "ROLLBACK on return failed";
}

static int
checkin(govpool_op *op)
{
	gp_entry   *e = op->entry;
	const char *broken;
	const char *const *plan;

	if (e->watched)
	{
		pthread_mutex_lock(&op->pool->bag.lock);
		e->watched = false;
		pthread_mutex_unlock(&op->pool->bag.lock);
	}
	e->session.state = GP_SESSION_ENDED;
	plan = reset_plan(op, &broken);
	if (broken)
	{
		drop_entry(op, broken);
		return finish(op);
	}
	if (plan[0] == NULL)
	{
		op->phase = PH_CHECKIN_FINISH;
		return CONTINUE;
	}
	return batch1(op, plan[0], PH_CHECKIN_RESET_DONE);
}

static int
checkin_reset_done(govpool_op *op)
{
	const char *sql = op->b.q[0].sql;
	bool		ok = batch1_ok(op, PGRES_COMMAND_OK) &&
		PQtransactionStatus(op->entry->conn) == PQTRANS_IDLE;

	if (!ok)
	{
		bool		both = op->pool->cfg.reset_on_return == GOVPOOL_RESET_DISCARD &&
			(op->reset_step > 0 || strcmp(sql, "ROLLBACK") == 0);

		drop_entry(op, both ? "ROLLBACK/DISCARD ALL on return failed" : reset_failed_why(sql));
		return finish(op);
	}
	op->reset_step++;
	/* the plan is recomputed from the new transaction status */
	if (strcmp(sql, "DISCARD ALL") == 0)
	{
		op->entry->ctx_prepared = 0;	/* DISCARD ALL deallocated them */
		gp_stmt_cache_forget(op->entry->stmts);
		op->phase = PH_CHECKIN_FINISH;
		return CONTINUE;
	}
	op->phase = PH_CHECKIN;
	return CONTINUE;
}

static int
checkin_finish(govpool_op *op)
{
	govpool    *pool = op->pool;
	gp_entry   *e = op->entry;
	int64_t		now = gp_now_ns();

	op->entry = NULL;
	if (pool->cfg.pool_recycle_ms > 0 &&
		(now - e->created_ns) / 1000000 >= pool->cfg.pool_recycle_ms)
	{
		GP_INC(pool->m.recycled);
		gp_entry_close(e);
		gp_bag_remove(&pool->bag, e);
		return finish(op);
	}
	e->last_used_ns = now;
	if (!gp_bag_give_back(&pool->bag, e))
	{
		/* above pool_size (overflow, or serverless) and nobody waiting */
		gp_entry_close(e);
		gp_bag_remove(&pool->bag, e);
	}
	return finish(op);
}

/* ---- Driving ---- */

static int
step(govpool_op *op, govpool_wait *w)
{
	switch (op->phase)
	{
		case PH_IDLE:
		case PH_FINISHED:
			wait_for(w, GOVPOOL_POLL_OK, -1, -1);
			return op->err.kind == GOVPOOL_OK ? GOVPOOL_POLL_OK : GOVPOOL_POLL_FAILED;
		case PH_CHECKOUT:
			return checkout(op);
		case PH_QUEUED:
			return queued(op, w);
		case PH_VALIDATE:
			return validate(op);
		case PH_PING_DONE:
			return ping_done(op);
		case PH_CONNECT:
			return connect_start(op, w);
		case PH_CONNECTING:
			return connecting(op, w);
		case PH_BACKOFF:
			if (gp_now_ns() < op->timer_ns)
				return wait_for(w, GOVPOOL_POLL_TIMER, -1, op->timer_ns);
			op->phase = PH_CONNECT;
			return CONTINUE;
		case PH_ACQUIRED:
			return acquired(op);
		case PH_BATCH_SEND:
			return batch_send(op);
		case PH_BATCH_FLUSH:
			return batch_flush(op, w);
		case PH_BATCH_READ:
			return batch_read(op, w);
		case PH_RUN_SEND:
			return run_send(op);
		case PH_RUN_DONE:
			return run_done(op);
		case PH_EXEC_SEND:
			return exec_send(op);
		case PH_EXEC_DONE:
			return exec_done(op);
		case PH_COMMIT_SEND:
			return commit_send(op);
		case PH_COMMIT_DONE:
			return commit_done(op);
		case PH_ROLLBACK_SEND:
			return rollback_send(op);
		case PH_ROLLBACK_DONE:
			return rollback_done(op);
		case PH_ERROR_ROLLBACK_DONE:
			return error_rollback_done(op);
		case PH_HEALTH_DONE:
			return health_done(op);
		case PH_CHECKIN:
			return checkin(op);
		case PH_CHECKIN_RESET_DONE:
			return checkin_reset_done(op);
		case PH_CHECKIN_FINISH:
			return checkin_finish(op);
	}
	return finish(op);
}

govpool_poll
govpool_op_poll(govpool_op *op, govpool_wait *w)
{
	int			p;

	if (op == NULL)
		return GOVPOOL_POLL_FAILED;
	while ((p = step(op, w)) == CONTINUE)
		;
	return (govpool_poll) p;
}

govpool_poll
gp_op_block(govpool_op *op)
{
	pthread_cond_t cond;
	bool		have_cond = false;
	govpool_poll p;

	for (;;)
	{
		govpool_wait w;

		p = govpool_op_poll(op, &w);
		if (p == GOVPOOL_POLL_OK || p == GOVPOOL_POLL_FAILED)
			break;
		if (p == GOVPOOL_POLL_WAITING)
		{
			gp_bag	   *bag = &op->pool->bag;

			if (!have_cond)
			{
				pthread_condattr_t attr;

				pthread_condattr_init(&attr);
				pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
				pthread_cond_init(&cond, &attr);
				pthread_condattr_destroy(&attr);
				have_cond = true;
			}
			pthread_mutex_lock(&bag->lock);
			op->waiter.cond = &cond;
			while (!op->waiter.done && !bag->closed && gp_now_ns() < w.deadline_ns)
			{
				struct timespec ts = {w.deadline_ns / 1000000000, w.deadline_ns % 1000000000};

				pthread_cond_timedwait(&cond, &bag->lock, &ts);
			}
			op->waiter.cond = NULL;
			pthread_mutex_unlock(&bag->lock);
		}
		else if (p == GOVPOOL_POLL_TIMER || w.fd < 0)
		{
			int64_t		left = w.deadline_ns - gp_now_ns();

			if (left > 0)
			{
				struct timespec ts = {left / 1000000000, left % 1000000000};

				while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
					;
			}
		}
		else
		{
			struct pollfd pfd = {w.fd, (short) ((w.want_read ? POLLIN : 0) |
												(w.want_write ? POLLOUT : 0)), 0};

			while (poll(&pfd, 1, govpool_wait_timeout_ms(&w)) < 0 && errno == EINTR)
				;
		}
	}
	if (have_cond)
		pthread_cond_destroy(&cond);
	return p;
}

/* ---- Life of an operation ---- */

void
gp_op_init(govpool_op *op, govpool *pool)
{
	memset(op, 0, sizeof(*op));
	op->pool = pool;
}

/* Forget the previous operation's arguments and outcome (not the wake). */
void
gp_op_clear(govpool_op *op)
{
	PQclear(op->result);
	op->result = NULL;
	free(op->arena);
	op->arena = NULL;
	op->kind = GP_OP_NONE;
	op->phase = PH_IDLE;
	gp_error_clear(&op->err);
	memset(op->ctx, 0, sizeof(op->ctx));
	op->sql = NULL;
	op->nparams = 0;
	op->params = NULL;
	op->session = NULL;
	op->entry = NULL;
	op->retried = op->reopening = op->commit_sent = op->counted = op->ctx_lost = false;
	op->stmt_text = op->stmt_looked = false;
	op->b.stmt_slot = -1;
	op->reset_step = 0;
	op->start_ns = 0;
	op->timeout_ms = -1;
	op->file = NULL;
	op->line = 0;
}

void
gp_op_start(govpool_op *op, gp_op_kind kind)
{
	op->kind = kind;
	switch (kind)
	{
		case GP_OP_CHECKOUT:
		case GP_OP_BEGIN:
		case GP_OP_RUN:
		case GP_OP_HEALTH:
			op->phase = PH_CHECKOUT;
			break;
		case GP_OP_CHECKIN:
			op->phase = PH_CHECKIN;
			break;
		case GP_OP_EXEC:
			op->entry = op->session->entry;
			op->phase = PH_EXEC_SEND;
			break;
		case GP_OP_COMMIT:
			op->entry = op->session->entry;
			op->phase = PH_COMMIT_SEND;
			break;
		case GP_OP_ROLLBACK:
			op->entry = op->session->entry;
			op->phase = PH_ROLLBACK_SEND;
			break;
		case GP_OP_NONE:
			op->phase = PH_FINISHED;
			break;
	}
}

void
govpool_op_cancel(govpool_op *op)
{
	govpool    *pool;
	bool		in_batch;

	if (op == NULL || op->phase == PH_IDLE || op->phase == PH_FINISHED)
		return;
	pool = op->pool;
	in_batch = op->phase == PH_BATCH_FLUSH || op->phase == PH_BATCH_READ;

	if (op->phase == PH_QUEUED)
	{
		gp_entry   *e = gp_bag_abandon(&pool->bag, &op->waiter);

		/* a grant that arrived meanwhile goes on to the next in line */
		if (e && e->state == GP_SLOT_OPENING)
			gp_bag_remove(&pool->bag, e);
		else if (e && !gp_bag_give_back(&pool->bag, e))
		{
			gp_entry_close(e);
			gp_bag_remove(&pool->bag, e);
		}
		gp_error_set(&op->err, GOVPOOL_ERR_CANCELLED,
					 "cancelled while waiting for a connection (nothing was executed)");
		op->phase = PH_FINISHED;
		return;
	}

	/*
	 * The outcome: known already when the operation had reached its reset on
	 * return or its ROLLBACK after an error; unknown when our COMMIT is in
	 * flight; otherwise nothing was committed.
	 */
	if (in_batch && (op->b.next_phase == PH_CHECKIN_RESET_DONE ||
					 op->b.next_phase == PH_ERROR_ROLLBACK_DONE))
		;
	else if (in_batch && op->commit_sent && !op->b.server_error &&
			 (op->b.next_phase == PH_RUN_DONE || op->b.next_phase == PH_COMMIT_DONE))
		gp_error_set(&op->err, GOVPOOL_ERR_COMMIT_UNKNOWN,
					 "cancelled after its commit was requested: outcome unknown, connection closed");
	else
	{
		gp_error_set(&op->err, GOVPOOL_ERR_CANCELLED,
					 "cancelled: connection closed, nothing was committed");
		PQclear(op->result);
		op->result = NULL;
	}
	clear_results(&op->b, -1);

	if (op->kind == GP_OP_EXEC)
	{
		/* the session stays the caller's, rolled back; its end returns the slot */
		if (op->session->state != GP_SESSION_FAILED)
		{
			op->session->state = GP_SESSION_FAILED;
			GP_INC(pool->m.rolled_back);
		}
		if (op->entry)
			gp_pool_invalidate(pool, op->entry, "operation cancelled");
		op->entry = NULL;
	}
	else
	{
		if (op->kind == GP_OP_RUN && op->start_ns != 0 && !op->counted &&
			op->err.kind != GOVPOOL_ERR_COMMIT_UNKNOWN)
			GP_INC(pool->m.rolled_back);
		op->counted = true;
		if (op->entry)
			drop_entry(op, "operation cancelled");
	}
	op->phase = PH_FINISHED;
}

/* ---- Public: handles, starts, outcome ---- */

govpool_op *
govpool_op_create(govpool *pool)
{
	govpool_op *op = malloc(sizeof(*op));

	if (op == NULL)
		return NULL;
	gp_op_init(op, pool);
	gp_op_clear(op);
	return op;
}

size_t
govpool_op_size(void)
{
	return sizeof(govpool_op);
}

void
govpool_op_destroy(govpool_op *op)
{
	if (op == NULL)
		return;
	govpool_op_cancel(op);
	gp_op_clear(op);
	free(op);
}

void
govpool_op_set_wake(govpool_op *op, govpool_wake_fn fn, void *userdata)
{
	if (op == NULL)
		return;
	op->wake_fn = fn;
	op->wake_ud = userdata;
}

govpool_status
govpool_op_status(const govpool_op *op)
{
	return op ? op->err.kind : GOVPOOL_ERR_MISUSE;
}

const govpool_error *
govpool_op_error(const govpool_op *op)
{
	return op ? &op->err : NULL;
}

PGresult *
govpool_op_result(govpool_op *op)
{
	PGresult   *r;

	if (op == NULL || op->phase != PH_FINISHED)
		return NULL;
	r = op->result;
	op->result = NULL;
	return r;
}

govpool_session *
govpool_op_session(const govpool_op *op)
{
	return op && op->phase == PH_FINISHED && op->kind == GP_OP_BEGIN ? op->session : NULL;
}

/* Common start: the handle is free; forget the previous operation. */
static bool
start_ok(govpool_op *op, const char *what)
{
	if (op == NULL)
		return false;
	if (op->phase != PH_IDLE && op->phase != PH_FINISHED)
	{
		/* leave the running operation alone; report through the return value only */
		return false;
	}
	gp_op_clear(op);
	if (op->pool == NULL)
	{
		gp_error_set(&op->err, GOVPOOL_ERR_MISUSE, "%s: no pool", what);
		op->phase = PH_FINISHED;
		return false;
	}
	return true;
}

static govpool_status
start_failed(govpool_op *op)
{
	op->phase = PH_FINISHED;
	return op->err.kind;
}

/*
 * Copy the context, sql and parameters into one allocation owned by the
 * operation, so that the caller's buffers need not outlive the start.
 */
static bool
copy_args(govpool_op *op, const govpool_context *ctx, const char *sql, int nparams,
		  const char *const *params)
{
	const char *strs[3] = {ctx ? ctx->agent_id : NULL, ctx ? ctx->tenant_id : NULL,
	ctx ? ctx->correlation_id : NULL};
	size_t		size = sizeof(char *) * (size_t) (nparams + 1);
	char	   *p;
	const char **pv;

	for (int i = 0; i < 3; i++)
		size += strs[i] ? strlen(strs[i]) + 1 : 0;
	size += sql ? strlen(sql) + 1 : 0;
	for (int i = 0; i < nparams; i++)
		size += params[i] ? strlen(params[i]) + 1 : 0;
	op->arena = malloc(size);
	if (op->arena == NULL)
	{
		gp_error_set(&op->err, GOVPOOL_ERR_OOM, "out of memory");
		return false;
	}
	pv = (const char **) op->arena;
	p = op->arena + sizeof(char *) * (size_t) (nparams + 1);
#define COPY(dst, src) do { if (src) { size_t n_ = strlen(src) + 1; memcpy(p, (src), n_); (dst) = p; p += n_; } else (dst) = NULL; } while (0)
	for (int i = 0; i < 3; i++)
		COPY(op->ctx[i], strs[i]);
	COPY(op->sql, sql);
	for (int i = 0; i < nparams; i++)
		COPY(pv[i], params[i]);
#undef COPY
	pv[nparams] = NULL;
	op->nparams = nparams;
	op->params = nparams > 0 ? pv : NULL;
	return true;
}

govpool_status
govpool_run_start(govpool_op *op, const govpool_context *ctx, const char *sql, int nparams,
				  const char *const *params)
{
	if (!start_ok(op, "govpool_run_start"))
		return GOVPOOL_ERR_MISUSE;
	if (sql == NULL || nparams < 0 || (nparams > 0 && params == NULL))
	{
		gp_error_set(&op->err, GOVPOOL_ERR_MISUSE, "govpool_run: bad arguments");
		return start_failed(op);
	}
	if (!gp_check_ctx(ctx, &op->err) || !copy_args(op, ctx, sql, nparams, params))
		return start_failed(op);
	gp_op_start(op, GP_OP_RUN);
	return GOVPOOL_OK;
}

govpool_status
govpool_begin_start_at(govpool_op *op, const govpool_context *ctx, int timeout_ms,
					   const char *file, int line)
{
	if (!start_ok(op, "govpool_begin_start"))
		return GOVPOOL_ERR_MISUSE;
	if (!gp_check_ctx(ctx, &op->err) || !copy_args(op, ctx, NULL, 0, NULL))
		return start_failed(op);
	op->timeout_ms = timeout_ms;
	op->file = file;
	op->line = line;
	gp_op_start(op, GP_OP_BEGIN);
	return GOVPOOL_OK;
}

/* The session may take a statement now (not ended, not failed). */
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

govpool_status
govpool_exec_start(govpool_op *op, govpool_session *s, const char *sql, int nparams,
				   const char *const *params)
{
	if (!start_ok(op, "govpool_exec_start"))
		return GOVPOOL_ERR_MISUSE;
	if (!session_usable(s, &op->err))
		return start_failed(op);
	if (sql == NULL || nparams < 0 || (nparams > 0 && params == NULL))
	{
		gp_error_set(&op->err, GOVPOOL_ERR_MISUSE, "govpool_exec: bad sql or parameters");
		return start_failed(op);
	}
	if (!copy_args(op, NULL, sql, nparams, params))
		return start_failed(op);
	op->session = s;
	gp_echo(s->entry->pool, s, sql);
	gp_op_start(op, GP_OP_EXEC);
	return GOVPOOL_OK;
}

govpool_status
govpool_commit_start(govpool_op *op, govpool_session *s)
{
	if (!start_ok(op, "govpool_commit_start"))
		return GOVPOOL_ERR_MISUSE;
	if (s == NULL || s->state == GP_SESSION_ENDED)
	{
		gp_error_set(&op->err, GOVPOOL_ERR_MISUSE, "govpool_commit: the session has already ended");
		return start_failed(op);
	}
	op->session = s;
	gp_op_start(op, GP_OP_COMMIT);
	return GOVPOOL_OK;
}

govpool_status
govpool_rollback_start(govpool_op *op, govpool_session *s)
{
	if (!start_ok(op, "govpool_rollback_start"))
		return GOVPOOL_ERR_MISUSE;
	if (s == NULL || s->state == GP_SESSION_ENDED)
	{
		op->phase = PH_FINISHED;	/* a second release is harmless */
		return GOVPOOL_OK;
	}
	op->session = s;
	gp_op_start(op, GP_OP_ROLLBACK);
	return GOVPOOL_OK;
}

govpool_status
govpool_health_start(govpool_op *op)
{
	if (!start_ok(op, "govpool_health_start"))
		return GOVPOOL_ERR_MISUSE;
	gp_op_start(op, GP_OP_HEALTH);
	return GOVPOOL_OK;
}

/* For the blocking API in session.c. */
bool
gp_session_usable(govpool_session *s, govpool_error *err)
{
	return session_usable(s, err);
}
