/*
 * breaker.c
 *	  Circuit breaker: opens on sustained connect failure, fails fast while
 *	  open, probes again after a cool-down that starts short and grows with
 *	  jitter; and which connect failures are transient.
 *
 * Sustained means: at least `threshold` failures since the last success,
 * spanning at least `window` (the first to the latest).  A burst of
 * simultaneous failures (every thread of a busy application hitting a
 * restarting server in the same millisecond) does not open it; failures
 * that go on do.
 *
 * Cool-down: the k-th consecutive opening (k = 0 when it opens from
 * closed, +1 for each failed probe) waits c/2 + random(0, c/2) with
 * c = min(cooldown_max, cooldown_min * 2^k) ("equal jitter": never less
 * than half, so it does grow, and probes of many pools spread out).  Then
 * one probe goes out (half-open); its success closes the breaker and
 * resets the growth, its failure reopens it one step longer.  A probe not
 * heard of within probe_lease (its operation was cancelled mid-connect) is
 * presumed lost and another one is admitted.
 *
 * Pure state machine over an injected clock and its own random state, so
 * it is unit-tested without sleeping.  The caller (op.c) holds the pool
 * lock around every call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "govpool_int.h"

void
gp_breaker_init(gp_breaker *b, const gp_breaker_settings *s, unsigned int seed)
{
	memset(b, 0, sizeof(*b));
	b->threshold = s->threshold;
	b->window_ns = (int64_t) s->window_ms * 1000000;
	b->cooldown_min_ns = (int64_t) s->cooldown_min_ms * 1000000;
	b->cooldown_max_ns = (int64_t) s->cooldown_max_ms * 1000000;
	if (b->cooldown_min_ns > b->cooldown_max_ns)
		b->cooldown_min_ns = b->cooldown_max_ns;
	b->probe_lease_ns = (int64_t) s->probe_lease_ms * 1000000;
	b->state = GOVPOOL_CIRCUIT_CLOSED;
	b->rand_state = seed;
}

/* The k-th cool-down's cap, c = min(max, min * 2^k). */
static int64_t
cooldown_cap(const gp_breaker *b, int k)
{
	int64_t		c = b->cooldown_min_ns;

	for (int i = 0; i < k && c < b->cooldown_max_ns; i++)
		c *= 2;
	return c < b->cooldown_max_ns ? c : b->cooldown_max_ns;
}

static void
open_now(gp_breaker *b, int64_t now_ns)
{
	int64_t		c = cooldown_cap(b, b->reopens);
	int64_t		half = c / 2;
	int64_t		r;

	/* two draws: rand_r gives at least 15 bits, cool-downs need ~34 */
	r = ((int64_t) rand_r(&b->rand_state) << 15) ^ rand_r(&b->rand_state);
	b->cooldown_ns = c - half + (half > 0 ? r % (half + 1) : 0);
	b->state = GOVPOOL_CIRCUIT_OPEN;
	b->opened_at_ns = now_ns;
	b->probe_at_ns = now_ns + b->cooldown_ns;
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
			if (now_ns < b->probe_at_ns)
				return false;
			b->state = GOVPOOL_CIRCUIT_HALF_OPEN;
			b->probe_in_flight = true;
			b->probe_started_ns = now_ns;
			return true;
		case GOVPOOL_CIRCUIT_HALF_OPEN:
			if (b->probe_in_flight && (b->probe_lease_ns <= 0 ||
									   now_ns - b->probe_started_ns < b->probe_lease_ns))
				return false;
			b->probe_in_flight = true;
			b->probe_started_ns = now_ns;
			return true;
	}
	return true;
}

void
gp_breaker_success(gp_breaker *b)
{
	b->state = GOVPOOL_CIRCUIT_CLOSED;
	b->failures = 0;
	b->reopens = 0;
	b->probe_in_flight = false;
	b->ever_connected = true;
}

bool
gp_breaker_failure(gp_breaker *b, int64_t now_ns, const char *why)
{
	if (b->failures++ == 0)
		b->first_failure_ns = now_ns;
	b->last_failure_ns = now_ns;
	snprintf(b->last_error, sizeof(b->last_error), "%s", why ? why : "");
	if (b->threshold <= 0)
		return false;
	switch (b->state)
	{
		case GOVPOOL_CIRCUIT_HALF_OPEN:
			/* the probe failed (or an attempt older than it): longer cool-down */
			b->reopens++;
			open_now(b, now_ns);
			return true;
		case GOVPOOL_CIRCUIT_CLOSED:
			if (b->failures >= b->threshold &&
				now_ns - b->first_failure_ns >= b->window_ns)
			{
				b->reopens = 0;
				open_now(b, now_ns);
				return true;
			}
			return false;
		case GOVPOOL_CIRCUIT_OPEN:
			/* an attempt that started before it opened: counted, no change */
			return false;
	}
	return false;
}

/*
 * Starting up, shutting down, not yet accepting connections (57P03), the
 * backend told to go away while starting (57P01, 57P02), no free
 * connection slot (53300): the server is there and says "later".
 */
static const char *const transient_states[] = {"57P01", "57P02", "57P03", "53300"};

gp_failure_class
gp_breaker_classify(const gp_breaker *b, const char *sqlstate)
{
	if (sqlstate == NULL || sqlstate[0] == '\0')
		return b->ever_connected ? GP_FAILURE_TRANSIENT : GP_FAILURE_HARD;
	for (size_t i = 0; i < sizeof(transient_states) / sizeof(transient_states[0]); i++)
		if (strcmp(sqlstate, transient_states[i]) == 0)
			return GP_FAILURE_TRANSIENT;
	return GP_FAILURE_HARD;
}

int64_t
gp_breaker_retry_in_ms(const gp_breaker *b, int64_t now_ns)
{
	int64_t		left;

	if (b->state != GOVPOOL_CIRCUIT_OPEN)
		return 0;
	left = b->probe_at_ns - now_ns;
	return left > 0 ? (left + 999999) / 1000000 : 0;
}

void
gp_breaker_message(const gp_breaker *b, int64_t now_ns, const char *target, char *buf,
				   size_t size)
{
	long long	span_ms = (long long) ((b->last_failure_ns - b->first_failure_ns) / 1000000);

	if (b->state == GOVPOOL_CIRCUIT_HALF_OPEN)
		snprintf(buf, size,
				 "circuit breaker half-open after %d connection failures in %lld ms to %s "
				 "(last: %s): a probe connection is in progress, failing fast until it succeeds",
				 b->failures, span_ms, target, b->last_error);
	else
		snprintf(buf, size,
				 "circuit breaker open after %d connection failures in %lld ms to %s "
				 "(last: %s): failing fast, next probe in %lld ms",
				 b->failures, span_ms, target, b->last_error,
				 (long long) gp_breaker_retry_in_ms(b, now_ns));
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
