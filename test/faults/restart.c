/*
 * restart.c
 *	  Fault scenario: pg_ctl restart -m fast under a governed, audited write
 *	  load from many threads (half of them on the event-loop API), with the
 *	  breaker and connect settings users get by default.
 *
 * Asserted, per restart: every client succeeds again; nothing fails after
 * the last one did; when the server was unavailable for less than the
 * breaker's window, the breaker never opened and the restart cost at most
 * the sessions in flight when the server went down: one per connection of
 * the old server, pool_size + max_overflow (sessions that start while it
 * is down wait for it).  Then the data and
 * audit checks of the load, no leaked connection.  Measured and printed:
 * the heal time (from the server accepting connections again to the first
 * and to every client's first success) with its median and spread, and
 * the failed sessions.
 *
 * When the server refuses and accepts again is seen by PQping every 2 ms
 * from the main thread while another thread runs pg_ctl (pg_ctl -w itself
 * only looks every 100 ms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAX_CYCLES 16

typedef struct ctl_job
{
	const char *action;
	int			slot;
	bool		done;			/* atomic */
} ctl_job;

static void *
ctl_main(void *arg)
{
	ctl_job    *j = arg;

	server_ctl_slot(j->action, j->slot);
	__atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Restart the server from another thread; meanwhile ping it to see when it
 * stops accepting connections (t_down) and when it accepts them again
 * (t_up).  Bounded: pg_ctl's watchdog, and 90 s here.
 */
static void
restart_once(load *l, outage *o, void *arg)
{
	int			ctl_slot = *(int *) arg;
	const char *kw[] = {"dbname", "application_name", NULL};
	const char *val[] = {env_required("DATABASE_URL"), "faults_ping", NULL};
	ctl_job		job = {"restart -m fast", ctl_slot, false};
	pthread_t	th;
	int64_t		deadline;

	(void) l;
	o->t_down = o->t_up = 0;
	o->t_stop = now_ns();
	if (pthread_create(&th, NULL, ctl_main, &job) != 0)
		die("pthread_create failed");
	deadline = o->t_stop + (int64_t) 90 * 1000000000;
	while (o->t_up == 0)
	{
		bool		ok = PQpingParams(kw, val, 1) == PQPING_OK;
		int64_t		t = now_ns();

		if (!ok && o->t_down == 0)
			o->t_down = t;
		else if (ok && o->t_down != 0)
			o->t_up = t;
		else if (ok && __atomic_load_n(&job.done, __ATOMIC_ACQUIRE))
			die("pg_ctl restart returned but no ping ever saw the server down");
		if (t > deadline)
			die("the server did not come back within 90 s");
		if (o->t_up == 0)
			sleep_ms(2);
	}
	pthread_join(th, NULL);
	o->t_start = o->t_down;
}

static int64_t
median_of(int64_t *v, int n)
{
	qsort(v, n, sizeof(int64_t), cmp_i64);
	return pct(v, n, 50);
}

void
scenario_restart(void)
{
	const char *app = "faults_restart";
	int			clients = short_run ? 12 : 24;
	int			cycles = short_run ? 3 : 8;
	long		before = short_run ? 200 : 1000;
	long		after = short_run ? 200 : 1000;
	overlay		ov;
	govpool_config cfg,
				defaults;
	govpool    *pool;
	load		l;
	outage		o[MAX_CYCLES];
	int64_t		heal_all[MAX_CYCLES],
				heal_first[MAX_CYCLES],
				down[MAX_CYCLES];
	long		failed[MAX_CYCLES];
	int			ctl_slot = watch_slot();
	char		by[512];

	load_setup_table();
	ov_base(&ov, app);
	pool = make_pool(&ov, &cfg);
	govpool_config_defaults(&defaults);
	check(cfg.breaker_threshold == defaults.breaker_threshold &&
		  cfg.breaker_window_ms == defaults.breaker_window_ms &&
		  cfg.breaker_cooldown_ms == defaults.breaker_cooldown_ms &&
		  cfg.breaker_cooldown_min_ms == defaults.breaker_cooldown_min_ms &&
		  cfg.connect_attempts == defaults.connect_attempts &&
		  cfg.connect_backoff_ms == defaults.connect_backoff_ms &&
		  cfg.connect_backoff_max_ms == defaults.connect_backoff_max_ms,
		  "default_breaker_settings", "breaker threshold %d over %d ms, cool-down %d..%d ms, "
		  "%d connect attempts, back-off %d..%d ms", cfg.breaker_threshold, cfg.breaker_window_ms,
		  cfg.breaker_cooldown_min_ms, cfg.breaker_cooldown_ms, cfg.connect_attempts,
		  cfg.connect_backoff_ms, cfg.connect_backoff_max_ms);
	load_start(&l, pool, clients, clients / 2);
	cycles = load_outages(&l, o, cycles, before, after, restart_once, &ctl_slot);

	check_clear_errors(&l);
	{
		long		opened = log_event_count("circuit_open");
		int64_t		longest = 0;
		int			capacity = cfg.pool_size + cfg.max_overflow;

		for (int k = 0; k < cycles; k++)
		{
			heal_all[k] = heal_first[k] = -1;
			failed[k] = outage_report(&l, &o[k], k + 1, &heal_all[k], &heal_first[k]);
			down[k] = o[k].t_up - o[k].t_down;
			if (down[k] > longest)
				longest = down[k];
			if (down[k] < (int64_t) (cfg.breaker_window_ms - 100) * 1000000)
				check(failed[k] <= capacity, "restart_costs_at_most_the_sessions_in_flight",
					  "restart %d (server unavailable %.2f s): %ld sessions failed; at most %d "
					  "were in flight (pool_size + max_overflow connections), %d clients",
					  k + 1, secs(down[k]), failed[k], capacity, clients);
			else
				figure("restart %d: server unavailable %.2f s, longer than the breaker window "
					   "(%d ms): failed sessions not bounded", k + 1, secs(down[k]),
					   cfg.breaker_window_ms);
		}
		if (cycles > 0 && longest < (int64_t) (cfg.breaker_window_ms - 100) * 1000000)
			check(opened == 0, "breaker_stays_closed_through_a_restart",
				  "circuit_open logged %ld times; the longest restart kept the server "
				  "unavailable %.2f s, the window is %d ms", opened, secs(longest),
				  cfg.breaker_window_ms);
	}
	if (cycles > 0)
	{
		int64_t		ha[MAX_CYCLES],
					hf[MAX_CYCLES],
					dn[MAX_CYCLES],
					fl[MAX_CYCLES];

		int64_t		mha,
					mhf,
					mdn,
					mfl;

		for (int k = 0; k < cycles; k++)
			ha[k] = heal_all[k], hf[k] = heal_first[k], dn[k] = down[k], fl[k] = failed[k];
		mha = median_of(ha, cycles);	/* sorts: [0] and [cycles - 1] are the range */
		mhf = median_of(hf, cycles);
		mdn = median_of(dn, cycles);
		mfl = median_of(fl, cycles);
		figure("heal with the defaults over %d fast restarts, %d clients (%d on the event-loop API): "
			   "first success median %.3f s (%.3f..%.3f), all clients median %.3f s "
			   "(%.3f..%.3f) after the server accepted connections; server unavailable median "
			   "%.2f s (%.2f..%.2f); failed sessions per restart median %lld (%lld..%lld)",
			   cycles, clients, clients / 2, secs(mhf), secs(hf[0]), secs(hf[cycles - 1]),
			   secs(mha), secs(ha[0]), secs(ha[cycles - 1]), secs(mdn), secs(dn[0]),
			   secs(dn[cycles - 1]), (long long) mfl, (long long) fl[0], (long long) fl[cycles - 1]);
	}
	verify_data(&l);
	check_no_leak(pool, app);
	{
		govpool_stats st;

		govpool_stats_get(pool, &st);
		failures_by_status(&l, by, sizeof(by));
		figure("%d clients, pool_size=%d max_overflow=%d, %d fast restarts; breaker threshold %d "
			   "over %d ms, cool-down %d..%d ms (defaults); pool: connects=%llu "
			   "connect_failures=%llu invalidated=%llu", clients, cfg.pool_size, cfg.max_overflow,
			   cycles, cfg.breaker_threshold, cfg.breaker_window_ms, cfg.breaker_cooldown_min_ms,
			   cfg.breaker_cooldown_ms, (unsigned long long) st.connects_total,
			   (unsigned long long) st.connect_failures_total,
			   (unsigned long long) st.invalidated_total);
	}
	log_summary();
	destroy_and_check_closed(pool, app);
	load_free(&l);
}
