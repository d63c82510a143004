/*
 * test_stmtcache.c
 *	  Integration tests of the statement cache (GOVPOOL_STATEMENT_CACHE): a
 *	  statement is prepared on its second use on a connection in the same
 *	  round trip and executed by name after; the cache follows what the
 *	  server has (DEALLOCATE, DISCARD ALL, a new connection, a changed
 *	  result type) with one transparent resend where nothing ran, and an
 *	  error inside a session; it is bounded, closes what it evicts in a
 *	  later pipeline, and is off where named statements cannot be trusted.
 *	  The guarantees of govpool_run (audit, deferred triggers, errors at the
 *	  implicit commit) hold for cached statements.
 */
#include <stdio.h>

#include "itest.h"

static govpool_context alice = {"alice", "acme", "req-1"};

static govpool *
cache_pool(const char *app, int size, govpool_prepare prepare, govpool_pooler pooler,
		   govpool_reset reset, logbuf *lb)
{
	return itest_one_conn_pool(app, size, prepare, pooler, reset, lb);
}

static govpool *
default_pool(const char *app, logbuf *lb)
{
	return cache_pool(app, -1, GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
					  GOVPOOL_RESET_ROLLBACK, lb);
}

static PGconn *
the_conn(govpool *p)
{
	return itest_the_conn(p, &alice);
}

/* The entry of that connection (its cache), for white-box checks. */
static gp_entry *
the_entry(govpool *p)
{
	return &p->bag.slots[0];
}

/* One govpool_run with one text parameter, traced on the wire (caller frees). */
static char *
traced(govpool *p, const char *sql, const char *param, char *value, size_t size,
	   govpool_error *err)
{
	/* not through a session: its first pipeline would carry what is queued */
	PGconn	   *conn = the_entry(p)->conn ? the_entry(p)->conn : the_conn(p);
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *f = open_memstream(&buf, &len);
	const char *params[1] = {param};
	PGresult   *r;

	PQtrace(conn, f);
	PQsetTraceFlags(conn, PQTRACE_SUPPRESS_TIMESTAMPS);
	r = govpool_run(p, &alice, sql, param ? 1 : 0, param ? params : NULL, err);
	PQuntrace(conn);
	fclose(f);
	snprintf(value, size, "%s", r == NULL ? "<error>" :
			 PQntuples(r) < 1 ? "<none>" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return buf;
}

/* A value through govpool_run ("<error>: message" on failure). */
static void
run_value(govpool *p, const char *sql, const char *param, char *out, size_t size)
{
	govpool_error err;
	const char *params[1] = {param};
	PGresult   *r = govpool_run(p, &alice, sql, param ? 1 : 0, param ? params : NULL, &err);

	if (r == NULL)
		snprintf(out, size, "<error> [%s] %.200s", err.sqlstate, err.message);
	else
		snprintf(out, size, "%s", PQntuples(r) < 1 ? "<none>" : PQgetvalue(r, 0, 0));
	PQclear(r);
}

/*
 * Cached statements the server holds on this pool's connection (asked on
 * the raw connection of a session: the question itself is not cached).
 */
static long
server_prepared(govpool *p)
{
	govpool_error err;
	govpool_session *s = govpool_begin(p, &alice, -1, &err);
	PGconn	   *c = s ? govpool_conn(s) : NULL;
	PGresult   *r;
	long		n = -1;

	if (c == NULL)
		return -1;
	PQsetnonblocking(c, 0);
	r = PQexec(c, "SELECT count(*) FROM pg_prepared_statements "
			   "WHERE name LIKE 'govpool\\_%\\_%' AND name NOT LIKE 'govpool\\_set\\_context%'");
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		n = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQsetnonblocking(c, 1);
	govpool_commit(s, &err);
	return n;
}

static const char lookup[] = "SELECT v FROM gp_sc_kv WHERE k = $1";

static void
setup_tables(void)
{
	sql("DROP TABLE IF EXISTS gp_sc_kv; DROP TABLE IF EXISTS gp_sc_log;"
		"CREATE TABLE gp_sc_kv (k int PRIMARY KEY, v text);"
		"INSERT INTO gp_sc_kv SELECT g, 'v' || g FROM generate_series(1, 100) g;"
		"CREATE TABLE gp_sc_log (id serial PRIMARY KEY, agent text, n int)");
}

/*
 * First use: the statement as text (unnamed Parse).  Second: a named Parse
 * and its Bind in the same pipeline, before the one Sync, with the same
 * number of messages.  Third: no Parse at all.  Results are the same.
 */
static void
test_prepared_on_second_use_in_the_same_round_trip(void)
{
	govpool    *p = default_pool("gp_sc_second", NULL);
	govpool_error err;
	char		v[3][64];
	char	   *t[3];

	setup_tables();
	run_value(p, "SELECT 0", NULL, v[0], sizeof(v[0]));	/* the context is prepared */
	for (int i = 0; i < 3; i++)
		t[i] = traced(p, lookup, i == 0 ? "7" : i == 1 ? "8" : "9", v[i], sizeof(v[i]), &err);
	CHECK_MSG(strcmp(v[0], "v7") == 0 && strcmp(v[1], "v8") == 0 && strcmp(v[2], "v9") == 0,
			  "%s %s %s: %s", v[0], v[1], v[2], err.message);
	CHECK_MSG(count_substr(t[0], "\tParse\t \"\" \"SELECT v FROM gp_sc_kv") == 1 &&
			  count_substr(t[0], "\tParse\t \"govpool_") == 0, "%s", t[0]);
	CHECK_MSG(count_substr(t[1], "\tParse\t \"govpool_") == 1 &&
			  count_substr(t[1], "\tParse\t") == 1 &&
			  count_substr(t[1], "\tBind\t \"\" \"govpool_") == 2 &&
			  count_substr(t[1], "\tSync") == 1 &&
			  count_substr(t[1], "F\t") == count_substr(t[0], "F\t"), "%s\n----\n%s", t[0], t[1]);
	CHECK_MSG(count_substr(t[2], "\tParse\t") == 0 && count_substr(t[2], "\tSync") == 1 &&
			  count_substr(t[2], "\tBind\t \"\" \"govpool_") == 2, "%s", t[2]);
	CHECK(server_prepared(p) == 1);
	for (int i = 0; i < 3; i++)
		free(t[i]);
	govpool_destroy(p);
}

/*
 * The server lost the statement: govpool_run resends once, as text, and
 * the outcome is that of a first run (one row written, with its context).
 * Cases: DEALLOCATE ALL in a session, DISCARD ALL on the idle connection
 * (a pooler's server_reset_query; govpool_run's own is refused by the
 * sealed context), DEALLOCATE of the statement's name on it, DEALLOCATE
 * ALL sent by govpool_run itself, a new connection (nothing lost: a new
 * cache).
 */
static void
test_lost_statement_is_resent_once_by_run(void)
{
	static const char insert[] = "INSERT INTO gp_sc_log (agent, n) "
		"VALUES (governance.agent_id(), $1::int) RETURNING n";

	for (int c = 0; c < 5; c++)
	{
		logbuf		lb;
		govpool    *p = default_pool("gp_sc_lost", &lb);
		govpool_error err;
		char		v[256];
		char		q[256];
		int			pid;

		setup_tables();
		run_value(p, insert, "1", v, sizeof(v));
		run_value(p, insert, "2", v, sizeof(v));	/* prepared now */
		CHECK_MSG(server_prepared(p) == 1, "case %d", c);
		{
			govpool_session *s = govpool_begin(p, &alice, -1, &err);

			pid = session_pid(s);
			govpool_commit(s, &err);
		}
		if (c == 0)
		{
			govpool_session *s = govpool_begin(p, &alice, -1, &err);

			PQclear(govpool_exec(s, "SELECT 1", 0, NULL, &err));
			PQclear(govpool_exec(s, "DEALLOCATE ALL", 0, NULL, &err));
			CHECK(govpool_commit(s, &err) == GOVPOOL_OK);
		}
		else if (c == 1 || c == 2)
		{
			PGconn	   *conn = the_entry(p)->conn;
			PGresult   *r;

			snprintf(q, sizeof(q), "DEALLOCATE %s", gp_stmt_name(the_entry(p)->stmts, 0));
			if (c == 1)
				snprintf(q, sizeof(q), "DISCARD ALL");
			PQsetnonblocking(conn, 0);
			r = PQexec(conn, q);
			CHECK_MSG(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(conn));
			PQclear(r);
			PQsetnonblocking(conn, 1);
		}
		else if (c == 3)
		{
			run_value(p, "DEALLOCATE ALL", NULL, v, sizeof(v));
			CHECK_MSG(strncmp(v, "<error>", 7) != 0, "DEALLOCATE ALL in govpool_run: %s", v);
		}
		else
			CHECK(terminate_and_wait(pid));
		CHECK_MSG(server_prepared(p) == 0, "case %d", c);
		run_value(p, insert, "3", v, sizeof(v));
		CHECK_MSG(strcmp(v, "3") == 0, "case %d: %s", c, v);
		/* exactly one row for the third run, written under its context */
		CHECK_MSG(sql_long("SELECT count(*) FROM gp_sc_log WHERE n = 3 AND agent = 'alice'") == 1 &&
				  sql_long("SELECT count(*) FROM gp_sc_log") == 3, "case %d", c);
		CHECK_MSG(count_substr(lb.text, "event=statement_lost sqlstate=26000") == (c < 4),
				  "case %d: %s", c, lb.text);
		/* and it is prepared again on its next use, and used */
		run_value(p, insert, "4", v, sizeof(v));
		run_value(p, insert, "5", v, sizeof(v));
		CHECK_MSG(strcmp(v, "5") == 0 && server_prepared(p) == 1, "case %d: %s", c, v);
		CHECK(sql_long("SELECT count(*) FROM gp_sc_log") == 5);
		govpool_destroy(p);
	}
}

/*
 * Inside a session the loss aborts the transaction: the error is the
 * caller's (26000, saying it was the cache's statement), nothing of the
 * session commits, the entry is dropped and the next run works.  A
 * session's first statement, before which nothing of it ran, is resent.
 */
static void
test_lost_statement_inside_a_session_is_an_error(void)
{
	static const char insert[] = "INSERT INTO gp_sc_log (agent, n) VALUES ('s', $1::int)";
	logbuf		lb;
	govpool    *p = default_pool("gp_sc_session", &lb);
	govpool_error err;
	govpool_session *s;
	const char *one[1] = {"1"};
	PGresult   *r;
	char		v[256];

	setup_tables();
	run_value(p, insert, "0", v, sizeof(v));
	run_value(p, insert, "0", v, sizeof(v));	/* prepared now */
	s = govpool_begin(p, &alice, -1, &err);
	r = govpool_exec(s, insert, 1, one, &err);	/* the prelude: runs by name */
	CHECK_MSG(r != NULL, "%s", err.message);
	PQclear(r);
	PQclear(govpool_exec(s, "DEALLOCATE ALL", 0, NULL, &err));
	r = govpool_exec(s, insert, 1, one, &err);
	CHECK_MSG(r == NULL && err.kind == GOVPOOL_ERR_QUERY && strcmp(err.sqlstate, "26000") == 0 &&
			  strstr(err.message, "statement cache") != NULL,
			  "%s [%s] %s", govpool_status_name(err.kind), err.sqlstate, err.message);
	PQclear(r);
	r = govpool_exec(s, "SELECT 1", 0, NULL, &err);
	CHECK(r == NULL && err.kind == GOVPOOL_ERR_ROLLED_BACK);
	govpool_rollback(s);
	CHECK(sql_long("SELECT count(*) FROM gp_sc_log WHERE n = 1") == 0);
	CHECK(gp_stmt_count(the_entry(p)->stmts, NULL) == 0);

	/* the next session's first statement meets the loss and is resent: no error */
	run_value(p, insert, "0", v, sizeof(v));
	run_value(p, insert, "0", v, sizeof(v));	/* prepared again */
	s = govpool_begin(p, &alice, -1, &err);
	PQclear(govpool_exec(s, "DEALLOCATE ALL", 0, NULL, &err));
	CHECK(govpool_commit(s, &err) == GOVPOOL_OK);
	s = govpool_begin(p, &alice, -1, &err);
	r = govpool_exec(s, insert, 1, one, &err);
	CHECK_MSG(r != NULL, "%s", err.message);
	PQclear(r);
	CHECK(govpool_commit(s, &err) == GOVPOOL_OK);
	CHECK(sql_long("SELECT count(*) FROM gp_sc_log WHERE n = 1") == 1);
	govpool_destroy(p);
}

/*
 * ALTER TABLE changes what SELECT * returns: the server refuses the cached
 * plan (0A000).  govpool_run resends as text (the new shape), the old
 * statement is closed on the server in a later pipeline; a session
 * statement gets the error.
 */
static void
test_changed_result_type_drops_the_entry(void)
{
	static const char star[] = "SELECT * FROM gp_sc_shape WHERE k = $1::int";
	govpool    *p = default_pool("gp_sc_shape", NULL);
	govpool_error err;
	govpool_session *s;
	const char *one[1] = {"1"};
	PGresult   *r;
	char		v[256];
	char	   *t;

	sql("DROP TABLE IF EXISTS gp_sc_shape; CREATE TABLE gp_sc_shape (k int, a text);"
		"INSERT INTO gp_sc_shape VALUES (1, 'a')");
	run_value(p, star, "1", v, sizeof(v));
	run_value(p, star, "1", v, sizeof(v));
	CHECK(server_prepared(p) == 1);
	sql("ALTER TABLE gp_sc_shape ADD COLUMN b text DEFAULT 'b'");
	r = govpool_run(p, &alice, star, 1, one, &err);
	CHECK_MSG(r && PQnfields(r) == 3 && strcmp(PQgetvalue(r, 0, 2), "b") == 0, "%s", err.message);
	PQclear(r);
	/* the server still had it: closed (by the resend's pipeline) */
	CHECK(server_prepared(p) == 0);

	/* in a session, after its first statement: the error, annotated */
	run_value(p, star, "1", v, sizeof(v));
	run_value(p, star, "1", v, sizeof(v));
	sql("ALTER TABLE gp_sc_shape ADD COLUMN c text");
	s = govpool_begin(p, &alice, -1, &err);
	PQclear(govpool_exec(s, "SELECT 1", 0, NULL, &err));
	r = govpool_exec(s, star, 1, one, &err);
	CHECK_MSG(r == NULL && strcmp(err.sqlstate, "0A000") == 0 &&
			  strstr(err.message, "statement cache") != NULL, "[%s] %s", err.sqlstate, err.message);
	PQclear(r);
	govpool_rollback(s);
	/* closed by the next pipeline, in a segment of its own, ahead */
	t = traced(p, star, "1", v, sizeof(v), &err);
	CHECK_MSG(strcmp(v, "1") == 0 && count_substr(t, "\"DEALLOCATE govpool_") == 1 &&
			  count_substr(t, "\tSync") == 2 && strstr(t, "DEALLOCATE") < strstr(t, "\tSync"),
			  "%s %s", v, t);
	free(t);
	CHECK(server_prepared(p) == 0);
	govpool_destroy(p);
}

/*
 * The statement's own 0A000 (or 26000) is the caller's error, not the
 * cache's: it is returned, and the statement ran once (a sequence, which
 * no rollback takes back, counts the runs), never resent.
 */
static void
test_statements_own_error_is_not_resent(void)
{
	static const char bump[] = "SELECT gp_sc_refuse($1::int)";
	govpool    *p = default_pool("gp_sc_own", NULL);
	govpool_error err;
	const char *one[1] = {"1"};
	PGresult   *r;

	sql("DROP SEQUENCE IF EXISTS gp_sc_runs; CREATE SEQUENCE gp_sc_runs;"
		"CREATE OR REPLACE FUNCTION gp_sc_refuse(n int) RETURNS int LANGUAGE plpgsql AS "
		"$$BEGIN PERFORM nextval('gp_sc_runs'); "
		"IF n > 0 THEN RAISE EXCEPTION 'not supported here' USING ERRCODE = '0A000'; END IF; "
		"RETURN n; END$$");
	for (int i = 1; i <= 3; i++)
	{
		r = govpool_run(p, &alice, bump, 1, one, &err);
		CHECK_MSG(r == NULL && strcmp(err.sqlstate, "0A000") == 0 &&
				  strstr(err.message, "not supported here") != NULL, "[%s] %s", err.sqlstate, err.message);
		PQclear(r);
		CHECK_MSG(sql_long("SELECT last_value FROM gp_sc_runs") == i,
				  "run %d: the function ran %ld times", i, sql_long("SELECT last_value FROM gp_sc_runs"));
	}
	govpool_destroy(p);
}

/*
 * Bounded: with room for 2, a third statement evicts the least recently
 * used one, whose DEALLOCATE rides in front of the next pipeline; the
 * server never holds more than the cache's size (plus what waits to be
 * closed) however many statements pass.
 */
static void
test_bounded_and_evicted_statements_closed_later(void)
{
	govpool    *p = cache_pool("gp_sc_bound", 2, GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
							   GOVPOOL_RESET_ROLLBACK, NULL);
	govpool_error err;
	char		v[64],
				q[128];
	char	   *t;
	long		most = 0;

	for (int i = 0; i < 60; i++)
	{
		long		n;

		snprintf(q, sizeof(q), "SELECT %d + $1::int", i % 30);
		run_value(p, q, "1", v, sizeof(v));
		run_value(p, q, "1", v, sizeof(v));
		CHECK_MSG(atoi(v) == i % 30 + 1, "%s: %s", q, v);
		n = server_prepared(p);
		most = n > most ? n : most;
		CHECK(gp_stmt_count(the_entry(p)->stmts, NULL) <= 2);
	}
	CHECK_MSG(most <= 2 + GP_STMT_CLOSE_MAX && most >= 2, "at most %ld", most);
	CHECK_MSG(server_prepared(p) <= 2, "%ld", server_prepared(p));
	/*
	 * An eviction's DEALLOCATE goes out with a pipeline that is sent anyway
	 * (here the evicting run's own), in a segment of its own ahead
	 */
	run_value(p, "SELECT 100 + $1::int", "1", v, sizeof(v));
	t = traced(p, "SELECT 100 + $1::int", "1", v, sizeof(v), &err);	/* evicts one */
	CHECK_MSG(strcmp(v, "101") == 0 && count_substr(t, "\"DEALLOCATE govpool_") == 1 &&
			  count_substr(t, "\tSync") == 2 && count_substr(t, "ReadyForQuery") == 2 &&
			  strstr(t, "DEALLOCATE") < strstr(t, "\tSync") &&
			  count_substr(t, "\tParse\t \"govpool_") == 1, "%s %s", v, t);
	free(t);
	govpool_destroy(p);
}

/* Off: size 0, GOVPOOL_PREPARE_CONTEXT=off, a transaction pooler (auto). */
static void
test_off_when_zero_or_unprepared_or_behind_a_transaction_pooler(void)
{
	struct
	{
		int			size;
		govpool_prepare prepare;
		govpool_pooler pooler;
	}			cases[] = {
		{0, GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE},
		{100, GOVPOOL_PREPARE_OFF, GOVPOOL_POOLER_NONE},
		{100, GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_TRANSACTION},
	};

	setup_tables();
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
	{
		govpool    *p = cache_pool("gp_sc_off", cases[c].size, cases[c].prepare,
								   cases[c].pooler, GOVPOOL_RESET_ROLLBACK, NULL);
		govpool_error err;
		char		v[64];

		for (int i = 0; i < 3; i++)
		{
			char	   *t = traced(p, lookup, "5", v, sizeof(v), &err);

			CHECK_MSG(strcmp(v, "v5") == 0 &&
					  count_substr(t, "\"govpool_") == count_substr(t, "\"govpool_set_context\""),
					  "case %zu: %s %s", c, v, t);
			CHECK_MSG(count_substr(t, "\tParse\t \"\" \"SELECT v FROM gp_sc_kv") == 1, "case %zu: %s", c, t);
			free(t);
		}
		CHECK(the_entry(p)->stmts == NULL);
		govpool_destroy(p);
	}
}

/* reset_on_return=discard: the cache knows DISCARD ALL emptied the server's side. */
static void
test_discard_all_on_return_keeps_the_cache_consistent(void)
{
	logbuf		lb;
	govpool    *p = cache_pool("gp_sc_discard", 100, GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
							   GOVPOOL_RESET_DISCARD, &lb);
	govpool_error err;
	char		v[64];

	setup_tables();
	for (int i = 0; i < 4; i++)
	{
		char	   *t = traced(p, lookup, "3", v, sizeof(v), &err);

		CHECK_MSG(strcmp(v, "v3") == 0, "%s", err.message);
		/* from the second use on, prepared anew each time: never "does not exist" */
		CHECK_MSG(i == 0 || count_substr(t, "\tParse\t \"govpool_") == 2, "%d: %s", i, t);
		free(t);
	}
	CHECK_MSG(strstr(lb.text, "statement_lost") == NULL && strstr(lb.text, "context_statement_lost") == NULL,
			  "%s", lb.text);
	govpool_destroy(p);
}

/*
 * Cached statements keep govpool_run's guarantees: the audit row and the
 * deferred trigger commit with the change under the context; an error at
 * the implicit commit is that error, nothing committed.
 */
static void
test_cached_statements_keep_audit_and_commit_rules(void)
{
	static const char ins[] = "INSERT INTO gp_sc_audited VALUES ($1::int)";
	govpool    *p = default_pool("gp_sc_audit", NULL);
	govpool_error err;
	PGresult   *r;
	long		before;
	char		q[512];

	sql("DROP TABLE IF EXISTS gp_sc_audited; DROP TABLE IF EXISTS gp_sc_seen;"
		"CREATE TABLE gp_sc_audited (x int UNIQUE DEFERRABLE INITIALLY DEFERRED);"
		"CREATE TABLE gp_sc_seen (agent text);"
		"SELECT governance.enable_audit('gp_sc_audited');"
		"CREATE OR REPLACE FUNCTION gp_sc_note() RETURNS trigger LANGUAGE plpgsql AS "
		"$$BEGIN INSERT INTO gp_sc_seen VALUES (governance.agent_id()); RETURN NULL; END$$;"
		"CREATE CONSTRAINT TRIGGER note AFTER INSERT ON gp_sc_audited "
		"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gp_sc_note()");
	before = sql_long("SELECT coalesce(max(id), 0) FROM governance.audit_log");
	for (int i = 1; i <= 4; i++)
	{
		char		n[8];
		const char *params[1] = {n};

		snprintf(n, sizeof(n), "%d", i);
		r = govpool_run(p, &alice, ins, 1, params, &err);
		CHECK_MSG(r != NULL, "%s", err.message);
		PQclear(r);
	}
	CHECK(server_prepared(p) == 1);
	snprintf(q, sizeof(q), "SELECT count(*) FROM governance.audit_log WHERE id > %ld "
			 "AND relation::text LIKE '%%gp_sc_audited' AND op = 'INSERT' AND agent_id = 'alice' "
			 "AND tenant_id = 'acme' AND correlation_id = 'req-1'", before);
	CHECK(sql_long(q) == 4);
	CHECK(sql_long("SELECT count(*) FROM gp_sc_seen WHERE agent = 'alice'") == 4);
	/* the deferred unique constraint fails at the Sync: that error, nothing committed */
	{
		const char *dup[1] = {"2"};

		r = govpool_run(p, &alice, ins, 1, dup, &err);
		CHECK_MSG(r == NULL && err.kind == GOVPOOL_ERR_QUERY && strcmp(err.sqlstate, "23505") == 0 &&
				  strncmp(err.message, "COMMIT: ", 8) == 0, "%s [%s] %s",
				  govpool_status_name(err.kind), err.sqlstate, err.message);
		PQclear(r);
	}
	CHECK(sql_long("SELECT count(*) FROM gp_sc_audited") == 4);
	CHECK(sql_long(q) == 4);
	govpool_destroy(p);
}

/* A statement's text as a key: same text, other parameter count, other statement. */
static void
test_key_is_text_and_parameter_count(void)
{
	govpool    *p = default_pool("gp_sc_key", NULL);
	govpool_error err;
	const char *a[2] = {"1", "2"};
	PGresult   *r;

	for (int i = 0; i < 3; i++)
	{
		r = govpool_run(p, &alice, "SELECT 1", 0, NULL, &err);
		CHECK_MSG(r != NULL, "%s", err.message);
		PQclear(r);
		r = govpool_run(p, &alice, "SELECT $1::int + $2::int", 2, a, &err);
		CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "3") == 0, "%s", err.message);
		PQclear(r);
	}
	CHECK(gp_stmt_count(the_entry(p)->stmts, NULL) == 2);
	/* utility statements are never cached */
	for (int i = 0; i < 3; i++)
	{
		r = govpool_run(p, &alice, "SET LOCAL work_mem = '8MB'", 0, NULL, &err);
		CHECK_MSG(r != NULL, "%s", err.message);
		PQclear(r);
	}
	CHECK(gp_stmt_count(the_entry(p)->stmts, NULL) == 2);
	govpool_destroy(p);
}

int
main(void)
{
	itest_connect_admin();
	RUN(test_prepared_on_second_use_in_the_same_round_trip);
	RUN(test_lost_statement_is_resent_once_by_run);
	RUN(test_lost_statement_inside_a_session_is_an_error);
	RUN(test_changed_result_type_drops_the_entry);
	RUN(test_statements_own_error_is_not_resent);
	RUN(test_bounded_and_evicted_statements_closed_later);
	RUN(test_off_when_zero_or_unprepared_or_behind_a_transaction_pooler);
	RUN(test_discard_all_on_return_keeps_the_cache_consistent);
	RUN(test_cached_statements_keep_audit_and_commit_rules);
	RUN(test_key_is_text_and_parameter_count);
	PQfinish(admin);
	return tap_done();
}
