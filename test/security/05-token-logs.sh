#!/usr/bin/env bash
# Tokens stay out of the server log and denied_log.  A failing
# set_context_signed() logs its error without the STATEMENT line (the
# statement may hold the token: errhidestmt), so neither a token sent as a
# bind parameter (as libgovpool must send it) nor one spliced into the SQL
# text reaches the log through a refusal; an attempt denied under a signed
# context records its own statement text, never a token sent as a
# parameter.  (A token spliced into the text of a statement that fails for
# another reason is recorded with the token replaced by [token] in
# denied_log and the server log's STATEMENT line is left out; one logged by
# log_statement / log_min_duration_statement is PostgreSQL's logging of
# that text: tokens travel as parameters, and
# log_parameter_max_length = 0 keeps parameter values out: docs/security.md.)
#
# The bind-parameter client is pgbench -M extended (its :variables are
# bind parameters); the literal one psql -c.
cd "$(dirname "$0")/../.." && . test/security/lib.bash
log=${GOVERNANCE_SERVER_LOG:-}
if [ -z "$log" ] || [ ! -r "$log" ] || ! command -v pgbench >/dev/null; then
	echo "1..0 # SKIP needs the throwaway cluster's server log and pgbench"; exit 0
fi
plan 28
db=sec05t
key=0123456789abcdef0123456789abcdef-sec05t-key
sec_db $db
sec_install $db >/dev/null || bail "cannot install the extension"
as postgres $db >/dev/null <<SQL || bail "cannot set up orders"
CREATE TABLE public.orders (id int PRIMARY KEY, tenant text, agent text, v text);
ALTER TABLE public.orders OWNER TO app_a;
ALTER DATABASE $db SET governance.signing_key = '$key';
SQL
as app_a $db >/dev/null <<'SQL' || bail "cannot govern orders"
SELECT governance.enable_audit('orders');
SELECT governance.enable_rls('orders', 'agent', 'tenant');
GRANT SELECT, INSERT ON orders TO app_b;
SQL

# the system python3 (a version manager's shim can take seconds to start)
py=$(command -v /usr/bin/python3 || command -v python3)
# mint PAYLOAD-JSON [KEY]: a token (the payload's exp is relative: +N seconds)
mint() {
	"$py" - "$1" "${2:-$key}" <<'PY'
import base64, hashlib, hmac, json, sys, time
claims, key = json.loads(sys.argv[1]), sys.argv[2]
claims["exp"] = int(time.time()) + claims["exp"]
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
p = b(json.dumps(claims).encode())
print(p + "." + b(hmac.new(key.encode(), p.encode(), hashlib.sha256).digest()))
PY
}

# bound ROLE SCRIPT TOKEN: run SCRIPT through pgbench with :tok bound as $1
bound() {
	local f
	f=$(mktemp); printf '%s\n' "$2" >"$f"; chmod 644 "$f"
	pgbench -n -M extended -t 1 -U "$1" -d $db -D tok="$3" -f "$f" >/dev/null 2>&1
	rm -f "$f"
}

# ---- refused tokens: the error and the parameterised statement, no token ----
while IFS='|' read -r what claims signer message; do
	for how in parameter literal; do
		tok=$(mint "$claims" "${signer:-$key}")
		before=$(wc -c <"$log")
		if [ $how = parameter ]; then
			bound app_b 'SELECT governance.set_context_signed(:tok);' "$tok"
		else
			printf "SELECT governance.set_context_signed('%s');\n" "$tok" | as_all app_b $db >/dev/null
		fi
		new=$(tail -c +$((before + 1)) "$log")
		like "$new" "ERROR:  $message" "$what, as a $how: the server log has the error"
		grep -qF -e "${tok%%.*}" -e "${tok#*.}" <<<"$new"; ok $((! $?)) "$what, as a $how: no part of the token is in the server log"
	done
done <<'CASES'
a bad signature|{"agent_id": "leak-1", "exp": 60}|fedcba9876543210fedcba9876543210-other-key|governance token signature is invalid
an expired token|{"agent_id": "leak-2", "exp": -10}||governance token has expired
a token living too long|{"agent_id": "leak-3", "exp": 7200}||governance token lives longer than governance.token_max_lifetime
a token for another role|{"agent_id": "leak-4", "role": "app_a", "exp": 60}||governance token is not for this role
a signed payload with a bad claim|{"agent_id": "leak\u0001-5", "exp": 60}||invalid value for governance.agent_id
CASES

# ---- denied_log under a signed context: the statement, never the token ----
tok=$(mint '{"agent_id": "alice", "tenant_id": "acme", "correlation_id": "leak-denied", "exp": 60}')
before=$(wc -c <"$log")
bound app_b 'BEGIN;
SELECT governance.set_context_signed(:tok);
INSERT INTO orders VALUES (1, $$globex$$, $$alice$$, $$x$$);
END;' "$tok"
new=$(tail -c +$((before + 1)) "$log")
for _ in $(seq 100); do
	n=$(printf "SELECT count(*) FROM governance.denied_log WHERE correlation_id = 'leak-denied';\n" | as postgres $db)
	[ "$n" = 1 ] && break; sleep 0.1
done
is "$n" 1 "the denied INSERT under the signed context is in denied_log"
stmt=$(printf "SELECT statement FROM governance.denied_log WHERE correlation_id = 'leak-denied';\n" | as postgres $db)
like "$stmt" '^INSERT INTO orders' "denied_log records the denied statement's text"
grep -qF -e "${tok%%.*}" -e "${tok#*.}" <<<"$stmt"; ok $((! $?)) "no part of the token is in denied_log"
grep -qF -e "${tok%%.*}" -e "${tok#*.}" <<<"$new"; ok $((! $?)) "no part of the token is in the server log of that session"

# ---- a token spliced into the text of a statement denied for another reason ----
tok=$(mint '{"agent_id": "alice", "tenant_id": "acme", "correlation_id": "leak-spliced", "exp": 60}')
before=$(wc -c <"$log")
# psql -c sends both statements as one simple query: one implicit transaction
psql -XqAt -U app_b -d $db -c "SELECT governance.set_context_signed('$tok'); INSERT INTO orders VALUES (2, 'globex', 'alice', 'x');" >/dev/null 2>&1
new=$(tail -c +$((before + 1)) "$log")
for _ in $(seq 100); do
	n=$(printf "SELECT count(*) FROM governance.denied_log WHERE correlation_id = 'leak-spliced';\n" | as postgres $db)
	[ "$n" = 1 ] && break; sleep 0.1
done
is "$n" 1 "an INSERT denied in the same query string as a spliced token is in denied_log"
stmt=$(printf "SELECT statement FROM governance.denied_log WHERE correlation_id = 'leak-spliced';\n" | as postgres $db)
like "$stmt" "set_context_signed\\('\\[token\\]'\\); INSERT INTO orders" "denied_log keeps the statement with the token replaced by [token]"
grep -qF -e "${tok%%.*}" -e "${tok#*.}" <<<"$stmt"; ok $((! $?)) "no part of the spliced token is in denied_log"
grep -qF -e "${tok%%.*}" -e "${tok#*.}" <<<"$new"; ok $((! $?)) "no part of the spliced token is in the server log (error without STATEMENT, JSON line redacted)"
done_testing
