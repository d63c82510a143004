/*-------------------------------------------------------------------------
 *
 * governance.h
 *	  Shared types, setting variables and entry points of pg_governance.
 *
 * What every part of the extension shares: the context (guc.c), the
 * settings' variables, signed tokens (token.c) and pool health
 * (poolstats.c).  Each other concern has a header of its own beside this
 * one (extension.h, appender.h, audit_trail.h, ddl_watch.h, denied_log.h,
 * denied.h, require_context.h, sessions.h, latency.h, worker.h); files
 * include only the headers of what they use, and no two concerns use each
 * other.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOVERNANCE_H
#define GOVERNANCE_H

struct PlannedStmt;

/* Limits of the context values (README.md, "### governance.agent_id" and after). */
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
extern bool gov_denied_log_worker;		/* denied.c, worker.c */
extern int	gov_denied_rate_limit;		/* denied.c */
extern int	gov_denied_role_limit;		/* denied.c, denied_log.c */
/* Preloaded mode (PGC_POSTMASTER sizes are fixed at server start) */
extern int	gov_session_context_bytes;	/* sessions.c */
extern int	gov_max_agents;				/* latency.c */
extern bool gov_track_latency;			/* latency.c */
extern int	gov_denied_queue_slots;		/* worker.c */

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

/*
 * A context value changed (assign hooks): each listener is told the field
 * and its effective value.  _PG_init registers them (governance.c), before
 * the settings are defined, so that guc.c needs to know none of them.
 */
typedef void (*GovContextListener) (GovField field, const char *value);
extern void gov_context_listen(GovContextListener listener);

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

/*---- Tokens out of denied_log and the server log (redact.c) ----*/

/* Does s hold something that looks like a signed token? */
extern bool gov_holds_token(const char *s);
/* A palloc'd copy of s with every token-like run replaced by "[token]". */
extern char *gov_redact_tokens(const char *s);

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

#endif							/* !FRONTEND */

#endif							/* GOVERNANCE_H */
