--
-- 0.6 -> 0.7 (denied_log role limit): ALTER EXTENSION UPDATE by the
-- non-superuser who installed 0.6 adds the index on denied_log
-- (db_session_user, logged_at) through which a backend without
-- shared_preload_libraries counts a role's rows of the last minute; then
-- governance.denied_log_role_limit holds: a role's attempts past it are
-- refused as ever, and counted in its session's summary row, written at
-- the latest when the session ends.
--
SELECT current_user AS regress_superuser \gset
CREATE ROLE regress_u7_owner;
CREATE ROLE regress_u7_app LOGIN;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_u7_owner', current_database()) \gexec
SET ROLE regress_u7_owner;
CREATE EXTENSION pg_governance VERSION '0.6';
RESET ROLE;
CREATE VIEW role_index AS
	SELECT c.relname, pg_get_indexdef(c.oid) ~ '\(db_session_user, logged_at\)$' AS on_role_and_time
	  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	 WHERE i.indrelid = 'governance.denied_log'::regclass
	   AND pg_get_indexdef(c.oid) ~ 'db_session_user';
-- 0.6: no such index
SELECT * FROM role_index;
SET ROLE regress_u7_owner;
ALTER EXTENSION pg_governance UPDATE TO '0.7';
SELECT extversion FROM pg_extension WHERE extname = 'pg_governance';
RESET ROLE;
SELECT * FROM role_index;

-- a role without a context, six refused statements, at most 2 rows a minute
CREATE TABLE u7_docs (id int, tenant text);
SELECT governance.enable_rls('u7_docs', tenant_column => 'tenant');
GRANT ALL ON u7_docs TO regress_u7_app;
ALTER ROLE regress_u7_app SET governance.denied_log_role_limit = 2;
\c - regress_u7_app
SET application_name = 'regress-u7';
\set VERBOSITY terse
SELECT 'INSERT INTO u7_docs VALUES (1, ''globex'')' FROM generate_series(1, 6) \gexec
\set VERBOSITY default
SELECT 1 AS next_statement;
\c - :regress_superuser
DO $$ BEGIN
  FOR i IN 1..500 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity
                           WHERE usename = 'regress_u7_app' OR backend_type = 'pg_governance writer')
          AND EXISTS (SELECT FROM governance.denied_log
                       WHERE application_name = 'regress-u7' AND action = 'suppressed');
    PERFORM pg_sleep(0.02);
  END LOOP;
END $$;
-- two rows of their own, the other four counted in the session's summary
SELECT action, count(*), sum(suppressed) AS suppressed,
       bool_and(message ~ 'governance.denied_log_role_limit \(2 per minute per role\)' OR action = 'refused') AS says_why
  FROM governance.denied_log WHERE application_name = 'regress-u7'
 GROUP BY action ORDER BY action;

ALTER ROLE regress_u7_app RESET governance.denied_log_role_limit;
DROP VIEW role_index;
DROP TABLE u7_docs;
DROP EXTENSION pg_governance;
DROP SCHEMA governance;
SELECT format('REVOKE CREATE ON DATABASE %I FROM regress_u7_owner', current_database()) \gexec
DROP ROLE regress_u7_owner;
DROP ROLE regress_u7_app;
