/*-------------------------------------------------------------------------
 *
 * sessions.h
 *	  governance.session_context in shared memory, preloaded mode
 *	  (sessions.c), and the lock-free single-writer protocol that
 *	  latency.c uses too.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_SESSIONS_H
#define GOV_SESSIONS_H

#include "governance.h"
#include "port/atomics.h"

extern void gov_changecount_begin(pg_atomic_uint32 *cc);
extern void gov_changecount_end(pg_atomic_uint32 *cc);
extern void gov_changecount_copy(pg_atomic_uint32 *cc, void *dst, const void *src,
								 Size len);

extern Size gov_sessions_shmem_size(void);
extern void gov_sessions_shmem_init(void);
extern bool gov_sessions_active(void);
/* A context value changed (a listener of guc.c): publish it. */
extern void gov_session_publish(GovField field, const char *value);

#endif							/* GOV_SESSIONS_H */
