/*-------------------------------------------------------------------------
 *
 * rowjson.c
 *	  Row images of audited tables as jsonb.
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
 * reg* values) are pinned while images are built (audit.c).
 *
 * The conversion of each audited relation (RowJson) is cached per backend
 * in CacheMemoryContext and dropped on any invalidation of that relation,
 * or of any schema, type or role.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "audit_trail.h"

static HTAB *rowjson_cache = NULL;

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
RowJson *
gov_rowjson_get(Relation rel)
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
TupleTableSlot *
gov_rowjson_slot(RowJson *rj, Relation rel, int which)
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
Size
gov_row_data_size(TupleTableSlot *slot)
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
void
gov_rowjson_build(RowJson *rj, TupleTableSlot *slot, JsonbValue *row)
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
