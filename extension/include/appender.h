/*-------------------------------------------------------------------------
 *
 * appender.h
 *	  Appending rows to the extension's append-only logs (appender.c).
 *
 * The appender knows how to write into a log; each log's owner says what
 * the log looks like (a GovLogShape): audit_log.c for audit_batch,
 * denied_log.c for denied_log.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_APPENDER_H
#define GOV_APPENDER_H

/* The two append-only logs: the slots of the appender's per-log caches. */
typedef enum GovLog
{
	GOV_LOG_AUDIT,				/* governance.audit_batch */
	GOV_LOG_DENIED,				/* governance.denied_log */
	GOV_NUM_LOGS
} GovLog;

/* What a log looks like, as its install and upgrade scripts create it. */
typedef struct GovLogShape
{
	GovLog		log;
	const char *relname;		/* table, in the extension's schema */
	const char *seqname;		/* its id sequence */
	int			natts;			/* columns of the newest version */
	int			min_natts;		/* columns of the oldest version still written */
	const Oid  *types;			/* natts column types */
	int			id_block;		/* 0: one nextval per row; N: each row takes
								 * the next N ids of a per-backend block of
								 * the sequence, which must step by a
								 * multiple of N */
} GovLogShape;

typedef struct GovAppender GovAppender;

/* Open a log for appending; NULL (missing_ok) when the extension is absent. */
extern GovAppender *gov_appender_open(const GovLogShape *shape, bool missing_ok);
extern void gov_appender_insert(GovAppender *app, Datum *values, bool *nulls);
extern void gov_appender_close(GovAppender *app);

/* The log table, checked to be the extension's own; InvalidOid if not. */
extern Oid	gov_log_relid(const GovLogShape *shape);

/* Values log rows share. */
extern Datum gov_client_addr(bool *isnull);
extern char *gov_relation_name(Oid relid);

#endif							/* GOV_APPENDER_H */
