/*
 * pg_governance, SQL edition: table migrations from 0.6 to 0.7.
 *
 * Statements that bring the TABLES (columns, constraints, storage) of an
 * installed 0.6 SQL edition to 0.7; functions, views and triggers are
 * re-created from the current sources by the upgrade script, not here.
 * Run as the installer, in the upgrade's transaction, search_path pinned to
 * pg_catalog, pg_temp.  Each helper's statements sit in a section of their own.
 */

-- == section: performance (issue 15) ==
-- Row images are compressed with lz4 where the server has it, as in the C
-- edition (sql-edition/40-audit.sql); existing rows keep their compression.
DO $lz4$
BEGIN
	ALTER TABLE governance.audit_batch
		ALTER COLUMN old_rows SET COMPRESSION lz4,
		ALTER COLUMN new_rows SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	NULL;
END
$lz4$;
-- == end of section: performance (issue 15) ==
