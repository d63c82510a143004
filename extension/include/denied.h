/*-------------------------------------------------------------------------
 *
 * denied.h
 *	  Denied attempts: capture, bounds and durable write (denied.c), and
 *	  the capture of row-level security violations (denied_rls.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_DENIED_H
#define GOV_DENIED_H

#include "denied_log.h"

struct PlannedStmt;

/*---- Capture, bounds and durable write (denied.c) ----*/

extern void gov_denied_init(void);
/* Preloaded: the per-role bound's buckets in shared memory. */
extern Size gov_denied_shmem_size(void);
extern void gov_denied_shmem_init(void);

/* Write what is queued: at the start of a statement, after a warning. */
extern void gov_denied_flush(void);
extern void gov_denied_flush_utility(struct PlannedStmt *pstmt);

/*
 * A record of a denied attempt with the current context; catalog_ok says
 * whether role names may be looked up (not from inside error reporting).
 */
extern GovDenial *gov_denial_capture(const char *source, const char *action,
									 int sqlerrcode, Oid relid,
									 const char *relation, const char *command,
									 const char *message, bool catalog_ok);
/* One server-log line, then a row within the rate limit, else counted. */
extern void gov_denial_record(GovDenial *d);
/*
 * Is this the first time the current top-level statement records this
 * kind ('r' rls, 'R' require_context refused, 'W' warned) of attempt on
 * relid?  No catalog access.
 */
extern bool gov_denial_first_in_statement(char kind, Oid relid);

/* An RLS violation recorded where it was raised and re-thrown. */
extern void gov_denial_set_rethrown(const char *message);
extern bool gov_denial_rethrown(const char *message);
extern void gov_denial_clear_rethrown(void);

/*---- Row-level security violations (denied_rls.c) ----*/

/* Install the executor and emit_log hooks that capture them. */
extern void gov_denied_rls_init(void);

#endif							/* GOV_DENIED_H */
