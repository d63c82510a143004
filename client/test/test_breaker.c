/*
 * test_breaker.c
 *	  Unit tests of the circuit breaker state machine on an injected clock.
 */
#include "govpool_int.h"
#include "tap.h"

#define MS 1000000LL

static void
test_opens_after_threshold_consecutive_failures(void)
{
	gp_breaker	b;

	gp_breaker_init(&b, 3, 1000);
	CHECK(gp_breaker_allow(&b, 0));
	CHECK(!gp_breaker_failure(&b, 1 * MS));
	CHECK(!gp_breaker_failure(&b, 2 * MS));
	CHECK(b.state == GOVPOOL_CIRCUIT_CLOSED);
	CHECK(gp_breaker_failure(&b, 3 * MS));
	CHECK(b.state == GOVPOOL_CIRCUIT_OPEN);
	CHECK(!gp_breaker_allow(&b, 4 * MS));
	CHECK(gp_breaker_retry_in_ms(&b, 4 * MS) == 999);
}

static void
test_success_resets_the_count(void)
{
	gp_breaker	b;

	gp_breaker_init(&b, 2, 1000);
	gp_breaker_failure(&b, 0);
	gp_breaker_success(&b);
	CHECK(!gp_breaker_failure(&b, 0));
	CHECK(b.state == GOVPOOL_CIRCUIT_CLOSED);
}

static void
test_half_open_admits_one_probe(void)
{
	gp_breaker	b;

	gp_breaker_init(&b, 1, 100);
	CHECK(gp_breaker_failure(&b, 0));
	CHECK(!gp_breaker_allow(&b, 99 * MS));
	CHECK(gp_breaker_allow(&b, 100 * MS));	/* the probe */
	CHECK(b.state == GOVPOOL_CIRCUIT_HALF_OPEN);
	CHECK(!gp_breaker_allow(&b, 100 * MS)); /* only one at a time */
	gp_breaker_success(&b);
	CHECK(b.state == GOVPOOL_CIRCUIT_CLOSED);
	CHECK(gp_breaker_allow(&b, 101 * MS));
}

static void
test_failed_probe_reopens_for_a_new_cooldown(void)
{
	gp_breaker	b;

	gp_breaker_init(&b, 5, 100);
	for (int i = 0; i < 5; i++)
		gp_breaker_failure(&b, 0);
	CHECK(gp_breaker_allow(&b, 150 * MS));
	CHECK(gp_breaker_failure(&b, 150 * MS));
	CHECK(b.state == GOVPOOL_CIRCUIT_OPEN);
	CHECK(!gp_breaker_allow(&b, 249 * MS));
	CHECK(gp_breaker_allow(&b, 250 * MS));
}

static void
test_threshold_zero_disables(void)
{
	gp_breaker	b;

	gp_breaker_init(&b, 0, 100);
	for (int i = 0; i < 100; i++)
		CHECK(!gp_breaker_failure(&b, 0));
	CHECK(gp_breaker_allow(&b, 0));
}

int
main(void)
{
	RUN(test_opens_after_threshold_consecutive_failures);
	RUN(test_success_resets_the_count);
	RUN(test_half_open_admits_one_probe);
	RUN(test_failed_probe_reopens_for_a_new_cooldown);
	RUN(test_threshold_zero_disables);
	return tap_done();
}
