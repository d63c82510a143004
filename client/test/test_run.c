/*
 * test_run.c
 *	  Integration tests of governance at the price of one statement: what
 *	  govpool_run sends (the prepared set_context and the statement up to
 *	  one Sync, no BEGIN/COMMIT) keeps every guarantee of the governed
 *	  transaction: the context is there for the statement and gone after,
 *	  sealed, errors at the implicit commit surface as errors, audit rows
 *	  and deferred triggers commit with the change; the prepared statement
 *	  follows its connection (DEALLOCATE, DISCARD ALL, a new connection) and
 *	  the settings that turn it off (GOVPOOL_PREPARE_CONTEXT, GOVPOOL_POOLER).
 */
#include <stdio.h>

#include "itest.h"

static govpool_context alice = {"alice", "acme", "req-1"};

static govpool *
one_conn_pool(const char *app, govpool_prepare prepare, govpool_pooler pooler,
			  govpool_reset reset, logbuf *lb)
{
	return itest_one_conn_pool(app, -1, prepare, pooler, reset, lb);
}

static PGconn *
the_conn(govpool *p)
{
	return itest_the_conn(p, &alice);
}

/* What one govpool_run of sql sends and receives on p's only connection. */
static char *
traced_run(govpool *p, const char *sql, PGresult **res, govpool_error *err)
{
	PGconn	   *conn = the_conn(p);
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *f = open_memstream(&buf, &len);
	PGresult   *r;

	PQtrace(conn, f);
	PQsetTraceFlags(conn, PQTRACE_SUPPRESS_TIMESTAMPS);
	r = govpool_run(p, &alice, sql, 0, NULL, err);
	PQuntrace(conn);
	fclose(f);
	if (res)
		*res = r;
	else
		PQclear(r);
	return buf;
}

/* A text value on a connection, outside the pool ("<null>" for NULL). */
static void
value_on(PGconn *c, const char *q, char *out, size_t size)
{
	PGresult   *r = PQexec(c, q);

	snprintf(out, size, "%s", PQresultStatus(r) != PGRES_TUPLES_OK ? PQerrorMessage(c) :
			 PQgetisnull(r, 0, 0) ? "<null>" : PQgetvalue(r, 0, 0));
	PQclear(r);
}

static void
test_one_statement_on_the_wire(void)
{
	govpool    *p = one_conn_pool("gp_run_wire", GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
								  GOVPOOL_RESET_ROLLBACK, NULL);
	govpool_error err;
	PGresult   *r;
	char	   *t;

	/* prepared by the session in the_conn(); then executed, never parsed */
	t = traced_run(p, "SELECT governance.agent_id()", &r, &err);
	CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "alice") == 0, "%s", err.message);
	PQclear(r);
	CHECK_MSG(count_substr(t, "F\t") == 8 && count_substr(t, "\tParse\t") == 1 &&
			  count_substr(t, "\tSync") == 1 && count_substr(t, "ReadyForQuery") == 1 &&
			  strstr(t, "BEGIN") == NULL && strstr(t, "COMMIT\"") == NULL &&
			  strstr(t, "Bind\t \"\" \"govpool_set_context\" 0 3 5 'alice' 4 'acme' 5 'req-1'") != NULL,
			  "%s", t);
	free(t);
	govpool_destroy(p);
}

static void
test_context_is_there_for_the_statement_and_gone_after(void)
{
	govpool    *p = one_conn_pool("gp_run_ctx", GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
								  GOVPOOL_RESET_ROLLBACK, NULL);
	PGconn	   *conn = the_conn(p);
	govpool_error err;
	PGresult   *r = govpool_run(p, &alice,
								"SELECT governance.agent_id(), governance.tenant_id(), "
								"governance.correlation_id(), (governance.context()->>'sealed')",
								0, NULL, &err);
	char		v[256];

	CHECK_MSG(r && PQntuples(r) == 1, "%s", err.message);
	if (r && PQntuples(r) == 1)
		CHECK_MSG(strcmp(PQgetvalue(r, 0, 0), "alice") == 0 && strcmp(PQgetvalue(r, 0, 1), "acme") == 0 &&
				  strcmp(PQgetvalue(r, 0, 2), "req-1") == 0 && strcmp(PQgetvalue(r, 0, 3), "true") == 0,
				  "%s %s %s %s", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
				  PQgetvalue(r, 0, 3));
	PQclear(r);
	/* after the Sync, on the same backend: no transaction, no context */
	CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE);
	value_on(conn, "SELECT coalesce(governance.agent_id(), '<null>') || '/' || "
			 "coalesce(governance.tenant_id(), '<null>')", v, sizeof(v));
	CHECK_MSG(strcmp(v, "<null>/<null>") == 0, "%s", v);
	govpool_destroy(p);
}

static void
test_sealed_context_cannot_be_changed_by_the_statement(void)
{
	govpool    *p = one_conn_pool("gp_run_seal", GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
								  GOVPOOL_RESET_ROLLBACK, NULL);
	static const char *const attempts[] = {
		"SELECT pg_catalog.set_config('governance.agent_id', 'mallory', false)",
		"SELECT pg_catalog.set_config('governance.agent_id', 'mallory', true)",
		"SET governance.agent_id = 'mallory'",
		"RESET governance.agent_id",
		"SELECT governance.set_context('mallory')",
	};

	/*
	 * The SQL edition refuses a changed value when it is read, not at the
	 * SET (docs/sql-edition.md, "sealing"): the same changes, each read back
	 * in its statement (a SET statement cannot read: test_session's
	 * test_sealed_context_cannot_be_changed reads it in the next statement).
	 */
	static const char *const sql_edition_attempts[] = {
		"WITH c AS MATERIALIZED (SELECT pg_catalog.set_config('governance.agent_id', 'mallory', false))"
		" SELECT governance.agent_id() FROM c",
		"WITH c AS MATERIALIZED (SELECT pg_catalog.set_config('governance.agent_id', 'mallory', true))"
		" SELECT governance.agent_id() FROM c",
		"WITH c AS MATERIALIZED (SELECT pg_catalog.set_config('governance.agent_id', '', true))"
		" SELECT governance.agent_id() FROM c",
		"SELECT governance.set_context('mallory')",
	};
	const char *const *tried = itest_sql_edition() ? sql_edition_attempts : attempts;
	size_t		ntried = itest_sql_edition() ? sizeof(sql_edition_attempts) / sizeof(sql_edition_attempts[0])
		: sizeof(attempts) / sizeof(attempts[0]);
	govpool_error err;
	PGresult   *r;

	for (size_t i = 0; i < ntried; i++)
	{
		r = govpool_run(p, &alice, tried[i], 0, NULL, &err);
		CHECK_MSG(r == NULL && err.kind == GOVPOOL_ERR_QUERY && err.sqlstate[0] != '\0',
				  "%s: %s %s", tried[i], govpool_status_name(err.kind), err.message);
		PQclear(r);
	}
	/* nothing stuck to the connection */
	r = govpool_run(p, &(govpool_context) {"bob", NULL, NULL}, "SELECT governance.agent_id()", 0, NULL, &err);
	CHECK(r && strcmp(PQgetvalue(r, 0, 0), "bob") == 0);
	PQclear(r);
	govpool_destroy(p);
}

/* An error at the implicit COMMIT is that error: not committed, not unknown. */
static void
test_error_at_the_implicit_commit_is_reported_as_such(void)
{
	govpool    *p = one_conn_pool("gp_run_commit", GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
								  GOVPOOL_RESET_ROLLBACK, NULL);
	govpool_error err;
	govpool_stats st0,
				st;
	PGresult   *r;

	sql("DROP TABLE IF EXISTS gp_run_deferred;"
		"CREATE TABLE gp_run_deferred (x int UNIQUE DEFERRABLE INITIALLY DEFERRED);"
		"CREATE OR REPLACE FUNCTION gp_run_refuse() RETURNS trigger LANGUAGE plpgsql AS "
		"$$BEGIN IF NEW.x = 13 THEN RAISE EXCEPTION 'thirteen refused at commit' "
		"USING ERRCODE = 'P0013'; END IF; RETURN NULL; END$$;"
		"CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON gp_run_deferred "
		"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gp_run_refuse()");
	govpool_stats(p, &st0);
	/* the deferred unique constraint */
	r = govpool_run(p, &alice, "INSERT INTO gp_run_deferred VALUES (1), (1)", 0, NULL, &err);
	CHECK_MSG(r == NULL && err.kind == GOVPOOL_ERR_QUERY && strcmp(err.sqlstate, "23505") == 0 &&
			  strncmp(err.message, "COMMIT: ", 8) == 0,
			  "%s [%s] %s", govpool_status_name(err.kind), err.sqlstate, err.message);
	PQclear(r);
	/* the deferred trigger */
	r = govpool_run(p, &alice, "INSERT INTO gp_run_deferred VALUES (13)", 0, NULL, &err);
	CHECK_MSG(r == NULL && err.kind == GOVPOOL_ERR_QUERY && strcmp(err.sqlstate, "P0013") == 0 &&
			  strstr(err.message, "thirteen refused at commit") != NULL,
			  "%s [%s] %s", govpool_status_name(err.kind), err.sqlstate, err.message);
	PQclear(r);
	CHECK(sql_long("SELECT count(*) FROM gp_run_deferred") == 0);
	govpool_stats(p, &st);
	CHECK(st.sessions_rolled_back_total == st0.sessions_rolled_back_total + 2);
	CHECK(st.sessions_committed_total == st0.sessions_committed_total);
	CHECK(st.invalidated_total == st0.invalidated_total);	/* the connection is fine */
	CHECK(st.checked_out == 0);
	/* and serves the next one, which commits (its deferred trigger ran) */
	r = govpool_run(p, &alice, "INSERT INTO gp_run_deferred VALUES (2)", 0, NULL, &err);
	CHECK_MSG(r != NULL, "%s", err.message);
	PQclear(r);
	CHECK(sql_long("SELECT count(*) FROM gp_run_deferred") == 1);
	govpool_destroy(p);
}

static void
test_audit_rows_and_deferred_triggers_commit_with_the_change(void)
{
	govpool    *p = one_conn_pool("gp_run_audit", GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
								  GOVPOOL_RESET_ROLLBACK, NULL);
	govpool_error err;
	PGresult   *r;
	long		before;
	char		q[512];

	sql("DROP TABLE IF EXISTS gp_run_audited; DROP TABLE IF EXISTS gp_run_seen;"
		"CREATE TABLE gp_run_audited (id int PRIMARY KEY, v text);"
		"CREATE TABLE gp_run_seen (agent text);"
		"SELECT governance.enable_audit('gp_run_audited');"
		"CREATE OR REPLACE FUNCTION gp_run_note() RETURNS trigger LANGUAGE plpgsql AS "
		"$$BEGIN INSERT INTO gp_run_seen VALUES (governance.agent_id()); RETURN NULL; END$$;"
		"CREATE CONSTRAINT TRIGGER note AFTER INSERT ON gp_run_audited "
		"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gp_run_note()");
	before = sql_long("SELECT coalesce(max(id), 0) FROM governance.audit_log");
	r = govpool_run(p, &alice, "INSERT INTO gp_run_audited VALUES (1, 'one')", 0, NULL, &err);
	CHECK_MSG(r != NULL, "%s", err.message);
	PQclear(r);
	snprintf(q, sizeof(q), "SELECT count(*) FROM governance.audit_log WHERE id > %ld "
			 "AND relation::text LIKE '%%gp_run_audited' AND op = 'INSERT' AND agent_id = 'alice' "
			 "AND tenant_id = 'acme' AND correlation_id = 'req-1'", before);
	CHECK(sql_long(q) == 1);
	/* the deferred trigger ran at the implicit commit, under the context */
	CHECK(sql_long("SELECT count(*) FROM gp_run_seen WHERE agent = 'alice'") == 1);
	govpool_destroy(p);
}

static void
test_statement_that_opens_a_transaction_block_is_refused(void)
{
	govpool    *p = one_conn_pool("gp_run_begin", GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
								  GOVPOOL_RESET_ROLLBACK, NULL);
	PGconn	   *conn = the_conn(p);
	govpool_error err;
	govpool_stats st;
	PGresult   *r = govpool_run(p, &alice, "BEGIN", 0, NULL, &err);

	CHECK_MSG(r == NULL && err.kind == GOVPOOL_ERR_MISUSE, "%s", err.message);
	PQclear(r);
	govpool_stats(p, &st);
	CHECK(st.checked_out == 0 && st.invalidated_total == 0);
	CHECK(conn == the_conn(p) && PQtransactionStatus(conn) == PQTRANS_IDLE);
	govpool_destroy(p);
}

/*
 * The server lost the prepared statement: the operation is resent with the
 * context as text and succeeds; the next one prepares it again.
 */
static void
test_prepared_statement_recreated_after_deallocate(void)
{
	logbuf		lb;
	govpool    *p = one_conn_pool("gp_run_dealloc", GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
								  GOVPOOL_RESET_ROLLBACK, &lb);
	govpool_error err;
	govpool_session *s = govpool_begin(p, &alice, -1, &err);
	PGresult   *r;
	char	   *t;

	/* DEALLOCATE ALL is what a server-side DISCARD ALL does to it */
	r = govpool_exec(s, "DEALLOCATE ALL", 0, NULL, &err);
	CHECK_MSG(r != NULL, "%s", err.message);
	PQclear(r);
	CHECK(govpool_commit(s, &err) == GOVPOOL_OK);
	t = traced_run(p, "SELECT governance.agent_id()", &r, &err);
	/* the_conn()'s session met the loss (its prelude failed once, was resent) */
	CHECK_MSG(count_substr(lb.text, "event=context_statement_lost sqlstate=26000") == 1, "%s", lb.text);
	CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "alice") == 0, "%s", err.message);
	PQclear(r);
	/* ... and this run prepared it again, in its own pipeline */
	CHECK_MSG(count_substr(t, "\tParse\t \"govpool_set_context\"") == 1 &&
			  count_substr(t, "\tSync") == 1, "%s", t);
	free(t);
	/* same for govpool_run itself */
	s = govpool_begin(p, &alice, -1, &err);
	PQclear(govpool_exec(s, "DEALLOCATE govpool_set_context", 0, NULL, &err));
	govpool_commit(s, &err);
	r = govpool_run(p, &alice, "SELECT governance.agent_id()", 0, NULL, &err);
	CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "alice") == 0, "%s", err.message);
	PQclear(r);
	CHECK_MSG(count_substr(lb.text, "event=context_statement_lost") == 2, "%s", lb.text);
	govpool_destroy(p);
}

/* reset_on_return=discard: DISCARD ALL drops it; we know, so no error at all. */
static void
test_prepared_statement_follows_discard_all_on_return(void)
{
	logbuf		lb;
	govpool    *p = one_conn_pool("gp_run_discard", GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
								  GOVPOOL_RESET_DISCARD, &lb);
	govpool_error err;
	PGresult   *r;
	char	   *t = traced_run(p, "SELECT governance.agent_id()", &r, &err);

	CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "alice") == 0, "%s", err.message);
	PQclear(r);
	/*
	 * prepared anew in the run's own pipeline, before its only Sync (the
	 * trace goes on with the DISCARD ALL on return)
	 */
	CHECK_MSG(count_substr(t, "\tParse\t \"govpool_set_context\"") == 1 &&
			  strstr(t, "\tParse\t \"govpool_set_context\"") < strstr(t, "\tSync") &&
			  count_substr(t, "\tSync") == 2 && strstr(t, "DISCARD ALL") > strstr(t, "\tSync"), "%s", t);
	CHECK(strstr(lb.text, "context_statement_lost") == NULL);
	free(t);
	govpool_destroy(p);
}

/* A new connection (the old one terminated) prepares it again. */
static void
test_prepared_statement_recreated_on_a_new_connection(void)
{
	govpool    *p = one_conn_pool("gp_run_newconn", GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
								  GOVPOOL_RESET_ROLLBACK, NULL);
	govpool_error err;
	PGresult   *r;
	int			pid = PQbackendPID(the_conn(p));

	CHECK(terminate_and_wait(pid));
	r = govpool_run(p, &alice, "SELECT governance.agent_id(), pg_backend_pid()", 0, NULL, &err);
	CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "alice") == 0 && atoi(PQgetvalue(r, 0, 1)) != pid,
			  "%s", err.message);
	PQclear(r);
	govpool_destroy(p);
}

/* Unprepared: set_context's text every time (GOVPOOL_PREPARE_CONTEXT=off, a transaction pooler). */
static void
test_unprepared_when_off_or_behind_a_transaction_pooler(void)
{
	struct
	{
		govpool_prepare prepare;
		govpool_pooler pooler;
	}			cases[] = {
		{GOVPOOL_PREPARE_OFF, GOVPOOL_POOLER_NONE},
		{GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_TRANSACTION},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		govpool    *p = one_conn_pool("gp_run_off", cases[i].prepare, cases[i].pooler,
									  GOVPOOL_RESET_ROLLBACK, NULL);
		govpool_error err;
		PGresult   *r;
		char	   *t;

		for (int k = 0; k < 2; k++)
		{
			t = traced_run(p, "SELECT governance.agent_id()", &r, &err);
			CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "alice") == 0, "%s", err.message);
			PQclear(r);
			CHECK_MSG(strstr(t, "govpool_set_context") == NULL &&
					  count_substr(t, "\tParse\t \"\" \"SELECT governance.set_context($1, $2, $3, true)\"") == 1 &&
					  count_substr(t, "\tSync") == 1 && strstr(t, "BEGIN") == NULL,
					  "case %zu: %s", i, t);
			free(t);
		}
		/* and the guarantees hold the same */
		r = govpool_run(p, &alice, itest_sql_edition()
						? "WITH c AS MATERIALIZED (SELECT pg_catalog.set_config('governance.agent_id', 'mallory', true))"
						" SELECT governance.agent_id() FROM c"	/* refused at the read */
						: "SET governance.agent_id = 'mallory'", 0, NULL, &err);
		CHECK(r == NULL && err.kind == GOVPOOL_ERR_QUERY);
		PQclear(r);
		govpool_destroy(p);
	}
}

/*
 * auto: the third time the server lost the statement, the pool stops
 * preparing it (an undeclared transaction pooler); on: never.
 */
static void
test_auto_stops_preparing_when_the_server_keeps_losing_it(void)
{
	govpool_prepare modes[] = {GOVPOOL_PREPARE_AUTO, GOVPOOL_PREPARE_ON};

	for (int m = 0; m < 2; m++)
	{
		logbuf		lb;
		govpool    *p = one_conn_pool("gp_run_vanish", modes[m], GOVPOOL_POOLER_NONE,
									  GOVPOOL_RESET_ROLLBACK, &lb);
		govpool_error err;
		PGresult   *r;
		char	   *t;

		for (int k = 0; k < 3; k++)
		{
			govpool_session *s = govpool_begin(p, &alice, -1, &err);

			PQclear(govpool_exec(s, "SELECT 1", 0, NULL, &err));
			PQclear(govpool_exec(s, "DEALLOCATE ALL", 0, NULL, &err));
			govpool_commit(s, &err);
			r = govpool_run(p, &alice, "SELECT governance.agent_id()", 0, NULL, &err);
			CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "alice") == 0, "%s", err.message);
			PQclear(r);
		}
		t = traced_run(p, "SELECT 1", NULL, &err);
		if (modes[m] == GOVPOOL_PREPARE_AUTO)
			CHECK_MSG(count_substr(lb.text, "event=context_unprepared") == 1 &&
					  strstr(t, "govpool_set_context") == NULL, "%s\n%s", lb.text, t);
		else
			CHECK_MSG(strstr(lb.text, "event=context_unprepared") == NULL &&
					  strstr(t, "govpool_set_context") != NULL, "%s\n%s", lb.text, t);
		free(t);
		govpool_destroy(p);
	}
}

int
main(void)
{
	(void) session_pid;
	itest_connect_admin();
	itest_governance();
	RUN(test_one_statement_on_the_wire);
	RUN(test_context_is_there_for_the_statement_and_gone_after);
	RUN(test_sealed_context_cannot_be_changed_by_the_statement);
	RUN(test_error_at_the_implicit_commit_is_reported_as_such);
	RUN(test_audit_rows_and_deferred_triggers_commit_with_the_change);
	RUN(test_statement_that_opens_a_transaction_block_is_refused);
	RUN(test_prepared_statement_recreated_after_deallocate);
	RUN(test_prepared_statement_follows_discard_all_on_return);
	RUN(test_prepared_statement_recreated_on_a_new_connection);
	RUN(test_unprepared_when_off_or_behind_a_transaction_pooler);
	RUN(test_auto_stops_preparing_when_the_server_keeps_losing_it);
	PQfinish(admin);
	return tap_done();
}
