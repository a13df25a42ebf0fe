"""Query parsing and validation: every rule of spec section 2, and totality on any input."""

from __future__ import annotations

import calendar
import contextlib
import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.exceptions import (
    ApiError,
    InvalidAmountError,
    InvalidParameterError,
    InvalidTimestampError,
    MissingParameterError,
)
from api.params import (
    ConvertQuery,
    check_no_params,
    parse_amount,
    parse_code,
    parse_convert_query,
)
from api.timestamps import parse_timestamp

NOW_MS = 1_795_000_000_000  # 2026-11-18T09:46:40Z
# What `exchange` may take with EXCHANGES=binance,kraken (tests of it: test_params_venues.py).
EXCHANGES = ("binance", "kraken", "best", "average")
convert_query = functools.partial(parse_convert_query, exchanges=EXCHANGES)
BASE = "amount=1&from=btc&to=usdt"


def utc_ms(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """Independent reference: calendar.timegm of UTC fields, in milliseconds."""
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) * 1000


# --- the whole query -------------------------------------------------------


def test_valid_query_is_normalised() -> None:
    """Codes are upper-cased, the amount is exact and no timestamp means latest."""
    assert convert_query("amount=1.5&from=btc&to=UsDt", NOW_MS) == ConvertQuery(
        amount=Decimal("1.5"), from_code="BTC", to_code="USDT", at_ms=None
    )


def test_query_with_timestamp() -> None:
    """A timestamp parameter becomes floored UTC milliseconds."""
    query = convert_query(BASE + "&timestamp=1700000000.5", NOW_MS)
    assert query.at_ms == 1_700_000_000_500


@pytest.mark.parametrize(
    ("query_string", "error", "parameter"),
    [
        ("amount=1&amount=2&from=btc&to=usdt", InvalidParameterError, "amount"),
        (BASE + "&at=1700000000", InvalidParameterError, "at"),
        ("amount=1&form=btc&to=usdt", InvalidParameterError, "form"),
        ("amount=1&from=&to=usdt", InvalidParameterError, "from"),
        ("amount=1&from&to=usdt", InvalidParameterError, "from"),
        (BASE + "&timestamp=", InvalidParameterError, "timestamp"),
        ("Amount=1&from=btc&to=usdt", InvalidParameterError, "Amount"),
        ("amount=1&from=btc", MissingParameterError, "to"),
        ("from=btc&to=usdt", MissingParameterError, "amount"),
        ("", MissingParameterError, "amount"),
        ("amount=1&from=b-c&to=usdt", InvalidParameterError, "from"),
        ("amount=1e5&from=btc&to=usdt", InvalidAmountError, "amount"),
        (BASE + "&timestamp=soon", InvalidTimestampError, "timestamp"),
        ("amount=%FF&from=btc&to=usdt", InvalidParameterError, "amount"),
    ],
)
def test_query_errors_name_the_parameter(
    query_string: str, error: type[ApiError], parameter: str
) -> None:
    """Each unknown, repeated, empty, missing or malformed parameter is named in details."""
    with pytest.raises(error) as caught:
        convert_query(query_string, NOW_MS)
    assert caught.value.details["parameter"] == parameter


def test_unknown_beats_repeated_beats_empty_beats_missing() -> None:
    """Checks run in spec order: unknown, repeated, empty, then missing."""
    with pytest.raises(InvalidParameterError) as unknown:
        convert_query("amount=&amount=&zz=1", NOW_MS)
    assert unknown.value.details == {"parameter": "zz"}
    with pytest.raises(InvalidParameterError) as repeated:
        convert_query("from=&amount=1&amount=1", NOW_MS)
    assert repeated.value.details == {"parameter": "amount"}
    with pytest.raises(InvalidParameterError, match="empty"):
        convert_query("to=", NOW_MS)


def test_unknown_name_is_truncated() -> None:
    """A huge unknown name is echoed back cut to 64 characters."""
    with pytest.raises(InvalidParameterError) as caught:
        convert_query("x" * 1000 + "=1&" + BASE, NOW_MS)
    assert caught.value.details["parameter"] == "x" * 64
    assert len(caught.value.message) < 200


def test_undecodable_name_is_named_with_replacement() -> None:
    """Invalid UTF-8 in a name is an invalid_parameter, not a crash."""
    with pytest.raises(InvalidParameterError) as caught:
        convert_query("%C3=1&" + BASE, NOW_MS)
    assert caught.value.details["parameter"] == "\ufffd"


def test_percent_encoding_and_plus_are_decoded() -> None:
    """Values are form-decoded: %-escapes and '+' (a space) are understood."""
    query = convert_query(
        "amount=%31&from=%62tc&to=usdt&timestamp=2026-11-21T12:00:00%2B02:00", NOW_MS + 10**10
    )
    assert (query.amount, query.from_code, query.at_ms) == (
        Decimal(1),
        "BTC",
        utc_ms(2026, 11, 21, 10, 0, 0),
    )


@pytest.mark.parametrize("query_string", ["", "&", "&&"])
def test_no_params_accepts_empty(query_string: str) -> None:
    """/health and /currencies accept an empty query string."""
    check_no_params(query_string)


@pytest.mark.parametrize(
    ("query_string", "parameter"), [("x=1", "x"), ("verbose", "verbose"), ("=1", "")]
)
def test_no_params_refuses_any(query_string: str, parameter: str) -> None:
    """Any parameter on a parameterless endpoint is an invalid_parameter naming it."""
    with pytest.raises(InvalidParameterError) as caught:
        check_no_params(query_string)
    assert caught.value.details == {"parameter": parameter}


# --- amount ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", "1"),
        ("0.5", "0.5"),
        ("000001", "1"),
        ("1.000000", "1"),
        ("0.000001", "0.000001"),
        ("999999999999999.999999", "999999999999999.999999"),
        ("0" * 30 + "1.5", "1.5"),
    ],
)
def test_amount_valid(raw: str, expected: str) -> None:
    """Plain decimals up to 15 integer and 6 fraction digits parse exactly."""
    assert parse_amount(raw) == Decimal(expected)


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("1.", "plain decimal"),
        (".5", "plain decimal"),
        ("+1", "plain decimal"),
        ("-1", "plain decimal"),
        ("1e5", "plain decimal"),
        ("1E5", "plain decimal"),
        ("1_000", "plain decimal"),
        ("1,5", "plain decimal"),
        (" 1", "plain decimal"),
        ("1\n", "plain decimal"),
        ("١", "plain decimal"),
        ("１", "plain decimal"),
        ("NaN", "plain decimal"),
        ("Infinity", "plain decimal"),
        ("", "plain decimal"),
        ("0", "greater than zero"),
        ("0.000000", "greater than zero"),
        ("000", "greater than zero"),
        ("1.0000001", "more than 6 fraction digits"),
        ("0.0000000", "more than 6 fraction digits"),
        ("1000000000000000", "more than 15 integer digits"),
        ("1000000000000000.5", "more than 15 integer digits"),
        ("0" * 41, "longer than 40"),
    ],
)
def test_amount_invalid(raw: str, rule: str) -> None:
    """Each broken amount rule is an invalid_amount whose message names the rule."""
    with pytest.raises(InvalidAmountError, match=rule) as caught:
        parse_amount(raw)
    assert caught.value.details == {"parameter": "amount"}


@settings(max_examples=300)
@given(integer=st.integers(0, 10**15 - 1), fraction=st.text("0123456789", max_size=6))
def test_amount_round_trips(integer: int, fraction: str) -> None:
    """Any valid plain decimal parses to exactly its value; zero is refused."""
    raw = f"{integer}.{fraction}" if fraction else str(integer)
    value = Decimal(f"{integer}.{fraction or 0}")
    if value == 0:
        with pytest.raises(InvalidAmountError):
            parse_amount(raw)
    else:
        assert parse_amount(raw) == value


# --- codes -----------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("btc", "BTC"), ("1000SATS", "1000SATS")])
def test_code_upper_cased(raw: str, expected: str) -> None:
    """Codes are case-insensitive and come back upper-case."""
    assert parse_code(raw, "from") == expected


@pytest.mark.parametrize("raw", ["", "B" * 21, "BTC-USDT", "BTC\n", "ÉTH", "BTC ", "١"])
def test_code_invalid(raw: str) -> None:
    """Codes outside 1-20 ASCII letters/digits are invalid_parameter naming the field."""
    with pytest.raises(InvalidParameterError) as caught:
        parse_code(raw, "to")
    assert caught.value.details == {"parameter": "to"}


# --- timestamp -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1700000000", 1_700_000_000_000),
        ("1700000000.5", 1_700_000_000_500),
        ("1700000000.0019", 1_700_000_000_001),
        ("1700000000.999999999", 1_700_000_000_999),
        ("0", 0),
        ("2026-11-21T12:00:00Z", utc_ms(2026, 11, 21, 12, 0, 0)),
        ("2026-11-21T12:00:00", utc_ms(2026, 11, 21, 12, 0, 0)),
        ("2026-11-21 12:00:00z", utc_ms(2026, 11, 21, 12, 0, 0)),
        ("2026-11-21T12:00", utc_ms(2026, 11, 21, 12, 0, 0)),
        ("2026-11-21", utc_ms(2026, 11, 21, 0, 0, 0)),
        ("2026-11-21T12:00:00.123+02:00", utc_ms(2026, 11, 21, 10, 0, 0) + 123),
        ("2026-11-21T12:00:00.123 02:00", utc_ms(2026, 11, 21, 10, 0, 0) + 123),
        ("2026-11-21T12:00:00-05:30", utc_ms(2026, 11, 21, 17, 30, 0)),
        ("2026-11-21T12:00:00+0100", utc_ms(2026, 11, 21, 11, 0, 0)),
        ("2026-11-21T12:00:00.1239Z", utc_ms(2026, 11, 21, 12, 0, 0) + 123),
        ("2026-11-21T12:00:00.9999999Z", utc_ms(2026, 11, 21, 12, 0, 0) + 999),
        ("1970-01-01T01:00:00+01:00", 0),
    ],
)
def test_timestamp_formats(raw: str, expected: int) -> None:
    """Unix seconds and ISO 8601 forms give the exact floored UTC millisecond."""
    assert parse_timestamp(raw, expected) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "99999999999999999999",
        "2026-13-01",
        "2026-02-30",
        "2026-11-21T24:00:00Z",
        "2026-11-21T12:00:60Z",
        "2026-11-21T12:00:00+24:00",
        "2026-11-21T12:00:00+02:60",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:59:59.999+01:00",
        "-1",
        "+1700000000",
        "1e9",
        "1700000000.",
        ".5",
        " 1700000000",
        "1700000000.1234567891",
        "２０２６-11-21",
        "2026-W47-6",
        "20261121T120000Z",
        "2026-11-21X12:00:00",
        "2026-11-21T12:00.5",
        "now",
        "",
        "1" * 100,
    ],
)
def test_timestamp_invalid(raw: str) -> None:
    """Unparseable or out-of-range timestamps are invalid_timestamp."""
    with pytest.raises(InvalidTimestampError) as caught:
        parse_timestamp(raw, NOW_MS)
    assert caught.value.details["parameter"] == "timestamp"


def test_timestamp_future_boundary() -> None:
    """Up to exactly 5 s after now is accepted; one millisecond more is refused."""
    now_ms = 1_700_000_000_000
    assert parse_timestamp("1700000005", now_ms) == now_ms + 5000
    with pytest.raises(InvalidTimestampError, match="future") as caught:
        parse_timestamp("1700000005.001", now_ms)
    assert caught.value.details == {
        "parameter": "timestamp",
        "timestamp": "2023-11-14T22:13:25.001Z",
        "now": "2023-11-14T22:13:20.000Z",
        "max_future_seconds": 5,
    }


def test_timestamp_future_with_odd_now() -> None:
    """A far-future check still works when now is outside the printable range."""
    with pytest.raises(InvalidTimestampError) as caught:
        parse_timestamp("1700000000", -(10**15))
    assert caught.value.details["now"] == str(-(10**15))


@settings(max_examples=300)
@given(
    at_ms=st.integers(0, NOW_MS + 5000),
    offset_minutes=st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)
def test_timestamp_round_trips(at_ms: int, offset_minutes: int) -> None:
    """Any instant written as unix seconds or as ISO with any offset parses back exactly."""
    assert parse_timestamp(f"{at_ms // 1000}.{at_ms % 1000:03d}", NOW_MS) == at_ms
    offset = timedelta(minutes=offset_minutes)
    local = datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=at_ms) + offset
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    iso = f"{local:%Y-%m-%dT%H:%M:%S}.{at_ms % 1000:03d}{sign}{hours:02d}:{minutes:02d}"
    assert parse_timestamp(iso, NOW_MS) == at_ms


# --- totality: nothing but ApiError, whatever comes in ----------------------

NEAR_AMOUNT = st.from_regex(r"[-+ ]?[0-9١_.eE]{0,24}(\.[0-9]{0,9})?", fullmatch=True)
NEAR_UNIX = st.from_regex(r"[-+]?[0-9]{0,24}(\.[0-9]{0,14})?([eE][0-9]{1,3})?", fullmatch=True)
NEAR_ISO = st.from_regex(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt xX][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{0,12})?)?"
    r"([Zz]|[-+ ][0-9]{2}(:?[0-9]{2})?)?)?",
    fullmatch=True,
)
NAMES = st.sampled_from(["amount", "from", "to", "timestamp", "at", "form", "", "%FF"])
VALUES = st.one_of(st.text(max_size=30), NEAR_AMOUNT, NEAR_UNIX, NEAR_ISO)


def only_api_errors(parse: Callable[..., object], *args: object) -> None:
    """Call parse(*args); an ApiError is fine, any other exception fails the test."""
    with contextlib.suppress(ApiError):
        parse(*args)


@settings(max_examples=300)
@given(raw=st.one_of(st.text(), NEAR_AMOUNT), now_ms=st.integers(-(10**16), 10**16))
def test_parsers_total_on_any_text(raw: str, now_ms: int) -> None:
    """parse_amount, parse_code, parse_timestamp and the query parsers never crash."""
    only_api_errors(parse_amount, raw)
    only_api_errors(parse_code, raw, "from")
    only_api_errors(parse_timestamp, raw, now_ms)
    only_api_errors(convert_query, raw, now_ms)
    only_api_errors(check_no_params, raw)


@settings(max_examples=300)
@given(raw=st.one_of(NEAR_UNIX, NEAR_ISO))
def test_timestamp_total_on_near_valid(raw: str) -> None:
    """Near-valid timestamps either parse to milliseconds in range or raise invalid_timestamp."""
    try:
        at_ms = parse_timestamp(raw, NOW_MS)
    except InvalidTimestampError:
        return
    assert 0 <= at_ms <= NOW_MS + 5000


@settings(max_examples=300)
@given(
    pairs=st.lists(st.tuples(NAMES, VALUES), max_size=6),
    encode=st.booleans(),
)
def test_query_total_on_near_valid(pairs: list[tuple[str, str]], encode: bool) -> None:
    """Near-valid query strings, encoded or raw, never raise anything but ApiError."""
    if encode:
        query_string = urlencode(pairs)
    else:
        query_string = "&".join(f"{name}={value}" for name, value in pairs)
    only_api_errors(convert_query, query_string, NOW_MS)


@settings(max_examples=200)
@given(
    amount=st.decimals(min_value="0.000001", max_value="999999999999999.999999", places=6),
    codes=st.lists(st.from_regex(r"[A-Za-z0-9]{1,20}", fullmatch=True), min_size=2, max_size=2),
    at_ms=st.none() | st.integers(0, NOW_MS),
    order=st.permutations(range(4)),
)
def test_query_round_trips(
    amount: Decimal, codes: list[str], at_ms: int | None, order: list[int]
) -> None:
    """Any valid query, in any parameter order, parses to the values it encodes."""
    fields = [("amount", f"{amount:f}"), ("from", codes[0]), ("to", codes[1]), None]
    if at_ms is not None:
        fields[3] = ("timestamp", f"{at_ms // 1000}.{at_ms % 1000:03d}")
    query_string = "&".join(
        f"{field[0]}={quote(field[1])}" for field in (fields[i] for i in order) if field
    )
    assert convert_query(query_string, NOW_MS) == ConvertQuery(
        amount=amount, from_code=codes[0].upper(), to_code=codes[1].upper(), at_ms=at_ms
    )
