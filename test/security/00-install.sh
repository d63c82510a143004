#!/usr/bin/env bash
# The install itself: the database owner may install the trusted extension
# and stays what it was (no superuser, no membership in a privileged role).
cd "$(dirname "$0")/../.." && . test/security/lib.bash
plan 2
sec_db sec00
out=$(sec_install sec00); ok $? "CREATE EXTENSION by $SECURITY_INSTALLER ($out)"
is "$(is_superuser dbowner)" f "the installer is not a superuser after installing"
done_testing
