/*
 * report.c
 *	  Publishing pool stats to governance.report_pool_stats().
 *
 * Every report interval one pipeline the pool sends anyway (govpool_run,
 * or the first statement of a govpool_begin session) carries the report
 * as its own implicit transaction in front of BEGIN, closed by its own
 * Sync: no extra round trip, and its failure can neither fail nor roll
 * back the caller's transaction.  Whoever finds the report due claims it
 * with a compare-and-swap on report_next_ns, so concurrent sessions send
 * at most one per interval and nobody waits for anybody.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "govpool_int.h"

const char	gp_report_sql[] = "SELECT governance.report_pool_stats($1::jsonb)";

void
gp_report_init(govpool *pool)
{
	static unsigned int pools_created = 0;	/* per process: distinct ids */
	unsigned int seq = __atomic_add_fetch(&pools_created, 1, __ATOMIC_RELAXED);
	const char *app = pool->cfg.application_name[0] ? pool->cfg.application_name : "govpool";
	char		name[48];
	size_t		n = 0;

	/* pool_id: [A-Za-z0-9._:-] only, as report_pool_stats() requires */
	for (const char *c = app; *c && n < sizeof(name) - 1; c++)
		name[n++] = (isalnum((unsigned char) *c) || strchr("._:-", *c)) ? *c : '_';
	name[n] = '\0';
	pool->created_ns = gp_now_ns();
	snprintf(pool->pool_id, sizeof(pool->pool_id), "%s.%d.%u.%x", name, (int) getpid(),
			 seq, (unsigned int) (rand_r(&pool->rand_state) & 0xffffff));
	/* the first pipeline reports: a new pool shows up at once */
	pool->report_next_ns = pool->created_ns;
}

bool
gp_report_take(govpool *pool, char *buf, size_t size)
{
	int64_t		interval_ns = (int64_t) pool->cfg.report_interval_ms * 1000000;
	int64_t		now,
				due;
	govpool_stats s;
	int			n,
				m;

	if (interval_ns <= 0 || __atomic_load_n(&pool->report_off, __ATOMIC_RELAXED))
		return false;
	now = gp_now_ns();
	due = __atomic_load_n(&pool->report_next_ns, __ATOMIC_RELAXED);
	if (now < due ||
		!__atomic_compare_exchange_n(&pool->report_next_ns, &due, now + interval_ns, false,
									 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return false;

	govpool_stats_get(pool, &s);
	n = snprintf(buf, size,
				 "{\"pool_id\":\"%s\",\"client_pid\":%d,\"report_interval_s\":%.3f,\"uptime_s\":%.3f,",
				 pool->pool_id, (int) getpid(), pool->cfg.report_interval_ms / 1000.0,
				 (double) (now - pool->created_ns) / 1e9);
	if (n <= 0 || (size_t) n >= size)
		return false;
	m = gp_stats_report_members(&s, buf + n, size - (size_t) n);
	if (m <= 0 || (size_t) (n + m) + 1 >= size)
		return false;
	buf[n + m] = '}';
	buf[n + m + 1] = '\0';
	n += m + 1;
	return n > 0 && (size_t) n < size;
}

void
gp_report_done(govpool *pool, const PGresult *res)
{
	const char *state;
	bool		first;

	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		GP_INC(pool->reports_sent);
		return;
	}
	if (res == NULL)
		return;					/* connection lost: the caller deals with it */
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	first = __atomic_fetch_add(&pool->reports_failed, 1, __ATOMIC_RELAXED) == 0;
	if (state && (strcmp(state, "42883") == 0 || strcmp(state, "3F000") == 0 ||
				  strcmp(state, "42501") == 0))
	{
		/* no pg_governance 0.3 here (or no right to call it): stop asking */
		__atomic_store_n(&pool->report_off, true, __ATOMIC_RELAXED);
		gp_log(&pool->logger, GOVPOOL_LOG_DEBUG, "stats_report_off",
			   "reason", "governance.report_pool_stats() is not available",
			   "sqlstate", state, NULL);
	}
	else if (first)
		gp_log(&pool->logger, GOVPOOL_LOG_WARN, "stats_report_failed",
			   "sqlstate", state ? state : "", "error", PQresultErrorMessage(res), NULL);
}
