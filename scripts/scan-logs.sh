#!/usr/bin/env bash
# No log line produced by the test suites holds a test password.
#
# scripts/with-cluster makes a random password per throwaway cluster and
# appends it to log/.test-passwords (GOVERNANCE_PASSWORD_LOG).  This scans,
# for every password recorded there (whole, and its first and last 16
# characters, so a cut-off copy is found too):
#
#   log/**                 server logs kept by with-cluster --keep-log, the
#                          captured make check output (log/make-check.log),
#                          fuzz artifacts; everything but .test-passwords
#   results/, regression.diffs, regression.out     pg_regress
#   client/build/logs/     every client test binary's output (run-tests.sh)
#
# It prints how many files and lines it scanned and how many failed
# password logins the server logs show (the suites provoke them on
# purpose: client/test/test_hostile.c), and exits 1 naming file:line for
# each hit.  Before scanning it proves it can fail: a password planted in a
# temporary file must be found, or it exits 2.
#
#   bash scripts/scan-logs.sh [PASSWORD_FILE]
set -uo pipefail
cd "$(dirname "$0")/.."
pwfile=${1:-${GOVERNANCE_PASSWORD_LOG:-log/.test-passwords}}

# patterns: each password, its first and last 16 characters (>= 12 random ones)
patterns() {
  awk 'length($0) > 0 { print; if (length($0) > 20) { print substr($0, 1, 16); print substr($0, length($0) - 15) } }' "$1" |
    sort -u
}

# scan PATTERN_FILE FILE... -> "file:line" of every hit on stdout
scan() {
  local pat=$1; shift
  [ $# -gt 0 ] || return 0
  grep -F -n -H -a -f "$pat" -- "$@" 2>/dev/null | cut -d: -f1,2
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/scanlogs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- self-check: a planted password must be found ----
selfpw="gtp-selfcheck-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$selfpw" >"$tmp/self.pw"
printf 'line one\nFATAL:  connection to "postgresql://postgres:%s@127.0.0.1/x" refused\nline three\n' \
  "$selfpw" >"$tmp/planted.log"
printf 'a cut-off copy: %s\n' "${selfpw:0:16}" >"$tmp/planted-prefix.log"
patterns "$tmp/self.pw" >"$tmp/self.pat"
found=$(scan "$tmp/self.pat" "$tmp/planted.log" "$tmp/planted-prefix.log")
if [ "$found" != "$tmp/planted.log:2"$'\n'"$tmp/planted-prefix.log:1" ]; then
  echo "scan-logs: SELF-CHECK FAILED: a planted password was not found (got: ${found:-nothing})" >&2
  exit 2
fi
echo "scan-logs: self-check ok (a planted password is found at file:line)"

# ---- the real scan ----
if [ ! -s "$pwfile" ]; then
  echo "scan-logs: no test passwords recorded in $pwfile (DATABASE_URL's own server?): nothing to scan for"
  exit 0
fi
patterns "$pwfile" >"$tmp/run.pat"
npw=$(grep -c . "$pwfile")

files=()
while IFS= read -r -d '' f; do [ "$f" -ef "$pwfile" ] || files+=("$f"); done < <(
  { [ -d log ] && find log -type f ! -name .test-passwords -print0
    [ -d results ] && find results -type f -print0
    for f in regression.diffs regression.out; do [ -f "$f" ] && printf '%s\0' "$f"; done
    [ -d client/build/logs ] && find client/build/logs -type f -print0
  } 2>/dev/null)

lines=0
if [ ${#files[@]} -gt 0 ]; then
  lines=$(cat -- "${files[@]}" 2>/dev/null | wc -l)
fi
hits=$(scan "$tmp/run.pat" "${files[@]}")
failed_logins=0
for f in log/*.log; do
  [ -f "$f" ] || continue
  n=$(grep -c 'password authentication failed' "$f" 2>/dev/null) || n=0
  failed_logins=$((failed_logins + n))
done

echo "scan-logs: scanned ${#files[@]} files, $lines lines for $npw test password(s);" \
     "server logs show $failed_logins failed password login(s)"
if [ -n "$hits" ]; then
  echo "scan-logs: FAILED: a test password appears in:" >&2
  printf '  %s\n' $hits >&2
  exit 1
fi
echo "scan-logs: zero hits"
