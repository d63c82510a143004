/*
 * Audit trail: enable_audit() / disable_audit(), the PL/pgSQL audit
 * trigger, audit_batch + the audit_log view (same columns as the C edition).
 *
 * INSERT and DELETE are recorded by statement-level AFTER triggers with
 * transition tables (one INSERT into audit_batch per 100 rows of a
 * statement), TRUNCATE by a statement trigger, UPDATE by a row-level AFTER
 * trigger (a transition table does not pair each old row with its new one).
 * The trigger function is SECURITY DEFINER (only the installer can write
 * the log) and checks, per statement, that the trigger firing it is one
 * enable_audit() makes (name, timing, events, level, transition tables, no
 * WHEN, columns or arguments), so an attachment of another shape (e.g. one
 * reading a table of the attacker's in place of a transition table) records
 * nothing and fails.
 */
CREATE SEQUENCE governance.audit_batch_id_seq INCREMENT BY 100;
REVOKE ALL ON SEQUENCE governance.audit_batch_id_seq FROM PUBLIC;

CREATE TABLE governance.audit_batch (
	first_id			bigint NOT NULL,
	nrows				integer NOT NULL,
	at					timestamptz NOT NULL,
	txid				xid8 NOT NULL,
	relid				oid,
	relation			text NOT NULL,
	op					text NOT NULL,
	agent_id			text,
	tenant_id			text,
	correlation_id		text,
	db_user				text NOT NULL,
	db_session_user		text NOT NULL,
	application_name	text,
	client_addr			inet,
	old_rows			jsonb,
	new_rows			jsonb
);
ALTER SEQUENCE governance.audit_batch_id_seq OWNED BY governance.audit_batch.first_id;
-- Row images of multi-row statements are large and repetitive: compressed
-- with lz4 where the server has it, as in the C edition (pglz costs a
-- 100-row INSERT about a seventh of its instructions).  0.6--0.7: upgrade/.
DO $lz4$
BEGIN
	ALTER TABLE governance.audit_batch
		ALTER COLUMN old_rows SET COMPRESSION lz4,
		ALTER COLUMN new_rows SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	NULL;
END
$lz4$;
REVOKE ALL ON governance.audit_batch FROM PUBLIC;
COMMENT ON TABLE governance.audit_batch IS
	'Storage of governance.audit_log: one row per audited statement and 100 rows; read audit_log instead';
CREATE INDEX audit_batch_agent_at_idx ON governance.audit_batch (agent_id, at);
CREATE INDEX audit_batch_relid_at_idx ON governance.audit_batch USING brin (relid, at);
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON governance.audit_batch
	FOR EACH STATEMENT EXECUTE FUNCTION governance.append_only_trigger();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON governance.audit_batch
	FOR EACH STATEMENT EXECUTE FUNCTION governance.append_only_trigger();

-- @from-c-edition VIEW governance.audit_log
REVOKE ALL ON governance.audit_log FROM PUBLIC;
COMMENT ON VIEW governance.audit_log IS
	'Append-only audit trail of audited tables (one row per changed row), written in the same transaction as the change';

/*
 * The triggers enable_audit() makes, per relkind: name, pg_trigger.tgtype,
 * transition tables, the CREATE TRIGGER clause.  A partitioned table gets
 * row-level triggers (cloned to every partition, so writes addressed to a
 * partition are audited too) and a TRUNCATE trigger, as in the C edition.
 */
CREATE FUNCTION governance._audit_spec(OUT relkind "char", OUT tgname name, OUT tgtype smallint,
									   OUT old_table name, OUT new_table name, OUT clause text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
	VALUES ('r'::"char", 'governance_audit_insert'::name, 4::smallint, NULL::name, 'governance_new'::name,
			'AFTER INSERT ON %s REFERENCING NEW TABLE AS governance_new FOR EACH STATEMENT'),
		   ('r', 'governance_audit_update', 17, NULL, NULL, 'AFTER UPDATE ON %s FOR EACH ROW'),
		   ('r', 'governance_audit_delete', 8, 'governance_old', NULL,
			'AFTER DELETE ON %s REFERENCING OLD TABLE AS governance_old FOR EACH STATEMENT'),
		   ('r', 'governance_audit_truncate', 32, NULL, NULL, 'AFTER TRUNCATE ON %s FOR EACH STATEMENT'),
		   ('p', 'governance_audit_row', 29, NULL, NULL, 'AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW'),
		   ('p', 'governance_audit_truncate', 32, NULL, NULL, 'AFTER TRUNCATE ON %s FOR EACH STATEMENT')
$$;

/*
 * Row images of columns whose values another role's code could convert.
 * to_jsonb (and jsonb_agg, jsonb_build_object) convert a value of a scalar
 * type that is not built in (enum, range, multirange: looked for through
 * domains, arrays and composites) through a cast to json when one exists,
 * and the owner of such a type can CREATE CAST at any time.  In the audit
 * trigger that cast function would run as the installer.  So, as in the C
 * edition (extension/src/rowjson.c, type_has_user_scalar), a column of, or
 * containing, a type a non-superuser owns is recorded as that type's text
 * output (format('%s', ...) calls the type's output function, the
 * system's: only a superuser creates base types), a 1-D array of such a
 * scalar as the array of its elements' outputs; types of the system and of
 * superusers keep to_jsonb (only a type's owner or a superuser can create a
 * cast from it).  Deep types (more than 16 levels) count as unsafe.
 */
CREATE FUNCTION governance._type_has_user_scalar(typ oid) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (WITH RECURSIVE walk(t, depth) AS (
				SELECT typ, 0
				UNION ALL
				SELECT c.t, w.depth OPERATOR(pg_catalog.+) c.step
				  FROM walk w JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) w.t
				 CROSS JOIN LATERAL (
						-- a domain: its base type (at the same depth)
						SELECT y.typbasetype, 0 WHERE y.typtype OPERATOR(pg_catalog.=) 'd'::pg_catalog."char"
						UNION ALL
						-- an array: its element type
						SELECT y.typelem, 1
						 WHERE y.typsubscript OPERATOR(pg_catalog.=) 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
						   AND y.typtype OPERATOR(pg_catalog.<>) 'd'::pg_catalog."char"
						UNION ALL
						-- a composite: its attributes' types
						SELECT a.atttypid, 1 FROM pg_catalog.pg_attribute a
						 WHERE y.typtype OPERATOR(pg_catalog.=) 'c'::pg_catalog."char"
						   AND a.attrelid OPERATOR(pg_catalog.=) y.typrelid
						   AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT a.attisdropped) c(t, step)
				 WHERE w.depth OPERATOR(pg_catalog.<=) 16)
			SELECT EXISTS (
				SELECT FROM walk w JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) w.t
				 WHERE w.depth OPERATOR(pg_catalog.>) 16
					OR w.t OPERATOR(pg_catalog.=) 'pg_catalog.record'::pg_catalog.regtype
					OR (y.typtype OPERATOR(pg_catalog.<>) ALL (ARRAY['d', 'c']::pg_catalog."char"[])
						AND y.typsubscript OPERATOR(pg_catalog.<>) 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
						AND w.t OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid
						AND NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r
										   WHERE r.oid OPERATOR(pg_catalog.=) y.typowner), false))));
COMMENT ON FUNCTION governance._type_has_user_scalar(oid) IS
	'Does a value of the type contain one of a scalar type a non-superuser owns (recorded as its text output by the audit trigger)?';

/* The type under a (chain of) domain(s). */
CREATE FUNCTION governance._base_type(typ oid) RETURNS oid
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (WITH RECURSIVE d(t) AS (
				SELECT typ
				UNION ALL
				SELECT y.typbasetype FROM d JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) d.t
				 WHERE y.typtype OPERATOR(pg_catalog.=) 'd'::pg_catalog."char")
			SELECT d.t FROM d JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) d.t
			 WHERE y.typtype OPERATOR(pg_catalog.<>) 'd'::pg_catalog."char");

/*
 * The select list of a row image of rel's rows, read from a relation "r"
 * with rel's columns, or NULL if every column can go through to_jsonb.  A
 * column of (or containing) a user-owned scalar: its text output, or, for
 * a 1-D array of a scalar (not of a composite or an array), the array of
 * its elements' outputs (a NULL element null; an array of more dimensions:
 * its text output), as the C edition records it.  Names are quoted with
 * %I; no value is ever spliced into the text.
 */
CREATE FUNCTION governance._audit_image_columns(rel oid) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN (SELECT CASE WHEN pg_catalog.bool_or(c.kind OPERATOR(pg_catalog.<>) 'v') THEN
				pg_catalog.string_agg(CASE c.kind
					WHEN 'v' THEN pg_catalog.format('r.%I', c.attname)
					WHEN 'a' THEN pg_catalog.format(
						'CASE WHEN pg_catalog.num_nulls(r.%1$I) OPERATOR(pg_catalog.=) 1 THEN NULL'
						' WHEN pg_catalog.array_ndims(r.%1$I) OPERATOR(pg_catalog.>) 1 THEN pg_catalog.to_jsonb(pg_catalog.format(''%%s'', r.%1$I))'
						' ELSE COALESCE((SELECT pg_catalog.jsonb_agg(CASE WHEN pg_catalog.num_nulls(e.e) OPERATOR(pg_catalog.=) 1 THEN NULL'
						' ELSE pg_catalog.format(''%%s'', e.e) END ORDER BY e.n) FROM pg_catalog.unnest(r.%1$I) WITH ORDINALITY e(e, n)),'
						' ''[]''::pg_catalog.jsonb) END AS %1$I', c.attname)
					ELSE pg_catalog.format(
						'CASE WHEN pg_catalog.num_nulls(r.%1$I) OPERATOR(pg_catalog.=) 1 THEN NULL'
						' ELSE pg_catalog.format(''%%s'', r.%1$I) END AS %1$I', c.attname) END,
					', ' ORDER BY c.attnum) END
			  FROM (SELECT a.attnum, a.attname,
						   CASE WHEN NOT governance._type_has_user_scalar(a.atttypid) THEN 'v'
								WHEN e.elem OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
									 AND (SELECT y.typtype OPERATOR(pg_catalog.<>) 'c'::pg_catalog."char"
												 AND y.typsubscript OPERATOR(pg_catalog.<>) 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
											FROM pg_catalog.pg_type y
										   WHERE y.oid OPERATOR(pg_catalog.=) governance._base_type(e.elem)) THEN 'a'
								ELSE 't' END AS kind
					  FROM pg_catalog.pg_attribute a
					 CROSS JOIN LATERAL (
							SELECT CASE WHEN y.typsubscript OPERATOR(pg_catalog.=) 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
										THEN y.typelem ELSE 0::pg_catalog.oid END
							  FROM pg_catalog.pg_type y
							 WHERE y.oid OPERATOR(pg_catalog.=) governance._base_type(a.atttypid)) e(elem)
					 WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2
					   AND NOT a.attisdropped) c);

CREATE FUNCTION governance.audit_trigger() RETURNS trigger
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
	-- Row images are made with these settings whatever the writer set (as in
	-- the C edition).  Only when the session's differ are they set, and put
	-- back after the insert (an error on the way rolls them back anyway):
	-- a SET clause would cost every audited statement.
	images CONSTANT text[] := ARRAY['extra_float_digits', '1', 'DateStyle', 'ISO, MDY', 'IntervalStyle', 'postgres'];
	saved text[];
	attached boolean;
	c_agent text;
	c_tenant text;
	c_corr text;
	batches bigint := 0;
	rel CONSTANT text := pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
	root oid := TG_RELID;
	root_name text := rel;
	at CONSTANT timestamptz := pg_catalog.statement_timestamp();
	who CONSTANT text := governance._db_user();
	textout boolean;
	sel text;
	o_img jsonb;
	n_img jsonb;
	imgs jsonb[];
BEGIN
	-- One query: whether the trigger firing this is one enable_audit()
	-- makes (_audit_spec(), inline), the context if it is sealed,
	-- verified under the seal key (c_agent NULL otherwise: an unsealed,
	-- absent or changed context goes through _context_core() below, which
	-- raises when it must), and whether a column's type is not built in
	-- (other than a domain over a built-in type): only then can a column
	-- need its text output in the images (_audit_image_columns()).  That
	-- check is one index scan of pg_attribute (_base_type() runs only for
	-- a column whose type is not built in): about 38k instructions of a
	-- 1-row INSERT's 790k (scripts/sql-edition-callgrind.sh).
	SELECT EXISTS (
			SELECT FROM pg_catalog.pg_trigger t
			 WHERE t.tgrelid OPERATOR(pg_catalog.=) TG_RELID AND t.tgname OPERATOR(pg_catalog.=) TG_NAME
			   AND t.tgfoid OPERATOR(pg_catalog.=) 'governance.audit_trigger()'::pg_catalog.regprocedure
			   AND t.tgqual IS NULL
			   -- name, type, transition tables, arguments, columns, and not
			   -- a constraint trigger (which can be deferred to COMMIT, when
			   -- the context may be another), as one text, the row's output
			   -- (a NULL is nothing, an empty name ""; no function call: a
			   -- cast through output functions is not checked for EXECUTE):
			   -- one comparison
			   AND (t.tgname, t.tgtype, t.tgoldtable, t.tgnewtable, t.tgnargs, t.tgattr,
					t.tgconstraint, t.tgdeferrable, t.tginitdeferred)::pg_catalog.text
				   OPERATOR(pg_catalog.=) ANY (ARRAY[
					'(governance_audit_insert,4,,governance_new,0,"",0,f,f)',
					'(governance_audit_update,17,,,0,"",0,f,f)',
					'(governance_audit_delete,8,governance_old,,0,"",0,f,f)',
					'(governance_audit_truncate,32,,,0,"",0,f,f)',
					'(governance_audit_row,29,,,0,"",0,f,f)'])),
		   CASE WHEN governance._sealed_ok(k.ipad, k.opad, v.m, v.a, v.t, v.c) THEN v.a END,
		   NULLIF(v.t, ''), NULLIF(v.c, ''),
		   EXISTS (
			SELECT FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2
			   AND a.atttypid OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid
			   AND governance._base_type(a.atttypid) OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid)
	  INTO attached, c_agent, c_tenant, c_corr, textout
	  FROM (SELECT COALESCE(pg_catalog.current_setting('governance.agent_id', true), '') AS a,
				   COALESCE(pg_catalog.current_setting('governance.tenant_id', true), '') AS t,
				   COALESCE(pg_catalog.current_setting('governance.correlation_id', true), '') AS c,
				   COALESCE(pg_catalog.current_setting('governance.context_seal', true), '') AS m OFFSET 0) v,
		   governance.seal_key k;
	IF TG_WHEN <> 'AFTER' OR NOT attached THEN
		RAISE EXCEPTION 'trigger "%" on "%" is not an audit trigger made by governance.enable_audit()', TG_NAME, TG_TABLE_NAME
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Drop the trigger and run governance.enable_audit() on the table.';
	END IF;
	-- a row of a partition is recorded under the audited partitioned table
	-- (a separate query: a statement trigger does not start it up)
	IF TG_LEVEL <> 'ROW' THEN
		NULL;
	ELSIF EXISTS (SELECT FROM pg_catalog.pg_class c
				   WHERE c.oid OPERATOR(pg_catalog.=) TG_RELID AND c.relispartition) THEN
		SELECT a.relid INTO root FROM pg_catalog.pg_partition_ancestors(TG_RELID) a
		  JOIN pg_catalog.pg_trigger t ON t.tgrelid OPERATOR(pg_catalog.=) a.relid
		 WHERE t.tgname OPERATOR(pg_catalog.=) 'governance_audit_row' AND t.tgparentid OPERATOR(pg_catalog.=) 0::pg_catalog.oid;
		SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO root_name
		  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		 WHERE c.oid OPERATOR(pg_catalog.=) root;
	END IF;
	IF c_agent IS NULL THEN
		SELECT cc.agent_id, cc.tenant_id, cc.correlation_id INTO c_agent, c_tenant, c_corr FROM governance._context_core() cc;
		IF c_agent IS NULL THEN
			PERFORM governance._require_context(root, TG_OP);
		END IF;
	END IF;
	IF pg_catalog.current_setting('extra_float_digits') <> '1' OR pg_catalog.current_setting('DateStyle') <> 'ISO, MDY'
	   OR pg_catalog.current_setting('IntervalStyle') <> 'postgres' THEN
		saved := ARRAY[pg_catalog.current_setting('extra_float_digits'), pg_catalog.current_setting('DateStyle'),
					   pg_catalog.current_setting('IntervalStyle')];
		FOR i IN 1..3 LOOP
			PERFORM pg_catalog.set_config(images[2 * i - 1], images[2 * i], true);
		END LOOP;
	END IF;

	-- Row images.  A transition table's row is named "x.*", never "x": a
	-- column of the audited table called x would be taken instead.
	-- A column of (or containing) a type a non-superuser owns never goes
	-- through to_jsonb (see _type_has_user_scalar()): the images of such a
	-- table are made by a query of its columns (names quoted, no value in
	-- the text), in the same batches.
	IF textout AND TG_OP <> 'TRUNCATE' THEN
		sel := governance._audit_image_columns(TG_RELID);
	END IF;
	IF sel IS NOT NULL THEN
		IF TG_LEVEL = 'ROW' THEN
			IF TG_OP <> 'INSERT' THEN
				EXECUTE pg_catalog.format('SELECT pg_catalog.to_jsonb(s.*) FROM (SELECT %s FROM (SELECT ($1).*) r) s', sel)
				   INTO o_img USING OLD;
			END IF;
			IF TG_OP <> 'DELETE' THEN
				EXECUTE pg_catalog.format('SELECT pg_catalog.to_jsonb(s.*) FROM (SELECT %s FROM (SELECT ($1).*) r) s', sel)
				   INTO n_img USING NEW;
			END IF;
			INSERT INTO governance.audit_batch VALUES (
				pg_catalog.nextval('governance.audit_batch_id_seq'), 1, at, pg_catalog.pg_current_xact_id(),
				root, root_name, TG_OP, c_agent, c_tenant, c_corr,
				who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
				CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.jsonb_build_array(o_img) END,
				CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.jsonb_build_array(n_img) END);
		ELSE
			EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(pg_catalog.to_jsonb(s.*)) FROM (SELECT %s FROM %I r) s',
									  sel, CASE WHEN TG_OP = 'INSERT' THEN 'governance_new' ELSE 'governance_old' END)
			   INTO imgs;
			INSERT INTO governance.audit_batch
			SELECT pg_catalog.nextval('governance.audit_batch_id_seq'), pg_catalog.count(*), at, pg_catalog.pg_current_xact_id(),
				   TG_RELID, rel, TG_OP, c_agent, c_tenant, c_corr,
				   who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
				   CASE WHEN TG_OP = 'DELETE' THEN pg_catalog.jsonb_agg(u.j ORDER BY u.n) END,
				   CASE WHEN TG_OP = 'INSERT' THEN pg_catalog.jsonb_agg(u.j ORDER BY u.n) END
			  FROM pg_catalog.unnest(imgs) WITH ORDINALITY u(j, n)
			 GROUP BY (u.n OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 100;
		END IF;
	ELSIF TG_LEVEL = 'ROW' THEN
		batches := 1;
		INSERT INTO governance.audit_batch VALUES (
			pg_catalog.nextval('governance.audit_batch_id_seq'), 1, at, pg_catalog.pg_current_xact_id(),
			root, root_name, TG_OP, c_agent, c_tenant, c_corr,
			who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
			CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(OLD)) END,
			CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(NEW)) END);
	ELSIF TG_OP = 'INSERT' THEN
		-- 1 to 100 rows (most statements): one batch, a plain aggregate
		-- over at most 101 rows (none or more than 100: nothing inserted
		-- here, the chunked form below)
		INSERT INTO governance.audit_batch
		SELECT pg_catalog.nextval('governance.audit_batch_id_seq'), pg_catalog.count(*), at, pg_catalog.pg_current_xact_id(),
			   TG_RELID, rel, TG_OP, c_agent, c_tenant, c_corr,
			   who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
			   NULL, pg_catalog.jsonb_agg(s.*)
		  FROM (SELECT r.* FROM governance_new r LIMIT 101) s
		HAVING pg_catalog.count(*) BETWEEN 1 AND 100;
		GET DIAGNOSTICS batches = ROW_COUNT;
	END IF;
	IF batches > 0 OR sel IS NOT NULL THEN
		NULL;
	ELSIF TG_OP = 'INSERT' THEN
		INSERT INTO governance.audit_batch
		SELECT pg_catalog.nextval('governance.audit_batch_id_seq'), pg_catalog.count(*), at, pg_catalog.pg_current_xact_id(),
			   TG_RELID, rel, TG_OP, c_agent, c_tenant, c_corr,
			   who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
			   NULL, pg_catalog.jsonb_agg(r.j)
		  FROM (SELECT pg_catalog.to_jsonb(n.*) AS j, (pg_catalog.row_number() OVER () OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 100 AS chunk
				  FROM governance_new n) r
		 GROUP BY r.chunk;
	ELSIF TG_OP = 'DELETE' AND TG_LEVEL = 'STATEMENT' THEN
		INSERT INTO governance.audit_batch
		SELECT pg_catalog.nextval('governance.audit_batch_id_seq'), pg_catalog.count(*), at, pg_catalog.pg_current_xact_id(),
			   TG_RELID, rel, TG_OP, c_agent, c_tenant, c_corr,
			   who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
			   pg_catalog.jsonb_agg(r.j), NULL
		  FROM (SELECT pg_catalog.to_jsonb(o.*) AS j, (pg_catalog.row_number() OVER () OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 100 AS chunk
				  FROM governance_old o) r
		 GROUP BY r.chunk;
	ELSE
		INSERT INTO governance.audit_batch VALUES (
			pg_catalog.nextval('governance.audit_batch_id_seq'), 0, at, pg_catalog.pg_current_xact_id(),
			TG_RELID, rel, TG_OP, c_agent, c_tenant, c_corr,
			who, session_user, pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),
			NULL, NULL);
	END IF;
	IF saved IS NOT NULL THEN
		FOR i IN 1..3 LOOP
			PERFORM pg_catalog.set_config(images[2 * i - 1], saved[i], true);
		END LOOP;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION governance.audit_trigger() IS
	'Audit trigger of the SQL edition; only as attached by governance.enable_audit()';

/*
 * enable_audit(tbl) / disable_audit(tbl): run with the caller's rights,
 * since CREATE TRIGGER needs the table's owner (or TRIGGER privilege); both
 * are themselves recorded (op DDL, as in the C edition).  Idempotent:
 * enable_audit() replaces triggers of another shape and re-enables
 * disabled ones.
 */
CREATE FUNCTION governance._audit_check_table(tbl regclass, verb text) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c pg_catalog.pg_class;
	relname text;
BEGIN
	SELECT * INTO c FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) tbl;
	relname := c.relname;
	IF c.relkind = 'v' THEN
		RAISE EXCEPTION 'cannot % auditing of "%" because it is a view', verb, relname
			USING ERRCODE = 'wrong_object_type', HINT = 'Audit the tables the view writes to instead.';
	ELSIF c.relkind = 'f' THEN
		RAISE EXCEPTION 'cannot % auditing of "%" because it is a foreign table', verb, relname
			USING ERRCODE = 'wrong_object_type', HINT = 'Audit the table on the server that stores it.';
	ELSIF c.relkind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'cannot % auditing of "%" because it is not a table', verb, relname
			USING ERRCODE = 'wrong_object_type', HINT = 'Only tables and partitioned tables can be audited.';
	ELSIF c.relpersistence = 't' THEN
		RAISE EXCEPTION 'cannot % auditing of temporary table "%"', verb, relname
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Temporary tables disappear with their session; audit a permanent table.';
	ELSIF c.relnamespace IN ('pg_catalog'::regnamespace, 'governance'::regnamespace) THEN
		RAISE EXCEPTION 'cannot % auditing of "%"', verb, relname
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'System catalogs and the tables of pg_governance itself cannot be audited.';
	ELSIF NOT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table "%" to % auditing', relname, verb
			USING ERRCODE = 'insufficient_privilege',
				  HINT = pg_catalog.format('Ask the owner of the table to run governance.%s_audit().', verb);
	END IF;
	IF verb = 'disable' THEN
		RETURN;
	END IF;
	IF c.relhasrules THEN
		RAISE EXCEPTION 'cannot enable auditing of "%" because it has rules', relname
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A rule can rewrite or replace a write before any audit trigger sees it.',
				  HINT = 'Drop the table''s rules, then call governance.enable_audit() again.';
	ELSIF c.relispartition THEN
		RAISE EXCEPTION 'cannot enable auditing of "%" because it is a partition', relname
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Writes routed through the partitioned table would not fire its statement triggers.',
				  HINT = 'Audit the partitioned table (the root of the hierarchy): every partition is then audited.';
	ELSIF EXISTS (SELECT FROM pg_catalog.pg_inherits i
				   WHERE i.inhrelid OPERATOR(pg_catalog.=) tbl OR (i.inhparent OPERATOR(pg_catalog.=) tbl AND c.relkind = 'r')) THEN
		RAISE EXCEPTION 'cannot enable auditing of "%" because it is part of an inheritance tree', relname
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A statement on an inheritance parent changes its children''s rows, and fires only the parent''s statement triggers.',
				  HINT = 'Use declarative partitioning, or remove the inheritance (ALTER TABLE ... NO INHERIT).';
	ELSIF c.relpersistence = 'u' THEN
		RAISE EXCEPTION 'cannot enable auditing of unlogged table "%"', relname
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Audit a logged table (ALTER TABLE ... SET LOGGED).';
	END IF;
END
$$;

/* Record enable/disable (op DDL); runs as the installer. */
CREATE FUNCTION governance._audit_ddl(tbl regclass, what text) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ctx record;
BEGIN
	IF what NOT IN ('governance.enable_audit()', 'governance.disable_audit()') THEN
		RAISE EXCEPTION 'governance._audit_ddl() records only enable_audit() and disable_audit()'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT pg_catalog.pg_has_role(session_user, (SELECT c.relowner FROM pg_catalog.pg_class c
												  WHERE c.oid OPERATOR(pg_catalog.=) tbl), 'USAGE')
	   AND NOT pg_catalog.pg_has_role(governance._db_user(), (SELECT c.relowner FROM pg_catalog.pg_class c
												  WHERE c.oid OPERATOR(pg_catalog.=) tbl), 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table "%" to record its auditing', tbl
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT * INTO ctx FROM governance._context();
	INSERT INTO governance.audit_batch VALUES (
		pg_catalog.nextval('governance.audit_batch_id_seq'), 1, pg_catalog.statement_timestamp(),
		pg_catalog.pg_current_xact_id(), tbl,
		(SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
		   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		  WHERE c.oid OPERATOR(pg_catalog.=) tbl),
		'DDL', ctx.agent_id, ctx.tenant_id, ctx.correlation_id,
		governance._db_user(), session_user, pg_catalog.current_setting('application_name'),
		pg_catalog.inet_client_addr(), NULL, pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('command', what)));
END
$$;
REVOKE ALL ON FUNCTION governance._audit_ddl(regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION governance._audit_ddl(regclass, text) TO PUBLIC;

CREATE FUNCTION governance.enable_audit(tbl regclass) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	qual CONSTANT text := pg_catalog.format('%I.%I',
		(SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
		   ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.oid OPERATOR(pg_catalog.=) tbl),
		(SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl));
	t pg_catalog.pg_trigger;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM governance._audit_check_table(tbl, 'enable');
	FOR s IN SELECT * FROM governance._audit_spec() x
			  WHERE x.relkind OPERATOR(pg_catalog.=) (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl) LOOP
		SELECT * INTO t FROM pg_catalog.pg_trigger x
		 WHERE x.tgrelid OPERATOR(pg_catalog.=) tbl AND x.tgname OPERATOR(pg_catalog.=) s.tgname;
		IF FOUND AND (t.tgfoid <> 'governance.audit_trigger()'::regprocedure OR t.tgtype <> s.tgtype
					  OR t.tgnargs <> 0 OR t.tgqual IS NOT NULL OR COALESCE(pg_catalog.array_length(t.tgattr, 1), 0) <> 0
					  OR t.tgconstraint <> 0 OR t.tgdeferrable OR t.tginitdeferred
					  OR t.tgoldtable IS DISTINCT FROM s.old_table OR t.tgnewtable IS DISTINCT FROM s.new_table) THEN
			EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', s.tgname, qual);
			t := NULL;
		END IF;
		IF t.tgname IS NULL THEN
			EXECUTE pg_catalog.format('CREATE TRIGGER %I ', s.tgname)
				 OPERATOR(pg_catalog.||) pg_catalog.format(s.clause, qual)
				 OPERATOR(pg_catalog.||) ' EXECUTE FUNCTION governance.audit_trigger()';
		ELSIF t.tgenabled NOT IN ('O', 'A') THEN
			EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER %I', qual, s.tgname);
		END IF;
	END LOOP;
	PERFORM governance._audit_ddl(tbl, 'governance.enable_audit()');
END
$$;
COMMENT ON FUNCTION governance.enable_audit(regclass) IS
	'Audit INSERT, UPDATE, DELETE and TRUNCATE of a table into governance.audit_log; idempotent, repairs a tampered audit';

CREATE FUNCTION governance.disable_audit(tbl regclass) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	qual CONSTANT text := pg_catalog.format('%I.%I',
		(SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
		   ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.oid OPERATOR(pg_catalog.=) tbl),
		(SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl));
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM governance._audit_check_table(tbl, 'disable');
	FOR s IN SELECT DISTINCT x.tgname FROM governance._audit_spec() x LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', s.tgname, qual);
	END LOOP;
	PERFORM governance._audit_ddl(tbl, 'governance.disable_audit()');
END
$$;
COMMENT ON FUNCTION governance.disable_audit(regclass) IS
	'Stop auditing a table (recorded in governance.audit_log); idempotent';

/*
 * audited_tables: the C edition's columns (relation, enabled, triggers,
 * problems) and messages.  Without event triggers (superuser-only) the SQL
 * edition cannot refuse a table owner's DISABLE TRIGGER, DROP TRIGGER,
 * CREATE RULE or inheritance change; this view shows them (tamper-evident).
 */
CREATE VIEW governance.audited_tables AS
WITH spec AS (
	SELECT * FROM governance._audit_spec()
), audited AS (
	SELECT DISTINCT t.tgrelid AS relid, c.relkind, c.relispartition, c.relpersistence
	  FROM pg_catalog.pg_trigger t
	  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid
	 WHERE t.tgparentid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
	   AND t.tgfoid OPERATOR(pg_catalog.=) 'governance.audit_trigger()'::pg_catalog.regprocedure::pg_catalog.oid
), trig AS (
	SELECT a.relid, t.tgname, t.tgenabled, t.tgqual IS NOT NULL AS has_qual,
		   (t.tgconstraint OPERATOR(pg_catalog.<>) 0::pg_catalog.oid OR t.tgdeferrable OR t.tginitdeferred) AS is_constraint,
		   s.tgname IS NOT NULL AS known,
		   (t.tgfoid OPERATOR(pg_catalog.<>) 'governance.audit_trigger()'::pg_catalog.regprocedure::pg_catalog.oid
			OR t.tgtype OPERATOR(pg_catalog.<>) s.tgtype OR t.tgnargs OPERATOR(pg_catalog.<>) 0::pg_catalog.int2
			OR t.tgoldtable IS DISTINCT FROM s.old_table OR t.tgnewtable IS DISTINCT FROM s.new_table
			OR pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.<>) 0) AS wrong_shape
	  FROM audited a
	  JOIN pg_catalog.pg_trigger t ON t.tgrelid OPERATOR(pg_catalog.=) a.relid
	  LEFT JOIN spec s ON s.relkind OPERATOR(pg_catalog.=) a.relkind AND s.tgname OPERATOR(pg_catalog.=) t.tgname
	 WHERE t.tgparentid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
	   AND (t.tgfoid OPERATOR(pg_catalog.=) 'governance.audit_trigger()'::pg_catalog.regprocedure::pg_catalog.oid
			OR s.tgname IS NOT NULL)
), problem (relid, what) AS (
	SELECT a.relid, pg_catalog.format('trigger %s is missing', s.tgname)
	  FROM audited a JOIN spec s ON s.relkind OPERATOR(pg_catalog.=) a.relkind
	 WHERE NOT EXISTS (SELECT FROM trig WHERE trig.relid OPERATOR(pg_catalog.=) a.relid
										  AND trig.tgname OPERATOR(pg_catalog.=) s.tgname)
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s is not one that enable_audit makes', tgname) FROM trig WHERE NOT known
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s has the wrong timing, level, events, transition tables, columns or arguments', tgname)
	  FROM trig WHERE known AND wrong_shape
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s has a WHEN condition', tgname) FROM trig WHERE has_qual
	UNION ALL
	SELECT relid, pg_catalog.format('trigger %s is a constraint trigger (it can be deferred to COMMIT)', tgname)
	  FROM trig WHERE is_constraint
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
	   AND d.relid::pg_catalog.oid OPERATOR(pg_catalog.<>) a.relid AND d.isleaf
	   AND NOT EXISTS (
			SELECT FROM pg_catalog.pg_trigger t
			 WHERE t.tgrelid OPERATOR(pg_catalog.=) d.relid::pg_catalog.oid
			   AND t.tgfoid OPERATOR(pg_catalog.=) 'governance.audit_trigger()'::pg_catalog.regprocedure::pg_catalog.oid
			   AND t.tgname OPERATOR(pg_catalog.=) 'governance_audit_row'::pg_catalog.name
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
	   COALESCE((SELECT pg_catalog.array_agg(p.what COLLATE pg_catalog."default" ORDER BY p.what)
				   FROM problem p WHERE p.relid OPERATOR(pg_catalog.=) a.relid),
				'{}'::pg_catalog.text[]) AS problems
  FROM audited a;
GRANT SELECT ON governance.audited_tables TO PUBLIC;
COMMENT ON VIEW governance.audited_tables IS
	'Tables with governance audit triggers; enabled only if every change of the table reaches its audit triggers (problems says why not)';
