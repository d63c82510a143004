/*
 * harness.c
 *	  What every fault scenario uses: output, time, the watchdog, the
 *	  throwaway server, pool configuration and the pool's log.
 *
 * Runs against the throwaway cluster scripts/with-cluster made
 * (DATABASE_URL, GOVERNANCE_CLUSTER_DIR, GOVERNANCE_SERVER_LOG,
 * GOVERNANCE_PGBIN), and stops and starts that server itself with pg_ctl.
 *
 * The watchdog: every client call and every pg_ctl runs under one, every
 * wait of the main thread has a deadline, and the whole scenario has one.
 * A watchdog that fires prints FAILED and exits 3 at once: a hung call is
 * never waited out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* ---- Output ---- */

const char *scenario = "?";
bool		short_run;
int			checks_failed;
int			checks_passed;
bool		log_verbose;

/* One assertion: "ok      scenario/name: detail" or "FAILED  ...". */
bool
check(bool ok, const char *name, const char *fmt,...)
{
	char		detail[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	printf("%s%s/%s: %s\n", ok ? "ok      " : "FAILED  ", scenario, name, detail);
	fflush(stdout);
	if (ok)
		checks_passed++;
	else
		checks_failed++;
	return ok;
}

/* A measured figure, for the README. */
void
figure(const char *fmt,...)
{
	char		line[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("# %s: %s\n", scenario, line);
	fflush(stdout);
}

/* The scenario cannot go on (set-up failed): report and exit 2. */
void
die(const char *fmt,...)
{
	char		line[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("FAILED  %s/setup: %s\n", scenario, line);
	fflush(stdout);
	_exit(2);					/* other threads may be in libpq: no atexit */
}

/* ---- Time ---- */

int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

double
secs(int64_t ns)
{
	return (double) ns / 1e9;
}

double
msecs(int64_t ns)
{
	return (double) ns / 1e6;
}

int
cmp_i64(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a,
				y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
int64_t
pct(const int64_t *sorted, int n, double p)
{
	int			i;

	if (n == 0)
		return 0;
	i = (int) (p / 100.0 * n + 0.999999) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return sorted[i];
}

/* ---- Watchdog: hang detection only ---- */

typedef struct watched
{
	int64_t		since_ns;		/* atomic: 0 = not in a call */
	int64_t		limit_ns;		/* atomic */
	const char *what;			/* atomic */
} watched;

int			call_watchdog_ms = 60000;
int64_t		scenario_deadline_ns;
static watched watch[MAX_WATCHED];
static int	n_watch = 1;		/* slot 0: the main thread */

int
watch_slot(void)
{
	int			slot = __atomic_fetch_add(&n_watch, 1, __ATOMIC_RELAXED);

	if (slot >= MAX_WATCHED)
		die("more than %d watched threads", MAX_WATCHED);
	return slot;
}

void
watch_begin(int slot, const char *what, int limit_ms)
{
	__atomic_store_n(&watch[slot].what, what, __ATOMIC_RELAXED);
	__atomic_store_n(&watch[slot].limit_ns, (int64_t) limit_ms * 1000000, __ATOMIC_RELAXED);
	__atomic_store_n(&watch[slot].since_ns, now_ns(), __ATOMIC_RELEASE);
}

void
watch_end(int slot)
{
	__atomic_store_n(&watch[slot].since_ns, 0, __ATOMIC_RELEASE);
}

static void *
watchdog_main(void *arg)
{
	(void) arg;
	for (;;)
	{
		int64_t		now = now_ns();
		int			n = __atomic_load_n(&n_watch, __ATOMIC_RELAXED);

		if (n > MAX_WATCHED)
			n = MAX_WATCHED;
		for (int i = 0; i < n; i++)
		{
			int64_t		since = __atomic_load_n(&watch[i].since_ns, __ATOMIC_ACQUIRE);
			int64_t		limit = __atomic_load_n(&watch[i].limit_ns, __ATOMIC_RELAXED);

			if (since != 0 && now - since > limit)
			{
				printf("FAILED  %s/watchdog: %s (thread %d) has not returned after %.3f s: hang\n",
					   scenario, __atomic_load_n(&watch[i].what, __ATOMIC_RELAXED), i,
					   secs(now - since));
				fflush(stdout);
				_exit(3);
			}
		}
		if (now > scenario_deadline_ns)
		{
			printf("FAILED  %s/watchdog: scenario did not finish within its deadline\n", scenario);
			fflush(stdout);
			_exit(3);
		}
		sleep_ms(50);
	}
	return NULL;
}

void
watchdog_start(void)
{
	pthread_t	wd;

	if (pthread_create(&wd, NULL, watchdog_main, NULL) != 0)
		die("pthread_create failed");
	pthread_detach(wd);
}

/* ---- The server: pg_ctl, an admin connection ---- */

const char *
env_required(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0')
		die("%s is not set: run under scripts/with-cluster (scripts/faults.sh does)", name);
	return v;
}

/*
 * pg_ctl ACTION ("stop -m immediate", "stop -m fast", "start", "restart -m
 * fast") on the throwaway cluster, as the postgres OS user when we are
 * root.  Returns when pg_ctl does (-w: the server is down, or accepts
 * connections).  slot: the caller's watch slot.
 */
void
server_ctl_slot(const char *action, int slot)
{
	const char *dir = env_required("GOVERNANCE_CLUSTER_DIR");
	const char *log = env_required("GOVERNANCE_SERVER_LOG");
	const char *bin = env_required("GOVERNANCE_PGBIN");
	char		cmd[2048];
	int			rc;

	snprintf(cmd, sizeof(cmd),
			 "cd '%s' && %s'%s/pg_ctl' -D '%s/data' -l '%s' -w -t 60 %s >/dev/null",
			 dir, geteuid() == 0 ? "runuser -u postgres -- " : "", bin, dir, log, action);
	watch_begin(slot, "pg_ctl", PGCTL_WATCHDOG_MS);
	rc = system(cmd);
	watch_end(slot);
	if (rc != 0)
		die("pg_ctl %s failed (exit %d); see the server log", action, rc);
}

void
server_ctl(const char *action)
{
	server_ctl_slot(action, 0);
}

static void
quiet_notice(void *arg, const char *message)
{
	(void) arg;
	(void) message;
}

/* A fresh admin connection; retried while the server is coming up. */
PGconn *
admin_connect(void)
{
	const char *kw[] = {"dbname", "application_name", NULL};
	const char *val[] = {env_required("DATABASE_URL"), "faults_admin", NULL};
	int64_t		deadline = now_ns() + (int64_t) 30 * 1000000000;

	for (;;)
	{
		PGconn	   *c = PQconnectdbParams(kw, val, 1);

		if (c && PQstatus(c) == CONNECTION_OK)
		{
			PQsetNoticeProcessor(c, quiet_notice, NULL);
			return c;
		}
		if (now_ns() > deadline)
			die("admin connection failed: %s", c ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		sleep_ms(50);
	}
}

/* Run admin SQL; the result (tuples or command ok) for the caller to clear. */
PGresult *
admin_query(const char *sql)
{
	PGconn	   *c = admin_connect();
	PGresult   *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		die("admin SQL failed: %s: %s", sql, PQerrorMessage(c));
	PQfinish(c);
	return r;
}

long
admin_long(const char *sql)
{
	PGresult   *r = admin_query(sql);
	long		v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? atol(PQgetvalue(r, 0, 0)) : -1;

	PQclear(r);
	return v;
}

/* ---- Pool configuration: the environment, with the scenario's overrides ---- */

void
ov_set(overlay *o, const char *name, const char *fmt,...)
{
	va_list		ap;
	int			i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->name[i], name) == 0)
			break;
	if (i == o->n)
	{
		if (o->n == MAX_OVERLAY)
			die("too many configuration overrides");
		o->name[o->n++] = name;
	}
	va_start(ap, fmt);
	vsnprintf(o->value[i], sizeof(o->value[i]), fmt, ap);
	va_end(ap);
}

const char *
ov_getenv(const char *name, void *ud)
{
	const overlay *o = ud;

	for (int i = 0; i < o->n; i++)
		if (strcmp(o->name[i], name) == 0)
			return o->value[i];
	return getenv(name);
}

/*
 * What every scenario starts from: the variables an application would set
 * (README's names), DATABASE_URL from with-cluster (TCP on 127.0.0.1).  An
 * empty value counts as unset, which shields us from a stray K_SERVICE.
 * Connect attempts, back-off and the breaker are left at the defaults
 * users get (the breaker scenario sets its own).
 */
void
ov_base(overlay *o, const char *app)
{
	o->n = 0;
	ov_set(o, "ENVIRONMENT", "local");
	ov_set(o, "DATABASE_ECHO", "false");
	ov_set(o, "K_SERVICE", "%s", "");
	ov_set(o, "GOVPOOL_WORKER_ID", "%s", "");
	ov_set(o, "GOVPOOL_APPLICATION_NAME", "%s", app);
	ov_set(o, "GOVPOOL_EXTENSIONS", "pg_governance");
	ov_set(o, "DATABASE_POOL_SIZE", "4");
	ov_set(o, "DATABASE_MAX_OVERFLOW", "2");
	ov_set(o, "DATABASE_POOL_TIMEOUT", "10");
	ov_set(o, "DATABASE_CONNECT_TIMEOUT", "5");
	ov_set(o, "DATABASE_POOL_RECYCLE", "3600");
	ov_set(o, "GOVPOOL_REPORT_INTERVAL", "1");	/* stats reports ride along under faults too */
	ov_set(o, "GOVPOOL_LEAK_THRESHOLD_MS", "60000");
	/* empty = unset: the defaults, whatever the environment says */
	ov_set(o, "GOVPOOL_CONNECT_ATTEMPTS", "%s", "");
	ov_set(o, "GOVPOOL_CONNECT_BACKOFF_MS", "%s", "");
	ov_set(o, "GOVPOOL_CONNECT_BACKOFF_MAX_MS", "%s", "");
	ov_set(o, "GOVPOOL_BREAKER_THRESHOLD", "%s", "");
	ov_set(o, "GOVPOOL_BREAKER_WINDOW_MS", "%s", "");
	ov_set(o, "GOVPOOL_BREAKER_COOLDOWN_MS", "%s", "");
	ov_set(o, "GOVPOOL_BREAKER_COOLDOWN_MIN_MS", "%s", "");
}

/* ---- Pool log: count warn/error events (FAULTS_VERBOSE=1 prints them) ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct
{
	char		name[40];
	long		n;
}			log_events[32];
static int	n_log_events;

static void
log_count(govpool_log_level level, const char *line, void *ud)
{
	const char *ev = strstr(line, "event=");
	char		name[40];
	size_t		len = 0;

	(void) ud;
	if (log_verbose)
		fprintf(stderr, "%s\n", line);
	if (level < GOVPOOL_LOG_WARN || ev == NULL)
		return;
	ev += 6;
	while (ev[len] && ev[len] != ' ' && len < sizeof(name) - 1)
		len++;
	memcpy(name, ev, len);
	name[len] = '\0';
	pthread_mutex_lock(&log_mu);
	{
		int			i;

		for (i = 0; i < n_log_events; i++)
			if (strcmp(log_events[i].name, name) == 0)
				break;
		if (i < 32)
		{
			if (i == n_log_events)
			{
				snprintf(log_events[i].name, sizeof(log_events[i].name), "%s", name);
				n_log_events++;
			}
			log_events[i].n++;
		}
	}
	pthread_mutex_unlock(&log_mu);
}

void
log_summary(void)
{
	char		buf[1024] = "";
	size_t		pos = 0;

	pthread_mutex_lock(&log_mu);
	for (int i = 0; i < n_log_events && pos < sizeof(buf); i++)
		pos += snprintf(buf + pos, sizeof(buf) - pos, "%s%s=%ld", i ? " " : "",
						log_events[i].name, log_events[i].n);
	pthread_mutex_unlock(&log_mu);
	figure("pool log warn/error events: %s", buf[0] ? buf : "none");
}

/* How many times the pool has logged an event so far. */
long
log_event_count(const char *name)
{
	long		n = 0;

	pthread_mutex_lock(&log_mu);
	for (int i = 0; i < n_log_events; i++)
		if (strcmp(log_events[i].name, name) == 0)
			n = log_events[i].n;
	pthread_mutex_unlock(&log_mu);
	return n;
}

govpool *
make_pool(overlay *o, govpool_config *cfg_out)
{
	govpool_config cfg;
	govpool_error err;
	govpool    *pool;

	if (govpool_config_from_getenv(&cfg, ov_getenv, o, &err) != GOVPOOL_OK)
		die("configuration: %s", err.message);
	pool = govpool_create(&cfg, &err);
	if (pool == NULL)
		die("govpool_create: out of memory");
	if (err.kind != GOVPOOL_OK)
		die("govpool_create: %s: %s", govpool_status_name(err.kind), err.message);
	govpool_set_logger(pool, log_count, NULL);
	if (cfg_out)
		*cfg_out = cfg;
	return pool;
}

/* Server-side connections of the pool's application_name. */
long
server_connections(const char *app)
{
	char		q[256];

	snprintf(q, sizeof(q),
			 "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'", app);
	return admin_long(q);
}

/*
 * No leaked connection: once the load has stopped, the server's count for
 * the pool's application_name comes to what the pool reports open (a
 * closed connection's backend leaves pg_stat_activity a moment later, so
 * this waits, with a deadline, for the two to agree).
 */
void
check_no_leak(govpool *pool, const char *app)
{
	govpool_stats st;
	long		server = -1;
	int64_t		deadline = now_ns() + (int64_t) 15 * 1000000000;

	for (;;)
	{
		govpool_stats_get(pool, &st);
		server = server_connections(app);
		if ((server == st.size && st.checked_out == 0) || now_ns() > deadline)
			break;
		sleep_ms(20);
	}
	check(server == st.size && st.checked_out == 0 && st.waiters == 0, "no_leaked_connections",
		  "pg_stat_activity shows %ld for application_name %s, the pool reports size=%d "
		  "(idle %d, checked out %d, waiters %d)",
		  server, app, st.size, st.idle, st.checked_out, st.waiters);
}

void
destroy_and_check_closed(govpool *pool, const char *app)
{
	long		server = -1;
	int64_t		deadline = now_ns() + (int64_t) 15 * 1000000000;

	govpool_destroy(pool);
	while ((server = server_connections(app)) != 0 && now_ns() < deadline)
		sleep_ms(20);
	check(server == 0, "destroy_closes_everything",
		  "%ld server connections left after govpool_destroy", server);
}

