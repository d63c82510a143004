/*-------------------------------------------------------------------------
 *
 * ddl_watch.c
 *	  The DDL watch: refuse or record the DDL that would change an audited
 *	  table's rows or let changes pass its triggers unrecorded.
 *
 * No change without its audit row.  audit_trigger() refuses to run as
 * any attachment enable_audit() would not make (audit_check_attachment),
 * and governance.ddl_watch(), owned by the superuser and fired on
 * ddl_command_start, table_rewrite, sql_drop and ddl_command_end, refuses
 * to every non-superuser -- the table's owner included -- the DDL that
 * would change an audited table's rows or let changes pass its triggers
 * unrecorded: rules, inheritance, ATTACH PARTITION of a filled table, DROP
 * COLUMN (also by cascade), ALTER COLUMN TYPE and other value-computing
 * rewrites, SET UNLOGGED, and every way of disabling, replacing, renaming,
 * dropping or hand-attaching an audit trigger.  A superuser's such
 * command is recorded instead (op = 'DDL', in the command's transaction),
 * as are DROP TABLE, DETACH PARTITION and any other ALTER TABLE of an
 * audited table.  governance.disable_audit() is the recorded way to stop
 * auditing.  Every partition of an audited partitioned table also has its
 * own TRUNCATE trigger (TRUNCATE of a partition fires none of its
 * parent's).
 *
 * Event triggers run as the user running the command: nothing here runs
 * anything but catalog lookups (and the appender); refusals do not depend
 * on anything that user can change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "appender.h"
#include "audit_trail.h"
#include "ddl_watch.h"
#include "extension.h"

/*
 * DDL that would change an audited table's rows, or stop its audit
 * triggers from seeing changes, without any audit row: refused for every
 * non-superuser (the table's owner included; governance.disable_audit()
 * is the recorded way to stop auditing first), recorded (op = 'DDL') when
 * a superuser runs it.
 */
void
gov_refuse_or_record(Oid relid, const char *command, const char *action,
				 const char *detail, const char *why)
{
	if (superuser())
	{
		gov_audit_record_ddl(relid, command, action, detail);
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot run %s on audited table \"%s\"", action,
					gov_relation_name(relid)),
			 errdetail("%s", why),
			 errhint("Run governance.disable_audit() on the table first (the audit trail records it), or ask a superuser.")));
}

/* Does the table hold a row visible to a fresh snapshot? */
static bool
table_has_rows(Relation rel)
{
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	TableScanDesc scan = table_beginscan(rel, snap, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		found = table_scan_getnextslot(scan, ForwardScanDirection, slot);

	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snap);
	return found;
}

/*
 * ALTER TABLE parent ATTACH PARTITION part.  The partition's rows would
 * become rows of an audited table without ever having had audit rows, so
 * attaching a non-empty table (or any foreign table) under an audited
 * table is refused; so is attaching a table that is audited on its own
 * (its statement triggers would not fire for writes routed through the
 * parent).  The partition and its own partitions are locked as ATTACH
 * would lock them, so the emptiness seen here is the one ATTACH sees.
 */
static void
watch_attach(Oid parentid, bool parent_audited, PartitionCmd *pc, Oid funcoid)
{
	Oid			partid;
	List	   *tree;
	ListCell   *lc;

	if (pc == NULL || pc->name == NULL)
		return;
	partid = RangeVarGetRelid(pc->name, AccessExclusiveLock, true);
	if (!OidIsValid(partid))
		return;
	tree = find_all_inheritors(partid, AccessExclusiveLock, NULL);
	foreach(lc, tree)
	{
		Oid			oid = lfirst_oid(lc);
		char		relkind = get_rel_relkind(oid);
		char	   *name = gov_relation_name(oid);

		if (gov_relation_is_audited(oid, funcoid))
			gov_refuse_or_record(oid, "ALTER TABLE", "ATTACH PARTITION", name,
							 "The table is audited on its own: writes routed through the partitioned table would not fire its statement triggers.");
		if (!parent_audited)
			continue;
		if (relkind == RELKIND_FOREIGN_TABLE)
			gov_refuse_or_record(parentid, "ALTER TABLE", "ATTACH PARTITION", name,
							 "The rows of a foreign table change on its server, where no audit trigger sees them.");
		else if (relkind == RELKIND_RELATION)
		{
			Relation	rel = table_open(oid, NoLock);
			bool		rows = table_has_rows(rel);

			table_close(rel, NoLock);
			if (rows)
				gov_refuse_or_record(parentid, "ALTER TABLE", "ATTACH PARTITION", name,
								 psprintf("Table \"%s\" already holds rows, which have no audit rows.", name));
		}
	}
}

/*
 * ALTER TABLE (and ALTER FOREIGN TABLE) on an audited table, or on one
 * with audited tables below it when the command recurses.  Refused (see
 * gov_refuse_or_record): DROP COLUMN and ALTER COLUMN TYPE (they change every
 * row's values; ADD COLUMN with a volatile default and every other
 * rewrite are caught by the table_rewrite event), SET UNLOGGED, INHERIT
 * and NO INHERIT with an audited table on either side, ATTACH PARTITION
 * (watch_attach), and disabling an audit trigger (DISABLE TRIGGER by name,
 * USER or ALL, ENABLE REPLICA TRIGGER).  Recorded: enabling triggers,
 * DETACH PARTITION (the partition leaves the audited table with its rows),
 * and, once per statement, any other subcommand (ADD COLUMN with a
 * constant default, SET DEFAULT, constraints, ...), which change no row.
 */
void
gov_watch_alter_table(AlterTableStmt *stmt)
{
	Oid			relid;
	Oid			funcoid;
	bool		recurse;
	bool		audited;
	bool		tree_audited;
	bool		other = false;
	ListCell   *lc;

	if (stmt->objtype == OBJECT_TYPE && stmt->relation != NULL)
	{
		gov_record_typed_tables(RangeVarGetRelid(stmt->relation, NoLock, true),
							"ALTER TYPE", NULL);
		return;
	}
	if ((stmt->objtype != OBJECT_TABLE && stmt->objtype != OBJECT_FOREIGN_TABLE) ||
		stmt->relation == NULL)
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	funcoid = gov_audit_function(false);
	recurse = stmt->relation->inh;
	audited = gov_relation_is_audited(relid, funcoid);
	tree_audited = audited || gov_tree_is_audited(relid, recurse, funcoid);

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_AttachPartition:
				watch_attach(relid, audited, (PartitionCmd *) cmd->def, funcoid);
				continue;
			case AT_AddInherit:
			case AT_DropInherit:
				{
					RangeVar   *prv = (RangeVar *) cmd->def;
					Oid			parentid = RangeVarGetRelid(prv, NoLock, true);
					const char *action = cmd->subtype == AT_AddInherit ? "INHERIT" : "NO INHERIT";
					const char *why = "A statement on an inheritance parent changes its children's rows and fires only the parent's statement triggers.";

					if (audited)
						gov_refuse_or_record(relid, "ALTER TABLE", action,
										 quote_qualified_identifier(prv->schemaname, prv->relname), why);
					else if (OidIsValid(parentid) && gov_relation_is_audited(parentid, funcoid))
						gov_refuse_or_record(parentid, "ALTER TABLE", action,
										 gov_relation_name(relid), why);
				}
				continue;
			default:
				break;
		}
		if (!tree_audited)
			continue;
		switch (cmd->subtype)
		{
			case AT_DropColumn:
				gov_refuse_or_record(relid, "ALTER TABLE", "DROP COLUMN", cmd->name,
								 "Dropping a column destroys its value in every row, with no audit row.");
				break;
			case AT_AlterColumnType:
				gov_refuse_or_record(relid, "ALTER TABLE", "ALTER COLUMN TYPE", cmd->name,
								 "Changing a column's type can change its value in every row, with no audit row.");
				break;
			case AT_SetUnLogged:
				gov_refuse_or_record(relid, "ALTER TABLE", "SET UNLOGGED", NULL,
								 "A crash empties an unlogged table, with no audit row.");
				break;
			case AT_DisableTrigAll:
				gov_refuse_or_record(relid, "ALTER TABLE", "DISABLE TRIGGER ALL", NULL,
								 "It would disable the table's audit triggers.");
				break;
			case AT_DisableTrigUser:
				gov_refuse_or_record(relid, "ALTER TABLE", "DISABLE TRIGGER USER", NULL,
								 "It would disable the table's audit triggers.");
				break;
			case AT_DisableTrig:
			case AT_EnableReplicaTrig:
				if (cmd->name != NULL &&
					gov_tree_has_audit_trigger(relid, recurse, cmd->name, funcoid))
					gov_refuse_or_record(relid, "ALTER TABLE",
									 cmd->subtype == AT_DisableTrig ? "DISABLE TRIGGER" : "ENABLE REPLICA TRIGGER",
									 cmd->name,
									 cmd->subtype == AT_DisableTrig ?
									 "It would stop the audit trigger from firing." :
									 "An audit trigger enabled for replicas only does not fire for ordinary sessions.");
				else
					other = true;
				break;
			case AT_EnableTrig:
			case AT_EnableAlwaysTrig:
				if (cmd->name != NULL &&
					gov_tree_has_audit_trigger(relid, recurse, cmd->name, funcoid))
					gov_audit_record_ddl(relid, "ALTER TABLE",
									 cmd->subtype == AT_EnableTrig ? "ENABLE TRIGGER" : "ENABLE ALWAYS TRIGGER",
									 cmd->name);
				else
					other = true;
				break;
			case AT_EnableTrigAll:
				gov_audit_record_ddl(relid, "ALTER TABLE", "ENABLE TRIGGER ALL", NULL);
				break;
			case AT_EnableTrigUser:
				gov_audit_record_ddl(relid, "ALTER TABLE", "ENABLE TRIGGER USER", NULL);
				break;
			case AT_DetachPartition:
			case AT_DetachPartitionFinalize:
				{
					PartitionCmd *pc = (PartitionCmd *) cmd->def;

					gov_audit_record_ddl(relid, "ALTER TABLE", "DETACH PARTITION",
									 pc && pc->name ?
									 quote_qualified_identifier(pc->name->schemaname,
																pc->name->relname) : NULL);
				}
				break;
			default:
				other = true;
				break;
		}
	}
	if (other)
		gov_audit_record_ddl(relid, "ALTER TABLE", "ALTER TABLE", NULL);
}

/*
 * table_rewrite: ALTER TABLE or ALTER TYPE is about to rewrite an audited
 * table (or a partition of one).  A rewrite for a column's new type or
 * for a new column's volatile (or generated, or identity) value writes
 * values into every row without audit rows; SET UNLOGGED makes the rows
 * vanish at the next crash.  Refused for non-superusers (a superuser's
 * command was recorded at ddl_command_start).  SET LOGGED and SET ACCESS
 * METHOD rewrite storage, not values.
 */
void
gov_watch_table_rewrite(void)
{
	Oid			relid = DatumGetObjectId(OidFunctionCall0(F_PG_EVENT_TRIGGER_TABLE_REWRITE_OID));
	int			reason = DatumGetInt32(OidFunctionCall0(F_PG_EVENT_TRIGGER_TABLE_REWRITE_REASON));

	if (superuser() || !gov_relation_is_audited(relid, gov_audit_function(false)))
		return;
	if (reason & (AT_REWRITE_DEFAULT_VAL | AT_REWRITE_COLUMN_REWRITE))
		gov_refuse_or_record(relid, "ALTER TABLE", "a table rewrite", NULL,
						 "The command computes new values for every row (a new column's volatile or generated value, or a column's new type), with no audit row.");
	if ((reason & AT_REWRITE_ALTER_PERSISTENCE) &&
		get_rel_persistence(relid) == RELPERSISTENCE_PERMANENT)
		gov_refuse_or_record(relid, "ALTER TABLE", "SET UNLOGGED", NULL,
						 "A crash empties an unlogged table, with no audit row.");
}

/*
 * CREATE TRIGGER / CREATE CONSTRAINT TRIGGER.  Only enable_audit() (which
 * creates its triggers without going through this command) may attach
 * audit_trigger(): by hand it could be BEFORE, INSTEAD OF, or on the wrong
 * events (audit_check_attachment refuses those at run time as well).  The
 * function is resolved as CREATE TRIGGER will resolve it.  CREATE OR
 * REPLACE TRIGGER on an audit trigger (a WHEN condition, another function)
 * is refused.
 */
void
gov_watch_create_trigger(CreateTrigStmt *stmt)
{
	Oid			funcoid = gov_audit_function(false);
	Oid			target = LookupFuncName(stmt->funcname, 0, NULL, true);
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);

	if (target == funcoid && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only governance.enable_audit() may attach governance.audit_trigger()"),
				 errdetail("A trigger made by hand could record changes that never happened or miss some that did."),
				 errhint("Run governance.enable_audit() on the table.")));
	if (stmt->replace && OidIsValid(relid) &&
		gov_trigger_is_audit(relid, stmt->trigname, funcoid))
		gov_refuse_or_record(relid, "CREATE TRIGGER", "CREATE OR REPLACE TRIGGER",
						 stmt->trigname,
						 "Replacing an audit trigger (a WHEN condition, another function) silences it.");
}

/* CREATE RULE on an audited table: a rule rewrites writes before triggers see them. */
void
gov_watch_create_rule(RuleStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);

	if (OidIsValid(relid) && gov_relation_is_audited(relid, gov_audit_function(false)))
		gov_refuse_or_record(relid, "CREATE RULE", "CREATE RULE", stmt->rulename,
						 "A rule can replace or redirect a write (DO INSTEAD) before any audit trigger sees it.");
}

/*
 * CREATE TABLE ... INHERITS (audited): the child's rows would show in the
 * audited table and change through it with only its statement triggers
 * firing.  CREATE TABLE ... PARTITION OF an audited table is what
 * partitioning is for (the row trigger is cloned to the new partition);
 * a foreign partition is not, its rows change on another server.
 */
void
gov_watch_create_table(CreateStmt *stmt, bool foreign)
{
	Oid			funcoid = InvalidOid;
	ListCell   *lc;

	foreach(lc, stmt->inhRelations)
	{
		RangeVar   *prv = lfirst_node(RangeVar, lc);
		Oid			parentid = RangeVarGetRelid(prv, NoLock, true);

		if (!OidIsValid(parentid))
			continue;
		if (!OidIsValid(funcoid))
			funcoid = gov_audit_function(false);
		if (!gov_relation_is_audited(parentid, funcoid))
			continue;
		if (stmt->partbound == NULL)
			gov_refuse_or_record(parentid, foreign ? "CREATE FOREIGN TABLE" : "CREATE TABLE",
							 "INHERITS", stmt->relation->relname,
							 "A statement on an inheritance parent changes its children's rows and fires only the parent's statement triggers.");
		else if (foreign)
			gov_refuse_or_record(parentid, "CREATE FOREIGN TABLE", "PARTITION OF",
							 stmt->relation->relname,
							 "The rows of a foreign table change on its server, where no audit trigger sees them.");
	}
}

/* ALTER TRIGGER ... RENAME, and ALTER TRIGGER ... DEPENDS ON EXTENSION */
void
gov_watch_alter_trigger(RangeVar *relation, const char *tgname, const char *action,
					const char *why)
{
	Oid			relid;

	if (relation == NULL || tgname == NULL)
		return;
	relid = RangeVarGetRelid(relation, NoLock, true);
	if (OidIsValid(relid) && gov_trigger_is_audit(relid, tgname, gov_audit_function(false)))
		gov_refuse_or_record(relid, "ALTER TRIGGER", action, tgname, why);
}

/*
 * The objects that depend on (refclassid, refobjid), as pg_depend records
 * them (one ObjectAddress each, objectSubId a column for a column's
 * dependency): the one walk of pg_depend's reference index here.
 */
static List *
dependents_of(Oid refclassid, Oid refobjid)
{
	Relation	deprel;
	SysScanDesc scan;
	ScanKeyData keys[2];
	HeapTuple	tup;
	List	   *result = NIL;

	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(refclassid));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(refobjid));
	scan = systable_beginscan(deprel, DependReferenceIndexId, true, NULL, 2, keys);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);
		ObjectAddress *addr = palloc(sizeof(ObjectAddress));

		addr->classId = dep->classid;
		addr->objectId = dep->objid;
		addr->objectSubId = dep->objsubid;
		result = lappend(result, addr);
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);
	return result;
}

/*
 * DROP EXTENSION of another extension: audit triggers made dependent on
 * it (ALTER TRIGGER ... DEPENDS ON EXTENSION, refused since 0.5, or done
 * before) would be dropped with it.
 */
void
gov_watch_drop_other_extension(const char *extname)
{
	Oid			extoid = get_extension_oid(extname, true);
	Oid			funcoid;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *tgoids = NIL;
	ListCell   *lc;

	if (!OidIsValid(extoid))
		return;
	funcoid = gov_audit_function(false);
	foreach(lc, dependents_of(ExtensionRelationId, extoid))
	{
		ObjectAddress *dep = lfirst(lc);

		if (dep->classId == TriggerRelationId)
			tgoids = lappend_oid(tgoids, dep->objectId);
	}

	foreach(lc, tgoids)
	{
		Relation	tgrel = table_open(TriggerRelationId, AccessShareLock);
		ScanKeyData key;
		Oid			relid = InvalidOid;
		char	   *tgname = NULL;

		ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(lfirst_oid(lc)));
		scan = systable_beginscan(tgrel, TriggerOidIndexId, true, NULL, 1, &key);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup) && ((Form_pg_trigger) GETSTRUCT(tup))->tgfoid == funcoid)
		{
			relid = ((Form_pg_trigger) GETSTRUCT(tup))->tgrelid;
			tgname = pstrdup(NameStr(((Form_pg_trigger) GETSTRUCT(tup))->tgname));
		}
		systable_endscan(scan);
		table_close(tgrel, AccessShareLock);
		if (OidIsValid(relid))
			gov_refuse_or_record(relid, "DROP EXTENSION", "DROP TRIGGER", tgname,
							 psprintf("The audit trigger depends on extension \"%s\" and would be dropped with it.", extname));
	}
}

const char *
gov_depends_object_name(Node *object)
{
	if (object == NULL)
		return NULL;
	if (IsA(object, String))
		return strVal(object);
	if (IsA(object, List) && list_length((List *) object) > 0)
		return strVal(llast((List *) object));
	return NULL;
}

/*
 * Audited tables with a column whose values are, or contain, values of
 * type typid (through domains, arrays, ranges and composite types), found
 * through pg_depend; appended to *relids.  visited guards against cycles.
 */
static void
audited_tables_using_type(Oid typid, Oid funcoid, List **relids, List **visited)
{
	List	   *types = NIL;
	List	   *rels = NIL;
	ListCell   *lc;

	if (list_member_oid(*visited, typid) || list_length(*visited) > 1000)
		return;
	*visited = lappend_oid(*visited, typid);
	check_stack_depth();

	foreach(lc, dependents_of(TypeRelationId, typid))
	{
		ObjectAddress *dep = lfirst(lc);

		if (dep->classId == TypeRelationId)
			types = lappend_oid(types, dep->objectId);
		else if (dep->classId == RelationRelationId && dep->objectSubId > 0)
			rels = list_append_unique_oid(rels, dep->objectId);
	}

	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);
		char		relkind = get_rel_relkind(relid);

		if (relkind == RELKIND_COMPOSITE_TYPE)
			audited_tables_using_type(get_rel_type_id(relid), funcoid, relids, visited);
		else if (gov_relation_is_audited(relid, funcoid))
			*relids = list_append_unique_oid(*relids, relid);
	}
	foreach(lc, types)
		audited_tables_using_type(lfirst_oid(lc), funcoid, relids, visited);
}

/*
 * ALTER TYPE of a composite type with CASCADE changes the tables created
 * OF it (typed tables) as ALTER TABLE would: ADD ATTRIBUTE adds a column,
 * RENAME ATTRIBUTE renames one.  (DROP ATTRIBUTE reaches sql_drop and ALTER
 * ATTRIBUTE ... TYPE table_rewrite, where they are refused.)  Record it for
 * every audited typed table of the type, as ALTER TABLE and RENAME COLUMN
 * of it are recorded.  typerel is the type's pg_class entry.
 */
void
gov_record_typed_tables(Oid typerel, const char *action, const char *detail)
{
	Oid			typid;
	Oid			funcoid;
	List	   *relids = NIL;
	ListCell   *lc;

	if (!OidIsValid(typerel) || get_rel_relkind(typerel) != RELKIND_COMPOSITE_TYPE ||
		!OidIsValid(gov_extension_schema(true)))
		return;
	typid = get_rel_type_id(typerel);
	foreach(lc, dependents_of(TypeRelationId, typid))
	{
		ObjectAddress *dep = lfirst(lc);

		if (dep->classId == RelationRelationId && dep->objectSubId == 0)
			relids = list_append_unique_oid(relids, dep->objectId);
	}

	funcoid = gov_audit_function(false);
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		HeapTuple	ctup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		bool		typed;

		if (!HeapTupleIsValid(ctup))
			continue;
		typed = ((Form_pg_class) GETSTRUCT(ctup))->reloftype == typid;
		ReleaseSysCache(ctup);
		if (typed && gov_relation_is_audited(relid, funcoid))
			gov_audit_record_ddl(relid, "ALTER TYPE", action, detail);
	}
}

/*
 * ALTER TYPE ... RENAME VALUE: every stored value with that label now
 * reads as the new one, in every row of every table using the enum,
 * with no row change the audit triggers could see.  Refused while an
 * audited table uses the enum (recorded for a superuser).  ADD VALUE
 * changes no stored value.
 */
void
gov_watch_alter_enum(AlterEnumStmt *stmt)
{
	Oid			typid;
	Oid			funcoid;
	List	   *relids = NIL;
	List	   *visited = NIL;
	ListCell   *lc;

	if (stmt->oldVal == NULL)
		return;
	typid = LookupTypeNameOid(NULL, makeTypeNameFromNameList(stmt->typeName), true);
	if (!OidIsValid(typid) || !OidIsValid(gov_extension_schema(true)))
		return;
	funcoid = gov_audit_function(false);
	audited_tables_using_type(typid, funcoid, &relids, &visited);
	foreach(lc, relids)
		gov_refuse_or_record(lfirst_oid(lc), "ALTER TYPE", "RENAME VALUE",
						 psprintf("%s: %s -> %s", format_type_be(typid),
								  stmt->oldVal, stmt->newVal),
						 "Renaming an enum label changes the value of every row that holds it, with no audit row.");
}
