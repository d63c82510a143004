--
-- The audit trail, denied log and RLS helpers arrive with 0.2: ALTER
-- EXTENSION UPDATE from 0.1 by the non-superuser who installed 0.1 gives
-- the same objects, owners and grants as installing 0.2 directly.
--
CREATE ROLE regress_upg_owner;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_upg_owner', current_database()) \gexec
SET ROLE regress_upg_owner;
CREATE EXTENSION pg_governance VERSION '0.1';
SELECT count(*) AS audit_objects FROM pg_class
 WHERE relnamespace = 'governance'::regnamespace AND relname LIKE 'audit%';
ALTER EXTENSION pg_governance UPDATE TO '0.2';
SELECT extversion FROM pg_extension WHERE extname = 'pg_governance';
RESET ROLE;
SELECT c.relname, c.relkind, r.rolsuper AS superuser_owned,
	   has_table_privilege('regress_upg_owner', c.oid, 'SELECT') AS owner_reads,
	   has_table_privilege('regress_upg_owner', c.oid, 'SELECT WITH GRANT OPTION') AS owner_grants,
	   has_table_privilege('regress_upg_owner', c.oid, 'DELETE') AS owner_deletes
  FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
 WHERE c.relnamespace = 'governance'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY c.relname;
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger;
SELECT pg_describe_object(classid, objid, 0) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_governance')
   AND pg_describe_object(classid, objid, 0) ~ '(audit|denied|rls|ddl_watch|append_only)'
 ORDER BY 1;
DROP EXTENSION pg_governance;
DROP SCHEMA governance;
SELECT format('REVOKE CREATE ON DATABASE %I FROM regress_upg_owner', current_database()) \gexec
DROP ROLE regress_upg_owner;
