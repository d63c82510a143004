/*
 * govpool.c
 *	  The govpool command: check, stats, exec and bench over libgovpool.
 *
 * Configuration comes from the environment exactly as for the library
 * (govpool_config_from_env).  Exit codes: 0 success, 1 database error or
 * unhealthy, 2 usage error, 3 configuration error.
 */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "govpool.h"

#define EXIT_DB 1
#define EXIT_USAGE 2
#define EXIT_CONFIG 3

static const char *progname = "govpool";

static void
usage_main(FILE *f)
{
	fprintf(f,
			"govpool %s: pooled, governed PostgreSQL sessions (libgovpool)\n\n"
			"Usage: govpool COMMAND [OPTIONS]\n\n"
			"Commands:\n"
			"  check                 health check: SELECT 1 through the pool (exit 0 healthy, 1 not)\n"
			"  stats                 pool statistics after a health probe (--json, --prometheus)\n"
			"  exec                  run one SQL statement as a governed transaction\n"
			"  bench                 governed multi-client benchmark\n\n"
			"Run 'govpool COMMAND --help' for a command's options.\n"
			"Configuration: DATABASE_URL, ENVIRONMENT, DATABASE_* / DB_* / GOVPOOL_* variables, PG*.\n\n"
			"Exit codes: 0 ok, 1 database error or unhealthy, 2 usage error, 3 configuration error.\n",
			GOVPOOL_VERSION);
}

/* Pool from the environment; exits with EXIT_CONFIG / EXIT_DB on failure. */
static govpool *
open_pool(govpool_config *cfg, int min_size)
{
	govpool_error err;
	govpool    *pool;

	if (govpool_config_from_env(cfg, &err) != GOVPOOL_OK)
	{
		fprintf(stderr, "%s: configuration error: %s\n", progname, err.message);
		exit(EXIT_CONFIG);
	}
	if (min_size > 0 && cfg->pool_size < min_size)
		cfg->pool_size = min_size;	/* bench: one kept connection per client */
	pool = govpool_create(cfg, &err);
	if (pool == NULL)
	{
		fprintf(stderr, "%s: out of memory\n", progname);
		exit(EXIT_DB);
	}
	if (err.kind != GOVPOOL_OK)
	{
		fprintf(stderr, "%s: %s\n", progname, err.message);
		govpool_destroy(pool);
		exit(err.kind == GOVPOOL_ERR_CONFIG ? EXIT_CONFIG : EXIT_DB);
	}
	return pool;
}

static bool
wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/* ---- check ---- */

static int
cmd_check(int argc, char **argv)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_health_report h;
	char		target[256];

	if (wants_help(argc, argv))
	{
		printf("Usage: govpool check\n\n"
			   "Opens the pool from the environment, runs SELECT 1 through it and prints\n"
			   "the round-trip time and the target (password never shown).\n"
			   "Exit 0 when healthy, 1 when not, 3 on a configuration error.\n");
		return 0;
	}
	if (argc > 1)
	{
		fprintf(stderr, "%s check: unexpected argument \"%s\"\n", progname, argv[1]);
		return EXIT_USAGE;
	}
	pool = open_pool(&cfg, 0);
	govpool_config_describe(&cfg, target, sizeof(target));
	if (govpool_health(pool, &h))
		printf("ok: %s rtt_ms=%.3f pool_size=%d max_overflow=%d circuit=%s\n", target, h.rtt_ms,
			   h.stats.pool_size, h.stats.max_overflow, govpool_circuit_name(h.stats.circuit));
	else
		printf("unhealthy: %s error=%s: %s\n", target, govpool_status_name(h.error.kind), h.error.message);
	govpool_destroy(pool);
	return h.ok ? 0 : EXIT_DB;
}

/* ---- stats ---- */

static int
cmd_stats(int argc, char **argv)
{
	govpool_config cfg;
	govpool    *pool;
	govpool_health_report h;
	int			format = GOVPOOL_FORMAT_TEXT;
	char	   *buf;
	int			n;

	if (wants_help(argc, argv))
	{
		printf("Usage: govpool stats [--json | --prometheus]\n\n"
			   "Opens a pool from the environment, runs one health probe through it and\n"
			   "prints that pool's statistics: as text (default), JSON or Prometheus\n"
			   "exposition text.  Long-lived applications publish their own pools' stats\n"
			   "with govpool_stats_format().  Exit 0, or 1 if the probe failed.\n");
		return 0;
	}
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--json") == 0)
			format = GOVPOOL_FORMAT_JSON;
		else if (strcmp(argv[i], "--prometheus") == 0)
			format = GOVPOOL_FORMAT_PROMETHEUS;
		else
		{
			fprintf(stderr, "%s stats: unknown option \"%s\"\n", progname, argv[i]);
			return EXIT_USAGE;
		}
	}
	pool = open_pool(&cfg, 0);
	govpool_health(pool, &h);
	/* every form from stats.c's one table of fields */
	n = govpool_stats_format(pool, (govpool_format) format, NULL, 0);
	buf = malloc(n + 1);
	if (buf)
	{
		govpool_stats_format(pool, (govpool_format) format, buf, n + 1);
		fputs(buf, stdout);
		if (format == GOVPOOL_FORMAT_JSON)
			putchar('\n');
		free(buf);
	}
	if (!h.ok)
		fprintf(stderr, "%s stats: health probe failed: %s\n", progname, h.error.message);
	govpool_destroy(pool);
	return h.ok ? 0 : EXIT_DB;
}

/* ---- exec ---- */

static void
print_result(PGresult *r, bool tuples_only)
{
	int			nf = PQnfields(r),
				nt = PQntuples(r);

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		printf("%s\n", PQcmdStatus(r));
		return;
	}
	if (!tuples_only)
		for (int f = 0; f < nf; f++)
			printf("%s%s", f ? "|" : "", PQfname(r, f));
	if (!tuples_only)
		putchar('\n');
	for (int t = 0; t < nt; t++)
	{
		for (int f = 0; f < nf; f++)
			printf("%s%s", f ? "|" : "", PQgetisnull(r, t, f) ? "" : PQgetvalue(r, t, f));
		putchar('\n');
	}
	if (!tuples_only)
		printf("(%d row%s)\n", nt, nt == 1 ? "" : "s");
}

static int
cmd_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		{"agent", required_argument, NULL, 'a'},
		{"tenant", required_argument, NULL, 't'},
		{"correlation", required_argument, NULL, 'C'},
		{"tuples-only", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	govpool_context ctx = {NULL, NULL, NULL};
	bool		tuples_only = false;
	int			c;
	govpool_config cfg;
	govpool    *pool;
	govpool_error err;
	PGresult   *r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+a:t:C:qh", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'a':
				ctx.agent_id = optarg;
				break;
			case 't':
				ctx.tenant_id = optarg;
				break;
			case 'C':
				ctx.correlation_id = optarg;
				break;
			case 'q':
				tuples_only = true;
				break;
			case 'h':
				printf("Usage: govpool exec --agent AGENT [--tenant TENANT] [--correlation ID] [-q] SQL [PARAM...]\n\n"
					   "Runs SQL as one governed transaction (governance.set_context and SQL\n"
					   "up to one Sync: one round trip).  PARAMs bind to $1, $2, ... as text.\n"
					   "Prints rows like psql -A: a header, '|'-separated values, a row count;\n"
					   "-q/--tuples-only prints the values only.  Commands print their tag.\n"
					   "Exit 0, 1 on a database error (message on stderr), 2 on usage, 3 on configuration.\n");
				return 0;
			default:
				return EXIT_USAGE;
		}
	}
	if (ctx.agent_id == NULL)
	{
		fprintf(stderr, "%s exec: --agent is required\n", progname);
		return EXIT_USAGE;
	}
	if (optind >= argc)
	{
		fprintf(stderr, "%s exec: missing SQL\n", progname);
		return EXIT_USAGE;
	}
	pool = open_pool(&cfg, 0);
	r = govpool_run(pool, &ctx, argv[optind], argc - optind - 1,
					(const char *const *) (argv + optind + 1), &err);
	if (r == NULL)
	{
		fprintf(stderr, "%s exec: %s%s%s: %s\n", progname, govpool_status_name(err.kind),
				err.sqlstate[0] ? " SQLSTATE " : "", err.sqlstate, err.message);
		govpool_destroy(pool);
		return err.kind == GOVPOOL_ERR_MISUSE ? EXIT_USAGE : EXIT_DB;
	}
	print_result(r, tuples_only);
	PQclear(r);
	govpool_destroy(pool);
	return 0;
}

/* ---- bench ---- */

typedef struct bench_thread
{
	pthread_t	th;
	govpool    *pool;
	const char *sql;
	bool		session_mode;
	int			id;
	int			tenants;
	volatile int *stop;
	double	   *lat;			/* microseconds */
	size_t		n,
				cap;
	long		errors;
	long		done;			/* read by the progress line */
	char		last_error[GOVPOOL_MESSAGE_MAX];
} bench_thread;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
bench_main(void *p)
{
	bench_thread *b = p;
	char		agent[32],
				tenant[32];
	govpool_context ctx = {agent, tenant, NULL};

	snprintf(agent, sizeof(agent), "bench-%d", b->id);
	if (b->tenants > 1)
		snprintf(tenant, sizeof(tenant), "tenant-%d", b->id % b->tenants + 1);
	else
		snprintf(tenant, sizeof(tenant), "bench");
	while (!__atomic_load_n(b->stop, __ATOMIC_RELAXED))
	{
		double		t0 = now_s();
		govpool_error err;
		bool		ok = false;

		if (b->session_mode)
		{
			govpool_session *s = govpool_begin(b->pool, &ctx, -1, &err);

			if (s)
			{
				PGresult   *r = govpool_exec(s, b->sql, 0, NULL, &err);

				ok = r != NULL;
				PQclear(r);
				if (ok)
					ok = govpool_commit(s, &err) == GOVPOOL_OK;
				else
					govpool_rollback(s);
			}
		}
		else
		{
			PGresult   *r = govpool_run(b->pool, &ctx, b->sql, 0, NULL, &err);

			ok = r != NULL;
			PQclear(r);
		}
		if (!ok)
		{
			b->errors++;
			snprintf(b->last_error, sizeof(b->last_error), "%s", err.message);
			continue;
		}
		if (b->n == b->cap)
		{
			size_t		cap = b->cap ? b->cap * 2 : 65536;
			double	   *lat = realloc(b->lat, cap * sizeof(double));

			if (lat == NULL)
				break;
			b->lat = lat;
			b->cap = cap;
		}
		b->lat[b->n++] = (now_s() - t0) * 1e6;
		__atomic_store_n(&b->done, (long) b->n, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

static double
pct(const double *v, size_t n, double q)
{
	size_t		i;

	if (n == 0)
		return 0;
	i = (size_t) ceil(q * n);
	if (i > 0)
		i--;
	return v[i < n ? i : n - 1];
}

static int
cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{"clients", required_argument, NULL, 'c'},
		{"time", required_argument, NULL, 'T'},
		{"run", no_argument, NULL, 'r'},
		{"session", no_argument, NULL, 's'},
		{"sql", required_argument, NULL, 'S'},
		{"tenants", required_argument, NULL, 'n'},
		{"stats", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			tenants = 1;
	bool		show_stats = false;
	int			clients = 16,
				c;
	double		seconds = 10;
	bool		session_mode = false;
	const char *sqltext = "SELECT 1";
	govpool_config cfg;
	govpool    *pool;
	bench_thread *bt;
	volatile int stop = 0;
	double		start,
				elapsed,
				next_progress;
	bool		tty = isatty(STDOUT_FILENO);
	size_t		total = 0;
	long		errors = 0;
	double	   *all;
	const char *last_error = NULL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:T:h", opts, NULL)) != -1)
	{
		char	   *end;

		switch (c)
		{
			case 'c':
				clients = (int) strtol(optarg, &end, 10);
				if (*end || clients < 1 || clients > 1000)
				{
					fprintf(stderr, "%s bench: -c must be 1..1000\n", progname);
					return EXIT_USAGE;
				}
				break;
			case 'T':
				seconds = strtod(optarg, &end);
				if (*end || !(seconds > 0 && seconds <= 86400))
				{
					fprintf(stderr, "%s bench: -T must be a number of seconds > 0\n", progname);
					return EXIT_USAGE;
				}
				break;
			case 'r':
				session_mode = false;
				break;
			case 's':
				session_mode = true;
				break;
			case 'S':
				sqltext = optarg;
				break;
			case 'n':
				tenants = atoi(optarg);
				if (tenants < 1 || tenants > 1000)
				{
					fprintf(stderr, "%s bench: --tenants must be 1..1000\n", progname);
					return EXIT_USAGE;
				}
				break;
			case 'P':
				show_stats = true;
				break;
			case 'h':
				printf("Usage: govpool bench [-c CLIENTS] [-T SECONDS] [--run | --session] [--sql SQL]\n"
					   "                     [--tenants N] [--stats]\n\n"
					   "CLIENTS threads (default 16) run governed transactions for SECONDS\n"
					   "(default 10): --run (default) uses govpool_run (one round trip each),\n"
					   "--session uses govpool_begin / govpool_exec / govpool_commit.\n"
					   "Client i acts as agent bench-i, tenant 'bench' (or tenant-1..N with\n"
					   "--tenants N).  --stats prints the pool's statistics at the end.\n"
					   "The statement is SELECT 1 unless --sql is given.  pool_size is raised to\n"
					   "CLIENTS (one kept connection per client); echo is off.  On a terminal a progress line\n"
					   "is updated every second.  The last line is a parseable summary:\n"
					   "  summary: mode=run clients=16 seconds=10.00 tx=N errors=N tps=N p50_ms=N p95_ms=N p99_ms=N\n"
					   "Exit 0, 1 if every transaction failed, 2 on usage, 3 on configuration.\n");
				return 0;
			default:
				return EXIT_USAGE;
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "%s bench: unexpected argument \"%s\"\n", progname, argv[optind]);
		return EXIT_USAGE;
	}
	setenv("DATABASE_ECHO", "false", 1);
	unsetenv("DB_ECHO_SQL");
	pool = open_pool(&cfg, clients);
	bt = calloc(clients, sizeof(*bt));
	if (bt == NULL)
		return EXIT_DB;
	start = now_s();
	for (int i = 0; i < clients; i++)
	{
		bt[i] = (bench_thread) {.pool = pool, .sql = sqltext, .session_mode = session_mode, .id = i,
		.tenants = tenants, .stop = &stop};
		pthread_create(&bt[i].th, NULL, bench_main, &bt[i]);
	}
	next_progress = start + 1;
	for (;;)
	{
		double		t = now_s();
		struct timespec ts = {0, 50 * 1000000};

		if (t - start >= seconds)
			break;
		if (tty && t >= next_progress)
		{
			long		done = 0,
						errs = 0;

			for (int i = 0; i < clients; i++)
			{
				done += __atomic_load_n(&bt[i].done, __ATOMIC_RELAXED);
				errs += __atomic_load_n(&bt[i].errors, __ATOMIC_RELAXED);
			}
			printf("\r[%5.1f s / %.0f s] %ld tx  %.0f tx/s  %ld errors   ", t - start, seconds, done,
				   done / (t - start), errs);
			fflush(stdout);
			next_progress += 1;
		}
		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < clients; i++)
		pthread_join(bt[i].th, NULL);
	elapsed = now_s() - start;
	if (tty)
		printf("\r%*s\r", 70, "");

	for (int i = 0; i < clients; i++)
	{
		total += bt[i].n;
		errors += bt[i].errors;
		if (bt[i].errors)
			last_error = bt[i].last_error;
	}
	all = malloc((total ? total : 1) * sizeof(double));
	total = 0;
	for (int i = 0; i < clients; i++)
	{
		if (all)
			memcpy(all + total, bt[i].lat, bt[i].n * sizeof(double));
		total += bt[i].n;
	}
	if (all)
		qsort(all, total, sizeof(double), cmp_double);
	printf("bench: %s, %d clients, %.2f s, pool_size=%d max_overflow=%d\n",
		   session_mode ? "begin/exec/commit" : "govpool_run", clients, elapsed, cfg.pool_size, cfg.max_overflow);
	if (last_error)
		printf("last error: %s\n", last_error);
	printf("summary: mode=%s clients=%d seconds=%.2f tx=%zu errors=%ld tps=%.1f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f\n",
		   session_mode ? "session" : "run", clients, elapsed, total, errors, total / elapsed,
		   all ? pct(all, total, 0.50) / 1000 : 0, all ? pct(all, total, 0.95) / 1000 : 0,
		   all ? pct(all, total, 0.99) / 1000 : 0);
	free(all);
	if (show_stats)
	{
		char		json[4096];

		govpool_stats_format(pool, GOVPOOL_FORMAT_JSON, json, sizeof(json));
		printf("pool stats: %s\n", json);
	}
	for (int i = 0; i < clients; i++)
		free(bt[i].lat);
	free(bt);
	govpool_destroy(pool);
	return total == 0 ? EXIT_DB : 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
	{
		usage_main(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)
	{
		usage_main(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
	{
		printf("govpool %s\n", GOVPOOL_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "stats") == 0)
		return cmd_stats(argc - 1, argv + 1);
	if (strcmp(argv[1], "exec") == 0)
		return cmd_exec(argc - 1, argv + 1);
	if (strcmp(argv[1], "bench") == 0)
		return cmd_bench(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command \"%s\" (try govpool --help)\n", progname, argv[1]);
	return EXIT_USAGE;
}
