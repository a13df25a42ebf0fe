"""`Converter` over real snapshot files: which snapshot, which symbol, which error.

Every test writes real files with the real writer into `tmp_path` and reads
them through the real `SnapshotReader`; `now_ms` is passed in, so each
boundary (max age, "at or before T", retention) is hit to the millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from api.exceptions import (
    PairNotFoundError,
    QuotesNotFoundError,
    QuotesOutdatedError,
    QuotesUnavailableError,
    RateBelowPrecisionError,
    UnknownCurrencyError,
)
from api.params import ConvertQuery
from api.service import ConversionResult, Converter
from api.status import VenueStatus
from api.timestamps import parse_timestamp
from storage.lock import LOCK_NAME
from storage.model import Quote, format_iso_ms
from storage.writer import TEMP_PREFIX
from tests.api.conftest import (
    MAX_AGE_MS,
    NOW_MS,
    RETENTION_MS,
    SECOND_MS,
    FixedClock,
    Store,
    quote,
    recorded_quotes,
)

BTCUSDT = quote("BTCUSDT", "BTC", "USDT", "65000.01", "65000.02")  # mid 65000.015
ETHBTC = quote("ETHBTC", "ETH", "BTC", "0.07041400", "0.07041500")
SHIBUSDT = quote("SHIBUSDT", "SHIB", "USDT", "0.00001012", "0.00001013")
QUOTES = (BTCUSDT, ETHBTC, SHIBUSDT)


def status_of(store: Store) -> VenueStatus:
    """The status endpoints over this one-venue store, binance the default."""
    return VenueStatus([store.converter().snapshots], default_exchange="binance")


def query(amount: str, src: str, dst: str, at_ms: int | None = None) -> ConvertQuery:
    """A validated query, as `api.params` would build it."""
    return ConvertQuery(Decimal(amount), src, dst, at_ms)


def half_up(value: Fraction, places: int) -> str:
    """Round a positive exact fraction half-up and format it plainly (independent of api/)."""
    digits = str(math.floor(value * 10**places + Fraction(1, 2))).rjust(places + 1, "0")
    return f"{digits[:-places]}.{digits[-places:]}"


def mid(q: Quote) -> Fraction:
    return (Fraction(q.bid) + Fraction(q.ask)) / 2


def btc_at(bid: str) -> Quote:
    """BTCUSDT with a one-cent spread at `bid`, to tell snapshots apart by their rate."""
    return quote("BTCUSDT", "BTC", "USDT", bid, str(Decimal(bid) + Decimal("0.01")))


def rate_of(result: ConversionResult) -> Decimal:
    return Decimal(result.rate)


# -- pairs and numbers -------------------------------------------------------------


def test_direct_pair_uses_rounded_mid(store: Store, clock: FixedClock) -> None:
    """BTC->USDT on BTCUSDT: rate = round(mid, 12), amount = round(amount * rate, 6)."""
    store.write(clock.ms - SECOND_MS, QUOTES)
    result = store.converter().convert(query("1.5", "BTC", "USDT"), clock.ms)
    assert result.rate == "65000.015000000000"
    assert result.amount == "97500.022500"
    assert (result.from_code, result.to_code, result.symbol) == ("BTC", "USDT", "BTCUSDT")
    assert result.inverted is False
    assert result.quoted_ms == clock.ms - SECOND_MS
    assert result.exchange == "binance"


def test_inverse_pair_uses_rounded_reciprocal(store: Store, clock: FixedClock) -> None:
    """USDT->BTC on BTCUSDT: rate = round(1/mid, 12), amount from the returned rate."""
    store.write(clock.ms, QUOTES)
    result = store.converter().convert(query("1234.567891", "USDT", "BTC"), clock.ms)
    expected_rate = half_up(1 / mid(BTCUSDT), 12)
    assert result.rate == expected_rate
    assert result.amount == half_up(Fraction("1234.567891") * Fraction(expected_rate), 6)
    assert (result.symbol, result.inverted) == ("BTCUSDT", True)


def test_tiny_price_both_ways(store: Store, clock: FixedClock) -> None:
    """A sub-cent asset converts exactly both ways, with plain notation."""
    store.write(clock.ms, QUOTES)
    converter = store.converter()
    direct = converter.convert(query("1000000", "SHIB", "USDT"), clock.ms)
    inverse = converter.convert(query("1", "USDT", "SHIB"), clock.ms)
    assert direct.rate == "0.000010125000"
    assert direct.amount == "10.125000"
    assert inverse.rate == half_up(1 / mid(SHIBUSDT), 12)
    assert inverse.amount == half_up(Fraction(inverse.rate), 6)


def test_recorded_payload_btc_usdt(store: Store, clock: FixedClock) -> None:
    """The recorded BTCUSDT book gives the mid of its decimal strings as the rate."""
    store.write_recorded(clock.ms)
    recorded = recorded_quotes()["BTCUSDT"]
    result = store.converter().convert(query("1", "BTC", "USDT"), clock.ms)
    assert result.rate == half_up(mid(recorded), 12) == "19979.845000000000"


def test_direct_symbol_preferred_over_inverse(store: Store, clock: FixedClock) -> None:
    """When both XY and YX exist, each direction uses its own direct symbol."""
    # Deliberately inconsistent prices, so the symbol used shows in the rate.
    store.write(clock.ms, [quote("XY", "X", "Y", "2", "2"), quote("YX", "Y", "X", "0.25", "0.25")])
    converter = store.converter()
    x_to_y = converter.convert(query("1", "X", "Y"), clock.ms)
    y_to_x = converter.convert(query("1", "Y", "X"), clock.ms)
    assert (x_to_y.symbol, x_to_y.inverted, x_to_y.rate) == ("XY", False, "2.000000000000")
    assert (y_to_x.symbol, y_to_x.inverted, y_to_x.rate) == ("YX", False, "0.250000000000")


def test_same_currency_needs_no_fresh_quotes(store: Store, clock: FixedClock) -> None:
    """BTC->BTC answers rate 1 and the amount unchanged, even from outdated quotes."""
    store.write(clock.ms - 10 * MAX_AGE_MS, QUOTES)
    result = store.converter().convert(query("1.5", "BTC", "BTC"), clock.ms)
    assert (result.rate, result.amount) == ("1.000000000000", "1.500000")
    assert result.symbol is None
    assert result.inverted is False


@pytest.mark.parametrize("at_offset", [None, 0], ids=["latest", "historical"])
def test_same_currency_must_be_known(
    store: Store, clock: FixedClock, at_offset: int | None
) -> None:
    """XYZ->XYZ is unknown_currency naming `from`: a known code is required."""
    store.write(clock.ms, QUOTES)
    at = None if at_offset is None else clock.ms + at_offset
    with pytest.raises(UnknownCurrencyError) as info:
        store.converter().convert(query("1", "XYZ", "XYZ", at), clock.ms)
    assert info.value.details["parameter"] == "from"


@pytest.mark.parametrize(
    ("src", "dst", "parameter"),
    [("XYZ", "USDT", "from"), ("BTC", "XYZ", "to"), ("XYZ", "ABC", "from")],
)
@pytest.mark.parametrize("at_offset", [None, 0], ids=["latest", "historical"])
def test_unknown_currency_names_parameter(
    store: Store,
    clock: FixedClock,
    src: str,
    dst: str,
    parameter: str,
    at_offset: int | None,
) -> None:
    """A code no quotable symbol uses is unknown_currency, naming the parameter."""
    store.write(clock.ms, QUOTES)
    at = None if at_offset is None else clock.ms + at_offset
    with pytest.raises(UnknownCurrencyError) as info:
        store.converter().convert(query("1", src, dst, at), clock.ms)
    assert info.value.details["parameter"] == parameter
    assert info.value.details["currency"] == (src if parameter == "from" else dst)


def test_pair_not_found_when_no_symbol_joins(store: Store, clock: FixedClock) -> None:
    """ETH and USDT are both known but only joined through BTC: pair_not_found, no routing."""
    store.write(clock.ms, QUOTES)
    with pytest.raises(PairNotFoundError) as info:
        store.converter().convert(query("1", "ETH", "USDT"), clock.ms)
    assert info.value.details == {"from": "ETH", "to": "USDT", "exchange": "binance"}


@pytest.mark.parametrize(
    ("row", "src", "dst"),
    [
        (quote("DUSTBTC", "DUST", "BTC", "0.0000000000001", "0.0000000000002"), "DUST", "BTC"),
        (quote("BIGTINY", "BIG", "TINY", "3000000000000", "3000000000000"), "TINY", "BIG"),
    ],
    ids=["direct", "inverse"],
)
def test_rate_below_precision(
    store: Store, clock: FixedClock, row: Quote, src: str, dst: str
) -> None:
    """A rate that rounds to zero at 12 places is refused, never answered as 0."""
    store.write(clock.ms, [row])
    with pytest.raises(RateBelowPrecisionError):
        store.converter().convert(query("1000000", src, dst), clock.ms)


def test_rate_at_half_of_last_digit_rounds_up(store: Store, clock: FixedClock) -> None:
    """A mid of exactly 0.5e-12 rounds half-up to 1e-12 and is answered."""
    store.write(clock.ms, [quote("DUSTBTC", "DUST", "BTC", "0.0000000000005", "0.0000000000005")])
    result = store.converter().convert(query("1", "DUST", "BTC"), clock.ms)
    assert (result.rate, result.amount) == ("0.000000000001", "0.000000")


# -- latest: staleness and availability -----------------------------------------------


def test_latest_at_exactly_max_age_is_served(store: Store, clock: FixedClock) -> None:
    """Quotes exactly QUOTES_MAX_AGE_SECONDS old are still fresh."""
    store.write(clock.ms - MAX_AGE_MS, QUOTES)
    result = store.converter().convert(query("1", "BTC", "USDT"), clock.ms)
    assert result.quoted_ms == clock.ms - MAX_AGE_MS


def test_latest_one_ms_past_max_age_is_outdated(store: Store, clock: FixedClock) -> None:
    """One millisecond past the limit is quotes_outdated, saying how old and the limit."""
    quoted = clock.ms - MAX_AGE_MS - 1
    store.write(quoted, QUOTES)
    with pytest.raises(QuotesOutdatedError) as info:
        store.converter().convert(query("1", "BTC", "USDT"), clock.ms)
    assert info.value.details == {
        "exchange": "binance",
        "quoted_at": format_iso_ms(quoted),
        "age_seconds": 60.001,
        "max_age_seconds": 60.0,
    }


def test_latest_uses_newest_snapshot(store: Store, clock: FixedClock) -> None:
    """Without a timestamp the newest snapshot is used, not an older one."""
    store.write(clock.ms - 2 * SECOND_MS, [btc_at("100")])
    store.write(clock.ms - SECOND_MS, [btc_at("200")])
    result = store.converter().convert(query("1", "BTC", "USDT"), clock.ms)
    assert result.quoted_ms == clock.ms - SECOND_MS
    assert rate_of(result) == Decimal("200.005")


def _no_root(store: Store) -> None:
    pass


def _root_only(store: Store) -> None:
    store.root.mkdir(parents=True)


def _empty_directory(store: Store) -> None:
    store.directory.mkdir(parents=True)


def _leftovers_only(store: Store) -> None:
    store.directory.mkdir(parents=True)
    (store.root / LOCK_NAME).write_bytes(b"")
    (store.directory / f"{TEMP_PREFIX}{format_iso_ms(NOW_MS)}.json.ab12").write_bytes(b"{")


def _corrupt_only(store: Store) -> None:
    path = store.write(NOW_MS, QUOTES)
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize(
    "prepare",
    [_no_root, _root_only, _empty_directory, _leftovers_only, _corrupt_only],
    ids=lambda f: f.__name__.lstrip("_"),
)
@pytest.mark.parametrize(("src", "dst"), [("BTC", "USDT"), ("BTC", "BTC")])
def test_no_readable_snapshot_is_unavailable(
    store: Store, clock: FixedClock, prepare: Callable[[Store], None], src: str, dst: str
) -> None:
    """With no readable snapshot, latest conversions are quotes_unavailable."""
    prepare(store)
    with pytest.raises(QuotesUnavailableError):
        store.converter().convert(query("1", src, dst), clock.ms)


# -- historical: "the newest snapshot at or before T" ---------------------------------

A_MS = NOW_MS - 3_600_000  # an hour ago, a whole millisecond value
B_MS = A_MS + 30_000  # the next snapshot, 30 s later


@pytest.fixture
def history(store: Store) -> Converter:
    """Two snapshots 30 s apart, told apart by their BTCUSDT price (100 then 200)."""
    store.write(A_MS, [btc_at("100"), ETHBTC])
    store.write(B_MS, [btc_at("200"), ETHBTC])
    return store.converter()


@pytest.mark.parametrize(
    ("at_ms", "expected_ms"),
    [
        (A_MS, A_MS),  # T == snapshot time uses it
        (A_MS + 1, A_MS),
        (B_MS - 1, A_MS),  # one ms before the next snapshot: still the previous one
        (B_MS, B_MS),
        (B_MS + MAX_AGE_MS, B_MS),  # exactly max age after the snapshot
    ],
    ids=["T=A", "T=A+1", "T=B-1", "T=B", "T=B+max_age"],
)
def test_historical_uses_newest_at_or_before(
    history: Converter, at_ms: int, expected_ms: int
) -> None:
    """With timestamp T the newest snapshot with quoted_at <= T is used, to the ms."""
    result = history.convert(query("1", "BTC", "USDT", at_ms), NOW_MS)
    assert result.quoted_ms == expected_ms
    assert rate_of(result) == (Decimal("100.005") if expected_ms == A_MS else Decimal("200.005"))


@pytest.mark.parametrize(
    "at_ms",
    [A_MS - 1, B_MS + MAX_AGE_MS + 1],
    ids=["before-first-never-later", "max_age+1-after-last"],
)
def test_historical_quotes_not_found(history: Converter, at_ms: int) -> None:
    """No snapshot at or before T within the max age: quotes_not_found, never a later one."""
    with pytest.raises(QuotesNotFoundError) as info:
        history.convert(query("1", "BTC", "USDT", at_ms), NOW_MS)
    assert info.value.details["timestamp"] == format_iso_ms(at_ms)
    assert info.value.details["max_age_seconds"] == 60.0


def test_historical_ignores_staleness_of_latest(history: Converter) -> None:
    """An hour-old snapshot answers for its own time although it is outdated as the latest."""
    with pytest.raises(QuotesOutdatedError):
        history.convert(query("1", "BTC", "USDT"), NOW_MS)
    assert history.convert(query("1", "BTC", "USDT", B_MS), NOW_MS).quoted_ms == B_MS


def test_historical_errors_come_from_the_snapshot_in_force(history: Converter) -> None:
    """Historical pair look-ups report unknown currencies and missing pairs too."""
    with pytest.raises(UnknownCurrencyError):
        history.convert(query("1", "SHIB", "USDT", B_MS), NOW_MS)
    with pytest.raises(PairNotFoundError):
        history.convert(query("1", "ETH", "USDT", B_MS), NOW_MS)


def test_quoted_at_round_trips_to_the_same_snapshot(store: Store, clock: FixedClock) -> None:
    """Passing a response's quoted_at back as timestamp selects that same snapshot."""
    # Neighbours 1 ms apart: reporting or comparing at coarser precision would
    # land on the wrong one.
    times = [clock.ms - 2, clock.ms - 1, clock.ms]
    for i, ms in enumerate(times):
        store.write(ms, [btc_at(str(100 + i))])
    converter = store.converter()
    for ms in times:
        first = converter.convert(query("1", "BTC", "USDT", ms), clock.ms)
        quoted_at = first.to_body()["quoted_at"]
        assert isinstance(quoted_at, str)
        again = converter.convert(
            query("1", "BTC", "USDT", parse_timestamp(quoted_at, clock.ms)), clock.ms
        )
        assert again.quoted_ms == first.quoted_ms == ms
        assert again.rate == first.rate


def test_latest_quoted_at_round_trips(store: Store, clock: FixedClock) -> None:
    """The latest answer's quoted_at, passed back, gives the same snapshot and rate."""
    store.write(clock.ms - 1_234, QUOTES)
    store.write(clock.ms - 1_235, [btc_at("1")])
    converter = store.converter()
    latest = converter.convert(query("2", "USDT", "BTC"), clock.ms)
    at = parse_timestamp(str(latest.to_body()["quoted_at"]), clock.ms)
    again = converter.convert(query("2", "USDT", "BTC", at), clock.ms)
    assert (again.quoted_ms, again.rate, again.amount) == (
        latest.quoted_ms,
        latest.rate,
        latest.amount,
    )


# -- retention --------------------------------------------------------------------------


def test_timestamp_older_than_retention_is_not_found(store: Store, clock: FixedClock) -> None:
    """T older than the retention window is quotes_not_found even if a file lingers there."""
    lingering = clock.ms - RETENTION_MS - 1
    store.write(lingering, QUOTES)
    with pytest.raises(QuotesNotFoundError) as info:
        store.converter().convert(query("1", "BTC", "USDT", lingering), clock.ms)
    assert info.value.details["retention_days"] == 7


def test_snapshot_exactly_at_retention_edge_is_served(store: Store, clock: FixedClock) -> None:
    """A snapshot exactly RETENTION_DAYS old is not yet older than retention."""
    edge = clock.ms - RETENTION_MS
    store.write(edge, QUOTES)
    assert store.converter().convert(query("1", "BTC", "USDT", edge), clock.ms).quoted_ms == edge


def test_lingering_snapshot_not_served_for_recent_timestamp(
    store: Store, clock: FixedClock
) -> None:
    """T inside retention never falls back to a lingering file from before the window."""
    lingering = clock.ms - RETENTION_MS - 1
    store.write(lingering, QUOTES)
    with pytest.raises(QuotesNotFoundError):
        store.converter().convert(query("1", "BTC", "USDT", lingering + SECOND_MS), clock.ms)


@pytest.mark.parametrize(("src", "dst"), [("BTC", "USDT"), ("BTC", "BTC")])
def test_lingering_snapshot_not_served_as_latest(
    store: Store, clock: FixedClock, src: str, dst: str
) -> None:
    """A newest file older than retention is refused as outdated, same currency included."""
    lingering = clock.ms - RETENTION_MS - 1
    store.write(lingering, QUOTES)
    with pytest.raises(QuotesOutdatedError) as info:
        store.converter().convert(query("1", src, dst), clock.ms)
    assert info.value.details["quoted_at"] == format_iso_ms(lingering)


# -- corrupt files ------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xff garbage {{{")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _bad_price(path: Path) -> None:
    # Frame intact, but the BTCUSDT row's bid is not a decimal.
    data = path.read_bytes()
    assert b'"BTC","USDT","300"' in data
    path.write_bytes(data.replace(b'"BTC","USDT","300"', b'"BTC","USDT","3O0"'))


def _not_its_name(path: Path) -> None:
    # A valid snapshot, but fetched_at says another time than the file name.
    data = path.read_bytes()
    stamp = format_iso_ms(B_MS + 1).encode()
    path.write_bytes(data.replace(format_iso_ms(B_MS + 2).encode(), stamp))


@pytest.mark.parametrize(
    "corrupt",
    [_truncate, _garbage, _empty, _bad_price, _not_its_name],
    ids=lambda f: f.__name__.lstrip("_"),
)
@pytest.mark.parametrize("mode", ["latest", "historical"])
def test_corrupt_newest_file_falls_back_to_previous(
    store: Store, corrupt: Callable[[Path], None], mode: str
) -> None:
    """A corrupt newest file is skipped and the previous snapshot is served, never a 500."""
    store.write(B_MS, [btc_at("200")])
    newest = B_MS + 2
    corrupt(store.write(newest, [btc_at("300")]))
    now = newest + SECOND_MS
    converter = store.converter()
    at = None if mode == "latest" else newest
    for _ in range(2):  # and again, once the file is known to be bad
        result = converter.convert(query("1", "BTC", "USDT", at), now)
        assert result.quoted_ms == B_MS
        assert rate_of(result) == Decimal("200.005")


def test_only_corrupt_file_in_force_is_not_found(store: Store) -> None:
    """Historical look-up whose only snapshot is corrupt says quotes_not_found."""
    _truncate(store.write(B_MS, QUOTES))
    with pytest.raises(QuotesNotFoundError):
        store.converter().convert(query("1", "BTC", "USDT", B_MS), NOW_MS)


# -- health and currencies --------------------------------------------------------------


def test_health_ok_up_to_max_age(store: Store, clock: FixedClock) -> None:
    """Health is 200 ok while the newest snapshot is at most the max age old."""
    store.write(clock.ms - MAX_AGE_MS, QUOTES)
    status, body = status_of(store).health(clock.ms)
    assert status == 200
    assert body["status"] == "ok"
    assert body["quoted_at"] == format_iso_ms(clock.ms - MAX_AGE_MS)
    assert body["age_seconds"] == 60.0
    assert body["snapshots"] == 1


def test_health_outdated_past_max_age(store: Store, clock: FixedClock) -> None:
    """Health is 503 outdated one millisecond past the max age."""
    store.write(clock.ms - MAX_AGE_MS - 1, QUOTES)
    status, body = status_of(store).health(clock.ms)
    assert (status, body["status"], body["age_seconds"]) == (503, "outdated", 60.001)


def test_health_no_data(store: Store, clock: FixedClock) -> None:
    """Health is 503 no_data with zero snapshots when the store is empty."""
    status, body = status_of(store).health(clock.ms)
    assert (status, body["status"], body["snapshots"]) == (503, "no_data", 0)


def test_currencies_sorted_from_newest(store: Store, clock: FixedClock) -> None:
    """Currencies are the newest snapshot's codes, sorted, with its quoted_at."""
    store.write(clock.ms - 5 * SECOND_MS, [quote("OLDBTC", "OLD", "BTC", "1", "1")])
    store.write(clock.ms - SECOND_MS, QUOTES)
    body = status_of(store).currencies(clock.ms)
    assert body["currencies"] == ["BTC", "ETH", "SHIB", "USDT"]
    assert body["quoted_at"] == format_iso_ms(clock.ms - SECOND_MS)
