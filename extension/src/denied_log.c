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

#include "access/genam.h"
#include "access/relation.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/inet.h"
#include "utils/timestamp.h"

#include "appender.h"
#include "denied_log.h"
#include "governance.h"

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
	if (d->inner_message)
		pfree(d->inner_message);
	pfree(d);
}

/*---- The per-role bound, at write time (no shared memory) ----*/

/*
 * A lock tag no SQL function can take: advisory locks taken from SQL use
 * locktag_field4 1 (one int8 key) or 2 (two int4 keys).  Held only while
 * one writer counts a role's rows and appends its own (no user code runs
 * meanwhile), so that two writers of one role never both see room for the
 * last row; transaction-scoped, so an error releases it.
 */
#define ROLE_BUDGET_LOCK_FIELD4		0x4756

typedef struct RoleBudgetEntry
{
	char	   *role;			/* db_session_user as recorded */
	bool		exempt;			/* a superuser */
	LOCKTAG		tag;
	int			rows;			/* the role's rows in the window, ours included */
} RoleBudgetEntry;

struct GovRoleBudget
{
	Relation	rel;			/* denied_log */
	Oid			indexoid;		/* (db_session_user, logged_at) */
	Oid			collation;		/* of its first column */
	TimestampTz since;			/* the window: the last minute */
	int			limit;
	List	   *entries;		/* RoleBudgetEntry */
};

/*
 * The btree index of denied_log on exactly (db_session_user, logged_at),
 * made by 0.6--0.7; InvalidOid on a denied_log older than that.
 */
static Oid
role_budget_index(Relation rel, Oid *collation)
{
	List	   *oids = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, oids)
	{
		Relation	irel = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index idx = irel->rd_index;

		if (irel->rd_rel->relam == BTREE_AM_OID && idx->indnkeyatts == 2 &&
			idx->indkey.values[0] == DL_SESSION_USER + 1 &&
			idx->indkey.values[1] == DL_LOGGED_AT + 1 &&
			RelationGetIndexExpressions(irel) == NIL &&
			RelationGetIndexPredicate(irel) == NIL && idx->indisvalid)
		{
			found = RelationGetRelid(irel);
			*collation = irel->rd_indcollation[0];
		}
		index_close(irel, AccessShareLock);
		if (OidIsValid(found))
			break;
	}
	list_free(oids);
	return found;
}

GovRoleBudget *
gov_role_budget_begin(TimestampTz now)
{
	GovRoleBudget *budget;
	Oid			relid;

	if (gov_denied_role_limit <= 0 || gov_preloaded)
		return NULL;			/* preloaded: kept in shared memory (denied.c) */
	relid = gov_log_relid(&gov_denied_log_shape);
	if (!OidIsValid(relid))
		return NULL;
	budget = palloc0(sizeof(GovRoleBudget));
	budget->rel = table_open(relid, AccessShareLock);
	budget->indexoid = role_budget_index(budget->rel, &budget->collation);
	if (!OidIsValid(budget->indexoid))
	{
		/* 0.6's denied_log: the bound needs ALTER EXTENSION UPDATE */
		table_close(budget->rel, AccessShareLock);
		pfree(budget);
		return NULL;
	}
	budget->since = now - 60 * USECS_PER_SEC;
	budget->limit = gov_denied_role_limit;
	return budget;
}

/*
 * The role's rows in denied_log since the window's start, counted up to
 * the limit.  A dirty snapshot: rows other writers have appended and not
 * yet committed count too (the lock keeps new ones from coming meanwhile).
 */
static int
role_budget_count(GovRoleBudget *budget, const char *role)
{
	SnapshotData dirty;
	ScanKeyData keys[2];
	SysScanDesc scan;
	int			n = 0;

	InitDirtySnapshot(dirty);
	ScanKeyEntryInitialize(&keys[0], 0, DL_SESSION_USER + 1, BTEqualStrategyNumber,
						   InvalidOid, budget->collation, F_TEXTEQ,
						   CStringGetTextDatum(role));
	ScanKeyEntryInitialize(&keys[1], 0, DL_LOGGED_AT + 1, BTGreaterStrategyNumber,
						   InvalidOid, InvalidOid, F_TIMESTAMPTZ_GT,
						   TimestampTzGetDatum(budget->since));
	scan = systable_beginscan(budget->rel, budget->indexoid, true, &dirty, 2, keys);
	while (n < budget->limit && HeapTupleIsValid(systable_getnext(scan)))
		n++;
	systable_endscan(scan);
	return n;
}

/*
 * May this record have a row of its own?  A forced summary always may (it
 * still counts).  The first record of a role takes the role's lock, held
 * until gov_role_budget_end.
 */
bool
gov_role_budget_admit(GovRoleBudget *budget, const GovDenial *d)
{
	RoleBudgetEntry *e = NULL;
	ListCell   *lc;
	const char *role = d->db_session_user ? d->db_session_user : "";

	foreach(lc, budget->entries)
		if (strcmp(((RoleBudgetEntry *) lfirst(lc))->role, role) == 0)
			e = lfirst(lc);
	if (e == NULL)
	{
		Oid			roleid = get_role_oid(role, true);

		e = palloc0(sizeof(RoleBudgetEntry));
		e->role = pstrdup(role);
		e->exempt = OidIsValid(roleid) && superuser_arg(roleid);
		if (!e->exempt)
		{
			SET_LOCKTAG_ADVISORY(e->tag, MyDatabaseId,
								 OidIsValid(roleid) ? roleid : hash_bytes((const unsigned char *) role, strlen(role)),
								 0, ROLE_BUDGET_LOCK_FIELD4);
			(void) LockAcquire(&e->tag, ExclusiveLock, false, false);
			e->rows = role_budget_count(budget, role);
		}
		budget->entries = lappend(budget->entries, e);
	}
	if (e->exempt)
		return true;
	if (e->rows >= budget->limit && !d->forced)
		return false;
	e->rows++;
	return true;
}

/* After the appender is closed (its rows are in the table): let go. */
void
gov_role_budget_end(GovRoleBudget *budget)
{
	ListCell   *lc;

	if (budget == NULL)
		return;
	foreach(lc, budget->entries)
	{
		RoleBudgetEntry *e = lfirst(lc);

		if (!e->exempt)
			LockRelease(&e->tag, ExclusiveLock, false);
	}
	table_close(budget->rel, AccessShareLock);
	list_free_deep(budget->entries);
	pfree(budget);
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
