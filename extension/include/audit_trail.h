/*-------------------------------------------------------------------------
 *
 * audit_trail.h
 *	  The audit trail: governance.audit_batch's shape, what an audited
 *	  table is, row images, and the triggers on partitions.
 *
 * audit.c (the trigger), audit_enable.c (enable/disable_audit) and the DDL
 * watch (ddl_watch.h) build on these; none of these files calls back up.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_AUDIT_TRAIL_H
#define GOV_AUDIT_TRAIL_H

#include "appender.h"
#include "executor/tuptable.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

/*---- governance.audit_batch (audit_log.c) ----*/

/* Columns of governance.audit_batch (0-based, as created by 0.1--0.2) */
enum
{
	AL_FIRST_ID, AL_NROWS, AL_AT, AL_TXID, AL_RELID, AL_RELATION, AL_OP,
	AL_AGENT, AL_TENANT, AL_CORRELATION, AL_DB_USER, AL_SESSION_USER,
	AL_APPLICATION, AL_CLIENT_ADDR, AL_OLD_ROWS, AL_NEW_ROWS,
	AL_NATTS
};

/*
 * A batch holds at most this many rows (the id sequence steps by as much)
 * and is written once its row images pass AUDIT_BATCH_BYTES.
 */
#define AUDIT_BATCH_ROWS	100
#define AUDIT_BATCH_BYTES	(1024 * 1024)

extern const GovLogShape gov_audit_log_shape;

/* Values shared by every audit row: when, which transaction, table, who. */
extern void gov_audit_fill_common(Datum *values, bool *nulls, Oid relid,
								  const char *op, Datum relation);
/* Append an op = 'DDL' row about relid. */
extern void gov_audit_record_ddl(Oid relid, const char *command,
								 const char *action, const char *detail);

/*---- What an audited table is (audited.c) ----*/

/* A trigger enable_audit() attaches. */
typedef struct AuditTriggerSpec
{
	const char *name;
	bool		row;
	int16		timing;
	int16		events;
	bool		old_table;
	bool		new_table;
} AuditTriggerSpec;

extern const AuditTriggerSpec gov_plain_table_triggers[];
extern const AuditTriggerSpec gov_partitioned_table_triggers[];

extern const AuditTriggerSpec *gov_audit_specs_for(char relkind);
extern const AuditTriggerSpec *gov_audit_spec_named(const AuditTriggerSpec *spec,
													const char *name);
extern const AuditTriggerSpec *gov_audit_truncate_spec(void);
extern bool gov_audit_shape_matches(const AuditTriggerSpec *spec, int16 tgtype,
									bool has_old_table, bool has_new_table,
									int nattr, bool has_qual, int nargs);
extern bool gov_audit_trigger_disabled(char tgenabled);

/*
 * governance.audit_trigger(), the extension's own: InvalidOid when the
 * extension is not installed (missing_ok), else ERROR.
 */
extern Oid	gov_audit_function(bool missing_ok);

/*
 * "Is this table audited": it carries a trigger calling audit_trigger(),
 * whatever the trigger is named, enabled or not.  The one definition.
 */
extern bool gov_relation_is_audited(Oid relid, Oid funcoid);

/*
 * The one walk over a relation's triggers (of one name when tgname is not
 * NULL): with only_audit, just those calling audit_trigger() (funcoid).
 */
typedef struct GovTriggerScan
{
	Relation	tgrel;
	struct SysScanDescData *scan;
	Oid			funcoid;
	bool		only_audit;
} GovTriggerScan;

extern void gov_trigger_scan_begin(GovTriggerScan *ts, Oid relid,
								   const char *tgname, Oid funcoid,
								   bool only_audit);
extern HeapTuple gov_trigger_scan_next(GovTriggerScan *ts);
extern void gov_trigger_scan_end(GovTriggerScan *ts);
extern Oid	gov_audit_trigger_oid(Oid relid, const char *tgname, Oid funcoid);
extern bool gov_tree_is_audited(Oid relid, bool recurse, Oid funcoid);
extern bool gov_trigger_is_audit(Oid relid, const char *tgname, Oid funcoid);
extern bool gov_tree_has_audit_trigger(Oid relid, bool recurse,
									   const char *tgname, Oid funcoid);
extern bool gov_has_audit_clone(Oid relid, Oid funcoid);
extern void gov_create_audit_trigger(Relation rel, const AuditTriggerSpec *spec,
									 Oid funcoid);
extern void gov_drop_trigger_by_oid(Oid tgoid);

/*---- Row images as jsonb (rowjson.c) ----*/

/*
 * Per-column conversion of a row to jsonb, cached per audited relation in
 * CacheMemoryContext and dropped on any invalidation of that relation (or
 * of any schema: the cached name is schema-qualified).
 */
typedef enum RowJsonKind
{
	RJ_BOOL,
	RJ_INT2,
	RJ_INT4,
	RJ_INT8,
	RJ_NUMERIC,
	RJ_FLOAT,					/* output, then numeric unless NaN/Infinity */
	RJ_TEXT,
	RJ_DATETIME,				/* date, timestamp, timestamptz: ISO 8601 */
	RJ_OTHER,					/* through to_jsonb(anyelement) */
	RJ_TEXTOUT,					/* a user's type: its text output, a string */
	RJ_TEXTOUT_ARRAY			/* a 1-D array of one: its elements' strings */
} RowJsonKind;

typedef struct RowJsonColumn
{
	int			attnum;			/* 0-based */
	RowJsonKind kind;
	Oid			typid;			/* base type */
	JsonbValue	key;
	FmgrInfo	fn;				/* RJ_FLOAT, RJ_TEXTOUT: output function;
								 * RJ_OTHER: to_jsonb; RJ_TEXTOUT_ARRAY: the
								 * element type's output function */
	int16		elmlen;			/* RJ_TEXTOUT_ARRAY: the element type's */
	bool		elmbyval;
	char		elmalign;
} RowJsonColumn;

typedef struct RowJson
{
	Oid			relid;			/* hash key */
	bool		valid;
	text	   *relation;		/* schema-qualified name */
	int			ncolumns;
	RowJsonColumn *columns;		/* in jsonb key order, not attnum order */
	TupleDesc	desc;			/* unpinned copy, for the slots below */
	TupleTableSlot *slots[2];	/* minimal-tuple slots reading the OLD and
								 * NEW transition tables, made on first use */
	bool		has_reg;		/* a column holds reg* values (regclass ...),
								 * whose output depends on search_path */
} RowJson;

extern RowJson *gov_rowjson_get(Relation rel);
extern TupleTableSlot *gov_rowjson_slot(RowJson *rj, Relation rel, int which);
extern void gov_rowjson_build(RowJson *rj, TupleTableSlot *slot, JsonbValue *row);
extern Size gov_row_data_size(TupleTableSlot *slot);

/*---- Partitions of audited tables (audit_partitions.c) ----*/

extern List *gov_partitions_of(Oid relid, LOCKMODE lockmode);
extern bool gov_enable_partition_clones(Oid relid, Oid funcoid);
extern bool gov_ensure_partition_truncate_triggers(List *relids, Oid funcoid);

#endif							/* GOV_AUDIT_TRAIL_H */
