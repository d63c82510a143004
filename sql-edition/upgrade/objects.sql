-- Every object in schema governance, as pg_describe_object() names it, its
-- owner (a trigger's, rule's, policy's or constraint's: its table's) and its
-- catalog and oid.
-- The upgrade guard (scripts/build-sql-edition.py) compares it with the
-- list a release installs (sql-edition/released/pg_governance_sql--V.objects)
-- and refuses a schema with any other object or any owner but the running
-- role.  Run with search_path = pg_catalog, pg_temp (names of types
-- outside pg_catalog are then qualified); one SELECT, no semicolon.
SELECT pg_catalog.pg_describe_object(o.classid, o.objid, 0) AS object, o.owner, o.classid, o.objid
  FROM (SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, c.oid AS objid, c.relowner AS owner
		  FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance' AND c.relnamespace OPERATOR(pg_catalog.=) n.oid
		UNION ALL
		SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, p.proowner
		  FROM pg_catalog.pg_proc p, pg_catalog.pg_namespace n
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance' AND p.pronamespace OPERATOR(pg_catalog.=) n.oid
		UNION ALL
		SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, t.typowner
		  FROM pg_catalog.pg_type t, pg_catalog.pg_namespace n
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance' AND t.typnamespace OPERATOR(pg_catalog.=) n.oid
		UNION ALL
		SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, x.oid, x.oprowner
		  FROM pg_catalog.pg_operator x, pg_catalog.pg_namespace n
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance' AND x.oprnamespace OPERATOR(pg_catalog.=) n.oid
		UNION ALL
		SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, x.oid, x.collowner
		  FROM pg_catalog.pg_collation x, pg_catalog.pg_namespace n
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance' AND x.collnamespace OPERATOR(pg_catalog.=) n.oid
		UNION ALL
		SELECT 'pg_catalog.pg_conversion'::pg_catalog.regclass, x.oid, x.conowner
		  FROM pg_catalog.pg_conversion x, pg_catalog.pg_namespace n
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance' AND x.connamespace OPERATOR(pg_catalog.=) n.oid
		UNION ALL
		SELECT 'pg_catalog.pg_opclass'::pg_catalog.regclass, x.oid, x.opcowner
		  FROM pg_catalog.pg_opclass x, pg_catalog.pg_namespace n
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance' AND x.opcnamespace OPERATOR(pg_catalog.=) n.oid
		UNION ALL
		SELECT 'pg_catalog.pg_opfamily'::pg_catalog.regclass, x.oid, x.opfowner
		  FROM pg_catalog.pg_opfamily x, pg_catalog.pg_namespace n
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance' AND x.opfnamespace OPERATOR(pg_catalog.=) n.oid
		UNION ALL
		SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, x.oid, x.stxowner
		  FROM pg_catalog.pg_statistic_ext x, pg_catalog.pg_namespace n
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance' AND x.stxnamespace OPERATOR(pg_catalog.=) n.oid
		UNION ALL
		SELECT 'pg_catalog.pg_ts_config'::pg_catalog.regclass, x.oid, x.cfgowner
		  FROM pg_catalog.pg_ts_config x, pg_catalog.pg_namespace n
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance' AND x.cfgnamespace OPERATOR(pg_catalog.=) n.oid
		UNION ALL
		SELECT 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, x.oid, x.dictowner
		  FROM pg_catalog.pg_ts_dict x, pg_catalog.pg_namespace n
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance' AND x.dictnamespace OPERATOR(pg_catalog.=) n.oid
		UNION ALL
		SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, x.oid, c.relowner
		  FROM pg_catalog.pg_constraint x
		  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) x.conrelid
		  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance'
		UNION ALL
		SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass, x.oid, c.relowner
		  FROM pg_catalog.pg_trigger x
		  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) x.tgrelid
		  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance'
		UNION ALL
		SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass, x.oid, c.relowner
		  FROM pg_catalog.pg_rewrite x
		  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) x.ev_class
		  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance'
		UNION ALL
		SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass, x.oid, c.relowner
		  FROM pg_catalog.pg_policy x
		  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) x.polrelid
		  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		 WHERE n.nspname OPERATOR(pg_catalog.=) 'governance') o
