/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The audit trail: C trigger functions, enable/disable_audit, the
 *	  append-only guard and the DDL watch that records silenced auditing.
 *
 * Writing.  Rows reach governance.audit_batch and governance.denied_log
 * only through a GovAppender, which inserts straight into the heap and the
 * indexes (heap_insert or table_multi_insert, then index_insert), in the current
 * (sub)transaction: a rolled-back change takes its audit rows with it, a
 * committed one always has them.  Nobody, not even the audited table's
 * owner, needs or gets INSERT privilege on the logs (so nobody can forge a
 * row), and no SPI round trip is paid.  The appender bypasses the logs'
 * triggers on purpose: theirs only guard UPDATE, DELETE and TRUNCATE.
 *
 * Storage.  One audit_batch row per audited statement holds the context
 * once and the row images as two jsonb arrays (up to AUDIT_BATCH_ROWS rows,
 * lz4-compressed by TOAST when large); the audit_log view unnests them into
 * one row per changed row.  A 100-row INSERT costs one heap tuple, one
 * btree entry and (mostly) no BRIN work instead of a hundred of each -- this is what keeps bulk
 * writes within 0.6x of unaudited ones (scripts/bench-audit.sh).
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
 * trigger.  Each call first applies governance.require_context.  All of
 * them run governance.audit_trigger(); "is this table audited" means "has
 * a trigger calling that function", whatever it is named.
 *
 * Row images are built as jsonb equal to to_jsonb(row): booleans, numbers,
 * text-like and date/time columns are converted inline, every other type
 * goes through to_jsonb itself, one column at a time.  Each row becomes an
 * object JsonbValue whose pairs are already in jsonb key order (the columns
 * are sorted once per cached relation), and a batch's rows one array
 * JsonbValue serialised at once: no pushJsonbValue, no per-row key sort.
 * Two exceptions keep the images truthful whatever the table's owner or the
 * writer defines: a column of (or containing) a type a non-superuser owns
 * is recorded as that type's text output, never through a cast to json(b)
 * its owner may create (type_has_user_scalar); and the writer's output
 * settings (extra_float_digits, DateStyle, IntervalStyle, search_path for
 * reg* values) are pinned while images are built.
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
 * The trail survives its installer: DROP EXTENSION, DROP SCHEMA, DROP
 * OWNED (of the extension's, the schema's or a log's owner), DROP TABLE of
 * a log and ALTER EXTENSION ... ADD/DROP are refused to non-superusers
 * while audit_batch or denied_log holds anything.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "catalog/index.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "parser/parse_type.h"
#include "storage/bufmgr.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/snapmgr.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"
#include "utils/xid8.h"

#include "governance.h"

/*---- Columns of governance.audit_batch (0-based, as created by 0.1--0.2) ----*/
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

#define GOV_EXTENSION_NAME	"pg_governance"
#define AUDIT_FUNCTION_NAME	"audit_trigger"

/* The triggers enable_audit() attaches (see the file header). */
typedef struct AuditTriggerSpec
{
	const char *name;
	bool		row;
	int16		timing;
	int16		events;
	bool		old_table;
	bool		new_table;
} AuditTriggerSpec;

static const AuditTriggerSpec plain_table_triggers[] = {
	{"governance_audit_insert", false, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_INSERT, false, true},
	{"governance_audit_update", false, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_UPDATE, true, true},
	{"governance_audit_delete", false, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_DELETE, true, false},
	{"governance_audit_truncate", false, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_TRUNCATE, false, false},
	{NULL}
};

static const AuditTriggerSpec partitioned_table_triggers[] = {
	{"governance_audit_row", true, TRIGGER_TYPE_AFTER,
	TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE, false, false},
	{"governance_audit_truncate", false, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_TRUNCATE, false, false},
	{NULL}
};

/* The triggers enable_audit() gives a relation of this kind (NULL: none). */
static const AuditTriggerSpec *
audit_specs_for(char relkind)
{
	if (relkind == RELKIND_RELATION)
		return plain_table_triggers;
	if (relkind == RELKIND_PARTITIONED_TABLE)
		return partitioned_table_triggers;
	return NULL;
}

static const AuditTriggerSpec *
audit_spec_named(const AuditTriggerSpec *spec, const char *name)
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
static bool
audit_shape_matches(const AuditTriggerSpec *spec, int16 tgtype,
					bool has_old_table, bool has_new_table, int nattr,
					bool has_qual, int nargs)
{
	int16		want = (spec->row ? TRIGGER_TYPE_ROW : 0) | spec->timing | spec->events;

	return tgtype == want && has_old_table == spec->old_table &&
		has_new_table == spec->new_table && nattr == 0 && !has_qual && nargs == 0;
}

/*---- The appender ----*/

/* Rows are buffered and written with table_multi_insert, this many at a time. */
#define APPENDER_BATCH 64

struct GovAppender
{
	Relation	rel;
	GovLog		log;
	Oid			seqid;
	EState	   *estate;			/* only when an index needs one (see below) */
	bool		simple_indexes; /* plain column indexes, immediate if unique */
	ResultRelInfo *rri;
	uint64		index_generation;	/* of log_indexes[log] when opened */
	CommandId	cid;
	MemoryContext cxt;			/* where buffered tuples and slots live */
	int			nbuffered;
	HeapTuple	tuples[APPENDER_BATCH];
	TupleTableSlot *slots[APPENDER_BATCH];	/* for table_multi_insert */
	TupleTableSlot *islot;		/* for the general index path */
};

static const char *const log_relname[] = {"audit_batch", "denied_log"};
static const char *const log_seqname[] = {"audit_batch_id_seq", "denied_log_id_seq"};
static const int log_natts[] = {AL_NATTS, 21};

/* Column types of the logs as the install scripts create them. */
static const Oid audit_batch_types[AL_NATTS] = {
	INT8OID, INT4OID, TIMESTAMPTZOID, XID8OID, OIDOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INETOID,
	JSONBOID, JSONBOID
};
static const Oid denied_log_types[21] = {
	INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
	OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, INETOID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
	INT4OID						/* suppressed, 0.5 */
};
static const Oid *const log_types[] = {audit_batch_types, denied_log_types};

/*
 * OIDs of the extension schema and of the logs, cached per backend and
 * revalidated on every open (the extension may be dropped and created
 * again, in which case every OID changes).
 */
static Oid	cached_schema = InvalidOid;
static Oid	cached_extension = InvalidOid;
static Oid	cached_extension_owner = InvalidOid;
static Oid	cached_log_relid[2];
static Oid	cached_log_seqid[2];

/*
 * The log whose shape and ownership were last checked (check_log_relation);
 * forgotten on any invalidation of it or of its indexes, so that a change
 * of owner, column, rule or index is checked again before the next row.
 */
static Oid	checked_log_relid[2];

/*
 * The indexes of each log and their IndexInfo, built once per backend in
 * log_index_cxt and dropped on any invalidation of the log or of one of
 * its indexes (ExecOpenIndices would rebuild every IndexInfo per call).
 * Each appender still opens and locks the indexes itself.
 *
 * A BRIN index keeps its BrinDesc (opclass support and strategy
 * procedures, looked up through the catalogs) in ii_AmCache; it is built
 * in log_index_cxt and handed from one appender to the next, as long as
 * the cache stays the one (same generation) it was built for.
 */
typedef struct LogIndexCache
{
	bool		valid;
	uint64		generation;		/* bumped by every rebuild */
	Oid			relid;
	int			nindexes;
	Oid		   *indexoids;
	IndexInfo **info;
	bool	   *keep_amcache;	/* BRIN: ii_AmCache outlives the appender */
	void	  **amcache;		/* its value, when kept */
	bool		simple;			/* plain column indexes, immediate if unique */
} LogIndexCache;

static LogIndexCache log_indexes[2];
static MemoryContext log_index_cxt[2];
static bool log_index_callback_registered = false;

/*
 * audit_batch ids are handed out from per-backend blocks: the sequence
 * steps by a whole block (a multiple of AUDIT_BATCH_ROWS), and a batch takes
 * the next AUDIT_BATCH_ROWS ids of its backend's block, so most statements
 * need no nextval.  Ids stay unique; they ascend in the order one backend
 * wrote its batches (as with a sequence's CACHE).
 */
static Oid	id_block_seqid = InvalidOid;
static int64 id_block_next = 0;
static int64 id_block_end = 0;

/* Client address as inet, computed once per backend. */
static bool client_addr_done = false;
static bool client_addr_null = true;
static Datum client_addr_value;

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

static HTAB *rowjson_cache = NULL;

/* Where a statement's row images are built; reset by every call. */
static MemoryContext audit_batch_cxt = NULL;

/* Role names of the current and session user, cached as text. */
static Oid	cached_user_oid[2] = {InvalidOid, InvalidOid};
static text *cached_user_name[2];

/*---- Function declarations ----*/
PG_FUNCTION_INFO_V1(governance_audit_trigger);
PG_FUNCTION_INFO_V1(governance_enable_audit);
PG_FUNCTION_INFO_V1(governance_disable_audit);
PG_FUNCTION_INFO_V1(governance_append_only_trigger);
PG_FUNCTION_INFO_V1(governance_ddl_watch);

static bool lookup_extension(Oid *schema, bool missing_ok);
static void appender_open_indexes(GovAppender *app);
static bool lookup_log(GovLog log, bool missing_ok);
static Oid	get_extension_schema_or_invalid(void);
static RowJson *rowjson_get(Relation rel);
static void rowjson_build(RowJson *rj, TupleTableSlot *slot, JsonbValue *row);
static void audit_fill_common(Datum *values, bool *nulls, Oid relid,
							  const char *op, Datum relation);
static void audit_record_ddl(Oid relid, const char *command,
							 const char *action, const char *detail);
static Oid	audit_function_oid(void);
static bool relation_is_audited(Oid relid, Oid funcoid);
static void check_auditable(Relation rel, const char *verb);
static void create_audit_trigger(Relation rel, const AuditTriggerSpec *spec, Oid funcoid);
static void watch_alter_table(AlterTableStmt *stmt);
static void record_typed_tables(Oid typerel, const char *action, const char *detail);
static void watch_drop(DropStmt *stmt);
static void watch_drop_owned(DropOwnedStmt *stmt);
static void refuse_trail_destruction(const char *what);
static bool trigger_is_audit(Oid relid, const char *tgname, Oid funcoid);
static void audit_check_attachment(TriggerData *td);

/*
 * Find the installed extension and its schema (not by name: before 0.5 the
 * schema was owned by the installer, who could rename it).
 */
static bool
lookup_extension(Oid *schema, bool missing_ok)
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
		*schema = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
		cached_extension = ((Form_pg_extension) GETSTRUCT(tup))->oid;
		cached_extension_owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
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

/*
 * The schema of the installed extension, or InvalidOid; *extension gets the
 * extension's OID.  For the other files (capabilities(), latency views).
 */
Oid
gov_extension_schema(Oid *extension)
{
	Oid			schema;

	if (!lookup_extension(&schema, true))
		return InvalidOid;
	if (extension)
		*extension = cached_extension;
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
	Oid			schema;

	if (!OidIsValid(objid) || !lookup_extension(&schema, true))
		return false;
	return getExtensionOfObject(classid, objid) == cached_extension;
}

/*
 * Refuse (at elevel: ERROR, or WARNING and false) a log table or sequence
 * that is not exactly the extension's own: a member of the extension, of
 * the right kind, owned by a superuser, and for a table of the expected
 * column types, with no rules and only plain column indexes (the appender
 * inserts into the heap and its indexes directly, as the superuser that
 * owns the log for the background writer: an index expression or
 * predicate would run code, and user-written code must never run there).
 */
static bool
check_log_relation(Relation rel, GovLog log, bool is_seq, int elevel)
{
	Form_pg_class form = rel->rd_rel;
	const char *why = NULL;
	char	   *name = psprintf("%s.%s",
								get_namespace_name(form->relnamespace),
								RelationGetRelationName(rel));

	if (!gov_extension_member(RelationRelationId, RelationGetRelid(rel)))
		why = "it is not a member of the extension";
	else if (form->relkind != (is_seq ? RELKIND_SEQUENCE : RELKIND_RELATION))
		why = is_seq ? "it is not a sequence" : "it is not an ordinary table";
	else if (!superuser_arg(form->relowner))
		why = "its owner is not a superuser";
	else if (!is_seq && form->relhasrules)
		why = "it has rules";
	else if (!is_seq)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		const Oid  *types = log_types[log];

		for (int i = 0; i < desc->natts && i < log_natts[log] && why == NULL; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (att->attisdropped || att->atttypid != types[i])
				why = psprintf("its column %d is not of type %s", i + 1,
							   format_type_be(types[i]));
		}
		if (why == NULL)
		{
			List	   *oids = RelationGetIndexList(rel);
			ListCell   *lc;

			foreach(lc, oids)
			{
				Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
				bool		plain = heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL) &&
					heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL) &&
					!idx->rd_index->indisexclusion;

				if (!plain)
					why = psprintf("its index \"%s\" has an expression, a predicate or an exclusion constraint",
								   RelationGetRelationName(idx));
				index_close(idx, AccessShareLock);
				if (why)
					break;
			}
			list_free(oids);
		}
	}
	if (why == NULL)
		return true;
	ereport(elevel,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s \"%s\" is not the %s of extension \"%s\": %s",
					is_seq ? "sequence" : "table", name,
					is_seq ? log_seqname[log] : log_relname[log],
					GOV_EXTENSION_NAME, why),
			 errdetail("pg_governance writes only into its own objects; nothing is written to %s.",
					   name),
			 errhint("A superuser should review and remove it, then run ALTER EXTENSION %s UPDATE.",
					 GOV_EXTENSION_NAME)));
	return false;
}

/*
 * Look up a log table and its identity sequence, and check that both are
 * the extension's own (check_log_relation).  Returns false (with
 * missing_ok) when the extension is absent or older than the log, or when
 * what carries the name is not ours (with a WARNING, once per backend and
 * relation: the callers with missing_ok must not fail the user's work).
 */
static bool
lookup_log(GovLog log, bool missing_ok)
{
	Oid			schema;
	Oid			relid;
	Oid			seqid;
	Relation	rel;
	bool		ok;
	static Oid	warned[2][2];

	if (!lookup_extension(&schema, missing_ok))
		return false;
	relid = get_relname_relid(log_relname[log], schema);
	if (!OidIsValid(relid))
	{
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" of extension \"%s\" does not exist",
						log_relname[log], GOV_EXTENSION_NAME),
				 errhint("Run ALTER EXTENSION %s UPDATE.", GOV_EXTENSION_NAME)));
	}
	seqid = get_relname_relid(log_seqname[log], schema);
	if (!OidIsValid(seqid))
	{
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence \"%s\" of extension \"%s\" does not exist",
						log_seqname[log], GOV_EXTENSION_NAME)));
	}
	rel = relation_open(relid, AccessShareLock);
	ok = check_log_relation(rel, log, false,
							!missing_ok ? ERROR : warned[log][0] == relid ? DEBUG1 : WARNING);
	relation_close(rel, AccessShareLock);
	if (!ok)
	{
		warned[log][0] = relid;
		return false;
	}
	rel = relation_open(seqid, AccessShareLock);
	ok = check_log_relation(rel, log, true,
							!missing_ok ? ERROR : warned[log][1] == seqid ? DEBUG1 : WARNING);
	relation_close(rel, AccessShareLock);
	if (!ok)
	{
		warned[log][1] = seqid;
		return false;
	}
	cached_schema = schema;
	cached_log_relid[log] = relid;
	cached_log_seqid[log] = seqid;
	return true;
}

/*
 * Open a log for appending, with RowExclusiveLock held to the end of the
 * transaction.  Returns NULL only when missing_ok and the log does not
 * exist in this database.
 */
GovAppender *
gov_appender_open(GovLog log, bool missing_ok)
{
	Relation	rel = NULL;
	GovAppender *app;

	if (OidIsValid(cached_log_relid[log]))
	{
		rel = try_relation_open(cached_log_relid[log], RowExclusiveLock);
		if (rel != NULL &&
			(rel->rd_rel->relkind != RELKIND_RELATION ||
			 rel->rd_rel->relnamespace != cached_schema ||
			 strcmp(RelationGetRelationName(rel), log_relname[log]) != 0 ||
			 (checked_log_relid[log] != cached_log_relid[log] &&
			  !check_log_relation(rel, log, false, missing_ok ? DEBUG1 : ERROR))))
		{
			relation_close(rel, RowExclusiveLock);
			rel = NULL;
		}
	}
	if (rel == NULL)
	{
		if (!lookup_log(log, missing_ok))
			return NULL;
		rel = table_open(cached_log_relid[log], RowExclusiveLock);
	}
	checked_log_relid[log] = cached_log_relid[log];
	/* denied_log gained recorded_by in 0.4 and suppressed in 0.5; older tables lack them */
	if (RelationGetDescr(rel)->natts != log_natts[log] &&
		!(log == GOV_LOG_DENIED && RelationGetDescr(rel)->natts >= log_natts[log] - 2 &&
		  RelationGetDescr(rel)->natts < log_natts[log]))
		elog(ERROR, "governance.%s has %d columns, expected %d",
			 log_relname[log], RelationGetDescr(rel)->natts, log_natts[log]);

	app = palloc0(sizeof(GovAppender));
	app->rel = rel;
	app->log = log;
	app->seqid = cached_log_seqid[log];
	app->rri = makeNode(ResultRelInfo);
	app->rri->ri_RelationDesc = rel;
	appender_open_indexes(app);
	if (!app->simple_indexes)
		app->estate = CreateExecutorState();
	app->cid = GetCurrentCommandId(true);
	app->cxt = CurrentMemoryContext;
	return app;
}

static void
log_index_invalidate(Datum arg, Oid relid)
{
	int			l;
	int			i;

	for (l = 0; l < 2; l++)
	{
		LogIndexCache *c = &log_indexes[l];

		if (!OidIsValid(relid) || relid == checked_log_relid[l])
			checked_log_relid[l] = InvalidOid;
		if (!c->valid)
			continue;
		if (!OidIsValid(relid) || relid == c->relid)
			c->valid = false;
		for (i = 0; c->valid && i < c->nindexes; i++)
			if (relid == c->indexoids[i])
				c->valid = false;
	}
}

/*
 * Open (RowExclusiveLock) the indexes of the log, as ExecOpenIndices
 * would, from the per-backend cache.
 */
static void
appender_open_indexes(GovAppender *app)
{
	LogIndexCache *c = &log_indexes[app->log];
	ResultRelInfo *rri = app->rri;
	Relation	rel = app->rel;
	int			i;

	if (!log_index_callback_registered)
	{
		CacheRegisterRelcacheCallback(log_index_invalidate, (Datum) 0);
		log_index_callback_registered = true;
	}
	if (!c->valid || c->relid != RelationGetRelid(rel))
	{
		List	   *oids;
		ListCell   *lc;
		MemoryContext old;

		if (log_index_cxt[app->log] == NULL)
			log_index_cxt[app->log] = AllocSetContextCreate(CacheMemoryContext,
															"governance log indexes",
															ALLOCSET_SMALL_SIZES);
		else
			MemoryContextReset(log_index_cxt[app->log]);
		c->valid = false;
		oids = RelationGetIndexList(rel);
		old = MemoryContextSwitchTo(log_index_cxt[app->log]);
		c->nindexes = 0;
		c->indexoids = palloc0(Max(list_length(oids), 1) * sizeof(Oid));
		c->info = palloc0(Max(list_length(oids), 1) * sizeof(IndexInfo *));
		c->keep_amcache = palloc0(Max(list_length(oids), 1) * sizeof(bool));
		c->amcache = palloc0(Max(list_length(oids), 1) * sizeof(void *));
		c->generation++;
		c->simple = true;
		foreach(lc, oids)
		{
			Relation	idx = index_open(lfirst_oid(lc), RowExclusiveLock);
			IndexInfo  *ii = BuildIndexInfo(idx);

			/*
			 * Our own indexes are plain column lists: insert into them
			 * directly.  Should a superuser add an expression, partial,
			 * exclusion or deferred one, go through the executor's general
			 * path (which needs an EState).
			 */
			if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL ||
				ii->ii_ExclusionOps != NULL || !idx->rd_index->indimmediate)
				c->simple = false;
			c->indexoids[c->nindexes] = lfirst_oid(lc);
			c->info[c->nindexes] = ii;
			c->keep_amcache[c->nindexes] = (idx->rd_rel->relam == BRIN_AM_OID);
			c->nindexes++;
			index_close(idx, NoLock);
		}
		MemoryContextSwitchTo(old);
		list_free(oids);
		c->relid = RelationGetRelid(rel);
		c->valid = true;
	}

	rri->ri_NumIndices = c->nindexes;
	rri->ri_IndexRelationDescs = palloc(Max(c->nindexes, 1) * sizeof(Relation));
	rri->ri_IndexRelationInfo = palloc(Max(c->nindexes, 1) * sizeof(IndexInfo *));
	for (i = 0; i < c->nindexes; i++)
	{
		IndexInfo  *ii = makeNode(IndexInfo);

		/* a copy: index AMs keep per-call state in it (ii_AmCache) */
		memcpy(ii, c->info[i], sizeof(IndexInfo));
		if (c->keep_amcache[i])
		{
			ii->ii_AmCache = c->amcache[i];
			ii->ii_Context = log_index_cxt[app->log];
		}
		else
		{
			ii->ii_AmCache = NULL;
			ii->ii_Context = CurrentMemoryContext;
		}
		rri->ri_IndexRelationDescs[i] = index_open(c->indexoids[i], RowExclusiveLock);
		rri->ri_IndexRelationInfo[i] = ii;
	}
	app->simple_indexes = c->simple;
	app->index_generation = c->generation;
}

/*
 * Keep the BrinDescs an appender's inserts built for the next appender,
 * unless the cache was invalidated or rebuilt meanwhile (a rebuild frees
 * them with log_index_cxt).
 */
static void
appender_keep_amcache(GovAppender *app)
{
	LogIndexCache *c = &log_indexes[app->log];
	int			i;

	if (!c->valid || c->generation != app->index_generation ||
		c->relid != RelationGetRelid(app->rel))
		return;
	for (i = 0; i < c->nindexes && i < app->rri->ri_NumIndices; i++)
		if (c->keep_amcache[i])
			c->amcache[i] = app->rri->ri_IndexRelationInfo[i]->ii_AmCache;
}

/* Index entries of one stored row. */
static void
appender_index(GovAppender *app, HeapTuple tuple)
{
	ResultRelInfo *rri = app->rri;
	TupleDesc	desc = RelationGetDescr(app->rel);
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	int			i;

	if (!app->simple_indexes)
	{
		if (app->islot == NULL)
			app->islot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
		ExecStoreHeapTuple(tuple, app->islot, false);
		app->islot->tts_tid = tuple->t_self;
		ExecInsertIndexTuples(rri, app->islot, app->estate, false, false, NULL, NIL);
		ResetPerTupleExprContext(app->estate);
		ExecClearTuple(app->islot);
		return;
	}
	for (i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	idx = rri->ri_IndexRelationDescs[i];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];
		int			k;

		if (idx == NULL || !ii->ii_ReadyForInserts)
			continue;
		for (k = 0; k < ii->ii_NumIndexAttrs; k++)
			values[k] = heap_getattr(tuple, ii->ii_IndexAttrNumbers[k], desc, &isnull[k]);
		index_insert(idx, values, isnull, &tuple->t_self, app->rel,
					 idx->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
					 false, ii);
	}
}

/*
 * Write the buffered rows (one heap insert, or one multi-insert for a
 * batch), then their index entries.
 */
static void
appender_flush(GovAppender *app)
{
	int			i;

	if (app->nbuffered == 0)
		return;
	if (app->nbuffered == 1)
		heap_insert(app->rel, app->tuples[0], app->cid, 0, NULL);
	else
	{
		for (i = 0; i < app->nbuffered; i++)
		{
			if (app->slots[i] == NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(app->cxt);

				app->slots[i] = MakeSingleTupleTableSlot(RelationGetDescr(app->rel),
														 &TTSOpsHeapTuple);
				MemoryContextSwitchTo(old);
			}
			ExecStoreHeapTuple(app->tuples[i], app->slots[i], false);
		}
		table_multi_insert(app->rel, app->slots, app->nbuffered, app->cid, 0, NULL);
		for (i = 0; i < app->nbuffered; i++)
		{
			app->tuples[i]->t_self = app->slots[i]->tts_tid;
			ExecClearTuple(app->slots[i]);
		}
	}
	for (i = 0; i < app->nbuffered; i++)
	{
		appender_index(app, app->tuples[i]);
		heap_freetuple(app->tuples[i]);
		app->tuples[i] = NULL;
	}
	app->nbuffered = 0;
}

/*
 * The first id of the next audit_batch row: AUDIT_BATCH_ROWS ids from this
 * backend's block, a new block from the sequence when it is used up.
 */
static int64
audit_next_id(Oid seqid)
{
	int64		id;

	if (seqid != id_block_seqid || id_block_next >= id_block_end)
	{
		HeapTuple	tup;
		int64		increment;

		tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqid));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for sequence %u", seqid);
		increment = ((Form_pg_sequence) GETSTRUCT(tup))->seqincrement;
		ReleaseSysCache(tup);
		if (increment < AUDIT_BATCH_ROWS || increment % AUDIT_BATCH_ROWS != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("sequence governance.audit_batch_id_seq must step by a multiple of %d",
							AUDIT_BATCH_ROWS)));
		id_block_next = nextval_internal(seqid, false);
		id_block_end = id_block_next + increment;
		id_block_seqid = seqid;
	}
	id = id_block_next;
	id_block_next += AUDIT_BATCH_ROWS;
	return id;
}

/*
 * Append one row.  values[0] (the id, or first id of a batch) is taken
 * from the log's sequence here; the caller fills the others.  The row is
 * formed at once: the caller may free the values as soon as this returns.
 */
void
gov_appender_insert(GovAppender *app, Datum *values, bool *nulls)
{
	MemoryContext old;
	Datum		id = values[0];
	bool		idnull = nulls[0];

	if (app->nbuffered == APPENDER_BATCH)
		appender_flush(app);
	values[0] = Int64GetDatum(app->log == GOV_LOG_AUDIT ?
							  audit_next_id(app->seqid) :
							  nextval_internal(app->seqid, false));
	nulls[0] = false;
	old = MemoryContextSwitchTo(app->cxt);
	app->tuples[app->nbuffered++] = heap_form_tuple(RelationGetDescr(app->rel),
													values, nulls);
	MemoryContextSwitchTo(old);
	values[0] = id;
	nulls[0] = idnull;
}

void
gov_appender_close(GovAppender *app)
{
	int			i;

	appender_flush(app);
	appender_keep_amcache(app);
	for (i = 0; i < APPENDER_BATCH && app->slots[i] != NULL; i++)
		ExecDropSingleTupleTableSlot(app->slots[i]);
	if (app->islot)
		ExecDropSingleTupleTableSlot(app->islot);
	for (i = 0; i < app->rri->ri_NumIndices; i++)
		index_close(app->rri->ri_IndexRelationDescs[i], NoLock);
	if (app->estate)
		FreeExecutorState(app->estate);
	table_close(app->rel, NoLock);
	pfree(app->rri);
	pfree(app);
}

/*
 * The client's address as inet (NULL over a Unix socket or in a
 * background process), like inet_client_addr().
 */
Datum
gov_client_addr(bool *isnull)
{
	if (!client_addr_done)
	{
		LOCAL_FCINFO(fcinfo, 0);
		FmgrInfo	flinfo;
		Datum		d;
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		/* inet_client_addr() itself: libpq-be.h is not includable everywhere */
		fmgr_info(F_INET_CLIENT_ADDR, &flinfo);
		InitFunctionCallInfoData(*fcinfo, &flinfo, 0, InvalidOid, NULL, NULL);
		d = FunctionCallInvoke(fcinfo);
		client_addr_null = fcinfo->isnull;
		if (!client_addr_null)
			client_addr_value = datumCopy(d, false, -1);
		MemoryContextSwitchTo(old);
		client_addr_done = true;
	}
	*isnull = client_addr_null;
	return client_addr_value;
}

/* Schema-qualified, quoted-as-needed name of a relation (palloc'd). */
char *
gov_relation_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname;

	if (relname == NULL)
		return psprintf("%u", relid);
	nspname = get_namespace_name(get_rel_namespace(relid));
	return quote_qualified_identifier(nspname, relname);
}

/*---- Row images ----*/

static void
rowjson_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	RowJson    *rj;

	if (rowjson_cache == NULL)
		return;
	hash_seq_init(&status, rowjson_cache);
	while ((rj = hash_seq_search(&status)) != NULL)
		if (!OidIsValid(relid) || rj->relid == relid)
			rj->valid = false;
}

static void
rowjson_invalidate_all(Datum arg, int cacheid, uint32 hashvalue)
{
	rowjson_invalidate(arg, InvalidOid);
}

static void
user_cache_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	cached_user_oid[0] = cached_user_oid[1] = InvalidOid;
}

/* Name of a role (0: current user, 1: session user) as text, cached. */
static Datum
cached_role_name(int which, Oid roleid)
{
	if (cached_user_oid[which] != roleid)
	{
		char	   *name = GetUserNameFromId(roleid, true);
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		if (cached_user_name[which])
			pfree(cached_user_name[which]);
		cached_user_name[which] = cstring_to_text(name ? name : "?");
		cached_user_oid[which] = roleid;
		MemoryContextSwitchTo(old);
	}
	return PointerGetDatum(cached_user_name[which]);
}

/* Jsonb's order of object keys: shorter first, then bytewise. */
static int
rowjson_column_cmp(const void *a, const void *b)
{
	const JsonbValue *ka = &((const RowJsonColumn *) a)->key;
	const JsonbValue *kb = &((const RowJsonColumn *) b)->key;

	if (ka->val.string.len != kb->val.string.len)
		return ka->val.string.len > kb->val.string.len ? 1 : -1;
	return memcmp(ka->val.string.val, kb->val.string.val, ka->val.string.len);
}

/*
 * Does a value of typid contain a value of a type that a non-superuser owns
 * and that to_jsonb would convert through a cast to json or jsonb if there
 * were one (a scalar -- enum, range, multirange -- not an array, composite
 * or domain, which to_jsonb looks through)?  The owner of such a type can
 * create that cast at any time, with no DDL on the audited table, and
 * to_jsonb would then run the owner's function in every writer's audit
 * trigger (a superuser's included) and record whatever it returns.  Types
 * of the system and of superusers are safe: only a type's owner (or a
 * superuser) can create a cast from it.  Deep or recursive types count as
 * unsafe.
 */
static bool
type_has_user_scalar(Oid typid, int depth)
{
	HeapTuple	tup;
	Oid			elem;
	Oid			owner;
	bool		found = false;

	check_stack_depth();
	if (depth > 16)
		return true;
	typid = getBaseType(typid);
	elem = get_element_type(typid);
	if (OidIsValid(elem))
		return type_has_user_scalar(elem, depth + 1);
	if (type_is_rowtype(typid))
	{
		TupleDesc	td;

		if (typid == RECORDOID)
			return true;
		td = lookup_rowtype_tupdesc(typid, -1);
		for (int i = 0; i < td->natts && !found; i++)
		{
			Form_pg_attribute att = TupleDescAttr(td, i);

			if (!att->attisdropped)
				found = type_has_user_scalar(att->atttypid, depth + 1);
		}
		ReleaseTupleDesc(td);
		return found;
	}
	if (typid < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", typid);
	owner = ((Form_pg_type) GETSTRUCT(tup))->typowner;
	ReleaseSysCache(tup);
	return !superuser_arg(owner);
}

/*
 * Does a value of typid contain an OID alias type (regclass, regtype, ...)?
 * Their output names an object unqualified when the session's search_path
 * finds it, so what the trail says would depend on the writer's path.
 */
static bool
type_has_reg(Oid typid, int depth)
{
	Oid			elem;
	bool		found = false;

	check_stack_depth();
	if (depth > 16)
		return true;
	typid = getBaseType(typid);
	switch (typid)
	{
		case REGCLASSOID:
		case REGTYPEOID:
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGNAMESPACEOID:
		case REGROLEOID:
		case REGCOLLATIONOID:
			return true;
		default:
			break;
	}
	elem = get_element_type(typid);
	if (OidIsValid(elem))
		return type_has_reg(elem, depth + 1);
	if (type_is_rowtype(typid) && typid != RECORDOID)
	{
		TupleDesc	td = lookup_rowtype_tupdesc(typid, -1);

		for (int i = 0; i < td->natts && !found; i++)
		{
			Form_pg_attribute att = TupleDescAttr(td, i);

			if (!att->attisdropped)
				found = type_has_reg(att->atttypid, depth + 1);
		}
		ReleaseTupleDesc(td);
	}
	else if (type_is_range(typid))
		return type_has_reg(get_range_subtype(typid), depth + 1);
	return found;
}

/*
 * The conversion of rows of rel: which columns take an inline path and
 * which go through to_jsonb.
 */
static RowJson *
rowjson_get(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	RowJson    *rj;
	bool		found;
	MemoryContext old;
	int			i;

	if (rowjson_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RowJson);
		ctl.hcxt = CacheMemoryContext;
		rowjson_cache = hash_create("governance audit row formats", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(rowjson_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, rowjson_invalidate_all, (Datum) 0);
		/*
		 * a type's owner, and whether that owner is a superuser, decide how
		 * its values are converted (type_has_user_scalar)
		 */
		CacheRegisterSyscacheCallback(TYPEOID, rowjson_invalidate_all, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, rowjson_invalidate_all, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, user_cache_invalidate, (Datum) 0);
	}
	rj = hash_search(rowjson_cache, &relid, HASH_ENTER, &found);
	if (found && rj->valid)
		return rj;
	if (found)
	{
		pfree(rj->relation);
		for (i = 0; i < rj->ncolumns; i++)
			pfree(rj->columns[i].key.val.string.val);
		pfree(rj->columns);
		for (i = 0; i < 2; i++)
			if (rj->slots[i])
				ExecDropSingleTupleTableSlot(rj->slots[i]);
		if (rj->desc)
			FreeTupleDesc(rj->desc);
	}
	rj->valid = false;
	rj->desc = NULL;
	rj->slots[0] = rj->slots[1] = NULL;

	old = MemoryContextSwitchTo(CacheMemoryContext);
	rj->relation = cstring_to_text(quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
															  RelationGetRelationName(rel)));
	rj->columns = palloc0(desc->natts * sizeof(RowJsonColumn));
	rj->ncolumns = 0;
	rj->has_reg = false;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		RowJsonColumn *col;
		char	   *name;

		if (att->attisdropped)
			continue;
		col = &rj->columns[rj->ncolumns++];
		col->attnum = i;
		name = pstrdup(NameStr(att->attname));
		col->key.type = jbvString;
		col->key.val.string.val = name;
		col->key.val.string.len = strlen(name);

		/* to_jsonb looks through domains, so do we */
		col->typid = getBaseType(att->atttypid);
		switch (col->typid)
		{
			case BOOLOID:
				col->kind = RJ_BOOL;
				break;
			case INT2OID:
				col->kind = RJ_INT2;
				break;
			case INT4OID:
				col->kind = RJ_INT4;
				break;
			case INT8OID:
				col->kind = RJ_INT8;
				break;
			case NUMERICOID:
				col->kind = RJ_NUMERIC;
				break;
			case FLOAT4OID:
			case FLOAT8OID:
				{
					Oid			outfn;
					bool		isvarlena;

					col->kind = RJ_FLOAT;
					getTypeOutputInfo(col->typid, &outfn, &isvarlena);
					fmgr_info_cxt(outfn, &col->fn, CacheMemoryContext);
				}
				break;
			case TEXTOID:
			case VARCHAROID:
			case BPCHAROID:
				col->kind = RJ_TEXT;
				break;
			case DATEOID:
			case TIMESTAMPOID:
			case TIMESTAMPTZOID:
				col->kind = RJ_DATETIME;
				break;
			default:
				{
					FuncExpr   *expr;
					Oid			outfn;
					bool		isvarlena;
					Oid			elem = get_element_type(col->typid);

					if (type_has_reg(col->typid, 0))
						rj->has_reg = true;

					/*
					 * A type a non-superuser owns (see type_has_user_scalar)
					 * never goes through to_jsonb: its text output, as
					 * to_jsonb gives it when there is no cast, or for a
					 * 1-D array of it the array of its elements' outputs.
					 * A composite holding one is recorded as its text
					 * output.  Output functions are the system's: only a
					 * superuser can create a base type.
					 */
					if (type_has_user_scalar(col->typid, 0))
					{
						if (OidIsValid(elem) && !type_is_rowtype(getBaseType(elem)) &&
							!OidIsValid(get_element_type(getBaseType(elem))))
						{
							col->kind = RJ_TEXTOUT_ARRAY;
							col->typid = elem;
							get_typlenbyvalalign(elem, &col->elmlen, &col->elmbyval,
												 &col->elmalign);
							getTypeOutputInfo(elem, &outfn, &isvarlena);
						}
						else
						{
							col->kind = RJ_TEXTOUT;
							getTypeOutputInfo(att->atttypid, &outfn, &isvarlena);
						}
						fmgr_info_cxt(outfn, &col->fn, CacheMemoryContext);
						break;
					}

					/*
					 * to_jsonb(anyelement) finds its argument's type in
					 * fn_expr; give it an expression of the column's type.
					 */
					col->kind = RJ_OTHER;
					fmgr_info_cxt(F_TO_JSONB, &col->fn, CacheMemoryContext);
					expr = makeFuncExpr(F_TO_JSONB, JSONBOID,
										list_make1(makeNullConst(att->atttypid,
																 att->atttypmod,
																 att->attcollation)),
										InvalidOid, InvalidOid,
										COERCE_EXPLICIT_CALL);
					col->fn.fn_expr = (Node *) expr;
				}
				break;
		}
	}
	MemoryContextSwitchTo(old);

	/*
	 * Jsonb stores an object's keys sorted by length, then bytes; sort the
	 * columns so once, and every row's pairs come out in that order.
	 * Column names are unique (dropped columns are skipped above), so
	 * there is no duplicate for jsonb to collapse.
	 */
	if (rj->ncolumns > 1)
		qsort(rj->columns, rj->ncolumns, sizeof(RowJsonColumn),
			  rowjson_column_cmp);
	rj->valid = true;
	return rj;
}

/*
 * A slot for reading a transition table of rj's relation (which: 0 for
 * OLD, 1 for NEW), kept with the cached conversion: making and dropping
 * two slots per statement is not free.  It holds no tuple between calls
 * (reading a transition table to its end clears it), and its descriptor
 * is an unpinned copy, so nothing in it belongs to a resource owner.  The
 * copy keeps the constraints: an old row stored before ADD COLUMN ...
 * DEFAULT takes that column's value from the descriptor's missing values.
 */
static TupleTableSlot *
rowjson_slot(RowJson *rj, Relation rel, int which)
{
	if (rj->slots[which] == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(CacheMemoryContext);

		if (rj->desc == NULL)
			rj->desc = CreateTupleDescCopyConstr(RelationGetDescr(rel));
		rj->slots[which] = MakeSingleTupleTableSlot(rj->desc, &TTSOpsMinimalTuple);
		MemoryContextSwitchTo(old);
	}
	return rj->slots[which];
}

/*
 * Size of the data of the row in slot, for batching: what
 * heap_compute_data_size would say, read off a minimal tuple's header
 * when there is one.
 */
static Size
row_data_size(TupleTableSlot *slot)
{
	if (TTS_IS_MINIMALTUPLE(slot))
	{
		MinimalTuple mt = ((MinimalTupleTableSlot *) slot)->mintuple;

		if (mt != NULL)
			return mt->t_len + MINIMAL_TUPLE_OFFSET - mt->t_hoff;
	}
	slot_getallattrs(slot);
	return heap_compute_data_size(slot->tts_tupleDescriptor, slot->tts_values,
								  slot->tts_isnull);
}

/* A scalar string JsonbValue. */
static inline void
jbv_string(JsonbValue *v, char *str, int len)
{
	v->type = jbvString;
	v->val.string.val = str;
	v->val.string.len = len;
}

/*
 * The row in slot as an object JsonbValue equal to to_jsonb(row), built in
 * the current memory context (the regression tests compare the two for
 * every inline kind).  Its pairs follow rj->columns, already in jsonb key
 * order, so JsonbValueToJsonb can serialise it as it is.
 */
static void
rowjson_build(RowJson *rj, TupleTableSlot *slot, JsonbValue *row)
{
	JsonbPair  *pairs;
	int			i;

	slot_getallattrs(slot);
	pairs = palloc(Max(rj->ncolumns, 1) * sizeof(JsonbPair));
	row->type = jbvObject;
	row->val.object.nPairs = rj->ncolumns;
	row->val.object.pairs = pairs;
	for (i = 0; i < rj->ncolumns; i++)
	{
		RowJsonColumn *col = &rj->columns[i];
		Datum		d = slot->tts_values[col->attnum];
		JsonbValue *v = &pairs[i].value;

		pairs[i].key = col->key;
		pairs[i].order = i;
		if (slot->tts_isnull[col->attnum])
		{
			v->type = jbvNull;
			continue;
		}
		switch (col->kind)
		{
			case RJ_BOOL:
				v->type = jbvBool;
				v->val.boolean = DatumGetBool(d);
				break;
			case RJ_INT2:
				v->type = jbvNumeric;
				v->val.numeric = int64_to_numeric(DatumGetInt16(d));
				break;
			case RJ_INT4:
				v->type = jbvNumeric;
				v->val.numeric = int64_to_numeric(DatumGetInt32(d));
				break;
			case RJ_INT8:
				v->type = jbvNumeric;
				v->val.numeric = int64_to_numeric(DatumGetInt64(d));
				break;
			case RJ_NUMERIC:
				{
					Numeric		n = DatumGetNumeric(d);

					if (numeric_is_nan(n) || numeric_is_inf(n))
					{
						char	   *str = DatumGetCString(DirectFunctionCall1(numeric_out, d));

						jbv_string(v, str, strlen(str));
					}
					else
					{
						v->type = jbvNumeric;
						v->val.numeric = n;
					}
				}
				break;
			case RJ_FLOAT:
				{
					char	   *str = OutputFunctionCall(&col->fn, d);

					/* as to_jsonb: a number unless it is NaN or Infinity */
					if (strchr(str, 'N') || strchr(str, 'n'))
						jbv_string(v, str, strlen(str));
					else
					{
						v->type = jbvNumeric;
						v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																			 CStringGetDatum(str),
																			 ObjectIdGetDatum(InvalidOid),
																			 Int32GetDatum(-1)));
					}
				}
				break;
			case RJ_TEXT:
				{
					text	   *t = DatumGetTextPP(d);

					jbv_string(v, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				}
				break;
			case RJ_DATETIME:
				{
					char	   *str = JsonEncodeDateTime(NULL, d, col->typid, NULL);

					jbv_string(v, str, strlen(str));
				}
				break;
			case RJ_TEXTOUT:
				{
					char	   *str = OutputFunctionCall(&col->fn, d);

					jbv_string(v, str, strlen(str));
				}
				break;
			case RJ_TEXTOUT_ARRAY:
				{
					ArrayType  *arr = DatumGetArrayTypeP(d);
					Datum	   *elems;
					bool	   *enulls;
					int			n;
					JsonbValue *ev;

					if (ARR_NDIM(arr) > 1)
					{
						/* to_jsonb nests; the text output says the same */
						char	   *str = OidOutputFunctionCall(F_ARRAY_OUT, d);

						jbv_string(v, str, strlen(str));
						break;
					}
					deconstruct_array(arr, col->typid, col->elmlen, col->elmbyval,
									  col->elmalign, &elems, &enulls, &n);
					ev = palloc(Max(n, 1) * sizeof(JsonbValue));
					for (int k = 0; k < n; k++)
					{
						if (enulls[k])
							ev[k].type = jbvNull;
						else
						{
							char	   *str = OutputFunctionCall(&col->fn, elems[k]);

							jbv_string(&ev[k], str, strlen(str));
						}
					}
					v->type = jbvArray;
					v->val.array.nElems = n;
					v->val.array.elems = ev;
					v->val.array.rawScalar = false;
				}
				break;
			case RJ_OTHER:
				{
					Jsonb	   *j = DatumGetJsonbP(FunctionCall1(&col->fn, d));

					/*
					 * JsonbValueToJsonb cannot serialise a jbvBinary inside
					 * a tree: take a scalar out, unpack a container into
					 * JsonbValues (already sorted, as to_jsonb made them).
					 */
					if (JB_ROOT_IS_SCALAR(j))
						JsonbExtractScalar(&j->root, v);
					else
					{
						JsonbParseState *ps = NULL;
						JsonbValue	bin;

						bin.type = jbvBinary;
						bin.val.binary.data = &j->root;
						bin.val.binary.len = VARSIZE(j) - VARHDRSZ;
						pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
						pushJsonbValue(&ps, WJB_ELEM, &bin);
						*v = ps->contVal.val.array.elems[0];
					}
				}
				break;
		}
	}
}

/*---- The audit trigger ----*/

/*
 * Values shared by every audit row of one trigger call: when, which
 * transaction, which table, who.
 */
static void
audit_fill_common(Datum *values, bool *nulls, Oid relid, const char *op,
				  Datum relation)
{
	const char *agent = gov_context_value(GOV_FIELD_AGENT);
	const char *tenant = gov_context_value(GOV_FIELD_TENANT);
	const char *correlation = gov_context_value(GOV_FIELD_CORRELATION);

	memset(nulls, false, AL_NATTS * sizeof(bool));
	values[AL_FIRST_ID] = (Datum) 0;
	values[AL_AT] = TimestampTzGetDatum(GetCurrentStatementStartTimestamp());
	values[AL_TXID] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	values[AL_RELID] = ObjectIdGetDatum(relid);
	values[AL_RELATION] = relation;
	values[AL_OP] = CStringGetTextDatum(op);
	nulls[AL_AGENT] = (agent == NULL);
	if (agent)
		values[AL_AGENT] = CStringGetTextDatum(agent);
	nulls[AL_TENANT] = (tenant == NULL);
	if (tenant)
		values[AL_TENANT] = CStringGetTextDatum(tenant);
	nulls[AL_CORRELATION] = (correlation == NULL);
	if (correlation)
		values[AL_CORRELATION] = CStringGetTextDatum(correlation);
	values[AL_DB_USER] = cached_role_name(0, GetUserId());
	values[AL_SESSION_USER] = cached_role_name(1, GetSessionUserId());
	nulls[AL_APPLICATION] = (application_name == NULL || application_name[0] == '\0');
	if (!nulls[AL_APPLICATION])
		values[AL_APPLICATION] = CStringGetTextDatum(application_name);
	values[AL_CLIENT_ADDR] = gov_client_addr(&nulls[AL_CLIENT_ADDR]);
	values[AL_NROWS] = Int32GetDatum(1);
	nulls[AL_OLD_ROWS] = true;
	nulls[AL_NEW_ROWS] = true;
}

/* Read a transition table with a read pointer of our own. */
static bool
transition_next(Tuplestorestate *ts, int readptr, TupleTableSlot *slot)
{
	tuplestore_select_read_pointer(ts, readptr);
	return tuplestore_gettupleslot(ts, true, false, slot);
}

static int
transition_open(Tuplestorestate *ts)
{
	int			readptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(ts, readptr);
	tuplestore_rescan(ts);
	return readptr;
}

/*
 * The row images of one batch being built: one object JsonbValue per row
 * (rowjson_build), in the batch memory context.
 */
typedef struct AuditBatch
{
	int			nrows;
	Size		bytes;
	JsonbValue *old_rows;		/* NULL when the op has no old images */
	JsonbValue *new_rows;		/* NULL when the op has no new images */
} AuditBatch;

/* Room for up to maxrows rows (at most AUDIT_BATCH_ROWS). */
static void
batch_begin(AuditBatch *batch, bool has_old, bool has_new, int maxrows)
{
	batch->nrows = 0;
	batch->bytes = 0;
	batch->old_rows = has_old ? palloc(maxrows * sizeof(JsonbValue)) : NULL;
	batch->new_rows = has_new ? palloc(maxrows * sizeof(JsonbValue)) : NULL;
}

static Datum
batch_array(JsonbValue *rows, int nrows)
{
	JsonbValue	array;

	array.type = jbvArray;
	array.val.array.nElems = nrows;
	array.val.array.elems = rows;
	array.val.array.rawScalar = false;
	return JsonbPGetDatum(JsonbValueToJsonb(&array));
}

static void
batch_write(AuditBatch *batch, GovAppender *app, Datum *values, bool *nulls)
{
	if (batch->nrows == 0)
		return;
	values[AL_NROWS] = Int32GetDatum(batch->nrows);
	nulls[AL_OLD_ROWS] = (batch->old_rows == NULL);
	if (batch->old_rows)
		values[AL_OLD_ROWS] = batch_array(batch->old_rows, batch->nrows);
	nulls[AL_NEW_ROWS] = (batch->new_rows == NULL);
	if (batch->new_rows)
		values[AL_NEW_ROWS] = batch_array(batch->new_rows, batch->nrows);
	gov_appender_insert(app, values, nulls);
}

/*
 * Refuse to record through any attachment enable_audit() would not have
 * made.  A BEFORE trigger could record a change and then cancel it (by
 * returning NULL, or by a later BEFORE trigger doing so), an INSTEAD OF
 * trigger would record a write that never happens, a WHEN condition, a
 * column list or another level or event would record some changes only.
 * CREATE TRIGGER naming this function is refused by ddl_watch for every
 * non-superuser; this check holds whoever made the trigger.  A partition's
 * clone of the partitioned table's row trigger has that trigger's shape.
 */
static void
audit_check_attachment(TriggerData *td)
{
	Trigger    *tg = td->tg_trigger;
	Relation	rel = td->tg_relation;
	const AuditTriggerSpec *specs;
	const AuditTriggerSpec *spec;

	if (rel->rd_rel->relkind == RELKIND_RELATION && tg->tgisclone)
		specs = partitioned_table_triggers;
	else
		specs = audit_specs_for(rel->rd_rel->relkind);
	spec = audit_spec_named(specs, tg->tgname);
	if (spec != NULL && TRIGGER_FIRED_AFTER(td->tg_event) &&
		audit_shape_matches(spec, tg->tgtype, tg->tgoldtable != NULL,
							tg->tgnewtable != NULL, tg->tgnattr,
							tg->tgqual != NULL, tg->tgnargs))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("trigger \"%s\" on \"%s\" is not an audit trigger made by governance.enable_audit()",
					tg->tgname, RelationGetRelationName(rel)),
			 errdetail("governance.audit_trigger() records changes only as the AFTER triggers that governance.enable_audit() attaches; this attachment could record changes that never happened or miss some that did."),
			 errhint("Drop the trigger and run governance.enable_audit() on the table.")));
}

/*
 * governance.audit_trigger(): every trigger enable_audit() attaches.
 *
 * Every call first applies governance.require_context.
 * AFTER STATEMENT: the rows of the transition table(s) in batches of up to
 * AUDIT_BATCH_ROWS, one audit_batch row each; one row for TRUNCATE.
 * UPDATE's OLD and NEW transition tables are filled in step, row i of one
 * matching row i of the other, and so are the two arrays of a batch.
 * AFTER ROW (partitioned tables): a batch of one.
 */
Datum
governance_audit_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	TriggerEvent ev;
	Relation	rel;
	const char *op;
	Datum		values[AL_NATTS];
	bool		nulls[AL_NATTS];
	GovAppender *app;
	MemoryContext batchcxt;
	MemoryContext oldcxt;
	RowJson    *rj;
	AuditBatch	batch;
	int			guc_level = -1;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("governance.audit_trigger() can only be called as a trigger")));
	td = (TriggerData *) fcinfo->context;
	ev = td->tg_event;
	rel = td->tg_relation;
	audit_check_attachment(td);

	if (TRIGGER_FIRED_BY_INSERT(ev))
		op = "INSERT";
	else if (TRIGGER_FIRED_BY_UPDATE(ev))
		op = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(ev))
		op = "DELETE";
	else
		op = "TRUNCATE";

	/*
	 * require_context first: a refusal rolls the statement back, and its
	 * audit rows are not even built.  (Checking here rather than in a
	 * BEFORE trigger saves a trigger call per statement.)
	 */
	gov_require_context_check(RelationGetRelid(rel), op);

	rj = rowjson_get(rel);
	audit_fill_common(values, nulls, RelationGetRelid(rel), op,
					  PointerGetDatum(rj->relation));
	app = gov_appender_open(GOV_LOG_AUDIT, false);

	if (TRIGGER_FIRED_BY_TRUNCATE(ev))
	{
		gov_appender_insert(app, values, nulls);
		gov_appender_close(app);
		return PointerGetDatum(NULL);
	}

	/*
	 * Row images must not depend on the writer's settings, which are the
	 * writer's to choose:
	 *	- extra_float_digits below 1 makes float4out/float8out round
	 *	  (1234.5678 -> 1e+03 at -15), in float columns and inside points,
	 *	  arrays and composites alike; any value above 0 gives the shortest
	 *	  exact output;
	 *	- DateStyle and IntervalStyle change how dates and intervals read
	 *	  in text output ('SQL, DMY': 01/02/2024 for February 1st);
	 *	- search_path decides whether a reg* value (regclass ...) is
	 *	  written schema-qualified.
	 * Pinned while building, in a GUC nest level of our own, only when
	 * they differ (the defaults cost nothing); popped below, or by the
	 * (sub)transaction abort.
	 */
	{
		bool		pin_float = extra_float_digits < 1;
		bool		pin_style = DateStyle != USE_ISO_DATES || IntervalStyle != INTSTYLE_POSTGRES;

		if (pin_float || pin_style || rj->has_reg)
		{
			guc_level = NewGUCNestLevel();
			if (pin_float)
				(void) set_config_option("extra_float_digits", "1", PGC_USERSET,
										 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
			if (pin_style)
			{
				(void) set_config_option("datestyle", "ISO", PGC_USERSET,
										 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
				(void) set_config_option("intervalstyle", "postgres", PGC_USERSET,
										 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
			}
			if (rj->has_reg)
				(void) set_config_option("search_path", "pg_catalog", PGC_USERSET,
										 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		}
	}

	/* kept per backend: creating a context per statement is not free */
	if (audit_batch_cxt == NULL)
		audit_batch_cxt = AllocSetContextCreate(TopMemoryContext, "governance audit batch",
												ALLOCSET_DEFAULT_SIZES);
	batchcxt = audit_batch_cxt;
	MemoryContextReset(batchcxt);
	oldcxt = MemoryContextSwitchTo(batchcxt);

	if (TRIGGER_FIRED_FOR_ROW(ev))
	{
		bool		has_old = !TRIGGER_FIRED_BY_INSERT(ev);
		bool		has_new = !TRIGGER_FIRED_BY_DELETE(ev);

		batch_begin(&batch, has_old, has_new, 1);
		if (has_old)
			rowjson_build(rj, td->tg_trigslot, &batch.old_rows[0]);
		if (has_new)
			rowjson_build(rj, TRIGGER_FIRED_BY_UPDATE(ev) ? td->tg_newslot : td->tg_trigslot,
						  &batch.new_rows[0]);
		batch.nrows = 1;
		batch_write(&batch, app, values, nulls);
	}
	else
	{
		Tuplestorestate *oldts = td->tg_oldtable;
		Tuplestorestate *newts = td->tg_newtable;
		TupleTableSlot *oldslot = NULL;
		TupleTableSlot *newslot = NULL;
		int			oldptr = 0;
		int			newptr = 0;

		if (oldts == NULL && newts == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("governance audit trigger \"%s\" on table \"%s\" has no transition table",
							td->tg_trigger->tgname, RelationGetRelationName(rel)),
					 errhint("Run governance.disable_audit() and governance.enable_audit() on the table.")));
		MemoryContextSwitchTo(oldcxt);
		if (oldts)
		{
			oldslot = rowjson_slot(rj, rel, 0);
			oldptr = transition_open(oldts);
		}
		if (newts)
		{
			newslot = rowjson_slot(rj, rel, 1);
			newptr = transition_open(newts);
		}
		MemoryContextSwitchTo(batchcxt);

		batch_begin(&batch, oldts != NULL, newts != NULL, AUDIT_BATCH_ROWS);
		for (;;)
		{
			bool		have_old = oldts && transition_next(oldts, oldptr, oldslot);
			bool		have_new = newts && transition_next(newts, newptr, newslot);

			if (!have_old && !have_new)
				break;
			if (have_old != (oldts != NULL) || have_new != (newts != NULL))
				elog(ERROR, "transition tables of \"%s\" differ in length",
					 RelationGetRelationName(rel));
			if (have_old)
			{
				rowjson_build(rj, oldslot, &batch.old_rows[batch.nrows]);
				batch.bytes += row_data_size(oldslot);
			}
			if (have_new)
			{
				rowjson_build(rj, newslot, &batch.new_rows[batch.nrows]);
				batch.bytes += row_data_size(newslot);
			}
			batch.nrows++;
			if (batch.nrows == AUDIT_BATCH_ROWS || batch.bytes >= AUDIT_BATCH_BYTES)
			{
				batch_write(&batch, app, values, nulls);
				MemoryContextReset(batchcxt);
				batch_begin(&batch, oldts != NULL, newts != NULL, AUDIT_BATCH_ROWS);
			}
		}
		batch_write(&batch, app, values, nulls);
		if (oldslot)
			ExecClearTuple(oldslot);
		if (newslot)
			ExecClearTuple(newslot);
	}

	MemoryContextSwitchTo(oldcxt);
	gov_appender_close(app);
	MemoryContextReset(batchcxt);
	if (guc_level >= 0)
		AtEOXact_GUC(true, guc_level);
	return PointerGetDatum(NULL);
}

/*---- enable_audit / disable_audit ----*/

static Oid
audit_function_oid(void)
{
	Oid			schema;
	Oid			argtypes[1];

	Oid			funcoid;

	lookup_extension(&schema, false);
	funcoid = LookupFuncName(list_make2(makeString(get_namespace_name(schema)),
										makeString(AUDIT_FUNCTION_NAME)),
							 0, argtypes, false);
	if (!gov_extension_member(ProcedureRelationId, funcoid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("function %s is not a member of extension \"%s\"",
						format_procedure(funcoid), GOV_EXTENSION_NAME),
				 errhint("A superuser should review and remove it, then run ALTER EXTENSION %s UPDATE.",
						 GOV_EXTENSION_NAME)));
	return funcoid;
}

/* Does the table carry at least one trigger calling audit_trigger()? */
static bool
relation_is_audited(Oid relid, Oid funcoid)
{
	Relation	tgrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		found = false;

	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		if (((Form_pg_trigger) GETSTRUCT(tup))->tgfoid == funcoid)
		{
			found = true;
			break;
		}
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	return found;
}

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
		RelationGetNamespace(rel) == get_extension_schema_or_invalid())
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

static Oid
get_extension_schema_or_invalid(void)
{
	Oid			schema;

	if (lookup_extension(&schema, true))
		return schema;
	return InvalidOid;
}

/*
 * Append an op = 'DDL' row to audit_log: auditing of relid was enabled,
 * disabled, or its triggers or the table itself touched.
 */
static void
audit_record_ddl(Oid relid, const char *command, const char *action,
				 const char *detail)
{
	Datum		values[AL_NATTS];
	bool		nulls[AL_NATTS];
	GovAppender *app;
	StringInfoData js;

	app = gov_appender_open(GOV_LOG_AUDIT, true);
	if (app == NULL)
		return;					/* extension being dropped or not there */

	audit_fill_common(values, nulls, relid, "DDL",
					  CStringGetTextDatum(gov_relation_name(relid)));

	initStringInfo(&js);
	appendStringInfoString(&js, "[{\"command\": ");
	escape_json(&js, command);
	appendStringInfoString(&js, ", \"action\": ");
	escape_json(&js, action);
	if (detail)
	{
		appendStringInfoString(&js, ", \"detail\": ");
		escape_json(&js, detail);
	}
	appendStringInfoString(&js, ", \"statement\": ");
	if (debug_query_string)
		escape_json(&js, debug_query_string);
	else
		appendStringInfoString(&js, "null");
	appendStringInfoString(&js, "}]");
	values[AL_NEW_ROWS] = DirectFunctionCall1(jsonb_in, CStringGetDatum(js.data));
	nulls[AL_NEW_ROWS] = false;

	gov_appender_insert(app, values, nulls);
	gov_appender_close(app);
}

/* Create one audit trigger on rel. */
static void
create_audit_trigger(Relation rel, const AuditTriggerSpec *spec, Oid funcoid)
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

/* Is this audit trigger disabled, or does it fire on replicas only? */
static bool
audit_trigger_disabled(char tgenabled)
{
	return tgenabled != TRIGGER_FIRES_ON_ORIGIN && tgenabled != TRIGGER_FIRES_ALWAYS;
}

/*
 * The partitions of an audited partitioned table carry clones of its row
 * trigger; enable any that were disabled.  Returns whether it changed one.
 */
static bool
enable_partition_clones(Oid relid, Oid funcoid)
{
	List	   *tree = find_all_inheritors(relid, ShareRowExclusiveLock, NULL);
	ListCell   *lc;
	bool		changed = false;

	foreach(lc, tree)
	{
		Oid			partid = lfirst_oid(lc);
		Relation	tgrel;
		SysScanDesc scan;
		ScanKeyData keys[2];
		HeapTuple	tup;
		bool		disabled = false;

		if (partid == relid)
			continue;
		tgrel = table_open(TriggerRelationId, AccessShareLock);
		ScanKeyInit(&keys[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(partid));
		ScanKeyInit(&keys[1], Anum_pg_trigger_tgname, BTEqualStrategyNumber,
					F_NAMEEQ, CStringGetDatum(partitioned_table_triggers[0].name));
		scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 2, keys);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup) &&
			((Form_pg_trigger) GETSTRUCT(tup))->tgfoid == funcoid)
			disabled = audit_trigger_disabled(((Form_pg_trigger) GETSTRUCT(tup))->tgenabled);
		systable_endscan(scan);
		table_close(tgrel, AccessShareLock);
		if (disabled)
		{
			Relation	part = table_open(partid, ShareRowExclusiveLock);

			EnableDisableTrigger(part, partitioned_table_triggers[0].name,
								 TRIGGER_FIRES_ON_ORIGIN, false, ShareRowExclusiveLock);
			table_close(part, NoLock);
			CommandCounterIncrement();
			changed = true;
		}
	}
	return changed;
}

/* The TRUNCATE trigger's spec (the same in both sets). */
static const AuditTriggerSpec *
truncate_spec(void)
{
	return audit_spec_named(partitioned_table_triggers, "governance_audit_truncate");
}

/*
 * TRUNCATE of a partition fires no trigger of the partitioned table (and
 * statement triggers are not cloned), so every partition of an audited
 * partitioned table gets a governance_audit_truncate trigger of its own:
 * made here for the tables in relids (enable_audit on the partitioned
 * table, and ddl_command_end after CREATE TABLE ... PARTITION OF or ATTACH
 * PARTITION), enabled if it was disabled.  Returns whether it changed one.
 */
static bool
ensure_partition_truncate_triggers(List *relids, Oid funcoid)
{
	const AuditTriggerSpec *spec = truncate_spec();
	ListCell   *lc;
	bool		changed = false;

	foreach(lc, relids)
	{
		Oid			partid = lfirst_oid(lc);
		Relation	part;
		Relation	tgrel;
		SysScanDesc scan;
		ScanKeyData keys[2];
		HeapTuple	tup;
		bool		exists = false;
		bool		disabled = false;

		tgrel = table_open(TriggerRelationId, AccessShareLock);
		ScanKeyInit(&keys[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(partid));
		ScanKeyInit(&keys[1], Anum_pg_trigger_tgname, BTEqualStrategyNumber,
					F_NAMEEQ, CStringGetDatum(spec->name));
		scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 2, keys);
		tup = systable_getnext(scan);
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
			disabled = audit_trigger_disabled(tg->tgenabled);
		}
		systable_endscan(scan);
		table_close(tgrel, AccessShareLock);
		if (exists && !disabled)
			continue;
		part = table_open(partid, ShareRowExclusiveLock);
		if (!exists)
			create_audit_trigger(part, spec, funcoid);
		else
			EnableDisableTrigger(part, spec->name, TRIGGER_FIRES_ON_ORIGIN,
								 false, ShareRowExclusiveLock);
		table_close(part, NoLock);
		CommandCounterIncrement();
		changed = true;
	}
	return changed;
}

/* The partitions of relid, at every level (relid itself excluded). */
static List *
partitions_of(Oid relid, LOCKMODE lockmode)
{
	return list_delete_first(find_all_inheritors(relid, lockmode, NULL));
}

static void
drop_trigger_by_oid(Oid tgoid)
{
	ObjectAddress addr;

	ObjectAddressSet(addr, TriggerRelationId, tgoid);
	performDeletion(&addr, DROP_RESTRICT, 0);
	CommandCounterIncrement();
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
	Oid			funcoid = audit_function_oid();
	Relation	rel;
	const AuditTriggerSpec *specs;
	const AuditTriggerSpec *spec;
	bool		changed = false;
	Relation	tgrel;
	SysScanDesc scan;
	ScanKeyData key;
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
	specs = audit_specs_for(rel->rd_rel->relkind);

	/* Which triggers calling audit_trigger() are not as enable_audit makes them? */
	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);

		spec = audit_spec_named(specs, NameStr(tg->tgname));
		if (spec != NULL && tg->tgfoid != funcoid)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("trigger \"%s\" for table \"%s\" already exists and is not a governance audit trigger",
							spec->name, RelationGetRelationName(rel)),
					 errhint("Rename or drop that trigger, then call governance.enable_audit() again.")));
		if (tg->tgfoid != funcoid || OidIsValid(tg->tgparentid))
			continue;
		if (spec == NULL ||
			!audit_shape_matches(spec, tg->tgtype,
								 !heap_attisnull(tup, Anum_pg_trigger_tgoldtable, NULL),
								 !heap_attisnull(tup, Anum_pg_trigger_tgnewtable, NULL),
								 tg->tgattr.dim1,
								 !heap_attisnull(tup, Anum_pg_trigger_tgqual, NULL),
								 tg->tgnargs))
			drop = lappend_oid(drop, tg->oid);
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	foreach(lc, drop)
	{
		drop_trigger_by_oid(lfirst_oid(lc));
		changed = true;
	}

	for (spec = specs; spec->name != NULL; spec++)
	{
		Oid			tgoid = get_trigger_oid(relid, spec->name, true);

		if (!OidIsValid(tgoid))
		{
			create_audit_trigger(rel, spec, funcoid);
			changed = true;
		}
		else
		{
			bool		disabled;

			tgrel = table_open(TriggerRelationId, AccessShareLock);
			ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber,
						F_OIDEQ, ObjectIdGetDatum(tgoid));
			scan = systable_beginscan(tgrel, TriggerOidIndexId, true, NULL, 1, &key);
			tup = systable_getnext(scan);
			if (!HeapTupleIsValid(tup))
				elog(ERROR, "could not find trigger %u", tgoid);
			disabled = audit_trigger_disabled(((Form_pg_trigger) GETSTRUCT(tup))->tgenabled);
			systable_endscan(scan);
			table_close(tgrel, AccessShareLock);
			if (disabled)
			{
				EnableDisableTrigger(rel, spec->name, TRIGGER_FIRES_ON_ORIGIN,
									 false, ShareRowExclusiveLock);
				changed = true;
			}
		}
		CommandCounterIncrement();
	}
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		if (enable_partition_clones(relid, funcoid))
			changed = true;
		if (ensure_partition_truncate_triggers(partitions_of(relid, ShareRowExclusiveLock),
											   funcoid))
			changed = true;
	}

	if (changed)
		audit_record_ddl(relid, "enable_audit", "enable_audit", NULL);
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
	Oid			funcoid = audit_function_oid();
	Relation	rel;
	Relation	tgrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	List	   *drop = NIL;
	ListCell   *lc;

	rel = try_relation_open(relid, AccessExclusiveLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	check_auditable(rel, "disable");

	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);

		/* cloned partition triggers go with their parent */
		if (tg->tgfoid == funcoid && !OidIsValid(tg->tgparentid))
			drop = lappend_oid(drop, tg->oid);
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);

	/* the TRUNCATE triggers of a partitioned table's partitions */
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		List	   *parts = partitions_of(relid, AccessExclusiveLock);

		foreach(lc, parts)
		{
			Oid			tgoid = get_trigger_oid(lfirst_oid(lc), truncate_spec()->name, true);

			if (OidIsValid(tgoid) &&
				trigger_is_audit(lfirst_oid(lc), truncate_spec()->name, funcoid))
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
	audit_record_ddl(relid, "disable_audit", "disable_audit", NULL);
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

/*---- DDL watch (event trigger) ----*/

/* Is this trigger (by name, on relid) one of ours? */
static bool
trigger_is_audit(Oid relid, const char *tgname, Oid funcoid)
{
	Relation	tgrel;
	SysScanDesc scan;
	ScanKeyData keys[2];
	HeapTuple	tup;
	bool		result = false;

	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_trigger_tgname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(tgname));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 2, keys);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		result = ((Form_pg_trigger) GETSTRUCT(tup))->tgfoid == funcoid;
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	return result;
}

/*
 * DDL that would change an audited table's rows, or stop its audit
 * triggers from seeing changes, without any audit row: refused for every
 * non-superuser (the table's owner included; governance.disable_audit()
 * is the recorded way to stop auditing first), recorded (op = 'DDL') when
 * a superuser runs it.
 */
static void
refuse_or_record(Oid relid, const char *command, const char *action,
				 const char *detail, const char *why)
{
	if (superuser())
	{
		audit_record_ddl(relid, command, action, detail);
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot run %s on audited table \"%s\"", action,
					gov_relation_name(relid)),
			 errdetail("%s", why),
			 errhint("Run governance.disable_audit() on the table first (the audit trail records it), or ask a superuser.")));
}

/* Is relid audited, or (recurse) any table below it? */
static bool
tree_is_audited(Oid relid, bool recurse, Oid funcoid)
{
	List	   *tree;
	ListCell   *lc;

	if (relation_is_audited(relid, funcoid))
		return true;
	if (!recurse || !has_subclass(relid))
		return false;
	tree = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, tree)
		if (relation_is_audited(lfirst_oid(lc), funcoid))
			return true;
	return false;
}

/* Is tgname an audit trigger on relid or (recurse) on any table below it? */
static bool
tree_has_audit_trigger(Oid relid, bool recurse, const char *tgname, Oid funcoid)
{
	List	   *tree;
	ListCell   *lc;

	if (trigger_is_audit(relid, tgname, funcoid))
		return true;
	if (!recurse || !has_subclass(relid))
		return false;
	tree = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, tree)
		if (trigger_is_audit(lfirst_oid(lc), tgname, funcoid))
			return true;
	return false;
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

		if (relation_is_audited(oid, funcoid))
			refuse_or_record(oid, "ALTER TABLE", "ATTACH PARTITION", name,
							 "The table is audited on its own: writes routed through the partitioned table would not fire its statement triggers.");
		if (!parent_audited)
			continue;
		if (relkind == RELKIND_FOREIGN_TABLE)
			refuse_or_record(parentid, "ALTER TABLE", "ATTACH PARTITION", name,
							 "The rows of a foreign table change on its server, where no audit trigger sees them.");
		else if (relkind == RELKIND_RELATION)
		{
			Relation	rel = table_open(oid, NoLock);
			bool		rows = table_has_rows(rel);

			table_close(rel, NoLock);
			if (rows)
				refuse_or_record(parentid, "ALTER TABLE", "ATTACH PARTITION", name,
								 psprintf("Table \"%s\" already holds rows, which have no audit rows.", name));
		}
	}
}

/*
 * ALTER TABLE (and ALTER FOREIGN TABLE) on an audited table, or on one
 * with audited tables below it when the command recurses.  Refused (see
 * refuse_or_record): DROP COLUMN and ALTER COLUMN TYPE (they change every
 * row's values; ADD COLUMN with a volatile default and every other
 * rewrite are caught by the table_rewrite event), SET UNLOGGED, INHERIT
 * and NO INHERIT with an audited table on either side, ATTACH PARTITION
 * (watch_attach), and disabling an audit trigger (DISABLE TRIGGER by name,
 * USER or ALL, ENABLE REPLICA TRIGGER).  Recorded: enabling triggers,
 * DETACH PARTITION (the partition leaves the audited table with its rows),
 * and, once per statement, any other subcommand (ADD COLUMN with a
 * constant default, SET DEFAULT, constraints, ...), which change no row.
 */
static void
watch_alter_table(AlterTableStmt *stmt)
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
		record_typed_tables(RangeVarGetRelid(stmt->relation, NoLock, true),
							"ALTER TYPE", NULL);
		return;
	}
	if ((stmt->objtype != OBJECT_TABLE && stmt->objtype != OBJECT_FOREIGN_TABLE) ||
		stmt->relation == NULL)
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	funcoid = audit_function_oid();
	recurse = stmt->relation->inh;
	audited = relation_is_audited(relid, funcoid);
	tree_audited = audited || tree_is_audited(relid, recurse, funcoid);

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
						refuse_or_record(relid, "ALTER TABLE", action,
										 quote_qualified_identifier(prv->schemaname, prv->relname), why);
					else if (OidIsValid(parentid) && relation_is_audited(parentid, funcoid))
						refuse_or_record(parentid, "ALTER TABLE", action,
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
				refuse_or_record(relid, "ALTER TABLE", "DROP COLUMN", cmd->name,
								 "Dropping a column destroys its value in every row, with no audit row.");
				break;
			case AT_AlterColumnType:
				refuse_or_record(relid, "ALTER TABLE", "ALTER COLUMN TYPE", cmd->name,
								 "Changing a column's type can change its value in every row, with no audit row.");
				break;
			case AT_SetUnLogged:
				refuse_or_record(relid, "ALTER TABLE", "SET UNLOGGED", NULL,
								 "A crash empties an unlogged table, with no audit row.");
				break;
			case AT_DisableTrigAll:
				refuse_or_record(relid, "ALTER TABLE", "DISABLE TRIGGER ALL", NULL,
								 "It would disable the table's audit triggers.");
				break;
			case AT_DisableTrigUser:
				refuse_or_record(relid, "ALTER TABLE", "DISABLE TRIGGER USER", NULL,
								 "It would disable the table's audit triggers.");
				break;
			case AT_DisableTrig:
			case AT_EnableReplicaTrig:
				if (cmd->name != NULL &&
					tree_has_audit_trigger(relid, recurse, cmd->name, funcoid))
					refuse_or_record(relid, "ALTER TABLE",
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
					tree_has_audit_trigger(relid, recurse, cmd->name, funcoid))
					audit_record_ddl(relid, "ALTER TABLE",
									 cmd->subtype == AT_EnableTrig ? "ENABLE TRIGGER" : "ENABLE ALWAYS TRIGGER",
									 cmd->name);
				else
					other = true;
				break;
			case AT_EnableTrigAll:
				audit_record_ddl(relid, "ALTER TABLE", "ENABLE TRIGGER ALL", NULL);
				break;
			case AT_EnableTrigUser:
				audit_record_ddl(relid, "ALTER TABLE", "ENABLE TRIGGER USER", NULL);
				break;
			case AT_DetachPartition:
			case AT_DetachPartitionFinalize:
				{
					PartitionCmd *pc = (PartitionCmd *) cmd->def;

					audit_record_ddl(relid, "ALTER TABLE", "DETACH PARTITION",
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
		audit_record_ddl(relid, "ALTER TABLE", "ALTER TABLE", NULL);
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
static void
watch_table_rewrite(void)
{
	Oid			relid = DatumGetObjectId(OidFunctionCall0(F_PG_EVENT_TRIGGER_TABLE_REWRITE_OID));
	int			reason = DatumGetInt32(OidFunctionCall0(F_PG_EVENT_TRIGGER_TABLE_REWRITE_REASON));

	if (superuser() || !relation_is_audited(relid, audit_function_oid()))
		return;
	if (reason & (AT_REWRITE_DEFAULT_VAL | AT_REWRITE_COLUMN_REWRITE))
		refuse_or_record(relid, "ALTER TABLE", "a table rewrite", NULL,
						 "The command computes new values for every row (a new column's volatile or generated value, or a column's new type), with no audit row.");
	if ((reason & AT_REWRITE_ALTER_PERSISTENCE) &&
		get_rel_persistence(relid) == RELPERSISTENCE_PERMANENT)
		refuse_or_record(relid, "ALTER TABLE", "SET UNLOGGED", NULL,
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
static void
watch_create_trigger(CreateTrigStmt *stmt)
{
	Oid			funcoid = audit_function_oid();
	Oid			target = LookupFuncName(stmt->funcname, 0, NULL, true);
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);

	if (target == funcoid && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only governance.enable_audit() may attach governance.audit_trigger()"),
				 errdetail("A trigger made by hand could record changes that never happened or miss some that did."),
				 errhint("Run governance.enable_audit() on the table.")));
	if (stmt->replace && OidIsValid(relid) &&
		trigger_is_audit(relid, stmt->trigname, funcoid))
		refuse_or_record(relid, "CREATE TRIGGER", "CREATE OR REPLACE TRIGGER",
						 stmt->trigname,
						 "Replacing an audit trigger (a WHEN condition, another function) silences it.");
}

/* CREATE RULE on an audited table: a rule rewrites writes before triggers see them. */
static void
watch_create_rule(RuleStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);

	if (OidIsValid(relid) && relation_is_audited(relid, audit_function_oid()))
		refuse_or_record(relid, "CREATE RULE", "CREATE RULE", stmt->rulename,
						 "A rule can replace or redirect a write (DO INSTEAD) before any audit trigger sees it.");
}

/*
 * CREATE TABLE ... INHERITS (audited): the child's rows would show in the
 * audited table and change through it with only its statement triggers
 * firing.  CREATE TABLE ... PARTITION OF an audited table is what
 * partitioning is for (the row trigger is cloned to the new partition);
 * a foreign partition is not, its rows change on another server.
 */
static void
watch_create_table(CreateStmt *stmt, bool foreign)
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
			funcoid = audit_function_oid();
		if (!relation_is_audited(parentid, funcoid))
			continue;
		if (stmt->partbound == NULL)
			refuse_or_record(parentid, foreign ? "CREATE FOREIGN TABLE" : "CREATE TABLE",
							 "INHERITS", stmt->relation->relname,
							 "A statement on an inheritance parent changes its children's rows and fires only the parent's statement triggers.");
		else if (foreign)
			refuse_or_record(parentid, "CREATE FOREIGN TABLE", "PARTITION OF",
							 stmt->relation->relname,
							 "The rows of a foreign table change on its server, where no audit trigger sees them.");
	}
}

/* ALTER TRIGGER ... RENAME, and ALTER TRIGGER ... DEPENDS ON EXTENSION */
static void
watch_alter_trigger(RangeVar *relation, const char *tgname, const char *action,
					const char *why)
{
	Oid			relid;

	if (relation == NULL || tgname == NULL)
		return;
	relid = RangeVarGetRelid(relation, NoLock, true);
	if (OidIsValid(relid) && trigger_is_audit(relid, tgname, audit_function_oid()))
		refuse_or_record(relid, "ALTER TRIGGER", action, tgname, why);
}

/*
 * DROP EXTENSION of another extension: audit triggers made dependent on
 * it (ALTER TRIGGER ... DEPENDS ON EXTENSION, refused since 0.5, or done
 * before) would be dropped with it.
 */
static void
watch_drop_other_extension(const char *extname)
{
	Oid			extoid = get_extension_oid(extname, true);
	Oid			funcoid;
	Relation	deprel;
	SysScanDesc scan;
	ScanKeyData keys[2];
	HeapTuple	tup;
	List	   *tgoids = NIL;
	ListCell   *lc;

	if (!OidIsValid(extoid))
		return;
	funcoid = audit_function_oid();
	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ExtensionRelationId));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(extoid));
	scan = systable_beginscan(deprel, DependReferenceIndexId, true, NULL, 2, keys);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->classid == TriggerRelationId)
			tgoids = lappend_oid(tgoids, dep->objid);
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);

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
			refuse_or_record(relid, "DROP EXTENSION", "DROP TRIGGER", tgname,
							 psprintf("The audit trigger depends on extension \"%s\" and would be dropped with it.", extname));
	}
}

/*---- The trail's survival ----*/

/* The extension's OID and owner (by name: extension names are unique). */
static bool
gov_extension_row(Oid *extoid, Oid *owner)
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
		*extoid = ((Form_pg_extension) GETSTRUCT(tup))->oid;
		*owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
		found = true;
	}
	systable_endscan(scan);
	table_close(extrel, AccessShareLock);
	return found;
}

/* Does audit_batch or denied_log hold anything (any page)? */
static bool
trail_holds_rows(void)
{
	GovLog		log;

	for (log = GOV_LOG_AUDIT; log <= GOV_LOG_DENIED; log++)
	{
		Relation	rel;
		BlockNumber nblocks;

		if (!lookup_log(log, true))
			continue;
		rel = table_open(cached_log_relid[log], AccessShareLock);
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
	GovLog		log;

	for (log = GOV_LOG_AUDIT; log <= GOV_LOG_DENIED; log++)
		if (lookup_log(log, true) && cached_log_relid[log] == relid)
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
	Oid			funcoid = audit_function_oid();
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
		audit_record_ddl(lfirst_oid(lc), command, "DROP TABLE", NULL);
}

static void
watch_drop(DropStmt *stmt)
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
					watch_drop_other_extension(strVal(lfirst(lc)));
			}
			break;
		case OBJECT_SCHEMA:
			{
				Oid			schema = get_extension_schema_or_invalid();

				foreach(lc, stmt->objects)
				{
					char	   *name = strVal(lfirst(lc));
					Oid			nspoid = get_namespace_oid(name, true);
					bool		holds_log = false;
					GovLog		log;

					if (!OidIsValid(nspoid))
						continue;
					for (log = GOV_LOG_AUDIT; log <= GOV_LOG_DENIED; log++)
						if (lookup_log(log, true) &&
							get_rel_namespace(cached_log_relid[log]) == nspoid)
							holds_log = true;
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
					funcoid = audit_function_oid();
				if (relation_is_audited(relid, funcoid))
					audit_record_ddl(relid, "DROP TABLE", "DROP TABLE", NULL);
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
					funcoid = audit_function_oid();
				if (trigger_is_audit(relid, tgname, funcoid))
					refuse_or_record(relid, "DROP TRIGGER", "DROP TRIGGER", tgname,
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
static void
watch_drop_owned(DropOwnedStmt *stmt)
{
	Oid			extoid;
	Oid			extowner;
	Oid			nspowner = InvalidOid;
	Oid			schema;
	ListCell   *lc;

	if (!gov_extension_row(&extoid, &extowner))
		return;
	schema = get_extension_schema_or_invalid();
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
		GovLog		log;
		bool		owns_log = false;

		if (!OidIsValid(roleid))
			continue;
		for (log = GOV_LOG_AUDIT; log <= GOV_LOG_DENIED; log++)
		{
			HeapTuple	tup;

			if (!lookup_log(log, true))
				continue;
			tup = SearchSysCache1(RELOID, ObjectIdGetDatum(cached_log_relid[log]));
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
static void
watch_alter_extension_contents(AlterExtensionContentsStmt *stmt)
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
static void
watch_sql_drop(EventTriggerData *trigdata)
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
	funcoid = audit_function_oid();
	forboth(lc1, relids, lc2, names)
	{
		Oid			relid = lfirst_oid(lc1);

		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)) &&
			relation_is_audited(relid, funcoid))
			refuse_or_record(relid, GetCommandTagName(trigdata->tag), "DROP COLUMN",
							 (char *) lfirst(lc2),
							 "A column dropped with an object it depended on loses its value in every row, with no audit row.");
	}
}

/*
 * A partition detached from an audited partitioned table lost its clone
 * of the row trigger; its TRUNCATE audit trigger goes too, so that it is
 * plainly not audited (the DETACH itself was recorded at
 * ddl_command_start).  Partitions still attached keep theirs.
 */
/* Does relid carry a partition clone of an audit trigger? */
static bool
has_audit_clone(Oid relid, Oid funcoid)
{
	Relation	tgrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		found = false;

	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);

		found = tg->tgfoid == funcoid && OidIsValid(tg->tgparentid);
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	return found;
}

static void
drop_detached_truncate_triggers(Oid partid)
{
	Oid			funcoid;
	List	   *tree;
	ListCell   *lc;

	if (!OidIsValid(partid) || !OidIsValid(get_extension_schema_or_invalid()))
		return;
	funcoid = audit_function_oid();
	tree = find_all_inheritors(partid, AccessExclusiveLock, NULL);
	foreach(lc, tree)
	{
		Oid			oid = lfirst_oid(lc);
		const char *name = truncate_spec()->name;

		if (trigger_is_audit(oid, name, funcoid) && !has_audit_clone(oid, funcoid))
			drop_trigger_by_oid(get_trigger_oid(oid, name, false));
	}
}

/*
 * ddl_command_end: a new partition under an audited partitioned table
 * (CREATE TABLE ... PARTITION OF, ALTER TABLE ... ATTACH PARTITION) gets
 * its TRUNCATE audit trigger (see ensure_partition_truncate_triggers); the
 * row trigger was cloned to it by PostgreSQL.
 */
static void
watch_command_end(Node *tree)
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
		!OidIsValid(get_extension_schema_or_invalid()))
		return;
	funcoid = audit_function_oid();
	if (!relation_is_audited(parentid, funcoid))
		return;
	ensure_partition_truncate_triggers(find_all_inheritors(partid, ShareRowExclusiveLock, NULL),
									   funcoid);
}

static const char *
depends_object_name(Node *object)
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
	Relation	deprel;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tup;
	List	   *types = NIL;
	List	   *rels = NIL;
	ListCell   *lc;

	if (list_member_oid(*visited, typid) || list_length(*visited) > 1000)
		return;
	*visited = lappend_oid(*visited, typid);
	check_stack_depth();

	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(typid));
	scan = systable_beginscan(deprel, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->classid == TypeRelationId)
			types = lappend_oid(types, dep->objid);
		else if (dep->classid == RelationRelationId && dep->objsubid > 0)
			rels = list_append_unique_oid(rels, dep->objid);
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);

	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);
		char		relkind = get_rel_relkind(relid);

		if (relkind == RELKIND_COMPOSITE_TYPE)
			audited_tables_using_type(get_rel_type_id(relid), funcoid, relids, visited);
		else if (relation_is_audited(relid, funcoid))
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
static void
record_typed_tables(Oid typerel, const char *action, const char *detail)
{
	Relation	deprel;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tup;
	Oid			typid;
	Oid			funcoid;
	List	   *relids = NIL;
	ListCell   *lc;

	if (!OidIsValid(typerel) || get_rel_relkind(typerel) != RELKIND_COMPOSITE_TYPE ||
		!OidIsValid(get_extension_schema_or_invalid()))
		return;
	typid = get_rel_type_id(typerel);
	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(typid));
	scan = systable_beginscan(deprel, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->classid == RelationRelationId && dep->objsubid == 0)
			relids = list_append_unique_oid(relids, dep->objid);
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);

	funcoid = audit_function_oid();
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		HeapTuple	ctup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		bool		typed;

		if (!HeapTupleIsValid(ctup))
			continue;
		typed = ((Form_pg_class) GETSTRUCT(ctup))->reloftype == typid;
		ReleaseSysCache(ctup);
		if (typed && relation_is_audited(relid, funcoid))
			audit_record_ddl(relid, "ALTER TYPE", action, detail);
	}
}

/*
 * ALTER TYPE ... RENAME VALUE: every stored value with that label now
 * reads as the new one, in every row of every table using the enum,
 * with no row change the audit triggers could see.  Refused while an
 * audited table uses the enum (recorded for a superuser).  ADD VALUE
 * changes no stored value.
 */
static void
watch_alter_enum(AlterEnumStmt *stmt)
{
	Oid			typid;
	Oid			funcoid;
	List	   *relids = NIL;
	List	   *visited = NIL;
	ListCell   *lc;

	if (stmt->oldVal == NULL)
		return;
	typid = LookupTypeNameOid(NULL, makeTypeNameFromNameList(stmt->typeName), true);
	if (!OidIsValid(typid) || !OidIsValid(get_extension_schema_or_invalid()))
		return;
	funcoid = audit_function_oid();
	audited_tables_using_type(typid, funcoid, &relids, &visited);
	foreach(lc, relids)
		refuse_or_record(lfirst_oid(lc), "ALTER TYPE", "RENAME VALUE",
						 psprintf("%s: %s -> %s", format_type_be(typid),
								  stmt->oldVal, stmt->newVal),
						 "Renaming an enum label changes the value of every row that holds it, with no audit row.");
}

/*
 * governance.ddl_watch(): the event trigger function, for four events.
 * ddl_command_start works on the parse tree, before the command runs;
 * table_rewrite, before ALTER TABLE / ALTER TYPE rewrites a table;
 * sql_drop, after a command dropped objects (watch_sql_drop);
 * ddl_command_end, after a partition was added (watch_command_end).  What
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
		watch_table_rewrite();
		PG_RETURN_VOID();
	}
	if (strcmp(trigdata->event, "sql_drop") == 0)
	{
		watch_sql_drop(trigdata);
		PG_RETURN_VOID();
	}
	if (strcmp(trigdata->event, "ddl_command_end") == 0)
	{
		if (trigdata->parsetree != NULL)
			watch_command_end(trigdata->parsetree);
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
			watch_alter_table((AlterTableStmt *) tree);
			break;
		case T_DropStmt:
			watch_drop((DropStmt *) tree);
			break;
		case T_DropOwnedStmt:
			watch_drop_owned((DropOwnedStmt *) tree);
			break;
		case T_CreateTrigStmt:
			watch_create_trigger((CreateTrigStmt *) tree);
			break;
		case T_RuleStmt:
			watch_create_rule((RuleStmt *) tree);
			break;
		case T_CreateStmt:
			watch_create_table((CreateStmt *) tree, false);
			break;
		case T_CreateForeignTableStmt:
			watch_create_table(&((CreateForeignTableStmt *) tree)->base, true);
			break;
		case T_RenameStmt:
			{
				RenameStmt *rs = (RenameStmt *) tree;

				if (rs->renameType == OBJECT_ATTRIBUTE && rs->relation != NULL)
					record_typed_tables(RangeVarGetRelid(rs->relation, NoLock, true),
										"RENAME ATTRIBUTE",
										psprintf("%s -> %s", rs->subname, rs->newname));
				else if (rs->renameType == OBJECT_TRIGGER)
					watch_alter_trigger(rs->relation, rs->subname, "ALTER TRIGGER RENAME",
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

					if (OidIsValid(relid) && relation_is_audited(relid, audit_function_oid()))
						audit_record_ddl(relid, "ALTER TABLE",
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

					if (OidIsValid(relid) && relation_is_audited(relid, audit_function_oid()))
						audit_record_ddl(relid, "ALTER TABLE", "SET SCHEMA", os->newschema);
				}
			}
			break;
		case T_AlterObjectDependsStmt:
			{
				AlterObjectDependsStmt *ds = (AlterObjectDependsStmt *) tree;

				if (ds->objectType == OBJECT_TRIGGER && !ds->remove)
					watch_alter_trigger(ds->relation, depends_object_name(ds->object),
										"ALTER TRIGGER DEPENDS ON EXTENSION",
										"The audit trigger would be dropped, unrecorded, with that extension.");
			}
			break;
		case T_AlterExtensionContentsStmt:
			watch_alter_extension_contents((AlterExtensionContentsStmt *) tree);
			break;
		case T_AlterEnumStmt:
			watch_alter_enum((AlterEnumStmt *) tree);
			break;
		default:
			break;
	}
	PG_RETURN_VOID();
}
