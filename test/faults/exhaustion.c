/*
 * exhaustion.c
 *	  Fault scenario: more clients than pool_size + max_overflow:
 *	  the late ones time out after the configured wait, none hangs, a queued
 *	  waiter gets the first connection given back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct holder
{
	govpool    *pool;
	int			slot;
	pthread_mutex_t *mu;
	pthread_cond_t *cond;
	bool		release;		/* under *mu */
	bool		got;
	govpool_status commit_rc;
	char		msg[GOVPOOL_MESSAGE_MAX];
} holder;

static void *
holder_main(void *arg)
{
	holder	   *h = arg;
	govpool_context ctx = {"holder", "faults", NULL};
	govpool_error err;
	govpool_session *s;
	PGresult   *r = NULL;

	watch_begin(h->slot, "govpool_begin (holder)", call_watchdog_ms);
	s = govpool_begin(h->pool, &ctx, -1, &err);
	if (s)
		r = govpool_exec(s, "SELECT pg_backend_pid()", 0, NULL, &err);
	watch_end(h->slot);
	PQclear(r);
	h->got = r != NULL;
	if (!h->got)
	{
		snprintf(h->msg, sizeof(h->msg), "%s: %.300s", govpool_status_name(err.kind), err.message);
		if (s)
			govpool_rollback(s);
		h->commit_rc = err.kind;
	}
	pthread_mutex_lock(h->mu);
	while (!h->release)
		pthread_cond_wait(h->cond, h->mu);
	pthread_mutex_unlock(h->mu);
	if (h->got)
	{
		watch_begin(h->slot, "govpool_commit (holder)", call_watchdog_ms);
		h->commit_rc = govpool_commit(s, &err);
		watch_end(h->slot);
		if (h->commit_rc != GOVPOOL_OK)
			snprintf(h->msg, sizeof(h->msg), "%s: %.300s", govpool_status_name(err.kind), err.message);
	}
	return NULL;
}

typedef struct late
{
	govpool    *pool;
	int			slot;
	int			timeout_ms;		/* what to pass to govpool_begin */
	int			watchdog_ms;
	int64_t		wait_ns;
	int64_t		got_ns;			/* when it got a session (0 = it did not) */
	govpool_error err;
} late;

/* A client arriving at an exhausted pool; with a session, it commits at once. */
static void *
late_main(void *arg)
{
	late	   *c = arg;
	govpool_context ctx = {"late", "faults", NULL};
	govpool_session *s;
	int64_t		t0 = now_ns();

	watch_begin(c->slot, "govpool_begin (exhausted pool)", c->watchdog_ms);
	s = govpool_begin(c->pool, &ctx, c->timeout_ms, &c->err);
	watch_end(c->slot);
	c->wait_ns = now_ns() - t0;
	c->got_ns = s ? now_ns() : 0;
	if (s)
	{
		PGresult   *r = govpool_exec(s, "SELECT 1", 0, NULL, &c->err);

		PQclear(r);
		govpool_commit(s, &c->err);
	}
	return NULL;
}

static bool
wait_stats(govpool *pool, int checked_out, int waiters, int timeout_s)
{
	int64_t		deadline = now_ns() + (int64_t) timeout_s * 1000000000;
	govpool_stats st;

	for (;;)
	{
		govpool_stats_get(pool, &st);
		if ((checked_out < 0 || st.checked_out == checked_out) && (waiters < 0 || st.waiters == waiters))
			return true;
		if (now_ns() > deadline)
			return false;
		sleep_ms(1);
	}
}

void
scenario_exhaustion(void)
{
	const char *app = "faults_exhaustion";
	int			size = 2,
				overflow = short_run ? 1 : 2;
	int			n_late = short_run ? 4 : 12;
	const char *timeout_s = short_run ? "0.5" : "2";
	overlay		ov;
	govpool_config cfg;
	govpool    *pool;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	holder		h[8];
	late		c[16],
				waiter;
	pthread_t	hth[8],
				cth[16],
				wth;
	int			cap;
	int			timed_out = 0,
				early = 0,
				named = 0,
				held = 0,
				committed = 0;
	int64_t		waits[16];
	govpool_stats st;
	int64_t		t_release;

	PQclear(admin_query("CREATE EXTENSION IF NOT EXISTS pg_governance"));
	ov_base(&ov, app);
	ov_set(&ov, "DATABASE_POOL_SIZE", "%d", size);
	ov_set(&ov, "DATABASE_MAX_OVERFLOW", "%d", overflow);
	ov_set(&ov, "DATABASE_POOL_TIMEOUT", "%s", timeout_s);
	pool = make_pool(&ov, &cfg);
	cap = cfg.pool_size + cfg.max_overflow;

	/* pool_size + max_overflow clients take every connection and hold it */
	for (int i = 0; i < cap; i++)
	{
		h[i] = (holder) {pool, watch_slot(), &mu, &cond, false, false, GOVPOOL_OK, ""};
		if (pthread_create(&hth[i], NULL, holder_main, &h[i]) != 0)
			die("pthread_create failed");
	}
	if (!wait_stats(pool, cap, -1, 30))
		die("the holders did not get all %d connections within 30 s", cap);

	/* the late ones: each must get a timeout after the configured wait */
	for (int i = 0; i < n_late; i++)
	{
		c[i] = (late) {pool, watch_slot(), -1, cfg.pool_timeout_ms + call_watchdog_ms, 0, 0, {0}};
		if (pthread_create(&cth[i], NULL, late_main, &c[i]) != 0)
			die("pthread_create failed");
	}
	for (int i = 0; i < n_late; i++)
	{
		pthread_join(cth[i], NULL);
		waits[i] = c[i].wait_ns;
		if (c[i].got_ns == 0 && c[i].err.kind == GOVPOOL_ERR_TIMEOUT)
			timed_out++;
		if (c[i].wait_ns < (int64_t) cfg.pool_timeout_ms * 1000000)
			early++;
		if (strstr(c[i].err.message, "pool exhausted"))
			named++;
	}
	qsort(waits, n_late, sizeof(int64_t), cmp_i64);
	check(timed_out == n_late, "late_clients_time_out",
		  "%d of %d clients beyond pool_size+max_overflow=%d got GOVPOOL_ERR_TIMEOUT", timed_out,
		  n_late, cap);
	check(early == 0, "no_timeout_before_the_configured_wait",
		  "%d returned before DATABASE_POOL_TIMEOUT=%s s; shortest wait %.1f ms", early, timeout_s,
		  msecs(waits[0]));
	check(named == n_late, "timeout_message_says_exhausted", "%d of %d messages say \"pool exhausted\"%s%s",
		  named, n_late, named < n_late ? ": " : "", named < n_late ? c[0].err.message : "");
	figure("pool_size=%d max_overflow=%d, %d late clients, DATABASE_POOL_TIMEOUT=%s s: waited min "
		   "%.1f / median %.1f / max %.1f ms, i.e. %.1f..%.1f ms over the configured %d ms",
		   cfg.pool_size, cfg.max_overflow, n_late, timeout_s, msecs(waits[0]),
		   msecs(pct(waits, n_late, 50)), msecs(waits[n_late - 1]),
		   msecs(waits[0] - (int64_t) cfg.pool_timeout_ms * 1000000),
		   msecs(waits[n_late - 1] - (int64_t) cfg.pool_timeout_ms * 1000000), cfg.pool_timeout_ms);

	/* a waiter with room to wait gets the first connection given back */
	waiter = (late) {pool, watch_slot(), 30000, 30000 + call_watchdog_ms, 0, 0, {0}};
	if (pthread_create(&wth, NULL, late_main, &waiter) != 0)
		die("pthread_create failed");
	if (!wait_stats(pool, cap, 1, 30))
		die("the waiter did not queue within 30 s");
	pthread_mutex_lock(&mu);
	t_release = now_ns();
	h[0].release = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
	pthread_join(wth, NULL);
	check(waiter.got_ns != 0 && waiter.err.kind == GOVPOOL_OK, "waiter_gets_returned_connection",
		  "a waiter (timeout 30 s) got the connection %.2f ms after a holder committed%s%s",
		  waiter.got_ns ? msecs(waiter.got_ns - t_release) : -1.0,
		  waiter.err.kind ? ": " : "", waiter.err.kind ? waiter.err.message : "");

	pthread_mutex_lock(&mu);
	for (int i = 0; i < cap; i++)
		h[i].release = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < cap; i++)
	{
		pthread_join(hth[i], NULL);
		held += h[i].got;
		committed += h[i].got && h[i].commit_rc == GOVPOOL_OK;
	}
	check(held == cap && committed == cap, "holders_commit", "%d held a connection, %d committed%s%s",
		  held, committed, committed < cap ? ": " : "", committed < cap ? h[0].msg : "");
	govpool_stats_get(pool, &st);
	check(st.timeouts_total == (uint64_t) n_late && st.checked_out == 0 && st.waiters == 0,
		  "stats_count_the_timeouts", "timeouts_total=%llu exhaustion_events_total=%llu checked_out=%d "
		  "waiters=%d", (unsigned long long) st.timeouts_total,
		  (unsigned long long) st.exhaustion_events_total, st.checked_out, st.waiters);
	{
		govpool_error err;
		govpool_context ctx = {"after", NULL, NULL};
		PGresult   *r;

		watch_begin(0, "govpool_run", call_watchdog_ms);
		r = govpool_run(pool, &ctx, "SELECT 1", 0, NULL, &err);
		watch_end(0);
		check(r != NULL, "pool_usable_after_exhaustion", "%s", r ? "govpool_run succeeded" : err.message);
		PQclear(r);
	}
	figure("hand-off to a queued waiter: %.2f ms", waiter.got_ns ? msecs(waiter.got_ns - t_release) : -1.0);
	check_no_leak(pool, app);
	log_summary();
	destroy_and_check_closed(pool, app);
}

