"""The pure market figures: rankings, book notionals, spreads and their changes.

Figures from the recorded Binance payloads are recomputed here independently
(`json` and `fractions.Fraction`, exact), and the maths has hypothesis
properties: exactness, order, bounds.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from consumer.exchanges._model import OrderBook, SymbolStats
from consumer.exchanges.binance import parse_depth, parse_metadata, parse_stats
from consumer.market.analytics import (
    BOOK_LEVELS,
    RANKING_SIZE,
    book_notional,
    exact_sum_of_products,
    spread_changes,
    spreads,
    top_by_quote_volume,
    top_by_trades,
)
from storage.model import Quote

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"
EXCHANGE_INFO: dict[str, Any] = json.loads(
    (FIXTURES / "exchangeInfo_2023-08-13.trimmed.json").read_bytes()
)
TICKER_24HR: list[dict[str, Any]] = json.loads(
    (FIXTURES / "ticker_24hr_2023-03-10.json").read_bytes()
)
STATS = parse_stats(TICKER_24HR, parse_metadata(EXCHANGE_INFO))
TRADING = {
    s["symbol"]: s["quoteAsset"] for s in EXCHANGE_INFO["symbols"] if s["status"] == "TRADING"
}


def expected_top(quote: str, figure: str) -> list[tuple[str, Fraction]]:
    """The ranking recomputed from the JSON: highest first, ties by symbol."""
    rows = [
        (e["symbol"], Fraction(e[figure])) for e in TICKER_24HR if TRADING.get(e["symbol"]) == quote
    ]
    rows.sort(key=lambda row: (-row[1], row[0]))
    return rows[:5]


def test_btc_ranking_of_the_recorded_ticker() -> None:
    """The top 5 BTC-quoted TRADING symbols by quoteVolume, values to the last digit."""
    ranked = top_by_quote_volume(STATS)
    assert [(r.symbol, Fraction(r.value)) for r in ranked] == expected_top("BTC", "quoteVolume")
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5]
    assert all(r.quote == "BTC" for r in ranked)


def test_usdt_ranking_of_the_recorded_ticker() -> None:
    """The top 5 USDT-quoted TRADING symbols by count (number of trades)."""
    ranked = top_by_trades(STATS)
    assert ranked is not None
    assert [(r.symbol, Fraction(r.value)) for r in ranked] == expected_top("USDT", "count")


def test_rankings_only_among_the_quotable_symbols_when_given() -> None:
    """With `quotable`, a symbol missing from the latest poll cannot rank."""
    leader = top_by_quote_volume(STATS)[0].symbol
    ranked = top_by_quote_volume(STATS, quotable=set(STATS) - {leader})
    full = expected_top("BTC", "quoteVolume")
    assert full[0][0] == leader
    rows = [(e["symbol"], Fraction(e["quoteVolume"])) for e in TICKER_24HR]
    rest = sorted(
        (row for row in rows if TRADING.get(row[0]) == "BTC" and row[0] != leader),
        key=lambda row: (-row[1], row[0]),
    )
    assert [(r.symbol, Fraction(r.value)) for r in ranked] == rest[:5]


def test_trade_ranking_is_not_computed_without_trade_counts() -> None:
    """A venue that publishes no trade count (Bybit, OKX) gets None, not an empty ranking."""
    stats = {s: SymbolStats(s, "BTC", "USDT", Decimal(1), None) for s in ("BTC-USDT", "ETH-USDT")}
    assert top_by_trades(stats) is None
    assert top_by_trades({}) is None
    stats["X"] = SymbolStats("X", "X", "EUR", Decimal(1), 4)
    assert top_by_trades(stats) == ()


def test_book_notional_of_a_recorded_1000_level_book() -> None:
    """Σ price × qty of the top 200 levels of each side, exact, from the JSON."""
    doc = json.loads((FIXTURES / "depth_LRCBTC_limit1000_2021-10-12.json").read_bytes())
    assert len(doc["asks"]) > BOOK_LEVELS
    book = parse_depth(doc, "LRCBTC")
    bids, asks = book_notional(book)
    want_bids = sum(Fraction(p) * Fraction(q) for p, q in doc["bids"][:200])
    want_asks = sum(Fraction(p) * Fraction(q) for p, q in doc["asks"][:200])
    assert (Fraction(bids), Fraction(asks)) == (want_bids, want_asks)


def test_book_notional_with_fewer_levels_than_asked() -> None:
    """A thin book sums what it has; an empty side is 0."""
    doc = json.loads((FIXTURES / "depth_BLZETH_limit1000_2021-10-12.json").read_bytes())
    bids, _ = book_notional(parse_depth(doc, "BLZETH"))
    assert len(doc["bids"]) < BOOK_LEVELS
    assert Fraction(bids) == sum(Fraction(p) * Fraction(q) for p, q in doc["bids"])
    assert book_notional(OrderBook("X", (), ())) == (Decimal(0), Decimal(0))


# -- properties --------------------------------------------------------------------

plain_decimals = st.decimals(
    min_value=Decimal("0.00000001"), max_value=Decimal("99999999"), places=8
).map(lambda d: Decimal(str(d)))
levels = st.lists(st.tuples(plain_decimals, plain_decimals), max_size=260)


@given(levels)
def test_sum_of_products_is_exact(pairs: list[tuple[Decimal, Decimal]]) -> None:
    """Σ a × b equals the exact rational sum: nothing is rounded, whatever the digits."""
    total = exact_sum_of_products(pairs)
    assert Fraction(total) == sum((Fraction(a) * Fraction(b) for a, b in pairs), Fraction(0))


@given(levels, levels)
def test_book_notional_counts_only_the_top_levels(
    bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]]
) -> None:
    """Levels past the 200th change nothing; each side is its own sum."""
    book = OrderBook("X", tuple(bids), tuple(asks))
    top = OrderBook("X", tuple(bids[:BOOK_LEVELS]), tuple(asks[:BOOK_LEVELS]))
    assert book_notional(book) == book_notional(top)
    assert book_notional(book)[0] == exact_sum_of_products(bids[:BOOK_LEVELS])


stats_lists = st.lists(
    st.builds(
        SymbolStats,
        symbol=st.text("ABCDEFGH", min_size=1, max_size=4),
        base=st.sampled_from(["ETH", "XRP", "LTC"]),
        quote=st.sampled_from(["BTC", "USDT", "EUR"]),
        quote_volume=st.one_of(st.none(), plain_decimals),
        trades=st.one_of(st.none(), st.integers(0, 10**9)),
    ),
    max_size=40,
)


@given(stats_lists)
def test_rankings_are_the_highest_first_and_beat_everything_left_out(
    entries: list[SymbolStats],
) -> None:
    """At most 5 places, descending, all in the quote; no left-out symbol beats the last."""
    stats = {s.symbol: s for s in entries}
    ranked = top_by_quote_volume(stats)
    eligible = {
        s.symbol: s.quote_volume
        for s in stats.values()
        if s.quote == "BTC" and s.quote_volume is not None
    }
    values = [r.value for r in ranked]
    assert len(ranked) == min(RANKING_SIZE, len(eligible))
    assert values == sorted(values, reverse=True)
    assert all(eligible[r.symbol] == r.value for r in ranked)
    chosen = {r.symbol for r in ranked}
    assert all(v <= values[-1] for s, v in eligible.items() if s not in chosen)


quotes_st = st.tuples(plain_decimals, plain_decimals).map(
    lambda pair: Quote("S", "B", "Q", min(pair), max(pair))
)


@given(st.dictionaries(st.sampled_from(["A", "B", "C", "D"]), quotes_st), st.data())
def test_spreads_and_changes_are_exact_and_non_negative(
    quotes: dict[str, Quote], data: st.DataObject
) -> None:
    """spread = ask − bid exactly; |change| is symmetric, 0 when unchanged, absent when new."""
    wanted = ["A", "B", "C"]
    now = spreads(quotes, wanted)
    assert set(now) == set(wanted) & set(quotes)
    for symbol, value in now.items():
        assert Fraction(value) == Fraction(quotes[symbol].ask) - Fraction(quotes[symbol].bid)
        assert value >= 0
    before = data.draw(st.dictionaries(st.sampled_from(["A", "B", "Z"]), plain_decimals))
    changes = spread_changes(before, now)
    assert set(changes) == set(before) & set(now)
    for symbol, change in changes.items():
        assert Fraction(change) == abs(Fraction(now[symbol]) - Fraction(before[symbol]))
        assert spread_changes(now, before)[symbol] == change
    assert all(v == 0 for v in spread_changes(now, now).values())
