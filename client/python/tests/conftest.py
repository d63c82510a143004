"""Tests run against the server PG* points at (scripts/with-cluster), in a
database of their own, govpool_py, with pg_governance created by the pool.

GOVPOOL_TEST_EDITION=sql (scripts/run-sql-edition.sh): the SQL edition
instead, installed in govpool_py with psql -f GOVPOOL_TEST_SQL_SCRIPT by
GOVPOOL_TEST_SQL_INSTALLER (a non-superuser that owns the database); the
pool creates no extension.  Tests of what the SQL edition does not have
skip, saying why (docs/sql-edition.md)."""
import os
import subprocess
import sys
import urllib.parse

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import govpool  # noqa: E402

DB = "govpool_py"
SQL_EDITION = os.environ.get("GOVPOOL_TEST_EDITION", "c") == "sql"
ORIG_URL = os.environ.get("DATABASE_URL")
if SQL_EDITION and ORIG_URL:
    # the SQL edition is in DB only (installed below), where the C edition's
    # pool would create the extension wherever the URL points
    ORIG_URL = urllib.parse.urlsplit(ORIG_URL)._replace(path="/" + DB).geturl()


def psql(sql, db=DB):
    return subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def pytest_configure(config):
    psql("DROP DATABASE IF EXISTS " + DB, db="postgres")
    if SQL_EDITION:
        installer = os.environ["GOVPOOL_TEST_SQL_INSTALLER"]
        psql(f'CREATE DATABASE {DB} OWNER "{installer}"', db="postgres")
        subprocess.run(["psql", "-Xq", "-v", "ON_ERROR_STOP=1", "-U", installer, "-d", DB,
                        "-f", os.environ["GOVPOOL_TEST_SQL_SCRIPT"]], check=True)
        assert psql("SELECT edition FROM governance.edition()") == "sql"
        os.environ.pop("GOVPOOL_EXTENSIONS", None)
    else:
        psql("CREATE DATABASE " + DB, db="postgres")
        os.environ["GOVPOOL_EXTENSIONS"] = "pg_governance"
    # The pool reads PG* (DATABASE_URL is tested explicitly).
    os.environ.pop("DATABASE_URL", None)
    os.environ["PGDATABASE"] = DB
    os.environ["DATABASE_ECHO"] = "false"
    os.environ["GOVPOOL_REPORT_INTERVAL"] = "0"


@pytest.fixture
async def pool():
    p = await govpool.create_pool(pool_size=4, max_overflow=0, pool_timeout=10)
    yield p
    st = p.stats()
    await p.close()
    # every test leaves every connection given back
    assert st["checked_out"] == 0, st
    assert st["waiters"] == 0, st
