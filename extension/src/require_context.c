/*-------------------------------------------------------------------------
 *
 * require_context.c
 *	  governance.require_context: the one check, and every place a
 *	  statement reaches it.
 *
 * With require_context = warn or enforce, a statement on a governed table
 * with no governance.agent_id set is recorded in denied_log (denied.c) and,
 * under enforce, refused with ERROR 42501 (gov_require_context_check).
 * A governed table is one with the policy of enable_rls() (rls.c) or, in
 * some routes, an audited one (audited.c).  The routes:
 *
 *	- governance.rls_guard(), in the policy of enable_rls() (below);
 *	- governance.audit_trigger() (audit.c), on every audited write;
 *	- ExecutorRun (governance.c's hook, gov_require_context_executor):
 *	  a scan that reads no row never reaches the policy's guard; in the
 *	  preloaded mode also every table with the policy whatever row-level
 *	  security says for this user, and every audited table the statement
 *	  writes whether or not its triggers fire;
 *	- ProcessUtility, preloaded mode (gov_require_context_utility):
 *	  TRUNCATE and COPY FROM of a governed table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/copy.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "rewrite/rowsecurity.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "appender.h"
#include "audit_trail.h"
#include "denied.h"
#include "governance.h"
#include "require_context.h"

PG_FUNCTION_INFO_V1(governance_rls_guard);

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

	first = gov_denial_first_in_statement(gov_require_context == GOV_REQUIRE_WARN ? 'W' : 'R',
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
		d = gov_denial_capture("require_context", "warned",
							   ERRCODE_WARNING_PRIVILEGE_NOT_GRANTED,
							   relid, qualname, command, message, true);
		gov_denial_record(d);
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
		d = gov_denial_capture("require_context", "refused",
							   ERRCODE_INSUFFICIENT_PRIVILEGE,
							   relid, qualname, command, message, true);
		gov_denial_record(d);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg_internal("%s", message),
			 errdetail("governance.agent_id is not set and governance.require_context is \"enforce\"."),
			 errhint("Call governance.set_context() at the start of the transaction.")));
}

/* Does the table carry our policy (enable_rls)? */
static bool
rel_has_policy(Relation rel)
{
	ListCell   *plc;

	if (!rel->rd_rel->relrowsecurity || rel->rd_rsdesc == NULL)
		return false;
	foreach(plc, rel->rd_rsdesc->policies)
	{
		RowSecurityPolicy *policy = (RowSecurityPolicy *) lfirst(plc);

		if (strcmp(policy->policy_name, GOV_RLS_POLICY_NAME) == 0)
			return true;
	}
	return false;
}

/*
 * Is the table audited?  The one definition (gov_relation_is_audited: a
 * trigger calling the extension's audit_trigger(), whatever its name,
 * enabled or not); no triggers at all is answered without a lookup.
 */
static bool
rel_is_audited(Relation rel)
{
	if (rel->trigdesc == NULL)
		return false;
	return gov_relation_is_audited(RelationGetRelid(rel), gov_audit_function(true));
}

static const char *
operation_command(CmdType operation)
{
	switch (operation)
	{
		case CMD_INSERT:
			return "INSERT";
		case CMD_UPDATE:
			return "UPDATE";
		case CMD_DELETE:
			return "DELETE";
		case CMD_MERGE:
			return "MERGE";
		default:
			return "SELECT";
	}
}

/*
 * Executor-level require_context: at ExecutorRun, before any row is read,
 * apply it to the governed tables of the plan.
 *
 * Plain mode: the tables governed by enable_rls() (our policy) to which
 * row-level security applies for this user.  The policy's own guard then
 * finds the statement already warned about (warn) or never runs (enforce).
 *
 * Preloaded mode (executor-level enforcement): every table with our policy,
 * whether or not row-level security applies to this user (superusers,
 * BYPASSRLS roles), and every audited table the statement writes, whether
 * or not its triggers will fire (session_replication_role = replica, a
 * disabled trigger, a statement that changes no row of a partition).
 *
 * A cursor runs this at every fetch; only the first one can warn (once per
 * table per statement).
 */
void
gov_require_context_executor(QueryDesc *queryDesc)
{
	ListCell   *lc;
	int			rti = 0;
	List	   *results = queryDesc->plannedstmt->resultRelations;

	if (gov_require_context == GOV_REQUIRE_OFF ||
		IsParallelWorker() ||	/* the leader checks */
		gov_context_value(GOV_FIELD_AGENT) != NULL ||
		!IsTransactionState())
		return;

	foreach(lc, queryDesc->plannedstmt->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		Relation	rel;
		bool		governed = false;

		rti++;
		if (rte->rtekind != RTE_RELATION ||
			(rte->relkind != RELKIND_RELATION &&
			 rte->relkind != RELKIND_PARTITIONED_TABLE))
			continue;
		rel = RelationIdGetRelation(rte->relid);
		if (rel == NULL)
			continue;
		if (rel_has_policy(rel))
			governed = gov_preloaded ||
				check_enable_rls(rte->relid, rte->checkAsUser, true) == RLS_ENABLED;
		else if (gov_preloaded && list_member_int(results, rti))
			governed = rel_is_audited(rel);
		RelationClose(rel);
		if (governed)
			gov_require_context_check(rte->relid, operation_command(queryDesc->operation));
	}
}

/*
 * Preloaded mode: TRUNCATE and COPY FROM of a governed table (our policy or
 * our audit triggers) need a context too, also when no trigger fires.
 */
void
gov_require_context_utility(PlannedStmt *pstmt)
{
	Node	   *stmt = pstmt->utilityStmt;
	List	   *rels = NIL;
	const char *command;
	ListCell   *lc;

	if (gov_require_context == GOV_REQUIRE_OFF ||
		gov_context_value(GOV_FIELD_AGENT) != NULL ||
		!IsTransactionState() || stmt == NULL)
		return;
	if (IsA(stmt, TruncateStmt))
	{
		rels = ((TruncateStmt *) stmt)->relations;
		command = "TRUNCATE";
	}
	else if (IsA(stmt, CopyStmt) && ((CopyStmt *) stmt)->is_from &&
			 ((CopyStmt *) stmt)->relation != NULL)
	{
		rels = list_make1(((CopyStmt *) stmt)->relation);
		command = "COPY";
	}
	else
		return;

	foreach(lc, rels)
	{
		Oid			relid = RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, true);
		Relation	rel;
		bool		governed;

		if (!OidIsValid(relid))
			continue;			/* the command itself reports it */
		rel = RelationIdGetRelation(relid);
		if (rel == NULL)
			continue;
		governed = rel_has_policy(rel) || rel_is_audited(rel);
		RelationClose(rel);
		if (governed)
			gov_require_context_check(relid, command);
	}
}

/*
 * The command being run, for the denial record: the top-level statement's
 * tag (for a statement inside a function this is the calling statement).
 */
static const char *
current_command(void)
{
	if (ActivePortal && ActivePortal->commandTag != CMDTAG_UNKNOWN)
		return GetCommandTagName(ActivePortal->commandTag);
	return "SELECT";
}

/*
 * governance.rls_guard(tbl regclass) → true, or an error under
 * require_context = enforce with no agent_id.
 */
Datum
governance_rls_guard(PG_FUNCTION_ARGS)
{
	if (gov_require_context != GOV_REQUIRE_OFF &&
		gov_context_value(GOV_FIELD_AGENT) == NULL)
		gov_require_context_check(PG_GETARG_OID(0), current_command());
	PG_RETURN_BOOL(true);
}
