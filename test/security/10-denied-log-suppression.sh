#!/usr/bin/env bash
# Finding 10 and its class: nothing a non-superuser can set keeps a refusal
# out of governance.denied_log.  A read-only default (session SET, BEGIN READ
# ONLY, ALTER ROLE ... SET, ALTER DATABASE ... SET by the database owner), an
# EXCEPTION block that swallows the RLS error, a savepoint rolled back around
# it, the session killing itself, a tiny statement_timeout: the attempt is
# still recorded, in the plain cluster by the denied backend (at its next
# statement or on exit), in the preloaded one by the background writer,
# whose transaction must not inherit the database's read-only default.
cd "$(dirname "$0")/../.." && . test/security/lib.bash

mode=${GOVERNANCE_MODE:-}
if [ -z "$mode" ]; then
	if psql -XAtq -d postgres -c 'SHOW shared_preload_libraries' | grep -q pg_governance; then mode=preload; else mode=plain; fi
fi
if [ "$mode" = preload ]; then writer=worker; else writer=backend; fi

plan 14
db=sec10
sec_db $db
sec_install $db >/dev/null || bail "cannot install pg_governance"
as app_a $db >/dev/null <<'SQL' || bail "cannot set up docs"
CREATE TABLE docs (id int, tenant text, body text);
SELECT governance.enable_rls('docs', tenant_column => 'tenant');
GRANT ALL ON docs TO app_b;
SQL

# recorded WHERE: wait (up to 10 s) for a denied_log row matching WHERE, then
# print how many there are.  Polls: the row comes from another process.
recorded() {
	as postgres $db <<SQL
DO \$\$ BEGIN
  FOR i IN 1..500 LOOP
    EXIT WHEN EXISTS (SELECT FROM governance.denied_log WHERE $1);
    PERFORM pg_catalog.pg_sleep(0.02);
  END LOOP;
END \$\$;
SELECT count(*) FROM governance.denied_log WHERE $1;
SQL
}

# 1. the session defaults to read-only; the attempt is made in a read-write
#    transaction that rolls back; the session goes on read-only, then ends.
as_all app_b $db >/dev/null <<'SQL'
SET default_transaction_read_only = on;
BEGIN READ WRITE;
SELECT governance.set_context('eve', 'acme', 'ro-session');
INSERT INTO docs VALUES (3, 'globex', 'cross-tenant write attempt');
ROLLBACK;
SELECT 1;
SQL
is "$(recorded "correlation_id = 'ro-session'")" 1 "session default_transaction_read_only: the refusal is recorded"
is "$(as postgres $db <<<"SELECT source || '/' || recorded_by FROM governance.denied_log WHERE correlation_id = 'ro-session'")" \
	"rls/$writer" "... by the $writer"

# 2. a refusal inside BEGIN READ ONLY (require_context = enforce refuses a
#    read without a context), the session only ever runs read-only ones.
as postgres $db >/dev/null <<<"ALTER ROLE app_b IN DATABASE $db SET governance.require_context = enforce;" ||
	bail "cannot set require_context"
PGAPPNAME=ro-xact as_all app_b $db >/dev/null <<'SQL'
BEGIN READ ONLY;
SELECT count(*) FROM docs;
ROLLBACK;
BEGIN READ ONLY;
SELECT 1;
COMMIT;
SQL
is "$(recorded "application_name = 'ro-xact' AND source = 'require_context'")" 1 \
	"BEGIN READ ONLY: the refusal is recorded"
as postgres $db >/dev/null <<<"ALTER ROLE app_b IN DATABASE $db RESET governance.require_context;"

# 3. the role makes every one of its sessions read-only (ALTER ROLE ... SET)
as app_b $db >/dev/null <<<"ALTER ROLE app_b SET default_transaction_read_only = on;" ||
	bail "app_b cannot ALTER ROLE itself"
as_all app_b $db >/dev/null <<'SQL'
BEGIN READ WRITE;
SELECT governance.set_context('eve', 'acme', 'ro-role');
INSERT INTO docs VALUES (4, 'globex', 'x');
ROLLBACK;
SQL
as app_b $db >/dev/null <<<"SET default_transaction_read_only = off; ALTER ROLE app_b RESET default_transaction_read_only;" ||
	bail "cannot reset app_b"
is "$(recorded "correlation_id = 'ro-role'")" 1 "ALTER ROLE ... SET default_transaction_read_only: the refusal is recorded"

# 4. the database owner makes the whole database read-only by default: the
#    denied backend's exit flush (plain) and the background writer (preload)
#    run in transactions that default to read-only.
as dbowner $db >/dev/null <<<"ALTER DATABASE $db SET default_transaction_read_only = on;" ||
	bail "dbowner cannot ALTER DATABASE"
# (preload) a writer connected before the ALTER keeps its settings: wait
# until it has gone idle and exited, so that the next one connects anew
as postgres postgres >/dev/null <<SQL
DO \$\$ BEGIN
  FOR i IN 1..500 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity
                           WHERE backend_type = 'pg_governance writer' AND datname = '$db');
    PERFORM pg_catalog.pg_sleep(0.02);
  END LOOP;
END \$\$;
SQL
as_all app_b $db >/dev/null <<'SQL'
BEGIN READ WRITE;
SELECT governance.set_context('eve', 'acme', 'ro-database');
INSERT INTO docs VALUES (5, 'globex', 'x');
ROLLBACK;
SQL
is "$(recorded "correlation_id = 'ro-database'")" 1 "ALTER DATABASE ... SET default_transaction_read_only: the refusal is recorded"
is "$(as postgres $db <<<"SELECT recorded_by FROM governance.denied_log WHERE correlation_id = 'ro-database'")" \
	"$writer" "... by the $writer"

# 5. ... and a session of that database that kills itself right after
as_all app_b $db >/dev/null <<'SQL'
BEGIN READ WRITE;
SELECT governance.set_context('eve', 'acme', 'ro-terminated');
INSERT INTO docs VALUES (6, 'globex', 'x');
ROLLBACK;
SELECT pg_catalog.pg_terminate_backend(pg_catalog.pg_backend_pid());
SQL
is "$(recorded "correlation_id = 'ro-terminated'")" 1 "read-only database, session terminates itself: the refusal is recorded"
as dbowner $db >/dev/null <<<"SET default_transaction_read_only = off; ALTER DATABASE $db RESET default_transaction_read_only;" ||
	bail "cannot reset the database"

# 6. an EXCEPTION block swallows the RLS error (it is never reported)
out=$(as app_b $db <<'SQL'
BEGIN;
SELECT governance.set_context('eve', 'acme', 'swallowed');
DO $$ BEGIN
  INSERT INTO docs VALUES (7, 'globex', 'x');
EXCEPTION WHEN insufficient_privilege THEN RAISE NOTICE 'caught';
END $$;
COMMIT;
SQL
)
ok $? "the EXCEPTION block caught the refusal and the transaction committed ($out)"
is "$(recorded "correlation_id = 'swallowed'")" 1 "an RLS refusal caught by an EXCEPTION block is recorded"

# 7. a savepoint rolled back around the attempt, then COMMIT
as_all app_b $db >/dev/null <<'SQL'
BEGIN;
SELECT governance.set_context('eve', 'acme', 'savepoint');
SAVEPOINT s;
INSERT INTO docs VALUES (8, 'globex', 'x');
ROLLBACK TO SAVEPOINT s;
COMMIT;
SQL
is "$(recorded "correlation_id = 'savepoint'")" 1 "an RLS refusal rolled back to a savepoint is recorded"

# 8. a statement_timeout of 1 ms for every statement after the attempt,
#    including the one whose start writes the queued record
as_all app_b $db >/dev/null <<'SQL'
BEGIN;
SELECT governance.set_context('eve', 'acme', 'timeout');
INSERT INTO docs VALUES (9, 'globex', 'x');
ROLLBACK;
SET statement_timeout = 1;
SELECT count(*) FROM generate_series(1, 10000);
SELECT count(*) FROM generate_series(1, 10000);
SQL
is "$(recorded "correlation_id = 'timeout'")" 1 "statement_timeout = 1 ms after the attempt: the refusal is recorded"

# 9. the session is ended by idle_in_transaction_session_timeout while the
#    transaction of the attempt is still open (aborted)
as_all app_b $db >/dev/null <<'SQL'
SET idle_in_transaction_session_timeout = 100;
BEGIN;
SELECT governance.set_context('eve', 'acme', 'idle-timeout');
INSERT INTO docs VALUES (10, 'globex', 'x');
\! sleep 1
SQL
is "$(recorded "correlation_id = 'idle-timeout'")" 1 "a session ended by idle_in_transaction_session_timeout: the refusal is recorded"

# 10. nothing recorded twice (the EXCEPTION case is seen where it is raised
#    and must not be recorded again when reported)
is "$(as postgres $db <<<"SELECT count(*) FROM governance.denied_log WHERE correlation_id IN ('ro-session','ro-role','ro-database','ro-terminated','swallowed','savepoint','timeout','idle-timeout')")" \
	8 "each attempt is recorded once"

# 11. log_min_messages, which decides whether an error reaches emit_log_hook,
#     is not the app role's to raise, not even for itself
out=$(as_all app_b $db <<<"SET log_min_messages = panic; ALTER ROLE app_b SET log_min_messages = panic;")
like "$out" "permission denied to set parameter \"log_min_messages\"" "log_min_messages cannot be raised by the app role"

done_testing
