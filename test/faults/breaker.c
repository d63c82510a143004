/*
 * breaker.c
 *	  Fault scenario: the server down at pool start: retry with
 *	  backoff, the breaker opens on sustained failure and fails fast, probes
 *	  and closes when the server is back; an unresponsive server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* The shortest cool-down the breaker may draw: half the first one's cap. */
static int
shortest_cooldown_ms(const govpool_config *cfg)
{
	int			c = cfg->breaker_cooldown_min_ms < cfg->breaker_cooldown_ms ?
		cfg->breaker_cooldown_min_ms : cfg->breaker_cooldown_ms;

	return c / 2 > 0 ? c / 2 : 1;
}

static PGresult *
timed_run(govpool *pool, const char *sql, govpool_error *err, int64_t *ns)
{
	govpool_context ctx = {"breaker-probe", NULL, NULL};
	int64_t		t0 = now_ns();
	PGresult   *r;

	watch_begin(0, "govpool_run", call_watchdog_ms);
	r = govpool_run(pool, &ctx, sql, 0, NULL, err);
	watch_end(0);
	*ns = now_ns() - t0;
	return r;
}

/*
 * With the breaker open: n calls; each must fail fast (CIRCUIT_OPEN) or be
 * the one half-open probe a cool-down allows (one failed connect).  Checks
 * that, and that fast failures return in less than one connect attempt
 * may take; prints their latency.
 */
static void
fail_fast_calls(govpool *pool, const govpool_config *cfg, int n, const char *label,
				int64_t attempt_ns)
{
	int64_t    *lat = calloc(n, sizeof(int64_t));
	int			fast = 0,
				probes = 0,
				other = 0;
	govpool_stats st;
	uint64_t	failures0;
	int64_t		t0 = now_ns(),
				elapsed;
	char		why[GOVPOOL_MESSAGE_MAX] = "";

	if (lat == NULL)
		die("out of memory");
	govpool_stats_get(pool, &st);
	failures0 = st.connect_failures_total;
	for (int i = 0; i < n; i++)
	{
		govpool_error err;
		int64_t		ns;
		PGresult   *r = timed_run(pool, "SELECT 1", &err, &ns);

		PQclear(r);
		if (r == NULL && err.kind == GOVPOOL_ERR_CIRCUIT_OPEN && strstr(err.message, "circuit breaker open"))
			lat[fast++] = ns;
		else if (r == NULL && err.kind == GOVPOOL_ERR_CONNECT)
			probes++;
		else
		{
			if (other++ == 0)
				snprintf(why, sizeof(why), "%s: %.300s", r ? "succeeded" : govpool_status_name(err.kind),
						 r ? "" : err.message);
		}
	}
	elapsed = now_ns() - t0;
	govpool_stats_get(pool, &st);
	qsort(lat, fast, sizeof(int64_t), cmp_i64);
	check(other == 0 && fast > 0, "open_breaker_fails_fast",
		  "%s: %d of %d calls returned circuit_open, %d were half-open probes%s%s", label, fast, n,
		  probes, other ? "; unexpected: " : "", why);
	check(st.connect_failures_total - failures0 == (uint64_t) probes &&
		  probes <= elapsed / ((int64_t) shortest_cooldown_ms(cfg) * 1000000) + 1,
		  "open_breaker_makes_no_attempts",
		  "%s: %llu connection attempts while open, all of them half-open probes (%d; at most one "
		  "per shortest cool-down of %d ms, %.2f s elapsed)",
		  label, (unsigned long long) (st.connect_failures_total - failures0), probes,
		  shortest_cooldown_ms(cfg), secs(elapsed));
	check(fast > 0 && lat[fast - 1] < (int64_t) cfg->connect_timeout_ms * 1000000,
		  "fail_fast_under_connect_timeout", "%s: slowest open-breaker call %.3f ms, connect_timeout %d ms",
		  label, fast ? msecs(lat[fast - 1]) : 0.0, cfg->connect_timeout_ms);
	figure("%s: open-breaker calls p50 %.1f us, p99 %.1f us, max %.1f us (n=%d) vs connect_timeout "
		   "%d ms and %.1f ms for one failed connect attempt", label, msecs(pct(lat, fast, 50)) * 1000,
		   msecs(pct(lat, fast, 99)) * 1000, fast ? msecs(lat[fast - 1]) * 1000 : 0.0, fast,
		   cfg->connect_timeout_ms, msecs(attempt_ns));
	free(lat);
}

/* A listener that never accepts: TCP connects, the server never answers. */
static int
hung_listener(int *port)
{
	struct sockaddr_in a;
	socklen_t	len = sizeof(a);
	int			fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) != 0 || listen(fd, 1) != 0 ||
		getsockname(fd, (struct sockaddr *) &a, &len) != 0)
		die("could not open a listening socket");
	*port = ntohs(a.sin_port);
	return fd;
}

void
scenario_breaker(void)
{
	const char *app = "faults_breaker";
	overlay		ov;
	govpool_config cfg;
	govpool    *pool;
	govpool_error err;
	govpool_stats st;
	PGresult   *r;
	int64_t		first_ns,
				second_ns,
				t0,
				t_open,
				t_up,
				t_closed = 0;
	int			calls = 0;

	PQclear(admin_query("CREATE EXTENSION IF NOT EXISTS pg_governance"));
	server_ctl("stop -m fast");

	/* server down: the pool starts anyway (no connection at create) */
	ov_base(&ov, app);
	ov_set(&ov, "GOVPOOL_EXTENSIONS", "%s", "");
	ov_set(&ov, "DATABASE_POOL_SIZE", "2");
	ov_set(&ov, "DATABASE_MAX_OVERFLOW", "0");
	ov_set(&ov, "GOVPOOL_CONNECT_ATTEMPTS", "3");
	ov_set(&ov, "GOVPOOL_CONNECT_BACKOFF_MS", "100");
	ov_set(&ov, "GOVPOOL_CONNECT_BACKOFF_MAX_MS", "1000");
	ov_set(&ov, "GOVPOOL_BREAKER_THRESHOLD", "5");
	ov_set(&ov, "GOVPOOL_BREAKER_COOLDOWN_MS", short_run ? "1000" : "3000");
	pool = make_pool(&ov, &cfg);
	check(true, "pool_starts_with_server_down", "govpool_create returned a usable pool");

	/* 1st call: connect_attempts attempts with backoff, then connect error */
	t0 = now_ns();
	r = timed_run(pool, "SELECT 1", &err, &first_ns);
	PQclear(r);
	govpool_stats_get(pool, &st);
	check(r == NULL && err.kind == GOVPOOL_ERR_CONNECT && st.connect_failures_total == (uint64_t) cfg.connect_attempts &&
		  st.circuit == GOVPOOL_CIRCUIT_CLOSED, "connect_retried_with_backoff",
		  "first call: %s after %llu attempts in %.0f ms (backoff base %d ms, max %d ms), breaker %s: %s",
		  r ? "ok" : govpool_status_name(err.kind), (unsigned long long) st.connect_failures_total,
		  msecs(first_ns), cfg.connect_backoff_ms, cfg.connect_backoff_max_ms,
		  govpool_circuit_name(st.circuit), r ? "" : err.message);
	/* 2nd call: the threshold is reached within a second or so: a burst */
	r = timed_run(pool, "SELECT 1", &err, &second_ns);
	PQclear(r);
	govpool_stats_get(pool, &st);
	check(r == NULL && err.kind == GOVPOOL_ERR_CONNECT &&
		  (st.circuit == GOVPOOL_CIRCUIT_CLOSED ||
		   now_ns() - t0 >= (int64_t) cfg.breaker_window_ms * 1000000),
		  "burst_does_not_open_breaker", "%llu connect failures in %.0f ms (threshold %d, window "
		  "%d ms): breaker %s", (unsigned long long) st.connect_failures_total,
		  msecs(now_ns() - t0), cfg.breaker_threshold, cfg.breaker_window_ms,
		  govpool_circuit_name(st.circuit));
	/* calls go on failing: once the failures span the window, it opens */
	for (int64_t d = now_ns() + (int64_t) (cfg.breaker_window_ms + 30000) * 1000000;
		 st.circuit == GOVPOOL_CIRCUIT_CLOSED && now_ns() < d;)
	{
		int64_t		ns;

		r = timed_run(pool, "SELECT 1", &err, &ns);
		PQclear(r);
		govpool_stats_get(pool, &st);
		calls++;
	}
	t_open = now_ns();
	check(st.circuit == GOVPOOL_CIRCUIT_OPEN &&
		  st.connect_failures_total >= (uint64_t) cfg.breaker_threshold &&
		  t_open - t0 >= (int64_t) cfg.breaker_window_ms * 1000000, "breaker_opens_on_sustained_failure",
		  "breaker %s after %llu connect failures over %.2f s (threshold %d, window %d ms), "
		  "%d more calls", govpool_circuit_name(st.circuit),
		  (unsigned long long) st.connect_failures_total, secs(t_open - t0), cfg.breaker_threshold,
		  cfg.breaker_window_ms, calls);
	/* the fail-fast message's next probe time is true: no probe before it */
	{
		int64_t		ns,
					t_msg,
					t_probe = 0;
		long long	next = -1;
		const char *p;
		char		msg[GOVPOOL_MESSAGE_MAX];

		r = timed_run(pool, "SELECT 1", &err, &ns);
		PQclear(r);
		t_msg = now_ns() - ns;
		snprintf(msg, sizeof(msg), "%s", err.message);
		p = strstr(err.message, "next probe in ");
		if (p)
			next = atoll(p + strlen("next probe in "));
		for (int64_t d = now_ns() + (int64_t) (cfg.breaker_cooldown_ms + 5000) * 1000000;
			 next >= 0 && now_ns() < d;)
		{
			r = timed_run(pool, "SELECT 1", &err, &ns);
			PQclear(r);
			if (err.kind != GOVPOOL_ERR_CIRCUIT_OPEN)
			{
				t_probe = now_ns() - ns;
				break;
			}
			sleep_ms(1);		/* the application's pacing between calls */
		}
		check(next >= 0 && t_probe > 0 && t_probe - t_msg >= (next - 1) * 1000000,
			  "next_probe_time_is_true", "the message said \"next probe in %lld ms\"; the probe "
			  "went out %.1f ms later", next, t_probe ? msecs(t_probe - t_msg) : -1.0);
		figure("fail-fast message: %s", msg);
	}
	fail_fast_calls(pool, &cfg, short_run ? 500 : 5000, "server down",
					(first_ns + second_ns) / (int64_t) (2 * cfg.connect_attempts));

	/* the server returns: after the cool-down one probe closes the breaker */
	server_ctl("start");
	t_up = now_ns();
	calls = 0;
	for (int64_t d = t_up + (int64_t) (cfg.breaker_cooldown_ms + 30000) * 1000000; now_ns() < d;)
	{
		int64_t		ns;

		r = timed_run(pool, "SELECT 1", &err, &ns);
		calls++;
		if (r)
		{
			t_closed = now_ns();
			PQclear(r);
			break;
		}
		sleep_ms(20);			/* the application's pacing between attempts */
	}
	govpool_stats_get(pool, &st);
	check(t_closed > 0 && st.circuit == GOVPOOL_CIRCUIT_CLOSED, "breaker_closes_when_server_returns",
		  "first success %.2f s after the server was back (cool-down %d ms), %d calls, breaker %s",
		  t_closed ? secs(t_closed - t_up) : -1.0, cfg.breaker_cooldown_ms, calls,
		  govpool_circuit_name(st.circuit));
	{
		int			ok = 0;

		for (int i = 0; i < 20; i++)
		{
			int64_t		ns;

			r = timed_run(pool, "SELECT 1", &err, &ns);
			ok += r != NULL;
			PQclear(r);
		}
		check(ok == 20, "calls_succeed_again", "%d of 20 calls after closing succeeded", ok);
	}
	figure("server down at start: first call %.0f ms (%d attempts, backoff %d..%d ms), breaker "
		   "opened %.2f s after the first call began (threshold %d, window %d ms); closed %.2f s after "
		   "the server came back (cool-down %d..%d ms)", msecs(first_ns), cfg.connect_attempts,
		   cfg.connect_backoff_ms, cfg.connect_backoff_max_ms, secs(t_open - t0),
		   cfg.breaker_threshold, cfg.breaker_window_ms, t_closed ? secs(t_closed - t_up) : -1.0,
		   cfg.breaker_cooldown_min_ms, cfg.breaker_cooldown_ms);
	check_no_leak(pool, app);
	log_summary();
	destroy_and_check_closed(pool, app);

	/*
	 * A server that accepts TCP but never answers: each attempt costs the
	 * whole connect_timeout (libpq's minimum, 2 s), which is what an open
	 * breaker spares the callers.
	 */
	{
		int			port;
		int			fd = hung_listener(&port);
		int64_t		a1,
					a2;

		ov_base(&ov, "faults_breaker_hung");
		ov_set(&ov, "DATABASE_URL", "postgresql://postgres@127.0.0.1:%d/postgres", port);
		ov_set(&ov, "GOVPOOL_EXTENSIONS", "%s", "");
		ov_set(&ov, "DATABASE_CONNECT_TIMEOUT", "2");
		ov_set(&ov, "GOVPOOL_CONNECT_ATTEMPTS", "1");
		ov_set(&ov, "GOVPOOL_BREAKER_THRESHOLD", "2");
		ov_set(&ov, "GOVPOOL_BREAKER_WINDOW_MS", "0");	/* 2 failures of 2 s each open it */
		ov_set(&ov, "GOVPOOL_BREAKER_COOLDOWN_MIN_MS", "600000");
		ov_set(&ov, "GOVPOOL_BREAKER_COOLDOWN_MS", "600000");
		pool = make_pool(&ov, &cfg);
		r = timed_run(pool, "SELECT 1", &err, &a1);
		PQclear(r);
		r = timed_run(pool, "SELECT 1", &err, &a2);
		PQclear(r);
		govpool_stats_get(pool, &st);
		check(r == NULL && err.kind == GOVPOOL_ERR_CONNECT && st.circuit == GOVPOOL_CIRCUIT_OPEN,
			  "breaker_opens_on_unresponsive_server",
			  "2 attempts of %.0f and %.0f ms (connect_timeout %d ms), breaker %s: %s", msecs(a1),
			  msecs(a2), cfg.connect_timeout_ms, govpool_circuit_name(st.circuit), err.message);
		fail_fast_calls(pool, &cfg, short_run ? 500 : 5000, "unresponsive server", (a1 + a2) / 2);
		govpool_destroy(pool);
		close(fd);
	}
}

