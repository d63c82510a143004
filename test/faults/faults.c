/*
 * faults.c
 *	  Fault suite driver: real server faults under a governed load, seen
 *	  through libgovpool's public API only (govpool.h).
 *
 *	  faults [--short] crash|restart|terminate|breaker|exhaustion
 *
 * Runs one scenario against the throwaway cluster scripts/with-cluster
 * made (DATABASE_URL, GOVERNANCE_CLUSTER_DIR, GOVERNANCE_SERVER_LOG,
 * GOVERNANCE_PGBIN), and stops and starts that server itself with pg_ctl.
 * scripts/faults.sh builds this program and runs each scenario in a cluster
 * of its own.
 *
 * Output: one line per assertion, "ok      scenario/check: figures" or
 * "FAILED  scenario/check: what went wrong", and "# scenario: ..." lines
 * with the measured figures.  Exit status 0 only when every check passed.
 *
 * Correctness is asserted; timing is measured and printed, never asserted.
 * The only clocks that can fail a run are hang detectors: every client call
 * and every pg_ctl runs under a watchdog, every wait of the main thread has
 * a deadline, and the whole scenario has one.  A watchdog that fires prints
 * FAILED and exits 3 at once: a hung call is never waited out.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <govpool.h>

/* ---- Output ---- */

static const char *scenario = "?";
static bool short_run;
static int	checks_failed;
static int	checks_passed;

static bool check(bool ok, const char *name, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
static void figure(const char *fmt,...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

/* One assertion: "ok      scenario/name: detail" or "FAILED  ...". */
static bool
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
static void
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
static void
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

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static double
secs(int64_t ns)
{
	return (double) ns / 1e9;
}

static double
msecs(int64_t ns)
{
	return (double) ns / 1e6;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a,
				y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static int64_t
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

#define MAX_WATCHED 64
#define PGCTL_WATCHDOG_MS 90000 /* pg_ctl has -t 60 of its own */

typedef struct watched
{
	int64_t		since_ns;		/* atomic: 0 = not in a call */
	int64_t		limit_ns;		/* atomic */
	const char *what;			/* atomic */
} watched;

static int	call_watchdog_ms = 60000;	/* FAULTS_WATCHDOG_MS overrides it */
static watched watch[MAX_WATCHED];
static int	n_watch = 1;		/* slot 0: the main thread */
static int64_t scenario_deadline_ns;

static int
watch_slot(void)
{
	int			slot = __atomic_fetch_add(&n_watch, 1, __ATOMIC_RELAXED);

	if (slot >= MAX_WATCHED)
		die("more than %d watched threads", MAX_WATCHED);
	return slot;
}

static void
watch_begin(int slot, const char *what, int limit_ms)
{
	__atomic_store_n(&watch[slot].what, what, __ATOMIC_RELAXED);
	__atomic_store_n(&watch[slot].limit_ns, (int64_t) limit_ms * 1000000, __ATOMIC_RELAXED);
	__atomic_store_n(&watch[slot].since_ns, now_ns(), __ATOMIC_RELEASE);
}

static void
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

/* ---- The server: pg_ctl, an admin connection ---- */

static const char *
env_required(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0')
		die("%s is not set: run under scripts/with-cluster (scripts/faults.sh does)", name);
	return v;
}

/*
 * pg_ctl ACTION ("stop -m immediate", "stop -m fast", "start") on the
 * throwaway cluster, as the postgres OS user when we are root.  Returns
 * when pg_ctl does (-w: the server is down, or accepts connections).
 */
static void
server_ctl(const char *action)
{
	const char *dir = env_required("GOVERNANCE_CLUSTER_DIR");
	const char *log = env_required("GOVERNANCE_SERVER_LOG");
	const char *bin = env_required("GOVERNANCE_PGBIN");
	char		cmd[2048];
	int			rc;

	snprintf(cmd, sizeof(cmd),
			 "cd '%s' && %s'%s/pg_ctl' -D '%s/data' -l '%s' -w -t 60 %s >/dev/null",
			 dir, geteuid() == 0 ? "runuser -u postgres -- " : "", bin, dir, log, action);
	watch_begin(0, "pg_ctl", PGCTL_WATCHDOG_MS);
	rc = system(cmd);
	watch_end(0);
	if (rc != 0)
		die("pg_ctl %s failed (exit %d); see the server log", action, rc);
}

static void
quiet_notice(void *arg, const char *message)
{
	(void) arg;
	(void) message;
}

/* A fresh admin connection; retried while the server is coming up. */
static PGconn *
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
static PGresult *
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

static long
admin_long(const char *sql)
{
	PGresult   *r = admin_query(sql);
	long		v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? atol(PQgetvalue(r, 0, 0)) : -1;

	PQclear(r);
	return v;
}

/* ---- Pool configuration: the environment, with the scenario's overrides ---- */

#define MAX_OVERLAY 40

typedef struct overlay
{
	int			n;
	const char *name[MAX_OVERLAY];
	char		value[MAX_OVERLAY][256];
} overlay;

static void ov_set(overlay *o, const char *name, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static void
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

static const char *
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
 */
static void
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
	ov_set(o, "GOVPOOL_CONNECT_ATTEMPTS", "3");
	ov_set(o, "GOVPOOL_CONNECT_BACKOFF_MS", "50");
	ov_set(o, "GOVPOOL_CONNECT_BACKOFF_MAX_MS", "500");
	ov_set(o, "GOVPOOL_BREAKER_THRESHOLD", "5");
	ov_set(o, "GOVPOOL_BREAKER_COOLDOWN_MS", "1000");
	ov_set(o, "GOVPOOL_REPORT_INTERVAL", "1");	/* stats reports ride along under faults too */
	ov_set(o, "GOVPOOL_LEAK_THRESHOLD_MS", "60000");
}

/* ---- Pool log: count warn/error events (FAULTS_VERBOSE=1 prints them) ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct
{
	char		name[40];
	long		n;
}			log_events[32];
static int	n_log_events;
static bool log_verbose;

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

static void
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
static long
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

static govpool *
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
static long
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
static void
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

static void
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

/* ---- The governed write load (crash, restart, terminate) ---- */

#define ID_BASE 10000000LL		/* id = worker * ID_BASE + seq */
#define MAX_WORKERS 32

static const char insert_sql[] = "INSERT INTO fault_t (id, worker, seq) VALUES ($1, $2, $3)";

typedef enum outcome
{
	OUT_OK = 1,					/* the API said committed */
	OUT_UNKNOWN,				/* GOVPOOL_ERR_COMMIT_UNKNOWN */
	OUT_FAILED					/* any other error: not committed */
} outcome;

typedef struct op
{
	int64_t		start_ns;
	int64_t		end_ns;
	uint8_t		outcome;
	uint8_t		kind;			/* govpool_status */
} op;

typedef struct worker
{
	int			id;
	int			slot;
	pthread_t	th;
	govpool    *pool;
	op		   *ops;			/* ops[seq]; owned by the worker until joined */
	int			n_ops;
	int			cap;
	int64_t		last_ok_start_ns;	/* atomic */
	long		n_ok;			/* atomic */
	long		n_fail;			/* atomic */
	int			n_bad;			/* errors without a clear status/message */
	char		bad[300];		/* the first of them */
} worker;

static int	stop_load;			/* atomic */

/* A failure is "clear" when its status says what happened, with a message. */
static bool
clear_failure(const govpool_error *err)
{
	if (err->message[0] == '\0')
		return false;
	switch (err->kind)
	{
		case GOVPOOL_ERR_CONNECT:
		case GOVPOOL_ERR_TIMEOUT:
		case GOVPOOL_ERR_CIRCUIT_OPEN:
		case GOVPOOL_ERR_CONNECTION_LOST:
		case GOVPOOL_ERR_COMMIT_UNKNOWN:
			return true;
		case GOVPOOL_ERR_QUERY:
			/* the server said it is going away / not accepting: class 57 or 08 */
			return strncmp(err->sqlstate, "57", 2) == 0 || strncmp(err->sqlstate, "08", 2) == 0;
		default:
			return false;
	}
}

static void
note_bad(worker *w, const char *what, const govpool_error *err)
{
	if (w->n_bad++ == 0)
		snprintf(w->bad, sizeof(w->bad), "%s: %s [%s] %.200s", what, govpool_status_name(err->kind),
				 err->sqlstate, err->message);
}

/*
 * One governed transaction writing row id: two of three through govpool_run
 * (one round trip), every third as begin / exec / exec (checks the context
 * is the session's) / commit.
 */
static outcome
one_write(worker *w, int seq, govpool_error *err)
{
	char		ids[24],
				ws[12],
				seqs[12],
				agent[32],
				corr[40];
	const char *params[3] = {ids, ws, seqs};
	govpool_context ctx = {agent, "faults", corr};
	long long	id = (long long) w->id * ID_BASE + seq;
	PGresult   *r;

	snprintf(ids, sizeof(ids), "%lld", id);
	snprintf(ws, sizeof(ws), "%d", w->id);
	snprintf(seqs, sizeof(seqs), "%d", seq);
	snprintf(agent, sizeof(agent), "worker-%d", w->id);
	snprintf(corr, sizeof(corr), "op-%lld", id);

	if (seq % 3 != 2)
	{
		r = govpool_run(w->pool, &ctx, insert_sql, 3, params, err);
		if (r)
		{
			bool		ok = PQresultStatus(r) == PGRES_COMMAND_OK;

			PQclear(r);
			if (!ok)
			{
				snprintf(err->message, sizeof(err->message), "govpool_run returned a non-command result");
				err->kind = GOVPOOL_ERR_MISUSE;
				return OUT_FAILED;	/* shows up as unclear: a bug */
			}
			return OUT_OK;
		}
		return err->kind == GOVPOOL_ERR_COMMIT_UNKNOWN ? OUT_UNKNOWN : OUT_FAILED;
	}
	else
	{
		govpool_session *s = govpool_begin(w->pool, &ctx, -1, err);
		govpool_status st;

		if (s == NULL)
			return OUT_FAILED;
		if ((r = govpool_exec(s, insert_sql, 3, params, err)) == NULL)
		{
			govpool_rollback(s);
			return OUT_FAILED;
		}
		PQclear(r);
		if ((r = govpool_exec(s, "SELECT governance.agent_id(), governance.correlation_id()",
							  0, NULL, err)) == NULL)
		{
			govpool_rollback(s);
			return OUT_FAILED;
		}
		if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), agent) != 0 ||
			strcmp(PQgetvalue(r, 0, 1), corr) != 0)
		{
			snprintf(err->message, sizeof(err->message), "session context is %s/%s, expected %s/%s",
					 PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), agent, corr);
			err->kind = GOVPOOL_ERR_MISUSE;
			PQclear(r);
			govpool_rollback(s);
			return OUT_FAILED;
		}
		PQclear(r);
		st = govpool_commit(s, err);
		if (st == GOVPOOL_OK)
			return OUT_OK;
		return st == GOVPOOL_ERR_COMMIT_UNKNOWN ? OUT_UNKNOWN : OUT_FAILED;
	}
}

static void *
worker_main(void *arg)
{
	worker	   *w = arg;

	for (int seq = 0; !__atomic_load_n(&stop_load, __ATOMIC_RELAXED); seq++)
	{
		govpool_error err;
		op			o;

		if (seq >= ID_BASE)
			break;
		if (w->n_ops == w->cap)
		{
			int			cap = w->cap ? w->cap * 2 : 1024;
			op		   *ops = realloc(w->ops, cap * sizeof(op));

			if (ops == NULL)
			{
				fprintf(stderr, "out of memory\n");
				_exit(2);
			}
			w->ops = ops;
			w->cap = cap;
		}
		memset(&err, 0, sizeof(err));
		o.start_ns = now_ns();
		watch_begin(w->slot, seq % 3 != 2 ? "govpool_run" : "govpool_begin/exec/commit",
					call_watchdog_ms);
		o.outcome = (uint8_t) one_write(w, seq, &err);
		watch_end(w->slot);
		o.end_ns = now_ns();
		o.kind = (uint8_t) (o.outcome == OUT_OK ? GOVPOOL_OK : err.kind);
		w->ops[w->n_ops++] = o;
		if (o.outcome == OUT_OK)
		{
			__atomic_store_n(&w->last_ok_start_ns, o.start_ns, __ATOMIC_RELAXED);
			__atomic_add_fetch(&w->n_ok, 1, __ATOMIC_RELAXED);
		}
		else
		{
			if (!clear_failure(&err))
				note_bad(w, "unclear failure", &err);
			if (log_verbose)
				fprintf(stderr, "t=%.6f worker %d seq %d failed after %.1f ms: %s [%s] %s\n",
						secs(o.end_ns), w->id, seq, msecs(o.end_ns - o.start_ns),
						govpool_status_name(err.kind), err.sqlstate, err.message);
			__atomic_add_fetch(&w->n_fail, 1, __ATOMIC_RELAXED);
			sleep_ms(10);		/* the application's own pacing after a failure */
		}
	}
	return NULL;
}

typedef struct load
{
	int			n;
	worker		w[MAX_WORKERS];
	govpool    *pool;
} load;

static void
load_setup_table(void)
{
	PQclear(admin_query("CREATE EXTENSION IF NOT EXISTS pg_governance"));
	PQclear(admin_query("DROP TABLE IF EXISTS fault_t"));
	PQclear(admin_query("CREATE TABLE fault_t (id bigint PRIMARY KEY, worker int NOT NULL, "
						"seq int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"));
	PQclear(admin_query("SELECT governance.enable_audit('fault_t'::regclass)"));
}

static void
load_start(load *l, govpool *pool, int n)
{
	memset(l, 0, sizeof(*l));
	l->n = n;
	l->pool = pool;
	__atomic_store_n(&stop_load, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++)
	{
		l->w[i].id = i + 1;
		l->w[i].slot = watch_slot();
		l->w[i].pool = pool;
		if (pthread_create(&l->w[i].th, NULL, worker_main, &l->w[i]) != 0)
			die("pthread_create failed");
	}
}

static void
load_stop(load *l)
{
	__atomic_store_n(&stop_load, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < l->n; i++)
		pthread_join(l->w[i].th, NULL);
}

static long
load_ok(load *l)
{
	long		n = 0;

	for (int i = 0; i < l->n; i++)
		n += __atomic_load_n(&l->w[i].n_ok, __ATOMIC_RELAXED);
	return n;
}

static long
load_failed(load *l)
{
	long		n = 0;

	for (int i = 0; i < l->n; i++)
		n += __atomic_load_n(&l->w[i].n_fail, __ATOMIC_RELAXED);
	return n;
}

/* Wait (with a deadline) until the load has committed `more` transactions. */
static bool
load_wait_ok(load *l, long more, int timeout_s)
{
	long		target = load_ok(l) + more;
	int64_t		deadline = now_ns() + (int64_t) timeout_s * 1000000000;

	while (load_ok(l) < target)
	{
		if (now_ns() > deadline)
			return check(false, "load_progress", "%ld of %ld transactions committed within %d s",
						 load_ok(l) - (target - more), more, timeout_s);
		sleep_ms(5);
	}
	return true;
}

/* Wait until every worker committed a transaction it started at or after t. */
static bool
load_wait_healed(load *l, int64_t t, int timeout_s)
{
	int64_t		deadline = now_ns() + (int64_t) timeout_s * 1000000000;

	for (;;)
	{
		int			healed = 0;

		for (int i = 0; i < l->n; i++)
			if (__atomic_load_n(&l->w[i].last_ok_start_ns, __ATOMIC_RELAXED) >= t)
				healed++;
		if (healed == l->n)
			return true;
		if (now_ns() > deadline)
			return check(false, "pool_heals", "only %d of %d clients succeeded again within %d s "
						 "of the server being back", healed, l->n, timeout_s);
		sleep_ms(5);
	}
}

/* Failures by status, e.g. "connect=12 circuit_open=40". */
static void
failures_by_status(load *l, char *buf, size_t size)
{
	long		by[32] = {0};
	size_t		pos = 0;

	for (int i = 0; i < l->n; i++)
		for (int j = 0; j < l->w[i].n_ops; j++)
			if (l->w[i].ops[j].outcome != OUT_OK && l->w[i].ops[j].kind < 32)
				by[l->w[i].ops[j].kind]++;
	buf[0] = '\0';
	for (int k = 0; k < 32; k++)
		if (by[k] && pos < size)
			pos += snprintf(buf + pos, size - pos, "%s%s=%ld", pos ? " " : "",
							govpool_status_name((govpool_status) k), by[k]);
	if (pos == 0)
		snprintf(buf, size, "none");
}

static void
check_clear_errors(load *l)
{
	int			bad = 0;
	const char *first = "";

	for (int i = 0; i < l->n; i++)
		if (l->w[i].n_bad)
		{
			if (bad == 0)
				first = l->w[i].bad;
			bad += l->w[i].n_bad;
		}
	if (bad)
		check(false, "failures_are_clear", "%d failures without a clear status and message, "
			  "first: %s", bad, first);
	else
		check(true, "failures_are_clear", "every failure came back as a govpool status with a message");
}

/*
 * Compare what the clients were told with what the server has: every
 * acknowledged commit is there with exactly one audit row carrying its
 * context, every row is one the API reported committed or unknown, every
 * audit row has its change.
 */
static void
verify_data(load *l)
{
	uint8_t    *present[MAX_WORKERS],
			   *audits[MAX_WORKERS];
	long		ok = 0,
				unknown = 0,
				unknown_present = 0,
				failed = 0;
	long		ok_missing = 0,
				failed_present = 0,
				stray_rows = 0,
				missing_audit = 0,
				dup_audit = 0,
				stray_audit = 0,
				bad_ctx = 0,
				rows = 0,
				audit_rows = 0;
	PGresult   *r;
	char		by[512];

	for (int i = 0; i < l->n; i++)
	{
		present[i] = calloc(l->w[i].n_ops + 1, 1);
		audits[i] = calloc(l->w[i].n_ops + 1, 1);
		if (!present[i] || !audits[i])
			die("out of memory");
	}
	r = admin_query("SELECT id FROM fault_t");
	rows = PQntuples(r);
	for (int i = 0; i < PQntuples(r); i++)
	{
		long long	id = atoll(PQgetvalue(r, i, 0));
		long long	w = id / ID_BASE - 1,
					seq = id % ID_BASE;

		if (w < 0 || w >= l->n || seq >= l->w[w].n_ops)
			stray_rows++;
		else
			present[w][seq] = 1;
	}
	PQclear(r);
	r = admin_query("SELECT (new_row->>'id')::bigint, agent_id, correlation_id, tenant_id "
					"FROM governance.audit_log WHERE relid = 'fault_t'::regclass AND op = 'INSERT'");
	audit_rows = PQntuples(r);
	for (int i = 0; i < PQntuples(r); i++)
	{
		long long	id = atoll(PQgetvalue(r, i, 0));
		long long	w = id / ID_BASE - 1,
					seq = id % ID_BASE;
		char		agent[32],
					corr[40];

		if (w < 0 || w >= l->n || seq >= l->w[w].n_ops || !present[w][seq])
		{
			stray_audit++;
			continue;
		}
		if (audits[w][seq] < 255)
			audits[w][seq]++;
		snprintf(agent, sizeof(agent), "worker-%lld", w + 1);
		snprintf(corr, sizeof(corr), "op-%lld", id);
		if (strcmp(PQgetvalue(r, i, 1), agent) != 0 || strcmp(PQgetvalue(r, i, 2), corr) != 0 ||
			strcmp(PQgetvalue(r, i, 3), "faults") != 0)
			bad_ctx++;
	}
	PQclear(r);

	for (int i = 0; i < l->n; i++)
	{
		for (int j = 0; j < l->w[i].n_ops; j++)
		{
			switch (l->w[i].ops[j].outcome)
			{
				case OUT_OK:
					ok++;
					if (!present[i][j])
						ok_missing++;
					break;
				case OUT_UNKNOWN:
					unknown++;
					if (present[i][j])
						unknown_present++;
					break;
				default:
					failed++;
					if (present[i][j])
						failed_present++;
					break;
			}
			if (present[i][j] && audits[i][j] == 0)
				missing_audit++;
			if (audits[i][j] > 1)
				dup_audit++;
		}
		free(present[i]);
		free(audits[i]);
	}

	check(ok > 0 && ok_missing == 0, "acknowledged_commits_survive",
		  "%ld of %ld transactions the API reported committed are missing", ok_missing, ok);
	check(missing_audit == 0 && dup_audit == 0 && bad_ctx == 0, "every_change_has_its_audit_row",
		  "%ld rows, %ld audit rows: %ld without an audit row, %ld with more than one, "
		  "%ld audit rows with the wrong context", rows, audit_rows, missing_audit, dup_audit, bad_ctx);
	check(stray_audit == 0, "no_audit_row_without_its_change",
		  "%ld audit rows whose row does not exist", stray_audit);
	check(failed_present == 0 && stray_rows == 0, "reported_failures_did_not_commit",
		  "%ld rows of transactions the API reported as not committed, %ld rows nobody wrote",
		  failed_present, stray_rows);
	failures_by_status(l, by, sizeof(by));
	figure("committed=%ld commit_unknown=%ld (%ld committed, %ld not) failed=%ld; "
		   "failures by status: %s", ok, unknown, unknown_present, unknown - unknown_present,
		   failed, by);
}

/* ---- Scenarios 1 and 2: crash (-m immediate), restart (-m fast) ---- */

typedef struct outage
{
	int64_t		t_stop;			/* pg_ctl stop invoked */
	int64_t		t_down;			/* pg_ctl stop returned: server gone */
	int64_t		t_start;		/* pg_ctl start invoked */
	int64_t		t_up;			/* pg_ctl start returned: accepting */
	int64_t		t_end;			/* next outage's t_stop, or the end of the load */
} outage;

/*
 * Heal figures of one outage, from the op records: a worker healed at the
 * end of its first successful op started after the server was down (it
 * can only have talked to the new server).  After the last worker healed
 * (t_heal), no op may fail until the next outage.
 */
static void
outage_report(load *l, const outage *o, int k, int64_t *heal_ns_out)
{
	int64_t		first = INT64_MAX,
				last = 0;
	int			healed = 0;
	long		after = 0,
				after_failed = 0;

	for (int i = 0; i < l->n; i++)
	{
		for (int j = 0; j < l->w[i].n_ops; j++)
		{
			const op   *p = &l->w[i].ops[j];

			if (p->outcome == OUT_OK && p->start_ns >= o->t_down)
			{
				healed++;
				if (p->end_ns < first)
					first = p->end_ns;
				if (p->end_ns > last)
					last = p->end_ns;
				break;
			}
		}
	}
	for (int i = 0; i < l->n && healed == l->n; i++)
		for (int j = 0; j < l->w[i].n_ops; j++)
		{
			const op   *p = &l->w[i].ops[j];

			if (p->start_ns >= last && p->end_ns < o->t_end)
			{
				after++;
				if (p->outcome != OUT_OK)
					after_failed++;
			}
		}
	if (!check(healed == l->n, "pool_heals", "outage %d: %d of %d clients succeeded again", k,
			   healed, l->n))
		return;
	check(after_failed == 0, "no_failures_after_healing",
		  "outage %d: %ld of %ld transactions started after the pool healed failed",
		  k, after_failed, after);
	*heal_ns_out = last - o->t_up;
	figure("outage %d: server unavailable %.2f s (pg_ctl stop %.2f s, held down %.2f s, pg_ctl start "
		   "%.2f s); first success %.2f s, all %d clients healed %.2f s after the server accepted "
		   "connections again", k, secs(o->t_up - o->t_stop), secs(o->t_down - o->t_stop),
		   secs(o->t_start - o->t_down), secs(o->t_up - o->t_start), secs(first - o->t_up), l->n,
		   secs(last - o->t_up));
}

static void
scenario_outage(bool crash)
{
	const char *app = crash ? "faults_crash" : "faults_restart";
	int			clients = short_run ? 4 : 10;
	int			cycles = short_run ? 1 : 5;
	long		before = short_run ? 300 : 2000;
	long		after = short_run ? 200 : 1000;
	overlay		ov;
	govpool_config cfg;
	govpool    *pool;
	load		l;
	outage		o[8];
	int64_t		heal_max = 0;
	char		by[512];

	if (crash)
	{
		PGresult   *r = admin_query("SHOW synchronous_commit");
		bool		on = strcmp(PQgetvalue(r, 0, 0), "on") == 0;

		PQclear(r);
		if (!on)
			die("synchronous_commit must be on for the crash test (with-cluster sets it off; "
				"GOVERNANCE_EXTRA_CONF='synchronous_commit = on')");
	}
	load_setup_table();
	ov_base(&ov, app);
	pool = make_pool(&ov, &cfg);
	load_start(&l, pool, clients);
	for (int k = 0; k < cycles; k++)
	{
		long		failed0,
					opened0;

		if (!load_wait_ok(&l, before, 120))
		{
			cycles = k;
			break;
		}
		failed0 = load_failed(&l);
		opened0 = log_event_count("circuit_open");
		o[k].t_stop = now_ns();
		server_ctl(crash ? "stop -m immediate" : "stop -m fast");
		o[k].t_down = now_ns();

		/*
		 * Stay down until every client has felt it and the breaker has
		 * opened, let a half-open probe through, and opened again (bounded:
		 * 10 s; this shapes the outage, it asserts nothing).
		 */
		for (int64_t d = now_ns() + (int64_t) 10 * 1000000000;
			 (load_failed(&l) - failed0 < clients || log_event_count("circuit_open") - opened0 < 2) &&
			 now_ns() < d;)
			sleep_ms(5);
		o[k].t_start = now_ns();
		server_ctl("start");
		o[k].t_up = now_ns();
		if (k > 0)
			o[k - 1].t_end = o[k].t_stop;
		if (!load_wait_healed(&l, o[k].t_down, 60))
		{
			cycles = k;			/* reported above; verify what we have */
			break;
		}
	}
	if (cycles > 0)
		load_wait_ok(&l, after, 120);
	load_stop(&l);
	if (cycles > 0)
		o[cycles - 1].t_end = INT64_MAX;

	check_clear_errors(&l);
	for (int k = 0; k < cycles; k++)
	{
		int64_t		h = 0;

		outage_report(&l, &o[k], k + 1, &h);
		if (h > heal_max)
			heal_max = h;
	}
	verify_data(&l);
	check_no_leak(pool, app);
	{
		govpool_stats st;

		govpool_stats_get(pool, &st);
		failures_by_status(&l, by, sizeof(by));
		figure("%d clients, pool_size=%d max_overflow=%d, %d %s; breaker threshold %d, cool-down "
			   "%d ms; heal (slowest outage) %.2f s; pool: connects=%llu connect_failures=%llu "
			   "invalidated=%llu", clients, cfg.pool_size, cfg.max_overflow, cycles,
			   crash ? "immediate stops (crash)" : "fast restarts", cfg.breaker_threshold,
			   cfg.breaker_cooldown_ms, secs(heal_max), (unsigned long long) st.connects_total,
			   (unsigned long long) st.connect_failures_total,
			   (unsigned long long) st.invalidated_total);
	}
	log_summary();
	destroy_and_check_closed(pool, app);
	for (int i = 0; i < l.n; i++)
		free(l.w[i].ops);
}

/* ---- Scenario 3: pg_terminate_backend on every pooled connection ---- */

typedef struct kill_round
{
	int64_t		t_kill;			/* before pg_terminate_backend */
	int64_t		t_gone;			/* every terminated backend left pg_stat_activity */
	int			terminated;
	int			failed;			/* failed ops in flight during [t_kill, t_gone] */
} kill_round;

static void
scenario_terminate(void)
{
	const char *app = "faults_terminate";
	int			clients = short_run ? 6 : 10;
	int			rounds = short_run ? 2 : 8;
	long		between = short_run ? 200 : 1500;
	overlay		ov;
	govpool_config cfg;
	govpool    *pool;
	load		l;
	kill_round	kr[8];
	long		stray = 0,
				after_ops = 0,
				total_failed = 0;
	int			terminated = 0;
	bool		over = false;

	load_setup_table();
	ov_base(&ov, app);
	ov_set(&ov, "DATABASE_POOL_SIZE", "4");
	ov_set(&ov, "DATABASE_MAX_OVERFLOW", "0"); /* a fixed set of connections, more clients */
	/*
	 * Socket-check every checkout.  With the default (idle >= 1 ms) a
	 * connection given back less than a millisecond before the next
	 * checkout is not checked, so one terminated in that window fails the
	 * next session even if it started after the backend was gone.
	 */
	ov_set(&ov, "GOVPOOL_LIVENESS_IDLE_MS", "0");
	pool = make_pool(&ov, &cfg);
	load_start(&l, pool, clients);
	for (int k = 0; k < rounds; k++)
	{
		char		q[1200],
					list[1024] = "";
		size_t		pos = 0;
		PGresult   *r;
		int64_t		deadline;

		if (!load_wait_ok(&l, between, 120))
		{
			rounds = k;
			break;
		}
		kr[k].t_kill = now_ns();
		/* materialized first: the filter must run before the terminate */
		snprintf(q, sizeof(q), "WITH p AS MATERIALIZED (SELECT pid FROM pg_stat_activity "
				 "WHERE application_name = '%s') SELECT pid FROM p WHERE pg_terminate_backend(pid)",
				 app);
		r = admin_query(q);
		kr[k].terminated = PQntuples(r);
		for (int i = 0; i < PQntuples(r) && pos < sizeof(list); i++)
			pos += snprintf(list + pos, sizeof(list) - pos, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
		PQclear(r);
		if (kr[k].terminated > 0)
		{
			snprintf(q, sizeof(q), "SELECT count(*) FROM pg_stat_activity WHERE pid IN (%s)", list);
			deadline = now_ns() + (int64_t) 30 * 1000000000;
			while (admin_long(q) != 0)
			{
				if (now_ns() > deadline)
					die("terminated backends still there after 30 s");
				sleep_ms(2);
			}
		}
		kr[k].t_gone = now_ns();
		if (log_verbose)
			fprintf(stderr, "t=%.6f..%.6f terminated %s\n", secs(kr[k].t_kill), secs(kr[k].t_gone), list);
		kr[k].failed = 0;
		terminated += kr[k].terminated;
	}
	if (rounds > 0)
		load_wait_ok(&l, between, 120);
	load_stop(&l);

	/* every failure must be an op in flight while a round's backends died */
	for (int i = 0; i < l.n; i++)
		for (int j = 0; j < l.w[i].n_ops; j++)
		{
			const op   *p = &l.w[i].ops[j];
			int			in = -1;

			/*
			 * The round that broke it is the last one it overlaps: an op
			 * can span two rounds (a slow checkout on a busy box) and fail
			 * in the second.
			 */
			for (int k = rounds - 1; k >= 0 && in < 0; k--)
				if (p->end_ns >= kr[k].t_kill && p->start_ns <= kr[k].t_gone)
					in = k;
			if (in < 0)
				after_ops++;
			if (p->outcome == OUT_OK)
				continue;
			total_failed++;
			if (in < 0)
				stray++;
			else
				kr[in].failed++;
		}
	check_clear_errors(&l);
	for (int k = 0; k < rounds; k++)
	{
		check(kr[k].terminated > 0, "connections_were_terminated",
			  "round %d: pg_terminate_backend on %d pooled connections", k + 1, kr[k].terminated);
		if (kr[k].failed > kr[k].terminated)
			over = true;
		figure("round %d: %d connections terminated, %d sessions in flight failed, backends gone "
			   "after %.0f ms", k + 1, kr[k].terminated, kr[k].failed,
			   msecs(kr[k].t_gone - kr[k].t_kill));
	}
	check(!over, "failures_at_most_connections_terminated",
		  "%ld sessions failed in all, %d connections terminated in all", total_failed, terminated);
	check(stray == 0, "everything_else_succeeds",
		  "%ld of %ld sessions not in flight during a termination failed", stray, after_ops);
	verify_data(&l);
	check_no_leak(pool, app);
	{
		govpool_stats st;

		govpool_stats_get(pool, &st);
		figure("%d clients on pool_size=%d max_overflow=%d, %d rounds: terminated=%d failed=%ld "
			   "invalidated=%llu connect_failures=%llu", clients, cfg.pool_size, cfg.max_overflow,
			   rounds, terminated, total_failed, (unsigned long long) st.invalidated_total,
			   (unsigned long long) st.connect_failures_total);
	}
	log_summary();
	destroy_and_check_closed(pool, app);
	for (int i = 0; i < l.n; i++)
		free(l.w[i].ops);
}

/* ---- Scenario 4: server down at pool start; circuit breaker ---- */

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
		  probes <= elapsed / ((int64_t) cfg->breaker_cooldown_ms * 1000000) + 1,
		  "open_breaker_makes_no_attempts",
		  "%s: %llu connection attempts while open, all of them half-open probes (%d; at most one "
		  "per cool-down of %d ms, %.2f s elapsed)",
		  label, (unsigned long long) (st.connect_failures_total - failures0), probes,
		  cfg->breaker_cooldown_ms, secs(elapsed));
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

static void
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
	r = timed_run(pool, "SELECT 1", &err, &first_ns);
	PQclear(r);
	govpool_stats_get(pool, &st);
	check(r == NULL && err.kind == GOVPOOL_ERR_CONNECT && st.connect_failures_total == (uint64_t) cfg.connect_attempts &&
		  st.circuit == GOVPOOL_CIRCUIT_CLOSED, "connect_retried_with_backoff",
		  "first call: %s after %llu attempts in %.0f ms (backoff base %d ms, max %d ms), breaker %s: %s",
		  r ? "ok" : govpool_status_name(err.kind), (unsigned long long) st.connect_failures_total,
		  msecs(first_ns), cfg.connect_backoff_ms, cfg.connect_backoff_max_ms,
		  govpool_circuit_name(st.circuit), r ? "" : err.message);
	/* 2nd call: failures reach the threshold, the breaker opens */
	r = timed_run(pool, "SELECT 1", &err, &second_ns);
	PQclear(r);
	govpool_stats_get(pool, &st);
	check(r == NULL && err.kind == GOVPOOL_ERR_CONNECT && st.circuit == GOVPOOL_CIRCUIT_OPEN &&
		  st.connect_failures_total == (uint64_t) cfg.breaker_threshold, "breaker_opens",
		  "after %llu consecutive connect failures (threshold %d) the breaker is %s",
		  (unsigned long long) st.connect_failures_total, cfg.breaker_threshold,
		  govpool_circuit_name(st.circuit));
	fail_fast_calls(pool, &cfg, short_run ? 500 : 5000, "server down",
					(first_ns + second_ns) / (int64_t) st.connect_failures_total);

	/* the server returns: after the cool-down one probe closes the breaker */
	server_ctl("start");
	t_up = now_ns();
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
		   "opened after %d failures; closed %.2f s after the server came back (cool-down %d ms)",
		   msecs(first_ns), cfg.connect_attempts, cfg.connect_backoff_ms, cfg.connect_backoff_max_ms,
		   cfg.breaker_threshold, t_closed ? secs(t_closed - t_up) : -1.0, cfg.breaker_cooldown_ms);
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

/* ---- Scenario 5: exhaustion ---- */

typedef struct holder
{
	govpool    *pool;
	int			slot;
	pthread_mutex_t *mu;
	pthread_cond_t *cond;
	bool		release;		/* under *mu */
	bool		got;
	govpool_status commit_rc;
	char		msg[GOVPOOL_MESSAGE_MAX];
} holder;

static void *
holder_main(void *arg)
{
	holder	   *h = arg;
	govpool_context ctx = {"holder", "faults", NULL};
	govpool_error err;
	govpool_session *s;
	PGresult   *r = NULL;

	watch_begin(h->slot, "govpool_begin (holder)", call_watchdog_ms);
	s = govpool_begin(h->pool, &ctx, -1, &err);
	if (s)
		r = govpool_exec(s, "SELECT pg_backend_pid()", 0, NULL, &err);
	watch_end(h->slot);
	PQclear(r);
	h->got = r != NULL;
	if (!h->got)
	{
		snprintf(h->msg, sizeof(h->msg), "%s: %.300s", govpool_status_name(err.kind), err.message);
		if (s)
			govpool_rollback(s);
		h->commit_rc = err.kind;
	}
	pthread_mutex_lock(h->mu);
	while (!h->release)
		pthread_cond_wait(h->cond, h->mu);
	pthread_mutex_unlock(h->mu);
	if (h->got)
	{
		watch_begin(h->slot, "govpool_commit (holder)", call_watchdog_ms);
		h->commit_rc = govpool_commit(s, &err);
		watch_end(h->slot);
		if (h->commit_rc != GOVPOOL_OK)
			snprintf(h->msg, sizeof(h->msg), "%s: %.300s", govpool_status_name(err.kind), err.message);
	}
	return NULL;
}

typedef struct late
{
	govpool    *pool;
	int			slot;
	int			timeout_ms;		/* what to pass to govpool_begin */
	int			watchdog_ms;
	int64_t		wait_ns;
	int64_t		got_ns;			/* when it got a session (0 = it did not) */
	govpool_error err;
} late;

/* A client arriving at an exhausted pool; with a session, it commits at once. */
static void *
late_main(void *arg)
{
	late	   *c = arg;
	govpool_context ctx = {"late", "faults", NULL};
	govpool_session *s;
	int64_t		t0 = now_ns();

	watch_begin(c->slot, "govpool_begin (exhausted pool)", c->watchdog_ms);
	s = govpool_begin(c->pool, &ctx, c->timeout_ms, &c->err);
	watch_end(c->slot);
	c->wait_ns = now_ns() - t0;
	c->got_ns = s ? now_ns() : 0;
	if (s)
	{
		PGresult   *r = govpool_exec(s, "SELECT 1", 0, NULL, &c->err);

		PQclear(r);
		govpool_commit(s, &c->err);
	}
	return NULL;
}

static bool
wait_stats(govpool *pool, int checked_out, int waiters, int timeout_s)
{
	int64_t		deadline = now_ns() + (int64_t) timeout_s * 1000000000;
	govpool_stats st;

	for (;;)
	{
		govpool_stats_get(pool, &st);
		if ((checked_out < 0 || st.checked_out == checked_out) && (waiters < 0 || st.waiters == waiters))
			return true;
		if (now_ns() > deadline)
			return false;
		sleep_ms(1);
	}
}

static void
scenario_exhaustion(void)
{
	const char *app = "faults_exhaustion";
	int			size = 2,
				overflow = short_run ? 1 : 2;
	int			n_late = short_run ? 4 : 12;
	const char *timeout_s = short_run ? "0.5" : "2";
	overlay		ov;
	govpool_config cfg;
	govpool    *pool;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	holder		h[8];
	late		c[16],
				waiter;
	pthread_t	hth[8],
				cth[16],
				wth;
	int			cap;
	int			timed_out = 0,
				early = 0,
				named = 0,
				held = 0,
				committed = 0;
	int64_t		waits[16];
	govpool_stats st;
	int64_t		t_release;

	PQclear(admin_query("CREATE EXTENSION IF NOT EXISTS pg_governance"));
	ov_base(&ov, app);
	ov_set(&ov, "DATABASE_POOL_SIZE", "%d", size);
	ov_set(&ov, "DATABASE_MAX_OVERFLOW", "%d", overflow);
	ov_set(&ov, "DATABASE_POOL_TIMEOUT", "%s", timeout_s);
	pool = make_pool(&ov, &cfg);
	cap = cfg.pool_size + cfg.max_overflow;

	/* pool_size + max_overflow clients take every connection and hold it */
	for (int i = 0; i < cap; i++)
	{
		h[i] = (holder) {pool, watch_slot(), &mu, &cond, false, false, GOVPOOL_OK, ""};
		if (pthread_create(&hth[i], NULL, holder_main, &h[i]) != 0)
			die("pthread_create failed");
	}
	if (!wait_stats(pool, cap, -1, 30))
		die("the holders did not get all %d connections within 30 s", cap);

	/* the late ones: each must get a timeout after the configured wait */
	for (int i = 0; i < n_late; i++)
	{
		c[i] = (late) {pool, watch_slot(), -1, cfg.pool_timeout_ms + call_watchdog_ms, 0, 0, {0}};
		if (pthread_create(&cth[i], NULL, late_main, &c[i]) != 0)
			die("pthread_create failed");
	}
	for (int i = 0; i < n_late; i++)
	{
		pthread_join(cth[i], NULL);
		waits[i] = c[i].wait_ns;
		if (c[i].got_ns == 0 && c[i].err.kind == GOVPOOL_ERR_TIMEOUT)
			timed_out++;
		if (c[i].wait_ns < (int64_t) cfg.pool_timeout_ms * 1000000)
			early++;
		if (strstr(c[i].err.message, "pool exhausted"))
			named++;
	}
	qsort(waits, n_late, sizeof(int64_t), cmp_i64);
	check(timed_out == n_late, "late_clients_time_out",
		  "%d of %d clients beyond pool_size+max_overflow=%d got GOVPOOL_ERR_TIMEOUT", timed_out,
		  n_late, cap);
	check(early == 0, "no_timeout_before_the_configured_wait",
		  "%d returned before DATABASE_POOL_TIMEOUT=%s s; shortest wait %.1f ms", early, timeout_s,
		  msecs(waits[0]));
	check(named == n_late, "timeout_message_says_exhausted", "%d of %d messages say \"pool exhausted\"%s%s",
		  named, n_late, named < n_late ? ": " : "", named < n_late ? c[0].err.message : "");
	figure("pool_size=%d max_overflow=%d, %d late clients, DATABASE_POOL_TIMEOUT=%s s: waited min "
		   "%.1f / median %.1f / max %.1f ms, i.e. %.1f..%.1f ms over the configured %d ms",
		   cfg.pool_size, cfg.max_overflow, n_late, timeout_s, msecs(waits[0]),
		   msecs(pct(waits, n_late, 50)), msecs(waits[n_late - 1]),
		   msecs(waits[0] - (int64_t) cfg.pool_timeout_ms * 1000000),
		   msecs(waits[n_late - 1] - (int64_t) cfg.pool_timeout_ms * 1000000), cfg.pool_timeout_ms);

	/* a waiter with room to wait gets the first connection given back */
	waiter = (late) {pool, watch_slot(), 30000, 30000 + call_watchdog_ms, 0, 0, {0}};
	if (pthread_create(&wth, NULL, late_main, &waiter) != 0)
		die("pthread_create failed");
	if (!wait_stats(pool, cap, 1, 30))
		die("the waiter did not queue within 30 s");
	pthread_mutex_lock(&mu);
	t_release = now_ns();
	h[0].release = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
	pthread_join(wth, NULL);
	check(waiter.got_ns != 0 && waiter.err.kind == GOVPOOL_OK, "waiter_gets_returned_connection",
		  "a waiter (timeout 30 s) got the connection %.2f ms after a holder committed%s%s",
		  waiter.got_ns ? msecs(waiter.got_ns - t_release) : -1.0,
		  waiter.err.kind ? ": " : "", waiter.err.kind ? waiter.err.message : "");

	pthread_mutex_lock(&mu);
	for (int i = 0; i < cap; i++)
		h[i].release = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < cap; i++)
	{
		pthread_join(hth[i], NULL);
		held += h[i].got;
		committed += h[i].got && h[i].commit_rc == GOVPOOL_OK;
	}
	check(held == cap && committed == cap, "holders_commit", "%d held a connection, %d committed%s%s",
		  held, committed, committed < cap ? ": " : "", committed < cap ? h[0].msg : "");
	govpool_stats_get(pool, &st);
	check(st.timeouts_total == (uint64_t) n_late && st.checked_out == 0 && st.waiters == 0,
		  "stats_count_the_timeouts", "timeouts_total=%llu exhaustion_events_total=%llu checked_out=%d "
		  "waiters=%d", (unsigned long long) st.timeouts_total,
		  (unsigned long long) st.exhaustion_events_total, st.checked_out, st.waiters);
	{
		govpool_error err;
		govpool_context ctx = {"after", NULL, NULL};
		PGresult   *r;

		watch_begin(0, "govpool_run", call_watchdog_ms);
		r = govpool_run(pool, &ctx, "SELECT 1", 0, NULL, &err);
		watch_end(0);
		check(r != NULL, "pool_usable_after_exhaustion", "%s", r ? "govpool_run succeeded" : err.message);
		PQclear(r);
	}
	figure("hand-off to a queued waiter: %.2f ms", waiter.got_ns ? msecs(waiter.got_ns - t_release) : -1.0);
	check_no_leak(pool, app);
	log_summary();
	destroy_and_check_closed(pool, app);
}

/* ---- main ---- */

int
main(int argc, char **argv)
{
	pthread_t	wd;
	int			argi = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argi < argc && strcmp(argv[argi], "--short") == 0)
	{
		short_run = true;
		argi++;
	}
	if (argi != argc - 1)
	{
		fprintf(stderr, "usage: faults [--short] crash|restart|terminate|breaker|exhaustion\n");
		return 2;
	}
	scenario = argv[argi];
	log_verbose = getenv("FAULTS_VERBOSE") && strcmp(getenv("FAULTS_VERBOSE"), "0") != 0;
	if (getenv("FAULTS_WATCHDOG_MS") && atoi(getenv("FAULTS_WATCHDOG_MS")) > 0)
		call_watchdog_ms = atoi(getenv("FAULTS_WATCHDOG_MS"));
	scenario_deadline_ns = now_ns() + (int64_t) (short_run ? 150 : 600) * 1000000000;
	if (pthread_create(&wd, NULL, watchdog_main, NULL) != 0)
		die("pthread_create failed");
	pthread_detach(wd);

	if (strcmp(scenario, "crash") == 0)
		scenario_outage(true);
	else if (strcmp(scenario, "restart") == 0)
		scenario_outage(false);
	else if (strcmp(scenario, "terminate") == 0)
		scenario_terminate();
	else if (strcmp(scenario, "breaker") == 0)
		scenario_breaker();
	else if (strcmp(scenario, "exhaustion") == 0)
		scenario_exhaustion();
	else
	{
		fprintf(stderr, "faults: unknown scenario %s\n", scenario);
		return 2;
	}
	printf("# %s: %d checks passed, %d failed\n", scenario, checks_passed, checks_failed);
	return checks_failed ? 1 : 0;
}
