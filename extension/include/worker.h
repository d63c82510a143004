/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The background writer of denied_log and its shared queue (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_WORKER_H
#define GOV_WORKER_H

extern Size gov_worker_shmem_size(void);
extern void gov_worker_shmem_init(void);
extern void gov_worker_register(void);

/* Hand a serialized record (denied_log.c) to the writer; false if full. */
extern bool gov_worker_available(void);
extern bool gov_worker_handoff(const char *data, Size len);
extern void gov_worker_counts(uint64 *handed, uint64 *written);

#endif							/* GOV_WORKER_H */
