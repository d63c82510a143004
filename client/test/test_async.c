/*
 * test_async.c
 *	  Integration and fault tests of the non-blocking operations against a
 *	  server: every operation driven by a poll() loop in one thread, many
 *	  sessions in flight from one thread, FIFO waits woken by callback,
 *	  timeout while queued, exhaustion, cancellation at each step (queued,
 *	  connecting, back-off, statement in flight, COMMIT in flight), a
 *	  terminated backend and a server that is down or never answers.
 *	  Also run under ASan+UBSan and TSan.
 *
 * Nothing here sleeps for timing: a statement is held "in flight" by an
 * advisory lock the admin connection holds, and released on demand.
 */
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

static govpool_context alice = {"alice", "acme", "req-async"};

/* ---- a tiny event loop ---- */

typedef struct woken
{
	int			count;
	int			order[64];
	int			id;
} woken;

/* Wake callback: only takes note (it runs with a pool lock held). */
static void
note_wake(govpool_op *op, void *ud)
{
	woken	   *w = ud;

	(void) op;
	if (w->count < 64)
		w->order[w->count] = w->id;
	w->count++;
}

/* Wait for what w asks (fd readiness or deadline); WAITING: up to the deadline. */
static void
wait_one(const govpool_wait *w)
{
	struct pollfd pfd = {w->fd, (short) ((w->want_read ? POLLIN : 0) | (w->want_write ? POLLOUT : 0)), 0};

	(void) poll(w->fd >= 0 ? &pfd : NULL, w->fd >= 0 ? 1 : 0, govpool_wait_timeout_ms(w));
}

/* Drive one operation to its end from this thread; counts its polls. */
static govpool_poll
drive(govpool_op *op, int *polls)
{
	for (;;)
	{
		govpool_wait w;
		govpool_poll p = govpool_op_poll(op, &w);

		if (polls)
			(*polls)++;
		if (p == GOVPOOL_POLL_OK || p == GOVPOOL_POLL_FAILED)
			return p;
		wait_one(&w);
	}
}

/* Poll until the operation reports p (a step where it waits on the network). */
static bool
poll_until(govpool_op *op, govpool_poll want, govpool_wait *w)
{
	for (int i = 0; i < 10000; i++)
	{
		govpool_poll p = govpool_op_poll(op, w);

		if (p == want)
			return true;
		if (p == GOVPOOL_POLL_OK || p == GOVPOOL_POLL_FAILED)
			return false;
		wait_one(w);
	}
	return false;
}

static govpool *
small_pool(const char *app, int size, int overflow)
{
	govpool_config cfg;

	itest_config(&cfg, app);
	cfg.pool_size = size;
	cfg.max_overflow = overflow;
	return itest_pool(&cfg);
}

/* Backend pid of a finished-begin session's connection, without sending anything. */
static int
backend_of(govpool_session *s)
{
	return PQbackendPID(s->entry->conn);
}

/* ---- every operation ---- */

static void
test_run_returns_the_result_with_the_context(void)
{
	govpool    *pool = small_pool("gp_async_run", 2, 0);
	govpool_op *op = govpool_op_create(pool);
	const char *params[1] = {"7"};
	PGresult   *r;

	CHECK(govpool_run_start(op, &alice, "SELECT governance.agent_id(), governance.tenant_id(), "
							"governance.correlation_id(), $1::int * 6", 1, params) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_OK);
	r = govpool_op_result(op);
	CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "alice") == 0 && strcmp(PQgetvalue(r, 0, 1), "acme") == 0 &&
			  strcmp(PQgetvalue(r, 0, 2), "req-async") == 0 && strcmp(PQgetvalue(r, 0, 3), "42") == 0,
			  "%s", govpool_op_error(op)->message);
	PQclear(r);
	CHECK(govpool_op_result(op) == NULL);	/* handed over once */

	/* the handle is reusable; a server error fails the operation with its SQLSTATE */
	CHECK(govpool_run_start(op, &alice, "SELECT 1/0", 0, NULL) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_FAILED);
	CHECK(govpool_op_status(op) == GOVPOOL_ERR_QUERY && strcmp(govpool_op_error(op)->sqlstate, "22012") == 0);

	/* a bad context is refused at start: nothing runs */
	{
		govpool_context nobody = {NULL, NULL, NULL};

		CHECK(govpool_run_start(op, &nobody, "SELECT 1", 0, NULL) == GOVPOOL_ERR_MISUSE);
		CHECK(govpool_op_poll(op, NULL) == GOVPOOL_POLL_FAILED);
	}
	govpool_op_destroy(op);
	govpool_destroy(pool);
}

static void
test_session_begin_exec_commit_and_rollback(void)
{
	govpool    *pool = small_pool("gp_async_session", 1, 0);
	govpool_op *op = govpool_op_create(pool);
	govpool_session *s;
	PGresult   *r;
	govpool_stats st;

	sql("DROP TABLE IF EXISTS gp_async_t; CREATE TABLE gp_async_t (x int, agent text)");
	CHECK(govpool_begin_start(op, &alice, -1) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_OK);
	s = govpool_op_session(op);
	CHECK(s != NULL);
	CHECK(govpool_exec_start(op, s, "INSERT INTO gp_async_t VALUES (1, governance.agent_id())", 0, NULL) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_OK);
	PQclear(govpool_op_result(op));
	CHECK(govpool_exec_start(op, s, "SELECT count(*) FROM gp_async_t", 0, NULL) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_OK);
	r = govpool_op_result(op);
	CHECK(r && strcmp(PQgetvalue(r, 0, 0), "1") == 0);
	PQclear(r);
	CHECK(govpool_commit_start(op, s) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_OK);
	CHECK(sql_long("SELECT count(*) FROM gp_async_t WHERE agent = 'alice'") == 1);
	/* a second end of the same session is refused (commit) or harmless (rollback) */
	CHECK(govpool_commit_start(op, s) == GOVPOOL_ERR_MISUSE);
	CHECK(govpool_rollback_start(op, s) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);

	/* rollback discards */
	CHECK(govpool_begin_start(op, &alice, -1) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	s = govpool_op_session(op);
	CHECK(govpool_exec_start(op, s, "INSERT INTO gp_async_t VALUES (2, 'x')", 0, NULL) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_OK);
	PQclear(govpool_op_result(op));
	CHECK(govpool_rollback_start(op, s) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	CHECK(sql_long("SELECT count(*) FROM gp_async_t") == 1);

	/* an error rolls the session back; commit then says so */
	CHECK(govpool_begin_start(op, &alice, -1) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	s = govpool_op_session(op);
	CHECK(govpool_exec_start(op, s, "INSERT INTO gp_async_t VALUES (3, 'x')", 0, NULL) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_OK);
	PQclear(govpool_op_result(op));
	CHECK(govpool_exec_start(op, s, "SELECT 1/0", 0, NULL) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_FAILED && govpool_op_status(op) == GOVPOOL_ERR_QUERY);
	CHECK(govpool_exec_start(op, s, "SELECT 1", 0, NULL) == GOVPOOL_ERR_ROLLED_BACK);
	CHECK(govpool_commit_start(op, s) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_FAILED && govpool_op_status(op) == GOVPOOL_ERR_ROLLED_BACK);
	CHECK(sql_long("SELECT count(*) FROM gp_async_t") == 1);

	govpool_stats(pool, &st);
	CHECK(st.checked_out == 0 && st.idle == 1 && st.sessions_committed_total == 1 &&
		  st.sessions_rolled_back_total == 2);
	govpool_op_destroy(op);
	govpool_destroy(pool);
}

static void
test_health(void)
{
	govpool    *pool = small_pool("gp_async_health", 1, 0);
	govpool_op *op = govpool_op_create(pool);

	CHECK(govpool_health_start(op) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_OK && govpool_op_status(op) == GOVPOOL_OK);
	govpool_op_destroy(op);
	govpool_destroy(pool);
}

/* ---- concurrency from one thread ---- */

#define MANY 200

static void
test_many_sessions_in_flight_from_one_thread(void)
{
	govpool    *pool = small_pool("gp_async_many", 4, 0);
	govpool_op *ops[MANY];
	woken		wk[MANY];
	bool		done[MANY];
	int			left = MANY,
				ok = 0,
				max_waiters = 0;
	govpool_stats st;

	for (int i = 0; i < MANY; i++)
	{
		char		n[16];
		const char *params[1] = {n};

		snprintf(n, sizeof(n), "%d", i);
		ops[i] = govpool_op_create(pool);
		memset(&wk[i], 0, sizeof(wk[i]));
		govpool_op_set_wake(ops[i], note_wake, &wk[i]);
		done[i] = false;
		CHECK(govpool_run_start(ops[i], &alice, "SELECT $1::int", 1, params) == GOVPOOL_OK);
	}
	while (left > 0)
	{
		struct pollfd pfd[MANY];
		int			idx[MANY],
					n = 0;
		int			timeout = -1;

		for (int i = 0; i < MANY; i++)
		{
			govpool_wait w;
			govpool_poll p;

			if (done[i])
				continue;
			p = govpool_op_poll(ops[i], &w);
			if (p == GOVPOOL_POLL_OK || p == GOVPOOL_POLL_FAILED)
			{
				PGresult   *r = govpool_op_result(ops[i]);
				char		want[16];

				snprintf(want, sizeof(want), "%d", i);
				if (p == GOVPOOL_POLL_OK && r && strcmp(PQgetvalue(r, 0, 0), want) == 0)
					ok++;
				PQclear(r);
				done[i] = true;
				left--;
				continue;
			}
			if (w.fd >= 0)
			{
				pfd[n].fd = w.fd;
				pfd[n].events = (short) ((w.want_read ? POLLIN : 0) | (w.want_write ? POLLOUT : 0));
				pfd[n].revents = 0;
				idx[n++] = i;
			}
			else if (wk[i].count == 0)
			{
				int			t = govpool_wait_timeout_ms(&w);

				if (t >= 0 && (timeout < 0 || t < timeout))
					timeout = t;
			}
		}
		{
			int			waiters;

			pthread_mutex_lock(&pool->bag.lock);
			waiters = pool->bag.n_waiters;
			pthread_mutex_unlock(&pool->bag.lock);
			if (waiters > max_waiters)
				max_waiters = waiters;
		}
		if (left > 0 && n > 0)
			(void) poll(pfd, n, timeout);
		(void) idx;
		for (int i = 0; i < MANY; i++)
			wk[i].count = 0;
	}
	CHECK_MSG(ok == MANY, "%d of %d", ok, MANY);
	CHECK_MSG(max_waiters >= MANY - 4 - 4, "max_waiters %d", max_waiters);
	govpool_stats(pool, &st);
	CHECK(st.size <= 4 && st.checked_out == 0 && st.waiters == 0 && st.sessions_committed_total == MANY);
	for (int i = 0; i < MANY; i++)
		govpool_op_destroy(ops[i]);
	govpool_destroy(pool);
}

static void
test_queued_checkouts_are_woken_in_arrival_order(void)
{
	govpool    *pool = small_pool("gp_async_fifo", 1, 0);
	govpool_error err;
	govpool_session *holder = govpool_begin(pool, &alice, -1, &err);
	govpool_op *ops[3];
	woken		wk[3];
	govpool_wait w;

	CHECK(holder != NULL);
	for (int i = 0; i < 3; i++)
	{
		memset(&wk[i], 0, sizeof(wk[i]));
		wk[i].id = i;
		ops[i] = govpool_op_create(pool);
		govpool_op_set_wake(ops[i], note_wake, &wk[i]);
		CHECK(govpool_begin_start(ops[i], &alice, 30000) == GOVPOOL_OK);
		CHECK(govpool_op_poll(ops[i], &w) == GOVPOOL_POLL_WAITING);
		CHECK(w.fd == -1 && w.deadline_ns > govpool_now_ns());
	}
	govpool_rollback(holder);
	for (int i = 0; i < 3; i++)
	{
		govpool_session *s;

		/* exactly the first in line was woken, and it gets the connection */
		for (int j = 0; j < 3; j++)
			CHECK_MSG(wk[j].count == (j <= i ? 1 : 0), "after %d: op %d woken %d times", i, j, wk[j].count);
		CHECK(drive(ops[i], NULL) == GOVPOOL_POLL_OK);
		s = govpool_op_session(ops[i]);
		CHECK(s != NULL);
		for (int j = i + 1; j < 3; j++)
			CHECK(govpool_op_poll(ops[j], &w) == GOVPOOL_POLL_WAITING);
		CHECK(govpool_rollback_start(ops[i], s) == GOVPOOL_OK && drive(ops[i], NULL) == GOVPOOL_POLL_OK);
	}
	for (int i = 0; i < 3; i++)
		govpool_op_destroy(ops[i]);
	govpool_destroy(pool);
}

static void
test_timeout_while_queued_and_exhaustion(void)
{
	govpool    *pool = small_pool("gp_async_timeout", 1, 0);
	govpool_error err;
	govpool_session *holder = govpool_begin(pool, &alice, -1, &err);
	govpool_op *op = govpool_op_create(pool);
	govpool_wait w;
	int64_t		t0 = govpool_now_ns();
	govpool_stats st;

	CHECK(govpool_begin_start(op, &alice, 50) == GOVPOOL_OK);
	CHECK(govpool_op_poll(op, &w) == GOVPOOL_POLL_WAITING);
	CHECK(w.deadline_ns >= t0 + 50 * 1000000LL);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_FAILED);
	CHECK(govpool_op_status(op) == GOVPOOL_ERR_TIMEOUT);
	CHECK((govpool_now_ns() - t0) / 1000000 >= 50);
	CHECK_MSG(strstr(govpool_op_error(op)->message, "pool exhausted") &&
			  strstr(govpool_op_error(op)->message, "timeout=50 ms"), "%s", govpool_op_error(op)->message);
	/* timeout 0: exhausted at once, never queued */
	CHECK(govpool_begin_start(op, &alice, 0) == GOVPOOL_OK);
	CHECK(govpool_op_poll(op, &w) == GOVPOOL_POLL_FAILED && govpool_op_status(op) == GOVPOOL_ERR_TIMEOUT);
	govpool_stats(pool, &st);
	CHECK(st.waiters == 0 && st.timeouts_total == 2);
	govpool_rollback(holder);
	govpool_op_destroy(op);
	govpool_destroy(pool);
}

/* ---- cancellation at each step ---- */

static void
test_cancel_while_queued_passes_the_connection_on(void)
{
	govpool    *pool = small_pool("gp_async_cancel_q", 1, 0);
	govpool_error err;
	govpool_session *holder = govpool_begin(pool, &alice, -1, &err);
	govpool_op *a = govpool_op_create(pool),
			   *b = govpool_op_create(pool),
			   *c = govpool_op_create(pool);
	woken		wa = {0},
				wb = {0},
				wc = {0};
	govpool_wait w;
	govpool_stats st;

	govpool_op_set_wake(a, note_wake, &wa);
	govpool_op_set_wake(b, note_wake, &wb);
	govpool_op_set_wake(c, note_wake, &wc);
	CHECK(govpool_run_start(a, &alice, "SELECT 1", 0, NULL) == GOVPOOL_OK);
	CHECK(govpool_run_start(b, &alice, "SELECT 2", 0, NULL) == GOVPOOL_OK);
	CHECK(govpool_run_start(c, &alice, "SELECT 3", 0, NULL) == GOVPOOL_OK);
	CHECK(govpool_op_poll(a, &w) == GOVPOOL_POLL_WAITING);
	CHECK(govpool_op_poll(b, &w) == GOVPOOL_POLL_WAITING);
	CHECK(govpool_op_poll(c, &w) == GOVPOOL_POLL_WAITING);
	/* a leaves before the grant, b after it was granted but before it looked */
	govpool_op_cancel(a);
	CHECK(govpool_op_poll(a, &w) == GOVPOOL_POLL_FAILED);
	CHECK(govpool_op_status(a) == GOVPOOL_ERR_CANCELLED);
	govpool_rollback(holder);
	CHECK(wa.count == 0 && wb.count == 1 && wc.count == 0);
	govpool_op_cancel(b);
	CHECK(govpool_op_poll(b, &w) == GOVPOOL_POLL_FAILED);
	CHECK(strstr(govpool_op_error(b)->message, "cancelled") != NULL);
	CHECK(govpool_op_status(b) == GOVPOOL_ERR_CANCELLED &&
		  strcmp(govpool_status_name(GOVPOOL_ERR_CANCELLED), "cancelled") == 0);
	CHECK(wc.count == 1);		/* the grant went on to c */
	CHECK(drive(c, NULL) == GOVPOOL_POLL_OK);
	PQclear(govpool_op_result(c));
	govpool_stats(pool, &st);
	CHECK(st.waiters == 0 && st.checked_out == 0 && st.size == 1);
	govpool_op_destroy(a);
	govpool_op_destroy(b);
	govpool_op_destroy(c);
	govpool_destroy(pool);
}

static void
test_cancel_while_connecting_frees_the_slot(void)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_op *op;
	govpool_wait w;
	govpool_poll p;
	govpool_stats st;

	itest_config(&cfg, "gp_async_cancel_conn");
	cfg.extensions[0] = '\0';	/* no connection opened at create */
	cfg.pool_size = 1;
	cfg.max_overflow = 0;
	pool = itest_pool(&cfg);
	op = govpool_op_create(pool);

	/* a fresh pool: the first run must open a connection */
	CHECK(govpool_run_start(op, &alice, "SELECT 1", 0, NULL) == GOVPOOL_OK);
	p = govpool_op_poll(op, &w);
	CHECK_MSG((p == GOVPOOL_POLL_WRITING || p == GOVPOOL_POLL_READING) && w.fd >= 0, "poll %d", p);
	CHECK(pool->bag.n_opening == 1);
	govpool_op_cancel(op);
	CHECK(govpool_op_poll(op, &w) == GOVPOOL_POLL_FAILED);
	CHECK(pool->bag.n_opening == 0);
	govpool_stats(pool, &st);
	CHECK(st.size == 0 && st.checked_out == 0);
	CHECK(govpool_run_start(op, &alice, "SELECT 1", 0, NULL) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	PQclear(govpool_op_result(op));
	govpool_op_destroy(op);
	govpool_destroy(pool);
}

static void
test_cancel_during_connect_backoff(void)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_op *op;
	govpool_wait w;

	itest_config(&cfg, "gp_async_backoff");
	snprintf(cfg.conninfo, sizeof(cfg.conninfo), "host=/nonexistent-gp-dir port=5432");
	cfg.extensions[0] = '\0';
	cfg.connect_attempts = 3;
	cfg.connect_backoff_ms = 60000;
	cfg.connect_backoff_max_ms = 60000;
	cfg.pool_timeout_ms = 120000;
	pool = itest_pool(&cfg);
	govpool_set_logger(pool, NULL, NULL);
	op = govpool_op_create(pool);
	pool->rand_state = 1;
	CHECK(govpool_run_start(op, &alice, "SELECT 1", 0, NULL) == GOVPOOL_OK);
	/* the first attempt fails at once; unless the jitter drew 0, a timer follows */
	for (int i = 0; i < 3; i++)
	{
		govpool_poll p = govpool_op_poll(op, &w);

		if (p == GOVPOOL_POLL_TIMER)
			break;
		CHECK(p != GOVPOOL_POLL_OK);
		if (p == GOVPOOL_POLL_FAILED)
			break;
	}
	if (govpool_op_poll(op, &w) == GOVPOOL_POLL_TIMER)
	{
		CHECK(w.fd == -1 && w.deadline_ns > govpool_now_ns());
		govpool_op_cancel(op);
		CHECK(govpool_op_poll(op, &w) == GOVPOOL_POLL_FAILED);
	}
	CHECK(pool->bag.n_opening == 0 && pool->bag.n_in_use == 0);
	govpool_op_destroy(op);
	govpool_destroy(pool);
}

/* Hold advisory lock 4242 in the admin session; statements taking it wait. */
static void
hold_lock(bool on)
{
	sql(on ? "SELECT pg_advisory_lock(4242)" : "SELECT pg_advisory_unlock(4242)");
}

static bool
wait_backend_gone(int pid)
{
	char		q[128];

	snprintf(q, sizeof(q), "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
	for (int i = 0; i < 10000; i++)
	{
		if (sql_long(q) == 0)
			return true;
		sleep_ms(1);
	}
	return false;
}

/*
 * Poll op until the server runs its statement and waits on the advisory
 * lock 4242 (a backend of application app in a Lock wait): a READING step
 * before that (a connect, say) is not yet "in flight".
 */
static bool
poll_until_lock_wait(govpool_op *op, const char *app, govpool_wait *w)
{
	char		q[256];

	snprintf(q, sizeof(q),
			 "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' "
			 "AND wait_event_type = 'Lock' AND wait_event = 'advisory'", app);
	for (int i = 0; i < 10000; i++)
	{
		govpool_poll p = govpool_op_poll(op, w);

		if (p == GOVPOOL_POLL_OK || p == GOVPOOL_POLL_FAILED)
			return false;
		if (p == GOVPOOL_POLL_READING && sql_long(q) > 0)
			return true;
		if (p != GOVPOOL_POLL_READING)
			wait_one(w);
		else
			sleep_ms(1);
	}
	return false;
}

static void
test_cancel_exec_in_flight_rolls_the_session_back(void)
{
	govpool    *pool = small_pool("gp_async_cancel_exec", 1, 0);
	govpool_op *op = govpool_op_create(pool);
	govpool_session *s;
	govpool_wait w;
	int			pid;
	govpool_stats st;

	sql("DROP TABLE IF EXISTS gp_async_c; CREATE TABLE gp_async_c (x int)");
	CHECK(govpool_begin_start(op, &alice, -1) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	s = govpool_op_session(op);
	pid = backend_of(s);
	hold_lock(true);
	CHECK(govpool_exec_start(op, s, "INSERT INTO gp_async_c SELECT 1 FROM pg_advisory_xact_lock(4242)",
							 0, NULL) == GOVPOOL_OK);
	CHECK(poll_until(op, GOVPOOL_POLL_READING, &w));
	govpool_op_cancel(op);
	CHECK(govpool_op_poll(op, &w) == GOVPOOL_POLL_FAILED);
	CHECK(govpool_op_status(op) == GOVPOOL_ERR_CANCELLED);
	hold_lock(false);
	CHECK(wait_backend_gone(pid));
	CHECK(sql_long("SELECT count(*) FROM gp_async_c") == 0);
	/* the session is rolled back; its end returns the (closed) slot */
	CHECK(govpool_exec_start(op, s, "SELECT 1", 0, NULL) == GOVPOOL_ERR_ROLLED_BACK);
	CHECK(govpool_rollback_start(op, s) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	govpool_stats(pool, &st);
	CHECK(st.checked_out == 0 && st.size == 0);
	CHECK(govpool_run_start(op, &alice, "SELECT 1", 0, NULL) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	PQclear(govpool_op_result(op));
	govpool_op_destroy(op);
	govpool_destroy(pool);
}

static void
test_cancel_run_or_commit_in_flight_is_commit_unknown(void)
{
	govpool    *pool = small_pool("gp_async_cancel_commit", 1, 0);
	govpool_op *op = govpool_op_create(pool);
	govpool_session *s;
	govpool_wait w;
	int			pid;
	govpool_stats st;

	sql("DROP TABLE IF EXISTS gp_async_u; CREATE TABLE gp_async_u (x int)");
	/* run: the whole pipeline, COMMIT included, is on its way */
	hold_lock(true);
	CHECK(govpool_run_start(op, &alice, "INSERT INTO gp_async_u SELECT 1 FROM pg_advisory_xact_lock(4242)",
							0, NULL) == GOVPOOL_OK);
	CHECK(poll_until_lock_wait(op, "gp_async_cancel_commit", &w));
	pid = -1;
	govpool_op_cancel(op);
	CHECK(govpool_op_poll(op, &w) == GOVPOOL_POLL_FAILED);
	CHECK_MSG(govpool_op_status(op) == GOVPOOL_ERR_COMMIT_UNKNOWN, "%s", govpool_op_error(op)->message);
	hold_lock(false);

	/* commit: a deferred trigger waits on the lock while COMMIT runs */
	sql("CREATE OR REPLACE FUNCTION gp_async_wait() RETURNS trigger LANGUAGE plpgsql AS "
		"$$BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NULL; END$$;"
		"CREATE CONSTRAINT TRIGGER w AFTER INSERT ON gp_async_u DEFERRABLE INITIALLY DEFERRED "
		"FOR EACH ROW EXECUTE FUNCTION gp_async_wait()");
	CHECK(govpool_begin_start(op, &alice, -1) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	s = govpool_op_session(op);
	CHECK(govpool_exec_start(op, s, "INSERT INTO gp_async_u VALUES (2)", 0, NULL) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_OK);
	PQclear(govpool_op_result(op));
	pid = backend_of(s);
	hold_lock(true);
	CHECK(govpool_commit_start(op, s) == GOVPOOL_OK);
	CHECK(poll_until_lock_wait(op, "gp_async_cancel_commit", &w));
	govpool_op_cancel(op);
	CHECK(govpool_op_poll(op, &w) == GOVPOOL_POLL_FAILED);
	CHECK_MSG(govpool_op_status(op) == GOVPOOL_ERR_COMMIT_UNKNOWN, "%s", govpool_op_error(op)->message);
	hold_lock(false);
	CHECK(wait_backend_gone(pid));
	/*
	 * Unknown means it: the COMMIT the server had already received ran to
	 * its end after we left (x = 2 is there).  The run's row (x = 1) may or
	 * may not be: its backend dies at its first write to the closed socket,
	 * which can come before or after its COMMIT.
	 */
	CHECK(sql_long("SELECT count(*) FROM gp_async_u WHERE x = 2") == 1);
	govpool_stats(pool, &st);
	CHECK(st.checked_out == 0 && st.size == 0);
	govpool_op_destroy(op);
	govpool_destroy(pool);
}

/* ---- failures ---- */

static void
test_terminated_backend(void)
{
	govpool    *pool = small_pool("gp_async_term", 1, 0);
	govpool_op *op = govpool_op_create(pool);
	govpool_session *s;
	PGresult   *r;
	int			pid;

	pool->cfg.liveness_idle_ms = 0;
	/* idle connection terminated: found before sending, replaced, no error */
	CHECK(govpool_begin_start(op, &alice, -1) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	s = govpool_op_session(op);
	pid = backend_of(s);
	CHECK(govpool_rollback_start(op, s) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	CHECK(terminate_and_wait(pid));
	CHECK(govpool_run_start(op, &alice, "SELECT pg_backend_pid()", 0, NULL) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_OK);
	r = govpool_op_result(op);
	CHECK(r && atoi(PQgetvalue(r, 0, 0)) != pid);
	PQclear(r);

	/* terminated inside a session: the statement fails as connection lost */
	CHECK(govpool_begin_start(op, &alice, -1) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	s = govpool_op_session(op);
	CHECK(govpool_exec_start(op, s, "SELECT 1", 0, NULL) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	PQclear(govpool_op_result(op));
	CHECK(session_pid(s) == backend_of(s));
	CHECK(terminate_and_wait(backend_of(s)));
	CHECK(govpool_exec_start(op, s, "SELECT 2", 0, NULL) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_FAILED);
	CHECK_MSG(govpool_op_status(op) == GOVPOOL_ERR_CONNECTION_LOST, "%s", govpool_op_error(op)->message);
	CHECK(govpool_commit_start(op, s) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_FAILED && govpool_op_status(op) == GOVPOOL_ERR_ROLLED_BACK);
	CHECK(govpool_run_start(op, &alice, "SELECT 1", 0, NULL) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
	PQclear(govpool_op_result(op));
	govpool_op_destroy(op);
	govpool_destroy(pool);
}

/*
 * pg_ctl restart -m fast of the throwaway cluster (scripts/with-cluster's
 * GOVERNANCE_CLUSTER_DIR); false when there is none to restart.
 */
static bool
restart_server(void)
{
	const char *dir = getenv("GOVERNANCE_CLUSTER_DIR");
	const char *bin = getenv("GOVERNANCE_PGBIN");
	char		cmd[2048];

	if (dir == NULL || bin == NULL)
		return false;
	snprintf(cmd, sizeof(cmd),
			 "cd '%s' && %s'%s/pg_ctl' -D '%s/data' -l '%s/server.log' -w -t 60 restart -m fast >/dev/null",
			 dir, geteuid() == 0 ? "runuser -u postgres -- " : "", bin, dir, dir);
	if (system(cmd) != 0)
		return false;
	PQreset(admin);
	return PQstatus(admin) == CONNECTION_OK;
}

/*
 * The server restarts while operations are in flight on every step a
 * restart can meet: runs and session statements executing (sleeping),
 * checkouts queued for a connection.  Each in-flight one ends with
 * a clear error that says nothing was committed, the queued ones are
 * served by the restarted server, no connection is leaked, and the pool
 * serves afterwards.
 */
static void
test_server_restart_mid_operation(void)
{
	enum
	{
		RUNS = 2, SESSIONS = 2, QUEUED = 3
	};
	govpool    *pool = small_pool("gp_async_restart", RUNS + SESSIONS, 0);
	govpool_op *run[RUNS],
			   *sess[SESSIONS],
			   *queued[QUEUED];
	govpool_session *s[SESSIONS];
	govpool_wait w;
	govpool_stats st;

	if (getenv("GOVERNANCE_CLUSTER_DIR") == NULL)
	{
		printf("# skipped: no throwaway cluster to restart (GOVERNANCE_CLUSTER_DIR)\n");
		govpool_destroy(pool);
		return;
	}
	sql("DROP TABLE IF EXISTS gp_async_r; CREATE TABLE gp_async_r (x int)");
	/* every connection open first: the restart meets statements, not connects */
	for (int i = 0; i < RUNS + SESSIONS; i++)
	{
		govpool_op *op = i < RUNS ? (run[i] = govpool_op_create(pool)) :
		(sess[i - RUNS] = govpool_op_create(pool));

		CHECK(govpool_begin_start(op, &alice, -1) == GOVPOOL_OK && drive(op, NULL) == GOVPOOL_POLL_OK);
		CHECK(govpool_conn(govpool_op_session(op)) != NULL);
	}
	for (int i = 0; i < RUNS + SESSIONS; i++)
	{
		govpool_op *op = i < RUNS ? run[i] : sess[i - RUNS];

		CHECK(govpool_rollback_start(op, govpool_op_session(op)) == GOVPOOL_OK &&
			  drive(op, NULL) == GOVPOOL_POLL_OK);
	}
	for (int i = 0; i < RUNS; i++)
	{
		CHECK(govpool_run_start(run[i], &alice, "INSERT INTO gp_async_r SELECT 1 FROM pg_sleep(60)",
								0, NULL) == GOVPOOL_OK);
		CHECK(poll_until(run[i], GOVPOOL_POLL_READING, &w));
	}
	for (int i = 0; i < SESSIONS; i++)
	{
		CHECK(govpool_begin_start(sess[i], &alice, -1) == GOVPOOL_OK && drive(sess[i], NULL) == GOVPOOL_POLL_OK);
		s[i] = govpool_op_session(sess[i]);
		CHECK(govpool_exec_start(sess[i], s[i], "INSERT INTO gp_async_r SELECT 2 FROM pg_sleep(60)",
								 0, NULL) == GOVPOOL_OK);
		CHECK(poll_until(sess[i], GOVPOOL_POLL_READING, &w));
	}
	for (int i = 0; i < QUEUED; i++)
	{
		queued[i] = govpool_op_create(pool);
		CHECK(govpool_run_start(queued[i], &alice, "SELECT governance.agent_id()", 0, NULL) == GOVPOOL_OK);
		CHECK(govpool_op_poll(queued[i], &w) == GOVPOOL_POLL_WAITING);
	}

	/* all of them executing on the server */
	for (int i = 0; i < 10000 &&
		 sql_long("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gp_async_restart' "
				  "AND state = 'active' AND query LIKE '%pg_sleep(60)%'") != RUNS + SESSIONS; i++)
		sleep_ms(1);
	CHECK(sql_long("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gp_async_restart' "
				   "AND state = 'active' AND query LIKE '%pg_sleep(60)%'") == RUNS + SESSIONS);
	CHECK(restart_server());

	for (int i = 0; i < RUNS; i++)
	{
		const govpool_error *e = govpool_op_error(run[i]);

		CHECK(drive(run[i], NULL) == GOVPOOL_POLL_FAILED);
		CHECK_MSG(e->kind == GOVPOOL_ERR_CONNECTION_LOST && e->message[0] != '\0',
				  "run %d: %s: %s", i, govpool_status_name(e->kind), e->message);
		CHECK(govpool_op_result(run[i]) == NULL);
	}
	for (int i = 0; i < SESSIONS; i++)
	{
		const govpool_error *e = govpool_op_error(sess[i]);

		CHECK(drive(sess[i], NULL) == GOVPOOL_POLL_FAILED);
		CHECK_MSG(e->kind == GOVPOOL_ERR_CONNECTION_LOST && e->message[0] != '\0',
				  "session %d: %s: %s", i, govpool_status_name(e->kind), e->message);
		CHECK(govpool_commit_start(sess[i], s[i]) == GOVPOOL_OK);
		CHECK(drive(sess[i], NULL) == GOVPOOL_POLL_FAILED &&
			  govpool_op_status(sess[i]) == GOVPOOL_ERR_ROLLED_BACK);
	}
	for (int i = 0; i < QUEUED; i++)
	{
		PGresult   *r;

		CHECK_MSG(drive(queued[i], NULL) == GOVPOOL_POLL_OK, "queued %d: %s", i,
				  govpool_op_error(queued[i])->message);
		r = govpool_op_result(queued[i]);
		CHECK(r && strcmp(PQgetvalue(r, 0, 0), "alice") == 0);
		PQclear(r);
	}
	CHECK(sql_long("SELECT count(*) FROM gp_async_r") == 0);

	/* no connection leaked: what the pool holds is what the server sees */
	govpool_stats(pool, &st);
	CHECK_MSG(st.checked_out == 0 && st.waiters == 0 && st.size <= RUNS + SESSIONS &&
			  sql_long("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gp_async_restart'") == st.size,
			  "size %d checked out %d", st.size, st.checked_out);
	/* and it serves: every slot at once */
	for (int i = 0; i < RUNS; i++)
		CHECK(govpool_run_start(run[i], &alice, "INSERT INTO gp_async_r VALUES (3)", 0, NULL) == GOVPOOL_OK);
	for (int i = 0; i < SESSIONS; i++)
		CHECK(govpool_run_start(sess[i], &alice, "INSERT INTO gp_async_r VALUES (3)", 0, NULL) == GOVPOOL_OK);
	for (int i = 0; i < RUNS; i++)
	{
		CHECK(drive(run[i], NULL) == GOVPOOL_POLL_OK);
		PQclear(govpool_op_result(run[i]));
	}
	for (int i = 0; i < SESSIONS; i++)
	{
		CHECK(drive(sess[i], NULL) == GOVPOOL_POLL_OK);
		PQclear(govpool_op_result(sess[i]));
	}
	CHECK(sql_long("SELECT count(*) FROM gp_async_r WHERE x = 3") == RUNS + SESSIONS);
	for (int i = 0; i < RUNS; i++)
		govpool_op_destroy(run[i]);
	for (int i = 0; i < SESSIONS; i++)
		govpool_op_destroy(sess[i]);
	for (int i = 0; i < QUEUED; i++)
		govpool_op_destroy(queued[i]);
	govpool_destroy(pool);
}

static void
test_server_down_fails_without_blocking(void)
{
	logbuf		lb;
	govpool_config cfg;
	govpool    *pool;
	govpool_op *op;

	itest_config(&cfg, "gp_async_down");
	snprintf(cfg.conninfo, sizeof(cfg.conninfo), "host=/nonexistent-gp-dir port=5432");
	cfg.extensions[0] = '\0';
	cfg.connect_attempts = 2;
	cfg.connect_backoff_ms = 1;
	pool = itest_pool(&cfg);
	logbuf_init(&lb);
	govpool_set_logger(pool, logbuf_fn, &lb);
	op = govpool_op_create(pool);
	CHECK(govpool_run_start(op, &alice, "SELECT 1", 0, NULL) == GOVPOOL_OK);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_FAILED);
	CHECK(govpool_op_status(op) == GOVPOOL_ERR_CONNECT);
	CHECK_MSG(count_substr(lb.text, "event=connect_failed") == 2, "%s", lb.text);
	CHECK(pool->bag.n_opening == 0 && pool->bag.n_in_use == 0);
	govpool_op_destroy(op);
	govpool_destroy(pool);
}

/*
 * A server that accepts TCP but never answers the startup packet: every
 * poll returns at once, asking to read, with the connect deadline; the
 * attempt fails at that deadline (connect_timeout, 2 s minimum as libpq).
 */
static void
test_silent_server_times_out_at_the_connect_deadline(void)
{
	int			lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {0};
	socklen_t	len = sizeof(addr);
	govpool_config cfg;
	govpool    *pool;
	govpool_op *op;
	govpool_wait w;
	int64_t		t0;
	int			polls = 0;

	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(lfd, (struct sockaddr *) &addr, sizeof(addr)) == 0 && listen(lfd, 4) == 0);
	getsockname(lfd, (struct sockaddr *) &addr, &len);
	itest_config(&cfg, "gp_async_silent");
	snprintf(cfg.conninfo, sizeof(cfg.conninfo), "hostaddr=127.0.0.1 port=%d user=u dbname=d sslmode=disable gssencmode=disable",
			 ntohs(addr.sin_port));
	cfg.extensions[0] = '\0';
	cfg.connect_attempts = 1;
	cfg.connect_timeout_ms = 2000;
	pool = itest_pool(&cfg);
	govpool_set_logger(pool, NULL, NULL);
	op = govpool_op_create(pool);
	t0 = govpool_now_ns();
	CHECK(govpool_run_start(op, &alice, "SELECT 1", 0, NULL) == GOVPOOL_OK);
	CHECK(poll_until(op, GOVPOOL_POLL_READING, &w));
	CHECK(w.fd >= 0 && w.deadline_ns >= t0 + 2000000000LL);
	CHECK((govpool_now_ns() - t0) / 1000000 < 1000);	/* no poll waited */
	CHECK(drive(op, &polls) == GOVPOOL_POLL_FAILED);
	CHECK_MSG(govpool_op_status(op) == GOVPOOL_ERR_CONNECT &&
			  strstr(govpool_op_error(op)->message, "timeout expired"), "%s", govpool_op_error(op)->message);
	CHECK((govpool_now_ns() - t0) / 1000000 >= 2000);
	govpool_op_destroy(op);
	govpool_destroy(pool);
	close(lfd);
}

static void
test_blocking_and_non_blocking_share_one_queue(void)
{
	govpool    *pool = small_pool("gp_async_mixed", 1, 0);
	govpool_error err;
	govpool_session *holder = govpool_begin(pool, &alice, -1, &err);
	govpool_op *op = govpool_op_create(pool);
	govpool_wait w;
	woken		wk = {0};

	govpool_op_set_wake(op, note_wake, &wk);
	CHECK(govpool_run_start(op, &alice, "SELECT 1", 0, NULL) == GOVPOOL_OK);
	CHECK(govpool_op_poll(op, &w) == GOVPOOL_POLL_WAITING);
	/* a blocking caller arriving later must not barge in: with timeout 0 it fails */
	CHECK(govpool_begin(pool, &alice, 0, &err) == NULL && err.kind == GOVPOOL_ERR_TIMEOUT);
	govpool_commit(holder, &err);
	CHECK(wk.count == 1);
	CHECK(drive(op, NULL) == GOVPOOL_POLL_OK);
	PQclear(govpool_op_result(op));
	govpool_op_destroy(op);
	govpool_destroy(pool);
}

static void
test_destroying_a_running_op_cancels_it(void)
{
	govpool    *pool = small_pool("gp_async_destroy", 1, 0);
	govpool_error err;
	govpool_session *holder = govpool_begin(pool, &alice, -1, &err);
	govpool_op *op = govpool_op_create(pool);
	govpool_wait w;
	govpool_stats st;

	CHECK(govpool_run_start(op, &alice, "SELECT 1", 0, NULL) == GOVPOOL_OK);
	CHECK(govpool_op_poll(op, &w) == GOVPOOL_POLL_WAITING);
	CHECK(govpool_run_start(op, &alice, "SELECT 1", 0, NULL) == GOVPOOL_ERR_MISUSE);	/* still running */
	govpool_op_destroy(op);
	govpool_stats(pool, &st);
	CHECK(st.waiters == 0);
	govpool_rollback(holder);
	govpool_destroy(pool);
}

int
main(void)
{
	itest_connect_admin();
	itest_governance();
	RUN(test_run_returns_the_result_with_the_context);
	RUN(test_session_begin_exec_commit_and_rollback);
	RUN(test_health);
	RUN(test_many_sessions_in_flight_from_one_thread);
	RUN(test_queued_checkouts_are_woken_in_arrival_order);
	RUN(test_timeout_while_queued_and_exhaustion);
	RUN(test_cancel_while_queued_passes_the_connection_on);
	RUN(test_cancel_while_connecting_frees_the_slot);
	RUN(test_cancel_during_connect_backoff);
	RUN(test_cancel_exec_in_flight_rolls_the_session_back);
	RUN(test_cancel_run_or_commit_in_flight_is_commit_unknown);
	RUN(test_terminated_backend);
	RUN(test_server_restart_mid_operation);
	RUN(test_server_down_fails_without_blocking);
	RUN(test_silent_server_times_out_at_the_connect_deadline);
	RUN(test_blocking_and_non_blocking_share_one_queue);
	RUN(test_destroying_a_running_op_cancels_it);
	PQfinish(admin);
	return tap_done();
}
