#!/usr/bin/env bash
# 13: no piece of a password in what govpool (libgovpool) says, for any
# malformed DATABASE_URL (finding 13, ../shared/security/findings/13-*).
#
# Actor: whoever reads the application's output and logs (an operator, a log
# pipeline, another tenant of the log store) but was not given the database
# password.  A password pasted into DATABASE_URL without percent-encoding
# ('?', '/', '#', '@', ':', '%', ' ') used to come back as a "port" or
# "dbname" in the configuration error and in the connect_failed log line.
#
# Each URL below goes to `govpool check` against this cluster over TCP
# (127.0.0.1, scram: real password authentication) with a user that does not
# exist, every log line on (GOVPOOL_LOG_LEVEL=debug).  The output must hold
# no piece of 4 bytes of the password (raw or decoded), and must say what
# went wrong: the server's "password authentication failed" (the URL was
# read with the right host, user and password) or "DATABASE_URL: ..." (the
# URL was refused, and the message names the problem).  Then a role whose
# password holds every special character logs in through an unencoded URL.
#
# Uses client/build/govpool ($GOVPOOL to point elsewhere); builds it when
# missing, and skips when it cannot be built.  Runs in the dbowner pass only
# (plain and preloaded clusters alike: the server's mode changes nothing).
cd "$(dirname "$0")/../.." && . test/security/lib.bash

# Client side only: who installed the extension changes nothing here, so the
# case runs in the dbowner pass (about 50 s: one scram login per URL).
if [ "$SECURITY_INSTALLER" != dbowner ]; then
	echo "1..0 # SKIP client-side case, run in the SECURITY_INSTALLER=dbowner pass"
	exit 0
fi

gp=${GOVPOOL:-client/build/govpool}
if [ ! -x "$gp" ] && [ -z "${GOVPOOL:-}" ]; then
	make -s -C client build/govpool >/dev/null 2>&1 || true
fi
if [ ! -x "$gp" ]; then
	echo "1..0 # SKIP govpool not built ($gp)"
	exit 0
fi

host=127.0.0.1
port=${PGPORT:-5432}
base=Hq7WzKjVxR				# shares no 4-byte piece with any message
half=${base:0:5}
rest=${base:5}

# pieces PW: every 4-byte piece of PW, one a line, but those that stand in
# the host or port anyway (a random port may hold "5432")
pieces() {
	local s=$1 i p
	for ((i = 0; i + 4 <= ${#s}; i++)); do
		p=${s:i:4}
		[[ "$host:$port" == *"$p"* ]] || printf '%s\n' "$p"
	done
}

# check_url RAW DECODED EXPECT-REGEX DESCRIPTION: run govpool check with
# DATABASE_URL=postgresql://gp13_nobody:RAW@127.0.0.1:PORT/postgres.
check_url() {
	local raw=$1 decoded=$2 expect=$3 what=$4 url out leaked
	url="postgresql://gp13_nobody:${raw}@${host}:${port}/postgres"
	out=$(env -u PGPASSWORD -u PGPASSFILE PGPASSFILE=/nonexistent DATABASE_URL="$url" \
		GOVPOOL_LOG_LEVEL=debug GOVPOOL_CONNECT_ATTEMPTS=1 GOVPOOL_BREAKER_THRESHOLD=0 \
		DATABASE_CONNECT_TIMEOUT=5 timeout 30 "$gp" check 2>&1)
	leaked=$(grep -oF -f <(pieces "$raw"; pieces "$decoded") <<<"$out" | head -3 | tr '\n' ' ')
	is "$leaked" "" "$what: no piece of the password in the output"
	like "$out" "$expect" "$what: the output says what is wrong"
}

auth_failed='password authentication failed for user "gp13_nobody"'
refused='configuration error: DATABASE_URL: .*(percent-encode|percent-encoding|%40)'

# raw-in-URL  decoded  what-must-be-said
cases=(
	# the finding's URLs (host and database made local)
	"S3cr?tPass" "S3cr?tPass" "$auth_failed"
	"Sec/retPass" "Sec/retPass" "$auth_failed"
	"5432/TopSecretPw" "5432/TopSecretPw" "$auth_failed"
)
for c in '?' '/' '#' '@' ':' ' ' '??' '//' '@@' '?#:' '/?@' ':5432/' '%3F' '%2F' '%40' '%25'; do
	case "$c" in
		%3F) d='?' ;; %2F) d='/' ;; %40) d='@' ;; %25) d='%' ;; *) d=$c ;;
	esac
	cases+=("$c$base" "$d$base" "$auth_failed"
		"$half$c$rest" "$half$d$rest" "$auth_failed"
		"$base$c" "$base$d" "$auth_failed")
done
# refused: bad escapes, and an '@' followed by a host and a '/' or '?' (two readings)
for c in '%' '%zz' '%G1' '@db/' '@x?' '@127.0.0.1/'; do
	cases+=("$c$base" "$base" "$refused"
		"$half$c$rest" "$base" "$refused"
		"$base$c" "$base" "$refused")
done

plan $(( ${#cases[@]} / 3 * 2 + 3 ))
for ((i = 0; i < ${#cases[@]}; i += 3)); do
	check_url "${cases[i]}" "${cases[i + 1]}" "${cases[i + 2]}" "password [${cases[i]}]"
done

# A role whose password holds every special character logs in through an
# unencoded URL: the reading is right, not only quiet.
role=gp13_pw_$$
pw="Zq?7/Kw#9@Xc:W% v"
sql_pw=${pw//\'/\'\'}
trap 'printf "DROP ROLE IF EXISTS %s;\n" "$role" | as postgres postgres >/dev/null' EXIT
printf "CREATE ROLE %s LOGIN PASSWORD '%s';\n" "$role" "$sql_pw" | as postgres postgres >/dev/null ||
	bail "cannot create role $role"
raw=${pw//%/%25}				# '%' alone is an escape: the one character that must be encoded
out=$(env -u PGPASSWORD PGPASSFILE=/nonexistent \
	DATABASE_URL="postgresql://$role:${raw}@${host}:${port}/postgres" GOVPOOL_LOG_LEVEL=debug \
	GOVPOOL_CONNECT_ATTEMPTS=1 DATABASE_CONNECT_TIMEOUT=5 timeout 30 "$gp" check 2>&1)
like "$out" "^ok: .*user=$role" "unencoded ? / # @ : and space in the password: logged in"
leaked=$(grep -oF -f <(pieces "$pw"; pieces "$raw") <<<"$out" | head -3 | tr '\n' ' ')
is "$leaked" "" "the successful check shows no piece of the password"
ok 0 "(role $role dropped on exit)"
done_testing
