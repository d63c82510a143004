/*-------------------------------------------------------------------------
 *
 * audited.c
 *	  What an audited table is: the triggers enable_audit() attaches, the
 *	  function they call, and the one test of "is this table audited".
 *
 * Triggers.  enable_audit() attaches, on an ordinary table,
 *	  governance_audit_insert    AFTER INSERT FOR EACH STATEMENT (NEW TABLE)
 *	  governance_audit_update    AFTER UPDATE FOR EACH STATEMENT (OLD TABLE, NEW TABLE)
 *	  governance_audit_delete    AFTER DELETE FOR EACH STATEMENT (OLD TABLE)
 *	  governance_audit_truncate  AFTER TRUNCATE FOR EACH STATEMENT
 * so a 100-row statement is one trigger call walking its transition tables
 * (PostgreSQL allows transition tables on single-event triggers only, hence
 * one trigger per event).  Statement triggers are not cloned to partitions,
 * so a partitioned table gets one AFTER ... FOR EACH ROW trigger instead
 * (cloned to every present and future partition) plus the TRUNCATE
 * trigger.  All of them run governance.audit_trigger(); "is this table
 * audited" means "has a trigger calling that function", whatever it is
 * named and whether or not it is enabled (gov_relation_is_audited): the
 * trigger names are not a test, since only the function records anything.
 * The function is the extension's member, found through its schema, never
 * by a name a non-superuser could plant.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"

#include "audit_trail.h"
#include "extension.h"

#define AUDIT_FUNCTION_NAME	"audit_trigger"

/* The triggers enable_audit() attaches (see the file header). */
const AuditTriggerSpec gov_plain_table_triggers[] = {
	{"governance_audit_insert", false, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_INSERT, false, true},
	{"governance_audit_update", false, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_UPDATE, true, true},
	{"governance_audit_delete", false, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_DELETE, true, false},
	{"governance_audit_truncate", false, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_TRUNCATE, false, false},
	{NULL}
};

const AuditTriggerSpec gov_partitioned_table_triggers[] = {
	{"governance_audit_row", true, TRIGGER_TYPE_AFTER,
	TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE, false, false},
	{"governance_audit_truncate", false, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_TRUNCATE, false, false},
	{NULL}
};

/* The triggers enable_audit() gives a relation of this kind (NULL: none). */
const AuditTriggerSpec *
gov_audit_specs_for(char relkind)
{
	if (relkind == RELKIND_RELATION)
		return gov_plain_table_triggers;
	if (relkind == RELKIND_PARTITIONED_TABLE)
		return gov_partitioned_table_triggers;
	return NULL;
}

const AuditTriggerSpec *
gov_audit_spec_named(const AuditTriggerSpec *spec, const char *name)
{
	for (; spec != NULL && spec->name != NULL; spec++)
		if (strcmp(spec->name, name) == 0)
			return spec;
	return NULL;
}

/*
 * Is a trigger exactly what enable_audit() makes from spec: its timing,
 * level and events (pg_trigger.tgtype), its transition tables, and no
 * column list, WHEN condition or arguments (each of which would make it
 * fire for some changes only)?
 */
bool
gov_audit_shape_matches(const AuditTriggerSpec *spec, int16 tgtype,
					bool has_old_table, bool has_new_table, int nattr,
					bool has_qual, int nargs)
{
	int16		want = (spec->row ? TRIGGER_TYPE_ROW : 0) | spec->timing | spec->events;

	return tgtype == want && has_old_table == spec->old_table &&
		has_new_table == spec->new_table && nattr == 0 && !has_qual && nargs == 0;
}

/*
 * governance.audit_trigger(), found in the extension's schema and checked
 * to be the extension's member: a function of that name that is not ours
 * is an ERROR even with missing_ok, which only covers an extension that is
 * not installed (or has no such function).
 */
Oid
gov_audit_function(bool missing_ok)
{
	Oid			schema;
	Oid			argtypes[1];

	Oid			funcoid;

	schema = gov_extension_schema(missing_ok);
	if (!OidIsValid(schema))
		return InvalidOid;
	funcoid = LookupFuncName(list_make2(makeString(get_namespace_name(schema)),
										makeString(AUDIT_FUNCTION_NAME)),
							 0, argtypes, missing_ok);
	if (!OidIsValid(funcoid))
		return InvalidOid;
	if (!gov_extension_member(ProcedureRelationId, funcoid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("function %s is not a member of extension \"%s\"",
						format_procedure(funcoid), GOV_EXTENSION_NAME),
				 errhint("A superuser should review and remove it, then run ALTER EXTENSION %s UPDATE.",
						 GOV_EXTENSION_NAME)));
	return funcoid;
}

/*
 * The one walk over a relation's triggers (pg_trigger by tgrelid, and by
 * tgname when one is given, in that index's order).  With only_audit, the
 * walk yields only the triggers calling funcoid (audit_trigger()); without,
 * every trigger, for the callers that must also see a trigger of another
 * function holding an audit trigger's name.  The tuples are valid until
 * the next call.  An InvalidOid funcoid (no extension) matches nothing.
 */
void
gov_trigger_scan_begin(GovTriggerScan *ts, Oid relid, const char *tgname,
					   Oid funcoid, bool only_audit)
{
	ScanKeyData keys[2];
	int			nkeys = 1;

	ts->funcoid = funcoid;
	ts->only_audit = only_audit;
	ts->tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	if (tgname != NULL)
		ScanKeyInit(&keys[nkeys++], Anum_pg_trigger_tgname, BTEqualStrategyNumber,
					F_NAMEEQ, CStringGetDatum(tgname));
	ts->scan = systable_beginscan(ts->tgrel, TriggerRelidNameIndexId, true,
								  NULL, nkeys, keys);
}

/* The next trigger of the walk, NULL at its end. */
HeapTuple
gov_trigger_scan_next(GovTriggerScan *ts)
{
	HeapTuple	tup;

	while (HeapTupleIsValid(tup = systable_getnext(ts->scan)))
		if (!ts->only_audit ||
			(OidIsValid(ts->funcoid) &&
			 ((Form_pg_trigger) GETSTRUCT(tup))->tgfoid == ts->funcoid))
			return tup;
	return NULL;
}

void
gov_trigger_scan_end(GovTriggerScan *ts)
{
	systable_endscan(ts->scan);
	table_close(ts->tgrel, AccessShareLock);
}

/* Does the table carry at least one trigger calling audit_trigger()? */
bool
gov_relation_is_audited(Oid relid, Oid funcoid)
{
	GovTriggerScan ts;
	bool		found;

	gov_trigger_scan_begin(&ts, relid, NULL, funcoid, true);
	found = gov_trigger_scan_next(&ts) != NULL;
	gov_trigger_scan_end(&ts);
	return found;
}

/* Is this trigger (by name, on relid) one of ours? */
bool
gov_trigger_is_audit(Oid relid, const char *tgname, Oid funcoid)
{
	return OidIsValid(gov_audit_trigger_oid(relid, tgname, funcoid));
}

/* The audit trigger named tgname on relid; InvalidOid if it is none. */
Oid
gov_audit_trigger_oid(Oid relid, const char *tgname, Oid funcoid)
{
	GovTriggerScan ts;
	HeapTuple	tup;
	Oid			tgoid = InvalidOid;

	gov_trigger_scan_begin(&ts, relid, tgname, funcoid, true);
	tup = gov_trigger_scan_next(&ts);
	if (HeapTupleIsValid(tup))
		tgoid = ((Form_pg_trigger) GETSTRUCT(tup))->oid;
	gov_trigger_scan_end(&ts);
	return tgoid;
}

/* Is relid audited, or (recurse) any table below it? */
bool
gov_tree_is_audited(Oid relid, bool recurse, Oid funcoid)
{
	List	   *tree;
	ListCell   *lc;

	if (gov_relation_is_audited(relid, funcoid))
		return true;
	if (!recurse || !has_subclass(relid))
		return false;
	tree = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, tree)
		if (gov_relation_is_audited(lfirst_oid(lc), funcoid))
			return true;
	return false;
}

/* Is tgname an audit trigger on relid or (recurse) on any table below it? */
bool
gov_tree_has_audit_trigger(Oid relid, bool recurse, const char *tgname, Oid funcoid)
{
	List	   *tree;
	ListCell   *lc;

	if (gov_trigger_is_audit(relid, tgname, funcoid))
		return true;
	if (!recurse || !has_subclass(relid))
		return false;
	tree = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, tree)
		if (gov_trigger_is_audit(lfirst_oid(lc), tgname, funcoid))
			return true;
	return false;
}

/* Does relid carry a partition clone of an audit trigger? */
bool
gov_has_audit_clone(Oid relid, Oid funcoid)
{
	GovTriggerScan ts;
	HeapTuple	tup;
	bool		found = false;

	gov_trigger_scan_begin(&ts, relid, NULL, funcoid, true);
	while (!found && HeapTupleIsValid(tup = gov_trigger_scan_next(&ts)))
		found = OidIsValid(((Form_pg_trigger) GETSTRUCT(tup))->tgparentid);
	gov_trigger_scan_end(&ts);
	return found;
}

/* Is this audit trigger disabled, or does it fire on replicas only? */
bool
gov_audit_trigger_disabled(char tgenabled)
{
	return tgenabled != TRIGGER_FIRES_ON_ORIGIN && tgenabled != TRIGGER_FIRES_ALWAYS;
}

/* The TRUNCATE trigger's spec (the same in both sets). */
const AuditTriggerSpec *
gov_audit_truncate_spec(void)
{
	return gov_audit_spec_named(gov_partitioned_table_triggers, "governance_audit_truncate");
}

/* Create one audit trigger on rel. */
void
gov_create_audit_trigger(Relation rel, const AuditTriggerSpec *spec, Oid funcoid)
{
	CreateTrigStmt *stmt = makeNode(CreateTrigStmt);

	stmt->replace = false;
	stmt->isconstraint = false;
	stmt->trigname = pstrdup(spec->name);
	stmt->relation = makeRangeVar(get_namespace_name(RelationGetNamespace(rel)),
								  pstrdup(RelationGetRelationName(rel)), -1);
	stmt->funcname = NIL;
	stmt->args = NIL;
	stmt->row = spec->row;
	stmt->timing = spec->timing;
	stmt->events = spec->events;
	stmt->columns = NIL;
	stmt->whenClause = NULL;
	stmt->transitionRels = NIL;
	if (spec->old_table)
	{
		TriggerTransition *tt = makeNode(TriggerTransition);

		tt->name = "governance_old";
		tt->isNew = false;
		tt->isTable = true;
		stmt->transitionRels = lappend(stmt->transitionRels, tt);
	}
	if (spec->new_table)
	{
		TriggerTransition *tt = makeNode(TriggerTransition);

		tt->name = "governance_new";
		tt->isNew = true;
		tt->isTable = true;
		stmt->transitionRels = lappend(stmt->transitionRels, tt);
	}
	stmt->deferrable = false;
	stmt->initdeferred = false;
	stmt->constrrel = NULL;

	CreateTrigger(stmt, "governance.enable_audit()", RelationGetRelid(rel),
				  InvalidOid, InvalidOid, InvalidOid, funcoid, InvalidOid,
				  NULL, false, false);
}

void
gov_drop_trigger_by_oid(Oid tgoid)
{
	ObjectAddress addr;

	ObjectAddressSet(addr, TriggerRelationId, tgoid);
	performDeletion(&addr, DROP_RESTRICT, 0);
	CommandCounterIncrement();
}
