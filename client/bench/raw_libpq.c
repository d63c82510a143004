/*
 * raw_libpq.c
 *	  Baseline for scripts/bench-client.sh: what libgovpool does, by hand,
 *	  on dedicated connections (one per thread, no pool).
 *
 *	  raw_libpq --pipelined   -c N -T S   BEGIN, set_context, SELECT 1, COMMIT in one pipeline
 *	  raw_libpq --unpipelined -c N -T S   the same four statements, one round trip each
 *
 * Prints the same "summary:" line as govpool bench.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

static const char *set_ctx = "SELECT governance.set_context($1, $2, $3, true)";
static volatile int stop;
static bool pipelined;

typedef struct worker
{
	pthread_t	th;
	int			id;
	PGconn	   *conn;
	double	   *lat;
	size_t		n,
				cap;
	long		errors;
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

static bool
one_pipelined(PGconn *c, const char *const *p)
{
	bool		good = true;
	PGresult   *r;

	PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
	PQsendQueryParams(c, set_ctx, 3, NULL, p, NULL, NULL, 0);
	PQsendQueryParams(c, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0);
	PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
	PQpipelineSync(c);
	for (int i = 0; i < 4; i++)
	{
		while ((r = PQgetResult(c)) != NULL)
			good &= ok(r);
	}
	r = PQgetResult(c);
	good &= PQresultStatus(r) == PGRES_PIPELINE_SYNC;
	PQclear(r);
	return good;
}

static bool
one_unpipelined(PGconn *c, const char *const *p)
{
	return ok(PQexecParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0)) &&
		ok(PQexecParams(c, set_ctx, 3, NULL, p, NULL, NULL, 0)) &&
		ok(PQexecParams(c, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0)) &&
		ok(PQexecParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0));
}

static void *
run(void *arg)
{
	worker	   *w = arg;
	char		agent[32];
	const char *p[3] = {agent, "bench", NULL};

	snprintf(agent, sizeof(agent), "bench-%d", w->id);
	if (pipelined)
		PQenterPipelineMode(w->conn);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
	{
		double		t0 = now_s();
		bool		good = pipelined ? one_pipelined(w->conn, p) : one_unpipelined(w->conn, p);

		if (!good)
		{
			w->errors++;
			if (PQstatus(w->conn) != CONNECTION_OK)
				break;
			continue;
		}
		if (w->n == w->cap)
		{
			w->cap = w->cap ? w->cap * 2 : 65536;
			w->lat = realloc(w->lat, w->cap * sizeof(double));
		}
		w->lat[w->n++] = (now_s() - t0) * 1e3;
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

int
main(int argc, char **argv)
{
	int			clients = 16;
	double		seconds = 3,
				t0,
				el;
	const char *url = getenv("DATABASE_URL");
	worker	   *w;
	size_t		total = 0;
	long		errors = 0;
	double	   *all;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--pipelined") == 0)
			pipelined = true;
		else if (strcmp(argv[i], "--unpipelined") == 0)
			pipelined = false;
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			clients = atoi(argv[++i]);
		else if (strcmp(argv[i], "-T") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else
		{
			fprintf(stderr, "usage: raw_libpq --pipelined|--unpipelined [-c N] [-T S]\n");
			return 2;
		}
	}
	w = calloc(clients, sizeof(*w));
	for (int i = 0; i < clients; i++)
	{
		w[i].id = i;
		w[i].conn = PQconnectdb(url ? url : "");
		if (PQstatus(w[i].conn) != CONNECTION_OK)
		{
			fprintf(stderr, "raw_libpq: %s", PQerrorMessage(w[i].conn));
			return 1;
		}
	}
	t0 = now_s();
	for (int i = 0; i < clients; i++)
		pthread_create(&w[i].th, NULL, run, &w[i]);
	while (now_s() - t0 < seconds)
	{
		struct timespec ts = {0, 20 * 1000000};

		nanosleep(&ts, NULL);
	}
	stop = 1;
	for (int i = 0; i < clients; i++)
		pthread_join(w[i].th, NULL);
	el = now_s() - t0;
	for (int i = 0; i < clients; i++)
	{
		total += w[i].n;
		errors += w[i].errors;
	}
	all = malloc((total + 1) * sizeof(double));
	total = 0;
	for (int i = 0; i < clients; i++)
	{
		memcpy(all + total, w[i].lat, w[i].n * sizeof(double));
		total += w[i].n;
		free(w[i].lat);
		PQfinish(w[i].conn);
	}
	qsort(all, total, sizeof(double), cmp);
#define P(q) (total ? all[(size_t) fmin(total - 1, fmax(0, ceil((q) * total) - 1))] : 0)
	printf("summary: mode=%s clients=%d seconds=%.2f tx=%zu errors=%ld tps=%.1f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f\n",
		   pipelined ? "raw_pipelined" : "raw_unpipelined", clients, el, total, errors, total / el,
		   P(0.50), P(0.95), P(0.99));
	free(all);
	free(w);
	return total ? 0 : 1;
}
