/*-------------------------------------------------------------------------
 *
 * latency.c
 *	  Per-agent and per-tenant statement latency histograms (preloaded mode).
 *
 * One shared hash entry per (database, agent_id, tenant_id) holds the
 * number of top-level statements, their total and largest execution time,
 * and a log-linear histogram of their times: 8 buckets per power of two of
 * microseconds, so any percentile read from it is within 6.25% of the true
 * value (the view reports the middle of the bucket the percentile falls in).
 * Statements with no agent_id are counted too, with agent_id NULL: that is
 * the traffic that bypasses the connector.
 *
 * A statement's time runs from its first ExecutorRun to its ExecutorEnd:
 * two clock reads (for a cursor fetched over several statements it includes
 * the time between fetches).  Cost per statement: those and a few additions to counters in the backend's own slot of shared
 * memory, which no other backend writes (see LatencyPending): a statement
 * touches no shared cache line unless its context moved to another entry.
 * The entry is found by hashing only when the context changed (the assign
 * hooks mark it) or after a reset; otherwise the backend's cached pointer is
 * used.  The statement is counted under the context it started
 * with (so governance.set_context() itself counts under the previous one).
 *
 * At most governance.max_agents entries exist; statements of contexts that
 * find the table full are counted in one overflow entry (overflow = true).
 * governance.reset_latency_histograms() empties the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/parallel.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "extension.h"
#include "latency.h"
#include "sessions.h"

/* Bucket b holds [lower(b), lower(b+1)) microseconds; see bucket_of(). */
#define LAT_SUB_BITS	3
#define LAT_SUB			(1 << LAT_SUB_BITS)
#define LAT_OCTAVES		42		/* up to 2^42 us, about 51 days */
#define LAT_BUCKETS		(LAT_OCTAVES * LAT_SUB)
/* Identifiers are kept up to this many bytes in the key (cut at a char). */
#define LAT_KEY_BYTES	(GOV_MAX_ID_CHARS * 4 + 1)
/* Room for the overflow entries (one per database) beyond max_agents. */
#define LAT_OVERFLOW_SPARE 64

typedef struct LatencyKey
{
	Oid			dbid;
	bool		overflow;
	bool		has_agent;
	bool		has_tenant;
	char		agent[LAT_KEY_BYTES];
	char		tenant[LAT_KEY_BYTES];
} LatencyKey;

/*
 * Counters are atomics, not under a spinlock: a backend preempted in the
 * middle of an update never makes the others spin.  A reader may see one
 * statement in calls but not yet in its bucket; the figures settle at once.
 */
typedef struct LatencyEntry
{
	LatencyKey	key;			/* hash key: first */
	pg_atomic_uint64 calls;
	pg_atomic_uint64 total_ns;
	pg_atomic_uint64 max_ns;
	pg_atomic_uint64 buckets[LAT_BUCKETS];
} LatencyEntry;

typedef struct LatencyShared
{
	LWLock	   *lock;			/* protects the hash table itself */
	pg_atomic_uint64 generation;	/* bumped by every reset */
	TimestampTz reset_at;
} LatencyShared;

/*
 * What one backend counted and has not yet added to its entry.  Only the
 * owner writes it (plain stores, no atomics, its own cache lines), readers
 * copy it under a change counter; the owner folds it into the shared entry
 * when its context moves to another entry, after a reset and at exit.  So
 * statements of an unchanged context touch no shared cache line at all.
 */
typedef struct LatencyPending
{
	pg_atomic_uint32 changecount;	/* odd while the owner writes */
	LatencyEntry *entry;		/* NULL: nothing pending */
	uint64		generation;		/* of lat_shared when entry was found */
	uint64		calls;
	uint64		total_ns;
	uint64		max_ns;
	uint64		buckets[LAT_BUCKETS];
} LatencyPending;

static LatencyShared *lat_shared = NULL;
static HTAB *lat_hash = NULL;
static LatencyPending *lat_pending = NULL;	/* MaxBackends of them */
static LatencyPending *my_pending = NULL;
static bool pending_exit_registered = false;

/* Backend-local: the entry of the current context, while valid. */
static LatencyEntry *cached_entry = NULL;
static uint64 cached_generation = 0;
static bool context_changed = true;

/* Top-level queries being timed: queryDesc -> entry (usually one). */
#define LAT_ACTIVE_MAX 16
typedef struct ActiveQuery
{
	QueryDesc  *qd;
	LatencyEntry *entry;
	uint64		generation;
	bool		running;		/* start is set: the first ExecutorRun began */
	instr_time	start;
} ActiveQuery;
static ActiveQuery active[LAT_ACTIVE_MAX];
static int	nactive = 0;

static void pending_fold(void);
static bool pending_claim(void);

PG_FUNCTION_INFO_V1(governance_latency_histograms);
PG_FUNCTION_INFO_V1(governance_reset_latency_histograms);

Size
gov_latency_shmem_size(void)
{
	return add_size(add_size(MAXALIGN(sizeof(LatencyShared)),
							 mul_size(MaxBackends, sizeof(LatencyPending))),
					hash_estimate_size(gov_max_agents + LAT_OVERFLOW_SPARE,
									   sizeof(LatencyEntry)));
}

void
gov_latency_shmem_init(void)
{
	bool		found;
	HASHCTL		info;

	lat_shared = ShmemInitStruct("pg_governance latency", sizeof(LatencyShared), &found);
	if (!found)
	{
		lat_shared->lock = &(GetNamedLWLockTranche("pg_governance"))[0].lock;
		pg_atomic_init_u64(&lat_shared->generation, 1);
		lat_shared->reset_at = GetCurrentTimestamp();
	}
	lat_pending = ShmemInitStruct("pg_governance latency pending",
								  mul_size(MaxBackends, sizeof(LatencyPending)), &found);
	if (!found)
	{
		memset(lat_pending, 0, mul_size(MaxBackends, sizeof(LatencyPending)));
		for (int i = 0; i < MaxBackends; i++)
			pg_atomic_init_u32(&lat_pending[i].changecount, 0);
	}
	info.keysize = sizeof(LatencyKey);
	info.entrysize = sizeof(LatencyEntry);
	lat_hash = ShmemInitHash("pg_governance latency hash",
							 gov_max_agents + LAT_OVERFLOW_SPARE,
							 gov_max_agents + LAT_OVERFLOW_SPARE,
							 &info, HASH_ELEM | HASH_BLOBS);
}

/* The context changed (assign hooks): find the entry again next time. */
void
gov_latency_context_changed(GovField field, const char *value)
{
	context_changed = true;
}

static void
key_set(char *dst, bool *has, const char *value)
{
	size_t		len;

	memset(dst, 0, LAT_KEY_BYTES);
	*has = (value != NULL);
	if (value == NULL)
		return;
	len = strlen(value);
	if (len >= LAT_KEY_BYTES)
		len = pg_mbcliplen(value, len, LAT_KEY_BYTES - 1);
	memcpy(dst, value, len);
}

/* The entry for the current context, creating it (or using overflow). */
static LatencyEntry *
current_entry(void)
{
	uint64		gen = pg_atomic_read_u64(&lat_shared->generation);
	LatencyKey	key;
	LatencyEntry *e;
	bool		found;

	if (!context_changed && cached_entry != NULL && cached_generation == gen)
		return cached_entry;

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key_set(key.agent, &key.has_agent, gov_context_value(GOV_FIELD_AGENT));
	key_set(key.tenant, &key.has_tenant, gov_context_value(GOV_FIELD_TENANT));

	LWLockAcquire(lat_shared->lock, LW_SHARED);
	e = hash_search(lat_hash, &key, HASH_FIND, NULL);
	LWLockRelease(lat_shared->lock);
	if (e == NULL)
	{
		LWLockAcquire(lat_shared->lock, LW_EXCLUSIVE);
		if (hash_get_num_entries(lat_hash) >= gov_max_agents)
		{
			/* full: count it in this database's overflow entry */
			memset(&key, 0, sizeof(key));
			key.dbid = MyDatabaseId;
			key.overflow = true;
		}
		e = hash_search(lat_hash, &key, HASH_ENTER_NULL, &found);
		if (e != NULL && !found)
		{
			pg_atomic_init_u64(&e->calls, 0);
			pg_atomic_init_u64(&e->total_ns, 0);
			pg_atomic_init_u64(&e->max_ns, 0);
			for (int b = 0; b < LAT_BUCKETS; b++)
				pg_atomic_init_u64(&e->buckets[b], 0);
		}
		LWLockRelease(lat_shared->lock);
	}
	/* the generation is read before the lookup: a reset in between is seen next time */
	cached_entry = e;
	cached_generation = gen;
	context_changed = false;
	return e;
}

static int
bucket_of(double ms)
{
	double		us = ms * 1000.0;
	uint64		v;
	int			msb;

	if (!(us >= 1.0))			/* also NaN */
		return 0;
	if (us >= (double) ((uint64) 1 << LAT_OCTAVES))
		return LAT_BUCKETS - 1;
	v = (uint64) us;
	msb = pg_leftmost_one_pos64(v);
	if (msb < LAT_SUB_BITS)
		return (int) v;			/* 1..7 us: exact buckets */
	return msb * LAT_SUB + (int) ((v >> (msb - LAT_SUB_BITS)) & (LAT_SUB - 1));
}

/* Lower bound of a bucket, in microseconds. */
static double
bucket_lower_us(int b)
{
	int			msb = b / LAT_SUB;
	int			sub = b % LAT_SUB;

	if (msb < LAT_SUB_BITS)
		return (double) b;
	return ldexp((double) (LAT_SUB + sub), msb - LAT_SUB_BITS);
}

/* ExecutorStart, top level, after the standard routine: arm the timer. */
void
gov_latency_start(QueryDesc *queryDesc)
{
	LatencyEntry *e;

	/* a parallel worker runs part of its leader's statement: not another one */
	if (lat_hash == NULL || !gov_track_latency || !OidIsValid(MyDatabaseId) ||
		IsParallelWorker() || nactive >= LAT_ACTIVE_MAX)
		return;
	e = current_entry();
	if (e == NULL)
		return;
	active[nactive].qd = queryDesc;
	active[nactive].entry = e;
	active[nactive].generation = cached_generation;
	active[nactive].running = false;
	nactive++;
}

/* ExecutorRun, top level: the clock starts at the first run. */
void
gov_latency_run(QueryDesc *queryDesc)
{
	for (int i = nactive - 1; i >= 0; i--)
		if (active[i].qd == queryDesc)
		{
			if (!active[i].running)
			{
				INSTR_TIME_SET_CURRENT(active[i].start);
				active[i].running = true;
			}
			return;
		}
}

/* ExecutorEnd: count the statement if gov_latency_start armed it. */
void
gov_latency_end(QueryDesc *queryDesc)
{
	int			i;
	LatencyEntry *e;
	uint64		gen;
	bool		running;
	instr_time	start;
	instr_time	end;
	double		ms;
	int			b;

	for (i = nactive - 1; i >= 0; i--)
		if (active[i].qd == queryDesc)
			break;
	if (i < 0)
		return;
	e = active[i].entry;
	gen = active[i].generation;
	running = active[i].running;
	start = active[i].start;
	active[i] = active[--nactive];
	if (!running)
		return;					/* never ran (EXPLAIN without ANALYZE, ...) */

	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, start);
	ms = INSTR_TIME_GET_MILLISEC(end);
	b = bucket_of(ms);

	if (gen != pg_atomic_read_u64(&lat_shared->generation))
		return;					/* reset meanwhile: the entry may be gone */
	if (!pending_claim())
		return;
	if (my_pending->entry != e || my_pending->generation != gen)
	{
		pending_fold();
		my_pending->entry = e;	/* only the owner reads these two unlocked */
		my_pending->generation = gen;
	}
	{
		uint64		ns = (uint64) (ms * 1000000.0);

		gov_changecount_begin(&my_pending->changecount);
		my_pending->calls++;
		my_pending->total_ns += ns;
		if (ns > my_pending->max_ns)
			my_pending->max_ns = ns;
		my_pending->buckets[b]++;
		gov_changecount_end(&my_pending->changecount);
	}
}

/* Add this backend's pending counts to their entry and clear them. */
static void
pending_fold(void)
{
	LatencyPending *p = my_pending;

	if (p == NULL || p->entry == NULL)
		return;
	if (p->calls > 0)
	{
		/* the shared lock keeps a reset from removing the entry meanwhile */
		LWLockAcquire(lat_shared->lock, LW_SHARED);
		if (p->generation == pg_atomic_read_u64(&lat_shared->generation))
		{
			LatencyEntry *e = p->entry;
			uint64		max = pg_atomic_read_u64(&e->max_ns);

			pg_atomic_fetch_add_u64(&e->calls, p->calls);
			pg_atomic_fetch_add_u64(&e->total_ns, p->total_ns);
			for (int b = 0; b < LAT_BUCKETS; b++)
				if (p->buckets[b])
					pg_atomic_fetch_add_u64(&e->buckets[b], p->buckets[b]);
			while (p->max_ns > max &&
				   !pg_atomic_compare_exchange_u64(&e->max_ns, &max, p->max_ns))
				;
		}
		LWLockRelease(lat_shared->lock);
	}
	gov_changecount_begin(&p->changecount);
	p->entry = NULL;
	p->calls = p->total_ns = p->max_ns = 0;
	memset(p->buckets, 0, sizeof(p->buckets));
	gov_changecount_end(&p->changecount);
}

static void
pending_at_exit(int code, Datum arg)
{
	pending_fold();
	my_pending = NULL;
}

/* This backend's pending slot, claimed on first use. */
static bool
pending_claim(void)
{
	if (my_pending != NULL)
		return true;
	if (lat_pending == NULL || MyBackendId == InvalidBackendId || MyBackendId > MaxBackends)
		return false;
	my_pending = &lat_pending[MyBackendId - 1];
	if (!pending_exit_registered)
	{
		before_shmem_exit(pending_at_exit, (Datum) 0);
		pending_exit_registered = true;
	}
	return true;
}

/* Transaction end: queries that never reached ExecutorEnd are forgotten. */
void
gov_latency_xact_end(void)
{
	nactive = 0;
}

/*---- SQL interface ----*/

typedef struct LatencyRow
{
	char	   *agent;
	char	   *tenant;
	bool		overflow;
	int64		calls;
	double		total_ms;
	double		max_ms;
	int64		buckets[LAT_BUCKETS];
} LatencyRow;

static double
percentile_ms(const int64 *buckets, int64 calls, double q)
{
	int64		rank = (int64) ceil(q * (double) calls);
	int64		seen = 0;

	if (calls == 0)
		return 0;
	if (rank < 1)
		rank = 1;
	for (int b = 0; b < LAT_BUCKETS; b++)
	{
		seen += buckets[b];
		if (seen >= rank)
		{
			double		lo = bucket_lower_us(b);
			double		hi = b + 1 < LAT_BUCKETS ? bucket_lower_us(b + 1) : lo;

			return (lo + hi) / 2.0 / 1000.0;
		}
	}
	return 0;
}

/* The output row a key falls into under the grouping, made on first use. */
static LatencyRow *
row_for(List **rows, const LatencyKey *key, bool by_agent, bool by_tenant)
{
	const char *agent = key->has_agent && by_agent ? key->agent : NULL;
	const char *tenant = key->has_tenant && by_tenant ? key->tenant : NULL;
	ListCell   *lc;
	LatencyRow *row;

	foreach(lc, *rows)
	{
		LatencyRow *r = lfirst(lc);

		if (r->overflow == key->overflow &&
			((r->agent == NULL && agent == NULL) ||
			 (r->agent && agent && strcmp(r->agent, agent) == 0)) &&
			((r->tenant == NULL && tenant == NULL) ||
			 (r->tenant && tenant && strcmp(r->tenant, tenant) == 0)))
			return r;
	}
	row = palloc0(sizeof(LatencyRow));
	row->agent = agent ? pstrdup(agent) : NULL;
	row->tenant = tenant ? pstrdup(tenant) : NULL;
	row->overflow = key->overflow;
	*rows = lappend(*rows, row);
	return row;
}

/*
 * governance.latency_histograms(group_by text) → one row per agent and
 * tenant ('agent_tenant'), per agent ('agent') or per tenant ('tenant') of
 * this database: calls, total_ms, mean_ms, p50_ms, p95_ms, p99_ms, max_ms.
 */
Datum
governance_latency_histograms(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *group_by = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		by_agent;
	bool		by_tenant;
	HASH_SEQ_STATUS hs;
	LatencyEntry *e;
	LatencyPending *copy;
	uint64		gen;
	List	   *rows = NIL;
	ListCell   *lc;

	if (lat_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("governance latency histograms need shared_preload_libraries = 'pg_governance'"),
				 errhint("Add pg_governance to shared_preload_libraries and restart the server.")));
	{
		Oid			nsp = gov_extension_schema(false);
		Oid			views[2];
		bool		allowed = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);

		views[0] = get_relname_relid("agent_latency", nsp);
		views[1] = get_relname_relid("tenant_latency", nsp);
		/* only the extension's own views grant reading, not look-alikes */
		for (int v = 0; v < 2 && !allowed; v++)
			allowed = gov_extension_member(RelationRelationId, views[v]) &&
				pg_class_aclcheck(views[v], GetUserId(), ACL_SELECT) == ACLCHECK_OK;
		if (!allowed)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for governance latency histograms"),
					 errhint("The extension's owner can GRANT SELECT ON governance.agent_latency, governance.tenant_latency; members of pg_read_all_stats can read them too.")));
	}
	if (strcmp(group_by, "agent_tenant") == 0)
		by_agent = by_tenant = true;
	else if (strcmp(group_by, "agent") == 0)
		by_agent = true, by_tenant = false;
	else if (strcmp(group_by, "tenant") == 0)
		by_agent = false, by_tenant = true;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid group_by \"%s\"", group_by),
				 errhint("Use 'agent_tenant', 'agent' or 'tenant'.")));

	InitMaterializedSRF(fcinfo, 0);

	/* copy and merge under the shared lock, build tuples after it */
	LWLockAcquire(lat_shared->lock, LW_SHARED);
	gen = pg_atomic_read_u64(&lat_shared->generation);
	hash_seq_init(&hs, lat_hash);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		LatencyRow *row;
		int64		calls = 0;

		if (e->key.dbid != MyDatabaseId)
			continue;
		row = row_for(&rows, &e->key, by_agent, by_tenant);
		/* calls as the sum of the buckets: percentiles stay consistent */
		for (int b = 0; b < LAT_BUCKETS; b++)
		{
			int64		n = (int64) pg_atomic_read_u64(&e->buckets[b]);

			row->buckets[b] += n;
			calls += n;
		}
		row->calls += calls;
		row->total_ms += pg_atomic_read_u64(&e->total_ns) / 1000000.0;
		row->max_ms = Max(row->max_ms, pg_atomic_read_u64(&e->max_ns) / 1000000.0);
	}

	/*
	 * Plus what backends counted and not yet folded into their entries.  A
	 * fold running right now may be seen twice for an instant; the figures
	 * settle at once.
	 */
	copy = palloc(sizeof(LatencyPending));
	for (int i = 0; i < MaxBackends; i++)
	{
		LatencyPending *p = &lat_pending[i];
		LatencyRow *row;

		if (p->entry == NULL)
			continue;
		gov_changecount_copy(&p->changecount, copy, p, sizeof(LatencyPending));
		/* the entry exists while the generation holds (we hold the lock) */
		if (copy->entry == NULL || copy->generation != gen || copy->calls == 0 ||
			copy->entry->key.dbid != MyDatabaseId)
			continue;
		row = row_for(&rows, &copy->entry->key, by_agent, by_tenant);
		for (int b = 0; b < LAT_BUCKETS; b++)
		{
			row->buckets[b] += copy->buckets[b];
			row->calls += copy->buckets[b];
		}
		row->total_ms += copy->total_ns / 1000000.0;
		row->max_ms = Max(row->max_ms, copy->max_ns / 1000000.0);
	}
	LWLockRelease(lat_shared->lock);

	foreach(lc, rows)
	{
		LatencyRow *r = lfirst(lc);
		Datum		values[10];
		bool		nulls[10] = {0};

		if (r->calls == 0)
			continue;
		nulls[0] = r->agent == NULL;
		if (r->agent)
			values[0] = CStringGetTextDatum(r->agent);
		nulls[1] = r->tenant == NULL;
		if (r->tenant)
			values[1] = CStringGetTextDatum(r->tenant);
		values[2] = BoolGetDatum(r->overflow);
		values[3] = Int64GetDatum(r->calls);
		values[4] = Float8GetDatum(r->total_ms);
		values[5] = Float8GetDatum(r->total_ms / (double) r->calls);
		values[6] = Float8GetDatum(percentile_ms(r->buckets, r->calls, 0.50));
		values[7] = Float8GetDatum(percentile_ms(r->buckets, r->calls, 0.95));
		values[8] = Float8GetDatum(percentile_ms(r->buckets, r->calls, 0.99));
		values[9] = Float8GetDatum(r->max_ms);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * governance.reset_latency_histograms() → when they were last reset before.
 * Empties this database's histograms.
 */
Datum
governance_reset_latency_histograms(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS hs;
	LatencyEntry *e;
	TimestampTz previous;

	if (lat_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("governance latency histograms need shared_preload_libraries = 'pg_governance'"),
				 errhint("Add pg_governance to shared_preload_libraries and restart the server.")));

	LWLockAcquire(lat_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&hs, lat_hash);
	while ((e = hash_seq_search(&hs)) != NULL)
		if (e->key.dbid == MyDatabaseId)
			hash_search(lat_hash, &e->key, HASH_REMOVE, NULL);
	pg_atomic_fetch_add_u64(&lat_shared->generation, 1);
	previous = lat_shared->reset_at;
	lat_shared->reset_at = GetCurrentTimestamp();
	LWLockRelease(lat_shared->lock);
	PG_RETURN_TIMESTAMPTZ(previous);
}

/* Are latency histograms being collected here? */
bool
gov_latency_active(void)
{
	return lat_hash != NULL && gov_track_latency;
}
