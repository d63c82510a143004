/*-------------------------------------------------------------------------
 *
 * rls.c
 *	  governance.enable_rls(): the row-level security policy of the context.
 *
 * enable_rls(tbl, agent_column, tenant_column) enables and forces RLS and
 * (re)creates one permissive policy, governance_context, FOR ALL TO PUBLIC:
 *
 *	  (SELECT governance.rls_guard('tbl'::regclass))
 *	  AND agent_column = (SELECT governance.agent_id())
 *	  AND tenant_column = (SELECT governance.tenant_id())
 *
 * as both USING and WITH CHECK.  The scalar sub-selects become InitPlans:
 * the context is read once per query, not once per row, and an index on
 * the column can be used.  rls_guard() applies governance.require_context.
 * (Policy quals are security-barrier quals, which the planner never turns
 * into one-time filters, hence the sub-select around it too.)  An InitPlan
 * runs when the first row is examined, so a scan that reads no row at all
 * does not reach it; gov_require_context_executor() (require_context.c),
 * from the ExecutorRun hook, covers that case (the library is loaded at the
 * latest while the executor starts the first query whose plan calls one of
 * its functions, before that query runs).  With no agent_id the comparisons
 * are NULL, so an unset context sees and writes nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "extension.h"
#include "require_context.h"

/*---- Function declarations ----*/
PG_FUNCTION_INFO_V1(governance_enable_rls);

static void append_column_condition(StringInfo buf, Relation rel,
									const char *column, const char *role,
									const char *accessor, const char *schema);

/*
 * "AND col = (SELECT schema.accessor())": text-like columns are compared
 * as they are (an index on them serves); others through their text form.
 */
static void
append_column_condition(StringInfo buf, Relation rel, const char *column,
						const char *role, const char *accessor,
						const char *schema)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);
	Oid			typid;
	char		category;
	bool		preferred;

	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, RelationGetRelationName(rel)),
				 errhint("Pass the name of the column that holds the %s id.", role)));
	typid = getBaseType(get_atttype(RelationGetRelid(rel), attnum));
	get_type_category_preferred(typid, &category, &preferred);

	appendStringInfo(buf, " AND %s%s OPERATOR(pg_catalog.=) (SELECT %s.%s())",
					 quote_identifier(column),
					 category == TYPCATEGORY_STRING ? "" : "::pg_catalog.text",
					 quote_identifier(schema), accessor);
}

/*
 * governance.enable_rls(tbl regclass, agent_column name, tenant_column name)
 *
 * Idempotent: calling it again replaces the policy (so it can also change
 * the columns).  The caller must own the table.
 */
Datum
governance_enable_rls(PG_FUNCTION_ARGS)
{
	Oid			relid;
	const char *agent_col = PG_ARGISNULL(1) ? NULL : NameStr(*PG_GETARG_NAME(1));
	const char *tenant_col = PG_ARGISNULL(2) ? NULL : NameStr(*PG_GETARG_NAME(2));
	Relation	rel;
	const char *schema;
	char	   *qualname;
	StringInfoData cond;
	StringInfoData sql;
	bool		policy_exists;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	relid = PG_GETARG_OID(0);
	if (agent_col == NULL && tenant_col == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("enable_rls needs an agent column, a tenant column or both"),
				 errhint("Pass agent_column, tenant_column or both.")));

	rel = try_relation_open(relid, AccessExclusiveLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot enable row-level security on \"%s\" because it is not a table",
						RelationGetRelationName(rel)),
				 errhint("Row-level security applies to tables and partitioned tables.")));
	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table \"%s\" to enable row-level security",
						RelationGetRelationName(rel)),
				 errhint("Ask the owner of the table or a superuser to run governance.enable_rls().")));

	schema = get_namespace_name(gov_extension_schema(false));
	qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										  RelationGetRelationName(rel));

	initStringInfo(&cond);
	appendStringInfo(&cond, "(SELECT %s.rls_guard('%u'::pg_catalog.regclass))",
					 quote_identifier(schema), relid);
	if (agent_col)
		append_column_condition(&cond, rel, agent_col, "agent", "agent_id", schema);
	if (tenant_col)
		append_column_condition(&cond, rel, tenant_col, "tenant", "tenant_id", schema);

	/* keep the lock, drop the reference: ALTER TABLE checks it is unused */
	table_close(rel, NoLock);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = %u AND polname = '%s'",
					 relid, GOV_RLS_POLICY_NAME);
	if (SPI_execute(sql.data, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the policies of %s", qualname);
	policy_exists = SPI_processed > 0;

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY",
					 qualname);
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not enable row-level security on %s", qualname);
	if (policy_exists)
	{
		resetStringInfo(&sql);
		appendStringInfo(&sql, "DROP POLICY %s ON %s", GOV_RLS_POLICY_NAME, qualname);
		if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not drop policy on %s", qualname);
	}
	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE POLICY %s ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)",
					 GOV_RLS_POLICY_NAME, qualname, cond.data, cond.data);
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create policy on %s", qualname);
	SPI_finish();
	PG_RETURN_VOID();
}
