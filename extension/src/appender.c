/*-------------------------------------------------------------------------
 *
 * appender.c
 *	  Appending rows to the append-only logs, and the values log rows share.
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
 * Each log's owner describes the log (a GovLogShape: audit_log.c,
 * denied_log.c); the appender checks, before writing, that what carries
 * the log's name is exactly the extension's own (check_log_relation).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_sequence.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "appender.h"
#include "extension.h"

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

/* The shape of each log, as its owner gave it (gov_appender_open, gov_log_relid). */
static const GovLogShape *log_shape[GOV_NUM_LOGS];

/*
 * OIDs of the extension schema and of the logs, cached per backend and
 * revalidated on every open (the extension may be dropped and created
 * again, in which case every OID changes).
 */
static Oid	cached_schema = InvalidOid;
static Oid	cached_log_relid[GOV_NUM_LOGS];
static Oid	cached_log_seqid[GOV_NUM_LOGS];

/*
 * The log whose shape and ownership were last checked (check_log_relation);
 * forgotten on any invalidation of it or of its indexes, so that a change
 * of owner, column, rule or index is checked again before the next row.
 */
static Oid	checked_log_relid[GOV_NUM_LOGS];

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

static LogIndexCache log_indexes[GOV_NUM_LOGS];
static MemoryContext log_index_cxt[GOV_NUM_LOGS];
static bool log_index_callback_registered = false;

/*
 * Ids of a log with an id_block (audit_batch) are handed out from
 * per-backend blocks: the sequence steps by a whole block (a multiple of
 * id_block), and a row takes the next id_block ids of its backend's block,
 * so most rows need no nextval.  Ids stay unique; they ascend in the order
 * one backend wrote its rows (as with a sequence's CACHE).
 */
static Oid	id_block_seqid = InvalidOid;
static int64 id_block_next = 0;
static int64 id_block_end = 0;

/* Client address as inet, computed once per backend. */
static bool client_addr_done = false;
static bool client_addr_null = true;
static Datum client_addr_value;

/*---- Function declarations ----*/
static void appender_open_indexes(GovAppender *app);

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
		const Oid  *types = log_shape[log]->types;

		for (int i = 0; i < desc->natts && i < log_shape[log]->natts && why == NULL; i++)
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
					is_seq ? log_shape[log]->seqname : log_shape[log]->relname,
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
	static Oid	warned[GOV_NUM_LOGS][2];

	schema = gov_extension_schema(missing_ok);
	if (!OidIsValid(schema))
		return false;
	relid = get_relname_relid(log_shape[log]->relname, schema);
	if (!OidIsValid(relid))
	{
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" of extension \"%s\" does not exist",
						log_shape[log]->relname, GOV_EXTENSION_NAME),
				 errhint("Run ALTER EXTENSION %s UPDATE.", GOV_EXTENSION_NAME)));
	}
	seqid = get_relname_relid(log_shape[log]->seqname, schema);
	if (!OidIsValid(seqid))
	{
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence \"%s\" of extension \"%s\" does not exist",
						log_shape[log]->seqname, GOV_EXTENSION_NAME)));
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
gov_appender_open(const GovLogShape *shape, bool missing_ok)
{
	GovLog		log = shape->log;
	Relation	rel = NULL;
	GovAppender *app;

	log_shape[log] = shape;
	if (OidIsValid(cached_log_relid[log]))
	{
		rel = try_relation_open(cached_log_relid[log], RowExclusiveLock);
		if (rel != NULL &&
			(rel->rd_rel->relkind != RELKIND_RELATION ||
			 rel->rd_rel->relnamespace != cached_schema ||
			 strcmp(RelationGetRelationName(rel), log_shape[log]->relname) != 0 ||
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
	/* a log may have gained columns since its oldest version still written */
	if (RelationGetDescr(rel)->natts > shape->natts ||
		RelationGetDescr(rel)->natts < shape->min_natts)
		elog(ERROR, "governance.%s has %d columns, expected %d",
			 log_shape[log]->relname, RelationGetDescr(rel)->natts, log_shape[log]->natts);

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

	for (l = 0; l < GOV_NUM_LOGS; l++)
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
 * The first id of the next row of a log with an id_block: id_block ids
 * from this backend's block, a new block from the sequence when it is
 * used up.
 */
static int64
block_next_id(const GovLogShape *shape, Oid seqid)
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
		if (increment < shape->id_block || increment % shape->id_block != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("sequence governance.%s must step by a multiple of %d",
							shape->seqname, shape->id_block)));
		id_block_next = nextval_internal(seqid, false);
		id_block_end = id_block_next + increment;
		id_block_seqid = seqid;
	}
	id = id_block_next;
	id_block_next += shape->id_block;
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
	values[0] = Int64GetDatum(log_shape[app->log]->id_block > 0 ?
							  block_next_id(log_shape[app->log], app->seqid) :
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

/*
 * The log table of shape, checked to be the extension's own
 * (check_log_relation); InvalidOid when the extension is absent or older
 * than the log, or when what carries the name is not ours.
 */
Oid
gov_log_relid(const GovLogShape *shape)
{
	log_shape[shape->log] = shape;
	if (!lookup_log(shape->log, true))
		return InvalidOid;
	return cached_log_relid[shape->log];
}
