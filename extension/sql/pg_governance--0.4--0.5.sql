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
