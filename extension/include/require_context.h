/*-------------------------------------------------------------------------
 *
 * require_context.h
 *	  governance.require_context: every place it is applied
 *	  (require_context.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_REQUIRE_CONTEXT_H
#define GOV_REQUIRE_CONTEXT_H

/* The policy governance.enable_rls() creates (rls.c). */
#define GOV_RLS_POLICY_NAME "governance_context"

struct PlannedStmt;
struct QueryDesc;

/*
 * governance.require_context for a statement on relid: returns when it may
 * go on (after a WARNING in warn mode), raises ERROR 42501 in enforce mode.
 */
extern void gov_require_context_check(Oid relid, const char *command);
/* The same at ExecutorRun, for the governed tables of a plan. */
extern void gov_require_context_executor(struct QueryDesc *queryDesc);
/* Preloaded: TRUNCATE and COPY FROM of governed tables. */
extern void gov_require_context_utility(struct PlannedStmt *pstmt);

#endif							/* GOV_REQUIRE_CONTEXT_H */
