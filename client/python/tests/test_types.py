"""Values round-trip: Python -> parameter text -> server type -> Python."""
import datetime
import decimal
import uuid

import pytest

import govpool

UTC = datetime.timezone.utc
TZ2 = datetime.timezone(datetime.timedelta(hours=2))

# (SQL type, Python value sent, value expected back)
CASES = [
    ("int2", 7, 7),
    ("int4", -2147483648, -2147483648),
    ("int8", 9223372036854775807, 9223372036854775807),
    ("float4", 1.5, 1.5),
    ("float8", 0.1, 0.1),
    ("float8", float("inf"), float("inf")),
    ("numeric", decimal.Decimal("12345678901234567890.000000001"),
     decimal.Decimal("12345678901234567890.000000001")),
    ("bool", True, True),
    ("bool", False, False),
    ("text", "héllo 'quoted' \"x\" \\ back", "héllo 'quoted' \"x\" \\ back"),
    ("varchar", "v", "v"),
    ("bytea", b"\x00\x01\xff", b"\x00\x01\xff"),
    ("date", datetime.date(2024, 2, 29), datetime.date(2024, 2, 29)),
    ("time", datetime.time(13, 14, 15, 16), datetime.time(13, 14, 15, 16)),
    ("timestamp", datetime.datetime(2024, 1, 2, 3, 4, 5, 6), datetime.datetime(2024, 1, 2, 3, 4, 5, 6)),
    ("timestamptz", datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=TZ2),
     datetime.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)),
    ("interval", datetime.timedelta(days=3, seconds=5, microseconds=7),
     datetime.timedelta(days=3, seconds=5, microseconds=7)),
    ("interval", datetime.timedelta(days=-1, seconds=60), datetime.timedelta(days=-1, seconds=60)),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678"),
     uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ("jsonb", {"a": [1, 2, {"b": None}]}, {"a": [1, 2, {"b": None}]}),
    ("json", govpool.Json([1, "two"]), [1, "two"]),
    ("int4[]", [1, None, 3], [1, None, 3]),
    ("int4[]", [[1, 2], [3, 4]], [[1, 2], [3, 4]]),
    ("text[]", ["a,b", 'q"uote', "back\\slash", "NULL", "", None],
     ["a,b", 'q"uote', "back\\slash", "NULL", "", None]),
    ("numeric[]", [decimal.Decimal("1.5")], [decimal.Decimal("1.5")]),
    ("bool[]", [True, False], [True, False]),
    ("date[]", [datetime.date(2020, 1, 1)], [datetime.date(2020, 1, 1)]),
    ("uuid[]", [uuid.UUID(int=1)], [uuid.UUID(int=1)]),
    ("bytea[]", [b"\x01"], [b"\x01"]),
]


@pytest.mark.parametrize("sqltype,sent,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_round_trip(pool, sqltype, sent, expected):
    async with pool.session(agent_id="types") as s:
        await s.execute("SET LOCAL TimeZone = 'UTC'")
        got = await s.fetchval(f"SELECT $1::{sqltype}", sent)
    assert got == expected
    assert type(got) is type(expected)


async def test_null_and_unknown_types(pool):
    rows = await pool.run("SELECT NULL::int AS n, '(1,2)'::point AS p, 'infinity'::date AS d,"
                          " '1 year 2 mons 3 days 04:05:06.5'::interval AS i", agent_id="types")
    r = rows[0]
    assert r["n"] is None
    assert r["p"] == "(1,2)"           # unknown type: the server's text
    assert r["d"] == "infinity"        # outside Python's date: the text
    assert r["i"] == datetime.timedelta(days=365.25 + 60 + 3, hours=4, minutes=5, seconds=6.5)


async def test_inferred_parameter_types(pool):
    # without a cast the server infers the parameter's type from its use
    assert await pool.run("SELECT $1 + 1 AS v", 41, agent_id="types") == [(42,)]
    # uninferable: text
    assert (await pool.run("SELECT $1 AS v", 5, agent_id="types"))[0]["v"] == "5"


async def test_unsupported_parameter_type(pool):
    with pytest.raises(TypeError, match="cannot send a object"):
        await pool.run("SELECT $1", object(), agent_id="types")
