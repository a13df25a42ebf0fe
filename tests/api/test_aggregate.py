"""`exchange=average` and `exchange=best` over real stores of four venues.

Every store is written with the real writer into `tmp_path` and read back
through real readers; expected numbers are computed here with exact
fractions, independently of `api/`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import orjson
import pytest

from api.aggregate import Aggregator
from api.exceptions import (
    PairNotFoundError,
    QuotesNotFoundError,
    QuotesOutdatedError,
    QuotesUnavailableError,
    RateBelowPrecisionError,
    UnknownCurrencyError,
)
from api.params import ConvertQuery
from api.results import AggregateResult
from storage.model import Quote, format_iso_ms
from tests.api.conftest import MAX_AGE_MS, NOW_MS, RETENTION_MS, SECOND_MS, Store, quote

VENUES = ("binance", "kraken", "bybit", "okx")
FIVE = Decimal(5)

# Around 100 on three venues, +20 % on okx: okx is the average's outlier, and
# (since it pays the most) the best venue for selling BTC.
BOOKS = {
    "binance": quote("BTCUSDT", "BTC", "USDT", "100", "102", "2", "3"),
    "kraken": quote("XBTUSDT", "BTC", "USDT", "99", "101", "5", "1"),
    "bybit": quote("BTCUSDT", "BTC", "USDT", "101", "103", "1.5", "0.25"),
    "okx": quote("BTC-USDT", "BTC", "USDT", "120", "122", "0.1", "4"),
}
ETHBTC = quote("ETHBTC", "ETH", "BTC", "0.05", "0.06", "10", "10")


def half_up(value: Fraction, places: int) -> str:
    """Round a positive exact fraction half-up and format it plainly (independent of api/)."""
    digits = str(math.floor(value * 10**places + Fraction(1, 2))).rjust(places + 1, "0")
    return f"{digits[:-places]}.{digits[-places:]}"


def mid(q: Quote) -> Fraction:
    return (Fraction(q.bid) + Fraction(q.ask)) / 2


class Venues:
    """Four venue stores under one root, and an Aggregator over them."""

    def __init__(self, root: Path, names: Iterable[str] = VENUES) -> None:
        self.stores = {name: Store(root, name) for name in names}

    def write(self, venue: str, ms: int, *quotes: Quote) -> None:
        self.stores[venue].write(ms, quotes)

    def aggregator(self, percent: Decimal = FIVE) -> Aggregator:
        snapshots = [store.converter().snapshots for store in self.stores.values()]
        return Aggregator(snapshots, outlier_percent=percent)


@pytest.fixture
def venues(tmp_path: Path) -> Venues:
    return Venues(tmp_path / "data")


@pytest.fixture
def four(venues: Venues) -> Venues:
    """Every venue's BTC/USDT book, okx +20 %; binance also lists ETHBTC. Ages 1-4 s."""
    for age, (venue, book) in enumerate(BOOKS.items(), start=1):
        extra = (ETHBTC,) if venue == "binance" else ()
        venues.write(venue, NOW_MS - age * SECOND_MS, book, *extra)
    return venues


def convert(
    venues: Venues, mode: str, amount: str, src: str, dst: str, at_ms: int | None = None
) -> dict[str, object]:
    query = ConvertQuery(Decimal(amount), src, dst, at_ms, mode)
    result = venues.aggregator().convert(query, mode, NOW_MS)
    assert isinstance(result, AggregateResult)
    return result.to_body()


def sources(body: dict[str, object]) -> list[dict[str, object]]:
    """`sources` as a client sees it (it is a pre-serialised fragment in the body)."""
    listed = orjson.loads(orjson.dumps(body["sources"]))
    assert isinstance(listed, list)
    return listed


# -- average ------------------------------------------------------------------------------


def test_average_drops_the_outlier(four: Venues) -> None:
    """okx at +20 % is dropped; the rate is the mean of the other three mids."""
    body = convert(four, "average", "1.5", "BTC", "USDT")
    kept = [mid(BOOKS[v]) for v in ("binance", "kraken", "bybit")]
    rate = half_up(sum(kept, Fraction(0)) / 3, 12)
    assert body["rate"] == rate == "101.000000000000"
    assert body["amount"] == half_up(Fraction("1.5") * Fraction(rate), 6)
    assert (body["exchange"], body["symbol"], body["inverted"]) == ("average", None, None)
    # The oldest kept snapshot: bybit's, 3 s old (okx, 4 s, was dropped).
    assert body["quoted_at"] == format_iso_ms(NOW_MS - 3 * SECOND_MS)
    listed = sources(body)
    assert [s["exchange"] for s in listed] == list(VENUES)
    assert [(s["used"], s["reason"]) for s in listed] == [
        (True, None),
        (True, None),
        (True, None),
        (False, "outlier"),
    ]
    assert listed[3]["rate"] == "121.000000000000"
    assert listed[1] == {
        "exchange": "kraken",
        "symbol": "XBTUSDT",
        "inverted": False,
        "rate": "100.000000000000",
        "quoted_at": format_iso_ms(NOW_MS - 2 * SECOND_MS),
        "used": True,
        "reason": None,
    }


def test_average_without_outlier(venues: Venues) -> None:
    """Three close venues: all used, the plain mean."""
    for venue in ("binance", "kraken", "bybit"):
        venues.write(venue, NOW_MS, BOOKS[venue])
    body = convert(venues, "average", "1", "BTC", "USDT")
    assert body["rate"] == "101.000000000000"
    assert all(s["used"] for s in sources(body)[:3])
    assert sources(body)[3]["reason"] == "no_snapshot"


def test_average_of_two_far_apart_keeps_both(venues: Venues) -> None:
    """With two venues there is no median majority: both are kept, however far apart."""
    venues.write("binance", NOW_MS, BOOKS["binance"])
    venues.write("okx", NOW_MS, BOOKS["okx"])
    body = convert(venues, "average", "1", "BTC", "USDT")
    assert body["rate"] == "111.000000000000"


def test_average_inverse_uses_reciprocal_mids(four: Venues) -> None:
    """USDT->BTC averages 1/mid of each venue (okx still the outlier)."""
    body = convert(four, "average", "1234.567891", "USDT", "BTC")
    exact = sum((1 / mid(BOOKS[v]) for v in ("binance", "kraken", "bybit")), Fraction(0)) / 3
    assert body["rate"] == half_up(exact, 12)
    assert body["amount"] == half_up(Fraction("1234.567891") * Fraction(str(body["rate"])), 6)
    assert [s["inverted"] for s in sources(body)] == [True] * 4
    assert [s["reason"] for s in sources(body)] == [None, None, None, "outlier"]


def test_one_venue_average_equals_the_venue(tmp_path: Path) -> None:
    """EXCHANGES=binance: average and binance agree to the digit, both directions."""
    venues = Venues(tmp_path, ["binance"])
    venues.write("binance", NOW_MS, quote("BTCUSDT", "BTC", "USDT", "19979.51", "19980.18"))
    converter = venues.stores["binance"].converter()
    for src, dst in (("BTC", "USDT"), ("USDT", "BTC")):
        alone = converter.convert(ConvertQuery(Decimal("3.3"), src, dst, None), NOW_MS)
        body = convert(venues, "average", "3.3", src, dst)
        assert (body["rate"], body["amount"]) == (alone.rate, alone.amount)


# -- best -----------------------------------------------------------------------------------


def test_best_selling_the_base_takes_the_highest_bid(four: Venues) -> None:
    """BTC->USDT: okx's bid 120 wins (best has no outlier rule); side bid, size bid_qty."""
    body = convert(four, "best", "0.5", "BTC", "USDT")
    assert body["rate"] == "120.000000000000"
    assert body["amount"] == "60.000000"
    assert (body["venue"], body["symbol"], body["inverted"], body["side"]) == (
        "okx",
        "BTC-USDT",
        False,
        "bid",
    )
    assert body["top_of_book_quantity"] == "0.1"
    assert body["exceeds_top_of_book"] is True
    assert body["quoted_at"] == format_iso_ms(NOW_MS - 4 * SECOND_MS)
    listed = sources(body)
    assert [s["rate"] for s in listed] == [
        "100.000000000000",
        "99.000000000000",
        "101.000000000000",
        "120.000000000000",
    ]
    assert [(s["used"], s["reason"]) for s in listed] == [(False, None)] * 3 + [(True, None)]


def test_best_buying_the_base_takes_the_lowest_ask(four: Venues) -> None:
    """USDT->BTC: 1/ask is highest at kraken (ask 101); size ask_qty x ask in USDT."""
    body = convert(four, "best", "100", "USDT", "BTC")
    assert body["rate"] == half_up(Fraction(1, 101), 12)
    assert (body["venue"], body["side"], body["inverted"]) == ("kraken", "ask", True)
    assert body["top_of_book_quantity"] == "101"
    assert body["exceeds_top_of_book"] is False
    assert convert(four, "best", "101.000001", "USDT", "BTC")["exceeds_top_of_book"] is True
    assert sources(body)[3]["rate"] == half_up(Fraction(1, 122), 12)


def test_best_tie_goes_to_the_first_listed(venues: Venues) -> None:
    """Equal bids: the venue first in EXCHANGES wins."""
    venues.write("kraken", NOW_MS, quote("XBTUSDT", "BTC", "USDT", "100", "105", "1", "1"))
    venues.write("okx", NOW_MS, quote("BTC-USDT", "BTC", "USDT", "100", "101", "1", "1"))
    assert convert(venues, "best", "1", "BTC", "USDT")["venue"] == "kraken"


def test_best_from_a_schema_one_snapshot_has_no_size(venues: Venues) -> None:
    """A schema-1 file has no sizes: top_of_book_quantity and exceeds are null."""
    venues.stores["binance"].write_schema1(NOW_MS, [BOOKS["binance"]])
    body = convert(venues, "best", "1", "BTC", "USDT")
    assert body["venue"] == "binance"
    assert (body["top_of_book_quantity"], body["exceeds_top_of_book"]) == (None, None)


# -- who takes part ---------------------------------------------------------------------------


def test_outdated_and_missing_venues_are_left_out(venues: Venues) -> None:
    """An outdated venue and a venue without the pair are listed with their reason."""
    venues.write("binance", NOW_MS, BOOKS["binance"])
    venues.write("kraken", NOW_MS - MAX_AGE_MS - 1, BOOKS["kraken"])
    venues.write("bybit", NOW_MS, ETHBTC)
    body = convert(venues, "average", "1", "BTC", "USDT")
    assert body["rate"] == "101.000000000000"
    listed = sources(body)
    assert [(s["used"], s["reason"]) for s in listed] == [
        (True, None),
        (False, "outdated"),
        (False, "pair_not_listed"),
        (False, "no_snapshot"),
    ]
    assert listed[1]["quoted_at"] == format_iso_ms(NOW_MS - MAX_AGE_MS - 1)
    assert (listed[1]["rate"], listed[1]["symbol"], listed[1]["inverted"]) == (None, None, None)
    assert listed[3]["quoted_at"] is None


def test_memo_follows_new_snapshots(four: Venues) -> None:
    """The same aggregator answers from a venue's new snapshot as soon as it is written."""
    aggregator = four.aggregator()
    query = ConvertQuery(Decimal(1), "BTC", "USDT", None, "best")
    assert aggregator.convert(query, "best", NOW_MS).to_body()["venue"] == "okx"
    four.write("bybit", NOW_MS, quote("BTCUSDT", "BTC", "USDT", "130", "131", "1", "1"))
    assert aggregator.convert(query, "best", NOW_MS).to_body()["venue"] == "bybit"


# -- errors ------------------------------------------------------------------------------------


def test_pair_listed_only_by_outdated_venues_is_quotes_outdated(venues: Venues) -> None:
    """Some venue lists the pair but none has fresh quotes: 503 with per-venue details."""
    venues.write("binance", NOW_MS - 2 * MAX_AGE_MS, BOOKS["binance"])
    venues.write("kraken", NOW_MS, ETHBTC)
    with pytest.raises(QuotesOutdatedError) as caught:
        convert(venues, "average", "1", "BTC", "USDT")
    details = caught.value.details
    per_venue = details["exchanges"]
    assert isinstance(per_venue, dict)
    assert per_venue["binance"] == {
        "reason": "outdated",
        "quoted_at": format_iso_ms(NOW_MS - 2 * MAX_AGE_MS),
        "age_seconds": 120.0,
    }
    assert per_venue["kraken"]["reason"] == "pair_not_listed"
    assert per_venue["okx"] == {"reason": "no_snapshot"}
    assert (details["from"], details["to"], details["max_age_seconds"]) == ("BTC", "USDT", 60.0)


@pytest.mark.parametrize("mode", ["average", "best"])
def test_unknown_currency_and_pair_not_found(four: Venues, mode: str) -> None:
    """A code no venue knows is unknown_currency; known codes without a symbol, pair_not_found."""
    with pytest.raises(UnknownCurrencyError) as unknown:
        convert(four, mode, "1", "BTC", "XYZ")
    assert unknown.value.details == {"parameter": "to", "currency": "XYZ"}
    with pytest.raises(PairNotFoundError) as missing:
        convert(four, mode, "1", "ETH", "USDT")
    assert missing.value.details == {"from": "ETH", "to": "USDT"}


def test_code_known_only_to_an_outdated_venue(venues: Venues) -> None:
    """A code only an outdated venue lists is about fresh quotes, not an unknown code."""
    venues.write("binance", NOW_MS, BOOKS["binance"])
    venues.write("okx", NOW_MS - 2 * MAX_AGE_MS, quote("SOL-USDT", "SOL", "USDT", "20", "21"))
    with pytest.raises(QuotesOutdatedError):
        convert(venues, "best", "1", "SOL", "USDT")


def test_no_snapshot_anywhere_is_unavailable(venues: Venues) -> None:
    """No venue has written anything: quotes_unavailable, as for one venue."""
    with pytest.raises(QuotesUnavailableError):
        convert(venues, "average", "1", "BTC", "USDT")


@pytest.mark.parametrize("mode", ["average", "best"])
def test_rate_below_precision(venues: Venues, mode: str) -> None:
    """A cross-venue rate that rounds to zero at 12 places is refused."""
    dust = quote("DUSTBTC", "DUST", "BTC", "0.0000000000001", "0.0000000000002")
    venues.write("binance", NOW_MS, dust)
    venues.write("kraken", NOW_MS, dust)
    with pytest.raises(RateBelowPrecisionError):
        convert(venues, mode, "1", "DUST", "BTC")


@pytest.mark.parametrize("mode", ["average", "best"])
def test_same_currency(four: Venues, mode: str) -> None:
    """BTC->BTC: rate 1, amount unchanged, no sources; the code must be known somewhere."""
    four.write("kraken", NOW_MS - 2 * MAX_AGE_MS - 5, quote("XBTEUR", "BTC", "EUR", "1", "2"))
    body = convert(four, mode, "2.5", "BTC", "BTC")
    assert (body["rate"], body["amount"]) == ("1.000000000000", "2.500000")
    assert sources(body) == []
    assert body["quoted_at"] == format_iso_ms(NOW_MS - SECOND_MS)  # the newest knowing BTC
    with pytest.raises(UnknownCurrencyError):
        convert(four, mode, "1", "XYZ", "XYZ")


def test_same_currency_needs_no_fresh_quotes(venues: Venues) -> None:
    """Only outdated venues: same currency still answers (no staleness check)."""
    venues.write("okx", NOW_MS - 10 * MAX_AGE_MS, BOOKS["okx"])
    assert convert(venues, "best", "1", "USDT", "USDT")["rate"] == "1.000000000000"


# -- historical ------------------------------------------------------------------------------

T = NOW_MS - 3_600_000


def test_historical_uses_each_venues_snapshot_in_force(venues: Venues) -> None:
    """At T each venue answers from its newest snapshot at or before T, never a later one."""
    venues.write("binance", T - 10 * SECOND_MS, quote("BTCUSDT", "BTC", "USDT", "100", "100"))
    venues.write("binance", T + 1, quote("BTCUSDT", "BTC", "USDT", "500", "500"))
    venues.write("kraken", T, quote("XBTUSDT", "BTC", "USDT", "102", "102"))
    venues.write("bybit", T + 1, quote("BTCUSDT", "BTC", "USDT", "900", "900"))  # after T only
    venues.write("okx", T - MAX_AGE_MS - 1, quote("BTC-USDT", "BTC", "USDT", "101", "101"))
    body = convert(venues, "average", "1", "BTC", "USDT", at_ms=T)
    assert body["rate"] == "101.000000000000"
    assert body["quoted_at"] == format_iso_ms(T - 10 * SECOND_MS)
    assert [s["reason"] for s in sources(body)] == [None, None, "no_snapshot", "outdated"]
    assert sources(body)[3]["quoted_at"] == format_iso_ms(T - MAX_AGE_MS - 1)
    best = convert(venues, "best", "1", "BTC", "USDT", at_ms=T)
    assert (best["venue"], best["rate"]) == ("kraken", "102.000000000000")


def test_historical_nothing_in_force_is_quotes_not_found(venues: Venues) -> None:
    """A pair listed, but by no snapshot in force at T: quotes_not_found with per-venue details."""
    venues.write("binance", NOW_MS, BOOKS["binance"])
    with pytest.raises(QuotesNotFoundError) as caught:
        convert(venues, "best", "1", "BTC", "USDT", at_ms=T)
    assert caught.value.details["timestamp"] == format_iso_ms(T)
    per_venue = caught.value.details["exchanges"]
    assert isinstance(per_venue, dict)
    assert per_venue["binance"] == {"reason": "no_snapshot"}


def test_historical_before_retention(four: Venues) -> None:
    """T older than the retention window is quotes_not_found, as for one venue."""
    with pytest.raises(QuotesNotFoundError) as caught:
        convert(four, "average", "1", "BTC", "USDT", at_ms=NOW_MS - RETENTION_MS - 1)
    assert caught.value.details["retention_days"] == 7
