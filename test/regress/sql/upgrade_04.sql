--
-- 0.3 -> 0.4 (the preloaded mode's objects): ALTER EXTENSION UPDATE by the
-- non-superuser who installed 0.3 keeps denied_log's rows (recorded_by =
-- 'backend' for them) and gives the owner the same grants as a fresh 0.4.
--
CREATE ROLE regress_u4_owner;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_u4_owner', current_database()) \gexec
SET ROLE regress_u4_owner;
CREATE EXTENSION pg_governance VERSION '0.3';
RESET ROLE;
CREATE TABLE u4 (id int);
ALTER TABLE u4 OWNER TO regress_u4_owner;
SET ROLE regress_u4_owner;
SELECT governance.enable_audit('u4');
RESET ROLE;
SET governance.denied_log_worker = off;
SET governance.require_context = enforce;
INSERT INTO u4 VALUES (1);
RESET governance.require_context;
SELECT count(*) AS denied_before FROM governance.denied_log;
SET ROLE regress_u4_owner;
ALTER EXTENSION pg_governance UPDATE TO '0.4';
SELECT extversion FROM pg_extension WHERE extname = 'pg_governance';
RESET ROLE;
SELECT command, relation, recorded_by FROM governance.denied_log;
SELECT c.relname,
	   has_table_privilege('regress_u4_owner', c.oid, 'SELECT WITH GRANT OPTION') AS owner_grants,
	   has_table_privilege('public', c.oid, 'SELECT') AS public_reads
  FROM pg_class c
 WHERE c.relnamespace = 'governance'::regnamespace
   AND c.relname IN ('session_context', 'agent_latency', 'tenant_latency')
 ORDER BY 1;
SELECT has_function_privilege('regress_u4_owner', 'governance.reset_latency_histograms()', 'EXECUTE WITH GRANT OPTION') AS owner_resets,
	   has_function_privilege('public', 'governance.reset_latency_histograms()', 'EXECUTE') AS public_resets;
-- a denial after the update is written with the new column
SET governance.require_context = enforce;
DELETE FROM u4;
RESET governance.require_context;
SELECT command, recorded_by FROM governance.denied_log ORDER BY id;
DROP TABLE u4;
DROP EXTENSION pg_governance;
DROP SCHEMA governance;
SELECT format('REVOKE CREATE ON DATABASE %I FROM regress_u4_owner', current_database()) \gexec
DROP ROLE regress_u4_owner;
