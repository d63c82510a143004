/*-------------------------------------------------------------------------
 *
 * governance.h
 *	  Shared types, setting variables and entry points of pg_governance.
 *
 * One header for the whole extension: each .c file owns one concern and
 * exports here only what another file needs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOVERNANCE_H
#define GOVERNANCE_H

struct PlannedStmt;

/* Limits of the context values (see DESIGN.md). */
#define GOV_MAX_ID_CHARS			256
#define GOV_MAX_CORRELATION_CHARS	128
#define GOV_MIN_SIGNING_KEY_BYTES	32
#define GOV_MAX_TOKEN_BYTES			8192

/* governance.require_context */
typedef enum GovRequireContext
{
	GOV_REQUIRE_OFF,
	GOV_REQUIRE_WARN,
	GOV_REQUIRE_ENFORCE
} GovRequireContext;

/*---- Setting variables (guc.c) ----*/
extern char *gov_agent_id;
extern char *gov_tenant_id;
extern char *gov_correlation_id;
extern int	gov_require_context;
extern char *gov_signing_key;
extern char *gov_signing_key_id;
extern char *gov_signing_key_previous;
extern char *gov_signing_key_previous_id;
extern int	gov_token_max_lifetime;
extern bool gov_require_signed;

/* Whether the library was loaded through shared_preload_libraries. */
extern bool gov_preloaded;
/* ... or, without it, when the backend started (*_preload_libraries). */
extern bool gov_loaded_at_start;

/* The three context values. */
typedef enum GovField
{
	GOV_FIELD_AGENT,
	GOV_FIELD_TENANT,
	GOV_FIELD_CORRELATION
} GovField;

#define GOV_NUM_FIELDS 3

/*---- Settings and sealing (guc.c) ----*/
extern void gov_define_settings(void);

/*
 * The effective context value: the sealed value while the transaction is
 * sealed, else the setting.  NULL when unset or empty, never "".  This is
 * what every consumer (SQL accessors, audit, RLS, denied log) must read.
 */
extern const char *gov_context_value(GovField field);
extern const char *gov_field_setting_name(GovField field);

/* Validate a value for a field; on failure return false and set *reason. */
extern bool gov_validate_value(GovField field, const char *value,
							   const char **reason);

/* Set the whole context transaction-locally, optionally sealing it. */
extern void gov_set_context(const char *agent_id, const char *tenant_id,
							const char *correlation_id, bool seal,
							bool is_signed);
extern bool gov_context_sealed(void);
extern bool gov_context_signed(void);
extern void gov_check_utility_against_seal(struct PlannedStmt *pstmt);
extern void gov_seal_resync(void);

/* A context value changed (assign hooks): tell the preloaded-mode views. */
extern void gov_session_publish(GovField field, const char *value);
extern void gov_latency_context_changed(void);

/*---- Signed context tokens (token.c) ----*/
typedef enum GovTokenStatus
{
	GOV_TOKEN_OK,
	GOV_TOKEN_MALFORMED,		/* not payload.signature, bad base64url */
	GOV_TOKEN_TRUNCATED,		/* signature part missing or too short */
	GOV_TOKEN_BAD_SIGNATURE,	/* well-formed but the HMAC does not match */
	GOV_TOKEN_BAD_PAYLOAD,		/* signature good, payload not the JSON we need */
	GOV_TOKEN_EXPIRED,			/* signature good, exp in the past */
	GOV_TOKEN_TOO_LONG			/* signature good, exp beyond the maximum lifetime */
} GovTokenStatus;

/* A key tokens may be signed with: the current one, then the previous one. */
typedef struct GovTokenKey
{
	const char *key;			/* empty or NULL: not configured */
	size_t		key_len;
	const char *id;				/* the kid naming it; NULL or "" when none */
} GovTokenKey;

typedef struct GovToken
{
	char	   *agent_id;		/* never NULL on success */
	char	   *tenant_id;		/* NULL when absent or JSON null */
	char	   *correlation_id; /* NULL when absent or JSON null */
	char	   *role;			/* "role" claim: session user allowed; NULL: any */
	char	   *kid;			/* "kid" claim; NULL when absent */
	int64		exp;			/* Unix seconds */
	int			key_index;		/* which of the keys verified it */
} GovToken;

extern GovTokenStatus gov_token_verify(const char *token, size_t token_len,
									   const GovTokenKey *keys, int nkeys,
									   int64 now_unix, int64 max_lifetime,
									   GovToken *out, const char **detail);

/* Everything below is server-only; token.c above also builds as plain C. */
#ifndef FRONTEND

#include "port/atomics.h"

/*---- Audit trail, denied attempts, RLS helpers (audit.c, denied.c, rls.c) ----*/

/* The two append-only logs, written by direct heap + index insertion. */
typedef enum GovLog
{
	GOV_LOG_AUDIT,				/* governance.audit_log */
	GOV_LOG_DENIED				/* governance.denied_log */
} GovLog;

typedef struct GovAppender GovAppender;

/* Open a log for appending; NULL (missing_ok) when the extension is absent. */
extern GovAppender *gov_appender_open(GovLog log, bool missing_ok);
extern void gov_appender_insert(GovAppender *app, Datum *values, bool *nulls);
extern void gov_appender_close(GovAppender *app);
extern Datum gov_client_addr(bool *isnull);
extern char *gov_relation_name(Oid relid);
extern Oid	gov_extension_schema(Oid *extension);
extern bool gov_extension_member(Oid classid, Oid objid);

/*
 * governance.require_context for a statement on relid: returns when it may
 * go on (after a WARNING in warn mode), raises ERROR 42501 in enforce mode.
 */
extern void gov_require_context_check(Oid relid, const char *command);
/* The same at ExecutorRun, for the tables of a plan governed by enable_rls(). */
struct QueryDesc;
extern void gov_require_context_executor(struct QueryDesc *queryDesc);

/* Denied attempts: queue (with a structured log line) and durable write. */
extern void gov_denied_init(void);
extern void gov_denied_flush(void);
extern void gov_denied_flush_utility(struct PlannedStmt *pstmt);

/*---- Pool health (poolstats.c) ----*/

/* governance.pool_alert_* thresholds of governance.pool_alerts */
extern double gov_pool_alert_checked_out_pct;
extern int	gov_pool_alert_exhaustions_per_hour;
extern int	gov_pool_alert_query_p99_ms;
extern int	gov_pool_alert_timeouts_per_hour;
extern int	gov_pool_alert_idle_in_transaction;
extern int	gov_pool_alert_connection_mismatch;

/* Define the settings; before the "governance" prefix is reserved. */
extern void gov_poolstats_init(void);

/*---- Preloaded mode: shared memory and background writing ----*/

/* Lock-free single-writer shared memory (sessions.c, used by latency.c too). */
extern void gov_changecount_begin(pg_atomic_uint32 *cc);
extern void gov_changecount_end(pg_atomic_uint32 *cc);
extern void gov_changecount_copy(pg_atomic_uint32 *cc, void *dst, const void *src,
								 Size len);

/* governance.session_context (sessions.c) */
extern int	gov_session_context_bytes;
extern Size gov_sessions_shmem_size(void);
extern void gov_sessions_shmem_init(void);
extern bool gov_sessions_active(void);

/* Latency histograms (latency.c) */
extern int	gov_max_agents;
extern bool gov_track_latency;
extern Size gov_latency_shmem_size(void);
extern void gov_latency_shmem_init(void);
extern bool gov_latency_active(void);
extern void gov_latency_start(struct QueryDesc *queryDesc);
extern void gov_latency_run(struct QueryDesc *queryDesc);
extern void gov_latency_end(struct QueryDesc *queryDesc);
extern void gov_latency_xact_end(void);

/* Background writer of denied_log (worker.c) */
#define GOV_DENIED_RECORD_MAX	16384
extern int	gov_denied_queue_slots;
extern bool gov_denied_log_worker;
extern int	gov_denied_rate_limit;
extern Size gov_worker_shmem_size(void);
extern void gov_worker_shmem_init(void);
extern void gov_worker_register(void);
extern bool gov_worker_available(void);
extern bool gov_worker_handoff(const char *data, Size len);
extern void gov_worker_counts(uint64 *handed, uint64 *written);
extern bool gov_denied_write_serialized(const char **records, const Size *lens, int n);

/* Preloaded: require_context for TRUNCATE and COPY FROM of governed tables. */
extern void gov_require_context_utility(struct PlannedStmt *pstmt);

#endif							/* !FRONTEND */

#endif							/* GOVERNANCE_H */
