"""Snapshot file names and bytes: round trips, ordering, validation, and `find_pair`."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from storage.codec import (
    SCHEMA_VERSION,
    check_frame,
    codes_in,
    decode,
    encode,
    filename_for,
    find_pair,
    ms_from_filename,
)
from storage.errors import CorruptSnapshotError
from storage.model import Quote, Snapshot

# 1970-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z: every time a name can hold.
MAX_MS = calendar.timegm((9999, 12, 31, 23, 59, 59, 0, 0, 0)) * 1000 + 999
SPEC_MS = calendar.timegm((2026, 11, 21, 23, 36, 0, 0, 0, 0)) * 1000 + 123
times = st.integers(min_value=0, max_value=MAX_MS)

codes = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12)
# Binance-style plain decimals, > 0, no leading zeros: "0.00000001", "19979.51000000".
int_parts = st.integers(min_value=0, max_value=10**20 - 1).map(str)
fractions = st.one_of(
    st.just(""), st.text(alphabet="0123456789", min_size=1, max_size=20).map(".".__add__)
)
prices = st.builds(str.__add__, int_parts, fractions).filter(lambda s: Decimal(s) > 0)


def quote(symbol: str, base: str, quote_: str, bid: str = "1.5", ask: str = "1.6") -> Quote:
    return Quote(symbol, base, quote_, Decimal(bid), Decimal(ask))


def snapshot(*quotes: Quote, ms: int = SPEC_MS) -> Snapshot:
    return Snapshot("binance", ms, {q.symbol: q for q in quotes})


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    """Random snapshots with distinct (base, quote) pairs, as an exchange has."""
    pairs = draw(
        st.lists(st.tuples(codes, codes), min_size=1, max_size=8, unique=True).filter(
            lambda ps: len({b + q for b, q in ps}) == len(ps)
        )
    )
    quotes = [quote(b + q, b, q, draw(prices), draw(prices)) for b, q in pairs]
    return snapshot(*quotes, ms=draw(times))


BTCUSDT = quote("BTCUSDT", "BTC", "USDT", "19979.51000000", "19980.18000000")
ETHBTC = quote("ETHBTC", "ETH", "BTC", "0.07041400", "0.07041500")
BTCUPUSDT = quote("BTCUPUSDT", "BTCUP", "USDT", "3.38000000", "3.38200000")
# Base T and quote USDT: slicing "TUSDT" could as well give TUSD/T.
TUSDT = quote("TUSDT", "T", "USDT", "0.01790000", "0.01791000")
SAMPLE = snapshot(ETHBTC, BTCUSDT, BTCUPUSDT, TUSDT)


# -- file names -------------------------------------------------------------------


def test_filename_example_from_the_spec() -> None:
    """The file name is the UTC fetch time, e.g. 20261121T233600.123Z.json."""
    assert filename_for(SPEC_MS) == "20261121T233600.123Z.json"
    assert ms_from_filename("20261121T233600.123Z.json") == SPEC_MS
    assert filename_for(0) == "19700101T000000.000Z.json"


@given(times)
def test_filename_round_trip(ms: int) -> None:
    """ms_from_filename(filename_for(ms)) == ms over 1970..9999."""
    assert ms_from_filename(filename_for(ms)) == ms


@given(times, times)
def test_lexical_order_is_time_order(a: int, b: int) -> None:
    """Comparing two file names as strings compares their fetch times."""
    name_a, name_b = filename_for(a), filename_for(b)
    assert (name_a < name_b) == (a < b)
    assert (name_a == name_b) == (a == b)


@pytest.mark.parametrize(
    "name",
    [
        ".tmp-20261121T233600.123Z.json.1a2b3c4d",
        ".consumer.lock",
        "20261121T233600.123Z.json.bak",
        "20261121T233600.123Z.json\n",
        "x20261121T233600.123Z.json",
        "20261121T233600Z.json",
        "20261121T233600.12Z.json",
        "20261121T233600.123z.json",
        "20261121t233600.123Z.json",
        "20261121T233600.123Z.JSON",
        "20261321T000000.000Z.json",
        "20260229T000000.000Z.json",
        "20261121T240000.000Z.json",
        "20261121T235960.000Z.json",
        "",
    ],
)
def test_other_names_are_not_snapshots(name: str) -> None:
    """Temporary files, the lock, and impossible dates are not snapshot names."""
    assert ms_from_filename(name) is None


@given(
    st.integers(1970, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 24),
    st.integers(0, 60),
    st.integers(0, 61),
    st.integers(0, 999),
)
def test_names_parse_iff_the_time_exists(
    year: int, month: int, day: int, hour: int, minute: int, second: int, milli: int
) -> None:
    """A well-formed name parses exactly when its UTC time exists, and then it is canonical."""
    name = f"{year:04d}{month:02d}{day:02d}T{hour:02d}{minute:02d}{second:02d}.{milli:03d}Z.json"
    try:
        moment = datetime(year, month, day, hour, minute, second, milli * 1000, tzinfo=UTC)
    except ValueError:
        assert ms_from_filename(name) is None
        return
    ms = ms_from_filename(name)
    assert ms == calendar.timegm(moment.timetuple()) * 1000 + milli
    assert filename_for(ms) == name


# -- encode / decode --------------------------------------------------------------


def test_encoded_layout() -> None:
    """A file holds schema, exchange, fetched_at, fields, and rows of exchange strings."""
    doc = orjson.loads(encode(SAMPLE))
    assert doc == {
        "schema": SCHEMA_VERSION,
        "exchange": "binance",
        "fetched_at": "2026-11-21T23:36:00.123Z",
        "fields": ["base", "quote", "bid", "ask", "bid_qty", "ask_qty"],
        "symbols": {
            "ETHBTC": ["ETH", "BTC", "0.07041400", "0.07041500", None, None],
            "BTCUSDT": ["BTC", "USDT", "19979.51000000", "19980.18000000", None, None],
            "BTCUPUSDT": ["BTCUP", "USDT", "3.38000000", "3.38200000", None, None],
            "TUSDT": ["T", "USDT", "0.01790000", "0.01791000", None, None],
        },
    }
    assert SCHEMA_VERSION == 2


def test_sizes_are_written_and_read_as_the_venue_strings() -> None:
    """Schema 2 rows carry bid_qty and ask_qty as the venue's strings, read back exactly."""
    sized = Quote(
        "BTCUSDT",
        "BTC",
        "USDT",
        Decimal("19979.51000000"),
        Decimal("19980.18000000"),
        Decimal("0.00455000"),
        Decimal("0"),
    )
    data = encode(snapshot(sized))
    row = orjson.loads(data)["symbols"]["BTCUSDT"]
    assert row == ["BTC", "USDT", "19979.51000000", "19980.18000000", "0.00455000", "0"]
    assert decode(data, SPEC_MS).quotes["BTCUSDT"] == sized
    assert find_pair(data, "BTC", "USDT") == sized


# A file exactly as the single-venue release (schema 1) wrote it.
SCHEMA_1 = (
    b'{"schema":1,"exchange":"binance","fetched_at":"2026-11-21T23:36:00.123Z",'
    b'"fields":["base","quote","bid","ask"],'
    b'"symbols":{"ETHBTC":["ETH","BTC","0.07041400","0.07041500"],'
    b'"BTCUSDT":["BTC","USDT","19979.51000000","19980.18000000"]}}'
)


def test_schema_1_files_are_still_read() -> None:
    """A schema-1 file decodes, and find_pair/codes_in work on it, with unknown sizes."""
    check_frame(SCHEMA_1, SPEC_MS)
    snap = decode(SCHEMA_1, SPEC_MS)
    btc = Quote("BTCUSDT", "BTC", "USDT", Decimal("19979.51000000"), Decimal("19980.18000000"))
    assert snap.quotes["BTCUSDT"] == btc
    assert (btc.bid_qty, btc.ask_qty) == (None, None)
    assert find_pair(SCHEMA_1, "BTC", "USDT") == btc
    assert codes_in(SCHEMA_1) == {"ETH", "BTC", "USDT"}


def test_encode_refuses_an_empty_snapshot() -> None:
    """A snapshot without quotes is never written."""
    with pytest.raises(ValueError, match="at least one quote"):
        encode(snapshot())


@given(snapshots())
def test_encode_decode_round_trip(snap: Snapshot) -> None:
    """decode(encode(s)) == s, quote for quote."""
    decoded = decode(encode(snap), snap.fetched_ms)
    assert decoded.exchange == snap.exchange
    assert decoded.fetched_ms == snap.fetched_ms
    assert dict(decoded.quotes) == dict(snap.quotes)


@given(prices, prices)
@example("0.00000001", "19979.51000000")
@example("100000000000000000000", "0.10000000000000000000")
def test_decimal_strings_survive_exactly(bid: str, ask: str) -> None:
    """The exchange's decimal strings are stored and read back character for character."""
    snap = snapshot(quote("BTCUSDT", "BTC", "USDT", bid, ask))
    data = encode(snap)
    assert orjson.loads(data)["symbols"]["BTCUSDT"][2:4] == [bid, ask]
    decoded = decode(data, snap.fetched_ms).quotes["BTCUSDT"]
    assert (format(decoded.bid, "f"), format(decoded.ask, "f")) == (bid, ask)


def _edited(**changes: object) -> bytes:
    doc = orjson.loads(encode(SAMPLE))
    doc.update(changes)
    return orjson.dumps(doc)


def _with_row(row: object) -> bytes:
    doc = orjson.loads(encode(SAMPLE))
    doc["symbols"]["BTCUSDT"] = row
    return orjson.dumps(doc)


GOOD = encode(SAMPLE)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(GOOD[: len(GOOD) // 2], id="truncated-half"),
        pytest.param(GOOD[:-1], id="truncated-last-byte"),
        pytest.param(b"\x00\xff garbage {{{", id="garbage"),
        pytest.param(b"[]", id="list"),
        pytest.param(b"null", id="null"),
        pytest.param(_edited(schema=3), id="schema-3"),
        pytest.param(_edited(schema=1), id="schema-1-with-six-fields"),
        pytest.param(_edited(schema=True), id="schema-bool"),
        pytest.param(_edited(schema="1"), id="schema-string"),
        pytest.param(_edited(fetched_at="2026-11-21T23:36:00.124Z"), id="fetched-at-mismatch"),
        pytest.param(_edited(exchange=None), id="no-exchange"),
        pytest.param(_edited(symbols={}), id="no-symbols"),
        pytest.param(_edited(symbols=[]), id="symbols-list"),
        pytest.param(_with_row(["BTC", "USDT", "1"]), id="short-row"),
        pytest.param(_with_row(["BTC", "USDT", "1", "2"]), id="schema-1-row-in-schema-2"),
        pytest.param(_with_row(["BTC", "USDT", "1", "2", "-1", "1"]), id="negative-size"),
        pytest.param(_with_row(["BTC", "USDT", "1", "2", 1.5, "1"]), id="float-size"),
        pytest.param(_with_row(["BTC", "USDT", "1", "2", "1E+5", "1"]), id="exponent-size"),
        pytest.param(_with_row({"base": "BTC"}), id="object-row"),
        pytest.param(_with_row(["btc", "USDT", "1", "2"]), id="lowercase-base"),
        pytest.param(_with_row(["BTC", "", "1", "2"]), id="empty-quote"),
        pytest.param(_with_row(["BTC", "USDT", "0", "2"]), id="zero-bid"),
        pytest.param(_with_row(["BTC", "USDT", "1", "-2"]), id="negative-ask"),
        pytest.param(_with_row(["BTC", "USDT", "NaN", "2"]), id="nan"),
        pytest.param(_with_row(["BTC", "USDT", "Infinity", "2"]), id="infinity"),
        pytest.param(_with_row(["BTC", "USDT", "abc", "2"]), id="not-a-number"),
        pytest.param(_with_row(["BTC", "USDT", 1.5, "2"]), id="float-price"),
        pytest.param(_with_row(["BTC", "USDT", "1" * 65, "2"]), id="huge-price"),
    ],
)
def test_decode_rejects_bad_files(data: bytes) -> None:
    """Truncated, garbage, foreign, mismatched or malformed files raise CorruptSnapshotError."""
    with pytest.raises(CorruptSnapshotError):
        decode(data, SPEC_MS)


def test_decode_checks_fetched_at_against_the_name() -> None:
    """A file is refused when its fetched_at differs from the time its name says."""
    assert decode(GOOD, SPEC_MS).fetched_ms == SPEC_MS
    with pytest.raises(CorruptSnapshotError, match="fetched_at"):
        decode(GOOD, SPEC_MS + 1)


def test_check_frame() -> None:
    """check_frame accepts whole files and refuses anything cut or foreign."""
    check_frame(GOOD)
    for bad in (GOOD[:-1], GOOD[1:], b"", b'{"schema":2}', b'{"schema":3,"x":[]}}', GOOD + b"\n"):
        with pytest.raises(CorruptSnapshotError, match="frame"):
            check_frame(bad)


# -- find_pair --------------------------------------------------------------------


@pytest.mark.parametrize("wanted", [ETHBTC, BTCUSDT, BTCUPUSDT, TUSDT])
def test_find_pair_finds_the_row(wanted: Quote) -> None:
    """find_pair returns exactly the row with that base and quote."""
    assert find_pair(GOOD, wanted.base, wanted.quote) == wanted


def test_find_pair_does_not_confuse_prefixes() -> None:
    """BTC/USDT is not BTCUP/USDT, TUSD/T is not T/USDT, BTC/USD is not BTC/USDT."""
    only_up = encode(snapshot(BTCUPUSDT, ETHBTC))
    assert find_pair(only_up, "BTC", "USDT") is None
    assert find_pair(only_up, "BTCUP", "USDT") == BTCUPUSDT
    assert find_pair(GOOD, "TUSD", "T") is None
    assert find_pair(GOOD, "BTC", "USD") is None
    assert find_pair(GOOD, "TC", "USDT") is None
    assert find_pair(GOOD, "USDT", "BTC") is None  # the inverse is the caller's job


def test_find_pair_symbol_name_need_not_be_base_plus_quote() -> None:
    """A row is found by base and quote, whatever the symbol is called."""
    odd = quote("XBT-PERP", "BTC", "USD", "20000.5", "20001")
    found = find_pair(encode(snapshot(odd, ETHBTC)), "BTC", "USD")
    assert found == odd
    assert found is not None
    assert found.symbol == "XBT-PERP"


@given(snapshots(), codes, codes)
def test_find_pair_agrees_with_decode(snap: Snapshot, base: str, quote_: str) -> None:
    """find_pair(data, b, q) is the decoded snapshot's (b, q) quote, or None when absent."""
    data = encode(snap)
    pairs = decode(data, snap.fetched_ms).pairs
    for (b, q), expected in pairs.items():
        assert find_pair(data, b, q) == expected
    assert find_pair(data, base, quote_) == pairs.get((base, quote_))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(GOOD[:-3], id="truncated"),
        pytest.param(b"\x00\xff garbage {{{", id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(GOOD.replace(b"19979.51000000", b"0"), id="zero-bid-in-row"),
        pytest.param(GOOD.replace(b'"19980.18000000"', b'"x"'), id="bad-ask-in-row"),
    ],
)
def test_find_pair_raises_on_bad_files(data: bytes) -> None:
    """A bad frame or a bad row is CorruptSnapshotError, never a wrong answer."""
    with pytest.raises(CorruptSnapshotError):
        find_pair(data, "BTC", "USDT")


def test_find_pair_absent_in_a_truncated_file_still_raises() -> None:
    """Even for a pair that is not there, a truncated file is refused rather than 'absent'."""
    with pytest.raises(CorruptSnapshotError):
        find_pair(GOOD[: len(GOOD) // 2], "DOGE", "EUR")


def test_codes_in_lists_every_base_and_quote_without_decoding() -> None:
    """codes_in returns exactly the codes decode would, from the bytes alone."""
    from storage.codec import codes_in

    quotes = {
        "BTCUSDT": Quote("BTCUSDT", "BTC", "USDT", Decimal("1.5"), Decimal("1.6")),
        "ETHBTC": Quote("ETHBTC", "ETH", "BTC", Decimal("0.07"), Decimal("0.08")),
        "1INCHBUSD": Quote("1INCHBUSD", "1INCH", "BUSD", Decimal("0.5"), Decimal("0.6")),
    }
    data = encode(Snapshot("binance", 1_795_304_160_000, quotes))
    assert codes_in(data) == decode(data, 1_795_304_160_000).currencies
    with pytest.raises(CorruptSnapshotError):
        codes_in(data[:-5])


def test_find_row_refuses_a_row_cut_by_the_window_edge() -> None:
    """A row whose key starts before the slice is reported absent, never half-read."""
    from storage.codec import find_row

    quotes = {"BTCUSDT": Quote("BTCUSDT", "BTC", "USDT", Decimal("1.5"), Decimal("1.6"))}
    data = encode(Snapshot("binance", 1_795_304_160_000, quotes))
    start = data.index(b'"BTCUSDT"')
    assert find_row(data[start - 1 :], "BTC", "USDT")[0] is not None
    assert find_row(data[start + 3 :], "BTC", "USDT") == (None, -1)
