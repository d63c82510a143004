/*
 * side_libpq.c
 *	  The one load generator of the client benchmarks (scripts/bench-side.sh):
 *	  one governed transaction per loop, by libgovpool or by hand with libpq,
 *	  and the ungoverned statement they are measured against.
 *
 *	  side_libpq --stack STACK [--workload select1|pk] [-c N] [-T S] [-W S] [-n TX] [--url URL]
 *
 *	  gov-run       govpool_run from N threads: the prepared set_context and the
 *	                statement up to one Sync, one round trip
 *	  gov-session   govpool_begin / govpool_exec / govpool_commit: two round trips
 *	  gov-async     govpool_run_start driven from ONE thread by an epoll loop,
 *	                -c N operations in flight (no thread per request); also
 *	                prints the memory a queued request costs
 *	  raw-pipe1     one dedicated connection per client, set_context prepared
 *	                once, then per transaction it and the statement in one
 *	                pipeline with one Sync: govpool_run's floor
 *	  raw-one       one dedicated connection per client, the statement alone,
 *	                ungoverned, unprepared (PQexecParams): one round trip
 *	  raw-prep      the same, prepared once per connection (PQexecPrepared):
 *	                what a driver with a statement cache sends, ungoverned
 *	  raw-pipe      one dedicated connection per client, BEGIN, set_context,
 *	                the statement, COMMIT in one libpq pipeline with one Sync
 *	                (what a hand-written governed transaction sends; also
 *	                through PgBouncer, where named statements do not work)
 *	  raw-naive     one dedicated connection per client, one PQexecParams per
 *	                statement: four round trips
 *	  raw-connect   PQconnectdb, the four statements as raw-naive, PQfinish: a new
 *	                connection per transaction
 *
 *	  The libgovpool stacks take their pool from the environment
 *	  (govpool_config_from_env: DATABASE_URL, DATABASE_POOL_SIZE, ...);
 *	  --url overrides DATABASE_URL for the raw stacks (PgBouncer runs them
 *	  against its port).  Workloads: "SELECT 1", or "SELECT v FROM
 *	  bench_side_kv WHERE id = $1" with a random id in 1..10000.
 *
 *	  N client threads loop until W + S seconds have passed; transactions
 *	  that complete in the first W seconds (warm-up) are not counted.  With
 *	  -n TX each client runs exactly TX transactions instead, all counted
 *	  (scripts/context-callgrind.sh counts the server's instructions so).
 *	  The last line is
 *	    summary: stack=... workload=... clients=N seconds=S tx=N errors=N tps=N p50_ms=N p99_ms=N
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "govpool.h"

#define PK_ROWS 10000

typedef enum stack
{
	GOV_RUN,
	GOV_SESSION,
	RAW_PIPE,
	RAW_NAIVE,
	RAW_CONNECT,
	GOV_ASYNC,
	RAW_PIPE1,
	RAW_ONE,
	RAW_PREP
} stack;

static const char *const stack_names[] = {"gov-run", "gov-session", "raw-pipe", "raw-naive", "raw-connect",
"gov-async", "raw-pipe1", "raw-one", "raw-prep"};
static const char *const set_ctx = "SELECT governance.set_context($1, $2, $3, true)";

/* ---- set once before the threads start ---- */
static stack which;
static bool pk;
static const char *stmt;
static const char *url = "";
static govpool *pool;
static double measure_from,
			measure_to;
static long tx_limit;			/* -n: transactions per client, 0 = timed */
static double pause_ms;			/* --pause-ms: think time between a thread's
								 * transactions (not in the latency) */

typedef struct worker
{
	pthread_t	th;
	int			id;
	PGconn	   *conn;			/* dedicated stacks */
	uint64_t	rng;
	unsigned long seq;
	double	   *lat;			/* ms, measured transactions only */
	size_t		n,
				cap;
	long		errors;
	char		last_error[GOVPOOL_MESSAGE_MAX];
	/* gov-async: one operation in flight per worker, all in one thread */
	govpool_op *op;
	double		t0;
	int			fd;
	uint32_t	events;			/* registered for fd */
	bool		ready;
	struct worker *next_ready;
} worker;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool
ok(PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);

	PQclear(r);
	return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* The statement's result: one row expected. */
static bool
ok_row(PGresult *r)
{
	bool		good = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;

	PQclear(r);
	return good;
}

static bool
tx_pipelined(PGconn *c, const char *const *ctx, int np, const char *const *p)
{
	bool		good = true;
	PGresult   *r;

	if (!PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) ||
		!PQsendQueryParams(c, set_ctx, 3, NULL, ctx, NULL, NULL, 0) ||
		!PQsendQueryParams(c, stmt, np, NULL, p, NULL, NULL, 0) ||
		!PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) ||
		!PQpipelineSync(c))
		return false;
	for (int i = 0; i < 4; i++)
	{
		while ((r = PQgetResult(c)) != NULL)
			good &= (i == 2) ? ok_row(r) : ok(r);
	}
	r = PQgetResult(c);
	good &= PQresultStatus(r) == PGRES_PIPELINE_SYNC;
	PQclear(r);
	return good;
}

/* govpool_run's shape by hand: the prepared "ctx" and the statement, one Sync. */
static bool
tx_pipe1(PGconn *c, const char *const *ctx, int np, const char *const *p)
{
	bool		good = true;
	PGresult   *r;

	if (!PQsendQueryPrepared(c, "ctx", 3, ctx, NULL, NULL, 0) ||
		!PQsendQueryParams(c, stmt, np, NULL, p, NULL, NULL, 0) ||
		!PQpipelineSync(c))
		return false;
	for (int i = 0; i < 2; i++)
	{
		while ((r = PQgetResult(c)) != NULL)
			good &= (i == 1) ? ok_row(r) : ok(r);
	}
	r = PQgetResult(c);
	good &= PQresultStatus(r) == PGRES_PIPELINE_SYNC;
	PQclear(r);
	return good;
}

static bool
tx_naive(PGconn *c, const char *const *ctx, int np, const char *const *p)
{
	if (!ok(PQexecParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0)))
		return false;
	if (ok(PQexecParams(c, set_ctx, 3, NULL, ctx, NULL, NULL, 0)) &&
		ok_row(PQexecParams(c, stmt, np, NULL, p, NULL, NULL, 0)) &&
		ok(PQexecParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0)))
		return true;
	PQclear(PQexec(c, "ROLLBACK"));
	return false;
}

static bool
tx_gov(worker *w, const govpool_context *ctx, int np, const char *const *p)
{
	govpool_error err;
	PGresult   *r;
	bool		good;

	memset(&err, 0, sizeof(err));
	if (which == GOV_RUN)
	{
		r = govpool_run(pool, ctx, stmt, np, p, &err);
		good = r != NULL && PQntuples(r) == 1;
		PQclear(r);
	}
	else
	{
		govpool_session *s = govpool_begin(pool, ctx, -1, &err);

		if (s == NULL)
			good = false;
		else
		{
			r = govpool_exec(s, stmt, np, p, &err);
			good = r != NULL && PQntuples(r) == 1;
			PQclear(r);
			if (good)
				good = govpool_commit(s, &err) == GOVPOOL_OK;
			else
				govpool_rollback(s);
		}
	}
	if (!good)
		snprintf(w->last_error, sizeof(w->last_error), "%s", err.message);
	return good;
}

static void *
run(void *arg)
{
	worker	   *w = arg;
	char		agent[32],
				corr[48],
				id[16];
	const char *ctxp[3] = {agent, "bench", corr};
	const char *p[1] = {id};
	govpool_context ctx = {agent, "bench", corr};
	double		t0,
				t1;

	snprintf(agent, sizeof(agent), "bench-%d", w->id);
	if (w->conn && (which == RAW_PIPE || which == RAW_PIPE1) && !PQenterPipelineMode(w->conn))
		return NULL;
	for (t0 = now_s(); tx_limit ? (long) w->seq < tx_limit : t0 < measure_to; t0 = t1)
	{
		bool		good = false;

		/* per transaction: a fresh correlation id and (pk) a random key */
		snprintf(corr, sizeof(corr), "req-%d-%lu", w->id, ++w->seq);
		w->rng ^= w->rng << 13;
		w->rng ^= w->rng >> 7;
		w->rng ^= w->rng << 17;
		snprintf(id, sizeof(id), "%d", (int) (w->rng % PK_ROWS) + 1);

		switch (which)
		{
			case GOV_RUN:
			case GOV_SESSION:
			case GOV_ASYNC:		/* not run by threads */
				good = tx_gov(w, &ctx, pk, p);
				break;
			case RAW_PIPE:
				good = tx_pipelined(w->conn, ctxp, pk, p);
				break;
			case RAW_PIPE1:
				good = tx_pipe1(w->conn, ctxp, pk, p);
				break;
			case RAW_ONE:
				good = ok_row(PQexecParams(w->conn, stmt, pk, NULL, p, NULL, NULL, 0));
				break;
			case RAW_PREP:
				good = ok_row(PQexecPrepared(w->conn, "stmt", pk, p, NULL, NULL, 0));
				break;
			case RAW_NAIVE:
				good = tx_naive(w->conn, ctxp, pk, p);
				break;
			case RAW_CONNECT:
				{
					PGconn	   *c = PQconnectdb(url);

					good = PQstatus(c) == CONNECTION_OK && tx_naive(c, ctxp, pk, p);
					if (!good)
						snprintf(w->last_error, sizeof(w->last_error), "%s", PQerrorMessage(c));
					PQfinish(c);
				}
				break;
		}
		t1 = now_s();
		if (!good)
		{
			w->errors++;
			if (w->conn && which != RAW_CONNECT)
			{
				snprintf(w->last_error, sizeof(w->last_error), "%s", PQerrorMessage(w->conn));
				if (PQstatus(w->conn) != CONNECTION_OK)
					break;
			}
			continue;
		}
		if (!tx_limit && (t1 < measure_from || t1 >= measure_to))
			continue;
		if (w->n == w->cap)
		{
			size_t		cap = w->cap ? w->cap * 2 : 16384;
			double	   *lat = realloc(w->lat, cap * sizeof(double));

			if (lat == NULL)
				break;
			w->lat = lat;
			w->cap = cap;
		}
		w->lat[w->n++] = (t1 - t0) * 1e3;
		if (pause_ms > 0)
		{
			struct timespec ts = {(time_t) (pause_ms / 1e3), (long) (fmod(pause_ms, 1e3) * 1e6)};

			nanosleep(&ts, NULL);
			t1 = now_s();
		}
	}
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

static double
pct(const double *v, size_t n, double q)
{
	size_t		i = (size_t) ceil(q * n);

	if (n == 0)
		return 0;
	if (i > 0)
		i--;
	return v[i < n ? i : n - 1];
}

/*
 * Open the connections the pool keeps (min(clients, pool_size)) before the
 * clock starts, as every pooled stack of bench-side.sh does: check that many
 * sessions out at once and give them back unused (no round trip).
 */
static void
prewarm(int k)
{
	govpool_session **held = calloc(k, sizeof(*held));
	govpool_context ctx = {"bench-warm", "bench", NULL};
	govpool_error err;

	for (int i = 0; held && i < k; i++)
		held[i] = govpool_begin(pool, &ctx, -1, &err);
	for (int i = 0; held && i < k; i++)
		if (held[i])
			govpool_rollback(held[i]);
	free(held);
}

/* ---- gov-async: one thread, one epoll set, N operations in flight ---- */

static long async_rss_per_request;	/* measured when all n were started */
static size_t async_arg_bytes;	/* what govpool_run_start copies, per request */
static worker *ready_head;
static worker **fd_owner;
static int	fd_cap;

static void
make_ready(worker *w)
{
	if (!w->ready)
	{
		w->ready = true;
		w->next_ready = ready_head;
		ready_head = w;
	}
}

static void
on_wake(govpool_op *op, void *ud)
{
	(void) op;
	make_ready(ud);
}

/* (Re)register w's socket; a closed fd number may already be another's. */
static void
watch(int ep, worker *w, const govpool_wait *gw)
{
	struct epoll_event ev = {0};
	int			fd = gw ? gw->fd : -1;

	if (w->fd >= 0 && w->fd != fd)
	{
		if (fd_owner[w->fd] == w)
		{
			(void) epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, NULL);
			fd_owner[w->fd] = NULL;
		}
		w->fd = -1;
	}
	if (fd < 0 || fd >= fd_cap)
		return;
	ev.events = (gw->want_read ? EPOLLIN : 0) | (gw->want_write ? EPOLLOUT : 0);
	if (w->fd == fd && w->events == ev.events && fd_owner[fd] == w)
		return;					/* registered as it is: no syscall */
	w->events = ev.events;
	ev.data.ptr = w;
	if (epoll_ctl(ep, w->fd == fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0)
		(void) epoll_ctl(ep, errno == EEXIST ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
	w->fd = fd;
	fd_owner[fd] = w;
}

static void
async_start(worker *w)
{
	char		agent[32],
				corr[48],
				id[16];
	const char *p[1] = {id};
	govpool_context ctx = {agent, "bench", corr};

	snprintf(agent, sizeof(agent), "bench-%d", w->id);
	snprintf(corr, sizeof(corr), "req-%d-%lu", w->id, ++w->seq);
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	snprintf(id, sizeof(id), "%d", (int) (w->rng % PK_ROWS) + 1);
	w->t0 = now_s();
	govpool_run_start(w->op, &ctx, stmt, pk, p);	/* arguments are copied */
	async_arg_bytes = sizeof(char *) * (size_t) (pk + 1) + strlen(agent) + 1 + strlen("bench") + 1 +
		strlen(corr) + 1 + strlen(stmt) + 1 + (pk ? strlen(id) + 1 : 0);
}

static void
async_done(worker *w, govpool_poll p)
{
	PGresult   *r = govpool_op_result(w->op);
	bool		good = p == GOVPOOL_POLL_OK && r && PQntuples(r) == 1;
	double		t1 = now_s();

	PQclear(r);
	if (!good)
	{
		w->errors++;
		snprintf(w->last_error, sizeof(w->last_error), "%s", govpool_op_error(w->op)->message);
		return;
	}
	if (t1 < measure_from || t1 >= measure_to)
		return;
	if (w->n == w->cap)
	{
		size_t		cap = w->cap ? w->cap * 2 : 1024;
		double	   *lat = realloc(w->lat, cap * sizeof(double));

		if (lat == NULL)
			return;
		w->lat = lat;
		w->cap = cap;
	}
	w->lat[w->n++] = (t1 - w->t0) * 1e3;
}

/* Resident set size of this process, bytes (/proc/self/statm). */
static long
rss_bytes(void)
{
	FILE	   *f = fopen("/proc/self/statm", "r");
	long		size,
				res = 0;

	if (f)
	{
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * sysconf(_SC_PAGESIZE);
}


static void
async_loop(worker *ws, int n)
{
	int			ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event *ev = calloc(n, sizeof(*ev));
	int			active = n;
	long		rss0;

	fd_cap = 1 << 16;
	fd_owner = calloc(fd_cap, sizeof(*fd_owner));
	if (ep < 0 || ev == NULL || fd_owner == NULL)
		exit(1);
	/*
	 * What n requests cost before any is served: n handles, each holding
	 * its copied arguments (most of them will queue for a connection).
	 */
	rss0 = rss_bytes();
	for (int i = 0; i < n; i++)
	{
		ws[i].fd = -1;
		ws[i].op = govpool_op_create(pool);
		if (ws[i].op == NULL)
			exit(1);
		govpool_op_set_wake(ws[i].op, on_wake, &ws[i]);
		async_start(&ws[i]);
		make_ready(&ws[i]);
	}
	async_rss_per_request = (rss_bytes() - rss0) / n;
	while (active > 0)
	{
		int			got;

		while (ready_head)
		{
			worker	   *w = ready_head;

			ready_head = w->next_ready;
			w->ready = false;
			for (;;)
			{
				govpool_wait gw;
				govpool_poll p = govpool_op_poll(w->op, &gw);

				if (p != GOVPOOL_POLL_OK && p != GOVPOOL_POLL_FAILED)
				{
					watch(ep, w, &gw);
					break;
				}
				async_done(w, p);
				if (now_s() >= measure_to)
				{
					watch(ep, w, NULL);
					active--;
					break;
				}
				async_start(w);
			}
		}
		if (active == 0)
			break;
		got = epoll_wait(ep, ev, n, 100);
		for (int i = 0; i < got; i++)
			make_ready(ev[i].data.ptr);
		if (got == 0)			/* deadlines (queue timeout, connect): poll everyone */
			for (int i = 0; i < n; i++)
				make_ready(&ws[i]);
	}
	for (int i = 0; i < n; i++)
		govpool_op_destroy(ws[i].op);
	free(ev);
	free(fd_owner);
}

static void
usage(void)
{
	fprintf(stderr, "usage: side_libpq --stack gov-run|gov-session|gov-async|raw-pipe1|raw-one|raw-prep|raw-pipe|raw-naive|raw-connect\n"
			"                  [--workload select1|pk] [-c CLIENTS] [-T SECONDS] [-W WARMUP] [-n TX] [--url URL]\n"
			"                  [--pause-ms MS (threads: think time between transactions)]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int			clients = 16;
	double		seconds = 3,
				warmup = 0.3,
				start;
	int			stack_i = -1;
	worker	   *w;
	size_t		total = 0;
	long		errors = 0;
	double	   *all;
	const char *last_error = NULL;
	govpool_config cfg;

	if (getenv("DATABASE_URL"))
		url = getenv("DATABASE_URL");
	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--stack") == 0)
		{
			for (int s = 0; s < (int) (sizeof(stack_names) / sizeof(*stack_names)); s++)
				if (strcmp(v, stack_names[s]) == 0)
					stack_i = s;
		}
		else if (strcmp(a, "--workload") == 0 && (strcmp(v, "select1") == 0 || strcmp(v, "pk") == 0))
			pk = strcmp(v, "pk") == 0;
		else if (strcmp(a, "-c") == 0 && atoi(v) > 0)
			clients = atoi(v);
		else if (strcmp(a, "-T") == 0 && atof(v) > 0)
			seconds = atof(v);
		else if (strcmp(a, "-W") == 0 && atof(v) >= 0)
			warmup = atof(v);
		else if (strcmp(a, "-n") == 0 && atol(v) > 0)
			tx_limit = atol(v);
		else if (strcmp(a, "--url") == 0)
			url = v;
		else if (strcmp(a, "--pause-ms") == 0 && atof(v) >= 0)
			pause_ms = atof(v);
		else
			usage();
	}
	if (stack_i < 0)
		usage();
	which = (stack) stack_i;
	stmt = pk ? "SELECT v FROM bench_side_kv WHERE id = $1" : "SELECT 1";

	w = calloc(clients, sizeof(*w));
	if (w == NULL)
		return 1;
	if (which == GOV_RUN || which == GOV_SESSION || which == GOV_ASYNC)
	{
		govpool_error err;

		if (govpool_config_from_env(&cfg, &err) != GOVPOOL_OK)
		{
			fprintf(stderr, "side_libpq: configuration error: %s\n", err.message);
			return 3;
		}
		pool = govpool_create(&cfg, &err);
		if (pool == NULL || err.kind != GOVPOOL_OK)
		{
			fprintf(stderr, "side_libpq: %s\n", pool ? err.message : "out of memory");
			return 1;
		}
		prewarm(clients < cfg.pool_size ? clients : cfg.pool_size);
	}
	else if (which != RAW_CONNECT)
	{
		for (int i = 0; i < clients; i++)
		{
			w[i].conn = PQconnectdb(url);
			if (PQstatus(w[i].conn) != CONNECTION_OK)
			{
				fprintf(stderr, "side_libpq: %s", PQerrorMessage(w[i].conn));
				return 1;
			}
			if ((which == RAW_PIPE1 && !ok(PQprepare(w[i].conn, "ctx", set_ctx, 3, NULL))) ||
				(which == RAW_PREP && !ok(PQprepare(w[i].conn, "stmt", stmt, pk, NULL))))
			{
				fprintf(stderr, "side_libpq: PREPARE: %s", PQerrorMessage(w[i].conn));
				return 1;
			}
		}
	}
	start = now_s();
	measure_from = start + warmup;
	measure_to = measure_from + seconds;
	for (int i = 0; i < clients; i++)
	{
		w[i].id = i;
		w[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t) (i + 1) ^ (uint64_t) (start * 1e6);
		if (which != GOV_ASYNC)
			pthread_create(&w[i].th, NULL, run, &w[i]);
	}
	if (which == GOV_ASYNC)
	{
		async_loop(w, clients);
		printf("async: in_flight=%d threads=1 op_bytes=%zu arg_bytes=%zu rss_per_request=%ld\n",
			   clients, govpool_op_size(), async_arg_bytes, async_rss_per_request);
	}
	else
		for (int i = 0; i < clients; i++)
			pthread_join(w[i].th, NULL);

	for (int i = 0; i < clients; i++)
	{
		total += w[i].n;
		errors += w[i].errors;
		if (w[i].errors)
			last_error = w[i].last_error;
	}
	all = malloc((total + 1) * sizeof(double));
	if (all == NULL)
		return 1;
	total = 0;
	for (int i = 0; i < clients; i++)
	{
		memcpy(all + total, w[i].lat, w[i].n * sizeof(double));
		total += w[i].n;
		free(w[i].lat);
		PQfinish(w[i].conn);
	}
	qsort(all, total, sizeof(double), cmp);
	if (pool)
	{
		govpool_stats st;

		govpool_stats(pool, &st);
		printf("pool: pool_size=%d max_overflow=%d overflow_idle_ms=%d connects=%llu idle_closed=%llu"
			   " connects_per_tx=%.4f\n", cfg.pool_size, cfg.max_overflow, cfg.overflow_idle_ms,
			   (unsigned long long) st.connects_total, (unsigned long long) st.idle_closed_total,
			   (double) st.connects_total / (double) (st.acquires_total ? st.acquires_total : 1));
		govpool_destroy(pool);
	}
	if (last_error)
		printf("last error: %s\n", last_error);
	printf("summary: stack=%s workload=%s clients=%d seconds=%.2f tx=%zu errors=%ld tps=%.1f p50_ms=%.3f p99_ms=%.3f\n",
		   stack_names[which], pk ? "pk" : "select1", clients, seconds, total, errors, total / seconds,
		   pct(all, total, 0.50), pct(all, total, 0.99));
	free(all);
	free(w);
	return total ? 0 : 1;
}
