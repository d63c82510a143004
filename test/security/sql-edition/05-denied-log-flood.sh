#!/usr/bin/env bash
# SQL edition: one role cannot flood denied_log (0.8; the C edition's
# governance.denied_log_role_limit, docs/security.md).  With require_context
# = warn every statement an app role runs on a governed table without a
# context goes on and adds a row: without a bound, app_b, opening session
# after session, buries a real attempt among its own rows and fills the disk.
# denied_log_role_limit (governance.settings, default 60) bounds the rows of
# one role per minute; other roles keep theirs, superusers are not bound,
# every attempt over the bound keeps its server-log line, which says so.
cd "$(dirname "$0")/../../.." && . test/security/lib.bash
plan 9
db=sqled05
sec_db $db
sec_install_sql $db >/dev/null || bail "cannot install the SQL edition"

as app_a $db >/dev/null <<'SQL' || bail "cannot set up notes"
CREATE TABLE public.notes (id serial PRIMARY KEY, body text);
SELECT governance.enable_audit('notes');
GRANT SELECT, INSERT ON notes TO app_b;
GRANT USAGE ON SEQUENCE notes_id_seq TO app_b;
SQL
as dbowner $db >/dev/null <<'SQL' || bail "cannot configure require_context"
SELECT governance.set_setting('require_context', 'warn');
SELECT governance.set_setting('denied_log_role_limit', '5');
SQL
rows() {  # rows ROLE: denied_log rows of ROLE
	printf "SELECT count(*) FROM governance.denied_log WHERE db_session_user = '%s' AND message <> 'old';\n" "$1" | as dbowner $db
}

# app_b: four sessions of ten statements each, every one warned, committed
for s in 1 2 3 4; do
	for i in $(seq 10); do printf "INSERT INTO notes (body) VALUES ('flood %s.%s');\n" $s $i; done | as_all app_b $db >/dev/null
done
is "$(printf 'SELECT count(*) FROM notes;\n' | as app_a $db)" 40 "every warned statement went on (40 rows written)"
is "$(rows app_b)" 5 "but app_b's 40 attempts in four sessions left 5 denied_log rows, its limit per minute"
n=$(grep -ac '"db_session_user" : "app_b".*"over_role_limit" : true' "$GOVERNANCE_SERVER_LOG" || true)
is "$n" 35 "each of the 35 attempts over the limit has its server-log line, which says so"

# another role keeps its own rows
for i in 1 2 3; do printf "INSERT INTO notes (body) VALUES ('a %s');\n" $i; done | as_all app_a $db >/dev/null
is "$(rows app_a)" 3 "app_a's own attempts are recorded: the bound is per role"

# ... and so does one transaction of app_b's after the others: still bounded
{ echo "BEGIN;"; for i in $(seq 10); do echo "INSERT INTO notes (body) VALUES ('tx $i');"; done; echo "COMMIT;"; } |
	as_all app_b $db >/dev/null
is "$(rows app_b)" 5 "ten more in one transaction: no row over the limit"

# the count reads the role's rows of the last minute only (through the
# index), not all it ever logged: 1,000 old rows of app_b's, a limit app_b
# is under (so the count must look at all its candidates), then one more
# warned statement reads a few rows (counted by the statistics of app_b's
# own transaction, not by time)
as dbowner $db >/dev/null <<'SQL' || bail "cannot add old rows"
SELECT governance.set_setting('denied_log_role_limit', '100');
INSERT INTO governance.denied_log (at, logged_at, source, action, sqlstate, db_session_user, backend_pid, message)
SELECT now() - interval '1 hour', now() - interval '1 hour', 'require_context', 'warned', '01007', 'app_b', 1, 'old'
  FROM generate_series(1, 1000);
ANALYZE governance.denied_log;
SQL
read_n=$(as_all app_b $db <<'SQL' | tail -n 1
BEGIN;
INSERT INTO notes (body) VALUES ('one more');
SELECT pg_stat_get_xact_tuples_returned('governance.denied_log'::regclass)
       + pg_stat_get_xact_tuples_fetched('governance.denied_log'::regclass);
COMMIT;
SQL
)
ok $([ -n "$read_n" ] && [ "$read_n" -lt 50 ]; echo $?) "counting app_b's last minute read $read_n rows of denied_log, not its 1,000 older ones"
printf "SELECT governance.set_setting('denied_log_role_limit', '5');\n" | as dbowner $db >/dev/null

# superusers are not bound
for i in $(seq 8); do printf "INSERT INTO notes (body) VALUES ('su %s');\n" $i; done | as_all postgres $db >/dev/null
is "$(rows postgres)" 8 "a superuser's attempts are all recorded (not bound)"

# 0: no bound
printf "SELECT governance.set_setting('denied_log_role_limit', '0');\n" | as dbowner $db >/dev/null
for i in $(seq 7); do printf "INSERT INTO notes (body) VALUES ('zero %s');\n" $i; done | as_all app_b $db >/dev/null
is "$(rows app_b)" 13 "denied_log_role_limit 0: no bound (7 more rows)"

# the setting is checked
out=$(printf "SELECT governance.set_setting('denied_log_role_limit', '1000001');\n" | as_all dbowner $db)
like "$out" 'invalid value for governance setting "denied_log_role_limit"' "a limit over 1000000 is refused"

done_testing
