/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  governance.audit_trigger(): the C trigger function that records every
 *	  change of an audited table.
 *
 * Each call first applies governance.require_context, then writes the
 * statement's row images (rowjson.c) into governance.audit_batch
 * (audit_log.c) through the appender (appender.c), in the statement's
 * (sub)transaction.  It refuses to run as any attachment enable_audit()
 * would not make (audit_check_attachment): see ddl_watch.c for the rest of
 * "no change without its audit row".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "audit_trail.h"
#include "require_context.h"

PG_FUNCTION_INFO_V1(governance_audit_trigger);

/* Where a statement's row images are built; reset by every call. */
static MemoryContext audit_batch_cxt = NULL;

/*
 * The batch context keeps, from one statement to the next, as much memory
 * as its largest batch so far needed (at most AUDIT_BATCH_KEEP_MAX), as its
 * first block, which a reset keeps.  Otherwise every multi-row statement
 * grows the heap by the blocks its batch needs (a 100-row batch of five
 * columns: about 150 kB) and the reset gives them back (glibc trims the
 * heap top past 128 kB): two brk() calls and the kernel's page-table work
 * per statement, which instruction counts do not see and which cost the
 * 100-row benchmark about a quarter of its throughput (docs/benchmarks.md).
 */
#define AUDIT_BATCH_KEEP_MAX	(1024 * 1024)
static Size audit_batch_kept = 0;	/* the first block's size */
static Size audit_batch_peak = 0;	/* the most a batch needed */

/* The batch context, made (again, larger) to keep what batches need. */
static MemoryContext
audit_batch_context(void)
{
	Size		keep = audit_batch_kept;

	if (audit_batch_cxt != NULL && audit_batch_peak > audit_batch_kept &&
		audit_batch_kept < AUDIT_BATCH_KEEP_MAX)
	{
		keep = Min(AUDIT_BATCH_KEEP_MAX, pg_nextpower2_size_t(audit_batch_peak));
		MemoryContextDelete(audit_batch_cxt);
		audit_batch_cxt = NULL;
	}
	if (audit_batch_cxt == NULL)
	{
		if (keep < ALLOCSET_DEFAULT_INITSIZE)
			audit_batch_cxt = AllocSetContextCreate(TopMemoryContext, "governance audit batch",
													ALLOCSET_DEFAULT_SIZES);
		else
			audit_batch_cxt = AllocSetContextCreate(TopMemoryContext, "governance audit batch",
													keep, keep, ALLOCSET_DEFAULT_MAXSIZE);
		audit_batch_kept = Max(keep, ALLOCSET_DEFAULT_INITSIZE);
	}
	return audit_batch_cxt;
}

/* Empty the batch context, noting how much the batch in it needed. */
static void
audit_batch_reset(MemoryContext batchcxt)
{
	audit_batch_peak = Max(audit_batch_peak, MemoryContextMemAllocated(batchcxt, false));
	MemoryContextReset(batchcxt);
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
 * (gov_rowjson_build), in the batch memory context.
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
		specs = gov_partitioned_table_triggers;
	else
		specs = gov_audit_specs_for(rel->rd_rel->relkind);
	spec = gov_audit_spec_named(specs, tg->tgname);
	if (spec != NULL && TRIGGER_FIRED_AFTER(td->tg_event) &&
		gov_audit_shape_matches(spec, tg->tgtype, tg->tgoldtable != NULL,
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

	rj = gov_rowjson_get(rel);
	gov_audit_fill_common(values, nulls, RelationGetRelid(rel), op,
					  PointerGetDatum(rj->relation));
	app = gov_appender_open(&gov_audit_log_shape, false);

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
	batchcxt = audit_batch_context();
	MemoryContextReset(batchcxt);
	oldcxt = MemoryContextSwitchTo(batchcxt);

	if (TRIGGER_FIRED_FOR_ROW(ev))
	{
		bool		has_old = !TRIGGER_FIRED_BY_INSERT(ev);
		bool		has_new = !TRIGGER_FIRED_BY_DELETE(ev);

		batch_begin(&batch, has_old, has_new, 1);
		if (has_old)
			gov_rowjson_build(rj, td->tg_trigslot, &batch.old_rows[0]);
		if (has_new)
			gov_rowjson_build(rj, TRIGGER_FIRED_BY_UPDATE(ev) ? td->tg_newslot : td->tg_trigslot,
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
			oldslot = gov_rowjson_slot(rj, rel, 0);
			oldptr = transition_open(oldts);
		}
		if (newts)
		{
			newslot = gov_rowjson_slot(rj, rel, 1);
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
				gov_rowjson_build(rj, oldslot, &batch.old_rows[batch.nrows]);
				batch.bytes += gov_row_data_size(oldslot);
			}
			if (have_new)
			{
				gov_rowjson_build(rj, newslot, &batch.new_rows[batch.nrows]);
				batch.bytes += gov_row_data_size(newslot);
			}
			batch.nrows++;
			if (batch.nrows == AUDIT_BATCH_ROWS || batch.bytes >= AUDIT_BATCH_BYTES)
			{
				batch_write(&batch, app, values, nulls);
				audit_batch_reset(batchcxt);
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
	audit_batch_reset(batchcxt);
	if (guc_level >= 0)
		AtEOXact_GUC(true, guc_level);
	return PointerGetDatum(NULL);
}
