/*
 * test_session.c
 *	  Integration and fault tests of governed sessions: the context in the
 *	  server, sealing, commit/rollback semantics, round trips (checked on the
 *	  wire with PQtrace), and what is and is not retried.
 */
#include <stdio.h>

#include "itest.h"

static govpool *pool;
static govpool_context alice = {"alice", "acme", "req-1"};

static govpool *
one_conn_pool(const char *app)
{
	govpool_config cfg;

	itest_config(&cfg, app);
	cfg.pool_size = 1;
	cfg.max_overflow = 0;
	return itest_pool(&cfg);
}

static void
test_context_reaches_the_server(void)
{
	govpool_error err;
	govpool_session *s = govpool_begin(pool, &alice, -1, &err);
	PGresult   *r = govpool_exec(s, "SELECT governance.agent_id(), governance.tenant_id(), "
								 "governance.correlation_id()", 0, NULL, &err);

	CHECK_MSG(r != NULL, "%s", err.message);
	if (r)
	{
		CHECK(strcmp(PQgetvalue(r, 0, 0), "alice") == 0);
		CHECK(strcmp(PQgetvalue(r, 0, 1), "acme") == 0);
		CHECK(strcmp(PQgetvalue(r, 0, 2), "req-1") == 0);
	}
	PQclear(r);
	CHECK(govpool_commit(s, &err) == GOVPOOL_OK);

	/* NULL tenant/correlation are NULL in the server; run sees the context too */
	{
		govpool_context bob = {"bob", NULL, NULL};

		r = govpool_run(pool, &bob, "SELECT governance.agent_id(), governance.tenant_id() IS NULL, "
						"governance.correlation_id() IS NULL", 0, NULL, &err);
		CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "bob") == 0 && strcmp(PQgetvalue(r, 0, 1), "t") == 0 &&
				  strcmp(PQgetvalue(r, 0, 2), "t") == 0, "%s", r ? "" : err.message);
		PQclear(r);
	}
	/* the context does not outlive the transaction on the pooled connection */
	r = govpool_run(pool, &alice, "SELECT 1", 0, NULL, &err);
	PQclear(r);
	{
		govpool_session *s2 = govpool_begin(pool, &alice, -1, &err);
		PGconn	   *c = govpool_conn(s2);

		govpool_rollback(s2);
		r = PQexec(c, "SELECT governance.agent_id() IS NULL");
		CHECK(strcmp(PQgetvalue(r, 0, 0), "t") == 0);
		PQclear(r);
	}
}

static void
test_context_travels_as_parameters(void)
{
	govpool_context evil = {"o'brien'); SELECT governance.set_context('root", "t\"x", NULL};
	govpool_error err;
	PGresult   *r = govpool_run(pool, &evil, "SELECT governance.agent_id(), governance.tenant_id()",
								0, NULL, &err);

	CHECK_MSG(r != NULL, "%s", err.message);
	if (r)
	{
		CHECK(strcmp(PQgetvalue(r, 0, 0), evil.agent_id) == 0);
		CHECK(strcmp(PQgetvalue(r, 0, 1), evil.tenant_id) == 0);
	}
	PQclear(r);
}

static void
test_sealed_context_cannot_be_changed(void)
{
	static const char *const attempts[] = {
		"SET governance.agent_id = 'mallory'",
		"SELECT set_config('governance.agent_id', 'mallory', true)",
		"SELECT governance.set_context('mallory')",
	};

	for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++)
	{
		govpool_error err;
		govpool_session *s = govpool_begin(pool, &alice, -1, &err);
		PGresult   *r = govpool_exec(s, "SELECT 1", 0, NULL, &err);

		PQclear(r);
		r = govpool_exec(s, attempts[i], 0, NULL, &err);
		if (r != NULL && itest_sql_edition())
		{
			/*
			 * The SQL edition refuses the changed value when it is read, not
			 * at the SET (no C hook; docs/sql-edition.md, "sealing").
			 */
			PQclear(r);
			r = govpool_exec(s, "SELECT governance.agent_id()", 0, NULL, &err);
		}
		CHECK_MSG(r == NULL && err.kind == GOVPOOL_ERR_QUERY && strcmp(err.sqlstate, "42501") == 0,
				  "[%s] kind=%s sqlstate=%s %s", attempts[i], govpool_status_name(err.kind),
				  err.sqlstate, err.message);
		PQclear(r);
		govpool_rollback(s);
	}
}

static void
test_error_rolls_the_session_back(void)
{
	govpool_error err;
	govpool_session *s;
	PGresult   *r;
	govpool_stats before,
				after;

	sql("DROP TABLE IF EXISTS gp_items; CREATE TABLE gp_items (id int PRIMARY KEY, owner text)");
	govpool_stats(pool, &before);
	s = govpool_begin(pool, &alice, -1, &err);
	r = govpool_exec(s, "INSERT INTO gp_items VALUES (1, governance.agent_id())", 0, NULL, &err);
	CHECK(r != NULL);
	PQclear(r);
	r = govpool_exec(s, "INSERT INTO gp_items VALUES (1, 'dup')", 0, NULL, &err);
	CHECK(r == NULL && err.kind == GOVPOOL_ERR_QUERY && strcmp(err.sqlstate, "23505") == 0);
	r = govpool_exec(s, "SELECT 1", 0, NULL, &err);
	CHECK(r == NULL && err.kind == GOVPOOL_ERR_ROLLED_BACK);
	CHECK(govpool_commit(s, &err) == GOVPOOL_ERR_ROLLED_BACK);
	CHECK(sql_long("SELECT count(*) FROM gp_items") == 0);
	govpool_stats(pool, &after);
	CHECK(after.sessions_rolled_back_total == before.sessions_rolled_back_total + 1);
	CHECK(after.sessions_committed_total == before.sessions_committed_total);
	CHECK(after.checked_out == 0);
}

static void
test_commit_persists_and_rollback_discards(void)
{
	govpool_error err;
	govpool_session *s;
	const char *params[2] = {"2", NULL};

	sql("TRUNCATE gp_items");
	s = govpool_begin(pool, &alice, -1, &err);
	PQclear(govpool_exec(s, "INSERT INTO gp_items VALUES ($1::int, governance.agent_id())", 1, params, &err));
	CHECK(govpool_commit(s, &err) == GOVPOOL_OK);
	CHECK(sql_long("SELECT count(*) FROM gp_items WHERE id = 2 AND owner = 'alice'") == 1);

	params[0] = "3";
	s = govpool_begin(pool, &alice, -1, &err);
	PQclear(govpool_exec(s, "INSERT INTO gp_items VALUES ($1::int, 'x')", 1, params, &err));
	govpool_rollback(s);
	CHECK(sql_long("SELECT count(*) FROM gp_items WHERE id = 3") == 0);

	/* run: committed in one go, an error leaves nothing behind */
	params[0] = "4";
	PQclear(govpool_run(pool, &alice, "INSERT INTO gp_items VALUES ($1::int, 'r')", 1, params, &err));
	CHECK(sql_long("SELECT count(*) FROM gp_items WHERE id = 4") == 1);
	CHECK(govpool_run(pool, &alice, "INSERT INTO gp_items VALUES ($1::int, 'r')", 1, params, &err) == NULL);
	CHECK(err.kind == GOVPOOL_ERR_QUERY && strcmp(err.sqlstate, "23505") == 0);
	CHECK(sql_long("SELECT count(*) FROM gp_items WHERE id = 4") == 1);
}

/*
 * Round trips on the wire: with PQtrace on the pool's only connection, a
 * single round trip means every frontend (F) message precedes every
 * backend (B) message.  Returns the number of F->B turnarounds.
 */
static int
round_trips(const char *trace)
{
	int			trips = 0;
	char		last = 'B';

	for (const char *line = trace; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line))
	{
		/* with PQTRACE_SUPPRESS_TIMESTAMPS a line starts with F or B */
		char		dir = line[0];

		if (dir == 'F' && last == 'B')
			trips++;
		if (dir == 'F' || dir == 'B')
			last = dir;
	}
	return trips;
}

static void
test_round_trips_on_the_wire(void)
{
	govpool   *p1 = one_conn_pool("gp_trace");
	govpool_error err;
	govpool_session *s = govpool_begin(p1, &alice, -1, &err);
	PGconn	   *conn = govpool_conn(s);
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *f;
	PGresult   *r;

	govpool_commit(s, &err);

	/*
	 * govpool_run: the prepared set_context and the statement up to one
	 * Sync, in one round trip; no BEGIN, no COMMIT, no parse of set_context
	 * (the session above prepared it on this connection)
	 */
	f = open_memstream(&buf, &len);
	PQtrace(conn, f);
	PQsetTraceFlags(conn, PQTRACE_SUPPRESS_TIMESTAMPS);
	r = govpool_run(p1, &alice, "SELECT governance.agent_id()", 0, NULL, &err);
	PQuntrace(conn);
	fclose(f);
	CHECK(r && strcmp(PQgetvalue(r, 0, 0), "alice") == 0);
	PQclear(r);
	CHECK_MSG(round_trips(buf) == 1 && count_substr(buf, "Sync") == 1, "%d trips:\n%s", round_trips(buf), buf);
	CHECK_MSG(strstr(buf, "BEGIN") == NULL && strstr(buf, "COMMIT") == NULL &&
			  strstr(buf, "Bind\t \"\" \"govpool_set_context\"") != NULL &&
			  strstr(buf, "governance.set_context") == NULL, "%s", buf);
	free(buf);

	/* begin + first exec: one round trip; commit: one more */
	buf = NULL;
	f = open_memstream(&buf, &len);
	PQtrace(conn, f);
	PQsetTraceFlags(conn, PQTRACE_SUPPRESS_TIMESTAMPS);
	s = govpool_begin(p1, &alice, -1, &err);
	r = govpool_exec(s, "SELECT 1", 0, NULL, &err);
	PQclear(r);
	fflush(f);
	CHECK_MSG(round_trips(buf) == 1, "%s", buf);
	govpool_commit(s, &err);
	PQuntrace(conn);
	fclose(f);
	CHECK_MSG(round_trips(buf) == 2, "%s", buf);
	free(buf);

	/* a session with no statement sends nothing at all */
	buf = NULL;
	f = open_memstream(&buf, &len);
	PQtrace(conn, f);
	s = govpool_begin(p1, &alice, -1, &err);
	CHECK(govpool_commit(s, &err) == GOVPOOL_OK);
	s = govpool_begin(p1, &alice, -1, &err);
	govpool_rollback(s);
	PQuntrace(conn);
	fclose(f);
	CHECK_MSG(len == 0, "%s", buf);
	free(buf);
	govpool_destroy(p1);
}

/* Frontend messages in a PQtrace. */
static int
messages_sent(const char *trace)
{
	int			n = 0;

	for (const char *line = trace; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (line[0] == 'F')
			n++;
	return n;
}

/* Trace one govpool_run and one begin + exec + commit on p's only connection. */
static void
trace_sessions(govpool *p, char **run_trace, char **session_trace)
{
	govpool_error err;
	govpool_session *s = govpool_begin(p, &alice, -1, &err);
	PGconn	   *conn = govpool_conn(s);
	size_t		len;
	FILE	   *f;

	govpool_commit(s, &err);
	f = open_memstream(run_trace, &len);
	PQtrace(conn, f);
	PQsetTraceFlags(conn, PQTRACE_SUPPRESS_TIMESTAMPS);
	PQclear(govpool_run(p, &alice, "SELECT 1", 0, NULL, &err));
	PQuntrace(conn);
	fclose(f);
	f = open_memstream(session_trace, &len);
	PQtrace(conn, f);
	PQsetTraceFlags(conn, PQTRACE_SUPPRESS_TIMESTAMPS);
	s = govpool_begin(p, &alice, -1, &err);
	PQclear(govpool_exec(s, "SELECT 1", 0, NULL, &err));
	govpool_commit(s, &err);
	PQuntrace(conn);
	fclose(f);
}

/*
 * The statement timeout rides in the set_context statement: with and
 * without it, the same round trips and the same number of messages.
 */
static void
test_statement_timeout_costs_no_message_or_round_trip(void)
{
	govpool_config cfg;
	govpool    *p0,
			   *p1;
	char	   *run0 = NULL,
			   *sess0 = NULL,
			   *run1 = NULL,
			   *sess1 = NULL;

	itest_config(&cfg, "gp_trace_timeout");
	cfg.pool_size = 1;
	cfg.max_overflow = 0;
	cfg.report_interval_ms = 0;
	p0 = itest_pool(&cfg);
	cfg.statement_timeout_ms = 1500;
	p1 = itest_pool(&cfg);
	trace_sessions(p0, &run0, &sess0);
	trace_sessions(p1, &run1, &sess1);
	CHECK_MSG(round_trips(run1) == 1 && round_trips(sess1) == 2, "%s\n%s", run1, sess1);
	CHECK_MSG(messages_sent(run1) == messages_sent(run0) && messages_sent(sess1) == messages_sent(sess0),
			  "run %d vs %d, session %d vs %d messages", messages_sent(run1), messages_sent(run0),
			  messages_sent(sess1), messages_sent(sess0));
	/* the timeout is the fourth parameter of its own prepared statement */
	CHECK_MSG(strstr(run1, "\"govpool_set_context_timeout\"") && strstr(run1, " 4 '1500' ") &&
			  strstr(sess1, "\"govpool_set_context_timeout\""), "%s", run1);
	CHECK(strstr(run0, "statement_timeout") == NULL && strstr(sess0, "statement_timeout") == NULL);
	free(run0);
	free(sess0);
	free(run1);
	free(sess1);
	govpool_destroy(p0);
	govpool_destroy(p1);
}

/* The value of "SHOW statement_timeout" in a governed session. */
static bool
shown_timeout(govpool *p, bool use_run, char *out, size_t size)
{
	govpool_error err;
	govpool_session *s = NULL;
	PGresult   *r;

	if (use_run)
		r = govpool_run(p, &alice, "SHOW statement_timeout", 0, NULL, &err);
	else
	{
		s = govpool_begin(p, &alice, -1, &err);
		r = s ? govpool_exec(s, "SHOW statement_timeout", 0, NULL, &err) : NULL;
	}
	snprintf(out, size, "%s", r ? PQgetvalue(r, 0, 0) : err.message);
	PQclear(r);
	if (s)
		govpool_commit(s, &err);
	return r != NULL;
}

/*
 * Outside any session, on the pool's only connection: the server default,
 * not a startup option.  Fills *pid with the backend's pid.
 */
static void
check_connection_has_no_timeout(govpool *p, const char *server_default, int *pid, const char *when)
{
	govpool_error err;
	gp_entry   *e = gp_pool_checkout(p, -1, &err);
	PGresult   *r;

	CHECK_MSG(e != NULL, "%s", err.message);
	if (e == NULL)
		return;
	*pid = PQbackendPID(e->conn);
	CHECK_MSG(strstr(PQoptions(e->conn), "statement_timeout") == NULL,
			  "%s: options=\"%s\"", when, PQoptions(e->conn));
	r = PQexec(e->conn, "SELECT setting || 'ms', source FROM pg_settings WHERE name = 'statement_timeout'");
	CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK &&
			  strcmp(PQgetvalue(r, 0, 1), "client") != 0 && strcmp(PQgetvalue(r, 0, 1), "session") != 0,
			  "%s: source %s", when, PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 1) : "?");
	PQclear(r);
	r = PQexec(e->conn, "SHOW statement_timeout");
	CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), server_default) == 0,
			  "%s: %s, server default %s", when, PQgetvalue(r, 0, 0), server_default);
	PQclear(r);
	gp_pool_checkin(p, e);
}

static void
test_statement_timeout_holds_inside_the_session_only(void)
{
	govpool_config cfg;
	govpool    *p;
	govpool_error err;
	govpool_session *s;
	PGresult   *r;
	char		shown[GOVPOOL_MESSAGE_MAX],
				server_default[64];
	int			pid0 = -1,
				pid;
	int64_t		t0;

	r = PQexec(admin, "SHOW statement_timeout");
	snprintf(server_default, sizeof(server_default), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	itest_config(&cfg, "gp_timeout");
	cfg.pool_size = 1;
	cfg.max_overflow = 0;
	cfg.statement_timeout_ms = 250;
	p = itest_pool(&cfg);

	/* nothing at connect time */
	check_connection_has_no_timeout(p, server_default, &pid0, "before any session");

	/* in effect in every kind of session */
	CHECK_MSG(shown_timeout(p, false, shown, sizeof(shown)) && strcmp(shown, "250ms") == 0, "begin/exec: %s", shown);
	CHECK_MSG(shown_timeout(p, true, shown, sizeof(shown)) && strcmp(shown, "250ms") == 0, "run: %s", shown);
	s = govpool_begin(p, &alice, -1, &err);
	r = PQexec(govpool_conn(s), "SHOW statement_timeout");
	CHECK_MSG(strcmp(PQgetvalue(r, 0, 0), "250ms") == 0, "govpool_conn: %s", PQgetvalue(r, 0, 0));
	PQclear(r);
	govpool_rollback(s);

	/* a statement running longer is cancelled, and the session says why */
	t0 = gp_now_ns();
	s = govpool_begin(p, &alice, -1, &err);
	r = govpool_exec(s, "SELECT pg_sleep(30)", 0, NULL, &err);
	CHECK_MSG(r == NULL && err.kind == GOVPOOL_ERR_QUERY && strcmp(err.sqlstate, "57014") == 0 &&
			  strstr(err.message, "statement timeout") && strstr(err.message, "statement_timeout is 250 ms"),
			  "begin/exec: %s %s %s", govpool_status_name(err.kind), err.sqlstate, err.message);
	PQclear(r);
	CHECK(govpool_exec(s, "SELECT 1", 0, NULL, &err) == NULL && err.kind == GOVPOOL_ERR_ROLLED_BACK);
	CHECK(govpool_commit(s, &err) == GOVPOOL_ERR_ROLLED_BACK);
	/* also when it is the first statement, in the prelude's pipeline */
	r = govpool_run(p, &alice, "SELECT pg_sleep(30)", 0, NULL, &err);
	CHECK_MSG(r == NULL && err.kind == GOVPOOL_ERR_QUERY && strcmp(err.sqlstate, "57014") == 0 &&
			  strstr(err.message, "statement_timeout is 250 ms"), "run: %s %s", err.sqlstate, err.message);
	PQclear(r);
	CHECK_MSG(gp_now_ns() - t0 < 10 * (int64_t) 1000000000, "cancelled in time");

	/* gone after the session, on the same server connection */
	check_connection_has_no_timeout(p, server_default, &pid, "after the sessions");
	CHECK(pid == pid0);
	/* the next session without a timeout runs under the server default */
	p->cfg.statement_timeout_ms = 0;
	CHECK_MSG(shown_timeout(p, true, shown, sizeof(shown)) && strcmp(shown, server_default) == 0,
			  "run without timeout: %s", shown);
	CHECK_MSG(shown_timeout(p, false, shown, sizeof(shown)) && strcmp(shown, server_default) == 0,
			  "session without timeout: %s", shown);
	r = govpool_run(p, &alice, "SELECT pg_sleep(0.3)", 0, NULL, &err);
	CHECK_MSG(r != NULL, "a 300 ms statement after the 250 ms sessions: %s", err.message);
	PQclear(r);
	check_connection_has_no_timeout(p, server_default, &pid, "at the end");
	CHECK(pid == pid0);
	govpool_destroy(p);
}

static void
test_release_twice_is_harmless(void)
{
	govpool_error err;
	govpool_session *s = govpool_begin(pool, &alice, -1, &err);
	govpool_stats before,
				after;

	PQclear(govpool_exec(s, "SELECT 1", 0, NULL, &err));
	CHECK(govpool_commit(s, &err) == GOVPOOL_OK);
	govpool_stats(pool, &before);
	govpool_rollback(s);		/* cleanup path after a commit */
	CHECK(govpool_commit(s, &err) == GOVPOOL_ERR_MISUSE);
	CHECK(govpool_exec(s, "SELECT 1", 0, NULL, &err) == NULL && err.kind == GOVPOOL_ERR_MISUSE);
	CHECK(govpool_conn(s) == NULL);
	govpool_stats(pool, &after);
	CHECK(after.sessions_rolled_back_total == before.sessions_rolled_back_total);
	CHECK(after.idle == before.idle && after.checked_out == 0);
}

static void
test_conn_flushes_the_queued_context(void)
{
	govpool_error err;
	govpool_session *s = govpool_begin(pool, &alice, -1, &err);
	PGconn	   *c = govpool_conn(s);
	PGresult   *r = PQexec(c, "SELECT governance.agent_id(), current_setting('transaction_isolation')");

	CHECK(PQtransactionStatus(c) == PQTRANS_INTRANS);
	CHECK(strcmp(PQgetvalue(r, 0, 0), "alice") == 0);
	PQclear(r);
	CHECK(govpool_commit(s, &err) == GOVPOOL_OK);
}

static void
test_bad_context_is_refused(void)
{
	static const govpool_context bad[] = {
		{NULL, "t", NULL},
		{"", NULL, NULL},
		{"a", NULL, "has space"},
	};
	govpool_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		CHECK(govpool_begin(pool, &bad[i], -1, &err) == NULL && err.kind == GOVPOOL_ERR_MISUSE);
		CHECK(govpool_run(pool, &bad[i], "SELECT 1", 0, NULL, &err) == NULL && err.kind == GOVPOOL_ERR_MISUSE);
	}
	/* what only the server checks comes back as its error, from set_context */
	{
		govpool_context ctl = {"bad\001agent", NULL, NULL};

		CHECK(govpool_run(pool, &ctl, "SELECT 1", 0, NULL, &err) == NULL);
		CHECK_MSG(err.kind == GOVPOOL_ERR_QUERY && strstr(err.message, "governance.set_context"),
				  "%s", err.message);
	}
}

static void
test_statement_that_ends_the_transaction_is_refused(void)
{
	govpool_error err;
	govpool_session *s = govpool_begin(pool, &alice, -1, &err);

	PQclear(govpool_exec(s, "SELECT 1", 0, NULL, &err));
	CHECK(govpool_exec(s, "COMMIT", 0, NULL, &err) == NULL && err.kind == GOVPOOL_ERR_MISUSE);
	CHECK(govpool_exec(s, "SELECT 1", 0, NULL, &err) == NULL);
	govpool_rollback(s);
}

/* ---- faults: what is retried and what never is ---- */

static void
test_failure_after_sending_is_not_retried(void)
{
	govpool_error err;
	govpool_stats st0,
				st;

	sql("DROP SEQUENCE IF EXISTS gp_calls; CREATE SEQUENCE gp_calls");
	govpool_stats(pool, &st0);
	/* the statement kills its own backend: before COMMIT, so not committed */
	CHECK(govpool_run(pool, &alice, "SELECT nextval('gp_calls'), pg_terminate_backend(pg_backend_pid())",
					  0, NULL, &err) == NULL);
	CHECK_MSG(err.kind == GOVPOOL_ERR_CONNECTION_LOST, "%s: %s", govpool_status_name(err.kind), err.message);
	CHECK(sql_long("SELECT last_value FROM gp_calls") == 1);	/* ran once */
	govpool_stats(pool, &st);
	CHECK(st.retries_total == st0.retries_total);
	CHECK(st.invalidated_total == st0.invalidated_total + 1);
	CHECK(st.checked_out == 0);

	/* same inside a session */
	{
		govpool_session *s = govpool_begin(pool, &alice, -1, &err);

		CHECK(govpool_exec(s, "SELECT nextval('gp_calls'), pg_terminate_backend(pg_backend_pid())",
						   0, NULL, &err) == NULL);
		CHECK(err.kind == GOVPOOL_ERR_CONNECTION_LOST);
		CHECK(govpool_commit(s, &err) == GOVPOOL_ERR_ROLLED_BACK);
		CHECK(sql_long("SELECT last_value FROM gp_calls") == 2);
	}
}

static void
test_connection_lost_at_commit_is_unknown_and_not_retried(void)
{
	govpool_error err;
	govpool_stats st0,
				st;

	/* a deferred trigger kills the backend while COMMIT runs */
	sql("DROP TABLE IF EXISTS gp_doomed;"
		"CREATE TABLE gp_doomed (x int);"
		"CREATE FUNCTION pg_temp.x() RETURNS int LANGUAGE sql AS 'SELECT 1';"
		"CREATE OR REPLACE FUNCTION gp_die() RETURNS trigger LANGUAGE plpgsql AS "
		"$$BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END$$;"
		"CREATE CONSTRAINT TRIGGER die AFTER INSERT ON gp_doomed DEFERRABLE INITIALLY DEFERRED "
		"FOR EACH ROW EXECUTE FUNCTION gp_die()");
	sql("ALTER SEQUENCE gp_calls RESTART");
	govpool_stats(pool, &st0);
	CHECK(govpool_run(pool, &alice, "INSERT INTO gp_doomed SELECT nextval('gp_calls')", 0, NULL, &err) == NULL);
	CHECK_MSG(err.kind == GOVPOOL_ERR_COMMIT_UNKNOWN, "%s: %s", govpool_status_name(err.kind), err.message);
	CHECK(sql_long("SELECT nextval('gp_calls')") == 2);	/* the statement ran once */
	govpool_stats(pool, &st);
	CHECK(st.retries_total == st0.retries_total);

	/* in a session: govpool_commit reports the unknown outcome */
	{
		govpool_session *s = govpool_begin(pool, &alice, -1, &err);

		PQclear(govpool_exec(s, "INSERT INTO gp_doomed VALUES (0)", 0, NULL, &err));
		CHECK(govpool_commit(s, &err) == GOVPOOL_ERR_COMMIT_UNKNOWN);
	}
	CHECK(sql_long("SELECT count(*) FROM gp_doomed") == 0);
	govpool_stats(pool, &st);
	CHECK(st.checked_out == 0);
}

static void
test_commit_refused_by_the_server_is_an_error(void)
{
	govpool_error err;
	govpool_session *s;

	sql("DROP TABLE IF EXISTS gp_deferred;"
		"CREATE TABLE gp_deferred (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)");
	s = govpool_begin(pool, &alice, -1, &err);
	PQclear(govpool_exec(s, "INSERT INTO gp_deferred VALUES (1), (1)", 0, NULL, &err));
	CHECK(govpool_commit(s, &err) == GOVPOOL_ERR_QUERY);
	CHECK(strcmp(err.sqlstate, "23505") == 0);
	CHECK(sql_long("SELECT count(*) FROM gp_deferred") == 0);
}

static void
test_dead_connection_found_before_sending_is_retried_transparently(void)
{
	govpool   *p1;
	govpool_config cfg;
	govpool_error err;
	govpool_session *s;
	int			pid;
	PGresult   *r;

	itest_config(&cfg, "gp_retry");
	cfg.pool_size = 1;
	cfg.max_overflow = 0;
	cfg.liveness_idle_ms = 0;
	p1 = itest_pool(&cfg);
	sql("ALTER SEQUENCE gp_calls RESTART");
	s = govpool_begin(p1, &alice, -1, &err);
	pid = session_pid(s);
	govpool_commit(s, &err);
	CHECK(terminate_and_wait(pid));
	r = govpool_run(p1, &alice, "SELECT nextval('gp_calls')", 0, NULL, &err);
	CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "1") == 0, "%s", r ? PQgetvalue(r, 0, 0) : err.message);
	PQclear(r);
	govpool_destroy(p1);
}

static void
test_echo_logs_statements_with_correlation_id(void)
{
	govpool_config cfg;
	govpool   *p1;
	logbuf		lb;
	govpool_error err;

	itest_config(&cfg, "gp_echo");
	cfg.echo = true;
	p1 = itest_pool(&cfg);
	logbuf_init(&lb);
	govpool_set_logger(p1, logbuf_fn, &lb);
	PQclear(govpool_run(p1, &alice, "SELECT 42", 0, NULL, &err));
	CHECK_MSG(strstr(lb.text, "event=sql") && strstr(lb.text, "correlation_id=req-1") &&
			  strstr(lb.text, "sql=\"SELECT 42\""), "%s", lb.text);
	govpool_destroy(p1);
}

static void
test_passwords_never_reach_messages(void)
{
	govpool_config cfg;
	govpool   *p1;
	govpool_error err;
	logbuf		lb;

	itest_config(&cfg, "gp_secret");
	snprintf(cfg.conninfo, sizeof(cfg.conninfo), "host=127.0.0.1 port=1 user=u password=Sup3rS3cret");
	cfg.extensions[0] = '\0';
	cfg.connect_attempts = 1;
	p1 = itest_pool(&cfg);
	logbuf_init(&lb);
	govpool_set_logger(p1, logbuf_fn, &lb);
	CHECK(govpool_begin(p1, &alice, -1, &err) == NULL && err.kind == GOVPOOL_ERR_CONNECT);
	CHECK(strstr(err.message, "Sup3rS3cret") == NULL);
	CHECK(lb.lines > 0 && strstr(lb.text, "Sup3rS3cret") == NULL);
	govpool_destroy(p1);
}

int
main(void)
{
	govpool_config cfg;

	itest_connect_admin();
	itest_governance();
	itest_config(&cfg, "gp_session");
	pool = itest_pool(&cfg);
	RUN(test_context_reaches_the_server);
	RUN(test_context_travels_as_parameters);
	RUN(test_sealed_context_cannot_be_changed);
	RUN(test_error_rolls_the_session_back);
	RUN(test_commit_persists_and_rollback_discards);
	RUN(test_round_trips_on_the_wire);
	RUN(test_statement_timeout_costs_no_message_or_round_trip);
	RUN(test_statement_timeout_holds_inside_the_session_only);
	RUN(test_release_twice_is_harmless);
	RUN(test_conn_flushes_the_queued_context);
	RUN(test_bad_context_is_refused);
	RUN(test_statement_that_ends_the_transaction_is_refused);
	RUN(test_failure_after_sending_is_not_retried);
	RUN(test_connection_lost_at_commit_is_unknown_and_not_retried);
	RUN(test_commit_refused_by_the_server_is_an_error);
	RUN(test_dead_connection_found_before_sending_is_retried_transparently);
	RUN(test_echo_logs_statements_with_correlation_id);
	RUN(test_passwords_never_reach_messages);
	govpool_destroy(pool);
	PQfinish(admin);
	return tap_done();
}
