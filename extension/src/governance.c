/*-------------------------------------------------------------------------
 *
 * governance.c
 *	  Module load (_PG_init) and hook installation only.
 *
 * The library is loaded either by shared_preload_libraries (preloaded mode)
 * or, after a plain CREATE EXTENSION (Cloud SQL-compatible mode), at
 * connection start by local_preload_libraries / session_preload_libraries
 * (docs/settings.md) or by the first call of one of its functions.  Both paths come through
 * _PG_init; whatever needs shared memory or a background worker can only
 * be set up in the first one, and capabilities() says so.
 *
 * Each hook saves the previous value and calls it (or the standard
 * routine), so pg_governance composes with pg_stat_statements, pgaudit and
 * friends in any load order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/guc.h"

#include "denied.h"
#include "governance.h"
#include "latency.h"
#include "require_context.h"
#include "sessions.h"
#include "worker.h"

PG_MODULE_MAGIC;

bool		gov_preloaded = false;
bool		gov_loaded_at_start = false;

/*---- Saved hook values ----*/
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

/* Depth of executor/utility calls: statements at depth 0 are top level. */
static int	nesting_level = 0;

/*---- Function declarations ----*/
void		_PG_init(void);
static void gov_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
							   bool readOnlyTree, ProcessUtilityContext context,
							   ParamListInfo params, QueryEnvironment *queryEnv,
							   DestReceiver *dest, QueryCompletion *qc);
static void gov_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void gov_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
							uint64 count, bool execute_once);
static void next_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
								bool readOnlyTree, ProcessUtilityContext context,
								ParamListInfo params, QueryEnvironment *queryEnv,
								DestReceiver *dest, QueryCompletion *qc);
static void next_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
							 uint64 count, bool execute_once);
static void gov_ExecutorFinish(QueryDesc *queryDesc);
static void gov_ExecutorEnd(QueryDesc *queryDesc);
static void gov_shmem_request(void);
static void gov_shmem_startup(void);
static void gov_xact_callback(XactEvent event, void *arg);

void
_PG_init(void)
{
	/*
	 * Another copy of this library is already initialised in this process:
	 * the file was replaced (a package upgrade) after the postmaster
	 * preloaded it, and local_preload_libraries now loads the new file
	 * through $libdir/plugins (a different inode).  The first copy serves
	 * everything; defining the settings again would fail the connection.
	 */
	{
		int			flags = GetConfigOptionFlags("governance.pool_alert_query_p99_ms", true);

		if (flags != 0 && !(flags & GUC_CUSTOM_PLACEHOLDER))
		{
			ereport(LOG,
					(errmsg("pg_governance is already loaded in this process; not initialising a second copy"),
					 errhint("The library file changed since the server started: restart the server to load the new one.")));
			return;
		}
	}

	gov_preloaded = process_shared_preload_libraries_in_progress;
	/*
	 * session_preload_libraries / local_preload_libraries load the library
	 * while the backend initialises (PostgreSQL 15: in InitPostgres, before
	 * normal processing starts); LOAD and the first call of one of its
	 * functions load it while a statement runs.
	 */
	gov_loaded_at_start = !gov_preloaded && IsUnderPostmaster &&
		(IsInitProcessingMode() || !IsTransactionState());

	gov_poolstats_init();
	/* told of every context change, from the first (settings defined below) */
	gov_context_listen(gov_session_publish);
	gov_context_listen(gov_latency_context_changed);
	gov_define_settings();
	gov_denied_rls_init();
	gov_denied_init();

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = gov_ProcessUtility;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = gov_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = gov_ExecutorRun;

	if (!gov_preloaded)
		return;

	/* Preloaded mode: shared memory, timing hooks, the background writer. */
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = gov_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = gov_shmem_startup;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = gov_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = gov_ExecutorEnd;
	RegisterXactCallback(gov_xact_callback, NULL);
	gov_worker_register();
}

static void
gov_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(gov_sessions_shmem_size());
	RequestAddinShmemSpace(gov_latency_shmem_size());
	RequestAddinShmemSpace(gov_worker_shmem_size());
	RequestAddinShmemSpace(gov_denied_shmem_size());
	RequestNamedLWLockTranche("pg_governance", 1);
}

static void
gov_shmem_startup(void)
{
	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	gov_sessions_shmem_init();
	gov_latency_shmem_init();
	gov_worker_shmem_init();
	gov_denied_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

static void
gov_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		gov_latency_xact_end();
}

/*
 * Utility commands: refuse the ones that would clear a sealed context
 * (RESET, SET ... TO DEFAULT, RESET ALL, DISCARD) before they touch any
 * setting, so the error is clear and nothing has to be undone; then write
 * any denied attempts still queued, before the command runs.
 */
static void
gov_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	gov_check_utility_against_seal(pstmt);
	/* denied attempts still queued are written before the statement runs */
	gov_denied_flush_utility(pstmt);
	/* preloaded: TRUNCATE / COPY FROM of a governed table need a context */
	if (gov_preloaded)
		gov_require_context_utility(pstmt);

	if (!gov_preloaded)
	{
		/* nesting_level serves only the preloaded mode's histograms */
		next_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
		return;
	}
	nesting_level++;
	PG_TRY();
	{
		next_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

static void
next_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					bool readOnlyTree, ProcessUtilityContext context,
					ParamListInfo params, QueryEnvironment *queryEnv,
					DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * Executor start: make sure the raw settings carry the sealed values before
 * a plan that may start parallel workers (they copy the settings, not the
 * seal; nothing else reads the raw settings while sealed: the show hooks
 * and gov_context_value() report the seal); then write queued denied
 * attempts.
 */
static void
gov_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (queryDesc->plannedstmt->parallelModeNeeded)
		gov_seal_resync();
	/* denied attempts still queued are written before the statement runs */
	gov_denied_flush();

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	/* preloaded: time top-level statements for the latency histograms */
	if (gov_preloaded && nesting_level == 0 &&
		(eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
		gov_latency_start(queryDesc);
}

/*
 * Executor run: governance.require_context for the tables of the plan
 * governed by enable_rls(), before any row is read.  (At ExecutorRun, not
 * ExecutorStart: a backend that loads the library while starting its first
 * governed query already runs it through this hook.)
 */
static void
gov_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
				uint64 count, bool execute_once)
{
	gov_require_context_executor(queryDesc);
	if (!gov_preloaded)
	{
		next_ExecutorRun(queryDesc, direction, count, execute_once);
		return;
	}
	/* preloaded: the latency clock of a top-level statement starts here */
	if (nesting_level == 0)
		gov_latency_run(queryDesc);

	nesting_level++;
	PG_TRY();
	{
		next_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

static void
next_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
				 uint64 count, bool execute_once)
{
	if (prev_ExecutorRun)
		prev_ExecutorRun(queryDesc, direction, count, execute_once);
	else
		standard_ExecutorRun(queryDesc, direction, count, execute_once);
}

/* Executor finish (preloaded): AFTER triggers run here, nested. */
static void
gov_ExecutorFinish(QueryDesc *queryDesc)
{
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

/* Executor end (preloaded): count the statement in its histogram. */
static void
gov_ExecutorEnd(QueryDesc *queryDesc)
{
	gov_latency_end(queryDesc);

	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}
