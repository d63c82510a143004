/*
 * breaker.c
 *	  Circuit breaker: closed -> open after N consecutive connect failures,
 *	  fail fast while open, one half-open probe after the cool-down.
 *
 * Pure state machine over an injected clock, so it is unit-tested without
 * sleeping.  The caller (pool.c) holds the pool lock around every call.
 */
#include "govpool_int.h"

void
gp_breaker_init(gp_breaker *b, int threshold, int cooldown_ms)
{
	b->threshold = threshold;
	b->cooldown_ns = (int64_t) cooldown_ms * 1000000;
	b->state = GOVPOOL_CIRCUIT_CLOSED;
	b->failures = 0;
	b->opened_at_ns = 0;
	b->probe_in_flight = false;
}

bool
gp_breaker_allow(gp_breaker *b, int64_t now_ns)
{
	if (b->threshold <= 0)
		return true;
	switch (b->state)
	{
		case GOVPOOL_CIRCUIT_CLOSED:
			return true;
		case GOVPOOL_CIRCUIT_OPEN:
			if (now_ns - b->opened_at_ns < b->cooldown_ns)
				return false;
			b->state = GOVPOOL_CIRCUIT_HALF_OPEN;
			b->probe_in_flight = true;
			return true;
		case GOVPOOL_CIRCUIT_HALF_OPEN:
			if (b->probe_in_flight)
				return false;
			b->probe_in_flight = true;
			return true;
	}
	return true;
}

void
gp_breaker_success(gp_breaker *b)
{
	b->state = GOVPOOL_CIRCUIT_CLOSED;
	b->failures = 0;
	b->probe_in_flight = false;
}

bool
gp_breaker_failure(gp_breaker *b, int64_t now_ns)
{
	if (b->threshold <= 0)
		return false;
	b->failures++;
	if (b->state == GOVPOOL_CIRCUIT_HALF_OPEN ||
		(b->state == GOVPOOL_CIRCUIT_CLOSED && b->failures >= b->threshold))
	{
		b->state = GOVPOOL_CIRCUIT_OPEN;
		b->opened_at_ns = now_ns;
		b->probe_in_flight = false;
		return true;
	}
	return false;
}

int64_t
gp_breaker_retry_in_ms(const gp_breaker *b, int64_t now_ns)
{
	int64_t		left;

	if (b->state != GOVPOOL_CIRCUIT_OPEN)
		return 0;
	left = b->opened_at_ns + b->cooldown_ns - now_ns;
	return left > 0 ? (left + 999999) / 1000000 : 0;
}

const char *
govpool_circuit_name(govpool_circuit c)
{
	switch (c)
	{
		case GOVPOOL_CIRCUIT_CLOSED:
			return "closed";
		case GOVPOOL_CIRCUIT_OPEN:
			return "open";
		case GOVPOOL_CIRCUIT_HALF_OPEN:
			return "half_open";
	}
	return "unknown";
}
