/*
 * terminate.c
 *	  Fault scenario: pg_terminate_backend() on every pooled connection
 *	  mid-load: only sessions in flight fail, everything after succeeds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct kill_round
{
	int64_t		t_kill;			/* before pg_terminate_backend */
	int64_t		t_gone;			/* every terminated backend left pg_stat_activity */
	int			terminated;
	int			failed;			/* failed ops in flight during [t_kill, t_gone] */
} kill_round;

void
scenario_terminate(void)
{
	const char *app = "faults_terminate";
	int			clients = short_run ? 6 : 10;
	int			rounds = short_run ? 2 : 8;
	long		between = short_run ? 200 : 1500;
	overlay		ov;
	govpool_config cfg;
	govpool    *pool;
	load		l;
	kill_round	kr[8];
	long		stray = 0,
				after_ops = 0,
				total_failed = 0;
	int			terminated = 0;
	bool		over = false;

	load_setup_table();
	ov_base(&ov, app);
	ov_set(&ov, "DATABASE_POOL_SIZE", "4");
	ov_set(&ov, "DATABASE_MAX_OVERFLOW", "0"); /* a fixed set of connections, more clients */
	/*
	 * Socket-check every checkout.  With the default (idle >= 1 ms) a
	 * connection given back less than a millisecond before the next
	 * checkout is not checked, so one terminated in that window fails the
	 * next session even if it started after the backend was gone.
	 */
	ov_set(&ov, "GOVPOOL_LIVENESS_IDLE_MS", "0");
	pool = make_pool(&ov, &cfg);
	load_start(&l, pool, clients, 0);
	for (int k = 0; k < rounds; k++)
	{
		char		q[1200],
					list[1024] = "";
		size_t		pos = 0;
		PGresult   *r;
		int64_t		deadline;

		if (!load_wait_ok(&l, between, 120))
		{
			rounds = k;
			break;
		}
		kr[k].t_kill = now_ns();
		/* materialized first: the filter must run before the terminate */
		snprintf(q, sizeof(q), "WITH p AS MATERIALIZED (SELECT pid FROM pg_stat_activity "
				 "WHERE application_name = '%s') SELECT pid FROM p WHERE pg_terminate_backend(pid)",
				 app);
		r = admin_query(q);
		kr[k].terminated = PQntuples(r);
		for (int i = 0; i < PQntuples(r) && pos < sizeof(list); i++)
			pos += snprintf(list + pos, sizeof(list) - pos, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
		PQclear(r);
		if (kr[k].terminated > 0)
		{
			snprintf(q, sizeof(q), "SELECT count(*) FROM pg_stat_activity WHERE pid IN (%s)", list);
			deadline = now_ns() + (int64_t) 30 * 1000000000;
			while (admin_long(q) != 0)
			{
				if (now_ns() > deadline)
					die("terminated backends still there after 30 s");
				sleep_ms(2);
			}
		}
		kr[k].t_gone = now_ns();
		if (log_verbose)
			fprintf(stderr, "t=%.6f..%.6f terminated %s\n", secs(kr[k].t_kill), secs(kr[k].t_gone), list);
		kr[k].failed = 0;
		terminated += kr[k].terminated;
	}
	if (rounds > 0)
		load_wait_ok(&l, between, 120);
	load_stop(&l);

	/* every failure must be an op in flight while a round's backends died */
	for (int i = 0; i < l.n; i++)
		for (int j = 0; j < l.w[i].n_ops; j++)
		{
			const op   *p = &l.w[i].ops[j];
			int			in = -1;

			/*
			 * The round that broke it is the last one it overlaps: an op
			 * can span two rounds (a slow checkout on a busy box) and fail
			 * in the second.
			 */
			for (int k = rounds - 1; k >= 0 && in < 0; k--)
				if (p->end_ns >= kr[k].t_kill && p->start_ns <= kr[k].t_gone)
					in = k;
			if (in < 0)
				after_ops++;
			if (p->outcome == OUT_OK)
				continue;
			total_failed++;
			if (in < 0)
				stray++;
			else
				kr[in].failed++;
		}
	check_clear_errors(&l);
	for (int k = 0; k < rounds; k++)
	{
		check(kr[k].terminated > 0, "connections_were_terminated",
			  "round %d: pg_terminate_backend on %d pooled connections", k + 1, kr[k].terminated);
		if (kr[k].failed > kr[k].terminated)
			over = true;
		figure("round %d: %d connections terminated, %d sessions in flight failed, backends gone "
			   "after %.0f ms", k + 1, kr[k].terminated, kr[k].failed,
			   msecs(kr[k].t_gone - kr[k].t_kill));
	}
	check(!over, "failures_at_most_connections_terminated",
		  "%ld sessions failed in all, %d connections terminated in all", total_failed, terminated);
	check(stray == 0, "everything_else_succeeds",
		  "%ld of %ld sessions not in flight during a termination failed", stray, after_ops);
	verify_data(&l);
	check_no_leak(pool, app);
	{
		govpool_stats st;

		govpool_stats_get(pool, &st);
		figure("%d clients on pool_size=%d max_overflow=%d, %d rounds: terminated=%d failed=%ld "
			   "invalidated=%llu connect_failures=%llu", clients, cfg.pool_size, cfg.max_overflow,
			   rounds, terminated, total_failed, (unsigned long long) st.invalidated_total,
			   (unsigned long long) st.connect_failures_total);
	}
	log_summary();
	destroy_and_check_closed(pool, app);
	load_free(&l);
}

