/*-------------------------------------------------------------------------
 *
 * extension.c
 *	  The installed extension: its OID, owner and schema, and whether an
 *	  object is one of its members.
 *
 * Every file finds the extension here, and only here: in pg_extension by
 * its name (extension names are unique in a database), never its schema by
 * name (before 0.5 the schema was owned by the installer, who could rename
 * it) nor through the namespace of the function being called.  Privileged
 * code uses only members of the extension (pg_depend deptype 'e'): a
 * look-alike of the same name that someone else created is not ours,
 * whoever could create it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "extension.h"

/*
 * Find the installed extension: false when it is not installed (or ERROR
 * unless missing_ok).  Each out-parameter may be NULL.
 */
static bool
lookup_extension(Oid *schema, Oid *extoid, Oid *owner, bool missing_ok)
{
	Relation	extrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		found = false;

	extrel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(GOV_EXTENSION_NAME));
	scan = systable_beginscan(extrel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		Form_pg_extension form = (Form_pg_extension) GETSTRUCT(tup);

		if (schema)
			*schema = form->extnamespace;
		if (extoid)
			*extoid = form->oid;
		if (owner)
			*owner = form->extowner;
		found = true;
	}
	systable_endscan(scan);
	table_close(extrel, AccessShareLock);

	if (!found && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"%s\" is not installed in this database",
						GOV_EXTENSION_NAME)));
	return found;
}

/* The extension's OID, or InvalidOid; *owner (if given) gets its owner. */
Oid
gov_extension_oid(Oid *owner)
{
	Oid			extoid;

	if (!lookup_extension(NULL, &extoid, owner, true))
		return InvalidOid;
	return extoid;
}

/*
 * The schema of the installed extension; InvalidOid when it is not
 * installed and missing_ok, else an ERROR.
 */
Oid
gov_extension_schema(bool missing_ok)
{
	Oid			schema;

	if (!lookup_extension(&schema, NULL, NULL, missing_ok))
		return InvalidOid;
	return schema;
}

/*
 * Is the object a member of the installed pg_governance (pg_depend deptype
 * 'e')?  Privileged code uses only members: a look-alike of the same name
 * that someone else created is not ours, whoever could create it.
 */
bool
gov_extension_member(Oid classid, Oid objid)
{
	Oid			extoid;

	if (!OidIsValid(objid) || !lookup_extension(NULL, &extoid, NULL, true))
		return false;
	return getExtensionOfObject(classid, objid) == extoid;
}
