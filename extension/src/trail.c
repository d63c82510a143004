/*-------------------------------------------------------------------------
 *
 * trail.c
 *	  The trail survives its installer: the logs' append-only guard, and
 *	  the refusal of DDL that would destroy the logs.
 *
 * DROP EXTENSION, DROP SCHEMA, DROP OWNED (of the extension's, the
 * schema's or a log's owner), DROP TABLE of a log and ALTER EXTENSION ...
 * ADD/DROP are refused to non-superusers while audit_batch or denied_log
 * holds anything (through governance.ddl_watch(), event_trigger.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/memutils.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "appender.h"
#include "audit_trail.h"
#include "ddl_watch.h"
#include "denied_log.h"
#include "extension.h"

PG_FUNCTION_INFO_V1(governance_append_only_trigger);

/*---- Append-only guard ----*/

/*
 * BEFORE UPDATE OR DELETE OR TRUNCATE on the logs: only a superuser may
 * (e.g. to apply a retention policy).  Privileges already keep everyone
 * else out; this also holds if a superuser grants them by mistake.
 */
Datum
governance_append_only_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("governance.append_only_trigger() can only be called as a trigger")));
	td = (TriggerData *) fcinfo->context;
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("governance.%s is append-only",
						RelationGetRelationName(td->tg_relation)),
				 errdetail("Only a superuser can update, delete or truncate it.")));
	return PointerGetDatum(NULL);
}

/*---- The trail's survival ----*/

/* The logs that make the trail. */
static const GovLogShape *const trail_logs[] = {&gov_audit_log_shape, &gov_denied_log_shape};

/* Does audit_batch or denied_log hold anything (any page)? */
static bool
trail_holds_rows(void)
{
	for (int i = 0; i < lengthof(trail_logs); i++)
	{
		Oid			relid = gov_log_relid(trail_logs[i]);
		Relation	rel;
		BlockNumber nblocks;

		if (!OidIsValid(relid))
			continue;
		rel = table_open(relid, AccessShareLock);
		nblocks = RelationGetNumberOfBlocks(rel);
		table_close(rel, AccessShareLock);
		if (nblocks > 0)
			return true;
	}
	return false;
}

/* Is relid governance.audit_batch or governance.denied_log? */
static bool
is_log_relation(Oid relid)
{
	for (int i = 0; i < lengthof(trail_logs); i++)
		if (OidIsValid(relid) && gov_log_relid(trail_logs[i]) == relid)
			return true;
	return false;
}

/*
 * Refuse to let a non-superuser destroy the audit trail or denied_log
 * (DROP EXTENSION, DROP SCHEMA, DROP OWNED, DROP TABLE of a log, ALTER
 * EXTENSION ... DROP) once either holds anything.
 */
static void
refuse_trail_destruction(const char *what)
{
	if (superuser() || !trail_holds_rows())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to drop %s", what),
			 errdetail("It would destroy the audit trail (governance.audit_log) or governance.denied_log, which hold rows."),
			 errhint("A superuser must do it; export the trail first.")));
}

/*
 * Record a DDL row for every audited table in schema nspoid (or owned by
 * roleid): a DROP SCHEMA ... CASCADE or DROP OWNED ... CASCADE is about to
 * drop them with their contents.
 */
static void
record_audited_tables_in(Oid nspoid, Oid roleid, const char *command)
{
	Oid			funcoid = gov_audit_function(false);
	Relation	tgrel;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *relids = NIL;
	ListCell   *lc;

	tgrel = table_open(TriggerRelationId, AccessShareLock);
	scan = systable_beginscan(tgrel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);
		HeapTuple	reltup;
		Form_pg_class relform;
		bool		match;

		if (tg->tgfoid != funcoid || OidIsValid(tg->tgparentid) ||
			list_member_oid(relids, tg->tgrelid))
			continue;
		reltup = SearchSysCache1(RELOID, ObjectIdGetDatum(tg->tgrelid));
		if (!HeapTupleIsValid(reltup))
			continue;
		relform = (Form_pg_class) GETSTRUCT(reltup);
		match = OidIsValid(nspoid) ? relform->relnamespace == nspoid
			: relform->relowner == roleid;
		ReleaseSysCache(reltup);
		if (match)
			relids = lappend_oid(relids, tg->tgrelid);
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);

	foreach(lc, relids)
		gov_audit_record_ddl(lfirst_oid(lc), command, "DROP TABLE", NULL);
}

void
gov_watch_drop(DropStmt *stmt)
{
	ListCell   *lc;
	Oid			funcoid = InvalidOid;

	switch (stmt->removeType)
	{
		case OBJECT_EXTENSION:
			foreach(lc, stmt->objects)
			{
				if (strcmp(strVal(lfirst(lc)), GOV_EXTENSION_NAME) == 0)
					refuse_trail_destruction("extension \"" GOV_EXTENSION_NAME "\"");
				else
					gov_watch_drop_other_extension(strVal(lfirst(lc)));
			}
			break;
		case OBJECT_SCHEMA:
			{
				Oid			schema = gov_extension_schema(true);

				foreach(lc, stmt->objects)
				{
					char	   *name = strVal(lfirst(lc));
					Oid			nspoid = get_namespace_oid(name, true);
					bool		holds_log = false;

					if (!OidIsValid(nspoid))
						continue;
					for (int i = 0; i < lengthof(trail_logs); i++)
					{
						Oid			logid = gov_log_relid(trail_logs[i]);

						if (OidIsValid(logid) && get_rel_namespace(logid) == nspoid)
							holds_log = true;
					}
					if (nspoid == schema || holds_log)
						refuse_trail_destruction(psprintf("schema \"%s\"", name));
					else if (stmt->behavior == DROP_CASCADE)
						record_audited_tables_in(nspoid, InvalidOid, "DROP SCHEMA");
				}
			}
			break;
		case OBJECT_TABLE:
			foreach(lc, stmt->objects)
			{
				RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
				Oid			relid = RangeVarGetRelid(rv, NoLock, true);

				if (!OidIsValid(relid))
					continue;
				if (is_log_relation(relid))
					refuse_trail_destruction(psprintf("table \"%s\"", gov_relation_name(relid)));
				if (!OidIsValid(funcoid))
					funcoid = gov_audit_function(false);
				if (gov_relation_is_audited(relid, funcoid))
					gov_audit_record_ddl(relid, "DROP TABLE", "DROP TABLE", NULL);
			}
			break;
		case OBJECT_TRIGGER:
			foreach(lc, stmt->objects)
			{
				List	   *names = (List *) lfirst(lc);
				List	   *relnames;
				char	   *tgname;
				Oid			relid;

				if (list_length(names) < 2)
					continue;
				tgname = strVal(llast(names));
				relnames = list_truncate(list_copy(names), list_length(names) - 1);
				relid = RangeVarGetRelid(makeRangeVarFromNameList(relnames), NoLock, true);
				if (!OidIsValid(relid))
					continue;
				if (!OidIsValid(funcoid))
					funcoid = gov_audit_function(false);
				if (gov_trigger_is_audit(relid, tgname, funcoid))
					gov_refuse_or_record(relid, "DROP TRIGGER", "DROP TRIGGER", tgname,
									 "Dropping an audit trigger stops auditing.");
			}
			break;
		default:
			break;
	}
}

/*
 * DROP OWNED BY a role that owns the extension, its schema or a log drops
 * the trail with them (with or without CASCADE): refused while the trail
 * holds rows.  DROP OWNED drops the role's audited tables: recorded.
 */
void
gov_watch_drop_owned(DropOwnedStmt *stmt)
{
	Oid			extoid;
	Oid			extowner;
	Oid			nspowner = InvalidOid;
	Oid			schema;
	ListCell   *lc;

	extoid = gov_extension_oid(&extowner);
	if (!OidIsValid(extoid))
		return;
	schema = gov_extension_schema(true);
	if (OidIsValid(schema))
	{
		HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(schema));

		if (HeapTupleIsValid(tup))
		{
			nspowner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
			ReleaseSysCache(tup);
		}
	}
	foreach(lc, stmt->roles)
	{
		Oid			roleid = get_rolespec_oid(lfirst(lc), true);
		bool		owns_log = false;

		if (!OidIsValid(roleid))
			continue;
		for (int i = 0; i < lengthof(trail_logs); i++)
		{
			Oid			logid = gov_log_relid(trail_logs[i]);
			HeapTuple	tup;

			if (!OidIsValid(logid))
				continue;
			tup = SearchSysCache1(RELOID, ObjectIdGetDatum(logid));
			if (HeapTupleIsValid(tup))
			{
				owns_log |= ((Form_pg_class) GETSTRUCT(tup))->relowner == roleid;
				ReleaseSysCache(tup);
			}
		}
		if (roleid == extowner || roleid == nspowner || owns_log)
			refuse_trail_destruction(psprintf("objects owned by role \"%s\"",
											  GetUserNameFromId(roleid, false)));
		/* DROP OWNED drops the role's tables, with or without CASCADE */
		record_audited_tables_in(InvalidOid, roleid, "DROP OWNED");
	}
}

/*
 * ALTER EXTENSION pg_governance ADD/DROP: membership decides what DROP
 * EXTENSION takes with it and what the privileged code trusts; only the
 * extension's scripts (run as a superuser) and superusers change it.
 */
void
gov_watch_alter_extension_contents(AlterExtensionContentsStmt *stmt)
{
	if (strcmp(stmt->extname, GOV_EXTENSION_NAME) != 0 || superuser())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to change the members of extension \"%s\"",
					GOV_EXTENSION_NAME),
			 errdetail("Removing a member could detach the audit trail or denied_log from the extension."),
			 errhint("Only a superuser can run ALTER EXTENSION %s ADD or DROP.",
					 GOV_EXTENSION_NAME)));
}

/*
 * sql_drop: a column of an audited table dropped along with something it
 * depended on (DROP TYPE / DOMAIN / COLLATION / FUNCTION / EXTENSION ...
 * CASCADE, ALTER TYPE ... DROP ATTRIBUTE CASCADE on a typed table), which
 * takes its value in every row.  Such a cascade ignores who owns the
 * table: the owner of a type can drop another role's column.  ALTER TABLE
 * ... DROP COLUMN itself was handled at ddl_command_start.  The query is
 * fixed text over pg_catalog only.
 */
void
gov_watch_sql_drop(EventTriggerData *trigdata)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(RelationRelationId)};
	List	   *relids = NIL;
	List	   *names = NIL;
	ListCell   *lc1;
	ListCell   *lc2;
	Oid			funcoid;
	uint64		i;

	if (trigdata->tag == CMDTAG_ALTER_TABLE)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT objid, object_identity"
							  "  FROM pg_catalog.pg_event_trigger_dropped_objects()"
							  " WHERE classid OPERATOR(pg_catalog.=) $1"
							  "   AND objsubid OPERATOR(pg_catalog.>) 0",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the dropped objects");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		objid = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		MemoryContext old = MemoryContextSwitchTo(CurTransactionContext);

		relids = lappend_oid(relids, DatumGetObjectId(objid));
		names = lappend(names, pstrdup(name ? name : "?"));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	if (relids == NIL)
		return;
	funcoid = gov_audit_function(false);
	forboth(lc1, relids, lc2, names)
	{
		Oid			relid = lfirst_oid(lc1);

		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)) &&
			gov_relation_is_audited(relid, funcoid))
			gov_refuse_or_record(relid, GetCommandTagName(trigdata->tag), "DROP COLUMN",
							 (char *) lfirst(lc2),
							 "A column dropped with an object it depended on loses its value in every row, with no audit row.");
	}
}
