"""The market analytics, as pure functions on values (docs/metrics.md, "Market analytics").

Every figure is an exact `Decimal` computed from the venue's decimal strings;
it becomes a float only when a gauge is set. No clock, socket or file here:
the jobs (`consumer.market.jobs`) and `run.py market-report` feed them.

1. `top_by_quote_volume`: the 5 BTC-quoted symbols with the highest 24 h
   turnover in BTC (turnover in the quote unit, so different bases compare).
2. `top_by_trades`: the 5 USDT-quoted symbols with the most 24 h trades;
   None when the venue publishes no trade counts (Bybit, OKX).
3. `book_notional`: Σ price × quantity over the top 200 levels of each side.
4. `spreads`: ask − bid of the top of book, for the symbols of (2).
5. `spread_changes`: |spread now − spread at the previous interval|.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext

from consumer.exchanges._model import OrderBook, SymbolStats
from storage.model import Quote

__all__ = [
    "BOOK_LEVELS",
    "RANKING_SIZE",
    "Ranked",
    "book_notional",
    "exact_sum_of_products",
    "spread_changes",
    "spreads",
    "top_by_quote_volume",
    "top_by_trades",
]

RANKING_SIZE = 5
BOOK_LEVELS = 200
# Plain decimal strings of at most 20 + 20 digits (the adapters' regexes): a
# product has at most 80 digits and 200 of them sum to fewer than 84. The
# Inexact trap turns any rounding into an error instead of a wrong figure.
_EXACT_PRECISION = 200


@dataclass(frozen=True, slots=True)
class Ranked:
    """One place of a ranking: 1-based rank, the venue's symbol, the ranked figure."""

    rank: int
    symbol: str
    base: str
    quote: str
    value: Decimal


def _ranked(scored: Iterable[tuple[Decimal, SymbolStats]], size: int) -> tuple[Ranked, ...]:
    # Highest first; equal figures are ordered by symbol so a ranking never flaps.
    ordered = sorted(scored, key=lambda item: (-item[0], item[1].symbol))[:size]
    return tuple(
        Ranked(i, s.symbol, s.base, s.quote, value) for i, (value, s) in enumerate(ordered, 1)
    )


def _eligible(
    stats: Mapping[str, SymbolStats], quote: str, quotable: Collection[str] | None
) -> list[SymbolStats]:
    return [
        s for s in stats.values() if s.quote == quote and (quotable is None or s.symbol in quotable)
    ]


def top_by_quote_volume(
    stats: Mapping[str, SymbolStats],
    *,
    quote: str = "BTC",
    quotable: Collection[str] | None = None,
    size: int = RANKING_SIZE,
) -> tuple[Ranked, ...]:
    """The `size` symbols quoted in `quote` with the highest 24 h quote volume.

    `quotable` (the symbols of the latest poll) narrows the field to what the
    venue quotes right now; symbols without a published volume never rank.
    """
    scored = [
        (s.quote_volume, s) for s in _eligible(stats, quote, quotable) if s.quote_volume is not None
    ]
    return _ranked(scored, size)


def top_by_trades(
    stats: Mapping[str, SymbolStats],
    *,
    quote: str = "USDT",
    quotable: Collection[str] | None = None,
    size: int = RANKING_SIZE,
) -> tuple[Ranked, ...] | None:
    """The `size` symbols quoted in `quote` with the most 24 h trades.

    None when the venue publishes no trade count at all: "not computed" is a
    different answer from "no USDT symbol traded".
    """
    if all(s.trades is None for s in stats.values()):
        return None
    scored = [
        (Decimal(s.trades), s) for s in _eligible(stats, quote, quotable) if s.trades is not None
    ]
    return _ranked(scored, size)


def exact_sum_of_products(pairs: Iterable[tuple[Decimal, Decimal]]) -> Decimal:
    """Σ a × b, exactly (raises decimal.Inexact rather than round)."""
    with localcontext() as ctx:
        ctx.prec = _EXACT_PRECISION
        ctx.traps[Inexact] = True
        total = Decimal(0)
        for a, b in pairs:
            total += a * b
        return total


def book_notional(book: OrderBook, levels: int = BOOK_LEVELS) -> tuple[Decimal, Decimal]:
    """(bid notional, ask notional): Σ price × quantity of each side's top `levels`.

    In quote units. A venue may answer more levels than asked (a fake serving
    a 1000-level recording does): only the best `levels` count.
    """
    return (
        exact_sum_of_products(book.bids[:levels]),
        exact_sum_of_products(book.asks[:levels]),
    )


def spreads(quotes: Mapping[str, Quote], symbols: Iterable[str]) -> dict[str, Decimal]:
    """ask − bid for each of `symbols` that `quotes` has (exact: a difference of decimals)."""
    result: dict[str, Decimal] = {}
    with localcontext() as ctx:
        ctx.prec = _EXACT_PRECISION
        ctx.traps[Inexact] = True
        for symbol in symbols:
            quote = quotes.get(symbol)
            if quote is not None:
                result[symbol] = quote.ask - quote.bid
    return result


def spread_changes(
    previous: Mapping[str, Decimal], current: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """|current − previous| for the symbols that have both (a new symbol has no change yet)."""
    with localcontext() as ctx:
        ctx.prec = _EXACT_PRECISION
        ctx.traps[Inexact] = True
        return {s: abs(v - previous[s]) for s, v in current.items() if s in previous}
