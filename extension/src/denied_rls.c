/*-------------------------------------------------------------------------
 *
 * denied_rls.c
 *	  Capture of row-level security violations for denied_log.
 *
 * Row-level security violations ("new row violates row-level security
 * policy ...", SQLSTATE 42501) are captured where the executor raises them
 * (ExecutorRun/ExecutorFinish hooks, in PG_CATCH before any EXCEPTION
 * block of the caller sees the error), with the relation the statement
 * used (rls_relid_in_query); those raised elsewhere (the rewriter's
 * refusal under row_security = off) through emit_log_hook when they are
 * reported, with no relation.  What is captured goes to denied.c, which
 * bounds, logs and stores it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "appender.h"
#include "denied.h"
#include "governance.h"

static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

static emit_log_hook_type prev_emit_log_hook = NULL;
static bool in_emit_hook = false;

static void denied_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
							   uint64 count, bool execute_once);
static void denied_ExecutorFinish(QueryDesc *queryDesc);
static void denied_emit_log_hook(ErrorData *edata);

/* Install the hooks; chained, each calling the previous one (or the standard). */
void
gov_denied_rls_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = denied_emit_log_hook;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = denied_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = denied_ExecutorFinish;
}

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

	if (!gov_denial_first_in_statement('r', relid))
		return;
	gov_denial_record(gov_denial_capture("rls", "refused", edata->sqlerrcode,
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
		!gov_denial_rethrown(edata->message))
	{
		in_emit_hook = true;
		rls_record(edata, rls_relid_in_query(queryDesc, edata->message), queryDesc);
		in_emit_hook = false;
		gov_denial_set_rethrown(edata->message);
	}
	FreeErrorData(edata);
	MemoryContextSwitchTo(ecxt);
}

static void
denied_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
				   uint64 count, bool execute_once)
{
	gov_denial_clear_rethrown();
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
	gov_denial_clear_rethrown();
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
	/* a statement holding a spliced token is not logged with the error */
	if (edata->output_to_server && !edata->hide_stmt && debug_query_string &&
		gov_holds_token(debug_query_string))
		edata->hide_stmt = true;
	if (!in_emit_hook && !IsParallelWorker() && OidIsValid(MyDatabaseId) &&
		is_rls_violation(edata))
	{
		if (gov_denial_rethrown(edata->message))
			gov_denial_clear_rethrown();	/* recorded where it was raised */
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
