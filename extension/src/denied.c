/*-------------------------------------------------------------------------
 *
 * denied.c
 *	  Capture, bounds and durable write of denied attempts
 *	  (governance.denied_log).
 *
 * A denied attempt usually rolls its transaction back, so its record cannot
 * be written by that transaction.  Without shared_preload_libraries this
 * backend is the only process that knows about it, so:
 *
 * 1. Capture.  Refusals and warnings of require_context are captured where
 *	  they are raised (gov_require_context_check, require_context.c).
 *	  Row-level security violations are captured where the executor raises
 *	  them, or when they are reported (denied_rls.c).  Both build a record
 *	  here (gov_denial_capture) and hand it to gov_denial_record.
 *
 * 2. Bound.  One record per (kind, relation) per top-level statement
 *	  (denial_first_in_statement), then at most governance.
 *	  denied_log_rate_limit records per second per backend (a token bucket
 *	  holding one second's worth), and at most governance.
 *	  denied_log_role_limit rows per minute per role (the session user),
 *	  all its sessions together: preloaded, a token bucket per role in
 *	  shared memory, taken here; otherwise the role's rows of the last
 *	  minute in denied_log, counted when the queue is written
 *	  (gov_role_budget_admit, denied_log.c).  Every captured attempt that
 *	  passes the de-duplication is one server-log line,
 *		  LOG:  governance denied attempt: {"source": "rls", ...}
 *	  those over a limit get no row of their own but are counted: the
 *	  first of them becomes a summary row (action "suppressed",
 *	  suppressed = their number) at the next recorded attempt, at the next
 *	  statement that finds room for it, or at exit, where the session's
 *	  last summary is written whatever the role's room (so a role adds at
 *	  most its limit plus one row per session it ends in a minute).  The
 *	  rest is queued in backend memory (TopMemoryContext), or handed to the
 *	  background writer in preloaded mode (worker.c).
 *
 * 3. Write.  The queue is written into denied_log by this backend at the
 *	  start of the next statement it executes (ExecutorStart and
 *	  ProcessUtility hooks, before the statement does anything), inside an
 *	  internal subtransaction of that statement's transaction, so a failure
 *	  to write never breaks the user's statement.  The write ignores a
 *	  read-only transaction (the record is not the user's write) and holds
 *	  off cancel interrupts (statement_timeout, lock_timeout).  A warned-
 *	  about attempt is written at once, in the transaction that made it.
 *
 * 4. Keep until committed.  A queued record leaves the queue only when the
 *	  transaction that wrote it commits.  If that transaction (or the
 *	  subtransaction that wrote it) aborts, the record is queued again and
 *	  written by the next statement, and so on.  On a clean or FATAL exit
 *	  (client disconnect, pg_terminate_backend) a before_shmem_exit callback
 *	  writes what is still queued in a transaction of its own.
 *
 * The guarantee: every denied attempt that passes de-duplication is in the
 * server log as soon as it is refused, and in denied_log -- as its own row,
 * or counted in a summary row when over the rate limit -- once any later
 * transaction of the same backend commits, or the backend exits normally,
 * whichever comes first (preloaded: within about a second, by the
 * background writer).  Only a crash of the backend (or of the server)
 * before then loses the table row, and the log line remains.  Not held:
 * a refusal raised outside the executor (row_security = off) and caught by
 * an EXCEPTION block is never reported and so not recorded; a hot standby
 * records nothing (it cannot write); a superuser can change what a
 * superuser can change (log_min_messages, the rate limit).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "commands/extension.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "appender.h"
#include "denied.h"
#include "denied_log.h"
#include "extension.h"
#include "governance.h"
#include "worker.h"

/* Statement text is kept up to this many bytes (the log line has it all). */
#define DENIED_STATEMENT_MAX	8192
/* At most this many records wait to be written; beyond, only the log line. */
#define DENIED_QUEUE_MAX		1000

/*---- Queue state (backend-local) ----*/
static MemoryContext denied_cxt = NULL;
static GovDenial *queue_head = NULL;
static GovDenial *queue_tail = NULL;
static int	queue_unwritten = 0;
static int	queue_dropped = 0;
static bool flushing = false;
static bool exit_callback_registered = false;

/*
 * Per-statement de-duplication: one record (and one WARNING in warn mode)
 * per (kind, relation) per top-level statement, however many tables it
 * touches or how often it is refused (a loop catching the error).  The
 * set lives in dedup_cxt and is rebuilt when a new statement captures.
 */
typedef struct DenialKey
{
	Oid			relid;			/* InvalidOid: not established */
	char		kind;			/* 'r' rls, 'R' require_context refused, 'W' warned */
} DenialKey;

static MemoryContext dedup_cxt = NULL;
static HTAB *dedup_seen = NULL;
static TimestampTz dedup_stmt = 0;
static LocalTransactionId dedup_lxid = InvalidLocalTransactionId;

/*
 * Rate limit: a token bucket of governance.denied_log_rate_limit records
 * per second per backend, holding one second's worth.  An attempt with no
 * token is counted in suppressed_n; the first of them is kept and becomes
 * the summary row (action "suppressed") at the next recorded attempt, the
 * next statement that finds a token, or the backend's exit.
 */
static double bucket_tokens = -1;	/* < 0: full, not yet used */
static TimestampTz bucket_at = 0;
static int	suppressed_n = 0;
static GovDenial *suppressed_first = NULL;
/* The backend is exiting: its last summary row is written regardless. */
static bool denied_exiting = false;

/*
 * Preloaded: the per-role bound, a token bucket of governance.
 * denied_log_role_limit rows per minute (a burst of as many) per
 * (database, session user), in shared memory.  A role not in the table
 * takes the slot of the role whose bucket filled up longest ago (a full
 * bucket is as good as none), so only more than ROLE_BUCKETS roles
 * flooding at once could get a fresh bucket early.
 */
#define ROLE_BUCKETS	128

typedef struct RoleBucket
{
	Oid			dboid;			/* InvalidOid: a free slot */
	Oid			roleid;
	double		tokens;
	TimestampTz at;
} RoleBucket;

typedef struct RoleBuckets
{
	slock_t		mutex;
	RoleBucket	b[ROLE_BUCKETS];
} RoleBuckets;

static RoleBuckets *role_buckets = NULL;

/*
 * An RLS violation recorded where it was raised (denied_rls.c) and
 * re-thrown: not to be recorded again by an outer executor level or by
 * emit_log_hook when it is reported.  Cleared when execution goes on (the
 * error was caught) or when it is reported.
 */
static bool rethrown_captured = false;
static char rethrown_message[256];

/*---- Function declarations ----*/
static void denial_log_line(GovDenial *d);
static void denial_enqueue(GovDenial *d);
static bool denial_handoff(GovDenial *d);
static void denied_write_queue(void);
static void denied_xact_callback(XactEvent event, void *arg);
static void denied_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);
static void denied_at_exit(int code, Datum arg);
static char *copy_or_null(const char *s);
static void register_exit_callback(void);
static bool denial_take_token(void);
static bool denial_take_role_token(void);
static void denial_release_summary(bool force);
static void denial_fold(GovDenial *d);
static void queue_unlink(GovDenial *prev, GovDenial *d);

/* The RLS violation with this message was recorded where it was raised. */
void
gov_denial_set_rethrown(const char *message)
{
	strlcpy(rethrown_message, message, sizeof(rethrown_message));
	rethrown_captured = true;
}

/* Was the violation with this message recorded where it was raised? */
bool
gov_denial_rethrown(const char *message)
{
	return rethrown_captured &&
		strncmp(message, rethrown_message, sizeof(rethrown_message) - 1) == 0;
}

void
gov_denial_clear_rethrown(void)
{
	rethrown_captured = false;
}

/* Transaction bookkeeping of the queue (below). */
void
gov_denied_init(void)
{
	RegisterXactCallback(denied_xact_callback, NULL);
	RegisterSubXactCallback(denied_subxact_callback, NULL);
}

static void
register_exit_callback(void)
{
	if (!exit_callback_registered && IsUnderPostmaster)
	{
		before_shmem_exit(denied_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}
}

static char *
copy_or_null(const char *s)
{
	return s ? MemoryContextStrdup(denied_cxt, s) : NULL;
}

/*
 * Build a record of a denied attempt with the current context, in the
 * queue's memory context.  catalog_ok says whether role names may be
 * looked up (not from inside error reporting).
 */
GovDenial *
gov_denial_capture(const char *source, const char *action, int sqlerrcode,
				   Oid relid, const char *relation, const char *command,
				   const char *message, bool catalog_ok)
{
	GovDenial  *d;
	MemoryContext old;

	if (denied_cxt == NULL)
		denied_cxt = AllocSetContextCreate(TopMemoryContext,
										   "governance denied attempts",
										   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(denied_cxt);
	d = palloc0(sizeof(GovDenial));
	d->at = GetCurrentTimestamp();
	d->source = source;
	d->action = action;
	d->sqlerrcode = sqlerrcode;
	d->relid = relid;
	d->relation = copy_or_null(relation);
	d->command = copy_or_null(command);
	d->agent_id = copy_or_null(gov_context_value(GOV_FIELD_AGENT));
	d->tenant_id = copy_or_null(gov_context_value(GOV_FIELD_TENANT));
	d->correlation_id = copy_or_null(gov_context_value(GOV_FIELD_CORRELATION));
	if (catalog_ok && IsTransactionState())
	{
		d->db_user = copy_or_null(GetUserNameFromId(GetUserId(), true));
		d->db_session_user = copy_or_null(GetUserNameFromId(GetSessionUserId(), true));
	}
	if (d->db_user == NULL)
		d->db_user = psprintf("%u", GetUserId());
	if (d->db_session_user == NULL)
		d->db_session_user = psprintf("%u", GetSessionUserId());
	d->application_name = (application_name && application_name[0]) ?
		pstrdup(application_name) : NULL;
	d->message = pstrdup(message);
	if (debug_query_string)
	{
		char	   *clean = gov_redact_tokens(debug_query_string);
		size_t		len;

		len = strlen(clean);
		if (len > DENIED_STATEMENT_MAX)
			len = pg_mbcliplen(clean, len, DENIED_STATEMENT_MAX);
		d->statement = pnstrdup(clean, len);
		pfree(clean);
	}
	d->backend_pid = MyProcPid;
	d->written_subid = InvalidSubTransactionId;
	MemoryContextSwitchTo(old);
	return d;
}

/* The one structured server-log line of a denied attempt. */
static void
denial_log_line(GovDenial *d)
{
	StringInfoData buf;

#define JSON_FIELD(name, value) \
	do { \
		appendStringInfoString(&buf, ", \"" name "\": "); \
		if (value) \
			escape_json(&buf, value); \
		else \
			appendStringInfoString(&buf, "null"); \
	} while (0)

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"source\": ");
	escape_json(&buf, d->source);
	JSON_FIELD("action", d->action);
	JSON_FIELD("sqlstate", unpack_sql_state(d->sqlerrcode));
	JSON_FIELD("relation", d->relation);
	JSON_FIELD("command", d->command);
	JSON_FIELD("agent_id", d->agent_id);
	JSON_FIELD("tenant_id", d->tenant_id);
	JSON_FIELD("correlation_id", d->correlation_id);
	JSON_FIELD("db_user", d->db_user);
	JSON_FIELD("db_session_user", d->db_session_user);
	JSON_FIELD("application_name", d->application_name);
	JSON_FIELD("at", timestamptz_to_str(d->at));
	appendStringInfo(&buf, ", \"backend_pid\": %d", MyProcPid);
	if (d->suppressed > 0)
		appendStringInfo(&buf, ", \"suppressed\": %d", d->suppressed);
	JSON_FIELD("message", d->message);
	JSON_FIELD("statement", d->statement);
	appendStringInfoChar(&buf, '}');
#undef JSON_FIELD

	ereport(LOG,
			(errmsg("governance denied attempt: %s", buf.data),
			 errhidestmt(true), errhidecontext(true)));
	pfree(buf.data);
}

/*
 * Serialize a record and hand it to the background writer.  False when it
 * cannot be handed over: the caller keeps the record.
 */
static bool
denial_handoff(GovDenial *d)
{
	char	   *buf;
	Size		len;
	bool		ok;

	if (!gov_worker_available())
		return false;
	buf = gov_denial_serialize(d, &len);
	if (buf == NULL)
		return false;
	ok = gov_worker_handoff(buf, len);
	pfree(buf);
	return ok;
}

/* Take d, which follows prev (NULL: d is the head), out of the queue. */
static void
queue_unlink(GovDenial *prev, GovDenial *d)
{
	if (prev)
		prev->next = d->next;
	else
		queue_head = d->next;
	if (queue_tail == d)
		queue_tail = prev;
	d->next = NULL;
}

/* Store: hand over or queue; past DENIED_QUEUE_MAX only the log line remains. */
static void
denial_enqueue(GovDenial *d)
{
	if (gov_preloaded && denial_handoff(d))
	{
		/* the background writer stores it (worker.c) */
		gov_denial_free(d);
		return;
	}
	if (queue_unwritten >= DENIED_QUEUE_MAX)
	{
		queue_dropped++;
		gov_denial_free(d);
		return;
	}
	d->next = NULL;
	if (queue_tail)
		queue_tail->next = d;
	else
		queue_head = d;
	queue_tail = d;
	queue_unwritten++;

	register_exit_callback();
}

/*
 * One top-level statement records each (kind, relation) once: is this the
 * first time in the current statement?  No catalog access (runs inside
 * error reporting).
 */
bool
gov_denial_first_in_statement(char kind, Oid relid)
{
	TimestampTz stmt = GetCurrentStatementStartTimestamp();
	DenialKey	key;
	bool		found;

	if (dedup_seen == NULL || stmt != dedup_stmt || MyProc->lxid != dedup_lxid)
	{
		HASHCTL		ctl;

		if (dedup_cxt == NULL)
			dedup_cxt = AllocSetContextCreate(TopMemoryContext,
											  "governance denied de-duplication",
											  ALLOCSET_SMALL_SIZES);
		else
			MemoryContextReset(dedup_cxt);
		ctl.keysize = sizeof(DenialKey);
		ctl.entrysize = sizeof(DenialKey);
		ctl.hcxt = dedup_cxt;
		dedup_seen = hash_create("governance denied this statement", 16, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		dedup_stmt = stmt;
		dedup_lxid = MyProc->lxid;
	}
	memset(&key, 0, sizeof(key));
	key.relid = relid;
	key.kind = kind;
	(void) hash_search(dedup_seen, &key, HASH_ENTER, &found);
	return !found;
}

/* Take a token from the rate limit's bucket, if there is one. */
static bool
denial_take_token(void)
{
	TimestampTz now = GetCurrentTimestamp();
	double		rate = gov_denied_rate_limit;

	if (bucket_tokens < 0)
		bucket_tokens = rate;
	else if (now > bucket_at)
		bucket_tokens = Min(rate, bucket_tokens + (now - bucket_at) * rate / USECS_PER_SEC);
	else
		bucket_tokens = Min(rate, bucket_tokens);
	bucket_at = now;
	if (bucket_tokens < 1.0)
		return false;
	bucket_tokens -= 1.0;
	return true;
}

/*---- The per-role bound in shared memory (preloaded) ----*/

Size
gov_denied_shmem_size(void)
{
	return sizeof(RoleBuckets);
}

void
gov_denied_shmem_init(void)
{
	bool		found;

	role_buckets = ShmemInitStruct("pg_governance denied_log role buckets",
								   sizeof(RoleBuckets), &found);
	if (!found)
	{
		memset(role_buckets, 0, sizeof(RoleBuckets));
		SpinLockInit(&role_buckets->mutex);
	}
}

/*
 * Take a token from this role's bucket, if there is one.  Without shared
 * memory the bound is kept when the queue is written (denied_log.c), so
 * here every attempt may go on; superusers are not bound.  No catalog
 * access (runs inside error reporting).
 */
static bool
denial_take_role_token(void)
{
	TimestampTz now;
	double		rate = gov_denied_role_limit;
	RoleBucket *slot = NULL;
	RoleBucket *oldest = NULL;
	Oid			roleid = GetSessionUserId();
	bool		ok;

	if (role_buckets == NULL || rate <= 0 || session_auth_is_superuser)
		return true;
	now = GetCurrentTimestamp();
	SpinLockAcquire(&role_buckets->mutex);
	for (int i = 0; i < ROLE_BUCKETS; i++)
	{
		RoleBucket *b = &role_buckets->b[i];

		if (b->dboid == MyDatabaseId && b->roleid == roleid)
		{
			slot = b;
			break;
		}
		/* free first, then the one whose bucket is fullest by now */
		if (oldest == NULL || b->dboid == InvalidOid ||
			(oldest->dboid != InvalidOid &&
			 b->at + (TimestampTz) ((rate - b->tokens) * 60 * USECS_PER_SEC / rate) <
			 oldest->at + (TimestampTz) ((rate - oldest->tokens) * 60 * USECS_PER_SEC / rate)))
			oldest = b;
	}
	if (slot == NULL)
	{
		slot = oldest;
		slot->dboid = MyDatabaseId;
		slot->roleid = roleid;
		slot->tokens = rate;
		slot->at = now;
	}
	if (now > slot->at)
		slot->tokens = Min(rate, slot->tokens + (now - slot->at) * rate / (60.0 * USECS_PER_SEC));
	else
		slot->tokens = Min(rate, slot->tokens);
	slot->at = now;
	ok = slot->tokens >= 1.0;
	if (ok)
		slot->tokens -= 1.0;
	SpinLockRelease(&role_buckets->mutex);
	return ok;
}

/*
 * A captured attempt (already past de-duplication): one server-log line,
 * then a row if the session's rate limit and its role's bound have room
 * for it, else counted.  A row recorded after suppressed ones is preceded
 * by their summary.
 */
void
gov_denial_record(GovDenial *d)
{
	denial_log_line(d);
	if (denial_take_token() && denial_take_role_token())
	{
		denial_release_summary(true);
		denial_enqueue(d);
		return;
	}
	denial_fold(d);
	register_exit_callback();
}

/*
 * Count an attempt that gets no row of its own into the session's summary:
 * the first one is kept to become it, the others only counted.  A summary
 * that found no room when written brings its own count.
 */
static void
denial_fold(GovDenial *d)
{
	int			n = d->suppressed > 0 ? d->suppressed : 1;

	d->forced = false;
	d->next = NULL;				/* it may have been taken out of the queue */
	if (suppressed_n == 0)
		suppressed_first = d;
	else if (d->suppressed > 0 && d->at < suppressed_first->at)
	{
		/* a summary that found no room: its first attempt is the older one */
		gov_denial_free(suppressed_first);
		suppressed_first = d;
	}
	else
		gov_denial_free(d);
	suppressed_n += n;
}

/*
 * Turn the attempts kept out by the rate limit into their summary row: the
 * first of them, action "suppressed", with their number.  force: at the
 * next recorded attempt (which has taken a token) or at exit; otherwise
 * (the start of a statement) only if the bucket has a token for it.
 */
static void
denial_release_summary(bool force)
{
	GovDenial  *d = suppressed_first;
	MemoryContext old;
	char	   *message;

	if (suppressed_n == 0 || d == NULL)
		return;
	if (!force && !(denial_take_token() && denial_take_role_token()))
		return;
	old = MemoryContextSwitchTo(denied_cxt);
	/* a summary that found no room and is summed up again keeps its first message */
	if (d->inner_message == NULL)
		d->inner_message = d->message;
	else
		pfree(d->message);
	message = psprintf("%d denied attempts of this session from %s on were not recorded one by one: "
					   "over governance.denied_log_rate_limit (%d per second per session) "
					   "or governance.denied_log_role_limit (%d per minute per role); "
					   "this row shows the first of them (%s)",
					   suppressed_n, timestamptz_to_str(d->at),
					   gov_denied_rate_limit, gov_denied_role_limit, d->inner_message);
	d->message = message;
	d->action = "suppressed";
	d->suppressed = suppressed_n;
	d->forced = force && denied_exiting;
	MemoryContextSwitchTo(old);
	suppressed_n = 0;
	suppressed_first = NULL;
	denial_log_line(d);
	denial_enqueue(d);
}

/*---- Writing the queue ----*/

/* Insert every unwritten record; runs inside the flush subtransaction. */
static void
denied_write_queue(void)
{
	GovAppender *app;
	GovRoleBudget *budget;
	GovDenial  *d;
	GovDenial  *next;
	GovDenial  *prev = NULL;
	SubTransactionId subid = GetCurrentSubTransactionId();
	TimestampTz now = GetCurrentTimestamp();
	Datum		addr;
	bool		addr_null;

	app = gov_appender_open(&gov_denied_log_shape, true);
	if (app == NULL)
	{
		/*
		 * The extension is not (or no longer) installed here, or is older
		 * than denied_log: nothing can ever be written.  The log lines
		 * stay; let the queue go when the extension is absent, keep it when
		 * it only needs ALTER EXTENSION UPDATE.
		 */
		if (!OidIsValid(gov_extension_oid(NULL)))
		{
			GovDenial  *next;

			for (d = queue_head; d; d = next)
			{
				next = d->next;
				gov_denial_free(d);
			}
			queue_head = queue_tail = NULL;
			queue_unwritten = 0;
		}
		return;
	}

	addr = gov_client_addr(&addr_null);
	budget = gov_role_budget_begin(now);
	for (d = queue_head; d; d = next)
	{
		next = d->next;
		if (d->written_subid != InvalidSubTransactionId)
		{
			prev = d;
			continue;
		}
		if (budget && !gov_role_budget_admit(budget, d))
		{
			/* over the role's bound: counted in the session's summary */
			queue_unlink(prev, d);
			queue_unwritten--;
			denial_fold(d);
			continue;
		}
		gov_denial_insert(app, d, now, addr, addr_null, "backend");
		d->written_subid = subid;
		queue_unwritten--;
		prev = d;
	}
	gov_appender_close(app);
	gov_role_budget_end(budget);
}

/*
 * Write queued records into denied_log in the current transaction, if the
 * backend is at a point where that is possible.  Called at the start of
 * every statement (ExecutorStart, ProcessUtility) and right after a
 * warning.  Errors are turned into a WARNING: the user's statement must
 * not fail because its predecessor's denial could not be stored.
 */
void
gov_denied_flush(void)
{
	MemoryContext oldcxt;
	ResourceOwner oldowner;
	bool		save_read_only = XactReadOnly;
	uint32		save_cancel_holdoff = QueryCancelHoldoffCount;

	/* a statement starts: an error recorded where raised was caught */
	rethrown_captured = false;
	if (suppressed_n > 0 && !flushing)
		denial_release_summary(false);
	if (queue_unwritten == 0 && queue_dropped == 0)
		return;
	if (flushing || !IsTransactionState() || IsAbortedTransactionBlockState() ||
		IsInParallelMode() || IsParallelWorker() || RecoveryInProgress() ||
		creating_extension || !OidIsValid(MyDatabaseId))
		return;

	if (queue_dropped > 0)
	{
		int			n = queue_dropped;

		queue_dropped = 0;
		ereport(WARNING,
				(errmsg("%d denied attempts were not queued for governance.denied_log", n),
				 errdetail("More than %d attempts were waiting to be written.", DENIED_QUEUE_MAX),
				 errhint("They are in the server log as \"governance denied attempt\" lines.")));
		if (queue_unwritten == 0)
			return;
	}

	flushing = true;
	oldcxt = CurrentMemoryContext;
	oldowner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);

	/*
	 * The record is ours, not the user's write: a read-only transaction
	 * (default_transaction_read_only set by the session, the role or the
	 * database, BEGIN READ ONLY) must not keep it out of denied_log.  The
	 * subtransaction's end puts the user's setting back (xact.c restores
	 * XactReadOnly from its parent); so do we, below, in both branches.
	 * Cancel requests (statement_timeout, lock_timeout, a cancel from the
	 * client) wait until the record is written: the write is short and
	 * takes no lock a non-superuser can hold against it.
	 */
	XactReadOnly = false;
	HOLD_CANCEL_INTERRUPTS();
	PG_TRY();
	{
		denied_write_queue();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		RESUME_CANCEL_INTERRUPTS();
		XactReadOnly = save_read_only;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* error recovery zeroed the hold-off count: put ours back */
		QueryCancelHoldoffCount = save_cancel_holdoff;
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		XactReadOnly = save_read_only;
		flushing = false;
		ereport(WARNING,
				(errmsg("could not write denied attempts to governance.denied_log: %s",
						edata->message),
				 errhint("They stay queued and are retried at the next statement.")));
		FreeErrorData(edata);
		return;
	}
	PG_END_TRY();
	flushing = false;
}

/*
 * Utility statements: write the queue before anything but the end of a
 * transaction that cannot commit what we would write (ROLLBACK, PREPARE).
 */
void
gov_denied_flush_utility(PlannedStmt *pstmt)
{
	if (queue_unwritten == 0 && queue_dropped == 0 && suppressed_n == 0)
		return;
	if (pstmt && pstmt->utilityStmt && IsA(pstmt->utilityStmt, TransactionStmt))
	{
		TransactionStmt *ts = (TransactionStmt *) pstmt->utilityStmt;

		if (ts->kind == TRANS_STMT_ROLLBACK || ts->kind == TRANS_STMT_ROLLBACK_TO ||
			ts->kind == TRANS_STMT_PREPARE || ts->kind == TRANS_STMT_ROLLBACK_PREPARED)
			return;
	}
	gov_denied_flush();
}

/*---- Transaction bookkeeping ----*/

static void
denied_xact_callback(XactEvent event, void *arg)
{
	GovDenial  *d;
	GovDenial  *prev = NULL;
	GovDenial  *next;

	if (queue_head == NULL)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* what this transaction wrote is durable now: forget it */
			for (d = queue_head; d; d = next)
			{
				next = d->next;
				if (d->written_subid != InvalidSubTransactionId)
				{
					queue_unlink(prev, d);
					gov_denial_free(d);
				}
				else
					prev = d;
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* what this transaction wrote is gone: queue it again */
			for (d = queue_head; d; d = d->next)
				if (d->written_subid != InvalidSubTransactionId)
				{
					d->written_subid = InvalidSubTransactionId;
					queue_unwritten++;
				}
			break;
		default:
			break;
	}
}

static void
denied_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	GovDenial  *d;

	if (queue_head == NULL)
		return;
	switch (event)
	{
		case SUBXACT_EVENT_COMMIT_SUB:
			for (d = queue_head; d; d = d->next)
				if (d->written_subid == mySubid)
					d->written_subid = parentSubid;
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			/* subtransactions still open below mySubid have larger ids */
			for (d = queue_head; d; d = d->next)
				if (d->written_subid != InvalidSubTransactionId &&
					d->written_subid >= mySubid)
				{
					d->written_subid = InvalidSubTransactionId;
					queue_unwritten++;
				}
			break;
		default:
			break;
	}
}

/*
 * Backend exit (client gone, FATAL, pg_terminate_backend): write what is
 * still queued in a transaction of our own, as the removal of temporary
 * relations does at the same point.
 */
static void
denied_at_exit(int code, Datum arg)
{
	if ((queue_head == NULL && suppressed_n == 0) || !OidIsValid(MyDatabaseId) ||
		IsParallelWorker() || RecoveryInProgress())
		return;

	/*
	 * A FATAL error (pg_terminate_backend) may leave the transaction that
	 * had written records open; aborting it here, not later in
	 * ShutdownPostgres, queues them again before we look.
	 */
	AbortOutOfAnyTransaction();
	denied_exiting = true;
	StartTransactionCommand();
	/* the queue first: what the role's bound keeps out of it is counted ... */
	gov_denied_flush();
	/* ... into the session's last summary, written whatever the buckets hold */
	denial_release_summary(true);
	gov_denied_flush();
	CommitTransactionCommand();
}
