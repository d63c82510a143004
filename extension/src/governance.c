/*-------------------------------------------------------------------------
 *
 * governance.c
 *	  Module load (_PG_init) and hook installation only.
 *
 * The library is loaded either by shared_preload_libraries (preloaded mode)
 * or by the first call of one of its functions after a plain CREATE
 * EXTENSION (Cloud SQL-compatible mode).  Both paths come through
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

#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/utility.h"

#include "governance.h"

PG_MODULE_MAGIC;

bool		gov_preloaded = false;

/*---- Saved hook values ----*/
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;

/*---- Function declarations ----*/
void		_PG_init(void);
static void gov_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
							   bool readOnlyTree, ProcessUtilityContext context,
							   ParamListInfo params, QueryEnvironment *queryEnv,
							   DestReceiver *dest, QueryCompletion *qc);
static void gov_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void gov_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
							uint64 count, bool execute_once);

void
_PG_init(void)
{
	gov_preloaded = process_shared_preload_libraries_in_progress;

	gov_poolstats_init();
	gov_define_settings();
	gov_denied_init();

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = gov_ProcessUtility;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = gov_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = gov_ExecutorRun;
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

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * Executor start: make sure the raw settings carry the sealed values before
 * any plan runs, so that parallel workers (which copy the settings, not the
 * seal) see the sealed context too; then write queued denied attempts.
 */
static void
gov_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	gov_seal_resync();
	/* denied attempts still queued are written before the statement runs */
	gov_denied_flush();

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
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

	if (prev_ExecutorRun)
		prev_ExecutorRun(queryDesc, direction, count, execute_once);
	else
		standard_ExecutorRun(queryDesc, direction, count, execute_once);
}
