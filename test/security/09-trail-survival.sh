#!/usr/bin/env bash
# Finding 09 and its class: the trail survives its installer.  While
# governance.audit_batch or governance.denied_log holds rows, no
# non-superuser can destroy them: DROP OWNED BY the installer (with or
# without CASCADE), DROP EXTENSION (also when only denied_log has rows),
# DROP SCHEMA governance CASCADE, ALTER EXTENSION ... DROP of a log,
# REASSIGN OWNED then dropping as the new owner.  A superuser can (the
# documented way to retire a trail).
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 15
db=sec09
sec_db $db
sec_install $db >/dev/null || bail "cannot install"

trail() {  # prints audit_batch rows / denied_log rows, or "gone"
	as postgres $db <<'SQL'
SELECT CASE WHEN pg_catalog.to_regclass('governance.audit_batch') IS NULL
             OR pg_catalog.to_regclass('governance.denied_log') IS NULL THEN 'gone'
       ELSE (SELECT count(*) FROM governance.audit_batch)::text || '/' ||
            (SELECT count(*) FROM governance.denied_log)::text END;
SQL
}
ext_owner() {
	as postgres $db <<<"SELECT r.rolname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_roles r ON r.oid = e.extowner WHERE e.extname = 'pg_governance';"
}
refused() {  # refused ROLE DESCRIPTION [owner]  (SQL on stdin)
	# With "owner", the command only reaches the trail when ROLE owns the
	# extension (a trusted install by dbowner); then it must be refused.
	# Either way the trail must be intact afterwards.
	local out before after must=yes
	before=$(trail)
	[ "${3:-}" = owner ] && [ "$(ext_owner)" != "$1" ] && must=no
	out=$(as "$1" $db)
	if [ $must = yes ]; then like "$out" 'ERROR' "refused: $2"
	else ok 0 "not refused, the extension is not $1's: $2"; fi
	after=$(trail)
	# intact: still there, and no fewer rows (a dropped audited table adds a DDL row)
	if [ "$after" != gone ] && [ "${after%/*}" -ge "${before%/*}" ] && [ "${after#*/}" -ge "${before#*/}" ]; then
		ok 0 "the trail is intact after: $2 ($before -> $after)"
	else
		ok 1 "the trail is intact after: $2 ($before -> $after)"
	fi
}

# (b) first: only denied_log holds rows (a superuser stands in for the writer)
as postgres $db >/dev/null <<'SQL' || bail "cannot fill denied_log"
INSERT INTO governance.denied_log (at, logged_at, source, action, sqlstate, backend_pid, message)
VALUES (now(), now(), 'rls', 'refused', '42501', pg_backend_pid(), 'test denial');
SQL
is "$(trail)" "0/1" "set-up: only denied_log holds a row"
refused dbowner "DROP EXTENSION with rows in denied_log only (finding 09b)" <<<'DROP EXTENSION pg_governance CASCADE;'

# (a) the audit trail
as dbowner $db >/dev/null <<'SQL' || bail "cannot fill audit_batch"
CREATE TABLE t (id int);
SELECT governance.enable_audit('t');
BEGIN; SELECT governance.set_context('alice'); INSERT INTO t VALUES (1), (2); COMMIT;
SQL
refused dbowner "DROP OWNED BY the installer (finding 09a)" owner <<<'DROP OWNED BY dbowner;'
refused dbowner "DROP OWNED BY the installer CASCADE" owner <<<'DROP OWNED BY dbowner CASCADE;'
refused dbowner "DROP SCHEMA governance CASCADE" <<<'DROP SCHEMA governance CASCADE;'
refused dbowner "ALTER EXTENSION ... DROP TABLE governance.audit_batch" <<<'ALTER EXTENSION pg_governance DROP TABLE governance.audit_batch;'
# REASSIGN OWNED hands the installer's objects to another role; that role
# cannot drop the trail either.
as postgres $db >/dev/null <<<'GRANT app_a TO dbowner; ALTER ROLE dbowner CREATEDB;' || bail "cannot grant"
out=$(as dbowner $db <<<'REASSIGN OWNED BY dbowner TO app_a;'); ok $? "REASSIGN OWNED BY dbowner TO app_a ($out)"
refused app_a "DROP OWNED BY the new owner after REASSIGN OWNED" owner <<<'DROP OWNED BY app_a;'
as postgres $db >/dev/null <<<'REVOKE app_a FROM dbowner; ALTER ROLE dbowner NOCREATEDB;'
# the superuser can retire the trail
out=$(as postgres $db <<<'DROP EXTENSION pg_governance CASCADE;'); ok $? "a superuser can drop the extension ($out)"
done_testing
