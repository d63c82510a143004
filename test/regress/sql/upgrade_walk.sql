--
-- Every upgrade step from 0.1 to the default version, one at a time, as
-- pg_stat_statements' oldextversions does.  The chain is read from the
-- installed scripts (pg_extension_update_paths), so a new version's script
-- is walked without editing this file.  After each step: the extension is
-- at that step's version, every relation and function in its schema is a
-- member, and the logs still hold every row written before it (one audited
-- row and one denied attempt are written after each step that has them).
-- At the end the upgraded extension has the same objects, definitions,
-- owners and privileges as a fresh install of the default version.
--
\set VERBOSITY terse
SET governance.denied_log_worker = off;	-- the denied backend writes at once
CREATE TABLE walked (step text);
CREATE TABLE walk_steps AS
SELECT ord, v
  FROM pg_extension_update_paths('pg_governance') p,
	   unnest(string_to_array(p.path, '--')) WITH ORDINALITY AS s(v, ord)
 WHERE p.source = '0.1'
   AND p.target = (SELECT default_version FROM pg_available_extensions
					WHERE name = 'pg_governance');
-- the chain starts at 0.1, ends at the default version, has no gap
SELECT min(v) FILTER (WHERE ord = 1) AS first,
	   max(v) FILTER (WHERE ord = (SELECT max(ord) FROM walk_steps)) =
	   (SELECT default_version FROM pg_available_extensions WHERE name = 'pg_governance') AS ends_at_default,
	   count(*) >= 5 AS steps_since_05
  FROM walk_steps;

-- One step's checks; raises on the first thing wrong.
CREATE FUNCTION walk_check(want text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	strays text;
	written bigint;
BEGIN
	IF (SELECT extversion FROM pg_extension WHERE extname = 'pg_governance') <> want THEN
		RAISE EXCEPTION 'after the step to %: extension at version %', want,
			(SELECT extversion FROM pg_extension WHERE extname = 'pg_governance');
	END IF;
	SELECT string_agg(o, ', ') INTO strays FROM (
		SELECT pg_describe_object('pg_class'::regclass, c.oid, 0) AS o
		  FROM pg_class c
		 WHERE c.relnamespace = 'governance'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'm', 'p')
		   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
						   AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
		UNION ALL
		SELECT pg_describe_object('pg_proc'::regclass, p.oid, 0)
		  FROM pg_proc p
		 WHERE p.pronamespace = 'governance'::regnamespace
		   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
						   AND d.objid = p.oid AND d.deptype = 'e')) s;
	IF strays IS NOT NULL THEN
		RAISE EXCEPTION 'after the step to %: not members of the extension: %', want, strays;
	END IF;
	IF to_regprocedure('governance.enable_audit(regclass)') IS NULL THEN
		RETURN;					-- 0.1: no trail yet
	END IF;
	IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'walked'::regclass) THEN
		PERFORM governance.enable_audit('walked');
	END IF;
	-- one audited row, one warned-about attempt (recorded at once)
	PERFORM set_config('client_min_messages', 'error', true);
	PERFORM set_config('governance.require_context', 'warn', true);
	INSERT INTO walked VALUES (want);
	PERFORM set_config('governance.require_context', 'off', true);
	SELECT count(*) INTO written FROM walked;
	IF (SELECT count(*) FROM governance.audit_log
		 WHERE relation = 'public.walked' AND op = 'INSERT') <> written THEN
		RAISE EXCEPTION 'after the step to %: % audited rows written, % in audit_log', want, written,
			(SELECT count(*) FROM governance.audit_log WHERE relation = 'public.walked' AND op = 'INSERT');
	END IF;
	IF (SELECT count(*) FROM governance.denied_log WHERE relation = 'public.walked') <> written THEN
		RAISE EXCEPTION 'after the step to %: % denied attempts, % in denied_log', want, written,
			(SELECT count(*) FROM governance.denied_log WHERE relation = 'public.walked');
	END IF;
END $$;

-- What makes the extension: its members and the triggers, indexes and
-- columns of its relations, with definitions, owners (superuser or not)
-- and privileges.
CREATE FUNCTION walk_fingerprint() RETURNS TABLE (object text, detail text)
LANGUAGE sql AS $$
SELECT pg_describe_object(d.classid, d.objid, 0),
	   CASE d.classid
		   WHEN 'pg_class'::regclass THEN
			   (SELECT concat_ws(' | ', c.relkind, c.relpersistence,
								 (SELECT rolsuper FROM pg_roles WHERE oid = c.relowner),
								 c.relacl::text, c.reloptions::text,
								 (SELECT string_agg(format('%s %s%s%s', a.attname,
														   format_type(a.atttypid, a.atttypmod),
														   CASE WHEN a.attnotnull THEN ' not null' END,
														   ' default ' || pg_get_expr(ad.adbin, ad.adrelid)),
													', ' ORDER BY a.attnum)
									FROM pg_attribute a
									LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
								   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
								 (SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY 1)
									FROM pg_index i WHERE i.indrelid = c.oid),
								 (SELECT string_agg(pg_get_triggerdef(t.oid), '; ' ORDER BY 1)
									FROM pg_trigger t WHERE t.tgrelid = c.oid),
								 CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END,
								 (SELECT format('%s %s %s %s', s.seqincrement, s.seqmin, s.seqmax, s.seqcache)
									FROM pg_sequence s WHERE s.seqrelid = c.oid))
				  FROM pg_class c WHERE c.oid = d.objid)
		   WHEN 'pg_proc'::regclass THEN
			   (SELECT concat_ws(' | ', pg_get_functiondef(p.oid),
								 (SELECT rolsuper FROM pg_roles WHERE oid = p.proowner),
								 p.proacl::text)
				  FROM pg_proc p WHERE p.oid = d.objid AND p.prokind <> 'a')
		   WHEN 'pg_event_trigger'::regclass THEN
			   (SELECT concat_ws(' | ', e.evtevent, e.evtenabled, e.evtfoid::regproc,
								 e.evttags::text,
								 (SELECT rolsuper FROM pg_roles WHERE oid = e.evtowner))
				  FROM pg_event_trigger e WHERE e.oid = d.objid)
		   WHEN 'pg_type'::regclass THEN
			   (SELECT concat_ws(' | ', t.typtype, t.typacl::text,
								 (SELECT rolsuper FROM pg_roles WHERE oid = t.typowner))
				  FROM pg_type t WHERE t.oid = d.objid)
	   END
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_governance')
UNION ALL
SELECT 'schema governance',
	   concat_ws(' | ', (SELECT rolsuper FROM pg_roles WHERE oid = n.nspowner), n.nspacl::text)
  FROM pg_namespace n WHERE n.nspname = 'governance'
$$;

CREATE EXTENSION pg_governance VERSION '0.1';
SELECT walk_check('0.1');
-- each step, then its checks, as top-level statements of their own (not
-- echoed: the output does not depend on how many steps there are)
\set ECHO none
\o /dev/null
SELECT s.cmd
  FROM walk_steps, LATERAL (VALUES
	   (1, format('ALTER EXTENSION pg_governance UPDATE TO %L', v)),
	   (2, format('SELECT walk_check(%L)', v))) AS s(k, cmd)
 WHERE ord > 1
 ORDER BY ord, k \gexec
\o
\set ECHO all
SELECT extversion = (SELECT default_version FROM pg_available_extensions
					  WHERE name = 'pg_governance') AS walked_to_default,
	   (SELECT count(*) FROM walked) = (SELECT count(*) FROM walk_steps) - 1 AS a_row_per_step_since_02
  FROM pg_extension WHERE extname = 'pg_governance';

-- the walked extension against a fresh install of the default version
CREATE TEMP TABLE walked_fingerprint AS SELECT * FROM walk_fingerprint();
DROP TABLE walked;
DROP EXTENSION pg_governance;
DROP SCHEMA governance;
CREATE EXTENSION pg_governance;
CREATE TEMP TABLE fresh_fingerprint AS SELECT * FROM walk_fingerprint();
SELECT count(*) FROM fresh_fingerprint \gset fresh_
SELECT :fresh_count > 30 AS compared_objects;
SELECT 'only after the walk' AS side, * FROM (TABLE walked_fingerprint EXCEPT ALL TABLE fresh_fingerprint) w
UNION ALL
SELECT 'only when fresh', * FROM (TABLE fresh_fingerprint EXCEPT ALL TABLE walked_fingerprint) f
ORDER BY 2, 1;
DROP EXTENSION pg_governance;
DROP SCHEMA governance;
DROP FUNCTION walk_check(text), walk_fingerprint();
DROP TABLE walk_steps;
