"""Values the store holds: `Quote`, `Snapshot`, and UTC millisecond time.

Time is an `int` of UTC milliseconds since the epoch everywhere in the store:
the API reports `quoted_at` at millisecond precision and lets a client pass it
back as `timestamp`, so storing and comparing at exactly that precision makes
the round trip exact.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property, lru_cache

__all__ = ["Quote", "Snapshot", "datetime_to_ms", "format_iso_ms"]


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book for one symbol, normalised: base/quote from the venue's metadata.

    `symbol` is the venue's own name (`BTCUSDT`, `XXBTZUSD`, `BTC-USDT`); `base`
    and `quote` are in the one vocabulary of every venue. The sizes are the
    quantities at the best bid and ask (schema 2); a schema-1 file has none.
    """

    symbol: str
    base: str
    quote: str
    bid: Decimal
    ask: Decimal
    bid_qty: Decimal | None = None
    ask_qty: Decimal | None = None


@dataclass(frozen=True)
class Snapshot:
    """All quotable symbols of one venue, fetched at `fetched_ms`."""

    exchange: str
    fetched_ms: int
    quotes: Mapping[str, Quote] = field(repr=False)

    @cached_property
    def pairs(self) -> Mapping[tuple[str, str], Quote]:
        """(base, quote) -> Quote, for direct and inverse look-ups."""
        return {(q.base, q.quote): q for q in self.quotes.values()}

    @cached_property
    def currencies(self) -> frozenset[str]:
        """Every code used by a quotable symbol."""
        return frozenset(c for q in self.quotes.values() for c in (q.base, q.quote))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_to_ms(value: datetime) -> int:
    """Aware datetime -> UTC ms, floored (exact integer arithmetic, no float)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@lru_cache(maxsize=4096)
def format_iso_ms(ms: int) -> str:
    """`2026-11-21T23:36:00.123Z`: the form of `quoted_at` and `fetched_at`."""
    t = time.gmtime(ms // 1000)  # half the cost of datetime.strftime, same result
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{ms % 1000:03d}Z"
    )
