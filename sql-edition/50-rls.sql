/*
 * Row-level security: enable_rls() and its policy guard.
 *
 * enable_rls(tbl, agent_column, tenant_column) enables and forces RLS and
 * (re)creates the policy governance_context for all commands, the same
 * policy as the C edition's:
 *   (SELECT governance.rls_guard(tbl)) AND agent_column = (SELECT governance.agent_id())
 *   AND tenant_column = (SELECT governance.tenant_id())
 * so the context is read (and verified) once per query.  It runs with the
 * caller's rights: the caller must own the table.
 */

/*
 * The guard applies require_context once per query.  VOLATILE (unlike the
 * C edition's STABLE guard) because in warn mode it writes the denied_log
 * row itself; as an InitPlan it still runs once per query.  PARALLEL
 * RESTRICTED: it runs in the session's own backend.
 */
CREATE FUNCTION governance.rls_guard(tbl regclass) RETURNS boolean
	LANGUAGE plpgsql VOLATILE PARALLEL RESTRICTED SECURITY DEFINER STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM governance._require_context(tbl, 'SELECT');
	RETURN true;
END
$$;
COMMENT ON FUNCTION governance.rls_guard(regclass) IS
	'Policy helper of enable_rls(): applies require_context; not for direct use';

CREATE FUNCTION governance._rls_condition(tbl regclass, col name, accessor text, role text) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	typ oid;
	cat "char";
BEGIN
	SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col
	   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation "%" does not exist', col, pg_catalog.get_rel_name(tbl)
			USING ERRCODE = 'undefined_column', HINT = pg_catalog.format('Pass the name of the column that holds the %s id.', role);
	END IF;
	-- the category of the type under any domains
	SELECT t.typcategory INTO cat FROM pg_catalog.pg_type t
	 WHERE t.oid OPERATOR(pg_catalog.=) governance._base_type(typ);
	RETURN pg_catalog.format(' AND %I%s OPERATOR(pg_catalog.=) (SELECT governance.%s())',
							 col, CASE WHEN cat = 'S' THEN '' ELSE '::pg_catalog.text' END, accessor);
END
$$;

CREATE FUNCTION governance.enable_rls(tbl regclass, agent_column name DEFAULT NULL,
									  tenant_column name DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c pg_catalog.pg_class;
	qual text;
	cond text;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF agent_column IS NULL AND tenant_column IS NULL THEN
		RAISE EXCEPTION 'enable_rls needs an agent column, a tenant column or both'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass agent_column, tenant_column or both.';
	END IF;
	SELECT * INTO c FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) tbl;
	IF c.relkind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'cannot enable row-level security on "%" because it is not a table', c.relname
			USING ERRCODE = 'wrong_object_type', HINT = 'Row-level security applies to tables and partitioned tables.';
	END IF;
	IF NOT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table "%" to enable row-level security', c.relname
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Ask the owner of the table to run governance.enable_rls().';
	END IF;
	qual := pg_catalog.format('%I.%I', (SELECT n.nspname FROM pg_catalog.pg_namespace n
										 WHERE n.oid OPERATOR(pg_catalog.=) c.relnamespace), c.relname);
	cond := pg_catalog.format('(SELECT governance.rls_guard(%L::pg_catalog.regclass))', tbl::oid);
	IF agent_column IS NOT NULL THEN
		cond := cond OPERATOR(pg_catalog.||) governance._rls_condition(tbl, agent_column, 'agent_id', 'agent');
	END IF;
	IF tenant_column IS NOT NULL THEN
		cond := cond OPERATOR(pg_catalog.||) governance._rls_condition(tbl, tenant_column, 'tenant_id', 'tenant');
	END IF;
	EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', qual);
	-- (not DROP POLICY IF EXISTS: its NOTICE is one the C edition does not print)
	IF EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid OPERATOR(pg_catalog.=) tbl
			   AND p.polname OPERATOR(pg_catalog.=) 'governance_context') THEN
		EXECUTE pg_catalog.format('DROP POLICY governance_context ON %s', qual);
	END IF;
	EXECUTE pg_catalog.format('CREATE POLICY governance_context ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
							  qual, cond, cond);
END
$$;
COMMENT ON FUNCTION governance.enable_rls(regclass, name, name) IS
	'Enable and force row-level security with a policy keyed on governance.agent_id() / tenant_id(); idempotent';
