/*-------------------------------------------------------------------------
 *
 * ddl_watch.h
 *	  What governance.ddl_watch() (event_trigger.c) dispatches to: the DDL
 *	  watch of audited tables (ddl_watch.c), the trail's survival
 *	  (trail.c) and new partitions (audit_partitions.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GOV_DDL_WATCH_H
#define GOV_DDL_WATCH_H

#include "commands/event_trigger.h"
#include "nodes/parsenodes.h"

/*---- DDL that could silence auditing (ddl_watch.c) ----*/

/* Refuse to a non-superuser, record (op = 'DDL') for a superuser. */
extern void gov_refuse_or_record(Oid relid, const char *command,
								 const char *action, const char *detail,
								 const char *why);
extern void gov_watch_alter_table(AlterTableStmt *stmt);
extern void gov_watch_table_rewrite(void);
extern void gov_watch_create_trigger(CreateTrigStmt *stmt);
extern void gov_watch_create_rule(RuleStmt *stmt);
extern void gov_watch_create_table(CreateStmt *stmt, bool foreign);
extern void gov_watch_alter_trigger(RangeVar *relation, const char *tgname,
									const char *action, const char *why);
extern void gov_watch_drop_other_extension(const char *extname);
extern void gov_watch_alter_enum(AlterEnumStmt *stmt);
extern void gov_record_typed_tables(Oid typerel, const char *action,
									const char *detail);
extern const char *gov_depends_object_name(Node *object);

/*---- The trail's survival (trail.c) ----*/

extern void gov_watch_drop(DropStmt *stmt);
extern void gov_watch_drop_owned(DropOwnedStmt *stmt);
extern void gov_watch_alter_extension_contents(AlterExtensionContentsStmt *stmt);
extern void gov_watch_sql_drop(EventTriggerData *trigdata);

/*---- New and detached partitions (audit_partitions.c) ----*/

extern void gov_watch_command_end(Node *tree);

#endif							/* GOV_DDL_WATCH_H */
