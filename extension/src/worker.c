/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Background writing of denied attempts (preloaded mode).
 *
 * A backend that captures a denied attempt (denied.c) hands the record to
 * a queue in shared memory instead of keeping it until its own next
 * statement, and wakes a writer: the row is in governance.denied_log
 * within a second whether or not that backend ever runs another statement
 * or exits.
 *
 * The queue is governance.denied_queue_slots fixed-size slots (each one
 * record, up to GOV_DENIED_RECORD_MAX bytes, the statement cut to fit), so
 * a writer can take the records of its database from anywhere in it.
 * Slot states go FREE -> FILLING (the backend copies) -> READY -> TAKEN (a
 * writer is storing it) -> FREE once the writer's transaction commits, or
 * back to READY if it fails.  A spinlock guards the states only; copying
 * happens outside it.
 *
 * A background worker can connect to one database only, so there are two
 * kinds of process:
 *
 *	- the launcher (one, started with the server, not connected to any
 *	  database) sleeps on its latch; when a database has ready records and
 *	  no writer, it starts a writer for it;
 *	- a writer (dynamic, at most GOV_MAX_WRITERS at once) connects to its
 *	  database as the bootstrap superuser (with the settings that decide
 *	  whether a write can succeed pinned, whatever ALTER DATABASE ... SET
 *	  says: writer_pin_settings), stores what is ready in one
 *	  transaction per batch, waits on its latch for more, and exits when
 *	  nothing came for a short while, so that it never keeps DROP DATABASE
 *	  waiting long and holds no worker slot when idle.
 *
 * When the record cannot be handed over (queue full, library not preloaded)
 * the backend keeps it and writes it itself, as in plain mode (denied.c).
 * Records for a database that has no pg_governance are dropped by the
 * writer; records that no writer could take for GOV_DENIED_GIVE_UP_MS (a
 * database that cannot be connected to) are dropped by the launcher with a
 * WARNING.  In both cases the server-log line of each attempt remains.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "utils/snapmgr.h"

#include "denied_log.h"
#include "governance.h"
#include "worker.h"

#define GOV_MAX_WRITERS			4
#define GOV_WRITER_IDLE_MS		500
#define GOV_LAUNCHER_NAP_MS		1000
#define GOV_DENIED_GIVE_UP_MS	60000
#define GOV_NO_EXT_DBS			16
#define GOV_NO_EXT_MS			60000

typedef enum SlotState
{
	SLOT_FREE = 0,
	SLOT_FILLING,
	SLOT_READY,
	SLOT_TAKEN
} SlotState;

typedef struct DeniedSlot
{
	SlotState	state;
	Oid			dboid;
	TimestampTz ready_at;
	Size		len;
	char		data[GOV_DENIED_RECORD_MAX];
} DeniedSlot;

typedef struct WriterSlot
{
	Oid			dboid;			/* InvalidOid: free */
	pid_t		pid;			/* 0 until the writer runs */
	Latch	   *latch;
	TimestampTz started_at;
} WriterSlot;

typedef struct DeniedQueue
{
	slock_t		mutex;			/* slot and writer states */
	Latch	   *launcher_latch;
	pid_t		launcher_pid;
	uint64		handed;			/* records handed over, for capabilities() */
	uint64		written;		/* records stored by writers */
	WriterSlot	writers[GOV_MAX_WRITERS];
	/* databases found without pg_governance, and when (see handoff) */
	Oid			no_ext_db[GOV_NO_EXT_DBS];
	TimestampTz no_ext_at[GOV_NO_EXT_DBS];
	DeniedSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} DeniedQueue;

static DeniedQueue *queue = NULL;

PGDLLEXPORT void gov_denied_launcher_main(Datum arg);
PGDLLEXPORT void gov_denied_writer_main(Datum arg);

Size
gov_worker_shmem_size(void)
{
	return add_size(offsetof(DeniedQueue, slots),
					mul_size(gov_denied_queue_slots, sizeof(DeniedSlot)));
}

void
gov_worker_shmem_init(void)
{
	bool		found;

	queue = ShmemInitStruct("pg_governance denied queue",
							gov_worker_shmem_size(), &found);
	if (!found)
	{
		memset(queue, 0, offsetof(DeniedQueue, slots));
		SpinLockInit(&queue->mutex);
		for (int i = 0; i < gov_denied_queue_slots; i++)
			queue->slots[i].state = SLOT_FREE;
	}
}

/* Postmaster, preloaded: the launcher starts with the server. */
void
gov_worker_register(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 1;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pg_governance");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "gov_denied_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "pg_governance denied_log launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "pg_governance launcher");
	RegisterBackgroundWorker(&bgw);
}

/* Is the background writing of denied attempts available here? */
bool
gov_worker_available(void)
{
	bool		up;

	if (queue == NULL || !gov_denied_log_worker)
		return false;
	SpinLockAcquire(&queue->mutex);
	up = queue->launcher_pid != 0;
	SpinLockRelease(&queue->mutex);
	return up;
}

/*
 * Hand one serialized record of this database to the writers.  Returns
 * false when it cannot (not preloaded, no launcher, queue full); the caller
 * then keeps the record.  Must not fail: it runs inside error reporting.
 */
bool
gov_worker_handoff(const char *data, Size len)
{
	DeniedSlot *slot = NULL;
	Latch	   *wake = NULL;

	TimestampTz now = GetCurrentTimestamp();
	bool		no_ext = false;

	if (queue == NULL || len > GOV_DENIED_RECORD_MAX || !OidIsValid(MyDatabaseId))
		return false;

	SpinLockAcquire(&queue->mutex);
	/*
	 * A database where a writer recently found no pg_governance: keep the
	 * record in the backend, which drops it if the extension is still
	 * absent and stores it if it was created meanwhile.  No writer is
	 * started for nothing.
	 */
	for (int i = 0; i < GOV_NO_EXT_DBS; i++)
		if (queue->no_ext_db[i] == MyDatabaseId &&
			!TimestampDifferenceExceeds(queue->no_ext_at[i], now, GOV_NO_EXT_MS))
			no_ext = true;
	if (queue->launcher_pid != 0 && !no_ext)
	{
		for (int i = 0; i < gov_denied_queue_slots; i++)
			if (queue->slots[i].state == SLOT_FREE)
			{
				slot = &queue->slots[i];
				slot->state = SLOT_FILLING;
				break;
			}
	}
	SpinLockRelease(&queue->mutex);
	if (slot == NULL)
		return false;

	memcpy(slot->data, data, len);
	slot->len = len;
	slot->dboid = MyDatabaseId;
	slot->ready_at = now;

	SpinLockAcquire(&queue->mutex);
	slot->state = SLOT_READY;
	queue->handed++;
	for (int w = 0; w < GOV_MAX_WRITERS; w++)
		if (queue->writers[w].dboid == MyDatabaseId && queue->writers[w].latch)
			wake = queue->writers[w].latch;
	if (wake == NULL)
		wake = queue->launcher_latch;
	SpinLockRelease(&queue->mutex);
	if (wake)
		SetLatch(wake);
	return true;
}

/*---- Launcher ----*/

static void
launcher_detach(int code, Datum arg)
{
	SpinLockAcquire(&queue->mutex);
	queue->launcher_pid = 0;
	queue->launcher_latch = NULL;
	SpinLockRelease(&queue->mutex);
}

static bool
start_writer(Oid dboid)
{
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pg_governance");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "gov_denied_writer_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "pg_governance denied_log writer for database %u", dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "pg_governance writer");
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	bgw.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&bgw, &handle);
}

void
gov_denied_launcher_main(Datum arg)
{
	bool		warned_no_worker = false;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	/* no database: only so that it shows in pg_stat_activity */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	before_shmem_exit(launcher_detach, (Datum) 0);
	SpinLockAcquire(&queue->mutex);
	queue->launcher_pid = MyProcPid;
	queue->launcher_latch = MyLatch;
	/* writers of a previous launcher are gone with the restart */
	SpinLockRelease(&queue->mutex);

	while (!ShutdownRequestPending)
	{
		Oid			need[GOV_MAX_WRITERS];
		int			nneed = 0;
		int			dropped = 0;
		TimestampTz now = GetCurrentTimestamp();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* Which databases have ready records and no writer? */
		SpinLockAcquire(&queue->mutex);
		for (int w = 0; w < GOV_MAX_WRITERS; w++)
		{
			WriterSlot *ws = &queue->writers[w];

			/* a writer that never came up (could not connect): free it */
			if (OidIsValid(ws->dboid) && ws->pid == 0 &&
				TimestampDifferenceExceeds(ws->started_at, now, 10000))
				ws->dboid = InvalidOid;
		}
		for (int i = 0; i < gov_denied_queue_slots; i++)
		{
			DeniedSlot *s = &queue->slots[i];
			bool		covered = false;

			if (s->state != SLOT_READY)
				continue;
			for (int w = 0; w < GOV_MAX_WRITERS; w++)
				if (queue->writers[w].dboid == s->dboid)
					covered = true;
			for (int n = 0; n < nneed; n++)
				if (need[n] == s->dboid)
					covered = true;
			if (covered)
				continue;
			if (TimestampDifferenceExceeds(s->ready_at, now, GOV_DENIED_GIVE_UP_MS))
			{
				s->state = SLOT_FREE;
				dropped++;
				continue;
			}
			if (nneed < GOV_MAX_WRITERS)
				need[nneed++] = s->dboid;
		}
		/* claim writer slots for them */
		for (int n = 0; n < nneed; n++)
		{
			int			w;

			for (w = 0; w < GOV_MAX_WRITERS; w++)
				if (!OidIsValid(queue->writers[w].dboid))
					break;
			if (w == GOV_MAX_WRITERS)
			{
				nneed = n;
				break;
			}
			queue->writers[w].dboid = need[n];
			queue->writers[w].pid = 0;
			queue->writers[w].latch = NULL;
			queue->writers[w].started_at = now;
		}
		SpinLockRelease(&queue->mutex);

		if (dropped > 0)
			ereport(WARNING,
					(errmsg("pg_governance: %d denied attempts could not be written to governance.denied_log within %d s and were dropped",
							dropped, GOV_DENIED_GIVE_UP_MS / 1000),
					 errhint("They are in the server log as \"governance denied attempt\" lines.")));

		for (int n = 0; n < nneed; n++)
		{
			if (start_writer(need[n]))
			{
				warned_no_worker = false;
				continue;
			}
			/* no free worker slot: give the writer slot back, try later */
			SpinLockAcquire(&queue->mutex);
			for (int w = 0; w < GOV_MAX_WRITERS; w++)
				if (queue->writers[w].dboid == need[n] && queue->writers[w].pid == 0)
					queue->writers[w].dboid = InvalidOid;
			SpinLockRelease(&queue->mutex);
			if (!warned_no_worker)
				ereport(WARNING,
						(errmsg("pg_governance: could not start a denied_log writer"),
						 errhint("Raise max_worker_processes; until then records wait in the queue.")));
			warned_no_worker = true;
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 GOV_LAUNCHER_NAP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		/* absorb procsignal barriers (DROP DATABASE waits for them) */
		CHECK_FOR_INTERRUPTS();
	}
	/*
	 * Exit code 1: the postmaster starts the launcher again after
	 * bgw_restart_time, unless the server is shutting down (exit code 0
	 * would unregister it for good, e.g. after pg_terminate_backend).
	 */
	proc_exit(1);
}

/*---- Writer ----*/

static int	my_writer = -1;
static int *taken = NULL;		/* slot numbers this writer holds */
static int	ntaken = 0;

static void
writer_detach(int code, Datum arg)
{
	Latch	   *launcher = NULL;

	SpinLockAcquire(&queue->mutex);
	/* records taken but not committed go back */
	for (int i = 0; i < ntaken; i++)
		if (queue->slots[taken[i]].state == SLOT_TAKEN)
			queue->slots[taken[i]].state = SLOT_READY;
	ntaken = 0;
	if (my_writer >= 0 && queue->writers[my_writer].pid == MyProcPid)
	{
		queue->writers[my_writer].dboid = InvalidOid;
		queue->writers[my_writer].pid = 0;
		queue->writers[my_writer].latch = NULL;
	}
	launcher = queue->launcher_latch;
	SpinLockRelease(&queue->mutex);
	/* records may have arrived since: let the launcher look */
	if (launcher)
		SetLatch(launcher);
}

/* Take every ready record of this database; returns how many. */
static int
take_ready(Oid dboid)
{
	SpinLockAcquire(&queue->mutex);
	ntaken = 0;
	for (int i = 0; i < gov_denied_queue_slots; i++)
		if (queue->slots[i].state == SLOT_READY && queue->slots[i].dboid == dboid)
		{
			queue->slots[i].state = SLOT_TAKEN;
			taken[ntaken++] = i;
		}
	SpinLockRelease(&queue->mutex);
	return ntaken;
}

static void
release_taken(bool stored)
{
	SpinLockAcquire(&queue->mutex);
	for (int i = 0; i < ntaken; i++)
		queue->slots[taken[i]].state = stored ? SLOT_FREE : SLOT_READY;
	if (stored)
		queue->written += ntaken;
	ntaken = 0;
	SpinLockRelease(&queue->mutex);
}

/* Remember (for a while) that this database has no pg_governance. */
static void
note_no_extension(Oid dboid)
{
	int			oldest = 0;

	SpinLockAcquire(&queue->mutex);
	for (int i = 0; i < GOV_NO_EXT_DBS; i++)
	{
		if (queue->no_ext_db[i] == dboid)
		{
			oldest = i;
			break;
		}
		if (queue->no_ext_at[i] < queue->no_ext_at[oldest])
			oldest = i;
	}
	queue->no_ext_db[oldest] = dboid;
	queue->no_ext_at[oldest] = GetCurrentTimestamp();
	SpinLockRelease(&queue->mutex);
}

/*
 * The writer connects as the bootstrap superuser and so takes the
 * database's ALTER DATABASE ... SET defaults, which its owner (a
 * non-superuser) chooses.  None of them may keep a record out of
 * denied_log: a read-only default would make every insert fail, a
 * serializable one could fail it on a conflict.  (The writer runs no
 * statement, so statement_timeout and idle timeouts never arm; they are
 * pinned anyway, so that nothing depends on that.)
 */
static void
writer_pin_settings(void)
{
	static const char *const pinned[][2] = {
		{"default_transaction_read_only", "off"},
		{"default_transaction_isolation", "read committed"},
		{"default_transaction_deferrable", "off"},
		{"statement_timeout", "0"},
		{"lock_timeout", "0"},
		{"idle_in_transaction_session_timeout", "0"},
	};

	for (int i = 0; i < lengthof(pinned); i++)
		SetConfigOption(pinned[i][0], pinned[i][1], PGC_SUSET, PGC_S_OVERRIDE);
}

void
gov_denied_writer_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	TimestampTz idle_since = GetCurrentTimestamp();
	MemoryContext batch_cxt;
	int			failures = 0;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	taken = MemoryContextAlloc(TopMemoryContext, sizeof(int) * gov_denied_queue_slots);
	before_shmem_exit(writer_detach, (Datum) 0);
	SpinLockAcquire(&queue->mutex);
	for (int w = 0; w < GOV_MAX_WRITERS; w++)
		if (queue->writers[w].dboid == dboid && queue->writers[w].pid == 0)
		{
			my_writer = w;
			queue->writers[w].pid = MyProcPid;
			queue->writers[w].latch = MyLatch;
			break;
		}
	SpinLockRelease(&queue->mutex);
	if (my_writer < 0)
		proc_exit(0);			/* the launcher gave the slot up meanwhile */

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	writer_pin_settings();
	pgstat_report_appname("pg_governance denied_log writer");
	batch_cxt = AllocSetContextCreate(TopMemoryContext, "governance denied writer",
									  ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (take_ready(dboid) > 0)
		{
			const char **records = MemoryContextAlloc(batch_cxt, sizeof(char *) * ntaken);
			Size	   *lens = MemoryContextAlloc(batch_cxt, sizeof(Size) * ntaken);
			volatile bool stored = false;

			for (int i = 0; i < ntaken; i++)
			{
				records[i] = queue->slots[taken[i]].data;
				lens[i] = queue->slots[taken[i]].len;
			}
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			PG_TRY();
			{
				/*
				 * An active snapshot, as for any statement: index insertion
				 * may evaluate expressions, which need one.  (The appender
				 * refuses a denied_log with index expressions, see
				 * check_log_relation in appender.c; this keeps a superuser's
				 * own odd index from crashing the writer.)
				 */
				PushActiveSnapshot(GetTransactionSnapshot());
				if (!gov_denied_write_serialized(records, lens, ntaken))
					note_no_extension(dboid);
				PopActiveSnapshot();
				CommitTransactionCommand();
				stored = true;
			}
			PG_CATCH();
			{
				EmitErrorReport();
				FlushErrorState();
				AbortCurrentTransaction();
			}
			PG_END_TRY();
			release_taken(stored);
			MemoryContextReset(batch_cxt);
			if (!stored)
			{
				/* keep them; try again a little later, then give up to the launcher */
				if (++failures >= 5)
					proc_exit(1);
				(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 200, PG_WAIT_EXTENSION);
			}
			else
				failures = 0;
			idle_since = GetCurrentTimestamp();
			continue;
		}
		if (TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(), GOV_WRITER_IDLE_MS))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 GOV_WRITER_IDLE_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}

/* Counters for capabilities(). */
void
gov_worker_counts(uint64 *handed, uint64 *written)
{
	*handed = *written = 0;
	if (queue == NULL)
		return;
	SpinLockAcquire(&queue->mutex);
	*handed = queue->handed;
	*written = queue->written;
	SpinLockRelease(&queue->mutex);
}
