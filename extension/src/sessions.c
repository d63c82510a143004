/*-------------------------------------------------------------------------
 *
 * sessions.c
 *	  governance.session_context: every backend's governance context in
 *	  shared memory (preloaded mode).
 *
 * One slot per backend (indexed by BackendId), holding the effective
 * agent_id, tenant_id and correlation_id and the role the backend runs as.
 * The owning backend writes its slot from the settings' assign hooks, so
 * the slot follows every change (set_context, SET, the reset at the end of
 * the transaction) and costs a few hundred bytes of memcpy per change and
 * nothing per statement.  Readers never lock: the slot has a change counter,
 * odd while a write is in progress (the protocol of PgBackendStatus), and a
 * reader retries until it copies a stable slot.
 *
 * The view governance.session_context joins these slots with
 * pg_stat_activity (state, xact_start, query, application_name), so what
 * is already there is not duplicated.  Like pg_stat_activity, the context
 * of another role's session is shown only to members of that role and of
 * pg_read_all_stats.
 *
 * Each value is kept up to governance.session_context_bytes bytes (cut at a
 * character boundary); a cut value is flagged in the view's truncated
 * column.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "sessions.h"

typedef struct GovSessionSlot
{
	/* odd while the owner writes; readers retry until even and unchanged */
	pg_atomic_uint32 changecount;
	int			pid;			/* 0: slot not in use */
	Oid			roleid;			/* role of the backend, for visibility */
	uint8		cutmask;		/* fields kept shorter than they are */
	uint16		len[GOV_NUM_FIELDS];	/* 0: unset */
	/* GOV_NUM_FIELDS values of gov_session_context_bytes each follow */
	char		values[FLEXIBLE_ARRAY_MEMBER];
} GovSessionSlot;

static char *session_slots = NULL;	/* MaxBackends slots */
static Size slot_size = 0;
static GovSessionSlot *my_slot = NULL;
static bool exit_registered = false;

PG_FUNCTION_INFO_V1(governance_session_contexts);

static GovSessionSlot *
slot_at(int i)
{
	return (GovSessionSlot *) (session_slots + (Size) i * slot_size);
}

static Size
compute_slot_size(void)
{
	return MAXALIGN(offsetof(GovSessionSlot, values) +
					(Size) GOV_NUM_FIELDS * gov_session_context_bytes);
}

Size
gov_sessions_shmem_size(void)
{
	return mul_size(MaxBackends, compute_slot_size());
}

void
gov_sessions_shmem_init(void)
{
	bool		found;

	slot_size = compute_slot_size();
	session_slots = ShmemInitStruct("pg_governance session_context",
									gov_sessions_shmem_size(), &found);
	if (!found)
	{
		memset(session_slots, 0, gov_sessions_shmem_size());
		for (int i = 0; i < MaxBackends; i++)
			pg_atomic_init_u32(&slot_at(i)->changecount, 0);
	}
}

/*
 * Change counters for shared memory that one process writes and others
 * read without a lock (here and in latency.c), the protocol of PostgreSQL's
 * own backend status: odd while a write is in progress.
 */
void
gov_changecount_begin(pg_atomic_uint32 *cc)
{
	pg_atomic_fetch_add_u32(cc, 1);
	pg_write_barrier();
}

void
gov_changecount_end(pg_atomic_uint32 *cc)
{
	pg_write_barrier();
	pg_atomic_fetch_add_u32(cc, 1);
}

/* Copy len bytes at src, guarded by *cc, once no write is in progress. */
void
gov_changecount_copy(pg_atomic_uint32 *cc, void *dst, const void *src, Size len)
{
	for (;;)
	{
		uint32		before = pg_atomic_read_u32(cc);

		pg_read_barrier();
		memcpy(dst, src, len);
		pg_read_barrier();
		if (before == pg_atomic_read_u32(cc) && (before & 1) == 0)
			return;
		CHECK_FOR_INTERRUPTS();
	}
}

/* Backend exit: the slot is free again. */
static void
session_slot_release(int code, Datum arg)
{
	if (my_slot == NULL)
		return;
	gov_changecount_begin(&my_slot->changecount);
	my_slot->pid = 0;
	memset(my_slot->len, 0, sizeof(my_slot->len));
	my_slot->cutmask = 0;
	gov_changecount_end(&my_slot->changecount);
	my_slot = NULL;
}

/*
 * Publish the effective value of one field.  Called from the assign hooks,
 * so it must not fail: no allocation, no lookups beyond this backend.
 */
void
gov_session_publish(GovField field, const char *value)
{
	int			len;
	bool		cut = false;

	if (session_slots == NULL || MyBackendId == InvalidBackendId ||
		MyBackendId > MaxBackends)
		return;
	if (my_slot == NULL)
	{
		my_slot = slot_at(MyBackendId - 1);
		gov_changecount_begin(&my_slot->changecount);
		my_slot->pid = MyProcPid;
		my_slot->roleid = MyProc ? MyProc->roleId : InvalidOid;
		memset(my_slot->len, 0, sizeof(my_slot->len));
		my_slot->cutmask = 0;
		gov_changecount_end(&my_slot->changecount);
		if (!exit_registered)
		{
			before_shmem_exit(session_slot_release, (Datum) 0);
			exit_registered = true;
		}
	}

	len = value ? strlen(value) : 0;
	if (len > gov_session_context_bytes)
	{
		len = pg_mbcliplen(value, len, gov_session_context_bytes);
		cut = true;
	}
	gov_changecount_begin(&my_slot->changecount);
	if (MyProc && OidIsValid(MyProc->roleId))
		my_slot->roleid = MyProc->roleId;
	my_slot->len[field] = (uint16) len;
	if (len > 0)
		memcpy(my_slot->values + (Size) field * gov_session_context_bytes, value, len);
	my_slot->cutmask = (my_slot->cutmask & ~(1 << field)) | (cut ? (1 << field) : 0);
	gov_changecount_end(&my_slot->changecount);
}

/*
 * governance.session_contexts() → (pid, agent_id, tenant_id,
 * correlation_id, truncated): the slots in use, for the session_context
 * view.  Other roles' values are NULL unless the caller may see them.
 */
Datum
governance_session_contexts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *copy;
	bool		read_all;

	if (session_slots == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("governance.session_context needs shared_preload_libraries = 'pg_governance'"),
				 errhint("Add pg_governance to shared_preload_libraries and restart the server.")));

	InitMaterializedSRF(fcinfo, 0);
	copy = palloc(slot_size);
	read_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);

	for (int i = 0; i < MaxBackends; i++)
	{
		GovSessionSlot *slot = slot_at(i);
		GovSessionSlot *c = (GovSessionSlot *) copy;
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		gov_changecount_copy(&slot->changecount, copy, slot, slot_size);
		if (c->pid == 0)
			continue;

		values[0] = Int32GetDatum(c->pid);
		if (read_all || has_privs_of_role(GetUserId(), c->roleid))
		{
			for (int f = 0; f < GOV_NUM_FIELDS; f++)
			{
				if (c->len[f] == 0)
					nulls[1 + f] = true;
				else
					values[1 + f] = PointerGetDatum(cstring_to_text_with_len(c->values + (Size) f * gov_session_context_bytes,
																		 c->len[f]));
			}
			values[4] = BoolGetDatum(c->cutmask != 0);
		}
		else
		{
			nulls[1] = nulls[2] = nulls[3] = nulls[4] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Is governance.session_context available (preloaded)? */
bool
gov_sessions_active(void)
{
	return session_slots != NULL;
}
