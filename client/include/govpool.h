/*
 * govpool.h
 *	  libgovpool: pooled, governed PostgreSQL sessions on libpq.
 *
 * This is the only public header.  A pool hands out sessions; each session
 * is one transaction on one pooled connection that carries the governance
 * context (agent, tenant, correlation id) set through
 * governance.set_context(), sealed for the rest of the transaction.
 *
 *	  govpool_config cfg;
 *	  govpool_error err;
 *	  if (govpool_config_from_env(&cfg, &err) != GOVPOOL_OK) ...
 *	  govpool *pool = govpool_create(&cfg, &err);    (NULL only on OOM)
 *	  if (err.kind != GOVPOOL_OK) ...                  (then govpool_destroy)
 *	  govpool_context ctx = {.agent_id = "alice", .tenant_id = "acme"};
 *	  PGresult *r = govpool_run(pool, &ctx, "SELECT 1", 0, NULL, &err);
 *
 * Thread safety: a govpool may be used from any number of threads at once.
 * A govpool_session belongs to one thread at a time.
 *
 * Conventions (as in libpq): the types govpool and govpool_session are
 * opaque; constructors return NULL only when out of memory, every other
 * failure is a status plus a govpool_error filled in through the error
 * out-parameter (which may be NULL when the caller does not care).  Status
 * values are never removed or renumbered; new ones are added at the end.
 */
#ifndef GOVPOOL_H
#define GOVPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GOVPOOL_VERSION "0.1.0"

/* ---- Status and errors ---- */

typedef enum govpool_status
{
	GOVPOOL_OK = 0,
	GOVPOOL_ERR_CONFIG,			/* invalid configuration value */
	GOVPOOL_ERR_OOM,			/* out of memory */
	GOVPOOL_ERR_CONNECT,		/* could not open a connection (after retries; a
								 * restarting server is waited for until the
								 * checkout deadline); sqlstate: the server's
								 * refusal, if it sent one */
	GOVPOOL_ERR_TIMEOUT,		/* pool exhausted: no connection within the timeout */
	GOVPOOL_ERR_CIRCUIT_OPEN,	/* circuit breaker open: failing fast; the message
								 * says when it probes next */
	GOVPOOL_ERR_QUERY,			/* the server reported an error; see sqlstate */
	GOVPOOL_ERR_CONNECTION_LOST,	/* connection broke before COMMIT was sent:
									 * the transaction did not commit */
	GOVPOOL_ERR_COMMIT_UNKNOWN, /* connection broke after COMMIT was sent: the
								 * outcome is unknown; never retried */
	GOVPOOL_ERR_ROLLED_BACK,	/* session already rolled back by an earlier error */
	GOVPOOL_ERR_MISUSE,			/* invalid argument or call order */
	GOVPOOL_ERR_CLOSED,			/* pool failed to start or is being destroyed */
	GOVPOOL_ERR_CANCELLED		/* the caller cancelled the operation (govpool_op_cancel)
								 * before any COMMIT of it could have run: nothing
								 * was committed; see govpool_op_cancel */
} govpool_status;

#define GOVPOOL_MESSAGE_MAX 512

typedef struct govpool_error
{
	govpool_status kind;
	char		sqlstate[6];	/* server SQLSTATE, "" when not a server error */
	char		message[GOVPOOL_MESSAGE_MAX];	/* credentials redacted */
} govpool_error;

/* Stable name of a status, e.g. "timeout". */
extern const char *govpool_status_name(govpool_status status);

/* ---- Configuration ---- */

typedef enum govpool_reset
{
	GOVPOOL_RESET_ROLLBACK = 0, /* ROLLBACK an open transaction (default) */
	GOVPOOL_RESET_COMMIT,		/* COMMIT an open transaction */
	GOVPOOL_RESET_NONE,			/* nothing; a connection left in a
								 * transaction is closed instead */
	GOVPOOL_RESET_DISCARD		/* ROLLBACK if needed, then DISCARD ALL */
} govpool_reset;

/*
 * What sits between the pool and the server (GOVPOOL_POOLER).  Only
 * "transaction" changes anything: a transaction pooler (PgBouncer in
 * pool_mode=transaction) may send each transaction to another server
 * connection, so nothing may outlive a transaction, named prepared
 * statements included (PgBouncer before 1.21 does not track them).
 */
typedef enum govpool_pooler
{
	GOVPOOL_POOLER_NONE = 0,	/* direct, or a session pooler (default) */
	GOVPOOL_POOLER_SESSION,
	GOVPOOL_POOLER_TRANSACTION
} govpool_pooler;

/*
 * Is the governance.set_context() statement prepared once per connection
 * (GOVPOOL_PREPARE_CONTEXT)?  Prepared, the context costs no parse per
 * transaction.  "auto" prepares unless pooler is "transaction", and stops
 * preparing (for the pool's life, with a warning in the log) when the
 * server says three times that the prepared statement is missing or
 * already exists: the sign of an undeclared transaction pooler.  The
 * same decision governs the statement cache (statement_cache): "off" and
 * a transaction pooler turn it off too, "on" forces it on.
 */
typedef enum govpool_prepare
{
	GOVPOOL_PREPARE_AUTO = 0,	/* default */
	GOVPOOL_PREPARE_ON,			/* always (re-prepared when the server lost it) */
	GOVPOOL_PREPARE_OFF			/* sent as text with every transaction */
} govpool_prepare;

#define GOVPOOL_CONNINFO_MAX 2048
#define GOVPOOL_NAME_MAX 64
#define GOVPOOL_EXTENSIONS_MAX 512

/*
 * A plain struct: fill it with govpool_config_defaults() or
 * govpool_config_from_env(), then change what you need.  Durations are in
 * milliseconds; 0 disables a time limit unless stated otherwise.
 */
typedef struct govpool_config
{
	char		conninfo[GOVPOOL_CONNINFO_MAX]; /* libpq conninfo or URI; "" = PG* only */
	char		application_name[GOVPOOL_NAME_MAX]; /* "" = libpq default */
	char		environment[16];	/* profile the defaults came from */
	char		extensions[GOVPOOL_EXTENSIONS_MAX]; /* comma list: CREATE EXTENSION
													 * IF NOT EXISTS at start */
	int			pool_size;		/* connections kept; 0 = serverless (none kept) */
	int			max_overflow;	/* extra connections under load */
	int			pool_timeout_ms;	/* max checkout wait (default 30000) */
	int			pool_recycle_ms;	/* replace connections older than this; 0 = never */
	int			connect_timeout_ms; /* per connection attempt (libpq, whole seconds) */
	int			statement_timeout_ms;	/* server statement_timeout; 0 = server default */
	bool		echo;			/* log every statement (level info) */
	govpool_reset reset_on_return;
	int			liveness_idle_ms;	/* socket check of connections idle >= this */
	int			preping_idle_ms;	/* SELECT 1 before reuse when idle > this; -1 = never */
	int			leak_threshold_ms;	/* log sessions held longer; 0 = off */
	int			connect_attempts;	/* attempts per connection (>= 1) */
	int			connect_backoff_ms; /* base of exponential backoff, full jitter */
	int			connect_backoff_max_ms;
	int			breaker_threshold;	/* connect failures (since the last success)
									 * that open it, with breaker_window_ms; 0 = off */
	int			breaker_cooldown_ms;	/* the longest cool-down (open -> half-open);
										 * cool-downs start at breaker_cooldown_min_ms
										 * and double, jittered, up to this */
	int			report_interval_ms; /* publish stats to governance.report_pool_stats()
									 * this often, in a pipeline sent anyway;
									 * 0 = never (default 10000) */
	govpool_pooler pooler;		/* what is between us and the server */
	govpool_prepare prepare_context;	/* prepare set_context per connection */
	int			breaker_window_ms;	/* the failures must span at least this long:
									 * a burst does not open it (default 3000) */
	int			breaker_cooldown_min_ms;	/* the first cool-down, before jitter
											 * (default 500: a probe 250-500 ms after
											 * opening) */
	int			statement_cache;	/* user statements kept prepared per
									 * connection (GOVPOOL_STATEMENT_CACHE, LRU,
									 * prepared on their second use); 0 = off;
									 * used only where prepare_context would
									 * prepare (default 100) */
	int			overflow_idle_ms;	/* connections above pool_size close after
									 * sitting idle this long
									 * (GOVPOOL_OVERFLOW_IDLE_MS); 0 = as soon
									 * as pool_size are idle (default 10000) */
} govpool_config;

/* Built-in defaults (profile "local" without echo). */
extern void govpool_config_defaults(govpool_config *cfg);

/*
 * Fill *cfg from the environment (see docs/libgovpool.md, "Configuration", for every variable and the
 * precedence).  Returns GOVPOOL_OK or GOVPOOL_ERR_CONFIG with a message
 * naming the variable and the problem, never a password.
 */
extern govpool_status govpool_config_from_env(govpool_config *cfg, govpool_error *err);

/* Same, reading variables through getenv_fn (tests, embedding). */
typedef const char *(*govpool_getenv_fn) (const char *name, void *userdata);
extern govpool_status govpool_config_from_getenv(govpool_config *cfg,
												 govpool_getenv_fn getenv_fn,
												 void *userdata,
												 govpool_error *err);

/* "host=... port=... dbname=... user=..." with the password left out. */
extern void govpool_config_describe(const govpool_config *cfg, char *buf, size_t len);

/* ---- Pool ---- */

typedef struct govpool govpool;
typedef struct govpool_session govpool_session;

typedef struct govpool_context
{
	const char *agent_id;		/* required, <= 256 chars */
	const char *tenant_id;		/* NULL = none, <= 256 chars */
	const char *correlation_id; /* NULL = none, <= 128 chars of [A-Za-z0-9._:-] */
} govpool_context;

/*
 * Validates *cfg and starts the pool (with GOVPOOL_EXTENSIONS set, opens one
 * connection and creates them).  Returns NULL only when out of memory.
 * Otherwise returns a pool and sets err->kind: on anything but GOVPOOL_OK the
 * pool is unusable (every call reports that error) and must be destroyed.
 */
extern govpool *govpool_create(const govpool_config *cfg, govpool_error *err);

/*
 * Closes every idle connection and frees the pool.  No session may be open
 * and no non-blocking operation may be running (finish, cancel or destroy
 * them first).  A pool that has published stats first says goodbye on one
 * idle connection (one round trip, at most connect_timeout_ms), so that its
 * row leaves governance.pool_stats at once.
 */
extern void govpool_destroy(govpool *pool);

/* ---- Sessions ---- */

/*
 * Check out a connection (FIFO-fair, at most pool_size + max_overflow open,
 * waiting at most timeout_ms; < 0 = the pool's pool_timeout_ms) and start a
 * governed session.  BEGIN and governance.set_context($1,$2,$3,true) are
 * queued, not sent: they travel in one pipeline with the first statement.
 * Returns NULL and fills *err on failure.  The macro records the caller's
 * file:line for leak reports.
 */
#define govpool_begin(pool, ctx, timeout_ms, err) \
	govpool_begin_at((pool), (ctx), (timeout_ms), (err), __FILE__, __LINE__)
extern govpool_session *govpool_begin_at(govpool *pool, const govpool_context *ctx,
										 int timeout_ms, govpool_error *err,
										 const char *file, int line);

/*
 * Run one statement (extended protocol, one statement, text parameters) in
 * the session.  Returns a PGresult the caller PQclear()s, or NULL with *err.
 * A failed statement rolls the session back; later calls return
 * GOVPOOL_ERR_ROLLED_BACK.
 */
extern PGresult *govpool_exec(govpool_session *s, const char *sql, int nparams,
							  const char *const *params, govpool_error *err);

/*
 * The session's connection for raw libpq use, inside the transaction with
 * the context set (sends what is queued first; NULL if that failed).  Do not
 * close it, and leave it idle (no result pending) before commit/rollback.
 */
extern PGconn *govpool_conn(govpool_session *s);

/*
 * COMMIT and return the connection.  Ends the session in every case; a
 * second commit/rollback on the same handle is a no-op (until a new session
 * starts on that connection).
 */
extern govpool_status govpool_commit(govpool_session *s, govpool_error *err);

/* ROLLBACK (if anything was sent) and return the connection.  Ends the session. */
extern void govpool_rollback(govpool_session *s);

/*
 * One-statement governed transaction in one round trip, at the price of
 * one statement: governance.set_context (prepared once per connection, see
 * prepare_context) and the statement pipelined up to a single Sync, without
 * BEGIN/COMMIT: what precedes a Sync is one implicit transaction, so the
 * sealed context holds for the statement and ends with it, and the
 * transaction commits at the Sync (deferred triggers and constraints run
 * there; their error is returned as the statement's error, not committed).
 * A statement that leaves a transaction block open (BEGIN) is refused
 * (GOVPOOL_ERR_MISUSE, rolled back).  Retried transparently on a fresh
 * connection only when the failure was found before anything was sent.
 */
extern PGresult *govpool_run(govpool *pool, const govpool_context *ctx,
							 const char *sql, int nparams,
							 const char *const *params, govpool_error *err);

/* ---- Non-blocking operations (for event loops) ----
 *
 * Every blocking call above has a non-blocking pair that an event loop
 * drives, in the tradition of PQconnectStart/PQconnectPoll:
 *
 *	  govpool_run          govpool_run_start
 *	  govpool_begin        govpool_begin_start    (then govpool_op_session)
 *	  govpool_exec         govpool_exec_start
 *	  govpool_commit       govpool_commit_start
 *	  govpool_rollback     govpool_rollback_start
 *	  govpool_health       govpool_health_start
 *
 * The blocking calls are loops over these same operations: there is one
 * implementation of a session's protocol.
 *
 *	  govpool_op *op = govpool_op_create(pool);          (NULL only on OOM)
 *	  govpool_op_set_wake(op, on_wake, me);              (for queued checkouts)
 *	  govpool_run_start(op, &ctx, "SELECT 1", 0, NULL);
 *	  for (;;) {
 *	      govpool_wait w;
 *	      govpool_poll p = govpool_op_poll(op, &w);
 *	      if (p == GOVPOOL_POLL_OK || p == GOVPOOL_POLL_FAILED) break;
 *	      ... wait for w.fd (read/write), the wake callback, or w.deadline_ns ...
 *	  }
 *	  PGresult *r = govpool_op_result(op);               (or govpool_op_error(op))
 *	  govpool_op_destroy(op);
 *
 * govpool_op_poll does everything that can be done without blocking and
 * says what to wait for next; calling it early (spuriously) is harmless.
 * The socket can change from one step to the next (while connecting,
 * and when a broken connection is replaced): re-read w.fd every time.
 * Deadlines are CLOCK_MONOTONIC nanoseconds (govpool_now_ns).
 *
 * Starting never blocks and does no network work; the first poll does.
 * Two things are outside libpq's non-blocking reach and may block briefly
 * in a poll: resolving a host name (use hostaddr= to avoid it) and the
 * TLS handshake's first step.
 *
 * Waiting for a connection costs no thread: a checkout that finds the pool
 * exhausted queues the operation (FIFO, as in the blocking calls) and
 * polls GOVPOOL_POLL_WAITING until the pool hands it a connection, which
 * calls the wake callback, or until the pool timeout (w.deadline_ns).
 *
 * An operation belongs to one thread at a time; different operations on
 * one pool may run in any threads.  An operation object is reusable: start
 * the next operation once the previous one finished.
 */
typedef struct govpool_op govpool_op;

typedef enum govpool_poll
{
	GOVPOOL_POLL_READING = 0,	/* poll again when w.fd is readable (or at the deadline) */
	GOVPOOL_POLL_WRITING,		/* ... when w.fd is writable or readable (or at the deadline) */
	GOVPOOL_POLL_WAITING,		/* queued for a connection: poll again after the wake
								 * callback ran (or at the deadline) */
	GOVPOOL_POLL_TIMER,			/* poll again at the deadline (connect back-off) */
	GOVPOOL_POLL_OK,			/* finished: take the outcome */
	GOVPOOL_POLL_FAILED			/* finished with an error: govpool_op_error() */
} govpool_poll;

typedef struct govpool_wait
{
	int			fd;				/* socket to watch, -1 when none */
	bool		want_read;
	bool		want_write;
	int64_t		deadline_ns;	/* poll again by then (CLOCK_MONOTONIC ns); -1 = none */
} govpool_wait;

/* CLOCK_MONOTONIC in nanoseconds: the clock of every deadline. */
extern int64_t govpool_now_ns(void);

/* Milliseconds from now until w's deadline (>= 0), or -1: for poll()/epoll_wait(). */
extern int	govpool_wait_timeout_ms(const govpool_wait *w);

/* A reusable operation handle.  NULL only when out of memory. */
extern govpool_op *govpool_op_create(govpool *pool);

/* Bytes of one handle (what a queued request costs, besides its copied arguments). */
extern size_t govpool_op_size(void);

/* Cancels what is still in flight (see govpool_op_cancel), then frees. */
extern void govpool_op_destroy(govpool_op *op);

/*
 * Called when a queued checkout has been handed a connection (or the pool
 * closes): poll the operation again soon.  Runs in the thread that gave the
 * connection back (maybe another one), with a pool lock held: it must not
 * call any govpool function; make a note (queue the op, write an eventfd,
 * loop.call_soon_threadsafe) and return.
 */
typedef void (*govpool_wake_fn) (govpool_op *op, void *userdata);
extern void govpool_op_set_wake(govpool_op *op, govpool_wake_fn fn, void *userdata);

/*
 * Starting an operation: GOVPOOL_OK, or GOVPOOL_ERR_MISUSE (bad arguments,
 * operation still running) / GOVPOOL_ERR_OOM, also in govpool_op_error;
 * then the operation is finished (polls GOVPOOL_POLL_FAILED).  The
 * arguments are copied: they need not outlive the call.
 */
extern govpool_status govpool_run_start(govpool_op *op, const govpool_context *ctx,
										const char *sql, int nparams,
										const char *const *params);
#define govpool_begin_start(op, ctx, timeout_ms) \
	govpool_begin_start_at((op), (ctx), (timeout_ms), __FILE__, __LINE__)
extern govpool_status govpool_begin_start_at(govpool_op *op, const govpool_context *ctx,
											 int timeout_ms, const char *file, int line);
extern govpool_status govpool_exec_start(govpool_op *op, govpool_session *s, const char *sql,
										 int nparams, const char *const *params);
extern govpool_status govpool_commit_start(govpool_op *op, govpool_session *s);
extern govpool_status govpool_rollback_start(govpool_op *op, govpool_session *s);
extern govpool_status govpool_health_start(govpool_op *op);

/* One step: all the work possible without blocking; fills *w (may be NULL when done). */
extern govpool_poll govpool_op_poll(govpool_op *op, govpool_wait *w);

/*
 * Abandon the operation at whatever step it is; never blocks.  A queued
 * checkout leaves the queue (a connection granted meanwhile goes to the
 * next in line).  A connection with anything in flight is closed, never
 * returned to the pool in an unknown state: the server rolls back what it
 * had not committed.  A cancelled exec leaves its session rolled back (end
 * it with rollback); a cancelled commit or rollback ends the session.
 * The operation then reports GOVPOOL_POLL_FAILED with a message starting
 * "cancelled" and one of two statuses:
 *   GOVPOOL_ERR_CANCELLED       nothing of it was committed: cancelled while
 *                               queued or connecting, before its pipeline
 *                               was sent, or while a session's statements
 *                               (begin/exec) or its ROLLBACK ran;
 *   GOVPOOL_ERR_COMMIT_UNKNOWN  a commit of it was in flight: a govpool_run
 *                               pipeline (it commits at its Sync) or a
 *                               govpool_commit, handed to the socket, whose
 *                               outcome had not arrived; the server may
 *                               have committed.
 * An operation cancelled after its outcome was known (during its reset on
 * return, or its ROLLBACK after a server error) keeps that outcome; its
 * connection is closed all the same.  A finished operation is left as it is.
 */
extern void govpool_op_cancel(govpool_op *op);

/* The outcome of a finished operation. */
extern govpool_status govpool_op_status(const govpool_op *op);
extern const govpool_error *govpool_op_error(const govpool_op *op);
/* run / exec: the statement's result, once; the caller PQclear()s it. */
extern PGresult *govpool_op_result(govpool_op *op);
/* begin: the session, now the caller's (end it with commit or rollback). */
extern govpool_session *govpool_op_session(const govpool_op *op);

/* ---- Health, stats, logs ---- */

typedef enum govpool_circuit
{
	GOVPOOL_CIRCUIT_CLOSED = 0,
	GOVPOOL_CIRCUIT_OPEN,
	GOVPOOL_CIRCUIT_HALF_OPEN
} govpool_circuit;

extern const char *govpool_circuit_name(govpool_circuit c);

/* A snapshot.  "current" fields are values now, "total" ones count since create. */
typedef struct govpool_stats
{
	/* configuration */
	int			pool_size;
	int			max_overflow;
	/* current */
	int			size;			/* open connections (idle + checked out) */
	int			checked_out;
	int			idle;
	int			overflow_in_use;	/* open connections above pool_size */
	int			waiters;
	govpool_circuit circuit;
	/* cumulative */
	uint64_t	acquires_total;
	uint64_t	timeouts_total;
	uint64_t	exhaustion_events_total;	/* checkouts that had to wait */
	uint64_t	connects_total;
	uint64_t	connect_failures_total;
	uint64_t	invalidated_total;	/* broken connections dropped */
	uint64_t	recycled_total; /* closed for age */
	uint64_t	sessions_begun_total;
	uint64_t	sessions_committed_total;
	uint64_t	sessions_rolled_back_total;
	uint64_t	retries_total;	/* transparent retries on a fresh connection */
	uint64_t	leaks_total;	/* sessions reported as held too long */
	/* cumulative distribution of checkout waits, microseconds */
	double		acquire_wait_p50_us;
	double		acquire_wait_p99_us;
	/* cumulative distribution of statement round trips (govpool_run
	 * pipelines, govpool_exec statements), microseconds */
	double		query_p50_us;
	double		query_p99_us;
	uint64_t	idle_closed_total;	/* above pool_size, closed after sitting
									 * idle for overflow_idle_ms */
} govpool_stats;

extern void govpool_stats_get(govpool *pool, govpool_stats *stats);

/* The contract's name for govpool_stats_get (README's C API). */
#define govpool_stats(pool, stats) govpool_stats_get((pool), (stats))

typedef enum govpool_format
{
	GOVPOOL_FORMAT_JSON = 0,
	GOVPOOL_FORMAT_PROMETHEUS,
	GOVPOOL_FORMAT_TEXT			/* one "name  value  (group)" line per field */
} govpool_format;

/*
 * Format a stats snapshot.  Like snprintf: returns the length the full text
 * needs (excluding the NUL); the output is complete when that is < len.
 */
extern int	govpool_stats_format(govpool *pool, govpool_format format, char *buf, size_t len);

typedef struct govpool_health_report
{
	bool		ok;
	double		rtt_ms;			/* SELECT 1 round trip incl. checkout */
	govpool_error error;		/* why not ok */
	govpool_stats stats;
} govpool_health_report;

/* Checks out a connection, runs SELECT 1, returns it.  Returns report->ok. */
extern bool govpool_health(govpool *pool, govpool_health_report *report);

typedef enum govpool_log_level
{
	GOVPOOL_LOG_DEBUG = 0,
	GOVPOOL_LOG_INFO,
	GOVPOOL_LOG_WARN,
	GOVPOOL_LOG_ERROR
} govpool_log_level;

/*
 * Receives one structured line "level=warn event=... key=value ...".  May be
 * called from any thread, never with a pool lock held.  Without a logger,
 * lines at or above GOVPOOL_LOG_LEVEL (default info) go to stderr.
 */
typedef void (*govpool_log_fn) (govpool_log_level level, const char *line, void *userdata);

extern void govpool_set_logger(govpool *pool, govpool_log_fn fn, void *userdata);

#ifdef __cplusplus
}
#endif

#endif							/* GOVPOOL_H */
