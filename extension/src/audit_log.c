/*-------------------------------------------------------------------------
 *
 * audit_log.c
 *	  governance.audit_batch: its shape, and the rows every audit writer
 *	  shares (the context columns, op = 'DDL' records).
 *
 * Storage.  One audit_batch row per audited statement holds the context
 * once and the row images as two jsonb arrays (up to AUDIT_BATCH_ROWS rows,
 * lz4-compressed by TOAST when large); the audit_log view unnests them into
 * one row per changed row.  A 100-row INSERT costs one heap tuple, one
 * btree entry and (mostly) no BRIN work instead of a hundred of each -- this is what keeps bulk
 * writes within 0.6x of unaudited ones (scripts/bench-audit.sh).
 *
 * audit_batch ids are handed out from per-backend blocks: the sequence
 * steps by a whole block (a multiple of AUDIT_BATCH_ROWS), and a batch takes
 * the next AUDIT_BATCH_ROWS ids of its backend's block, so most statements
 * need no nextval.  Ids stay unique; they ascend in the order one backend
 * wrote its batches (as with a sequence's CACHE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "audit_trail.h"
#include "governance.h"

/* Column types of audit_batch as the install scripts create it. */
static const Oid audit_batch_types[AL_NATTS] = {
	INT8OID, INT4OID, TIMESTAMPTZOID, XID8OID, OIDOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INETOID,
	JSONBOID, JSONBOID
};

const GovLogShape gov_audit_log_shape = {
	.log = GOV_LOG_AUDIT,
	.relname = "audit_batch",
	.seqname = "audit_batch_id_seq",
	.natts = AL_NATTS,
	.min_natts = AL_NATTS,
	.types = audit_batch_types,
	.id_block = AUDIT_BATCH_ROWS,
};

/* Role names of the current and session user, cached as text. */
static Oid	cached_user_oid[2] = {InvalidOid, InvalidOid};
static text *cached_user_name[2];

static void
user_cache_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	cached_user_oid[0] = cached_user_oid[1] = InvalidOid;
}

/* Name of a role (0: current user, 1: session user) as text, cached. */
static Datum
cached_role_name(int which, Oid roleid)
{
	static bool callback_registered = false;

	if (!callback_registered)
	{
		/* a renamed or dropped role: look its name up again */
		CacheRegisterSyscacheCallback(AUTHOID, user_cache_invalidate, (Datum) 0);
		callback_registered = true;
	}
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

/*
 * Values shared by every audit row of one trigger call: when, which
 * transaction, which table, who.
 */
void
gov_audit_fill_common(Datum *values, bool *nulls, Oid relid, const char *op,
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

/*
 * Append an op = 'DDL' row to audit_log: auditing of relid was enabled,
 * disabled, or its triggers or the table itself touched.
 */
void
gov_audit_record_ddl(Oid relid, const char *command, const char *action,
				 const char *detail)
{
	Datum		values[AL_NATTS];
	bool		nulls[AL_NATTS];
	GovAppender *app;
	StringInfoData js;

	app = gov_appender_open(&gov_audit_log_shape, true);
	if (app == NULL)
		return;					/* extension being dropped or not there */

	gov_audit_fill_common(values, nulls, relid, "DDL",
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
