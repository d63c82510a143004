/*
 * pool.c
 *	  Pool policy: create/destroy, checkout (liveness, recycle, connect with
 *	  retry and circuit breaker), checkin (reset, keep or close), health,
 *	  and the housekeeper thread that reports leaked sessions.
 *
 * Concurrency lives in bag.c; this file decides what to do with what the
 * bag hands out.  Network work is never done with the bag lock held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "govpool_int.h"

/* ---- libpq parameters ---- */

static void
free_params(govpool *pool)
{
	if (pool->kw)
	{
		for (int i = 0; pool->kw[i]; i++)
		{
			free((char *) pool->kw[i]);
			free((char *) pool->val[i]);
		}
	}
	free(pool->kw);
	free(pool->val);
	pool->kw = NULL;
	pool->val = NULL;
	if (pool->password)
	{
		memset(pool->password, 0, strlen(pool->password));
		free(pool->password);
		pool->password = NULL;
	}
}

/* Append or replace one keyword; false on OOM. */
static bool
set_param(govpool *pool, int *n, const char *k, const char *v)
{
	char	   *vk,
			   *vv;

	for (int i = 0; i < *n; i++)
		if (strcmp(pool->kw[i], k) == 0)
		{
			if ((vv = strdup(v)) == NULL)
				return false;
			free((char *) pool->val[i]);
			pool->val[i] = vv;
			return true;
		}
	vk = strdup(k);
	vv = strdup(v);
	if (!vk || !vv)
	{
		free(vk);
		free(vv);
		return false;
	}
	pool->kw[*n] = vk;
	pool->val[*n] = vv;
	(*n)++;
	pool->kw[*n] = NULL;
	pool->val[*n] = NULL;
	return true;
}

/*
 * Turn cfg.conninfo (key=value or URI) into keyword/value arrays with our
 * settings applied: application_name and connect_timeout.  Nothing of ours
 * becomes a startup parameter that a pooler might refuse: application_name
 * is one PgBouncer accepts, and the statement timeout is not sent at
 * connect time at all but set transaction-locally in every governed
 * session (session.c).  An "options" the conninfo itself carries (or
 * PGOPTIONS) is passed on untouched: the user's choice.
 */
static govpool_status
build_params(govpool *pool, govpool_error *err)
{
	char	   *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(pool->cfg.conninfo, &errmsg);
	int			count = 0,
				n = 0;

	if (opts == NULL)
	{
		gp_error_set(err, errmsg ? GOVPOOL_ERR_CONFIG : GOVPOOL_ERR_OOM,
					 "invalid conninfo: %s", errmsg ? errmsg : "out of memory");
		PQfreemem(errmsg);
		return err ? err->kind : GOVPOOL_ERR_CONFIG;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		count++;
	pool->kw = calloc(count + 4, sizeof(char *));
	pool->val = calloc(count + 4, sizeof(char *));
	if (!pool->kw || !pool->val)
		goto oom;
	for (PQconninfoOption *o = opts; o->keyword; o++)
	{
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "password") == 0 && o->val[0] &&
			(pool->password = strdup(o->val)) == NULL)
			goto oom;
		if (!set_param(pool, &n, o->keyword, o->val))
			goto oom;
	}
	if (pool->cfg.application_name[0] &&
		!set_param(pool, &n, "application_name", pool->cfg.application_name))
		goto oom;
	if (pool->cfg.connect_timeout_ms > 0)
	{
		char		buf[16];

		snprintf(buf, sizeof(buf), "%d", (pool->cfg.connect_timeout_ms + 999) / 1000);
		if (!set_param(pool, &n, "connect_timeout", buf))
			goto oom;
	}
	PQconninfoFree(opts);
	return GOVPOOL_OK;
oom:
	PQconninfoFree(opts);
	gp_error_set(err, GOVPOOL_ERR_OOM, "out of memory");
	return GOVPOOL_ERR_OOM;
}

/* ---- Checkout / checkin (blocking loops over op.c's state machine) ---- */

gp_entry *
gp_pool_checkout(govpool *pool, int timeout_ms, govpool_error *err)
{
	govpool_op	op;

	gp_op_init(&op, pool);
	gp_op_clear(&op);
	op.timeout_ms = timeout_ms;
	gp_op_start(&op, GP_OP_CHECKOUT);
	gp_op_block(&op);
	if (err)
		*err = op.err;
	return op.err.kind == GOVPOOL_OK ? op.entry : NULL;
}

void
gp_pool_checkin(govpool *pool, gp_entry *e)
{
	govpool_op	op;

	gp_op_init(&op, pool);
	gp_op_clear(&op);
	op.entry = e;
	gp_op_start(&op, GP_OP_CHECKIN);
	gp_op_block(&op);
}

/* ---- Housekeeper: leak detection, idle overflow connections ---- */

typedef struct leak_report
{
	char		agent[GP_MAX_ID_BYTES + 1];
	char		tenant[GP_MAX_ID_BYTES + 1];
	char		correlation[GP_MAX_CORRELATION + 1];
	char		where[300];
	char		held_ms[24];
} leak_report;

/* Are connections above pool_size closed by the housekeeper? */
static bool
closes_idle_overflow(const govpool_config *c)
{
	return c->pool_size > 0 && c->max_overflow > 0 && c->overflow_idle_ms > 0;
}

/* Does this pool need the housekeeper thread? */
static bool
needs_housekeeper(const govpool_config *c)
{
	return c->leak_threshold_ms > 0 || closes_idle_overflow(c);
}

/*
 * How often it looks: a quarter of the leak threshold, half the overflow
 * idle time, within [5 ms, 1 s].
 */
static int64_t
housekeeper_period_ns(const govpool_config *c)
{
	int64_t		period_ns = 1000000000;

	if (c->leak_threshold_ms > 0 && (int64_t) c->leak_threshold_ms * 250000 < period_ns)
		period_ns = (int64_t) c->leak_threshold_ms * 250000;
	if (closes_idle_overflow(c) && (int64_t) c->overflow_idle_ms * 500000 < period_ns)
		period_ns = (int64_t) c->overflow_idle_ms * 500000;
	return period_ns < 5000000 ? 5000000 : period_ns;
}

/* The connections taken out of reaped entries, to close unlocked. */
typedef struct reaped
{
	govpool    *pool;
	int			n;
	gp_detached taken[8];
} reaped;

/* gp_bag_reap's detach (bag lock held). */
static void
detach_conn(gp_entry *e, void *arg)
{
	reaped	   *r = arg;

	/* counted before the slot is free: stats never show it gone, uncounted */
	GP_INC(r->pool->m.idle_closed);
	gp_entry_detach(e, &r->taken[r->n++]);
}

/*
 * Close the connections above pool_size that sat idle for overflow_idle_ms.
 * Their slots are free before they are closed: the pool never looks full,
 * nor checked out, because of them.  (So for the time of a PQfinish a new
 * connection may be opened in such a slot: the server can see one backend
 * more than the cap, as it does while a closed connection's backend exits.)
 */
static void
close_idle_overflow(govpool *pool, int64_t now_ns)
{
	reaped		r;

	do
	{
		r.pool = pool;
		r.n = 0;
		gp_bag_reap(&pool->bag, now_ns, 8, detach_conn, &r);
		for (int i = 0; i < r.n; i++)
			gp_detached_close(&r.taken[i]);
		if (r.n > 0)
			gp_log(&pool->logger, GOVPOOL_LOG_DEBUG, "overflow_idle_closed", (char *) NULL);
	} while (r.n == 8);
}

static void *
housekeeper_main(void *arg)
{
	govpool    *pool = arg;
	int64_t		threshold_ns = (int64_t) pool->cfg.leak_threshold_ms * 1000000;
	int64_t		period_ns = housekeeper_period_ns(&pool->cfg);
	leak_report reports[4];

	pthread_mutex_lock(&pool->bag.lock);
	while (!pool->hk_stop)
	{
		int64_t		wake = gp_now_ns() + period_ns;
		struct timespec ts = {wake / 1000000000, wake % 1000000000};
		int			n = 0;
		int64_t		now;

		pthread_cond_timedwait(&pool->hk_cond, &pool->bag.lock, &ts);
		if (pool->hk_stop)
			break;
		now = gp_now_ns();
		for (int i = 0; threshold_ns > 0 && i < pool->bag.capacity && n < 4; i++)
		{
			gp_entry   *e = &pool->bag.slots[i];
			govpool_session *s = &e->session;

			if (e->state != GP_SLOT_IN_USE || !e->watched || s->leak_reported ||
				now - s->begun_ns < threshold_ns)
				continue;
			s->leak_reported = true;
			snprintf(reports[n].agent, sizeof(reports[n].agent), "%s", s->agent);
			snprintf(reports[n].tenant, sizeof(reports[n].tenant), "%s", s->has_tenant ? s->tenant : "");
			snprintf(reports[n].correlation, sizeof(reports[n].correlation), "%s",
					 s->has_correlation ? s->correlation : "");
			snprintf(reports[n].where, sizeof(reports[n].where), "%s:%d",
					 s->file ? s->file : "?", s->line);
			snprintf(reports[n].held_ms, sizeof(reports[n].held_ms), "%lld",
					 (long long) ((now - s->begun_ns) / 1000000));
			n++;
		}
		pool->hk_scans++;
		pthread_mutex_unlock(&pool->bag.lock);
		for (int i = 0; i < n; i++)
		{
			GP_INC(pool->m.leaks);
			gp_log(&pool->logger, GOVPOOL_LOG_WARN, "session_leak",
				   "agent_id", reports[i].agent,
				   "tenant_id", reports[i].tenant[0] ? reports[i].tenant : NULL,
				   "correlation_id", reports[i].correlation[0] ? reports[i].correlation : NULL,
				   "held_ms", reports[i].held_ms, "begun_at", reports[i].where,
				   (char *) NULL);
		}
		close_idle_overflow(pool, now);
		pthread_mutex_lock(&pool->bag.lock);
	}
	pthread_mutex_unlock(&pool->bag.lock);
	return NULL;
}

/* ---- Create / destroy ---- */

static bool
validate_config(const govpool_config *c, govpool_error *err)
{
	const char *bad = NULL;

	if (c->pool_size < 0)
		bad = "pool_size must be >= 0";
	else if (c->max_overflow < 0)
		bad = "max_overflow must be >= 0";
	else if (c->pool_size + c->max_overflow < 1)
		bad = "pool_size + max_overflow must be >= 1";
	else if (c->pool_timeout_ms < 0 || c->pool_recycle_ms < 0 || c->connect_timeout_ms < 0 ||
			 c->statement_timeout_ms < 0 || c->leak_threshold_ms < 0 || c->liveness_idle_ms < 0 ||
			 c->connect_backoff_ms < 0 || c->connect_backoff_max_ms < 0 ||
			 c->breaker_cooldown_ms < 0 || c->breaker_threshold < 0 ||
			 c->breaker_window_ms < 0 || c->breaker_cooldown_min_ms < 0 ||
			 c->report_interval_ms < 0 || c->overflow_idle_ms < 0)
		bad = "durations and thresholds must be >= 0";
	else if (c->connect_attempts < 1)
		bad = "connect_attempts must be >= 1";
	else if (c->statement_cache < 0 || c->statement_cache > GP_STMT_CACHE_MAX)
		bad = "statement_cache must be between 0 and 10000";
	else if ((int) c->reset_on_return < 0 || c->reset_on_return > GOVPOOL_RESET_DISCARD)
		bad = "reset_on_return is not a govpool_reset value";
	if (bad)
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG, "invalid govpool_config: %s", bad);
		return false;
	}
	return true;
}

/* CREATE EXTENSION IF NOT EXISTS for every name in cfg.extensions. */
static bool
create_extensions(govpool *pool, govpool_error *err)
{
	gp_entry   *e = gp_pool_checkout(pool, -1, err);
	char		list[GOVPOOL_EXTENSIONS_MAX];
	char	   *save = NULL;
	bool		ok = true;

	if (e == NULL)
		return false;
	snprintf(list, sizeof(list), "%s", pool->cfg.extensions);
	for (char *name = strtok_r(list, ",", &save); name && ok; name = strtok_r(NULL, ",", &save))
	{
		char	   *ident = PQescapeIdentifier(e->conn, name, strlen(name));
		char		sql[300];
		PGresult   *r;

		if (ident == NULL)
		{
			gp_error_from_conn(err, GOVPOOL_ERR_CONFIG, e->conn, "GOVPOOL_EXTENSIONS");
			ok = false;
			break;
		}
		snprintf(sql, sizeof(sql), "CREATE EXTENSION IF NOT EXISTS %s", ident);
		PQfreemem(ident);
		r = PQexec(e->conn, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
		{
			char		what[128];

			snprintf(what, sizeof(what), "GOVPOOL_EXTENSIONS: CREATE EXTENSION %.60s", name);
			gp_error_from_result(err, r, what);
			ok = false;
		}
		else
			gp_log(&pool->logger, GOVPOOL_LOG_DEBUG, "extension_ready", "name", name, (char *) NULL);
		PQclear(r);
	}
	gp_pool_checkin(pool, e);
	return ok;
}

govpool *
govpool_create(const govpool_config *cfg, govpool_error *err)
{
	govpool    *pool;
	govpool_error local;

	if (err == NULL)
		err = &local;
	gp_error_clear(err);
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
	{
		gp_error_set(err, GOVPOOL_ERR_OOM, "out of memory");
		return NULL;
	}
	pool->cfg = *cfg;
	gp_logger_init(&pool->logger);
	gp_metrics_init(&pool->m);
	pool->rand_state = (unsigned int) gp_now_ns() ^ (unsigned int) (uintptr_t) pool;
	{
		/*
		 * A probe is presumed lost after its connect_timeout (libpq's rule:
		 * whole seconds, at least 2) plus 1 s; without a connect_timeout,
		 * after 2 minutes (about what the kernel gives a TCP connect).
		 */
		int			secs = (cfg->connect_timeout_ms + 999) / 1000;
		gp_breaker_settings bs = {cfg->breaker_threshold, cfg->breaker_window_ms,
			cfg->breaker_cooldown_min_ms, cfg->breaker_cooldown_ms,
		secs > 0 ? (secs < 2 ? 2 : secs) * 1000 + 1000 : 120000};

		gp_breaker_init(&pool->breaker, &bs, pool->rand_state * 2654435761u);
	}
	{
		pthread_condattr_t attr;

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&pool->hk_cond, &attr);
		pthread_condattr_destroy(&attr);
	}

	if (!validate_config(cfg, err) || build_params(pool, err) != GOVPOOL_OK)
		goto failed;
	govpool_config_describe(cfg, pool->describe, sizeof(pool->describe));
	if (gp_bag_init(&pool->bag, cfg->pool_size, cfg->pool_size + cfg->max_overflow) != 0)
	{
		gp_error_set(err, GOVPOOL_ERR_OOM, "out of memory");
		goto failed_nobag;
	}
	for (int i = 0; i < pool->bag.capacity; i++)
		pool->bag.slots[i].pool = pool;
	pool->bag.overflow_idle_ns = (int64_t) cfg->overflow_idle_ms * 1000000;
	gp_report_init(pool);
	if (cfg->extensions[0] && !create_extensions(pool, err))
		goto failed;
	if (needs_housekeeper(cfg))
	{
		if (pthread_create(&pool->housekeeper, NULL, housekeeper_main, pool) != 0)
		{
			gp_error_set(err, GOVPOOL_ERR_OOM, "could not start the housekeeper thread");
			goto failed;
		}
		pool->housekeeper_running = true;
	}
	return pool;

failed:
	if (err->kind == GOVPOOL_ERR_OOM)
	{
		govpool_destroy(pool);
		return NULL;
	}
failed_nobag:
	if (err->kind == GOVPOOL_ERR_OOM)
	{
		free_params(pool);
		gp_logger_destroy(&pool->logger);
		gp_metrics_destroy(&pool->m);
		pthread_cond_destroy(&pool->hk_cond);
		free(pool);
		return NULL;
	}
	pool->failed = true;
	pool->start_error = *err;
	return pool;
}

void
govpool_destroy(govpool *pool)
{
	if (pool == NULL)
		return;
	if (pool->bag.slots)
	{
		pthread_mutex_lock(&pool->bag.lock);
		pool->hk_stop = true;
		pool->bag.closed = true;
		pthread_cond_signal(&pool->hk_cond);
		for (gp_waiter *w = pool->bag.wait_head; w; w = w->next)
		{
			if (w->cond)
				pthread_cond_signal(w->cond);
			else if (w->wake)
				w->wake(w->wake_arg);
		}
		pthread_mutex_unlock(&pool->bag.lock);
	}
	if (pool->housekeeper_running)
		pthread_join(pool->housekeeper, NULL);
	if (pool->bag.slots)
	{
		/* the bag is closed: nobody else borrows the idle connection it uses */
		gp_report_goodbye(pool);
		for (int i = 0; i < pool->bag.capacity; i++)
			gp_entry_close(&pool->bag.slots[i]);
		gp_bag_destroy(&pool->bag);
	}
	free_params(pool);
	gp_logger_destroy(&pool->logger);
	gp_metrics_destroy(&pool->m);
	pthread_cond_destroy(&pool->hk_cond);
	free(pool);
}

/* ---- Health ---- */

bool
govpool_health(govpool *pool, govpool_health_report *report)
{
	int64_t		start = gp_now_ns();
	govpool_op	op;

	memset(report, 0, sizeof(*report));
	if (pool == NULL)
	{
		gp_error_set(&report->error, GOVPOOL_ERR_MISUSE, "no pool");
		return false;
	}
	gp_op_init(&op, pool);
	gp_op_clear(&op);
	gp_op_start(&op, GP_OP_HEALTH);
	report->ok = gp_op_block(&op) == GOVPOOL_POLL_OK;
	report->error = op.err;
	report->rtt_ms = (double) (gp_now_ns() - start) / 1e6;
	govpool_stats_get(pool, &report->stats);
	return report->ok;
}
