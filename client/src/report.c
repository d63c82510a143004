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
 *
 * A report names the pool's own connections by backend pid, so the server
 * shows exactly them next to the pool (pg_governance 0.6; an older server
 * refuses the keys once and gets the old report from then on), and
 * govpool_destroy says goodbye with a final report on an idle connection,
 * so a closed pool leaves governance.pool_stats at once.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
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

/*
 * The report_pool_stats() payload: the stats snapshot, and (unless the
 * server is older than 0.6) the backend pids of the pool's connections with
 * report_pid, the pid of the connection that carries it.  Open connections
 * and their pids are read in one hold of the bag lock, so the server's
 * "at most one pid per open connection" holds.  malloc'd; NULL on OOM.
 */
static char *
build_report(govpool *pool, int report_pid, bool final, int64_t now)
{
	bool		legacy = __atomic_load_n(&pool->report_legacy, __ATOMIC_RELAXED);
	govpool_stats s;
	int		   *pids;
	int			npids = 0;
	size_t		size,
				n;
	char	   *buf;
	int			m;

	govpool_stats_get(pool, &s);
	pids = malloc(sizeof(int) * (size_t) (pool->bag.capacity > 0 ? pool->bag.capacity : 1));
	if (pids == NULL)
		return NULL;
	pthread_mutex_lock(&pool->bag.lock);
	gp_bag_counts(&pool->bag, &s.size, &s.checked_out, &s.idle, &s.waiters);
	for (int i = 0; i < pool->bag.capacity; i++)
	{
		gp_entry   *e = &pool->bag.slots[i];
		int			pid;

		if (e->state != GP_SLOT_IDLE && e->state != GP_SLOT_IN_USE)
			continue;
		pid = __atomic_load_n(&e->backend_pid, __ATOMIC_RELAXED);
		if (pid > 0)
			pids[npids++] = pid;
	}
	pthread_mutex_unlock(&pool->bag.lock);
	s.overflow_in_use = s.size > pool->cfg.pool_size ? s.size - pool->cfg.pool_size : 0;
	/* distinct, as the server requires (a pooler's keys could repeat) */
	for (int i = 1, j; i < npids; i++)
		for (j = 0; j < i; j++)
			if (pids[j] == pids[i])
			{
				pids[i--] = pids[--npids];
				break;
			}

	size = 1024 + 12 * (size_t) npids;
	if ((buf = malloc(size)) == NULL)
	{
		free(pids);
		return NULL;
	}
	n = (size_t) snprintf(buf, size,
						  "{\"pool_id\":\"%s\",\"client_pid\":%d,\"report_interval_s\":%.3f,\"uptime_s\":%.3f,",
						  pool->pool_id, (int) getpid(), pool->cfg.report_interval_ms / 1000.0,
						  (double) (now - pool->created_ns) / 1e9);
	m = n < size ? gp_stats_report_members(&s, buf + n, size - n) : -1;
	if (m <= 0 || (n += (size_t) m) >= size)
		goto overflow;
	/* a pooler's key may hold any pid, even <= 0: the server tells by it */
	if (!legacy && report_pid != 0)
	{
		n += (size_t) snprintf(buf + n, size - n, ",\"report_pid\":%d,\"backend_pids\":[", report_pid);
		for (int i = 0; i < npids && n < size; i++)
			n += (size_t) snprintf(buf + n, size - n, "%s%d", i ? "," : "", pids[i]);
		if (n < size)
			n += (size_t) snprintf(buf + n, size - n, "]");
	}
	if (!legacy && final && n < size)
		n += (size_t) snprintf(buf + n, size - n, ",\"final\":true");
	if (n + 2 > size)
		goto overflow;
	buf[n++] = '}';
	buf[n] = '\0';
	free(pids);
	return buf;
overflow:
	free(pids);
	free(buf);
	return NULL;
}

char *
gp_report_take(govpool *pool, int report_pid)
{
	int64_t		interval_ns = (int64_t) pool->cfg.report_interval_ms * 1000000;
	int64_t		now,
				due;

	if (interval_ns <= 0 || __atomic_load_n(&pool->report_off, __ATOMIC_RELAXED))
		return NULL;
	now = gp_now_ns();
	due = __atomic_load_n(&pool->report_next_ns, __ATOMIC_RELAXED);
	if (now < due ||
		!__atomic_compare_exchange_n(&pool->report_next_ns, &due, now + interval_ns, false,
									 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return NULL;
	return build_report(pool, report_pid, false, now);
}

/* Wait until conn's socket is ready (write: or readable), at most until deadline. */
static bool
wait_socket(PGconn *conn, bool write, int64_t deadline_ns)
{
	struct pollfd p = {PQsocket(conn), (short) (POLLIN | (write ? POLLOUT : 0)), 0};
	int64_t		left = (deadline_ns - gp_now_ns()) / 1000000;

	if (left <= 0 || p.fd < 0)
		return false;
	return poll(&p, 1, left > 60000 ? 60000 : (int) left) >= 0 || errno == EINTR;
}

void
gp_report_goodbye(govpool *pool)
{
	gp_entry   *e = NULL;
	PGconn	   *conn;
	char	   *json;
	const char *params[1];
	const char *why = NULL;
	bool		ok = false;
	int			rc;
	int64_t		deadline;

	if (pool->failed || pool->cfg.report_interval_ms <= 0 ||
		GP_LOAD(pool->reports_sent) == 0 ||
		__atomic_load_n(&pool->report_off, __ATOMIC_RELAXED) ||
		__atomic_load_n(&pool->report_legacy, __ATOMIC_RELAXED))
		return;					/* nothing of ours in pool_stats, or no goodbye there */
	/*
	 * An idle connection whose socket does not say it is dead (no round
	 * trip: the server may have gone while the pool sat idle).  The bag
	 * is closed, so nobody borrows them meanwhile.
	 */
	for (int i = 0; i < pool->bag.capacity && e == NULL; i++)
	{
		gp_entry   *c = &pool->bag.slots[i];
		bool		idle;

		pthread_mutex_lock(&pool->bag.lock);
		idle = c->state == GP_SLOT_IDLE && c->conn != NULL;
		pthread_mutex_unlock(&pool->bag.lock);
		if (idle && gp_entry_liveness(c) != GP_DEAD)
			e = c;
	}
	if (e == NULL)
	{
		gp_log(&pool->logger, GOVPOOL_LOG_INFO, "stats_goodbye_skipped",
			   "reason", "no live idle connection: the pool's row in governance.pool_stats goes stale",
			   (char *) NULL);
		return;
	}
	conn = e->conn;
	deadline = gp_now_ns() +
		(int64_t) (pool->cfg.connect_timeout_ms > 0 ? pool->cfg.connect_timeout_ms : 5000) * 1000000;
	if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE ||
		(PQpipelineStatus(conn) != PQ_PIPELINE_OFF && !PQexitPipelineMode(conn)))
	{
		why = "the idle connection is not usable";
		goto done;
	}
	if ((json = build_report(pool, PQbackendPID(conn), true, gp_now_ns())) == NULL)
	{
		why = "out of memory";
		goto done;
	}
	params[0] = json;
	rc = PQsendQueryParams(conn, gp_report_sql, 1, NULL, params, NULL, NULL, 0);
	free(json);
	if (!rc)
	{
		why = "could not send";
		goto done;
	}
	while ((rc = PQflush(conn)) > 0)
		if (!wait_socket(conn, true, deadline) || !PQconsumeInput(conn))
			break;
	if (rc != 0)
	{
		why = "could not send";
		goto done;
	}
	for (;;)
	{
		PGresult   *r;

		if (!PQconsumeInput(conn))
		{
			why = "connection lost";
			break;
		}
		if (PQisBusy(conn))
		{
			if (!wait_socket(conn, false, deadline))
			{
				why = "timed out";
				break;
			}
			continue;
		}
		if ((r = PQgetResult(conn)) == NULL)
			break;
		ok = PQresultStatus(r) == PGRES_TUPLES_OK;
		if (!ok)
			why = PQresultErrorField(r, PG_DIAG_SQLSTATE) ? "refused by the server" : "failed";
		PQclear(r);
	}
done:
	if (ok && why == NULL)
		gp_log(&pool->logger, GOVPOOL_LOG_DEBUG, "stats_goodbye", "pool_id", pool->pool_id,
			   (char *) NULL);
	else
		gp_log(&pool->logger, GOVPOOL_LOG_WARN, "stats_goodbye_failed",
			   "reason", why ? why : "failed", "pool_id", pool->pool_id, (char *) NULL);
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
	if (state && strcmp(state, "22023") == 0 &&
		strstr(PQresultErrorMessage(res), "unknown key") != NULL &&
		!__atomic_exchange_n(&pool->report_legacy, true, __ATOMIC_RELAXED))
	{
		/*
		 * pg_governance before 0.6 knows no backend_pids/report_pid/final:
		 * report as to it (no pids, no goodbye), from the next pipeline on.
		 */
		__atomic_store_n(&pool->report_next_ns, gp_now_ns(), __ATOMIC_RELAXED);
		gp_log(&pool->logger, GOVPOOL_LOG_DEBUG, "stats_report_legacy",
			   "reason", "governance.report_pool_stats() is older than pg_governance 0.6", NULL);
	}
	else if (state && (strcmp(state, "42883") == 0 || strcmp(state, "3F000") == 0 ||
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
