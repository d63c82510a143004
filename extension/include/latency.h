/*-------------------------------------------------------------------------
 *
 * latency.h
 *	  Per-agent statement latency histograms, preloaded mode (latency.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_LATENCY_H
#define GOV_LATENCY_H

#include "governance.h"

struct QueryDesc;

extern Size gov_latency_shmem_size(void);
extern void gov_latency_shmem_init(void);
extern bool gov_latency_active(void);
/* A context value changed (a listener of guc.c): find the entry again. */
extern void gov_latency_context_changed(GovField field, const char *value);
extern void gov_latency_start(struct QueryDesc *queryDesc);
extern void gov_latency_run(struct QueryDesc *queryDesc);
extern void gov_latency_end(struct QueryDesc *queryDesc);
extern void gov_latency_xact_end(void);

#endif							/* GOV_LATENCY_H */
