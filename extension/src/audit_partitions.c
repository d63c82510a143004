/*-------------------------------------------------------------------------
 *
 * audit_partitions.c
 *	  Audit triggers on the partitions of an audited partitioned table.
 *
 * Statement triggers are not cloned to partitions, and TRUNCATE of a
 * partition fires none of its parent's, so every partition of an audited
 * partitioned table carries a clone of the parent's row trigger (made by
 * PostgreSQL) and a TRUNCATE audit trigger of its own (made here): by
 * enable_audit(), and by governance.ddl_watch() at ddl_command_end after
 * CREATE TABLE ... PARTITION OF or ATTACH PARTITION.  A detached partition
 * loses both.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "nodes/parsenodes.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "audit_trail.h"
#include "ddl_watch.h"
#include "extension.h"

/* The partitions of relid, at every level (relid itself excluded). */
List *
gov_partitions_of(Oid relid, LOCKMODE lockmode)
{
	return list_delete_first(find_all_inheritors(relid, lockmode, NULL));
}

/*
 * The partitions of an audited partitioned table carry clones of its row
 * trigger; enable any that were disabled.  Returns whether it changed one.
 */
bool
gov_enable_partition_clones(Oid relid, Oid funcoid)
{
	List	   *tree = find_all_inheritors(relid, ShareRowExclusiveLock, NULL);
	ListCell   *lc;
	bool		changed = false;

	foreach(lc, tree)
	{
		Oid			partid = lfirst_oid(lc);
		GovTriggerScan ts;
		HeapTuple	tup;
		bool		disabled = false;

		if (partid == relid)
			continue;
		gov_trigger_scan_begin(&ts, partid, gov_partitioned_table_triggers[0].name,
							   funcoid, true);
		tup = gov_trigger_scan_next(&ts);
		if (HeapTupleIsValid(tup))
			disabled = gov_audit_trigger_disabled(((Form_pg_trigger) GETSTRUCT(tup))->tgenabled);
		gov_trigger_scan_end(&ts);
		if (disabled)
		{
			Relation	part = table_open(partid, ShareRowExclusiveLock);

			EnableDisableTrigger(part, gov_partitioned_table_triggers[0].name,
								 TRIGGER_FIRES_ON_ORIGIN, false, ShareRowExclusiveLock);
			table_close(part, NoLock);
			CommandCounterIncrement();
			changed = true;
		}
	}
	return changed;
}

/*
 * TRUNCATE of a partition fires no trigger of the partitioned table (and
 * statement triggers are not cloned), so every partition of an audited
 * partitioned table gets a governance_audit_truncate trigger of its own:
 * made here for the tables in relids (enable_audit on the partitioned
 * table, and ddl_command_end after CREATE TABLE ... PARTITION OF or ATTACH
 * PARTITION), enabled if it was disabled.  Returns whether it changed one.
 */
bool
gov_ensure_partition_truncate_triggers(List *relids, Oid funcoid)
{
	const AuditTriggerSpec *spec = gov_audit_truncate_spec();
	ListCell   *lc;
	bool		changed = false;

	foreach(lc, relids)
	{
		Oid			partid = lfirst_oid(lc);
		Relation	part;
		GovTriggerScan ts;
		HeapTuple	tup;
		bool		exists = false;
		bool		disabled = false;

		/* every trigger of that name: one of another function is an error */
		gov_trigger_scan_begin(&ts, partid, spec->name, funcoid, false);
		tup = gov_trigger_scan_next(&ts);
		if (HeapTupleIsValid(tup))
		{
			Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);

			if (tg->tgfoid != funcoid)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("trigger \"%s\" for table \"%s\" already exists and is not a governance audit trigger",
								spec->name, get_rel_name(partid)),
						 errhint("Rename or drop that trigger, then call governance.enable_audit() on the partitioned table again.")));
			exists = true;
			disabled = gov_audit_trigger_disabled(tg->tgenabled);
		}
		gov_trigger_scan_end(&ts);
		if (exists && !disabled)
			continue;
		part = table_open(partid, ShareRowExclusiveLock);
		if (!exists)
			gov_create_audit_trigger(part, spec, funcoid);
		else
			EnableDisableTrigger(part, spec->name, TRIGGER_FIRES_ON_ORIGIN,
								 false, ShareRowExclusiveLock);
		table_close(part, NoLock);
		CommandCounterIncrement();
		changed = true;
	}
	return changed;
}

/*
 * A partition detached from an audited partitioned table lost its clone
 * of the row trigger; its TRUNCATE audit trigger goes too, so that it is
 * plainly not audited (the DETACH itself was recorded at
 * ddl_command_start).  Partitions still attached keep theirs.
 */

static void
drop_detached_truncate_triggers(Oid partid)
{
	Oid			funcoid;
	List	   *tree;
	ListCell   *lc;

	if (!OidIsValid(partid) || !OidIsValid(gov_extension_schema(true)))
		return;
	funcoid = gov_audit_function(false);
	tree = find_all_inheritors(partid, AccessExclusiveLock, NULL);
	foreach(lc, tree)
	{
		Oid			oid = lfirst_oid(lc);
		const char *name = gov_audit_truncate_spec()->name;
		Oid			tgoid = gov_audit_trigger_oid(oid, name, funcoid);

		if (OidIsValid(tgoid) && !gov_has_audit_clone(oid, funcoid))
			gov_drop_trigger_by_oid(tgoid);
	}
}

/*
 * ddl_command_end: a new partition under an audited partitioned table
 * (CREATE TABLE ... PARTITION OF, ALTER TABLE ... ATTACH PARTITION) gets
 * its TRUNCATE audit trigger (see gov_ensure_partition_truncate_triggers); the
 * row trigger was cloned to it by PostgreSQL.
 */
void
gov_watch_command_end(Node *tree)
{
	Oid			funcoid;
	Oid			parentid = InvalidOid;
	Oid			partid = InvalidOid;

	if (IsA(tree, CreateStmt))
	{
		CreateStmt *cs = (CreateStmt *) tree;

		if (cs->partbound == NULL || list_length(cs->inhRelations) != 1)
			return;
		parentid = RangeVarGetRelid(linitial_node(RangeVar, cs->inhRelations), NoLock, true);
		partid = RangeVarGetRelid(cs->relation, NoLock, true);
	}
	else if (IsA(tree, AlterTableStmt))
	{
		AlterTableStmt *as = (AlterTableStmt *) tree;
		ListCell   *lc;

		if (as->objtype != OBJECT_TABLE)
			return;
		foreach(lc, as->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
			PartitionCmd *pc = (PartitionCmd *) cmd->def;

			if (cmd->subtype == AT_AttachPartition && pc && pc->name)
			{
				parentid = RangeVarGetRelid(as->relation, NoLock, true);
				partid = RangeVarGetRelid(pc->name, NoLock, true);
			}
			else if ((cmd->subtype == AT_DetachPartition ||
					  cmd->subtype == AT_DetachPartitionFinalize) && pc && pc->name)
				drop_detached_truncate_triggers(RangeVarGetRelid(pc->name, NoLock, true));
		}
	}
	if (!OidIsValid(parentid) || !OidIsValid(partid) ||
		!OidIsValid(gov_extension_schema(true)))
		return;
	funcoid = gov_audit_function(false);
	if (!gov_relation_is_audited(parentid, funcoid))
		return;
	gov_ensure_partition_truncate_triggers(find_all_inheritors(partid, ShareRowExclusiveLock, NULL),
									   funcoid);
}
