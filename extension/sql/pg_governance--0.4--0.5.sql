/* pg_governance 0.4 -> 0.5: the trust boundary (docs/security.md) */

\echo Use "ALTER EXTENSION pg_governance UPDATE TO '0.5'" to load this file. \quit

---------------------------------------------------------------------------
-- 1. Install guard and schema ownership
---------------------------------------------------------------------------

-- (end of section 1)


---------------------------------------------------------------------------
-- 2. The context
---------------------------------------------------------------------------

-- (end of section 2)


---------------------------------------------------------------------------
-- 3. Audit completeness and the trail's survival
---------------------------------------------------------------------------

/*
 * ddl_watch (audit.c) now refuses, for every non-superuser, DDL that would
 * change an audited table's rows or silence its audit triggers without an
 * audit row (rules, inheritance, ATTACH of a filled table, DROP COLUMN,
 * ALTER COLUMN TYPE, SET UNLOGGED, trigger tampering, audit_trigger()
 * attached by hand), and the destruction of a non-empty audit trail or
 * denied_log (DROP OWNED, DROP EXTENSION, DROP SCHEMA, ALTER EXTENSION ...
 * DROP).  It needs more command tags, and the table_rewrite event.
 * Event triggers belong to the superuser that ran this script; no one else
 * can alter or drop them.
 */
DROP EVENT TRIGGER governance_ddl_watch;
CREATE EVENT TRIGGER governance_ddl_watch ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'DROP TABLE',
				 'DROP TRIGGER', 'DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED',
				 'CREATE TRIGGER', 'ALTER TRIGGER', 'CREATE RULE',
				 'CREATE TABLE', 'CREATE FOREIGN TABLE', 'ALTER EXTENSION')
	EXECUTE FUNCTION governance.ddl_watch();
CREATE EVENT TRIGGER governance_rewrite_watch ON table_rewrite
	EXECUTE FUNCTION governance.ddl_watch();
CREATE EVENT TRIGGER governance_drop_watch ON sql_drop
	EXECUTE FUNCTION governance.ddl_watch();
-- TRUNCATE of a partition fires no trigger of the partitioned table: each
-- partition of an audited partitioned table gets its own TRUNCATE audit
-- trigger, from enable_audit() and, for later partitions, from this one.
CREATE EVENT TRIGGER governance_partition_watch ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
	EXECUTE FUNCTION governance.ddl_watch();
COMMENT ON FUNCTION governance.ddl_watch() IS
	'Event trigger: refuses (or, for a superuser, records) DDL that would change audited rows or silence auditing unrecorded, and the destruction of a non-empty trail; not for direct use';

/*
 * audited_tables tells the truth: a table is "enabled" only when every
 * audit trigger enable_audit() makes is there, unmodified (timing, level,
 * events, transition tables, no column list, WHEN condition or
 * arguments), enabled in origin mode ('O' or 'A'), every partition's clone
 * and TRUNCATE trigger likewise, and nothing lets changes pass the triggers (rules, inheritance,
 * a partition audited on its own, an unlogged table).  "problems" says
 * what is wrong.  Only pg_catalog operators and functions.
 */
CREATE OR REPLACE VIEW governance.audited_tables AS
WITH fn AS (
	SELECT 'governance.audit_trigger()'::pg_catalog.regprocedure::pg_catalog.oid AS oid
), spec (relkind, tgname, tgtype, old_table, new_table) AS (
	VALUES ('r'::pg_catalog."char", 'governance_audit_insert'::pg_catalog.name, 4::pg_catalog.int2, false, true),
		   ('r'::pg_catalog."char", 'governance_audit_update'::pg_catalog.name, 16::pg_catalog.int2, true, true),
		   ('r'::pg_catalog."char", 'governance_audit_delete'::pg_catalog.name, 8::pg_catalog.int2, true, false),
		   ('r'::pg_catalog."char", 'governance_audit_truncate'::pg_catalog.name, 32::pg_catalog.int2, false, false),
		   ('p'::pg_catalog."char", 'governance_audit_row'::pg_catalog.name, 29::pg_catalog.int2, false, false),
		   ('p'::pg_catalog."char", 'governance_audit_truncate'::pg_catalog.name, 32::pg_catalog.int2, false, false)
), audited AS (
	SELECT DISTINCT t.tgrelid AS relid, c.relkind, c.relispartition, c.relpersistence
	  FROM pg_catalog.pg_trigger t
	  JOIN fn ON t.tgfoid OPERATOR(pg_catalog.=) fn.oid
	  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid
	 WHERE t.tgparentid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
	   -- a partition of an audited partitioned table is shown with it
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger ct
					    WHERE ct.tgrelid OPERATOR(pg_catalog.=) t.tgrelid
						  AND ct.tgfoid OPERATOR(pg_catalog.=) fn.oid
						  AND ct.tgparentid OPERATOR(pg_catalog.<>) 0::pg_catalog.oid)
), trig AS (
	SELECT a.relid, t.tgname, t.tgtype, t.tgenabled, t.tgqual IS NOT NULL AS has_qual,
		   t.tgoldtable IS NOT NULL AS has_old, t.tgnewtable IS NOT NULL AS has_new,
		   t.tgnargs, pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) AS nattr,
		   s.tgname IS NOT NULL AS known, s.tgtype AS want_type,
		   s.old_table AS want_old, s.new_table AS want_new
	  FROM audited a
	  JOIN pg_catalog.pg_trigger t ON t.tgrelid OPERATOR(pg_catalog.=) a.relid
	  JOIN fn ON t.tgfoid OPERATOR(pg_catalog.=) fn.oid
	  LEFT JOIN spec s ON s.relkind OPERATOR(pg_catalog.=) a.relkind
					  AND s.tgname OPERATOR(pg_catalog.=) t.tgname
	 WHERE t.tgparentid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
), problem (relid, what) AS (
	SELECT a.relid, pg_catalog.format('trigger %s is missing', s.tgname)
	  FROM audited a
	  JOIN spec s ON s.relkind OPERATOR(pg_catalog.=) a.relkind
	 WHERE NOT EXISTS (SELECT FROM trig WHERE trig.relid OPERATOR(pg_catalog.=) a.relid
										  AND trig.tgname OPERATOR(pg_catalog.=) s.tgname)
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s is not one that enable_audit makes', tgname)
	  FROM trig WHERE NOT known
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s has the wrong timing, level, events, transition tables, columns or arguments', tgname)
	  FROM trig
	 WHERE known AND (tgtype OPERATOR(pg_catalog.<>) want_type
					  OR has_old OPERATOR(pg_catalog.<>) want_old
					  OR has_new OPERATOR(pg_catalog.<>) want_new
					  OR tgnargs OPERATOR(pg_catalog.<>) 0::pg_catalog.int2
					  OR nattr OPERATOR(pg_catalog.<>) 0)
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s has a WHEN condition', tgname)
	  FROM trig WHERE has_qual
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s is disabled', tgname)
	  FROM trig WHERE tgenabled OPERATOR(pg_catalog.=) 'D'::pg_catalog."char"
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s fires on replicas only', tgname)
	  FROM trig WHERE tgenabled OPERATOR(pg_catalog.=) 'R'::pg_catalog."char"
	UNION ALL
	SELECT a.relid, pg_catalog.format('partition %s is not audited (its audit trigger is missing, disabled, replica-only or has a WHEN condition)', d.relid)
	  FROM audited a, pg_catalog.pg_partition_tree(a.relid) d
	 WHERE a.relkind OPERATOR(pg_catalog.=) 'p'::pg_catalog."char"
	   AND d.relid::pg_catalog.oid OPERATOR(pg_catalog.<>) a.relid
	   AND NOT EXISTS (
			SELECT FROM pg_catalog.pg_trigger t, fn
			 WHERE t.tgrelid OPERATOR(pg_catalog.=) d.relid::pg_catalog.oid
			   AND t.tgfoid OPERATOR(pg_catalog.=) fn.oid
			   AND t.tgname OPERATOR(pg_catalog.=) 'governance_audit_row'::pg_catalog.name
			   AND t.tgqual IS NULL
			   AND (t.tgenabled OPERATOR(pg_catalog.=) 'O'::pg_catalog."char"
					OR t.tgenabled OPERATOR(pg_catalog.=) 'A'::pg_catalog."char"))
	UNION ALL
	SELECT a.relid, pg_catalog.format('partition %s has no enabled TRUNCATE audit trigger', d.relid)
	  FROM audited a, pg_catalog.pg_partition_tree(a.relid) d
	 WHERE a.relkind OPERATOR(pg_catalog.=) 'p'::pg_catalog."char"
	   AND d.relid::pg_catalog.oid OPERATOR(pg_catalog.<>) a.relid
	   AND NOT EXISTS (
			SELECT FROM pg_catalog.pg_trigger t, fn
			 WHERE t.tgrelid OPERATOR(pg_catalog.=) d.relid::pg_catalog.oid
			   AND t.tgfoid OPERATOR(pg_catalog.=) fn.oid
			   AND t.tgname OPERATOR(pg_catalog.=) 'governance_audit_truncate'::pg_catalog.name
			   AND t.tgtype OPERATOR(pg_catalog.=) 32::pg_catalog.int2
			   AND t.tgqual IS NULL
			   AND (t.tgenabled OPERATOR(pg_catalog.=) 'O'::pg_catalog."char"
					OR t.tgenabled OPERATOR(pg_catalog.=) 'A'::pg_catalog."char"))
	UNION ALL
	SELECT a.relid, 'the table has rules, which can rewrite writes before the audit triggers see them'::pg_catalog.text
	  FROM audited a
	 WHERE EXISTS (SELECT FROM pg_catalog.pg_rewrite r WHERE r.ev_class OPERATOR(pg_catalog.=) a.relid)
	UNION ALL
	SELECT a.relid, 'the table is a partition: writes routed through its partitioned table do not fire its statement triggers'::pg_catalog.text
	  FROM audited a WHERE a.relispartition
	UNION ALL
	SELECT a.relid, 'the table is part of an inheritance tree: statements on the parent change the children unaudited'::pg_catalog.text
	  FROM audited a
	 WHERE a.relkind OPERATOR(pg_catalog.=) 'r'::pg_catalog."char"
	   AND EXISTS (SELECT FROM pg_catalog.pg_inherits i
				    WHERE i.inhparent OPERATOR(pg_catalog.=) a.relid
					   OR (i.inhrelid OPERATOR(pg_catalog.=) a.relid AND NOT a.relispartition))
	UNION ALL
	SELECT a.relid, 'the table is unlogged: a crash empties it without audit rows'::pg_catalog.text
	  FROM audited a WHERE a.relpersistence OPERATOR(pg_catalog.=) 'u'::pg_catalog."char"
)
SELECT a.relid::pg_catalog.regclass AS relation,
	   NOT EXISTS (SELECT FROM problem p WHERE p.relid OPERATOR(pg_catalog.=) a.relid) AS enabled,
	   (SELECT pg_catalog.array_agg(t.tgname ORDER BY t.tgname)
		  FROM trig t WHERE t.relid OPERATOR(pg_catalog.=) a.relid) AS triggers,
	   COALESCE((SELECT pg_catalog.array_agg(p.what ORDER BY p.what)
				   FROM problem p WHERE p.relid OPERATOR(pg_catalog.=) a.relid),
				'{}'::pg_catalog.text[]) AS problems
  FROM audited a;
COMMENT ON VIEW governance.audited_tables IS
	'Tables with governance audit triggers; enabled only if every change of the table reaches its audit triggers (problems says why not)';

-- (end of section 3)


---------------------------------------------------------------------------
-- 4. denied_log and pool stats
---------------------------------------------------------------------------

/*
 * denied_log: bounded growth (governance.denied_log_rate_limit records per
 * second per session; what is over it is counted in one row with action
 * 'suppressed') and unambiguous relations (schema-qualified, with relid).
 */
ALTER TABLE governance.denied_log ADD COLUMN suppressed integer;
COMMENT ON COLUMN governance.denied_log.suppressed IS
	'action = ''suppressed'': how many denied attempts of this session the rate limit (governance.denied_log_rate_limit) kept out of denied_log since the previous row; the other columns are those of the first of them.  NULL in every other row';
COMMENT ON COLUMN governance.denied_log.relid IS
	'OID of the relation the refused statement used (NULL when it could not be established, e.g. a refusal raised before execution; and in rows written before 0.5)';
COMMENT ON COLUMN governance.denied_log.relation IS
	'Schema-qualified name of relid when the row was written (a temporary table shows as pg_temp_N.name); NULL with relid NULL';
COMMENT ON COLUMN governance.denied_log.action IS
	'refused, warned (require_context = warn), or suppressed (a count of attempts over governance.denied_log_rate_limit, see suppressed)';

-- (end of section 4)


---------------------------------------------------------------------------
-- 5. Views rebuilt with pg_catalog operators only
---------------------------------------------------------------------------

-- (end of section 5)


---------------------------------------------------------------------------
-- 6. Red team: routes found after the second round
---------------------------------------------------------------------------

/*
 * ALTER TYPE ... RENAME VALUE of an enum that an audited table's column
 * uses rewrites what every stored row says with no row change: ddl_watch
 * refuses it to non-superusers (records it for a superuser).  ALTER TYPE's
 * other table-changing forms already reach ddl_watch through table_rewrite
 * (ALTER ATTRIBUTE ... TYPE ... CASCADE) and sql_drop (DROP ATTRIBUTE ...
 * CASCADE); ADD and RENAME ATTRIBUTE ... CASCADE of a typed table are
 * recorded.  A trigger of its own so that governance_ddl_watch's tag list
 * stays as section 3 left it.
 */
CREATE EVENT TRIGGER governance_type_watch ON ddl_command_start
	WHEN TAG IN ('ALTER TYPE')
	EXECUTE FUNCTION governance.ddl_watch();

-- (end of section 6)
