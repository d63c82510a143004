/*-------------------------------------------------------------------------
 *
 * context.c
 *	  SQL functions that read, set and describe the governance context.
 *
 * agent_id(), tenant_id() and correlation_id() are called per row by RLS
 * policies, so they do nothing but read a pointer (gov_context_value).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/lsyscache.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "extension.h"
#include "governance.h"
#include "latency.h"
#include "sessions.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(governance_agent_id);
PG_FUNCTION_INFO_V1(governance_tenant_id);
PG_FUNCTION_INFO_V1(governance_correlation_id);
PG_FUNCTION_INFO_V1(governance_context);
PG_FUNCTION_INFO_V1(governance_set_context);
PG_FUNCTION_INFO_V1(governance_set_context_signed);
PG_FUNCTION_INFO_V1(governance_capabilities);

static Datum
field_datum(FunctionCallInfo fcinfo, GovField field)
{
	const char *v = gov_context_value(field);

	if (v == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(v));
}

Datum
governance_agent_id(PG_FUNCTION_ARGS)
{
	return field_datum(fcinfo, GOV_FIELD_AGENT);
}

Datum
governance_tenant_id(PG_FUNCTION_ARGS)
{
	return field_datum(fcinfo, GOV_FIELD_TENANT);
}

Datum
governance_correlation_id(PG_FUNCTION_ARGS)
{
	return field_datum(fcinfo, GOV_FIELD_CORRELATION);
}

static void
append_json_member(StringInfo buf, const char *key, const char *value)
{
	if (buf->len > 1)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/* governance.context() -> jsonb: the whole context and its state. */
Datum
governance_context(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_json_member(&buf, "agent_id", gov_context_value(GOV_FIELD_AGENT));
	append_json_member(&buf, "tenant_id", gov_context_value(GOV_FIELD_TENANT));
	append_json_member(&buf, "correlation_id",
					   gov_context_value(GOV_FIELD_CORRELATION));
	appendStringInfo(&buf, ", \"sealed\": %s, \"signed\": %s}",
					 gov_context_sealed() ? "true" : "false",
					 gov_context_signed() ? "true" : "false");

	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * governance.set_context(agent_id, tenant_id, correlation_id, seal)
 *
 * Transaction-local, like set_config(..., true): gone at COMMIT/ROLLBACK,
 * also when called outside an explicit transaction block.
 */
Datum
governance_set_context(PG_FUNCTION_ARGS)
{
	char	   *agent_id = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *tenant_id = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *correlation_id = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));

	if (agent_id == NULL || agent_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("agent_id must not be null or empty"),
				 errhint("Pass the acting agent or user as the first argument of governance.set_context().")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("seal must not be null")));
	if (gov_require_signed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("unsigned governance context refused"),
				 errdetail("governance.require_signed is on."),
				 errhint("Use governance.set_context_signed() with a token signed with governance.signing_key.")));

	gov_set_context(agent_id, tenant_id, correlation_id, PG_GETARG_BOOL(3),
					false);
	PG_RETURN_VOID();
}

/*
 * Error context callback of set_context_signed(): every report made while
 * it runs leaves the statement out of the server log (no STATEMENT line),
 * because the statement's text may hold the token (a client that spliced
 * it in instead of sending a bind parameter).  The client still gets the
 * error.
 */
static void
hide_statement_callback(void *arg)
{
	errhidestmt(true);
}

/* governance.set_context_signed(token): verify, then set and seal. */
Datum
governance_set_context_signed(PG_FUNCTION_ARGS)
{
	text	   *token;
	GovToken	claims;
	const char *detail = NULL;
	GovTokenStatus st;
	int64		now_unix;
	GovTokenKey keys[2];
	ErrorContextCallback hide_statement;

	hide_statement.callback = hide_statement_callback;
	hide_statement.arg = NULL;
	hide_statement.previous = error_context_stack;
	error_context_stack = &hide_statement;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("governance token must not be null")));
	if (gov_signing_key == NULL || gov_signing_key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("governance.signing_key is not set"),
				 errhint("A superuser sets the key in postgresql.conf or with ALTER SYSTEM.")));

	/* the current key, then the previous one (key rotation) */
	keys[0].key = gov_signing_key;
	keys[0].key_len = strlen(gov_signing_key);
	keys[0].id = gov_signing_key_id;
	keys[1].key = gov_signing_key_previous;
	keys[1].key_len = gov_signing_key_previous ? strlen(gov_signing_key_previous) : 0;
	keys[1].id = gov_signing_key_previous_id;

	token = PG_GETARG_TEXT_PP(0);
	now_unix = (int64) timestamptz_to_time_t(GetCurrentTimestamp());
	st = gov_token_verify(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
						  keys, lengthof(keys), now_unix,
						  (int64) gov_token_max_lifetime, &claims, &detail);
	switch (st)
	{
		case GOV_TOKEN_OK:
			break;
		case GOV_TOKEN_MALFORMED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("malformed governance token"),
					 errdetail_internal("%s", detail)));
			break;
		case GOV_TOKEN_TRUNCATED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("truncated governance token"),
					 errdetail_internal("%s", detail)));
			break;
		case GOV_TOKEN_BAD_SIGNATURE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("governance token signature is invalid"),
					 errdetail_internal("%s", detail)));
			break;
		case GOV_TOKEN_BAD_PAYLOAD:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid governance token payload"),
					 errdetail_internal("%s", detail)));
			break;
		case GOV_TOKEN_EXPIRED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("governance token has expired"),
					 errdetail("The token expired at %s.",
							   timestamptz_to_str(time_t_to_timestamptz((pg_time_t) claims.exp)))));
			break;
		case GOV_TOKEN_TOO_LONG:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("governance token lives longer than governance.token_max_lifetime"),
					 errdetail("The token's exp is %lld seconds ahead; at most %d are allowed.",
							   (long long) (claims.exp - now_unix), gov_token_max_lifetime),
					 errhint("Mint tokens per request with a short exp.")));
			break;
	}

	/*
	 * A "role" claim binds the token to the session user: the role that
	 * authenticated the connection, which neither SET ROLE nor a SECURITY
	 * DEFINER function changes, so a token minted for one application role
	 * is of no use to a session of another, even one that may SET ROLE to it.
	 */
	if (claims.role != NULL)
	{
		const char *session_role = GetUserNameFromId(GetSessionUserId(), false);

		if (strcmp(claims.role, session_role) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("governance token is not for this role"),
					 errdetail("The token is bound to role \"%s\"; the session user is \"%s\".",
							   claims.role, session_role)));
	}

	gov_set_context(claims.agent_id, claims.tenant_id, claims.correlation_id,
					true, true);

	error_context_stack = hide_statement.previous;
	PG_RETURN_VOID();
}

/*---- capabilities() ----*/

/*
 * Does the extension have a relation / a one-argument function of this
 * name?  Looked up in the extension's schema (found through pg_extension)
 * and counted only when a member of the extension: a look-alike someone
 * else created does not make a feature active.
 */
static bool
relation_exists(const char *name)
{
	Oid			nsp = gov_extension_schema(true);

	return OidIsValid(nsp) &&
		gov_extension_member(RelationRelationId, get_relname_relid(name, nsp));
}

static bool
function_exists(const char *name, Oid argtype)
{
	Oid			nsp = gov_extension_schema(true);

	return OidIsValid(nsp) &&
		gov_extension_member(ProcedureRelationId,
							 LookupFuncName(list_make2(makeString(get_namespace_name(nsp)),
													   makeString(pstrdup(name))),
											1, &argtype, true));
}

static void
add_capability(Tuplestorestate *ts, TupleDesc desc, const char *feature,
			   bool active, const char *detail)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(feature);
	values[1] = BoolGetDatum(active);
	values[2] = CStringGetTextDatum(detail);
	tuplestore_putvalues(ts, desc, values, nulls);
}

/* Does a *_preload_libraries list name pg_governance (or its file)? */
static bool
preload_list_names_us(const char *list)
{
	char	   *raw;
	List	   *elems;
	ListCell   *lc;
	bool		found = false;

	if (list == NULL || list[0] == '\0')
		return false;
	raw = pstrdup(list);
	if (SplitDirectoriesString(raw, ',', &elems))
	{
		foreach(lc, elems)
		{
			const char *name = lfirst(lc);
			const char *base = strrchr(name, '/');
			size_t		len;

			base = base ? base + 1 : name;
			len = strcspn(base, ".");	/* pg_governance or pg_governance.so */
			if (len == strlen("pg_governance") && strncmp(base, "pg_governance", len) == 0)
				found = true;
		}
	}
	list_free_deep(elems);
	pfree(raw);
	return found;
}

/*
 * One row per feature: whether it is active in this session, and if not,
 * why not, so that a degraded install is visible instead of silent.
 */
Datum
governance_capabilities(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Tuplestorestate *ts;
	TupleDesc	desc;
	const char *need_preload = "needs shared_preload_libraries = 'pg_governance'";
	bool		have_key = gov_signing_key != NULL && gov_signing_key[0] != '\0';

	InitMaterializedSRF(fcinfo, 0);
	ts = rsinfo->setResult;
	desc = rsinfo->setDesc;

	add_capability(ts, desc, "context_gucs", true,
				   "governance.agent_id, governance.tenant_id, governance.correlation_id");
	/*
	 * The governance.* settings exist from a session's first statement only
	 * when the library is loaded at connection start (docs/settings.md).
	 */
	if (gov_preloaded)
		add_capability(ts, desc, "settings_from_first_statement", true,
					   "shared_preload_libraries loads the library into every session");
	else if (gov_loaded_at_start)
		add_capability(ts, desc, "settings_from_first_statement", true,
					   preload_list_names_us(session_preload_libraries_string) ?
					   "session_preload_libraries loads the library at connection start" :
					   "local_preload_libraries loads the library at connection start");
	else
		add_capability(ts, desc, "settings_from_first_statement", false,
					   "needs ALTER DATABASE ... SET local_preload_libraries = 'pg_governance' (docs/settings.md); "
					   "until then governance.* settings exist once a governance function has run in the session");
	add_capability(ts, desc, "sealing", true,
				   "set_context(..., seal => true) fixes the context until the transaction ends");
	add_capability(ts, desc, "signed_context", have_key,
				   have_key ? (gov_require_signed ? "governance.require_signed is on: only signed contexts are accepted"
							   : "governance.signing_key is set")
				   : "governance.signing_key is not set");

	if (function_exists("enable_audit", REGCLASSOID))
		add_capability(ts, desc, "audit", true, "C audit triggers writing governance.audit_log");
	else
		add_capability(ts, desc, "audit", false,
					   "not in this extension version: ALTER EXTENSION pg_governance UPDATE");

	if (!relation_exists("denied_log"))
		add_capability(ts, desc, "denied_log", false,
					   "not in this extension version: ALTER EXTENSION pg_governance UPDATE");
	else if (gov_worker_available())
	{
		uint64		handed;
		uint64		written;

		gov_worker_counts(&handed, &written);
		add_capability(ts, desc, "denied_log", true,
					   psprintf("one server-log line at once; the row is written by the background writer within a second "
								"(%llu handed over, %llu written since the server started)",
								(unsigned long long) handed, (unsigned long long) written));
	}
	else
		add_capability(ts, desc, "denied_log", true,
					   gov_preloaded ?
					   (gov_denied_log_worker ?
						"one server-log line at once; the background writer is not running, so the row is written by the denied backend at its next statement or at exit" :
						"one server-log line at once; governance.denied_log_worker is off, so the row is written by the denied backend at its next statement or at exit") :
					   "one server-log line at once; the row is written by the denied backend at its next statement or at exit "
					   "(the background writer needs shared_preload_libraries = 'pg_governance')");

	if (relation_exists("pool_stats"))
		add_capability(ts, desc, "pool_stats", true, "reported by libgovpool clients");
	else
		add_capability(ts, desc, "pool_stats", false,
					   "not in this extension version: ALTER EXTENSION pg_governance UPDATE");

	if (!gov_sessions_active())
		add_capability(ts, desc, "session_context", false, need_preload);
	else if (!relation_exists("session_context"))
		add_capability(ts, desc, "session_context", false,
					   "not in this extension version: ALTER EXTENSION pg_governance UPDATE");
	else
		add_capability(ts, desc, "session_context", true,
					   "every backend's context in shared memory, view governance.session_context");

	if (!gov_preloaded)
		add_capability(ts, desc, "latency_histograms", false, need_preload);
	else if (!relation_exists("agent_latency"))
		add_capability(ts, desc, "latency_histograms", false,
					   "not in this extension version: ALTER EXTENSION pg_governance UPDATE");
	else if (!gov_latency_active())
		add_capability(ts, desc, "latency_histograms", false, "governance.track_latency is off");
	else
		add_capability(ts, desc, "latency_histograms", true,
					   "per agent and tenant, views governance.agent_latency and governance.tenant_latency");

	add_capability(ts, desc, "executor_enforcement", gov_preloaded,
				   gov_preloaded ?
				   "require_context is checked in the executor for every governed table, also where no trigger or policy runs" :
				   need_preload);

	return (Datum) 0;
}
