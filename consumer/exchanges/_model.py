"""Values the venue adapters hand to the market analytics, besides `Quote`.

Frozen and slotted, `Decimal` for every price and quantity: they come from the
venue's decimal strings and stay exact until a gauge turns them into floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["SKIP_REASONS", "OrderBook", "SymbolStats"]

# Why a listed symbol is not in a snapshot; `parse_quotes` counts each one.
SKIP_REASONS = ("not_listed", "not_quotable", "bad_code", "bad_price", "empty_book", "crossed")


@dataclass(frozen=True, slots=True)
class SymbolStats:
    """24 h statistics of one quotable symbol, in the one code vocabulary."""

    symbol: str
    base: str
    quote: str
    quote_volume: Decimal | None  # 24 h turnover in quote units; None if not published
    trades: int | None  # 24 h number of trades; None if the venue does not publish it


@dataclass(frozen=True, slots=True)
class OrderBook:
    """The levels of one symbol's order book, best first: (price, quantity)."""

    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
