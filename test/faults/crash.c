/*
 * crash.c
 *	  Fault scenario: pg_ctl stop -m immediate under a governed, audited
 *	  write load, held down until the breaker has opened, then started
 *	  (crash recovery): every acknowledged commit is there with its audit
 *	  row, no audit row without its change, the pool heals by itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/*
 * One crash: stop -m immediate, stay down until every client has felt it
 * and the breaker has opened (the failures lasted its window), let a
 * half-open probe through and opened again (bounded: 15 s; this shapes the
 * outage, it asserts nothing), start: crash recovery.
 */
static void
crash_once(load *l, outage *o, void *arg)
{
	int			clients = *(int *) arg;
	long		failed0 = load_failed(l),
				opened0 = log_event_count("circuit_open");

	o->t_stop = now_ns();
	server_ctl("stop -m immediate");
	o->t_down = now_ns();
	for (int64_t d = now_ns() + (int64_t) 15 * 1000000000;
		 (load_failed(l) - failed0 < clients || log_event_count("circuit_open") - opened0 < 2) &&
		 now_ns() < d;)
		sleep_ms(5);
	o->t_start = now_ns();
	server_ctl("start");
	o->t_up = now_ns();
}

void
scenario_crash(void)
{
	const char *app = "faults_crash";
	int			clients = short_run ? 4 : 10;
	int			cycles = short_run ? 1 : 5;
	long		before = short_run ? 300 : 2000;
	long		after = short_run ? 200 : 1000;
	overlay		ov;
	govpool_config cfg;
	govpool    *pool;
	load		l;
	outage		o[8];
	int64_t		heal_max = 0;
	char		by[512];

	{
		PGresult   *r = admin_query("SHOW synchronous_commit");
		bool		on = strcmp(PQgetvalue(r, 0, 0), "on") == 0;

		PQclear(r);
		if (!on)
			die("synchronous_commit must be on for the crash test (with-cluster sets it off; "
				"GOVERNANCE_EXTRA_CONF='synchronous_commit = on')");
	}
	load_setup_table();
	ov_base(&ov, app);
	pool = make_pool(&ov, &cfg);
	load_start(&l, pool, clients, 0);
	cycles = load_outages(&l, o, cycles, before, after, crash_once, &clients);

	check_clear_errors(&l);
	for (int k = 0; k < cycles; k++)
	{
		int64_t		h = 0,
					first = 0;

		outage_report(&l, &o[k], k + 1, &h, &first);
		if (h > heal_max)
			heal_max = h;
	}
	verify_data(&l);
	check_no_leak(pool, app);
	{
		govpool_stats st;

		govpool_stats_get(pool, &st);
		failures_by_status(&l, by, sizeof(by));
		figure("%d clients, pool_size=%d max_overflow=%d, %d immediate stops (crash); breaker "
			   "threshold %d over %d ms, cool-down %d..%d ms; heal (slowest outage) %.2f s; pool: "
			   "connects=%llu connect_failures=%llu invalidated=%llu", clients, cfg.pool_size,
			   cfg.max_overflow, cycles, cfg.breaker_threshold, cfg.breaker_window_ms,
			   cfg.breaker_cooldown_min_ms, cfg.breaker_cooldown_ms, secs(heal_max),
			   (unsigned long long) st.connects_total,
			   (unsigned long long) st.connect_failures_total,
			   (unsigned long long) st.invalidated_total);
	}
	log_summary();
	destroy_and_check_closed(pool, app);
	load_free(&l);
}
