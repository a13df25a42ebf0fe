"""The response bodies of `exchange=average` and `exchange=best`.

`Prepared` is what a (snapshot times, pair) memo entry holds: everything but
the amount, with the strings already formatted and `sources` already
serialised (an `orjson.Fragment`, spliced into each body as it is). A request
adds only `amount` and, for `best`, whether it exceeds the top of book.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import orjson

from api.conversion import AMOUNT_PLACES, RATE_PLACES, format_fixed
from api.lookup import Look
from api.params import ConvertQuery
from api.venues import format_plain
from storage.model import format_iso_ms

__all__ = ["AggregateResult", "Prepared", "Source", "prepare"]


@dataclass(frozen=True, slots=True)
class Source:
    """One venue's line in `sources`."""

    look: Look
    rate: str | None  # 12 places; None when the venue did not take part
    used: bool
    reason: str | None

    def to_body(self) -> dict[str, object]:
        look = self.look
        quote = look.quote
        return {
            "exchange": look.venue,
            "symbol": quote.symbol if quote is not None else None,
            "inverted": look.inverted if quote is not None else None,
            "rate": self.rate,
            "quoted_at": format_iso_ms(look.quoted_ms) if look.quoted_ms is not None else None,
            "used": self.used,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Prepared:
    """A memoised cross-venue answer for one set of snapshots and one pair."""

    rate: Decimal  # rounded to 12 places
    rate_text: str
    quoted_ms: int
    quoted_at: str
    sources: orjson.Fragment
    venue: str | None = None  # best only: the winner ...
    symbol: str | None = None
    inverted: bool | None = None
    side: str | None = None  # "bid" (direct) or "ask" (inverse)
    quantity: Decimal | None = None  # top of book, in units of `from`
    quantity_text: str | None = None


def prepare(
    rate: Decimal,
    quoted_ms: int,
    sources: Sequence[Source],
    winner: Look | None,
    quantity: Decimal | None,
) -> Prepared:
    """Format and serialise once what every request for these snapshots will send."""
    rate_text = format_fixed(rate, RATE_PLACES)
    quoted_at = format_iso_ms(quoted_ms)
    body = orjson.Fragment(orjson.dumps([source.to_body() for source in sources]))
    if winner is None or winner.quote is None:
        return Prepared(rate, rate_text, quoted_ms, quoted_at, body)
    return Prepared(
        rate,
        rate_text,
        quoted_ms,
        quoted_at,
        body,
        venue=winner.venue,
        symbol=winner.quote.symbol,
        inverted=winner.inverted,
        side="ask" if winner.inverted else "bid",
        quantity=quantity,
        quantity_text=format_plain(quantity) if quantity is not None else None,
    )


@dataclass(frozen=True, slots=True)
class AggregateResult:
    """One answer of `average` or `best`: the memoised part and this request's amount."""

    query: ConvertQuery
    mode: str  # "average" or "best"
    prepared: Prepared
    amount: Decimal

    @property
    def quoted_ms(self) -> int:
        return self.prepared.quoted_ms

    def to_body(self) -> dict[str, object]:
        p = self.prepared
        body: dict[str, object] = {
            "amount": format_fixed(self.amount, AMOUNT_PLACES),
            "rate": p.rate_text,
            "from": self.query.from_code,
            "to": self.query.to_code,
            "quoted_at": p.quoted_at,
            "exchange": self.mode,
        }
        if self.mode == "average":
            body["symbol"] = None
            body["inverted"] = None
        else:
            exceeds = None if p.quantity is None else self.query.amount > p.quantity
            body["venue"] = p.venue
            body["symbol"] = p.symbol
            body["inverted"] = p.inverted
            body["side"] = p.side
            body["top_of_book_quantity"] = p.quantity_text
            body["exceeds_top_of_book"] = exceeds
        body["sources"] = p.sources
        return body
