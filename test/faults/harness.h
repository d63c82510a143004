/*
 * harness.h
 *	  What the fault scenarios share: TAP-like output, time, the watchdog,
 *	  the throwaway server (pg_ctl, admin SQL), pool configuration through
 *	  the environment, the pool's log, leak checks (harness.c), and the
 *	  governed write load with its data verification (load.c).
 *
 * One file per scenario (crash.c, restart.c, terminate.c, breaker.c,
 * exhaustion.c); main.c picks one by name.  client/Makefile builds the
 * driver (make -C client faults); scripts/faults.sh runs it.
 *
 * Correctness is asserted; timing is measured and printed.  The clocks
 * that can fail a run are hang detectors and the bounded deadlines of
 * waits for a condition (polled, never slept out).
 */
#ifndef FAULTS_HARNESS_H
#define FAULTS_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <govpool.h>

/* ---- Output (harness.c) ---- */

extern const char *scenario;
extern bool short_run;
extern int	checks_failed;
extern int	checks_passed;
extern bool log_verbose;

/* One assertion: "ok      scenario/name: detail" or "FAILED  ...". */
extern bool check(bool ok, const char *name, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
/* A measured figure: "# scenario: ...". */
extern void figure(const char *fmt,...) __attribute__((format(printf, 1, 2)));
/* The scenario cannot go on (set-up failed): report and exit 2. */
extern void die(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- Time ---- */

extern int64_t now_ns(void);
extern void sleep_ms(int ms);
extern double secs(int64_t ns);
extern double msecs(int64_t ns);
extern int	cmp_i64(const void *a, const void *b);
/* Nearest-rank percentile of a sorted array. */
extern int64_t pct(const int64_t *sorted, int n, double p);

/* ---- Watchdog: hang detection only ---- */

#define MAX_WATCHED 64
#define PGCTL_WATCHDOG_MS 90000 /* pg_ctl has -t 60 of its own */

extern int	call_watchdog_ms;	/* FAULTS_WATCHDOG_MS overrides it */
extern int64_t scenario_deadline_ns;

/* A slot of its own for a thread that makes client calls (slot 0: main). */
extern int	watch_slot(void);
extern void watch_begin(int slot, const char *what, int limit_ms);
extern void watch_end(int slot);
/* Start the watchdog thread (main.c, once). */
extern void watchdog_start(void);

/* ---- The server: pg_ctl, an admin connection ---- */

extern const char *env_required(const char *name);
/* pg_ctl ACTION on the throwaway cluster; returns when pg_ctl does (-w). */
extern void server_ctl(const char *action);
/* pg_ctl ACTION with the watch slot of the calling thread. */
extern void server_ctl_slot(const char *action, int slot);
extern PGconn *admin_connect(void);
extern PGresult *admin_query(const char *sql);
extern long admin_long(const char *sql);

/* ---- Pool configuration: the environment, with the scenario's overrides ---- */

#define MAX_OVERLAY 40

typedef struct overlay
{
	int			n;
	const char *name[MAX_OVERLAY];
	char		value[MAX_OVERLAY][256];
} overlay;

extern void ov_set(overlay *o, const char *name, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern const char *ov_getenv(const char *name, void *ud);
/* What every scenario starts from; breaker and connect settings: the defaults. */
extern void ov_base(overlay *o, const char *app);

/* ---- Pools and their log ---- */

extern govpool *make_pool(overlay *o, govpool_config *cfg_out);
extern void log_summary(void);
/* How many times the pool has logged an event (warn or error) so far. */
extern long log_event_count(const char *name);
extern long server_connections(const char *app);
extern void check_no_leak(govpool *pool, const char *app);
extern void destroy_and_check_closed(govpool *pool, const char *app);

/* ---- The governed write load (load.c): crash, restart, terminate ---- */

#define ID_BASE 10000000LL		/* id = worker * ID_BASE + seq */
#define MAX_WORKERS 32

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
	bool		nonblocking;	/* govpool_run through the event-loop API */
	govpool_op *nb_op;			/* ... with this operation */
	int			nb_efd;			/* ... and this eventfd for its wake callback */
	op		   *ops;			/* ops[seq]; owned by the worker until joined */
	int			n_ops;
	int			cap;
	int64_t		last_ok_start_ns;	/* atomic */
	long		n_ok;			/* atomic */
	long		n_fail;			/* atomic */
	int			n_bad;			/* errors without a clear status/message */
	char		bad[300];		/* the first of them */
} worker;

typedef struct load
{
	int			n;
	worker		w[MAX_WORKERS];
	govpool    *pool;
} load;

extern void load_setup_table(void);
/* n workers; the first n_nonblocking drive govpool_run through govpool_op_poll. */
extern void load_start(load *l, govpool *pool, int n, int n_nonblocking);
extern void load_stop(load *l);
extern long load_ok(load *l);
extern long load_failed(load *l);
/* Wait (with a deadline) until the load has committed `more` transactions. */
extern bool load_wait_ok(load *l, long more, int timeout_s);
/* Wait until every worker committed a transaction it started at or after t. */
extern bool load_wait_healed(load *l, int64_t t, int timeout_s);
/* Failures by status, e.g. "connect=12 circuit_open=40". */
extern void failures_by_status(load *l, char *buf, size_t size);
extern void check_clear_errors(load *l);
/* What the clients were told against what the server has. */
extern void verify_data(load *l);
extern void load_free(load *l);

/* ---- Outages (load.c): crash and restart ---- */

typedef struct outage
{
	int64_t		t_stop;			/* pg_ctl stop/restart invoked */
	int64_t		t_down;			/* the server refuses connections */
	int64_t		t_start;		/* pg_ctl start invoked (crash) */
	int64_t		t_up;			/* the server accepts connections again */
	int64_t		t_end;			/* next outage's t_stop, or the end of the load */
} outage;

/*
 * Heal figures of one outage: every client succeeded again; nothing failed
 * after the last one did.  *heal_all_ns / *heal_first_ns: from t_up to the
 * last client's / the first client's first success on the new server.
 * Returns the number of sessions that failed in [t_stop, t_end).
 */
extern long outage_report(load *l, const outage *o, int k, int64_t *heal_all_ns,
						  int64_t *heal_first_ns);

/*
 * cycles outages under the running load (make causes one and fills its
 * times), each waited out until every client healed; then stop the load.
 * Returns how many completed.
 */
extern int	load_outages(load *l, outage *o, int cycles, long before, long after,
						 void (*make) (load *l, outage *o, void *arg), void *arg);

/* ---- Scenarios ---- */

extern void scenario_crash(void);
extern void scenario_restart(void);
extern void scenario_terminate(void);
extern void scenario_breaker(void);
extern void scenario_exhaustion(void);

#endif							/* FAULTS_HARNESS_H */
