/*-------------------------------------------------------------------------
 *
 * extension.h
 *	  The installed pg_governance: its OID, owner, schema and members
 *	  (extension.c).
 *
 * Privileged code finds the extension's objects only through these.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_EXTENSION_H
#define GOV_EXTENSION_H

#define GOV_EXTENSION_NAME	"pg_governance"

/* The extension's OID (InvalidOid when not installed); *owner its owner. */
extern Oid	gov_extension_oid(Oid *owner);

/*
 * The extension's schema: InvalidOid when not installed (missing_ok),
 * else ERROR 55000.
 */
extern Oid	gov_extension_schema(bool missing_ok);

/* Is the object a member of the installed extension (pg_depend 'e')? */
extern bool gov_extension_member(Oid classid, Oid objid);

#endif							/* GOV_EXTENSION_H */
