/*
 * test_pool.c
 *	  Integration tests of the pool against a server: exhaustion, FIFO,
 *	  overflow, serverless, recycle, dead-connection replacement, reset on
 *	  return, circuit breaker, extensions, health, stats, leak reports.
 *	  Also run under TSan.
 *
 *	  scripts/with-cluster -- make -C client check
 */
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"

static govpool_context alice = {"alice", "acme", "req-1"};

static void
test_exhaustion_times_out_naming_size_overflow_timeout(void)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_session *a,
			   *b,
			   *c;
	govpool_error err;
	govpool_stats st;
	int64_t		t0;

	itest_config(&cfg, "gp_exhaust");
	cfg.pool_size = 1;
	cfg.max_overflow = 1;
	pool = itest_pool(&cfg);
	a = govpool_begin(pool, &alice, -1, &err);
	b = govpool_begin(pool, &alice, -1, &err);
	CHECK(a && b);
	t0 = gp_now_ns();
	c = govpool_begin(pool, &alice, 50, &err);
	CHECK(c == NULL);
	CHECK(err.kind == GOVPOOL_ERR_TIMEOUT);
	CHECK((gp_now_ns() - t0) / 1000000 >= 50);	/* waited the whole timeout */
	CHECK_MSG(strstr(err.message, "pool exhausted") && strstr(err.message, "pool_size=1") &&
			  strstr(err.message, "max_overflow=1") && strstr(err.message, "timeout=50 ms"),
			  "%s", err.message);
	/* timeout 0: fail at once */
	CHECK(govpool_begin(pool, &alice, 0, &err) == NULL && err.kind == GOVPOOL_ERR_TIMEOUT);
	govpool_stats(pool, &st);
	CHECK(st.timeouts_total == 2 && st.exhaustion_events_total == 2);
	CHECK(st.checked_out == 2 && st.overflow_in_use == 1);
	govpool_rollback(a);
	govpool_rollback(b);
	govpool_destroy(pool);
}

typedef struct fifo_arg
{
	govpool    *pool;
	int			id;
	int		   *order;
	int		   *n;
	pthread_mutex_t *mu;
	bool		ok;
} fifo_arg;

static void *
fifo_worker(void *p)
{
	fifo_arg   *a = p;
	govpool_error err;
	govpool_session *s = govpool_begin(a->pool, &alice, 30000, &err);

	pthread_mutex_lock(a->mu);
	a->order[(*a->n)++] = a->id;
	pthread_mutex_unlock(a->mu);
	a->ok = s != NULL;
	if (s)
		govpool_rollback(s);
	return NULL;
}

static int
pool_waiters(govpool *pool)
{
	govpool_stats st;

	govpool_stats(pool, &st);
	return st.waiters;
}

static void
test_waiters_get_connections_in_arrival_order(void)
{
	enum
	{
	N = 6};
	govpool_config cfg;
	govpool    *pool;
	govpool_session *held;
	govpool_error err;
	pthread_t	th[N];
	fifo_arg	args[N];
	int			order[N],
				n = 0;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

	itest_config(&cfg, "gp_fifo");
	cfg.pool_size = 1;
	cfg.max_overflow = 0;
	pool = itest_pool(&cfg);
	held = govpool_begin(pool, &alice, -1, &err);
	CHECK(held != NULL);
	for (int i = 0; i < N; i++)
	{
		args[i] = (fifo_arg) {pool, i, order, &n, &mu, false};
		pthread_create(&th[i], NULL, fifo_worker, &args[i]);
		while (pool_waiters(pool) < i + 1)
			sched_yield();
	}
	govpool_rollback(held);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N; i++)
	{
		CHECK(args[i].ok);
		CHECK_MSG(order[i] == i, "turn %d went to waiter %d", i, order[i]);
	}
	govpool_destroy(pool);
}

/*
 * The overflow tests' pool: pool_size 1, max_overflow 2, the given idle
 * time for connections above pool_size and leak threshold.
 */
static govpool *
overflow_pool(const char *name, int overflow_idle_ms, int leak_threshold_ms)
{
	govpool_config cfg;

	itest_config(&cfg, name);
	cfg.pool_size = 1;
	cfg.max_overflow = 2;
	cfg.overflow_idle_ms = overflow_idle_ms;
	cfg.leak_threshold_ms = leak_threshold_ms;
	return itest_pool(&cfg);
}

/* Begin three sessions as alice; pids: their backends (-1: failed).  All began? */
static bool
begin_three(govpool *pool, govpool_session *s[3], int pids[3])
{
	govpool_error err;

	for (int i = 0; i < 3; i++)
	{
		s[i] = govpool_begin(pool, &alice, -1, &err);
		pids[i] = s[i] ? session_pid(s[i]) : -1;
	}
	return s[0] && s[1] && s[2];
}

/* GOVPOOL_OVERFLOW_IDLE_MS=0: SQLAlchemy's QueuePool rule. */
static void
test_overflow_idle_0_closes_them_once_pool_size_are_idle(void)
{
	govpool    *pool = overflow_pool("gp_overflow", 0, 0);
	govpool_session *s[3];
	govpool_stats st;
	int			pids[3];

	CHECK(begin_three(pool, s, pids));
	govpool_stats(pool, &st);
	CHECK(st.size == 3 && st.overflow_in_use == 2 && st.checked_out == 3);
	for (int i = 0; i < 3; i++)
		govpool_rollback(s[i]);
	govpool_stats(pool, &st);
	CHECK_MSG(st.size == 1 && st.idle == 1 && st.overflow_in_use == 0, "size=%d idle=%d", st.size, st.idle);
	/* the kept one is the first returned; the server sees the others go */
	{
		char		q[256];

		snprintf(q, sizeof(q), "SELECT count(*) FROM pg_stat_activity WHERE pid IN (%d, %d)", pids[1], pids[2]);
		for (int i = 0; i < 5000 && sql_long(q) != 0; i++)
			sleep_ms(1);
		CHECK(sql_long(q) == 0);
	}
	govpool_destroy(pool);
}

/*
 * Under a load above pool_size the overflow connections are reused: a
 * connection given back while others are still out stays idle and serves
 * the next checkout, as in SQLAlchemy's QueuePool.  (Until 0.8 it was
 * closed whenever more than pool_size were open, so with the prod profile
 * (5 + 20) and 16 busy threads every transaction above the fifth opened a
 * connection of its own: about 30 tx/s instead of about 30,000.)
 */
static void
test_overflow_connections_are_reused_under_load(void)
{
	govpool    *pool = overflow_pool("gp_overflow_reuse", 10000, 0);
	govpool_session *s[3];
	govpool_session *again;
	govpool_error err;
	govpool_stats st;
	int			pids[3];
	uint64_t	connects;

	CHECK(begin_three(pool, s, pids));
	if (!(s[0] && s[1] && s[2]))
		return;
	govpool_stats(pool, &st);
	connects = st.connects_total;
	/* three open, two still out: the returned one stays idle */
	govpool_rollback(s[0]);
	govpool_stats(pool, &st);
	CHECK_MSG(st.size == 3 && st.idle == 1 && st.checked_out == 2, "size=%d idle=%d out=%d",
			  st.size, st.idle, st.checked_out);
	/* and serves the next checkout without a new connection */
	for (int k = 0; k < 20; k++)
	{
		again = govpool_begin(pool, &alice, -1, &err);
		CHECK(again != NULL && session_pid(again) == pids[0]);
		if (again)
			govpool_rollback(again);
	}
	govpool_stats(pool, &st);
	CHECK_MSG(st.connects_total == connects, "%llu connections opened while one was idle",
			  (unsigned long long) (st.connects_total - connects));
	govpool_rollback(s[1]);
	govpool_rollback(s[2]);
	govpool_destroy(pool);
}

/*
 * Clients that pause between transactions: at one moment all connections
 * are idle, more than pool_size of them.  The ones above pool_size stay
 * (for GOVPOOL_OVERFLOW_IDLE_MS), so the next burst reuses them.  (Until
 * 0.8 they closed as soon as pool_size were idle: with 2 ms pauses and
 * pool 1 + 15 for 16 threads, 0.15 connections were opened per transaction.)
 */
static void
test_overflow_connections_stay_while_clients_pause(void)
{
	/* leak threshold 40 ms: the housekeeper looks every 10 ms */
	govpool    *pool = overflow_pool("gp_overflow_pause", 100000, 40);
	govpool_session *s[3];
	govpool_stats st;
	int			pids[3];
	uint64_t	connects;

	connects = 0;
	for (int round = 0; round < 10; round++)
	{
		CHECK(begin_three(pool, s, pids));
		if (!(s[0] && s[1] && s[2]))
			break;
		if (round == 0)
		{
			govpool_stats(pool, &st);
			connects = st.connects_total;
		}
		/* the burst is over: all three idle at once */
		for (int i = 0; i < 3; i++)
			govpool_rollback(s[i]);
		govpool_stats(pool, &st);
		CHECK_MSG(st.size == 3 && st.idle == 3, "round %d: size=%d idle=%d", round, st.size, st.idle);
	}
	/*
	 * 250 ms and two more housekeeper scans (so at least one whole pass
	 * after the last return, see housekeeper_main): none closed before its
	 * time (a unit slip, 100 s read as 100 ms, would have closed them).
	 * Only an early close fails this; a late one cannot happen within it.
	 */
	{
		uint64_t	scans,
					now;
		int64_t		until = gp_now_ns() + 250 * 1000000LL;

		pthread_mutex_lock(&pool->bag.lock);
		scans = pool->hk_scans;
		pthread_mutex_unlock(&pool->bag.lock);
		do
		{
			sleep_ms(1);
			pthread_mutex_lock(&pool->bag.lock);
			now = pool->hk_scans;
			pthread_mutex_unlock(&pool->bag.lock);
		} while (now < scans + 2 || gp_now_ns() < until);
	}
	govpool_stats(pool, &st);
	CHECK_MSG(st.size == 3 && st.idle == 3 && st.connects_total == connects && st.idle_closed_total == 0,
			  "size=%d idle=%d, %llu connections opened after the first burst, %llu closed idle",
			  st.size, st.idle, (unsigned long long) (st.connects_total - connects),
			  (unsigned long long) st.idle_closed_total);
	govpool_destroy(pool);
}

/*
 * And once they sat idle for GOVPOOL_OVERFLOW_IDLE_MS, the housekeeper
 * closes them, oldest first, down to pool_size (leak detection off: the
 * housekeeper runs for this alone).  The wait is for that event, bounded;
 * test_bag checks with a given clock that none goes earlier.
 */
static void
test_idle_overflow_connections_close_after_overflow_idle_ms(void)
{
	/* leak detection off: the housekeeper runs for this alone */
	govpool    *pool = overflow_pool("gp_overflow_idle", 20, 0);
	govpool_session *s[3];
	govpool_session *again;
	govpool_error err;
	govpool_stats st;
	int			pids[3];
	char		q[256];

	CHECK(begin_three(pool, s, pids));
	if (!(s[0] && s[1] && s[2]))
		return;
	for (int i = 0; i < 3; i++)
		govpool_rollback(s[i]);
	for (int i = 0; i < 10000; i++)
	{
		govpool_stats(pool, &st);
		if (st.size == 1)
			break;
		sleep_ms(1);
	}
	CHECK_MSG(st.size == 1 && st.idle == 1 && st.idle_closed_total == 2,
			  "size=%d idle=%d idle_closed=%llu", st.size, st.idle,
			  (unsigned long long) st.idle_closed_total);
	/* the last returned is kept; the server sees the two others go */
	snprintf(q, sizeof(q), "SELECT count(*) FROM pg_stat_activity WHERE pid IN (%d, %d)", pids[0], pids[1]);
	for (int i = 0; i < 5000 && sql_long(q) != 0; i++)
		sleep_ms(1);
	CHECK(sql_long(q) == 0);
	again = govpool_begin(pool, &alice, -1, &err);
	CHECK(again != NULL && session_pid(again) == pids[2]);
	if (again)
		govpool_rollback(again);
	govpool_stats(pool, &st);
	CHECK(st.size == 1 && st.idle_closed_total == 2);
	govpool_destroy(pool);
}

static void
test_serverless_mode_keeps_no_idle_connection(void)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_error err;
	govpool_stats st;
	PGresult   *r;

	itest_config(&cfg, "gp_serverless");
	cfg.pool_size = 0;
	cfg.max_overflow = 2;
	pool = itest_pool(&cfg);
	r = govpool_run(pool, &alice, "SELECT 1", 0, NULL, &err);
	CHECK_MSG(r != NULL, "%s", err.message);
	PQclear(r);
	govpool_stats(pool, &st);
	CHECK(st.size == 0 && st.idle == 0 && st.connects_total == 2);	/* start + run */
	govpool_destroy(pool);
}

static void
test_connections_older_than_recycle_are_replaced(void)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_session *s;
	govpool_error err;
	govpool_stats st;
	int			pid1,
				pid2;

	itest_config(&cfg, "gp_recycle");
	cfg.pool_size = 1;
	cfg.max_overflow = 0;
	cfg.pool_recycle_ms = 0;
	pool = itest_pool(&cfg);
	s = govpool_begin(pool, &alice, -1, &err);
	pid1 = session_pid(s);
	govpool_rollback(s);
	s = govpool_begin(pool, &alice, -1, &err);
	CHECK(session_pid(s) == pid1);	/* no recycling: same connection */
	govpool_rollback(s);
	govpool_destroy(pool);

	cfg.pool_recycle_ms = 5;
	pool = itest_pool(&cfg);
	s = govpool_begin(pool, &alice, -1, &err);
	pid1 = session_pid(s);
	govpool_rollback(s);
	sleep_ms(10);				/* lower bound: the connection is now older than 5 ms */
	s = govpool_begin(pool, &alice, -1, &err);
	CHECK(s != NULL);
	pid2 = s ? session_pid(s) : -1;
	CHECK(pid2 > 0 && pid2 != pid1);
	govpool_rollback(s);
	govpool_stats(pool, &st);
	CHECK(st.recycled_total >= 1);
	govpool_destroy(pool);
}

static void
test_dead_idle_connection_is_replaced_without_a_round_trip(void)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_session *s;
	govpool_error err;
	govpool_stats st;
	int			pid1;
	PGresult   *r;

	itest_config(&cfg, "gp_dead");
	cfg.pool_size = 1;
	cfg.max_overflow = 0;
	cfg.liveness_idle_ms = 0;
	cfg.preping_idle_ms = -1;	/* only the socket check may find it */
	pool = itest_pool(&cfg);
	s = govpool_begin(pool, &alice, -1, &err);
	pid1 = session_pid(s);
	govpool_rollback(s);
	CHECK(terminate_and_wait(pid1));

	r = govpool_run(pool, &alice, "SELECT pg_backend_pid()", 0, NULL, &err);
	CHECK_MSG(r != NULL, "run after pg_terminate_backend failed: %s", err.message);
	if (r)
		CHECK(atoi(PQgetvalue(r, 0, 0)) != pid1);
	PQclear(r);
	govpool_stats(pool, &st);
	CHECK(st.invalidated_total == 1);
	CHECK(st.connect_failures_total == 0);
	govpool_destroy(pool);
}

/* Reset on return, for each mode: a transaction left open by raw use. */
typedef struct reset_case
{
	govpool_reset mode;
	long		rows_after;		/* the row inserted in the open transaction */
	bool		closed;			/* connection closed instead of kept */
	bool		guc_reset;		/* session-level SET undone */
} reset_case;

static void
test_reset_on_return_modes(void)
{
	static const reset_case cases[] = {
		{GOVPOOL_RESET_ROLLBACK, 0, false, false},
		{GOVPOOL_RESET_COMMIT, 1, false, false},
		{GOVPOOL_RESET_NONE, 0, true, true},
		{GOVPOOL_RESET_DISCARD, 0, false, true},
	};

	sql("DROP TABLE IF EXISTS gp_reset; CREATE TABLE gp_reset (x int)");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		const reset_case *c = &cases[i];
		govpool_config cfg;
		govpool    *pool;
		govpool_error err;
		gp_entry   *e;
		PGresult   *r;
		govpool_stats st;
		int			pid;

		sql("TRUNCATE gp_reset");
		itest_config(&cfg, "gp_reset");
		cfg.pool_size = 1;
		cfg.max_overflow = 0;
		cfg.reset_on_return = c->mode;
		pool = itest_pool(&cfg);
		e = gp_pool_checkout(pool, -1, &err);
		pid = PQbackendPID(e->conn);
		PQclear(PQexec(e->conn, "SET application_name = 'changed'"));
		PQclear(PQexec(e->conn, "BEGIN"));
		PQclear(PQexec(e->conn, "INSERT INTO gp_reset VALUES (1)"));
		gp_pool_checkin(pool, e);

		CHECK_MSG(sql_long("SELECT count(*) FROM gp_reset") == c->rows_after, "mode %d", c->mode);
		e = gp_pool_checkout(pool, -1, &err);
		CHECK_MSG((PQbackendPID(e->conn) != pid) == c->closed, "mode %d", c->mode);
		r = PQexec(e->conn, "SHOW application_name");
		CHECK_MSG((strcmp(PQgetvalue(r, 0, 0), "changed") != 0) == c->guc_reset, "mode %d: %s",
				  c->mode, PQgetvalue(r, 0, 0));
		PQclear(r);
		gp_pool_checkin(pool, e);
		govpool_stats(pool, &st);
		CHECK((st.invalidated_total == 1) == c->closed);
		govpool_destroy(pool);
	}
}

/*
 * A server that can be "stopped" and "started": a unix socket directory of
 * our own with no socket in it (connections refused as by a stopped
 * server); starting it = symlinking the real socket into it.  cfg points
 * there.  False (and a failed check) without PGHOST as a socket directory.
 */
typedef struct fake_server
{
	char		dir[64];
	char		link[512];
	char		target[512];
} fake_server;

static bool
fake_server_config(fake_server *f, govpool_config *cfg, const char *app)
{
	const char *host = getenv("PGHOST"),
			   *port = getenv("PGPORT");

	snprintf(f->dir, sizeof(f->dir), "/tmp/govpool-down.XXXXXX");
	if (host == NULL || host[0] != '/' || port == NULL || mkdtemp(f->dir) == NULL)
	{
		CHECK_MSG(false, "needs PGHOST as a socket directory and PGPORT (scripts/with-cluster sets them)");
		return false;
	}
	snprintf(f->link, sizeof(f->link), "%s/.s.PGSQL.%s", f->dir, port);
	snprintf(f->target, sizeof(f->target), "%s/.s.PGSQL.%s", host, port);
	itest_config(cfg, app);
	snprintf(cfg->conninfo, sizeof(cfg->conninfo), "host=%s port=%s dbname=%s user=%s", f->dir,
			 port, getenv("PGDATABASE") ? getenv("PGDATABASE") : "postgres",
			 getenv("PGUSER") ? getenv("PGUSER") : "postgres");
	cfg->extensions[0] = '\0';
	return true;
}

static bool
fake_server_start(fake_server *f)
{
	return symlink(f->target, f->link) == 0;
}

static void
fake_server_stop(fake_server *f)
{
	unlink(f->link);
}

static void
fake_server_remove(fake_server *f)
{
	unlink(f->link);
	rmdir(f->dir);
}

/* The breaker against a server that is down from the start. */
static void
test_breaker_opens_fails_fast_and_recovers(void)
{
	fake_server f;
	govpool_config cfg;
	govpool    *pool;
	govpool_error err;
	govpool_stats st;
	govpool_session *s = NULL;

	if (!fake_server_config(&f, &cfg, "gp_breaker"))
		return;
	cfg.connect_attempts = 3;
	cfg.connect_backoff_ms = 1;
	cfg.connect_backoff_max_ms = 2;
	cfg.breaker_threshold = 5;
	cfg.breaker_window_ms = 0;	/* 5 failures open it, however fast */
	cfg.breaker_cooldown_min_ms = 100;
	cfg.breaker_cooldown_ms = 100;
	pool = itest_pool(&cfg);

	/* 3 attempts (retry with backoff), then 2 more: the 5th failure opens it */
	CHECK(govpool_begin(pool, &alice, -1, &err) == NULL && err.kind == GOVPOOL_ERR_CONNECT);
	govpool_stats(pool, &st);
	CHECK_MSG(st.connect_failures_total == 3, "%llu", (unsigned long long) st.connect_failures_total);
	CHECK(st.circuit == GOVPOOL_CIRCUIT_CLOSED);
	CHECK(govpool_begin(pool, &alice, -1, &err) == NULL && err.kind == GOVPOOL_ERR_CONNECT);
	govpool_stats(pool, &st);
	CHECK(st.connect_failures_total == 5 && st.circuit == GOVPOOL_CIRCUIT_OPEN);

	/* open: fail fast, no connection attempt */
	CHECK(govpool_begin(pool, &alice, -1, &err) == NULL);
	CHECK(err.kind == GOVPOOL_ERR_CIRCUIT_OPEN);
	CHECK_MSG(strstr(err.message, "circuit breaker open") != NULL, "%s", err.message);
	govpool_stats(pool, &st);
	CHECK(st.connect_failures_total == 5);

	/* the server "comes back"; after the cool-down one probe closes it */
	CHECK(fake_server_start(&f));
	for (int i = 0; i < 10000; i++)
	{
		s = govpool_begin(pool, &alice, -1, &err);
		if (s || err.kind != GOVPOOL_ERR_CIRCUIT_OPEN)
			break;
		sleep_ms(1);
	}
	CHECK_MSG(s != NULL, "%s", err.message);
	govpool_stats(pool, &st);
	CHECK(st.circuit == GOVPOOL_CIRCUIT_CLOSED);
	CHECK(st.connect_failures_total == 5);
	if (s)
		govpool_rollback(s);
	govpool_destroy(pool);
	fake_server_remove(&f);
}

/*
 * A server that was there and is gone (refused: a restart) is waited for
 * within the checkout timeout, not failed after connect_attempts; a burst
 * of such failures does not open the breaker.  Same socket trick as above.
 */
static void
test_refused_after_connecting_is_retried_until_the_deadline(void)
{
	fake_server f;
	govpool_config cfg;
	govpool    *pool;
	govpool_error err;
	govpool_stats st;
	govpool_session *s;
	int64_t		t0,
				waited;

	if (!fake_server_config(&f, &cfg, "gp_restart"))
		return;
	CHECK(fake_server_start(&f));
	cfg.pool_size = 0;			/* every checkout connects */
	pool = itest_pool(&cfg);	/* the default breaker; itest backoff base 1 ms */
	s = govpool_begin(pool, &alice, -1, &err);
	CHECK_MSG(s != NULL, "%s", err.message);
	if (s)
		govpool_rollback(s);

	/* the server "goes away": the checkout retries until its 600 ms are up */
	fake_server_stop(&f);
	t0 = gp_now_ns();
	s = govpool_begin(pool, &alice, 600, &err);
	waited = gp_now_ns() - t0;
	govpool_stats(pool, &st);
	CHECK(s == NULL && err.kind == GOVPOOL_ERR_CONNECT);
	CHECK_MSG(waited >= 250 * 1000000LL, "gave up after %lld ms", (long long) (waited / 1000000));
	CHECK_MSG(st.connect_failures_total > (uint64_t) cfg.connect_attempts,
			  "%llu attempts (connect_attempts %d)", (unsigned long long) st.connect_failures_total,
			  cfg.connect_attempts);
	CHECK(st.circuit == GOVPOOL_CIRCUIT_CLOSED);	/* 600 ms is not sustained */

	/* back: the next checkout connects */
	CHECK(fake_server_start(&f));
	s = govpool_begin(pool, &alice, -1, &err);
	CHECK_MSG(s != NULL, "%s", err.message);
	if (s)
		govpool_rollback(s);
	govpool_destroy(pool);
	fake_server_remove(&f);
}

/*
 * What the server said decides: 53300 (too many connections, here for a
 * role with CONNECTION LIMIT 0) is transient, retried until the checkout
 * deadline; 3D000 (no such database) is hard, connect_attempts attempts.
 * Both come back with their SQLSTATE and the message as at libpq's
 * default verbosity.
 */
static void
test_refusal_sqlstate_decides_the_retry(void)
{
	static const struct
	{
		const char *user;
		const char *dbname;
		const char *sqlstate;
		const char *says;
		bool		transient;
	}			cases[] = {
		{"gp_full", NULL, "53300", "too many connections", true},
		{NULL, "gp_no_such_db", "3D000", "does not exist", false},
	};
	fake_server f;
	govpool_config cfg;

	sql("DROP ROLE IF EXISTS gp_full");
	sql("CREATE ROLE gp_full LOGIN CONNECTION LIMIT 0");
	if (!fake_server_config(&f, &cfg, "gp_refusal"))
		return;
	CHECK(fake_server_start(&f));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		govpool    *pool;
		govpool_error err;
		govpool_stats st;

		snprintf(cfg.conninfo, sizeof(cfg.conninfo), "host=%s port=%s dbname=%s user=%s", f.dir,
				 getenv("PGPORT"), cases[i].dbname ? cases[i].dbname :
				 (getenv("PGDATABASE") ? getenv("PGDATABASE") : "postgres"),
				 cases[i].user ? cases[i].user : (getenv("PGUSER") ? getenv("PGUSER") : "postgres"));
		pool = itest_pool(&cfg);
		CHECK(govpool_begin(pool, &alice, 400, &err) == NULL);
		govpool_stats(pool, &st);
		CHECK_MSG(err.kind == GOVPOOL_ERR_CONNECT && strcmp(err.sqlstate, cases[i].sqlstate) == 0,
				  "%s: [%s] %s", cases[i].sqlstate, err.sqlstate, err.message);
		CHECK_MSG(strstr(err.message, cases[i].says) != NULL &&
				  strstr(err.message, cases[i].sqlstate) == NULL &&
				  strstr(err.message, "LOCATION") == NULL, "%s", err.message);
		if (cases[i].transient)
			CHECK_MSG(st.connect_failures_total > (uint64_t) cfg.connect_attempts, "%s: %llu attempts",
					  cases[i].sqlstate, (unsigned long long) st.connect_failures_total);
		else
			CHECK_MSG(st.connect_failures_total == (uint64_t) cfg.connect_attempts, "%s: %llu attempts",
					  cases[i].sqlstate, (unsigned long long) st.connect_failures_total);
		govpool_destroy(pool);
	}
	fake_server_remove(&f);
	sql("DROP ROLE gp_full");
}

static void
test_extensions_are_created_at_start_with_quoted_names(void)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_error err;
	const char *url = getenv("DATABASE_URL");

	if (itest_skip_in_sql_edition("it has the pool create the C extension in a new database "
								  "(GOVPOOL_EXTENSIONS=pg_governance,uuid-ossp)"))
		return;
	sql("DROP DATABASE IF EXISTS govpool_ext_test");
	sql("CREATE DATABASE govpool_ext_test");
	itest_config(&cfg, "gp_ext");
	snprintf(cfg.conninfo, sizeof(cfg.conninfo), "%s%sdbname=govpool_ext_test",
			 (url && strchr(url, ':')) ? "" : (url ? url : ""), (url && !strchr(url, ':')) ? " " : "");
	if (url && strstr(url, "://"))
	{
		/* keep host/port/user of the URL, change the database */
		PQconninfoOption *o = PQconninfoParse(url, NULL);
		size_t		pos = 0;

		cfg.conninfo[0] = '\0';
		for (PQconninfoOption *p = o; p && p->keyword; p++)
			if (p->val && strcmp(p->keyword, "dbname") != 0)
				pos += snprintf(cfg.conninfo + pos, sizeof(cfg.conninfo) - pos, "%s='%s' ", p->keyword, p->val);
		snprintf(cfg.conninfo + pos, sizeof(cfg.conninfo) - pos, "dbname=govpool_ext_test");
		PQconninfoFree(o);
	}
	snprintf(cfg.extensions, sizeof(cfg.extensions), "pg_governance,uuid-ossp");
	pool = govpool_create(&cfg, &err);
	CHECK_MSG(err.kind == GOVPOOL_OK, "%s", err.message);
	if (err.kind == GOVPOOL_OK)
	{
		PGresult   *r = govpool_run(pool, &alice,
									"SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension "
									"WHERE extname IN ('pg_governance', 'uuid-ossp')", 0, NULL, &err);

		CHECK_MSG(r && strcmp(PQgetvalue(r, 0, 0), "pg_governance,uuid-ossp") == 0, "%s",
				  r ? PQgetvalue(r, 0, 0) : err.message);
		PQclear(r);
	}
	govpool_destroy(pool);

	snprintf(cfg.extensions, sizeof(cfg.extensions), "no_such_extension");
	pool = govpool_create(&cfg, &err);
	CHECK(pool != NULL && err.kind == GOVPOOL_ERR_QUERY);
	CHECK_MSG(strstr(err.message, "GOVPOOL_EXTENSIONS") && strstr(err.message, "no_such_extension"),
			  "%s", err.message);
	govpool_destroy(pool);
	sql("DROP DATABASE govpool_ext_test");
}

static void
test_pg_variables_apply_without_conninfo(void)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_health_report h;

	itest_config(&cfg, "gp_pgenv");
	cfg.conninfo[0] = '\0';
	pool = itest_pool(&cfg);
	CHECK_MSG(govpool_health(pool, &h), "%s", h.error.message);
	govpool_destroy(pool);
}

static void
test_health_and_stats_formats(void)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_health_report h;
	char		buf[8192];
	int			n;

	itest_config(&cfg, "gp_stats");
	pool = itest_pool(&cfg);
	CHECK(govpool_health(pool, &h));
	CHECK(h.rtt_ms > 0 && h.stats.size == 1 && h.stats.idle == 1);

	n = govpool_stats_format(pool, GOVPOOL_FORMAT_JSON, buf, sizeof(buf));
	CHECK(n > 0 && (size_t) n < sizeof(buf));
	CHECK_MSG(strstr(buf, "\"pool_size\":5") && strstr(buf, "\"current\":{\"size\":1,") &&
			  strstr(buf, "\"circuit\":\"closed\"") && strstr(buf, "\"acquires\":2,") &&
			  strstr(buf, "\"application_name\":\"gp_stats\""), "%s", buf);
	n = govpool_stats_format(pool, GOVPOOL_FORMAT_PROMETHEUS, buf, sizeof(buf));
	CHECK(n > 0 && (size_t) n < sizeof(buf));
	CHECK_MSG(strstr(buf, "# TYPE govpool_acquires_total counter\ngovpool_acquires_total{application_name=\"gp_stats\"} 2\n") &&
			  strstr(buf, "# TYPE govpool_idle gauge\n"), "%s", buf);
	/* text (govpool stats): one line per field of the table, with its group */
	n = govpool_stats_format(pool, GOVPOOL_FORMAT_TEXT, buf, sizeof(buf));
	CHECK(n > 0 && (size_t) n < sizeof(buf));
	{
		char		line[3][64];

		snprintf(line[0], sizeof(line[0]), "\n%-22s %s  (%s)\n", "acquires", "2", "cumulative");
		snprintf(line[1], sizeof(line[1]), "\n%-22s %s  (%s)\n", "circuit", "closed", "current");
		snprintf(line[2], sizeof(line[2]), "%-22s %s  (%s)\n", "pool_size", "5", "configuration");
		CHECK_MSG(strstr(buf, line[0]) && strstr(buf, line[1]) && strncmp(buf, line[2], strlen(line[2])) == 0 &&
				  strstr(buf, "\nidle_closed ") && strstr(buf, "\nquery_p99_us "), "%s", buf);
	}
	/* snprintf contract: a short buffer gets a prefix and the full length */
	{
		char		small[16];
		int			full = govpool_stats_format(pool, GOVPOOL_FORMAT_JSON, small, sizeof(small));

		CHECK(full > (int) sizeof(small) && strlen(small) == sizeof(small) - 1);
	}
	govpool_destroy(pool);
}

static void
test_leaked_session_is_logged_once_with_context_and_place(void)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_error err;
	govpool_session *s;
	logbuf		lb;
	char		where[64];
	uint64_t	scans;
	int			line;

	itest_config(&cfg, "gp_leak");
	cfg.leak_threshold_ms = 20;
	pool = itest_pool(&cfg);
	logbuf_init(&lb);
	govpool_set_logger(pool, logbuf_fn, &lb);
	line = __LINE__ + 1;
	s = govpool_begin(pool, &alice, -1, &err);
	snprintf(where, sizeof(where), "begun_at=test/test_pool.c:%d", line);

	pthread_mutex_lock(&lb.mu);
	while (strstr(lb.text, "event=session_leak") == NULL)
		pthread_cond_wait(&lb.cond, &lb.mu);
	pthread_mutex_unlock(&lb.mu);
	/* three more scans while still held: still exactly one report */
	pthread_mutex_lock(&pool->bag.lock);
	scans = pool->hk_scans;
	pthread_mutex_unlock(&pool->bag.lock);
	for (;;)
	{
		uint64_t	now;

		pthread_mutex_lock(&pool->bag.lock);
		now = pool->hk_scans;
		pthread_mutex_unlock(&pool->bag.lock);
		if (now >= scans + 3)
			break;
		sleep_ms(1);
	}
	pthread_mutex_lock(&lb.mu);
	CHECK(count_substr(lb.text, "event=session_leak") == 1);
	CHECK_MSG(strstr(lb.text, "agent_id=alice") && strstr(lb.text, "tenant_id=acme") &&
			  strstr(lb.text, "correlation_id=req-1") && strstr(lb.text, where), "%s", lb.text);
	pthread_mutex_unlock(&lb.mu);
	govpool_rollback(s);
	{
		govpool_stats st;

		govpool_stats(pool, &st);
		CHECK(st.leaks_total == 1);
	}
	govpool_destroy(pool);
}

typedef struct hammer_arg
{
	govpool    *pool;
	int			ok;
	int			iterations;
} hammer_arg;

static void *
hammer(void *p)
{
	hammer_arg *a = p;
	govpool_context ctx = {"worker", "t1", NULL};

	for (int i = 0; i < a->iterations; i++)
	{
		govpool_error err;

		if (i % 2)
		{
			PGresult   *r = govpool_run(a->pool, &ctx, "SELECT governance.agent_id()", 0, NULL, &err);

			if (r && strcmp(PQgetvalue(r, 0, 0), "worker") == 0)
				a->ok++;
			PQclear(r);
		}
		else
		{
			govpool_session *s = govpool_begin(a->pool, &ctx, -1, &err);
			PGresult   *r = s ? govpool_exec(s, "SELECT 1", 0, NULL, &err) : NULL;

			PQclear(r);
			if (s && govpool_commit(s, &err) == GOVPOOL_OK && r)
				a->ok++;
		}
	}
	return NULL;
}

/* More threads than connections, runs and sessions mixed (TSan's target). */
static void
test_many_threads_share_a_small_pool(void)
{
	enum
	{
	T = 8, ITER = 40};
	govpool_config cfg;
	govpool    *pool;
	pthread_t	th[T];
	hammer_arg	args[T];
	govpool_stats st;
	int			ok = 0;

	itest_config(&cfg, "gp_hammer");
	cfg.pool_size = 2;
	cfg.max_overflow = 2;
	cfg.leak_threshold_ms = 10000;
	pool = itest_pool(&cfg);
	for (int i = 0; i < T; i++)
	{
		args[i] = (hammer_arg) {pool, 0, ITER};
		pthread_create(&th[i], NULL, hammer, &args[i]);
	}
	for (int i = 0; i < T; i++)
	{
		pthread_join(th[i], NULL);
		ok += args[i].ok;
	}
	CHECK_MSG(ok == T * ITER, "%d of %d", ok, T * ITER);
	govpool_stats(pool, &st);
	/* all back, open ones bounded (overflow ones stay idle for overflow_idle_ms) */
	CHECK_MSG(st.checked_out == 0 && st.waiters == 0 && st.size <= 4 && st.idle == st.size,
			  "out=%d waiters=%d size=%d idle=%d", st.checked_out, st.waiters, st.size, st.idle);
	CHECK(st.sessions_committed_total == (uint64_t) (T * ITER));
	govpool_destroy(pool);
}

int
main(void)
{
	itest_connect_admin();
	itest_governance();
	RUN(test_exhaustion_times_out_naming_size_overflow_timeout);
	RUN(test_waiters_get_connections_in_arrival_order);
	RUN(test_overflow_idle_0_closes_them_once_pool_size_are_idle);
	RUN(test_overflow_connections_are_reused_under_load);
	RUN(test_overflow_connections_stay_while_clients_pause);
	RUN(test_idle_overflow_connections_close_after_overflow_idle_ms);
	RUN(test_serverless_mode_keeps_no_idle_connection);
	RUN(test_connections_older_than_recycle_are_replaced);
	RUN(test_dead_idle_connection_is_replaced_without_a_round_trip);
	RUN(test_reset_on_return_modes);
	RUN(test_breaker_opens_fails_fast_and_recovers);
	RUN(test_refused_after_connecting_is_retried_until_the_deadline);
	RUN(test_refusal_sqlstate_decides_the_retry);
	RUN(test_extensions_are_created_at_start_with_quoted_names);
	RUN(test_pg_variables_apply_without_conninfo);
	RUN(test_health_and_stats_formats);
	RUN(test_leaked_session_is_logged_once_with_context_and_place);
	RUN(test_many_threads_share_a_small_pool);
	PQfinish(admin);
	return tap_done();
}
