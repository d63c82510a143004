/*-------------------------------------------------------------------------
 *
 * audit_enable.c
 *	  governance.enable_audit() and governance.disable_audit().
 *
 * enable_audit() makes sure a table has exactly the audit triggers it
 * needs (audited.c), disable_audit() is the recorded way to stop auditing;
 * both record what they changed in audit_log (op = 'DDL').
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "audit_trail.h"
#include "extension.h"

PG_FUNCTION_INFO_V1(governance_enable_audit);
PG_FUNCTION_INFO_V1(governance_disable_audit);

/*
 * The checks shared by enable_audit and disable_audit: a permanent, plain
 * or partitioned table that is not one of ours or a catalog, owned by the
 * caller.
 */
static void
check_auditable(Relation rel, const char *verb)
{
	const char *relname = RelationGetRelationName(rel);
	const char *kind = NULL;

	switch (rel->rd_rel->relkind)
	{
		case RELKIND_RELATION:
		case RELKIND_PARTITIONED_TABLE:
			break;
		case RELKIND_VIEW:
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("cannot %s auditing of \"%s\" because it is a view",
							verb, relname),
					 errhint("Audit the tables the view writes to instead.")));
			break;
		case RELKIND_FOREIGN_TABLE:
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("cannot %s auditing of \"%s\" because it is a foreign table",
							verb, relname),
					 errhint("Audit the table on the server that stores it.")));
			break;
		case RELKIND_MATVIEW:
			kind = "a materialized view";
			break;
		case RELKIND_SEQUENCE:
			kind = "a sequence";
			break;
		case RELKIND_INDEX:
		case RELKIND_PARTITIONED_INDEX:
			kind = "an index";
			break;
		default:
			kind = "not a table";
			break;
	}
	if (kind != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot %s auditing of \"%s\" because it is %s",
						verb, relname, kind),
				 errhint("Only tables and partitioned tables can be audited.")));

	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s auditing of temporary table \"%s\"", verb, relname),
				 errhint("Temporary tables disappear with their session; audit a permanent table.")));

	if (IsCatalogRelation(rel) ||
		RelationGetNamespace(rel) == gov_extension_schema(true))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s auditing of \"%s\"", verb, relname),
				 errhint("System catalogs and the tables of pg_governance itself cannot be audited.")));

	if (!pg_class_ownercheck(RelationGetRelid(rel), GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table \"%s\" to %s auditing", relname, verb),
				 errhint("Ask the owner of the table or a superuser to run governance.%s_audit().",
						 verb)));
}

/*
 * What enable_audit() refuses beyond check_auditable(): tables whose
 * changes its triggers would not all see.  A rule can replace a write
 * (DO INSTEAD) before any trigger fires; a statement that names an
 * inheritance parent changes its children's rows while only the parent's
 * statement triggers fire; a statement routed through a partitioned table
 * fires no statement trigger of the partition; an unlogged table is
 * emptied by a crash.
 */
static void
check_enable_preconditions(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	const char *relname = RelationGetRelationName(rel);

	if (rel->rd_rel->relhasrules)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot enable auditing of \"%s\" because it has rules", relname),
				 errdetail("A rule can rewrite or replace a write before any audit trigger sees it."),
				 errhint("Drop the table's rules, then call governance.enable_audit() again.")));
	if (rel->rd_rel->relispartition)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot enable auditing of \"%s\" because it is a partition", relname),
				 errdetail("Writes routed through the partitioned table would not fire its statement triggers."),
				 errhint("Audit the partitioned table (the root of the hierarchy): every partition is then audited.")));
	if (has_superclass(relid) ||
		(rel->rd_rel->relkind == RELKIND_RELATION &&
		 find_inheritance_children(relid, NoLock) != NIL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot enable auditing of \"%s\" because it is part of an inheritance tree", relname),
				 errdetail("A statement on an inheritance parent changes its children's rows, and fires only the parent's statement triggers."),
				 errhint("Use declarative partitioning, or remove the inheritance (ALTER TABLE ... NO INHERIT).")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot enable auditing of unlogged table \"%s\"", relname),
				 errdetail("A crash empties an unlogged table without any audit row."),
				 errhint("Run ALTER TABLE ... SET LOGGED first.")));
}

/*
 * governance.enable_audit(tbl regclass): make sure the table has exactly
 * the audit triggers it needs, each unmodified and enabled in origin mode
 * (and, on a partitioned table, every partition's clone enabled).  An
 * audit trigger of the wrong shape (a WHEN condition, a column list,
 * another timing, level or event) is replaced, any other trigger calling
 * audit_trigger() dropped.  Recorded in audit_log when it changed
 * anything; a NOTICE otherwise.
 */
Datum
governance_enable_audit(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			funcoid = gov_audit_function(false);
	Relation	rel;
	const AuditTriggerSpec *specs;
	const AuditTriggerSpec *spec;
	bool		changed = false;
	GovTriggerScan ts;
	HeapTuple	tup;
	List	   *drop = NIL;
	ListCell   *lc;

	rel = try_relation_open(relid, ShareRowExclusiveLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	check_auditable(rel, "enable");
	check_enable_preconditions(rel);
	specs = gov_audit_specs_for(rel->rd_rel->relkind);

	/*
	 * Which triggers calling audit_trigger() are not as enable_audit makes
	 * them?  (Every trigger is walked: one of another function holding an
	 * audit trigger's name is an error.)
	 */
	gov_trigger_scan_begin(&ts, relid, NULL, funcoid, false);
	while (HeapTupleIsValid(tup = gov_trigger_scan_next(&ts)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);

		spec = gov_audit_spec_named(specs, NameStr(tg->tgname));
		if (spec != NULL && tg->tgfoid != funcoid)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("trigger \"%s\" for table \"%s\" already exists and is not a governance audit trigger",
							spec->name, RelationGetRelationName(rel)),
					 errhint("Rename or drop that trigger, then call governance.enable_audit() again.")));
		if (tg->tgfoid != funcoid || OidIsValid(tg->tgparentid))
			continue;
		if (spec == NULL ||
			!gov_audit_shape_matches(spec, tg->tgtype,
								 !heap_attisnull(tup, Anum_pg_trigger_tgoldtable, NULL),
								 !heap_attisnull(tup, Anum_pg_trigger_tgnewtable, NULL),
								 tg->tgattr.dim1,
								 !heap_attisnull(tup, Anum_pg_trigger_tgqual, NULL),
								 tg->tgnargs))
			drop = lappend_oid(drop, tg->oid);
	}
	gov_trigger_scan_end(&ts);
	foreach(lc, drop)
	{
		gov_drop_trigger_by_oid(lfirst_oid(lc));
		changed = true;
	}

	for (spec = specs; spec->name != NULL; spec++)
	{
		bool		exists;
		bool		disabled = false;

		/* what is left under an audit trigger's name is an audit trigger */
		gov_trigger_scan_begin(&ts, relid, spec->name, funcoid, true);
		tup = gov_trigger_scan_next(&ts);
		exists = HeapTupleIsValid(tup);
		if (exists)
			disabled = gov_audit_trigger_disabled(((Form_pg_trigger) GETSTRUCT(tup))->tgenabled);
		gov_trigger_scan_end(&ts);
		if (!exists)
		{
			gov_create_audit_trigger(rel, spec, funcoid);
			changed = true;
		}
		else if (disabled)
		{
			EnableDisableTrigger(rel, spec->name, TRIGGER_FIRES_ON_ORIGIN,
								 false, ShareRowExclusiveLock);
			changed = true;
		}
		CommandCounterIncrement();
	}
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		if (gov_enable_partition_clones(relid, funcoid))
			changed = true;
		if (gov_ensure_partition_truncate_triggers(gov_partitions_of(relid, ShareRowExclusiveLock),
											   funcoid))
			changed = true;
	}

	if (changed)
		gov_audit_record_ddl(relid, "enable_audit", "enable_audit", NULL);
	else
		ereport(NOTICE,
				(errmsg("auditing of table \"%s\" is already enabled, skipping",
						RelationGetRelationName(rel))));
	table_close(rel, NoLock);
	PG_RETURN_VOID();
}

/*
 * governance.disable_audit(tbl regclass): drop every trigger of the table
 * that calls audit_trigger().  The last audit row says so.
 */
Datum
governance_disable_audit(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			funcoid = gov_audit_function(false);
	Relation	rel;
	GovTriggerScan ts;
	HeapTuple	tup;
	List	   *drop = NIL;
	ListCell   *lc;

	rel = try_relation_open(relid, AccessExclusiveLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	check_auditable(rel, "disable");

	gov_trigger_scan_begin(&ts, relid, NULL, funcoid, true);
	while (HeapTupleIsValid(tup = gov_trigger_scan_next(&ts)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);

		/* cloned partition triggers go with their parent */
		if (!OidIsValid(tg->tgparentid))
			drop = lappend_oid(drop, tg->oid);
	}
	gov_trigger_scan_end(&ts);

	/* the TRUNCATE triggers of a partitioned table's partitions */
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		List	   *parts = gov_partitions_of(relid, AccessExclusiveLock);

		foreach(lc, parts)
		{
			Oid			tgoid = gov_audit_trigger_oid(lfirst_oid(lc),
													  gov_audit_truncate_spec()->name,
													  funcoid);

			if (OidIsValid(tgoid))
				drop = lappend_oid(drop, tgoid);
		}
	}

	if (drop == NIL)
	{
		ereport(NOTICE,
				(errmsg("table \"%s\" is not audited, skipping",
						RelationGetRelationName(rel))));
		table_close(rel, NoLock);
		PG_RETURN_VOID();
	}

	/* Record first: the row names the table while it is still audited. */
	gov_audit_record_ddl(relid, "disable_audit", "disable_audit", NULL);
	foreach(lc, drop)
	{
		ObjectAddress addr;

		ObjectAddressSet(addr, TriggerRelationId, lfirst_oid(lc));
		performDeletion(&addr, DROP_RESTRICT, 0);
	}
	CommandCounterIncrement();
	table_close(rel, NoLock);
	PG_RETURN_VOID();
}
