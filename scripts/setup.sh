#!/usr/bin/env bash
# Install what building and testing pg_governance + libgovpool needs on Debian 12.
#
# Root: installs the missing Debian packages with apt-get.
# Non-root: prints exactly which packages to install and exits 1.
# Idempotent: with everything present it does nothing and exits 0.
set -euo pipefail

PGV=${PG_MAJOR:-15}
# package -> a file that proves it is installed
declare -A want=(
  [postgresql-$PGV]=/usr/lib/postgresql/$PGV/bin/postgres
  [postgresql-server-dev-$PGV]=/usr/include/postgresql/$PGV/server/postgres.h
  [postgresql-$PGV-pgtap]=/usr/share/postgresql/$PGV/extension/pgtap.control
  [libtap-parser-sourcehandler-pgtap-perl]=/usr/bin/pg_prove
  [libpq-dev]=/usr/include/postgresql/libpq-fe.h
  [pkg-config]=/usr/bin/pkg-config
  [gcc]=/usr/bin/gcc
  [make]=/usr/bin/make
  [clang]=/usr/bin/clang
  [libclang-rt-dev]=/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.asan-x86_64.a
  [pgbouncer]=/usr/sbin/pgbouncer
  [openssl]=/usr/bin/openssl
  [libssl-dev]=/usr/include/openssl/ssl.h
  [python3]=/usr/bin/python3
  # govpool for Python (client/python): build, tests, FastAPI integration
  [python3-dev]=/usr/include/python3.11/Python.h
  [python3-setuptools]=/usr/lib/python3/dist-packages/setuptools/__init__.py
  [python3-pytest]=/usr/lib/python3/dist-packages/pytest/__init__.py
  [python3-pytest-asyncio]=/usr/lib/python3/dist-packages/pytest_asyncio/__init__.py
  [python3-fastapi]=/usr/lib/python3/dist-packages/fastapi/__init__.py
  [python3-httpx]=/usr/lib/python3/dist-packages/httpx/__init__.py
  [python3-uvloop]=/usr/lib/python3/dist-packages/uvloop/__init__.py
  # the wheel, installed into a fresh virtualenv (client/python/tests/test_install.py)
  [python3-pip]=/usr/lib/python3/dist-packages/pip/__init__.py
  [python3-venv]=/usr/share/doc/python3-venv/copyright
  # make bench (scripts/bench-python.sh): the drivers govpool is compared with
  [python3-asyncpg]=/usr/lib/python3/dist-packages/asyncpg/__init__.py
  [python3-sqlalchemy]=/usr/lib/python3/dist-packages/sqlalchemy/__init__.py
  [python3-psycopg-pool]=/usr/lib/python3/dist-packages/psycopg_pool/__init__.py
  # promtool (rules and metrics checks) and postgres_exporter: test/monitoring/exporter.sh
  [prometheus]=/usr/bin/promtool
  [prometheus-postgres-exporter]=/usr/bin/prometheus-postgres-exporter
)

missing=()
for pkg in "${!want[@]}"; do
  [ -e "${want[$pkg]}" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

IFS=$'\n' missing=($(sort <<<"${missing[*]}")); unset IFS

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "setup: install them as root:  apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian pgbouncer, prometheus and prometheus-postgres-exporter packages
# start system services; the project never uses them (its tests start their
# own on free loopback ports).
if command -v systemctl >/dev/null 2>&1; then
  for svc in pgbouncer prometheus prometheus-postgres-exporter; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi
echo "setup: done"
