/*
 * SQL edition, upgrade 0.6 -> 0.7: migrations of what the upgrade does not
 * re-create.
 *
 * `make sql-edition` builds build/pg_governance_sql--0.6--0.7.sql from the
 * upgrade guard, this file, then every function, view, trigger, comment and
 * privilege of the current sources (the files of sql-edition/), re-created in place
 * (CREATE OR REPLACE: triggers on audited tables and RLS policies keep
 * their functions).  Tables, indexes, sequences and their rows are kept as
 * they are: a change to them between 0.6 and 0.7 goes here (ALTER TABLE,
 * CREATE INDEX, INSERT INTO governance.settings ...), and so does dropping
 * a function or view whose signature or columns change (CREATE OR REPLACE
 * cannot change them) or that 0.7 no longer has.  It runs as the installer,
 * search_path pg_catalog, pg_temp, inside the upgrade's transaction;
 * qualify every name.  test/sql-edition/upgrade.sh proves the upgraded
 * schema equals a fresh 0.7 install.
 */

-- == section: performance (issue 15) ==
-- Row images are compressed with lz4 where the server has it, as in the C
-- edition (sql-edition/40-audit.sql); rows already written keep theirs.
DO $lz4$
BEGIN
	ALTER TABLE governance.audit_batch
		ALTER COLUMN old_rows SET COMPRESSION lz4,
		ALTER COLUMN new_rows SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	NULL;
END
$lz4$;
-- _write_context() returns the seal (text) instead of void and is a SQL
-- function inlined into its callers (sql-edition/10-context.sql): CREATE OR
-- REPLACE cannot change a return type.  Nothing depends on the 0.6 one (it
-- was PL/pgSQL, called by name).
DROP FUNCTION governance._write_context(text, text, text, boolean, boolean, governance.seal_key);
-- == end of section: performance (issue 15) ==
