/*
 * test_breaker.c
 *	  Unit tests of the circuit breaker on an injected clock and seed: the
 *	  window (a burst does not open it, sustained failure does), the
 *	  transient classification, cool-down growth and jitter bounds, the
 *	  fail-fast message's next-probe time, half-open's single probe.
 */
#include <stdlib.h>

#include "govpool_int.h"
#include "tap.h"

#define MS 1000000LL

/* The defaults users get: 5 failures over 3 s, cool-downs 500 ms .. 10 s. */
static void
init_defaults(gp_breaker *b, unsigned int seed)
{
	govpool_config cfg;
	gp_breaker_settings s;

	govpool_config_defaults(&cfg);
	s = (gp_breaker_settings) {cfg.breaker_threshold, cfg.breaker_window_ms,
		cfg.breaker_cooldown_min_ms, cfg.breaker_cooldown_ms, 3000};
	gp_breaker_init(b, &s, seed);
}

static void
init_with(gp_breaker *b, int threshold, int window_ms, int min_ms, int max_ms)
{
	gp_breaker_settings s = {threshold, window_ms, min_ms, max_ms, 3000};

	gp_breaker_init(b, &s, 42);
}

static void
test_a_burst_does_not_open_it(void)
{
	gp_breaker	b;

	init_defaults(&b, 1);
	/* 50 threads hit a restarting server within 20 ms */
	for (int i = 0; i < 50; i++)
		CHECK(!gp_breaker_failure(&b, (int64_t) i * MS / 2, "starting up"));
	CHECK(b.state == GOVPOOL_CIRCUIT_CLOSED);
	CHECK(gp_breaker_allow(&b, 25 * MS));
	/* still failing 3 s after the first failure: sustained */
	CHECK(!gp_breaker_failure(&b, 2999 * MS, "starting up"));
	CHECK(gp_breaker_failure(&b, 3000 * MS, "starting up"));
	CHECK(b.state == GOVPOOL_CIRCUIT_OPEN);
	CHECK(!gp_breaker_allow(&b, 3001 * MS));
}

static void
test_sustained_failures_need_the_threshold_too(void)
{
	gp_breaker	b;

	init_defaults(&b, 1);
	/* one slow failure a second: the 5th, 4 s after the first, opens it */
	for (int i = 0; i < 4; i++)
		CHECK(!gp_breaker_failure(&b, (int64_t) i * 1000 * MS, "refused"));
	CHECK(b.state == GOVPOOL_CIRCUIT_CLOSED);
	CHECK(gp_breaker_failure(&b, 4000 * MS, "refused"));
	CHECK(b.failures == 5);
}

static void
test_success_starts_a_new_streak(void)
{
	gp_breaker	b;

	init_defaults(&b, 1);
	for (int i = 0; i < 4; i++)
		gp_breaker_failure(&b, (int64_t) i * MS, "refused");
	gp_breaker_success(&b);
	/* 10 s after the first failure, but the first of a new streak */
	for (int i = 0; i < 4; i++)
		CHECK(!gp_breaker_failure(&b, 10000 * MS + (int64_t) i * 1000 * MS, "refused"));
	CHECK(b.state == GOVPOOL_CIRCUIT_CLOSED);
	CHECK(gp_breaker_failure(&b, 14000 * MS, "refused"));
}

static void
test_window_zero_counts_consecutive_failures(void)
{
	gp_breaker	b;

	init_with(&b, 3, 0, 100, 100);
	CHECK(!gp_breaker_failure(&b, 0, "x"));
	CHECK(!gp_breaker_failure(&b, 0, "x"));
	CHECK(gp_breaker_failure(&b, 0, "x"));
}

static void
test_transient_classification(void)
{
	static const struct
	{
		const char *sqlstate;
		bool		connected_before;
		gp_failure_class want;
	}			cases[] = {
		{"57P03", false, GP_FAILURE_TRANSIENT}, /* starting up / shutting down */
		{"57P03", true, GP_FAILURE_TRANSIENT},
		{"53300", false, GP_FAILURE_TRANSIENT}, /* too many connections */
		{"57P01", true, GP_FAILURE_TRANSIENT},	/* admin shutdown while starting */
		{"57P02", true, GP_FAILURE_TRANSIENT},
		{"28P01", true, GP_FAILURE_HARD},	/* password authentication failed */
		{"3D000", true, GP_FAILURE_HARD},	/* database does not exist */
		{"28000", true, GP_FAILURE_HARD},	/* no pg_hba.conf entry */
		{"57P04", true, GP_FAILURE_HARD},	/* database dropped */
		{"", false, GP_FAILURE_HARD},	/* refused, never connected: fail fast */
		{NULL, false, GP_FAILURE_HARD},
		{"", true, GP_FAILURE_TRANSIENT},	/* refused after it was up: restart */
		{NULL, true, GP_FAILURE_TRANSIENT},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		gp_breaker	b;

		init_defaults(&b, 1);
		if (cases[i].connected_before)
			gp_breaker_success(&b);
		CHECK_MSG(gp_breaker_classify(&b, cases[i].sqlstate) == cases[i].want,
				  "sqlstate %s, connected before %d", cases[i].sqlstate ? cases[i].sqlstate : "NULL",
				  cases[i].connected_before);
	}
}

/* Open it from closed at `at` (5 failures over the window). */
static void
open_at(gp_breaker *b, int64_t at)
{
	for (int i = 0; i < 4; i++)
		gp_breaker_failure(b, at - 3000 * MS, "refused");
	CHECK(gp_breaker_failure(b, at, "refused"));
}

static void
test_cooldown_grows_with_jitter_within_bounds(void)
{
	/* k-th opening: c = min(10 s, 500 ms * 2^k), cool-down in [c/2, c] */
	static const int64_t cap_ms[] = {500, 1000, 2000, 4000, 8000, 10000, 10000, 10000};
	int64_t		lo[8],
				hi[8];

	for (int k = 0; k < 8; k++)
		lo[k] = INT64_MAX, hi[k] = 0;
	for (unsigned int seed = 1; seed <= 300; seed++)
	{
		gp_breaker	b;
		int64_t		now = 10000 * MS;

		init_defaults(&b, seed);
		open_at(&b, now);
		for (int k = 0; k < 8; k++)
		{
			int64_t		cd = b.cooldown_ns;

			CHECK_MSG(cd >= cap_ms[k] * MS / 2 && cd <= cap_ms[k] * MS,
					  "seed %u opening %d: cool-down %lld ms outside [%lld, %lld]", seed, k,
					  (long long) (cd / MS), (long long) cap_ms[k] / 2, (long long) cap_ms[k]);
			lo[k] = cd < lo[k] ? cd : lo[k];
			hi[k] = cd > hi[k] ? cd : hi[k];
			CHECK(b.probe_at_ns == now + cd);
			/* the probe goes out when due, and fails: reopen, one step longer */
			now = b.probe_at_ns;
			CHECK(gp_breaker_allow(&b, now));
			now += 5 * MS;
			CHECK(gp_breaker_failure(&b, now, "refused"));
		}
	}
	/* jittered: 300 seeds spread over most of each interval */
	for (int k = 0; k < 8; k++)
		CHECK_MSG(hi[k] - lo[k] > cap_ms[k] * MS / 2 * 8 / 10,
				  "opening %d: cool-downs only spread over %lld..%lld ms", k,
				  (long long) (lo[k] / MS), (long long) (hi[k] / MS));
}

static void
test_success_resets_the_growth(void)
{
	gp_breaker	b;
	int64_t		now = 10000 * MS;

	init_defaults(&b, 7);
	open_at(&b, now);
	for (int k = 0; k < 4; k++)
	{
		now = b.probe_at_ns;
		CHECK(gp_breaker_allow(&b, now));
		gp_breaker_failure(&b, now, "refused");
	}
	CHECK(b.cooldown_ns >= 4000 * MS);
	now = b.probe_at_ns;
	CHECK(gp_breaker_allow(&b, now));
	gp_breaker_success(&b);
	CHECK(b.state == GOVPOOL_CIRCUIT_CLOSED);
	open_at(&b, now + 60000 * MS);
	CHECK_MSG(b.cooldown_ns >= 250 * MS && b.cooldown_ns <= 500 * MS, "%lld",
			  (long long) (b.cooldown_ns / MS));
}

static void
test_cooldown_max_below_min_caps_it(void)
{
	gp_breaker	b;

	init_with(&b, 1, 0, 500, 100);
	CHECK(gp_breaker_failure(&b, 0, "x"));
	CHECK(b.cooldown_ns >= 50 * MS && b.cooldown_ns <= 100 * MS);
}

/* The number after "next probe in " in msg, or -1. */
static long long
next_probe_ms(const char *msg)
{
	const char *p = strstr(msg, "next probe in ");

	return p ? atoll(p + strlen("next probe in ")) : -1;
}

static void
test_message_states_the_true_next_probe(void)
{
	for (unsigned int seed = 1; seed <= 50; seed++)
	{
		gp_breaker	b;
		char		msg[GOVPOOL_MESSAGE_MAX];
		int64_t		opened = 10000 * MS,
					now = opened + 123 * MS + 456789;
		long long	next;
		gp_breaker	copy;

		init_defaults(&b, seed);
		open_at(&b, opened);
		gp_breaker_message(&b, now, "host=db port=5432", msg, sizeof(msg));
		CHECK_MSG(strstr(msg, "circuit breaker open after 5 connection failures in 3000 ms "
						 "to host=db port=5432 (last: refused)") != NULL, "%s", msg);
		next = next_probe_ms(msg);
		/* true: no probe a millisecond before it, a probe at it */
		copy = b;
		CHECK_MSG(next > 0 && !gp_breaker_allow(&copy, now + (next - 1) * MS), "%s", msg);
		copy = b;
		CHECK_MSG(gp_breaker_allow(&copy, now + next * MS), "%s", msg);
		CHECK(next == (b.probe_at_ns - now + MS - 1) / MS);
	}
}

static void
test_half_open_admits_one_probe(void)
{
	gp_breaker	b;
	char		msg[GOVPOOL_MESSAGE_MAX];
	int64_t		due;

	init_defaults(&b, 3);
	open_at(&b, 10000 * MS);
	due = b.probe_at_ns;
	CHECK(!gp_breaker_allow(&b, due - 1));
	CHECK(gp_breaker_allow(&b, due));	/* the probe */
	CHECK(b.state == GOVPOOL_CIRCUIT_HALF_OPEN);
	for (int i = 0; i < 100; i++)	/* everyone else fails fast meanwhile */
		CHECK(!gp_breaker_allow(&b, due + (int64_t) i * MS));
	gp_breaker_message(&b, due + 10 * MS, "host=db", msg, sizeof(msg));
	CHECK_MSG(strstr(msg, "a probe connection is in progress") != NULL &&
			  strstr(msg, "next probe in") == NULL, "%s", msg);
	gp_breaker_success(&b);
	CHECK(b.state == GOVPOOL_CIRCUIT_CLOSED);
	CHECK(gp_breaker_allow(&b, due + 101 * MS));
}

static void
test_lost_probe_is_replaced_after_its_lease(void)
{
	gp_breaker	b;
	int64_t		due;

	init_defaults(&b, 3);		/* lease 3 s */
	open_at(&b, 10000 * MS);
	due = b.probe_at_ns;
	CHECK(gp_breaker_allow(&b, due));	/* a probe whose operation is cancelled */
	CHECK(!gp_breaker_allow(&b, due + 2999 * MS));
	CHECK(gp_breaker_allow(&b, due + 3000 * MS));	/* the next one */
	CHECK(!gp_breaker_allow(&b, due + 3001 * MS));
}

/* What libpq says with PQERRORS_VERBOSE, and what the caller gets. */
static void
test_refusal_sqlstate_from_the_verbose_message(void)
{
	static const struct
	{
		const char *verbose;
		const char *sqlstate;
		const char *message;
	}			cases[] = {
		{"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  57P03: the database "
			"system is starting up\nLOCATION:  ProcessStartupPacket, postmaster.c:2386\n", "57P03",
		"connection failed: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  the "
		"database system is starting up"},
		{"connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  53300: sorry, too "
			"many clients already\nLOCATION:  InitProcess, proc.c:361\n", "53300",
		"connection failed: connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  "
		"sorry, too many clients already"},
		{"connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: No such file or directory\n"
			"\tIs the server running locally and accepting connections on that socket?\n", "",
			"connection failed: connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: No such "
		"file or directory \tIs the server running locally and accepting connections on that socket?"},
		{"connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n", "",
		"connection failed: connection to server at \"127.0.0.1\", port 1 failed: Connection refused"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		govpool_error err;

		gp_error_from_connect_message(&err, cases[i].verbose, "connection failed");
		CHECK(err.kind == GOVPOOL_ERR_CONNECT);
		CHECK_MSG(strcmp(err.sqlstate, cases[i].sqlstate) == 0, "case %zu: [%s]", i, err.sqlstate);
		CHECK_MSG(strcmp(err.message, cases[i].message) == 0, "case %zu:\n  got  %s\n  want %s", i,
				  err.message, cases[i].message);
	}
}

static void
test_threshold_zero_disables(void)
{
	gp_breaker	b;

	init_with(&b, 0, 0, 100, 100);
	for (int i = 0; i < 100; i++)
		CHECK(!gp_breaker_failure(&b, (int64_t) i * 1000 * MS, "x"));
	CHECK(gp_breaker_allow(&b, 0));
}

int
main(void)
{
	RUN(test_a_burst_does_not_open_it);
	RUN(test_sustained_failures_need_the_threshold_too);
	RUN(test_success_starts_a_new_streak);
	RUN(test_window_zero_counts_consecutive_failures);
	RUN(test_transient_classification);
	RUN(test_cooldown_grows_with_jitter_within_bounds);
	RUN(test_success_resets_the_growth);
	RUN(test_cooldown_max_below_min_caps_it);
	RUN(test_message_states_the_true_next_probe);
	RUN(test_half_open_admits_one_probe);
	RUN(test_lost_probe_is_replaced_after_its_lease);
	RUN(test_refusal_sqlstate_from_the_verbose_message);
	RUN(test_threshold_zero_disables);
	return tap_done();
}
