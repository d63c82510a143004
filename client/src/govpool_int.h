/*
 * govpool_int.h
 *	  Internal types shared by the files of libgovpool (not installed).
 *
 * Shape (after pgxpool / HikariCP): entry.c holds one connection and its
 * timestamps; bag.c does only concurrency (borrow / give back / remove over
 * per-slot state, FIFO waiters); pool.c holds the policy (when to check,
 * recycle, reset, invalidate, retry); session.c the governed transaction.
 */
#ifndef GOVPOOL_INT_H
#define GOVPOOL_INT_H

#include <pthread.h>
#include <stdarg.h>

#include "govpool.h"

/* Limits of the context in characters, as the server counts them (UTF-8). */
#define GP_MAX_AGENT 256
#define GP_MAX_TENANT 256
#define GP_MAX_CORRELATION 128		/* ASCII only */
/* Bytes a value of GP_MAX_AGENT / GP_MAX_TENANT characters may take. */
#define GP_MAX_ID_BYTES (4 * 256)

/* ---- Time (monotonic nanoseconds) ---- */
extern int64_t gp_now_ns(void);

/* ---- Errors (error.c) ---- */
extern void gp_error_clear(govpool_error *err);
extern void gp_error_set(govpool_error *err, govpool_status kind, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern void gp_error_from_result(govpool_error *err, const PGresult *res, const char *what);
extern void gp_error_from_conn(govpool_error *err, govpool_status kind, PGconn *conn,
							   const char *what);
/* A failed connect made with PQERRORS_VERBOSE: its SQLSTATE, the default message. */
extern void gp_error_from_connect(govpool_error *err, PGconn *conn, const char *what);
extern void gp_error_from_connect_message(govpool_error *err, const char *verbose,
										  const char *what);
/* Replace every occurrence of secret (if non-empty) and URL/conninfo passwords. */
extern void gp_redact(char *text, size_t size, const char *secret);

/* ---- Logging (log.c) ---- */
typedef struct gp_logger
{
	govpool_log_fn fn;
	void	   *userdata;
	govpool_log_level min_level;	/* for the stderr default */
	pthread_mutex_t lock;
} gp_logger;

extern void gp_logger_init(gp_logger *lg);
extern void gp_logger_destroy(gp_logger *lg);
/*
 * Emit "level=L event=E" followed by key/value pairs (NULL key ends the
 * list; NULL values are skipped).  Values are quoted when needed.
 */
extern void gp_log(gp_logger *lg, govpool_log_level level, const char *event,...);
extern bool gp_log_enabled(gp_logger *lg, govpool_log_level level);
/* Append key=value (quoted when needed) to buf at *pos. */
extern void gp_kv_append(char *buf, size_t size, size_t *pos, const char *key, const char *val);

/* ---- Circuit breaker (breaker.c); caller holds the pool lock ---- */
typedef struct gp_breaker_settings
{
	int			threshold;		/* failures that may open it; 0 = disabled */
	int			window_ms;		/* ... spanning at least this long */
	int			cooldown_min_ms;	/* first cool-down (before jitter) */
	int			cooldown_max_ms;	/* the longest cool-down */
	int			probe_lease_ms; /* a probe silent this long is presumed lost;
								 * 0 = never */
} gp_breaker_settings;

typedef struct gp_breaker
{
	int			threshold;
	int64_t		window_ns;
	int64_t		cooldown_min_ns;
	int64_t		cooldown_max_ns;
	int64_t		probe_lease_ns;
	govpool_circuit state;
	bool		ever_connected; /* a connection has succeeded once */
	int			failures;		/* since the last success */
	int64_t		first_failure_ns;	/* of that streak */
	int64_t		last_failure_ns;
	char		last_error[200];	/* the latest failure's message (redacted) */
	int			reopens;		/* failed probes since it opened: the growth */
	int64_t		cooldown_ns;	/* the current cool-down, jitter included */
	int64_t		opened_at_ns;
	int64_t		probe_at_ns;	/* open: when the next probe is admitted */
	int64_t		probe_started_ns;	/* half-open: when the probe went out */
	bool		probe_in_flight;	/* half-open: one probe at a time */
	unsigned int rand_state;	/* jitter */
} gp_breaker;

/* What a failed connection attempt means for its checkout (breaker.c decides). */
typedef enum gp_failure_class
{
	GP_FAILURE_HARD,			/* up to connect_attempts attempts, then fail */
	GP_FAILURE_TRANSIENT		/* server restarting or full: retry until the
								 * checkout deadline or the breaker opens */
} gp_failure_class;

extern void gp_breaker_init(gp_breaker *b, const gp_breaker_settings *s, unsigned int seed);
/* May a connection attempt start now?  Half-open admits one probe. */
extern bool gp_breaker_allow(gp_breaker *b, int64_t now_ns);
extern void gp_breaker_success(gp_breaker *b);
/* Count a failure (why: its message); true when this failure opened the circuit. */
extern bool gp_breaker_failure(gp_breaker *b, int64_t now_ns, const char *why);
/*
 * A failed attempt's class from the SQLSTATE the server sent ("" = none:
 * refused, no socket, reset, timeout): 57P01/57P02/57P03/53300 always
 * transient; no SQLSTATE transient once a connection has succeeded (the
 * server was there: a restart), hard before (fail fast when it never was).
 */
extern gp_failure_class gp_breaker_classify(const gp_breaker *b, const char *sqlstate);
/* Milliseconds until a probe is admitted (0 unless open). */
extern int64_t gp_breaker_retry_in_ms(const gp_breaker *b, int64_t now_ns);
/* The fail-fast message: failures, their span, the last one, the next probe. */
extern void gp_breaker_message(const gp_breaker *b, int64_t now_ns, const char *target,
							   char *buf, size_t size);

/* ---- Wait-time histogram (stats.c); the caller serializes ---- */
#define GP_HIST_BUCKETS 64
typedef struct gp_hist
{
	uint64_t	counts[GP_HIST_BUCKETS];
	uint64_t	total;
} gp_hist;

extern void gp_hist_add(gp_hist *h, int64_t ns);
extern double gp_hist_quantile_us(const gp_hist *h, double q);

/*
 * ---- Metrics (stats.c): what the pool counts, apart from the bag ----
 * Counters are relaxed atomics (GP_INC/GP_LOAD, any thread, no lock); the
 * two histograms change under their own lock.  A stats snapshot reads them
 * together with the bag's current counts.
 */
typedef struct gp_metrics
{
	pthread_mutex_t lock;		/* the histograms */
	gp_hist		acquire_wait;	/* checkout waits */
	gp_hist		query;			/* statement round trips */
	uint64_t	acquires;
	uint64_t	timeouts;
	uint64_t	exhaustion_events;
	uint64_t	connects;
	uint64_t	connect_failures;
	uint64_t	invalidated;
	uint64_t	recycled;
	uint64_t	idle_closed;	/* above pool_size, idle overflow_idle_ms */
	uint64_t	begun;
	uint64_t	committed;
	uint64_t	rolled_back;
	uint64_t	retries;
	uint64_t	leaks;
} gp_metrics;

extern void gp_metrics_init(gp_metrics *m);
extern void gp_metrics_destroy(gp_metrics *m);
/* A checkout's wait (0 when it did not wait); timed_out counts a timeout. */
extern void gp_metrics_wait(gp_metrics *m, int64_t ns, bool timed_out);
/* A statement round trip that started at start_ns. */
extern void gp_metrics_query(gp_metrics *m, int64_t start_ns);
/*
 * The report_pool_stats() fields of a snapshot, as JSON members without
 * braces (one table in stats.c drives JSON, Prometheus and this).
 */
extern int	gp_stats_report_members(const govpool_stats *s, char *buf, size_t len);

/* ---- Session state (embedded in the entry) ---- */
typedef enum gp_session_state
{
	GP_SESSION_ENDED = 0,		/* no session: entry idle or ended */
	GP_SESSION_QUEUED,			/* BEGIN + set_context queued, nothing sent */
	GP_SESSION_OPEN,			/* transaction open on the server */
	GP_SESSION_FAILED			/* rolled back after an error */
} gp_session_state;

struct govpool_session
{
	struct gp_entry *entry;
	gp_session_state state;
	char		agent[GP_MAX_ID_BYTES + 1];
	char		tenant[GP_MAX_ID_BYTES + 1];
	char		correlation[GP_MAX_CORRELATION + 1];
	bool		has_tenant;
	bool		has_correlation;
	const char *file;
	int			line;
	int64_t		begun_ns;
	bool		leak_reported;
};

/*
 * ---- Statement cache (stmtcache.c): user statements prepared per connection ----
 * Owned by the entry's holder, like its connection; no lock.
 */
#define GP_STMT_CACHE_MAX 10000 /* largest GOVPOOL_STATEMENT_CACHE */
#define GP_STMT_NAME_LEN 48		/* "govpool_<16 hex>_<n>" and its NUL fit */
#define GP_STMT_CLOSE_MAX 4		/* DEALLOCATEs waiting for the next pipeline */
typedef struct gp_stmt_cache gp_stmt_cache;

/* A cache of cap statements (NULL when cap <= 0 or out of memory: no caching). */
extern gp_stmt_cache *gp_stmt_cache_new(int cap);
extern void gp_stmt_cache_free(gp_stmt_cache *c);
/*
 * The statement's slot, to be executed by name (prepared first unless
 * gp_stmt_prepared), or -1: send it as text (first use, not cacheable, no
 * room).  Makes it the most recently used; may evict the least recently
 * used one, whose DEALLOCATE is then queued (gp_stmt_closing).
 */
extern int	gp_stmt_lookup(gp_stmt_cache *c, const char *sql, int nparams);
/* Its prepared statement's name ("govpool_<tag>_<n>"), valid while it is cached. */
extern const char *gp_stmt_name(const gp_stmt_cache *c, int slot);
extern bool gp_stmt_prepared(const gp_stmt_cache *c, int slot);
/* Its Parse succeeded: the server has it until DEALLOCATE, DISCARD or close. */
extern void gp_stmt_set_prepared(gp_stmt_cache *c, int slot);
/* Forget a statement (server_has_it: queue its DEALLOCATE). */
extern void gp_stmt_drop(gp_stmt_cache *c, int slot, bool server_has_it);
/* The server dropped every prepared statement (DISCARD ALL). */
extern void gp_stmt_cache_forget(gp_stmt_cache *c);
/* The queued "DEALLOCATE name" statements (at most GP_STMT_CLOSE_MAX). */
extern int	gp_stmt_closing(const gp_stmt_cache *c, const char **sql);
/* The first n of them were sent. */
extern void gp_stmt_closed(gp_stmt_cache *c, int n);
/* Statements cached (and in *prepared, those the server holds): tests. */
extern int	gp_stmt_count(const gp_stmt_cache *c, int *prepared);

/* ---- Entry (entry.c): one connection and its timestamps ---- */
typedef enum gp_slot_state
{
	GP_SLOT_EMPTY = 0,			/* no connection */
	GP_SLOT_OPENING,			/* reserved by a borrower that is connecting */
	GP_SLOT_IDLE,
	GP_SLOT_IN_USE
} gp_slot_state;

typedef struct gp_entry
{
	PGconn	   *conn;
	int			index;			/* slot number in the bag */
	gp_slot_state state;		/* owned by bag.c, under the bag lock */
	int64_t		created_ns;
	int64_t		last_used_ns;	/* when last given back */
	int64_t		borrowed_ns;
	struct govpool *pool;
	struct govpool_session session;
	bool		watched;		/* leak watch on: session fields published
								 * (under the bag lock) */
	unsigned	ctx_prepared;	/* bits: the context statements prepared on conn
								 * (op.c: without, with the statement timeout) */
	gp_stmt_cache *stmts;		/* user statements prepared on conn (op.c
								 * creates it on first use; NULL: none) */
	int			backend_pid;	/* atomic: PQbackendPID of conn, 0 when none
								 * (written by the owner, read by reports) */
	struct gp_entry *next_idle; /* bag's idle stack, towards older */
	struct gp_entry *prev_idle; /* towards newer */
} gp_entry;

/* A connection just opened: notices to the pool's log, non-blocking mode. */
extern void gp_entry_opened(struct govpool *pool, PGconn *conn);
extern void gp_entry_close(gp_entry *e);
/*
 * gp_entry_close in two steps, for a caller that must not close under a
 * lock: take the connection and its statement cache out of the entry (the
 * entry is then empty, its backend pid unpublished), then close them.
 */
typedef struct gp_detached
{
	PGconn	   *conn;
	gp_stmt_cache *stmts;
} gp_detached;
extern void gp_entry_detach(gp_entry *e, gp_detached *d);
extern void gp_detached_close(gp_detached *d);
/* Publish the backend pid of a connection just opened (for stats reports). */
extern void gp_entry_publish_pid(gp_entry *e);
/* Zero-round-trip liveness check of an idle connection: false = dead. */
typedef enum gp_liveness
{
	GP_ALIVE,
	GP_DEAD,
	GP_UNSURE					/* readable but unreadable (TLS): pre-ping */
} gp_liveness;
extern gp_liveness gp_entry_liveness(gp_entry *e);

/* ---- Bag (bag.c): concurrency only ---- */
/*
 * A place in the FIFO.  Blocking callers set cond (signalled on grant);
 * non-blocking operations set wake (called on grant, bag lock held).  The
 * waiter lives in its owner's memory: a stack frame or a govpool_op.
 */
typedef struct gp_waiter
{
	pthread_cond_t *cond;
	void		(*wake) (void *arg);
	void	   *wake_arg;
	gp_entry   *granted;		/* handed an entry (IN_USE or OPENING) */
	bool		done;			/* granted, not yet collected */
	bool		queued;			/* linked in the FIFO */
	int64_t		since_ns;
	struct gp_waiter *next;
} gp_waiter;

typedef enum gp_borrow_result
{
	GP_BORROW_IDLE,				/* *out is an idle connection, now IN_USE */
	GP_BORROW_OPEN,				/* *out is a reserved empty slot: connect it */
	GP_BORROW_TIMEOUT,
	GP_BORROW_CLOSED,
	GP_BORROW_QUEUED			/* the waiter is in the FIFO */
} gp_borrow_result;

typedef struct gp_bag
{
	pthread_mutex_t lock;
	gp_entry   *slots;			/* capacity entries */
	int			capacity;		/* pool_size + max_overflow */
	int			keep;			/* pool_size: idle connections kept */
	int64_t		overflow_idle_ns;	/* idle entries above keep close after
									 * this long (gp_bag_reap); 0 = at once */
	gp_entry   *idle;			/* LIFO stack of IDLE entries: newest */
	gp_entry   *idle_oldest;	/* its bottom */
	int			n_idle;
	int			n_in_use;
	int			n_opening;
	gp_waiter  *wait_head;		/* FIFO queue */
	gp_waiter  *wait_tail;
	int			n_waiters;
	bool		closed;
} gp_bag;

extern int	gp_bag_init(gp_bag *bag, int keep, int capacity);
extern void gp_bag_destroy(gp_bag *bag);
/* Borrow: an idle entry, a slot to open, or wait FIFO until deadline_ns (<0: no wait). */
extern gp_borrow_result gp_bag_borrow(gp_bag *bag, int64_t deadline_ns, gp_entry **out);
/*
 * Never blocks: an idle entry, a slot to open, or (w not NULL, deadline in
 * the future) w queued FIFO: GP_BORROW_QUEUED.  Otherwise TIMEOUT/CLOSED.
 */
extern gp_borrow_result gp_bag_try_borrow(gp_bag *bag, gp_waiter *w, int64_t deadline_ns,
										  gp_entry **out);
/* A queued waiter: granted (IDLE/OPEN), TIMEOUT/CLOSED (dequeued), or still QUEUED. */
extern gp_borrow_result gp_bag_check_wait(gp_bag *bag, gp_waiter *w, int64_t deadline_ns,
										  gp_entry **out);
/* Same, blocking on w->cond until granted, closed or the deadline. */
extern gp_borrow_result gp_bag_wait(gp_bag *bag, gp_waiter *w, int64_t deadline_ns,
									gp_entry **out);
/*
 * Leave the queue.  Returns the entry granted meanwhile (the caller must
 * pass it on: give back / remove), or NULL.
 */
extern gp_entry *gp_bag_abandon(gp_bag *bag, gp_waiter *w);
/*
 * Give back an IN_USE entry whose connection is healthy (its last_used_ns
 * set).  Hands it to the first waiter, or keeps it idle; returns false when
 * the caller must close it instead and then call gp_bag_remove: serverless
 * (keep 0), closed, or overflow_idle_ns 0 with keep entries idle already.
 */
extern bool gp_bag_give_back(gp_bag *bag, gp_entry *e);
/*
 * Free the slots of up to max idle entries that are above keep and were
 * given back at least overflow_idle_ns before now_ns, oldest first.  For
 * each, detach(e, arg) runs under the lock and takes the connection out of
 * the entry (the caller closes it afterwards, unlocked); then the slot is
 * free at once, as after gp_bag_remove.  Nobody ever sees such an entry
 * checked out, nor the pool full because of it.  Returns how many.
 */
extern int	gp_bag_reap(gp_bag *bag, int64_t now_ns, int max,
						void (*detach) (gp_entry *e, void *arg), void *arg);
/* The entry's connection is gone (closed by the caller): free the slot, or
 * hand it to the first waiter as a slot to open. */
extern void gp_bag_remove(gp_bag *bag, gp_entry *e);
/* An OPENING slot now holds a live connection: it becomes IN_USE. */
extern void gp_bag_opened(gp_bag *bag, gp_entry *e);
/* Under the lock: current counts. */
extern void gp_bag_counts(gp_bag *bag, int *open, int *in_use, int *idle, int *waiters);

/* ---- Pool (pool.c) ---- */
struct govpool
{
	govpool_config cfg;
	gp_bag		bag;
	gp_logger	logger;
	govpool_error start_error;	/* set when create failed */
	bool		failed;
	/* libpq parameters, built once at create */
	const char **kw;
	const char **val;
	char	   *password;		/* for redaction; NULL when none */
	char		describe[256];	/* redacted target */
	/* breaker state, under bag.lock */
	gp_breaker	breaker;
	unsigned int rand_state;
	gp_metrics	m;				/* counters and histograms */
	/* housekeeper (leak detection) */
	pthread_t	housekeeper;
	bool		housekeeper_running;
	pthread_cond_t hk_cond;
	bool		hk_stop;
	uint64_t	hk_scans;		/* for tests */
	/* stats reports (report.c) */
	char		pool_id[96];	/* stable for the pool's life */
	int64_t		created_ns;
	int64_t		report_next_ns; /* atomic: when the next report is due */
	bool		report_off;		/* atomic: server lacks report_pool_stats() */
	bool		report_legacy;	/* atomic: server before 0.6, no pids/goodbye */
	uint64_t	reports_sent;	/* for tests */
	uint64_t	reports_failed;
	/* prepared context statement (op.c) */
	uint64_t	ctx_vanished;	/* atomic: server lost/duplicated it */
	bool		ctx_prepare_off;	/* atomic: auto mode gave up preparing */
};

/*
 * Check out a usable connection: checks liveness / age, replaces dead or old
 * ones, opens new ones with retry + breaker.  NULL + *err on failure.
 */
extern gp_entry *gp_pool_checkout(govpool *pool, int timeout_ms, govpool_error *err);
/* Return a connection: reset per policy, keep/close/invalidate. */
extern void gp_pool_checkin(govpool *pool, gp_entry *e);
/* Drop a broken connection that is checked out (no-op once dropped; entry.c). */
extern void gp_pool_invalidate(govpool *pool, gp_entry *e, const char *why);
#define GP_INC(counter) __atomic_fetch_add(&(counter), 1, __ATOMIC_RELAXED)
#define GP_LOAD(counter) __atomic_load_n(&(counter), __ATOMIC_RELAXED)
/* ---- Stats reports (report.c) ---- */
/* Name this pool (pool_id) and schedule its first report for the next pipeline. */
extern void gp_report_init(govpool *pool);
/*
 * Is a report due?  At most one caller per interval gets the
 * report_pool_stats() payload (JSON, malloc'd: the caller frees it), else
 * NULL.  report_pid is the backend pid of the connection that will carry
 * it.  Never blocks on the network.
 */
extern char *gp_report_take(govpool *pool, int report_pid);
/*
 * The pool is closing (govpool_destroy, bag closed): if it has reported,
 * send its final report on an idle connection so that its row leaves
 * governance.pool_stats now.  Blocks at most the connect timeout.
 */
extern void gp_report_goodbye(govpool *pool);
/* The report's own result (NULL if none arrived); not the caller's to clear. */
extern void gp_report_done(govpool *pool, const PGresult *res);
extern const char gp_report_sql[];

/* ---- Operations (op.c): the one state machine of checkout and sessions ---- */
typedef enum gp_op_kind
{
	GP_OP_NONE = 0,
	GP_OP_CHECKOUT,				/* internal: a checked-out entry */
	GP_OP_CHECKIN,				/* internal: reset and return an entry */
	GP_OP_BEGIN,
	GP_OP_RUN,
	GP_OP_EXEC,					/* sql NULL: send the queued prelude only */
	GP_OP_COMMIT,
	GP_OP_ROLLBACK,
	GP_OP_HEALTH
} gp_op_kind;

/*
 * One query of a batch: sql sent as text, or the context statement (its
 * name follows gp_batch.context_bit) or the caller's cached statement (its
 * name is its cache slot's) created from sql (PREPARE) or executed
 * (EXECUTE).  The kind says whose parameters it takes: the context's
 * (op->ctx) or the caller's (op->params).  Kept small: a queued request
 * costs its govpool_op.
 */
typedef enum gp_query_kind
{
	GQ_TEXT = 0,				/* the caller's parameters (or none) */
	GQ_PREPARE,
	GQ_EXECUTE,					/* the context's parameters */
	GQ_CTX_TEXT,				/* the context statement as text, its parameters */
	GQ_STMT_PREPARE,			/* the caller's statement, named by its cache slot */
	GQ_STMT_EXECUTE
} gp_query_kind;

typedef struct gp_query
{
	const char *sql;
	int			nparams;
	uint8_t		kind;			/* gp_query_kind */
} gp_query;

#define GP_BATCH_MAX 5			/* BEGIN, PREPARE, set_context, PREPARE, statement */

typedef enum gp_batch_outcome
{
	GB_OK,
	GB_NOT_SENT,				/* failed before anything reached the socket */
	GB_SERVER_ERROR,			/* query failed_at failed; connection fine */
	GB_LOST						/* connection broke; see failed_at */
} gp_batch_outcome;

/* Queries sent in one pipeline with one Sync, read without blocking. */
typedef struct gp_batch
{
	gp_query	q[GP_BATCH_MAX];
	PGresult   *res[GP_BATCH_MAX];
	PGresult   *report_res;		/* the report's last result, until its NULL */
	PGresult   *sync_err;		/* an error at the Sync: the implicit COMMIT failed */
	int8_t		n;
	int8_t		pos;			/* next of q[0..n-1] to read (n: the Sync) */
	int8_t		side;			/* side segments (report, DEALLOCATEs) read */
	int8_t		n_side;			/* side segments sent, each with its own Sync */
	bool		side_sync;		/* side segment's results read, its Sync next */
	int8_t		n_closes;		/* DEALLOCATEs among them (after the report) */
	int8_t		stmt_prepare_at;	/* index of the statement's PREPARE, -1 none */
	int16_t		stmt_slot;		/* the statement's cache slot, -1: as text */
	int8_t		failed_at;		/* first failed query; n: the implicit COMMIT */
	int8_t		prepare_at;		/* index of the context's PREPARE, -1 none */
	int8_t		context_at;		/* index of set_context, -1 none */
	int8_t		stmt_at;		/* index of the caller's statement, -1 none */
	uint8_t		context_bit;	/* its bit in gp_entry.ctx_prepared (0: text) */
	bool		report;			/* a stats report and its own Sync go first */
	bool		server_error;
	bool		sync_null;		/* the NULL after sync_err was read */
	uint8_t		outcome;		/* gp_batch_outcome */
	int8_t		next_phase;		/* where the operation goes when it is read */
} gp_batch;

struct govpool_op
{
	govpool    *pool;
	gp_op_kind	kind;
	int			phase;
	govpool_error err;
	/*
	 * arguments (copied into arena by the public starts); a queued request
	 * costs this struct, so the ints sit together (no padding)
	 */
	const char *ctx[4];			/* agent, tenant, correlation, timeout value */
	const char *sql;
	const char *const *params;
	char	   *arena;
	const char *file;
	int			nparams;
	int			timeout_ms;
	int			line;
	char		timeout_buf[12];	/* statement_timeout_ms as text (int) */
	govpool_session *session;
	/* checkout */
	gp_entry   *entry;
	gp_waiter	waiter;
	int64_t		deadline_ns;	/* checkout deadline, -1 none */
	int64_t		timer_ns;		/* connect deadline or back-off end */
	int			attempt;
	PostgresPollingStatusType cpoll;
	bool		reopening;		/* connecting for a safe retry, not a checkout */
	bool		stmt_text;		/* the server lost or refused the cached statement:
								 * resent as text */
	bool		stmt_looked;	/* b.stmt_slot is this connection's lookup */
	int			after_reopen;
	bool		retried;
	bool		commit_sent;	/* a COMMIT of ours may have reached the server */
	bool		ctx_lost;		/* the server lost the prepared context statement:
								 * resent as text */
	bool		counted;		/* session outcome counted */
	int			reset_step;
	int64_t		start_ns;
	gp_batch	b;
	PGresult   *result;
	govpool_wake_fn wake_fn;
	void	   *wake_ud;
};

/* Run an operation to its end, blocking this thread (the blocking API). */
extern govpool_poll gp_op_block(govpool_op *op);
extern void gp_op_init(govpool_op *op, govpool *pool);
extern void gp_op_clear(govpool_op *op);
/* Internal starts: arguments are borrowed, not copied (blocking callers). */
extern void gp_op_start(govpool_op *op, gp_op_kind kind);
/* The session's context (context.c): validate it (limits, UTF-8,
 * correlation characters), copy it into the session. */
extern bool gp_check_ctx(const govpool_context *ctx, govpool_error *err);
extern void gp_fill_session(govpool_session *s, gp_entry *e, const char *agent,
							const char *tenant, const char *correlation,
							const char *file, int line);

/* Is the session still usable for another statement? (op.c) */
extern bool gp_session_usable(govpool_session *s, govpool_error *err);

/* Echo a statement when cfg.echo (log.c). */
extern void gp_echo(govpool *pool, const govpool_session *s, const char *sql);

#endif							/* GOVPOOL_INT_H */
