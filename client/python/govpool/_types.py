"""Values in and out: PostgreSQL text format <-> Python types.

Out (results, by column type OID): int2/4/8 and oid -> int; float4/8 -> float;
numeric -> Decimal; bool -> bool; text/varchar/bpchar/name -> str;
bytea -> bytes; date -> date; time -> time; timetz -> aware time;
timestamp -> naive datetime; timestamptz -> aware datetime; interval ->
timedelta (a month counts as 30 days, a year as 365.25 days, like asyncpg);
uuid -> UUID; json/jsonb -> the decoded value; one-dimensional or nested
arrays of these -> lists; NULL -> None; any other type (and values Python
cannot hold: infinity dates, years BC) -> the server's text.  Assumes the
server's default DateStyle (ISO) and IntervalStyle (postgres).

In (parameters): sent as text with no type, so the server infers each
parameter's type from the statement (cast in SQL where it cannot: `$1::int`).
None -> NULL; bool -> t/f; int, Decimal -> digits; float -> repr (inf/nan as
Infinity/NaN); str as is; bytes -> \\x hex; date/time/datetime -> ISO 8601
(aware ones keep their offset); timedelta -> "D days S seconds U
microseconds"; UUID -> str; dict or Json(x) -> JSON text; list/tuple -> an
array literal (use Json([...]) for a JSON array).
"""
import datetime
import decimal
import json
import re
import uuid

__all__ = ["Json", "encode", "decoder_for"]


class Json:
    """Wrap a value to send it as JSON (needed for lists, which go as arrays)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _fmt_float(v):
    if v != v:
        return "NaN"
    if v == float("inf"):
        return "Infinity"
    if v == float("-inf"):
        return "-Infinity"
    return repr(v)


def _array_elem(v):
    if v is None:
        return "NULL"
    if isinstance(v, (list, tuple)):
        return _array(v)
    s = encode(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array(seq):
    return "{" + ",".join(_array_elem(v) for v in seq) + "}"


def encode(v):
    """One parameter as the text the server reads (None stays None = NULL)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _fmt_float(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(v).hex()
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return f"{v.days} days {v.seconds} seconds {v.microseconds} microseconds"
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, Json):
        return json.dumps(v.value)
    if isinstance(v, dict):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return _array(v)
    raise TypeError(f"govpool: cannot send a {type(v).__name__} as a parameter "
                    "(convert it to str, or wrap it in govpool.Json)")


# ---- decoders ----

def _bool(s):
    return s == "t"


def _bytea(s):
    if s.startswith("\\x"):
        return bytes.fromhex(s[2:])
    # escape format (bytea_output = escape)
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1")


def _or_text(fn):
    def dec(s):
        try:
            return fn(s)
        except ValueError:
            return s  # infinity, BC, out of Python's range: the server's text
    return dec


def _tz_fix(s):
    # Python < 3.11 wants +HH:MM; keep for safety: "+05" -> "+05:00"
    m = re.search(r"([+-]\d\d)(:?\d\d)?(:?\d\d)?$", s)
    if m and m.group(2) is None:
        return s + ":00"
    return s


_date = _or_text(datetime.date.fromisoformat)
_time = _or_text(datetime.time.fromisoformat)
_timetz = _or_text(lambda s: datetime.time.fromisoformat(_tz_fix(s)))
_ts = _or_text(datetime.datetime.fromisoformat)
_tstz = _or_text(lambda s: datetime.datetime.fromisoformat(_tz_fix(s)))

_IV = re.compile(r"([+-]?\d+) (year|mon|day)s?|([+-])?(\d+):(\d\d):(\d\d(?:\.\d+)?)")


def _interval(s):
    days = 0.0
    secs = 0.0
    for m in _IV.finditer(s):
        if m.group(1) is not None:
            n = int(m.group(1))
            unit = m.group(2)
            days += n * (365.25 if unit == "year" else 30 if unit == "mon" else 1)
        else:
            sign = -1 if m.group(3) == "-" else 1
            secs += sign * (int(m.group(4)) * 3600 + int(m.group(5)) * 60 + float(m.group(6)))
    if "ago" in s:
        days, secs = -days, -secs
    whole = int(secs)
    return datetime.timedelta(days=days, seconds=whole,
                              microseconds=round((secs - whole) * 1e6))


def _parse_array(s, elem):
    if s.startswith("["):  # explicit bounds: [0:1]={...}
        s = s[s.index("=") + 1:]
    pos = 0
    n = len(s)

    def parse():
        nonlocal pos
        assert s[pos] == "{"
        pos += 1
        out = []
        if s[pos] == "}":
            pos += 1
            return out
        while True:
            if s[pos] == "{":
                out.append(parse())
            elif s[pos] == '"':
                pos += 1
                buf = []
                while s[pos] != '"':
                    if s[pos] == "\\":
                        pos += 1
                    buf.append(s[pos])
                    pos += 1
                pos += 1
                out.append(elem("".join(buf)))
            else:
                start = pos
                while pos < n and s[pos] not in ",}":
                    pos += 1
                tok = s[start:pos]
                out.append(None if tok == "NULL" else elem(tok))
            if s[pos] == ",":
                pos += 1
                continue
            pos += 1  # "}"
            return out

    return parse()


def _text(s):
    return s


_SCALAR = {
    16: _bool,
    17: _bytea,
    18: _text, 19: _text, 25: _text, 1042: _text, 1043: _text,
    20: int, 21: int, 23: int, 26: int,
    700: float, 701: float,
    1700: decimal.Decimal,
    1082: _date, 1083: _time, 1266: _timetz, 1114: _ts, 1184: _tstz,
    1186: _interval,
    2950: uuid.UUID,
    114: json.loads, 3802: json.loads,
}

_ARRAY = {  # array type OID -> element type OID
    1000: 16, 1001: 17, 1002: 18, 1003: 19, 1009: 25, 1014: 1042, 1015: 1043,
    1016: 20, 1005: 21, 1007: 23, 1028: 26, 1021: 700, 1022: 701, 1231: 1700,
    1182: 1082, 1183: 1083, 1270: 1266, 1115: 1114, 1185: 1184, 1187: 1186,
    2951: 2950, 199: 114, 3807: 3802,
}


def decoder_for(oid):
    """The function from the server's text to a Python value (None: keep text)."""
    f = _SCALAR.get(oid)
    if f is not None:
        return None if f is _text else f
    e = _ARRAY.get(oid)
    if e is not None:
        ef = _SCALAR[e]
        return lambda s: _parse_array(s, ef)
    return None
