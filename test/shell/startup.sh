#!/usr/bin/env bash
# TAP: context values that reach the server without SQL's own checks
# (connection options, set before the library is loaded) are validated, and
# even valid ones never take effect: only governance.set_context() sets the
# context (test/security/05-context-routes.sh has every route).
# Runs against the server PG* points at; GOVERNANCE_MODE says plain|preload.
set -u
mode=${GOVERNANCE_MODE:-plain}
db=governance_startup
PGOPTIONS="-c client_min_messages=warning" psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -XqAt -d $db -c 'CREATE EXTENSION pg_governance' >/dev/null
n=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; printf '# %s\n' "${3:-}"; fi; }

echo "1..6"

# Invalid UTF-8 in a connection option
out=$(PGOPTIONS=$'-c governance.agent_id=ab\xffcd' psql -XAt -d $db \
      -c "SELECT coalesce(governance.agent_id(), '<null>')" 2>&1)
if [ "$mode" = preload ]; then
  grep -q 'FATAL:  invalid value for governance.agent_id: not valid UTF-8' <<<"$out"
  ok $? "preloaded: a connection option with invalid UTF-8 is refused at connect, naming the setting" "$out"
  grep -q '<null>' <<<"$out"; [ $? -ne 0 ]
  ok $? "preloaded: no session runs with it" "$out"
else
  grep -q 'WARNING:  invalid value for governance.agent_id: not valid UTF-8' <<<"$out"
  ok $? "plain: a connection option with invalid UTF-8 is reported when the library loads, naming the setting" "$out"
  grep -qx '<null>' <<<"$out"
  ok $? "plain: and discarded (agent_id() is NULL)" "$out"
fi

# A control character and a misspelled name in connection options
out=$(PGOPTIONS=$'-c governance.tenant_id=a\x01b -c governance.agnet_id=x' psql -XAt -d $db \
      -c "SELECT coalesce(governance.tenant_id(), '<null>')" 2>&1)
if [ "$mode" = preload ]; then
  grep -Eq 'FATAL:  (invalid value for governance.tenant_id|invalid configuration parameter name "governance.agnet_id")' <<<"$out"
  ok $? "preloaded: a bad tenant_id or misspelled name in connection options is refused at connect" "$out"
  grep -q '<null>' <<<"$out"; [ $? -ne 0 ]
  ok $? "preloaded: no session runs with them" "$out"
else
  grep -q 'invalid configuration parameter name "governance.agnet_id", removing it' <<<"$out"
  ok $? "plain: a misspelled governance.* placeholder is removed when the library loads" "$out"
  grep -qx '<null>' <<<"$out"
  ok $? "plain: an invalid tenant_id from connection options is discarded" "$out"
fi

# A valid context in connection options
out=$(PGOPTIONS='-c governance.agent_id=alice -c governance.tenant_id=acme' psql -XAt -d $db \
      -c "SELECT coalesce(governance.agent_id(), '<null>')" 2>&1)
if [ "$mode" = preload ]; then
  grep -q 'FATAL:  governance.agent_id can only be set by governance.set_context()' <<<"$out"
  ok $? "preloaded: a valid context in connection options is refused at connect" "$out"
  grep -q '<null>\|alice' <<<"$out"; [ $? -ne 0 ]
  ok $? "preloaded: no session runs with it" "$out"
else
  grep -q 'WARNING:  governance.agent_id can only be set by governance.set_context()' <<<"$out"
  ok $? "plain: a valid context in connection options is discarded with a WARNING when the library loads" "$out"
  grep -qx '<null>' <<<"$out"
  ok $? "plain: agent_id() is NULL" "$out"
fi

PGOPTIONS="-c client_min_messages=warning" psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null
