/*-------------------------------------------------------------------------
 *
 * denied.c
 *	  Capture and durable write of denied attempts (governance.denied_log),
 *	  and governance.require_context.
 *
 * A denied attempt usually rolls its transaction back, so its record cannot
 * be written by that transaction.  Without shared_preload_libraries this
 * backend is the only process that knows about it, so:
 *
 * 1. Capture.  Refusals and warnings of require_context are captured where
 *	  they are raised (gov_require_context_check).  Row-level security
 *	  violations ("new row violates row-level security policy ...",
 *	  SQLSTATE 42501) are captured where the executor raises them
 *	  (ExecutorRun/ExecutorFinish hooks, in PG_CATCH before any EXCEPTION
 *	  block of the caller sees the error), with the relation the statement
 *	  used (rls_relid_in_query); those raised elsewhere (the rewriter's
 *	  refusal under row_security = off) through emit_log_hook when they
 *	  are reported, with no relation.
 *
 * 2. Bound.  One record per (kind, relation) per top-level statement
 *	  (denial_first_in_statement), then at most governance.
 *	  denied_log_rate_limit records per second per backend (a token bucket
 *	  holding one second's worth).  Every captured attempt that passes the
 *	  de-duplication is one server-log line,
 *		  LOG:  governance denied attempt: {"source": "rls", ...}
 *	  those over the rate limit get no row of their own but are counted:
 *	  the first of them becomes a summary row (action "suppressed",
 *	  suppressed = their number) at the next recorded attempt, at the next
 *	  statement that finds a token, or at exit.  The rest is queued in
 *	  backend memory (TopMemoryContext), or handed to the background
 *	  writer in preloaded mode (worker.c).
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

#include "governance.h"

/*---- Columns of governance.denied_log (0-based, as created by 0.1--0.2) ----*/
enum
{
	DL_ID, DL_AT, DL_LOGGED_AT, DL_SOURCE, DL_ACTION, DL_SQLSTATE, DL_RELID,
	DL_RELATION, DL_COMMAND, DL_AGENT, DL_TENANT, DL_CORRELATION, DL_DB_USER,
	DL_SESSION_USER, DL_APPLICATION, DL_CLIENT_ADDR, DL_BACKEND_PID,
	DL_MESSAGE, DL_STATEMENT,
	DL_RECORDED_BY,				/* added by 0.3--0.4 */
	DL_SUPPRESSED,				/* added by 0.4--0.5 */
	DL_NATTS
};

/* Statement text is kept up to this many bytes (the log line has it all). */
#define DENIED_STATEMENT_MAX	8192
/* At most this many records wait to be written; beyond, only the log line. */
#define DENIED_QUEUE_MAX		1000

typedef struct GovDenial
{
	struct GovDenial *next;
	TimestampTz at;
	const char *source;			/* "rls" or "require_context" */
	const char *action;			/* "refused" or "warned" */
	int			sqlerrcode;
	Oid			relid;			/* InvalidOid when only the name is known */
	char	   *relation;
	char	   *command;
	char	   *agent_id;
	char	   *tenant_id;
	char	   *correlation_id;
	char	   *db_user;
	char	   *db_session_user;
	char	   *application_name;
	char	   *message;
	char	   *statement;
	int			backend_pid;
	int			suppressed;		/* action "suppressed": how many; else 0 */
	/* Subtransaction that wrote it, or InvalidSubTransactionId if queued. */
	SubTransactionId written_subid;
} GovDenial;

/*
 * The text fields of a record (all in denied_cxt): what denial_free()
 * frees and what a record for the background writer carries, in this
 * order, followed by the client address.
 */
static const size_t denial_text_fields[] = {
	offsetof(GovDenial, relation),
	offsetof(GovDenial, command),
	offsetof(GovDenial, agent_id),
	offsetof(GovDenial, tenant_id),
	offsetof(GovDenial, correlation_id),
	offsetof(GovDenial, db_user),
	offsetof(GovDenial, db_session_user),
	offsetof(GovDenial, application_name),
	offsetof(GovDenial, message),
	offsetof(GovDenial, statement),
};

#define DR_NFIELDS		lengthof(denial_text_fields)
#define DR_STATEMENT	(DR_NFIELDS - 1)	/* the one cut to fit */
#define DR_CLIENT_ADDR	DR_NFIELDS
#define DR_NSTRINGS		(DR_NFIELDS + 1)

static inline char **
denial_field(GovDenial *d, int i)
{
	return (char **) ((char *) d + denial_text_fields[i]);
}

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
int			gov_denied_rate_limit = 10;
static double bucket_tokens = -1;	/* < 0: full, not yet used */
static TimestampTz bucket_at = 0;
static int	suppressed_n = 0;
static GovDenial *suppressed_first = NULL;

/*
 * An RLS violation recorded where it was raised (the executor hooks
 * below) and re-thrown: not to be recorded again by an outer executor
 * level or by emit_log_hook when it is reported.  Cleared when execution
 * goes on (the error was caught) or when it is reported.
 */
static bool rethrown_captured = false;
static char rethrown_message[256];

static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

static emit_log_hook_type prev_emit_log_hook = NULL;
static bool in_emit_hook = false;

/*---- Function declarations ----*/
static GovDenial *denial_capture(const char *source, const char *action,
								 int sqlerrcode, Oid relid,
								 const char *relation, const char *command,
								 const char *message, bool catalog_ok);
static void denial_log_line(GovDenial *d);
static void denial_enqueue(GovDenial *d);
static bool denial_handoff(GovDenial *d);
static void denial_insert(GovAppender *app, GovDenial *d, TimestampTz now,
						  Datum addr, bool addr_null, const char *recorded_by);
static void denied_write_queue(void);
static void denied_emit_log_hook(ErrorData *edata);
static void denied_xact_callback(XactEvent event, void *arg);
static void denied_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);
static void denied_at_exit(int code, Datum arg);
static char *copy_or_null(const char *s);
static void register_exit_callback(void);
static bool denial_first_in_statement(char kind, Oid relid);
static const char *token_like_run(const char *s, size_t *len);
static char *redact_tokens(const char *s);
static bool denial_take_token(void);
static void denial_record(GovDenial *d);
static void denial_release_summary(bool force);
static void denied_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
							   uint64 count, bool execute_once);
static void denied_ExecutorFinish(QueryDesc *queryDesc);
static void denied_capture_raised(QueryDesc *queryDesc);

void
gov_denied_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = denied_emit_log_hook;
	RegisterXactCallback(denied_xact_callback, NULL);
	RegisterSubXactCallback(denied_subxact_callback, NULL);
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = denied_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = denied_ExecutorFinish;
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
static GovDenial *
denial_capture(const char *source, const char *action, int sqlerrcode,
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
		char	   *clean = redact_tokens(debug_query_string);
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

/*---- Signed tokens never in denied_log or the server log ----*/

#define TOKEN_PART_MIN 16
#define TOKEN_REDACTED "[token]"

static bool
is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * The first run in s that looks like a governance token (or any JWS-like
 * credential): two or three base64url parts of at least TOKEN_PART_MIN
 * characters joined by dots.  A token sent as a bind parameter is never in
 * the statement text; one spliced into SQL text would be, so the statement
 * is recorded with such runs replaced (denied_log.statement, the JSON log
 * line) and the server log's STATEMENT line is left out
 * (denied_emit_log_hook).
 */
static const char *
token_like_run(const char *s, size_t *len)
{
	const char *p = s;

	while (*p)
	{
		const char *start;
		const char *q;
		int			parts = 0;
		bool		short_part = false;

		if (!is_b64url(*p) || (p > s && is_b64url(p[-1])))
		{
			p++;
			continue;
		}
		start = q = p;
		for (;;)
		{
			const char *part = q;

			while (is_b64url(*q))
				q++;
			if (q - part < TOKEN_PART_MIN)
				short_part = true;
			parts++;
			if (*q == '.' && is_b64url(q[1]) && parts < 3)
			{
				q++;
				continue;
			}
			break;
		}
		if (parts >= 2 && !short_part)
		{
			*len = q - start;
			return start;
		}
		p = q > p ? q : p + 1;
	}
	return NULL;
}

/* A palloc'd copy of s with every token-like run replaced. */
static char *
redact_tokens(const char *s)
{
	StringInfoData buf;
	const char *p = s;
	const char *run;
	size_t		len;

	if (token_like_run(s, &len) == NULL)
		return pstrdup(s);
	initStringInfo(&buf);
	while ((run = token_like_run(p, &len)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, run - p);
		appendStringInfoString(&buf, TOKEN_REDACTED);
		p = run + len;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
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

static void
denial_free(GovDenial *d)
{
	/* every text field lives in denied_cxt (source/action are literals) */
	for (int i = 0; i < DR_NFIELDS; i++)
		if (*denial_field(d, i))
			pfree(*denial_field(d, i));
	pfree(d);
}

/*---- Records for the background writer (preloaded mode, worker.c) ----*/

/* Fixed part of a serialized record; the strings follow, NUL-terminated. */
typedef struct DeniedRecordHeader
{
	TimestampTz at;
	int			sqlerrcode;
	Oid			relid;
	int			backend_pid;
	int			suppressed;		/* action "suppressed" when > 0 */
	bool		rls;			/* source: rls or require_context */
	bool		warned;			/* action: warned or refused */
	uint16		present;		/* bit per string: not NULL */
} DeniedRecordHeader;


/*
 * Serialize a record and hand it to the background writer.  The statement
 * is cut to fit the queue's record size (the log line has all of it).
 * False when it cannot be handed over: the caller keeps the record.
 */
static bool
denial_handoff(GovDenial *d)
{
	DeniedRecordHeader hdr;
	const char *strs[DR_NSTRINGS];
	size_t		lens[DR_NSTRINGS];
	char	   *client_addr = NULL;
	bool		addr_null;
	Datum		addr;
	Size		total = sizeof(hdr);
	char	   *buf;
	char	   *p;
	bool		ok;

	if (!gov_worker_available())
		return false;
	addr = gov_client_addr(&addr_null);
	if (!addr_null)
		client_addr = DatumGetCString(DirectFunctionCall1(inet_out, addr));
	for (int i = 0; i < DR_NFIELDS; i++)
		strs[i] = *denial_field(d, i);
	strs[DR_CLIENT_ADDR] = client_addr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.at = d->at;
	hdr.sqlerrcode = d->sqlerrcode;
	hdr.relid = d->relid;
	hdr.backend_pid = d->backend_pid;
	hdr.suppressed = d->suppressed;
	hdr.rls = strcmp(d->source, "rls") == 0;
	hdr.warned = strcmp(d->action, "warned") == 0;
	for (int i = 0; i < DR_NSTRINGS; i++)
	{
		lens[i] = strs[i] ? strlen(strs[i]) : 0;
		if (strs[i])
		{
			hdr.present |= (1 << i);
			total += lens[i] + 1;
		}
	}
	if (total > GOV_DENIED_RECORD_MAX && lens[DR_STATEMENT] > 0)
	{
		/* cut the statement at a character boundary */
		size_t		excess = total - GOV_DENIED_RECORD_MAX;

		if (excess >= lens[DR_STATEMENT])
			return false;
		total -= lens[DR_STATEMENT];
		lens[DR_STATEMENT] = pg_mbcliplen(strs[DR_STATEMENT], lens[DR_STATEMENT],
										  lens[DR_STATEMENT] - excess);
		total += lens[DR_STATEMENT];
	}
	if (total > GOV_DENIED_RECORD_MAX)
		return false;

	buf = palloc(total);
	memcpy(buf, &hdr, sizeof(hdr));
	p = buf + sizeof(hdr);
	for (int i = 0; i < DR_NSTRINGS; i++)
	{
		if (!strs[i])
			continue;
		memcpy(p, strs[i], lens[i]);
		p[lens[i]] = '\0';
		p += lens[i] + 1;
	}
	ok = gov_worker_handoff(buf, total);
	pfree(buf);
	if (client_addr)
		pfree(client_addr);
	return ok;
}

/* Insert one record into denied_log through an open appender. */
static void
denial_insert(GovAppender *app, GovDenial *d, TimestampTz now,
			  Datum addr, bool addr_null, const char *recorded_by)
{
	Datum		values[DL_NATTS];
	bool		nulls[DL_NATTS];

	memset(nulls, false, sizeof(nulls));
	values[DL_ID] = (Datum) 0;
	values[DL_AT] = TimestampTzGetDatum(d->at);
	values[DL_LOGGED_AT] = TimestampTzGetDatum(now);
	values[DL_SOURCE] = CStringGetTextDatum(d->source);
	values[DL_ACTION] = CStringGetTextDatum(d->action);
	values[DL_SQLSTATE] = CStringGetTextDatum(unpack_sql_state(d->sqlerrcode));
	nulls[DL_RELID] = !OidIsValid(d->relid);
	values[DL_RELID] = ObjectIdGetDatum(d->relid);
#define TEXT_OR_NULL(col, s) \
	do { nulls[col] = ((s) == NULL); if (s) values[col] = CStringGetTextDatum(s); } while (0)
	TEXT_OR_NULL(DL_RELATION, d->relation);
	TEXT_OR_NULL(DL_COMMAND, d->command);
	TEXT_OR_NULL(DL_AGENT, d->agent_id);
	TEXT_OR_NULL(DL_TENANT, d->tenant_id);
	TEXT_OR_NULL(DL_CORRELATION, d->correlation_id);
	TEXT_OR_NULL(DL_DB_USER, d->db_user);
	TEXT_OR_NULL(DL_SESSION_USER, d->db_session_user);
	TEXT_OR_NULL(DL_APPLICATION, d->application_name);
	TEXT_OR_NULL(DL_STATEMENT, d->statement);
#undef TEXT_OR_NULL
	values[DL_CLIENT_ADDR] = addr;
	nulls[DL_CLIENT_ADDR] = addr_null;
	values[DL_BACKEND_PID] = Int32GetDatum(d->backend_pid);
	values[DL_MESSAGE] = CStringGetTextDatum(d->message);
	values[DL_RECORDED_BY] = CStringGetTextDatum(recorded_by);
	values[DL_SUPPRESSED] = Int32GetDatum(d->suppressed);
	nulls[DL_SUPPRESSED] = (d->suppressed == 0);
	gov_appender_insert(app, values, nulls);
}

/*
 * Background writer (worker.c): store serialized records in denied_log, in
 * the caller's transaction.  In a database without pg_governance there is
 * nowhere to store them: they are dropped (their log lines remain) and the
 * result is false.
 */
bool
gov_denied_write_serialized(const char **records, const Size *lens, int n)
{
	GovAppender *app = gov_appender_open(GOV_LOG_DENIED, true);
	TimestampTz now = GetCurrentTimestamp();

	if (app == NULL)
	{
		ereport(LOG,
				(errmsg("pg_governance: %d denied attempts dropped: governance.denied_log does not exist in this database", n)));
		return false;
	}
	for (int r = 0; r < n; r++)
	{
		DeniedRecordHeader hdr;
		GovDenial	d;
		const char *p = records[r] + sizeof(hdr);
		const char *end = records[r] + lens[r];
		char	   *strs[DR_NSTRINGS];
		Datum		addr = (Datum) 0;

		memcpy(&hdr, records[r], sizeof(hdr));
		for (int i = 0; i < DR_NSTRINGS; i++)
		{
			strs[i] = NULL;
			if (hdr.present & (1 << i))
			{
				size_t		len = strnlen(p, end - p);

				if (p + len >= end)
					elog(ERROR, "corrupt denied attempt record in the shared queue");
				strs[i] = (char *) p;
				p += len + 1;
			}
		}
		memset(&d, 0, sizeof(d));
		d.at = hdr.at;
		d.source = hdr.rls ? "rls" : "require_context";
		d.action = hdr.suppressed > 0 ? "suppressed" : hdr.warned ? "warned" : "refused";
		d.suppressed = hdr.suppressed;
		d.sqlerrcode = hdr.sqlerrcode;
		d.relid = hdr.relid;
		d.backend_pid = hdr.backend_pid;
		for (int f = 0; f < DR_NFIELDS; f++)
			*denial_field(&d, f) = strs[f];
		if (d.message == NULL)
			d.message = "";
		if (strs[DR_CLIENT_ADDR])
			addr = DirectFunctionCall1(inet_in, CStringGetDatum(strs[DR_CLIENT_ADDR]));
		denial_insert(app, &d, now, addr, strs[DR_CLIENT_ADDR] == NULL, "worker");
	}
	gov_appender_close(app);
	return true;
}

/* Store: hand over or queue; past DENIED_QUEUE_MAX only the log line remains. */
static void
denial_enqueue(GovDenial *d)
{
	if (gov_preloaded && denial_handoff(d))
	{
		/* the background writer stores it (worker.c) */
		denial_free(d);
		return;
	}
	if (queue_unwritten >= DENIED_QUEUE_MAX)
	{
		queue_dropped++;
		denial_free(d);
		return;
	}
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
static bool
denial_first_in_statement(char kind, Oid relid)
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

/*
 * A captured attempt (already past de-duplication): one server-log line,
 * then a row if the rate limit has a token for it, else counted.  A row
 * recorded after suppressed ones is preceded by their summary.
 */
static void
denial_record(GovDenial *d)
{
	denial_log_line(d);
	if (denial_take_token())
	{
		denial_release_summary(true);
		denial_enqueue(d);
		return;
	}
	if (suppressed_n++ == 0)
		suppressed_first = d;
	else
		denial_free(d);
	register_exit_callback();
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
	if (!force && !denial_take_token())
		return;
	old = MemoryContextSwitchTo(denied_cxt);
	message = psprintf("%d denied attempts of this session from %s on were not recorded one by one: "
					   "over governance.denied_log_rate_limit (%d per second); "
					   "this row shows the first of them (%s)",
					   suppressed_n, timestamptz_to_str(d->at),
					   gov_denied_rate_limit, d->message);
	pfree(d->message);
	d->message = message;
	d->action = "suppressed";
	d->suppressed = suppressed_n;
	MemoryContextSwitchTo(old);
	suppressed_n = 0;
	suppressed_first = NULL;
	denial_log_line(d);
	denial_enqueue(d);
}

/*---- governance.require_context ----*/

/*
 * Apply governance.require_context to a statement touching relid with no
 * agent_id set: nothing (off), a WARNING and a record (warn), or a record
 * and an ERROR 42501 (enforce).  The record (and the WARNING) once per
 * table per top-level statement; the ERROR every time.
 */
void
gov_require_context_check(Oid relid, const char *command)
{
	char	   *relname;
	char	   *qualname;
	char	   *message;
	GovDenial  *d;
	bool		first;

	if (gov_require_context == GOV_REQUIRE_OFF ||
		gov_context_value(GOV_FIELD_AGENT) != NULL)
		return;

	first = denial_first_in_statement(gov_require_context == GOV_REQUIRE_WARN ? 'W' : 'R',
									  relid);
	if (gov_require_context == GOV_REQUIRE_WARN && !first)
		return;

	relname = get_rel_name(relid);
	if (relname == NULL)
		relname = psprintf("%u", relid);
	qualname = gov_relation_name(relid);
	message = psprintf("governance context required for %s on table \"%s\"",
					   command, relname);

	if (gov_require_context == GOV_REQUIRE_WARN)
	{
		d = denial_capture("require_context", "warned",
						   ERRCODE_WARNING_PRIVILEGE_NOT_GRANTED,
						   relid, qualname, command, message, true);
		denial_record(d);
		ereport(WARNING,
				(errcode(ERRCODE_WARNING_PRIVILEGE_NOT_GRANTED),
				 errmsg_internal("%s", message),
				 errdetail("governance.agent_id is not set; governance.require_context is \"warn\", so the statement goes on and the attempt is recorded in governance.denied_log."),
				 errhint("Call governance.set_context() at the start of the transaction.")));
		/* The statement goes on: record it in its own transaction now. */
		gov_denied_flush();
		return;
	}

	if (first)
	{
		d = denial_capture("require_context", "refused",
						   ERRCODE_INSUFFICIENT_PRIVILEGE,
						   relid, qualname, command, message, true);
		denial_record(d);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg_internal("%s", message),
			 errdetail("governance.agent_id is not set and governance.require_context is \"enforce\"."),
			 errhint("Call governance.set_context() at the start of the transaction.")));
}

/*---- Capture of row-level security violations ----*/

static bool
is_rls_violation(ErrorData *edata)
{
	static const char *const prefixes[] = {
		"new row violates row-level security policy",
		"target row violates row-level security policy",
		"query would be affected by row-level security policy",
	};
	int			i;

	if (edata->elevel < ERROR || edata->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE ||
		edata->message_id == NULL)
		return false;
	for (i = 0; i < lengthof(prefixes); i++)
		if (strncmp(edata->message_id, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/*
 * Which relation of the statement an RLS violation is about.  The message
 * carries only the bare name ("... for table \"docs\""), so the relation
 * is looked for among those the statement really uses, never by a name
 * lookup: first the relations it writes (WITH CHECK options are checked
 * on them; a partition's are its root's), then its range table.  The
 * message must end with the candidate's quoted name.  Ambiguous (two
 * written relations of that name) or not found: InvalidOid, and the
 * record names no relation rather than a wrong one.
 */
static bool
message_names(const char *message, size_t mlen, const char *name)
{
	size_t		nlen = strlen(name);

	return nlen + 2 <= mlen &&
		message[mlen - 1] == '"' &&
		message[mlen - nlen - 2] == '"' &&
		strncmp(message + mlen - nlen - 1, name, nlen) == 0;
}

static Oid
rls_relid_in_query(QueryDesc *queryDesc, const char *message)
{
	EState	   *estate = queryDesc ? queryDesc->estate : NULL;
	size_t		mlen = message ? strlen(message) : 0;
	Oid			found = InvalidOid;
	List	   *written[2];
	ListCell   *lc;

	if (estate == NULL || mlen == 0)
		return InvalidOid;

	written[0] = estate->es_opened_result_relations;
	written[1] = estate->es_tuple_routing_result_relations;
	for (int i = 0; i < 2; i++)
		foreach(lc, written[i])
		{
			Relation	rel = ((ResultRelInfo *) lfirst(lc))->ri_RelationDesc;

			if (rel == NULL || !message_names(message, mlen, RelationGetRelationName(rel)))
				continue;
			if (OidIsValid(found) && found != RelationGetRelid(rel))
				return InvalidOid;
			found = RelationGetRelid(rel);
		}
	if (OidIsValid(found))
		return found;

	foreach(lc, estate->es_range_table)
	{
		RangeTblEntry *rte = lfirst(lc);
		char	   *name;

		if (rte->rtekind != RTE_RELATION || !OidIsValid(rte->relid))
			continue;
		name = get_rel_name(rte->relid);
		if (name == NULL || !message_names(message, mlen, name))
			continue;
		if (OidIsValid(found) && found != rte->relid)
			return InvalidOid;
		found = rte->relid;
	}
	return found;
}

/* First keyword of the statement, upper-cased (INSERT, UPDATE, ...). */
static char *
statement_command(const char *stmt)
{
	const char *p = stmt;
	int			n = 0;
	char	   *word;
	int			i;

	if (p == NULL)
		return NULL;
	while (*p && (isspace((unsigned char) *p) || *p == '('))
		p++;
	while (isalpha((unsigned char) p[n]))
		n++;
	if (n == 0)
		return NULL;
	word = pnstrdup(p, n);
	for (i = 0; i < n; i++)
		word[i] = pg_toupper((unsigned char) word[i]);
	return word;
}

/*
 * Record an RLS violation, once per relation per statement.  The command
 * is that of the refused query when known, else the statement's first word.
 */
static void
rls_record(ErrorData *edata, Oid relid, QueryDesc *queryDesc)
{
	char	   *relation = OidIsValid(relid) ? gov_relation_name(relid) : NULL;
	const char *command;

	if (queryDesc && queryDesc->plannedstmt)
		command = GetCommandTagName(CreateCommandTag((Node *) queryDesc->plannedstmt));
	else
		command = statement_command(debug_query_string);

	if (!denial_first_in_statement('r', relid))
		return;
	denial_record(denial_capture("rls", "refused", edata->sqlerrcode,
								 relid, relation, command,
								 edata->message, true));
}

/*
 * The executor raised an error (we are in its PG_CATCH, before any
 * EXCEPTION block of the caller can swallow it): an RLS violation is
 * recorded here, with the relation the statement used, and marked so that
 * neither an outer executor level nor emit_log_hook records it again.
 */
static void
denied_capture_raised(QueryDesc *queryDesc)
{
	MemoryContext ecxt;
	ErrorData  *edata;

	if (IsParallelWorker() || !OidIsValid(MyDatabaseId) ||
		!IsTransactionState() || in_emit_hook)
		return;
	/* most errors (cancel, out of memory, ...) are not ours: copy nothing */
	if (geterrcode() != ERRCODE_INSUFFICIENT_PRIVILEGE)
		return;
	ecxt = MemoryContextSwitchTo(queryDesc->estate ?
								 queryDesc->estate->es_query_cxt : TopTransactionContext);
	edata = CopyErrorData();
	if (is_rls_violation(edata) &&
		!(rethrown_captured &&
		  strncmp(edata->message, rethrown_message, sizeof(rethrown_message) - 1) == 0))
	{
		in_emit_hook = true;
		rls_record(edata, rls_relid_in_query(queryDesc, edata->message), queryDesc);
		in_emit_hook = false;
		strlcpy(rethrown_message, edata->message, sizeof(rethrown_message));
		rethrown_captured = true;
	}
	FreeErrorData(edata);
	MemoryContextSwitchTo(ecxt);
}

static void
denied_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
				   uint64 count, bool execute_once)
{
	rethrown_captured = false;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_CATCH();
	{
		denied_capture_raised(queryDesc);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* Data-modifying CTEs the main query did not read run to completion here. */
static void
denied_ExecutorFinish(QueryDesc *queryDesc)
{
	rethrown_captured = false;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_CATCH();
	{
		denied_capture_raised(queryDesc);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * emit_log_hook: an RLS violation is being reported that the executor
 * hooks did not see (the rewriter refuses a query under row_security =
 * off; or the library was loaded during the statement).  No catalog
 * access beyond the role names and no error may escape from here; the
 * relation cannot be established from the bare name in the message, so
 * the record names none (the message keeps the text).
 */
static void
denied_emit_log_hook(ErrorData *edata)
{
	size_t		toklen;

	/* a statement holding a spliced token is not logged with the error */
	if (edata->output_to_server && !edata->hide_stmt && debug_query_string &&
		token_like_run(debug_query_string, &toklen) != NULL)
		edata->hide_stmt = true;
	if (!in_emit_hook && !IsParallelWorker() && OidIsValid(MyDatabaseId) &&
		is_rls_violation(edata))
	{
		if (rethrown_captured &&
			strncmp(edata->message, rethrown_message, sizeof(rethrown_message) - 1) == 0)
			rethrown_captured = false;	/* recorded where it was raised */
		else
		{
			MemoryContext old = MemoryContextSwitchTo(ErrorContext);

			in_emit_hook = true;
			rls_record(edata, InvalidOid, NULL);
			in_emit_hook = false;
			MemoryContextSwitchTo(old);
		}
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*---- Writing the queue ----*/

/* Insert every unwritten record; runs inside the flush subtransaction. */
static void
denied_write_queue(void)
{
	GovAppender *app;
	GovDenial  *d;
	SubTransactionId subid = GetCurrentSubTransactionId();
	TimestampTz now = GetCurrentTimestamp();
	Datum		addr;
	bool		addr_null;

	app = gov_appender_open(GOV_LOG_DENIED, true);
	if (app == NULL)
	{
		/*
		 * The extension is not (or no longer) installed here, or is older
		 * than denied_log: nothing can ever be written.  The log lines
		 * stay; let the queue go when the extension is absent, keep it when
		 * it only needs ALTER EXTENSION UPDATE.
		 */
		if (!OidIsValid(get_extension_oid("pg_governance", true)))
		{
			GovDenial  *next;

			for (d = queue_head; d; d = next)
			{
				next = d->next;
				denial_free(d);
			}
			queue_head = queue_tail = NULL;
			queue_unwritten = 0;
		}
		return;
	}

	addr = gov_client_addr(&addr_null);
	for (d = queue_head; d; d = d->next)
	{
		if (d->written_subid != InvalidSubTransactionId)
			continue;
		denial_insert(app, d, now, addr, addr_null, "backend");
		d->written_subid = subid;
		queue_unwritten--;
	}
	gov_appender_close(app);
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
					if (prev)
						prev->next = next;
					else
						queue_head = next;
					if (queue_tail == d)
						queue_tail = prev;
					denial_free(d);
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
	/* what the rate limit kept out is summed up, whatever the bucket holds */
	denial_release_summary(true);
	if (queue_unwritten == 0)
		return;
	StartTransactionCommand();
	gov_denied_flush();
	CommitTransactionCommand();
}
