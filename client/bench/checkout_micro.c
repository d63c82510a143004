/*
 * checkout_micro.c
 *	  Microbenchmark: uncontended checkout + checkin through the public API
 *	  (govpool_begin + govpool_rollback of a session that sent nothing, so
 *	  no network I/O), in ns per pair.
 *
 *	  checkout_micro [N]     prints "checkout_checkin_ns=... (liveness_idle_ms=1)"
 *	                          and the same with the socket check on every checkout
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "govpool.h"

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double
measure(int liveness_idle_ms, long n)
{
	govpool_config cfg;
	govpool_error err;
	govpool    *pool;
	govpool_context ctx = {"micro", NULL, NULL};
	double		t0,
				best = 1e18;

	govpool_config_defaults(&cfg);
	snprintf(cfg.conninfo, sizeof(cfg.conninfo), "%s", getenv("DATABASE_URL") ? getenv("DATABASE_URL") : "");
	cfg.pool_size = 1;
	cfg.max_overflow = 0;
	cfg.liveness_idle_ms = liveness_idle_ms;
	pool = govpool_create(&cfg, &err);
	if (pool == NULL || err.kind != GOVPOOL_OK)
	{
		fprintf(stderr, "checkout_micro: %s\n", err.message);
		exit(1);
	}
	govpool_rollback(govpool_begin(pool, &ctx, -1, &err));	/* open the connection */
	for (int round = 0; round < 5; round++)
	{
		double		per;

		t0 = now_ns();
		for (long i = 0; i < n; i++)
		{
			govpool_session *s = govpool_begin(pool, &ctx, -1, &err);

			govpool_rollback(s);
		}
		per = (now_ns() - t0) / n;
		if (per < best)
			best = per;
	}
	govpool_destroy(pool);
	return best;
}

int
main(int argc, char **argv)
{
	long		n = argc > 1 ? atol(argv[1]) : 1000000;

	printf("checkout_checkin_ns=%.1f (default: socket check only after 1 ms idle)\n", measure(1, n));
	printf("checkout_checkin_with_socket_check_ns=%.1f (liveness_idle_ms=0: poll() on every checkout)\n",
		   measure(0, n));
	return 0;
}
