/*
 * session.c
 *	  Governed sessions, the blocking API: begin, exec, conn, commit,
 *	  rollback and the one-round-trip govpool_run, each a loop over the
 *	  operation state machine of op.c (where the protocol lives).  The
 *	  context checks they share with the non-blocking starts are in
 *	  context.c.
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
 */
#include <stdio.h>
#include <string.h>

#include "govpool_int.h"

/* ---- Public API (blocking) ---- */

/* Run op to its end in this thread; copy its error out. */
static bool
block(govpool_op *op, govpool_error *err)
{
	bool		ok = gp_op_block(op) == GOVPOOL_POLL_OK;

	if (err)
		*err = op->err;
	return ok;
}

static void
op_for(govpool_op *op, govpool *pool)
{
	gp_op_init(op, pool);
	gp_op_clear(op);
}

govpool_session *
govpool_begin_at(govpool *pool, const govpool_context *ctx, int timeout_ms,
				 govpool_error *err, const char *file, int line)
{
	govpool_op	op;

	gp_error_clear(err);
	if (pool == NULL)
	{
		gp_error_set(err, GOVPOOL_ERR_MISUSE, "govpool_begin: no pool");
		return NULL;
	}
	if (!gp_check_ctx(ctx, err))
		return NULL;
	op_for(&op, pool);
	op.ctx[0] = ctx->agent_id;
	op.ctx[1] = ctx->tenant_id;
	op.ctx[2] = ctx->correlation_id;
	op.timeout_ms = timeout_ms;
	op.file = file;
	op.line = line;
	gp_op_start(&op, GP_OP_BEGIN);
	return block(&op, err) ? op.session : NULL;
}

/* exec, or with sql NULL the queued prelude alone (govpool_conn). */
static PGresult *
exec_blocking(govpool_session *s, const char *sql, int nparams, const char *const *params,
			  govpool_error *err)
{
	govpool_op	op;

	op_for(&op, s->entry->pool);
	op.session = s;
	op.sql = sql;
	op.nparams = nparams;
	op.params = params;
	gp_op_start(&op, GP_OP_EXEC);
	return block(&op, err) ? op.result : NULL;
}

PGresult *
govpool_exec(govpool_session *s, const char *sql, int nparams, const char *const *params,
			 govpool_error *err)
{
	gp_error_clear(err);
	if (!gp_session_usable(s, err))
		return NULL;
	if (sql == NULL || nparams < 0 || (nparams > 0 && params == NULL))
	{
		gp_error_set(err, GOVPOOL_ERR_MISUSE, "govpool_exec: bad sql or parameters");
		return NULL;
	}
	gp_echo(s->entry->pool, s, sql);
	return exec_blocking(s, sql, nparams, params, err);
}

PGconn *
govpool_conn(govpool_session *s)
{
	if (!gp_session_usable(s, NULL))
		return NULL;
	if (s->state == GP_SESSION_QUEUED)
	{
		(void) exec_blocking(s, NULL, 0, NULL, NULL);
		if (s->state != GP_SESSION_OPEN)
			return NULL;
	}
	/* raw libpq use: the connection behaves as libpq's default (blocking) */
	if (PQisnonblocking(s->entry->conn))
		(void) PQsetnonblocking(s->entry->conn, 0);
	return s->entry->conn;
}

govpool_status
govpool_commit(govpool_session *s, govpool_error *err)
{
	govpool_op	op;

	gp_error_clear(err);
	if (s == NULL || s->state == GP_SESSION_ENDED)
	{
		gp_error_set(err, GOVPOOL_ERR_MISUSE, "govpool_commit: the session has already ended");
		return GOVPOOL_ERR_MISUSE;
	}
	op_for(&op, s->entry->pool);
	op.session = s;
	gp_op_start(&op, GP_OP_COMMIT);
	block(&op, err);
	return op.err.kind;
}

void
govpool_rollback(govpool_session *s)
{
	govpool_op	op;

	if (s == NULL || s->state == GP_SESSION_ENDED)
		return;
	op_for(&op, s->entry->pool);
	op.session = s;
	gp_op_start(&op, GP_OP_ROLLBACK);
	gp_op_block(&op);
}

PGresult *
govpool_run(govpool *pool, const govpool_context *ctx, const char *sql, int nparams,
			const char *const *params, govpool_error *err)
{
	govpool_op	op;

	gp_error_clear(err);
	if (pool == NULL || sql == NULL || nparams < 0 || (nparams > 0 && params == NULL))
	{
		gp_error_set(err, GOVPOOL_ERR_MISUSE, "govpool_run: bad arguments");
		return NULL;
	}
	if (!gp_check_ctx(ctx, err))
		return NULL;
	op_for(&op, pool);
	op.ctx[0] = ctx->agent_id;
	op.ctx[1] = ctx->tenant_id;
	op.ctx[2] = ctx->correlation_id;
	op.sql = sql;
	op.nparams = nparams;
	op.params = params;
	gp_op_start(&op, GP_OP_RUN);
	return block(&op, err) ? op.result : NULL;
}
