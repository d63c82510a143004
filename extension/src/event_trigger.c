/*-------------------------------------------------------------------------
 *
 * event_trigger.c
 *	  governance.ddl_watch(): the event trigger function, dispatching each
 *	  event and command to the watch that owns it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/event_trigger.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "audit_trail.h"
#include "ddl_watch.h"

PG_FUNCTION_INFO_V1(governance_ddl_watch);

/*
 * governance.ddl_watch(): the event trigger function, for four events.
 * ddl_command_start works on the parse tree, before the command runs;
 * table_rewrite, before ALTER TABLE / ALTER TYPE rewrites a table;
 * sql_drop, after a command dropped objects (gov_watch_sql_drop);
 * ddl_command_end, after a partition was added (gov_watch_command_end).  What
 * it records is written in the command's transaction, so a failed command
 * leaves no trace and a successful one always does.  Event triggers run
 * as the user running the command: nothing here runs anything but
 * catalog lookups (and the appender); refusals do not depend on anything
 * that user can change.
 */
Datum
governance_ddl_watch(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Node	   *tree;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("governance.ddl_watch() can only be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (strcmp(trigdata->event, "table_rewrite") == 0)
	{
		gov_watch_table_rewrite();
		PG_RETURN_VOID();
	}
	if (strcmp(trigdata->event, "sql_drop") == 0)
	{
		gov_watch_sql_drop(trigdata);
		PG_RETURN_VOID();
	}
	if (strcmp(trigdata->event, "ddl_command_end") == 0)
	{
		if (trigdata->parsetree != NULL)
			gov_watch_command_end(trigdata->parsetree);
		PG_RETURN_VOID();
	}
	if (strcmp(trigdata->event, "ddl_command_start") != 0)
		PG_RETURN_VOID();
	tree = trigdata->parsetree;
	if (tree == NULL)
		PG_RETURN_VOID();

	switch (nodeTag(tree))
	{
		case T_AlterTableStmt:
			gov_watch_alter_table((AlterTableStmt *) tree);
			break;
		case T_DropStmt:
			gov_watch_drop((DropStmt *) tree);
			break;
		case T_DropOwnedStmt:
			gov_watch_drop_owned((DropOwnedStmt *) tree);
			break;
		case T_CreateTrigStmt:
			gov_watch_create_trigger((CreateTrigStmt *) tree);
			break;
		case T_RuleStmt:
			gov_watch_create_rule((RuleStmt *) tree);
			break;
		case T_CreateStmt:
			gov_watch_create_table((CreateStmt *) tree, false);
			break;
		case T_CreateForeignTableStmt:
			gov_watch_create_table(&((CreateForeignTableStmt *) tree)->base, true);
			break;
		case T_RenameStmt:
			{
				RenameStmt *rs = (RenameStmt *) tree;

				if (rs->renameType == OBJECT_ATTRIBUTE && rs->relation != NULL)
					gov_record_typed_tables(RangeVarGetRelid(rs->relation, NoLock, true),
										"RENAME ATTRIBUTE",
										psprintf("%s -> %s", rs->subname, rs->newname));
				else if (rs->renameType == OBJECT_TRIGGER)
					gov_watch_alter_trigger(rs->relation, rs->subname, "ALTER TRIGGER RENAME",
										"enable_audit() and the audit trigger know audit triggers by name.");
				else if ((rs->renameType == OBJECT_TABLE || rs->renameType == OBJECT_COLUMN) &&
						 rs->relation != NULL)
				{
					/*
					 * Not a row change, but a reviewer needs it: the
					 * trail names rows by column, and applications find
					 * the table by name.
					 */
					Oid			relid = RangeVarGetRelid(rs->relation, NoLock, true);

					if (OidIsValid(relid) && gov_relation_is_audited(relid, gov_audit_function(false)))
						gov_audit_record_ddl(relid, "ALTER TABLE",
										 rs->renameType == OBJECT_TABLE ? "RENAME" : "RENAME COLUMN",
										 rs->renameType == OBJECT_TABLE ? rs->newname :
										 psprintf("%s -> %s", rs->subname, rs->newname));
				}
			}
			break;
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *os = (AlterObjectSchemaStmt *) tree;

				if (os->objectType == OBJECT_TABLE && os->relation != NULL)
				{
					Oid			relid = RangeVarGetRelid(os->relation, NoLock, true);

					if (OidIsValid(relid) && gov_relation_is_audited(relid, gov_audit_function(false)))
						gov_audit_record_ddl(relid, "ALTER TABLE", "SET SCHEMA", os->newschema);
				}
			}
			break;
		case T_AlterObjectDependsStmt:
			{
				AlterObjectDependsStmt *ds = (AlterObjectDependsStmt *) tree;

				if (ds->objectType == OBJECT_TRIGGER && !ds->remove)
					gov_watch_alter_trigger(ds->relation, gov_depends_object_name(ds->object),
										"ALTER TRIGGER DEPENDS ON EXTENSION",
										"The audit trigger would be dropped, unrecorded, with that extension.");
			}
			break;
		case T_AlterExtensionContentsStmt:
			gov_watch_alter_extension_contents((AlterExtensionContentsStmt *) tree);
			break;
		case T_AlterEnumStmt:
			gov_watch_alter_enum((AlterEnumStmt *) tree);
			break;
		default:
			break;
	}
	PG_RETURN_VOID();
}
