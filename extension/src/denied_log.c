/*-------------------------------------------------------------------------
 *
 * denied_log.c
 *	  governance.denied_log: its shape, the row of one denied attempt, and
 *	  the serialized form in which records cross shared memory.
 *
 * denied.c captures attempts (GovDenial) and writes them from the denied
 * backend; worker.c carries serialized records to the background writer,
 * which stores them through gov_denied_write_serialized.  Both write rows
 * only here, through the appender (appender.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/inet.h"
#include "utils/timestamp.h"

#include "appender.h"
#include "denied_log.h"

/* Columns of governance.denied_log (0-based, as created by 0.1--0.2) */
enum
{
	DL_ID, DL_AT, DL_LOGGED_AT, DL_SOURCE, DL_ACTION, DL_SQLSTATE, DL_RELID,
	DL_RELATION, DL_COMMAND, DL_AGENT, DL_TENANT, DL_CORRELATION, DL_DB_USER,
	DL_SESSION_USER, DL_APPLICATION, DL_CLIENT_ADDR, DL_BACKEND_PID,
	DL_MESSAGE, DL_STATEMENT,
	DL_RECORDED_BY,				/* added by 0.3--0.4 */
	DL_SUPPRESSED,				/* added by 0.4--0.5 */
	DL_NATTS
};

/* Column types of denied_log as the install and upgrade scripts create it. */
static const Oid denied_log_types[DL_NATTS] = {
	INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
	OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, INETOID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
	INT4OID						/* suppressed, 0.5 */
};

/* denied_log gained recorded_by in 0.4 and suppressed in 0.5; older tables lack them */
const GovLogShape gov_denied_log_shape = {
	.log = GOV_LOG_DENIED,
	.relname = "denied_log",
	.seqname = "denied_log_id_seq",
	.natts = DL_NATTS,
	.min_natts = DL_RECORDED_BY,
	.types = denied_log_types,
	.id_block = 0,
};

/*
 * The text fields of a record (all in denied_cxt): what denial_free()
 * frees and what a record for the background writer carries, in this
 * order, followed by the client address.
 */
static const size_t denial_text_fields[] = {
	offsetof(GovDenial, relation),
	offsetof(GovDenial, command),
	offsetof(GovDenial, agent_id),
	offsetof(GovDenial, tenant_id),
	offsetof(GovDenial, correlation_id),
	offsetof(GovDenial, db_user),
	offsetof(GovDenial, db_session_user),
	offsetof(GovDenial, application_name),
	offsetof(GovDenial, message),
	offsetof(GovDenial, statement),
};

#define DR_NFIELDS		lengthof(denial_text_fields)
#define DR_STATEMENT	(DR_NFIELDS - 1)	/* the one cut to fit */
#define DR_CLIENT_ADDR	DR_NFIELDS
#define DR_NSTRINGS		(DR_NFIELDS + 1)

static inline char **
denial_field(GovDenial *d, int i)
{
	return (char **) ((char *) d + denial_text_fields[i]);
}

void
gov_denial_free(GovDenial *d)
{
	/* every text field lives in denied_cxt (source/action are literals) */
	for (int i = 0; i < DR_NFIELDS; i++)
		if (*denial_field(d, i))
			pfree(*denial_field(d, i));
	pfree(d);
}

/*---- Records for the background writer (preloaded mode, worker.c) ----*/

/* Fixed part of a serialized record; the strings follow, NUL-terminated. */
typedef struct DeniedRecordHeader
{
	TimestampTz at;
	int			sqlerrcode;
	Oid			relid;
	int			backend_pid;
	int			suppressed;		/* action "suppressed" when > 0 */
	bool		rls;			/* source: rls or require_context */
	bool		warned;			/* action: warned or refused */
	uint16		present;		/* bit per string: not NULL */
} DeniedRecordHeader;

/*
 * Serialize a record for the background writer (palloc'd, *len bytes).
 * The statement is cut to fit the queue's record size (the log line has
 * all of it).  NULL when it cannot be made to fit.
 */
char *
gov_denial_serialize(GovDenial *d, Size *len)
{
	DeniedRecordHeader hdr;
	const char *strs[DR_NSTRINGS];
	size_t		lens[DR_NSTRINGS];
	char	   *client_addr = NULL;
	bool		addr_null;
	Datum		addr;
	Size		total = sizeof(hdr);
	char	   *buf;
	char	   *p;

	addr = gov_client_addr(&addr_null);
	if (!addr_null)
		client_addr = DatumGetCString(DirectFunctionCall1(inet_out, addr));
	for (int i = 0; i < DR_NFIELDS; i++)
		strs[i] = *denial_field(d, i);
	strs[DR_CLIENT_ADDR] = client_addr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.at = d->at;
	hdr.sqlerrcode = d->sqlerrcode;
	hdr.relid = d->relid;
	hdr.backend_pid = d->backend_pid;
	hdr.suppressed = d->suppressed;
	hdr.rls = strcmp(d->source, "rls") == 0;
	hdr.warned = strcmp(d->action, "warned") == 0;
	for (int i = 0; i < DR_NSTRINGS; i++)
	{
		lens[i] = strs[i] ? strlen(strs[i]) : 0;
		if (strs[i])
		{
			hdr.present |= (1 << i);
			total += lens[i] + 1;
		}
	}
	if (total > GOV_DENIED_RECORD_MAX && lens[DR_STATEMENT] > 0)
	{
		/* cut the statement at a character boundary */
		size_t		excess = total - GOV_DENIED_RECORD_MAX;

		if (excess >= lens[DR_STATEMENT])
			return NULL;
		total -= lens[DR_STATEMENT];
		lens[DR_STATEMENT] = pg_mbcliplen(strs[DR_STATEMENT], lens[DR_STATEMENT],
										  lens[DR_STATEMENT] - excess);
		total += lens[DR_STATEMENT];
	}
	if (total > GOV_DENIED_RECORD_MAX)
		return NULL;

	buf = palloc(total);
	memcpy(buf, &hdr, sizeof(hdr));
	p = buf + sizeof(hdr);
	for (int i = 0; i < DR_NSTRINGS; i++)
	{
		if (!strs[i])
			continue;
		memcpy(p, strs[i], lens[i]);
		p[lens[i]] = '\0';
		p += lens[i] + 1;
	}
	if (client_addr)
		pfree(client_addr);
	*len = total;
	return buf;
}

/* Insert one record into denied_log through an open appender. */
void
gov_denial_insert(GovAppender *app, GovDenial *d, TimestampTz now,
				  Datum addr, bool addr_null, const char *recorded_by)
{
	Datum		values[DL_NATTS];
	bool		nulls[DL_NATTS];

	memset(nulls, false, sizeof(nulls));
	values[DL_ID] = (Datum) 0;
	values[DL_AT] = TimestampTzGetDatum(d->at);
	values[DL_LOGGED_AT] = TimestampTzGetDatum(now);
	values[DL_SOURCE] = CStringGetTextDatum(d->source);
	values[DL_ACTION] = CStringGetTextDatum(d->action);
	values[DL_SQLSTATE] = CStringGetTextDatum(unpack_sql_state(d->sqlerrcode));
	nulls[DL_RELID] = !OidIsValid(d->relid);
	values[DL_RELID] = ObjectIdGetDatum(d->relid);
#define TEXT_OR_NULL(col, s) \
	do { nulls[col] = ((s) == NULL); if (s) values[col] = CStringGetTextDatum(s); } while (0)
	TEXT_OR_NULL(DL_RELATION, d->relation);
	TEXT_OR_NULL(DL_COMMAND, d->command);
	TEXT_OR_NULL(DL_AGENT, d->agent_id);
	TEXT_OR_NULL(DL_TENANT, d->tenant_id);
	TEXT_OR_NULL(DL_CORRELATION, d->correlation_id);
	TEXT_OR_NULL(DL_DB_USER, d->db_user);
	TEXT_OR_NULL(DL_SESSION_USER, d->db_session_user);
	TEXT_OR_NULL(DL_APPLICATION, d->application_name);
	TEXT_OR_NULL(DL_STATEMENT, d->statement);
#undef TEXT_OR_NULL
	values[DL_CLIENT_ADDR] = addr;
	nulls[DL_CLIENT_ADDR] = addr_null;
	values[DL_BACKEND_PID] = Int32GetDatum(d->backend_pid);
	values[DL_MESSAGE] = CStringGetTextDatum(d->message);
	values[DL_RECORDED_BY] = CStringGetTextDatum(recorded_by);
	values[DL_SUPPRESSED] = Int32GetDatum(d->suppressed);
	nulls[DL_SUPPRESSED] = (d->suppressed == 0);
	gov_appender_insert(app, values, nulls);
}

/*
 * Background writer (worker.c): store serialized records in denied_log, in
 * the caller's transaction.  In a database without pg_governance there is
 * nowhere to store them: they are dropped (their log lines remain) and the
 * result is false.
 */
bool
gov_denied_write_serialized(const char **records, const Size *lens, int n)
{
	GovAppender *app = gov_appender_open(&gov_denied_log_shape, true);
	TimestampTz now = GetCurrentTimestamp();

	if (app == NULL)
	{
		ereport(LOG,
				(errmsg("pg_governance: %d denied attempts dropped: governance.denied_log does not exist in this database", n)));
		return false;
	}
	for (int r = 0; r < n; r++)
	{
		DeniedRecordHeader hdr;
		GovDenial	d;
		const char *p = records[r] + sizeof(hdr);
		const char *end = records[r] + lens[r];
		char	   *strs[DR_NSTRINGS];
		Datum		addr = (Datum) 0;

		memcpy(&hdr, records[r], sizeof(hdr));
		for (int i = 0; i < DR_NSTRINGS; i++)
		{
			strs[i] = NULL;
			if (hdr.present & (1 << i))
			{
				size_t		len = strnlen(p, end - p);

				if (p + len >= end)
					elog(ERROR, "corrupt denied attempt record in the shared queue");
				strs[i] = (char *) p;
				p += len + 1;
			}
		}
		memset(&d, 0, sizeof(d));
		d.at = hdr.at;
		d.source = hdr.rls ? "rls" : "require_context";
		d.action = hdr.suppressed > 0 ? "suppressed" : hdr.warned ? "warned" : "refused";
		d.suppressed = hdr.suppressed;
		d.sqlerrcode = hdr.sqlerrcode;
		d.relid = hdr.relid;
		d.backend_pid = hdr.backend_pid;
		for (int f = 0; f < DR_NFIELDS; f++)
			*denial_field(&d, f) = strs[f];
		if (d.message == NULL)
			d.message = "";
		if (strs[DR_CLIENT_ADDR])
			addr = DirectFunctionCall1(inet_in, CStringGetDatum(strs[DR_CLIENT_ADDR]));
		gov_denial_insert(app, &d, now, addr, strs[DR_CLIENT_ADDR] == NULL, "worker");
	}
	gov_appender_close(app);
	return true;
}
