/*-------------------------------------------------------------------------
 *
 * denied_log.h
 *	  governance.denied_log and the record of one denied attempt
 *	  (denied_log.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_DENIED_LOG_H
#define GOV_DENIED_LOG_H

#include "appender.h"
#include "datatype/timestamp.h"

/* A serialized record fits in this many bytes (a slot of worker.c's queue). */
#define GOV_DENIED_RECORD_MAX	16384

/* One denied attempt; its text fields live in one memory context. */
typedef struct GovDenial
{
	struct GovDenial *next;
	TimestampTz at;
	const char *source;			/* "rls" or "require_context" */
	const char *action;			/* "refused" or "warned" */
	int			sqlerrcode;
	Oid			relid;			/* InvalidOid when only the name is known */
	char	   *relation;
	char	   *command;
	char	   *agent_id;
	char	   *tenant_id;
	char	   *correlation_id;
	char	   *db_user;
	char	   *db_session_user;
	char	   *application_name;
	char	   *message;
	char	   *statement;
	int			backend_pid;
	int			suppressed;		/* action "suppressed": how many; else 0 */
	char	   *inner_message;	/* a summary: the first attempt's message */
	bool		forced;			/* a summary written whatever the role's
								 * room (the session's last, at its exit) */
	/* Subtransaction that wrote it, or InvalidSubTransactionId if queued. */
	SubTransactionId written_subid;
} GovDenial;

extern const GovLogShape gov_denied_log_shape;

/* Free a record and its text fields. */
extern void gov_denial_free(GovDenial *d);

/* Insert one record into denied_log through an open appender. */
extern void gov_denial_insert(GovAppender *app, GovDenial *d, TimestampTz now,
							  Datum addr, bool addr_null,
							  const char *recorded_by);

/*
 * The per-role bound where it is kept at write time (without shared
 * memory): rows of one session user in denied_log in the last minute,
 * governance.denied_log_role_limit at most.  begin gives NULL when no bound
 * applies; end (after the appender is closed) lets other writers of those
 * roles go on.
 */
typedef struct GovRoleBudget GovRoleBudget;
extern GovRoleBudget *gov_role_budget_begin(TimestampTz now);
extern bool gov_role_budget_admit(GovRoleBudget *budget, const GovDenial *d);
extern void gov_role_budget_end(GovRoleBudget *budget);

/* The serialized form that crosses shared memory (worker.c). */
extern char *gov_denial_serialize(GovDenial *d, Size *len);
extern bool gov_denied_write_serialized(const char **records, const Size *lens,
										int n);

#endif							/* GOV_DENIED_LOG_H */
