"""Conversions on one venue: which symbol, which error, and the per-pair memo.

The maths is in `api.conversion`, the query in `api.params`, the choice of
snapshot in `api.snapshots`; this module joins them. `now_ms` is always
passed in, so every rule about staleness and "at or before T" is tested
without a clock. Across venues (`best`, `average`) see `api.aggregate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from api.conversion import (
    AMOUNT_PLACES,
    RATE_PLACES,
    convert_amount,
    direct_rate,
    format_fixed,
    inverse_rate,
    mid_price,
)
from api.conversion import same_currency as same_currency_conversion
from api.exceptions import (
    PairNotFoundError,
    RateBelowPrecisionError,
    UnknownCurrencyError,
)
from api.params import ConvertQuery
from api.snapshots import VenueSnapshots
from storage.errors import CorruptSnapshotError, SnapshotVanishedError, StoreReadError
from storage.history import HistoryReader
from storage.model import Quote, format_iso_ms
from storage.reader import SnapshotReader, StoredSnapshot

__all__ = ["ConversionResult", "Converter", "Pair", "pair_rate"]


@dataclass(frozen=True, slots=True)
class ConversionResult:
    amount: str
    rate: str
    from_code: str
    to_code: str
    quoted_ms: int
    exchange: str
    symbol: str | None
    inverted: bool
    historical: bool

    def to_body(self) -> dict[str, object]:
        return {
            "amount": self.amount,
            "rate": self.rate,
            "from": self.from_code,
            "to": self.to_code,
            "quoted_at": format_iso_ms(self.quoted_ms),
            "exchange": self.exchange,
            "symbol": self.symbol,
            "inverted": self.inverted,
        }


_ONE = Decimal(1)
# Bounded: one entry per (snapshot, pair) asked for; cleared wholesale when full.
_PAIR_MEMO_SIZE = 50_000
Pair = tuple[str, bool, Decimal, str]
_T = TypeVar("_T")


def pair_rate(quote: Quote, inverted: bool) -> tuple[Decimal, str]:
    """The rate of one row (mid, or 1/mid when inverted) and its 12-place text.

    The one place a single-venue rate is computed: `/convert` and every point
    of `/rates` call it, so they cannot differ. `api.conversion.convert` for
    an amount of 1, without the amount (a third of its cost in a series):
    the rate is already rounded to 12 places and > 0, so its plain text is
    what `format_fixed` prints. Raises rate_below_precision as `convert` does.
    """
    mid = mid_price(quote.bid, quote.ask)
    rate = inverse_rate(mid) if inverted else direct_rate(mid)
    if rate.is_zero():
        raise RateBelowPrecisionError(
            f"The exchange rate rounds to zero at {RATE_PLACES} decimal places.",
            rate_places=RATE_PLACES,
        )
    return rate, f"{rate:f}"


class Converter:
    """Converts with the snapshots of one venue: `exchange=<venue>`."""

    def __init__(
        self,
        reader: SnapshotReader,
        *,
        exchange: str,
        max_age_ms: int,
        retention_ms: int,
        history: HistoryReader | None = None,
    ) -> None:
        self.exchange = exchange
        self.max_age_ms = max_age_ms
        self.snapshots = VenueSnapshots(
            reader,
            venue=exchange,
            max_age_ms=max_age_ms,
            retention_ms=retention_ms,
            history=history,
        )
        # (snapshot ms, from, to) -> what a conversion needs besides the amount.
        self._pairs: dict[tuple[int, str, str], Pair] = {}

    # -- conversion --------------------------------------------------------------

    def convert(self, query: ConvertQuery, now_ms: int) -> ConversionResult:
        snapshots = self.snapshots
        if query.at_ms is None:
            if query.from_code == query.to_code:
                # Same currency needs no quote, so no staleness check; the code must be known.
                return self._in(snapshots.latest(now_ms), query, historical=False)
            return self._in(snapshots.fresh_latest(now_ms), query, historical=False)
        return self._at(
            query.at_ms, now_ms, lambda stored: self._in(stored, query, historical=True)
        )

    def rate_at(self, src: str, dst: str, at_ms: int, now_ms: int) -> tuple[str, int]:
        """What `convert` answers for amount 1 at T: the rate text and the snapshot's time.

        The same snapshot choice, memo and errors as `convert`, without the
        amount's arithmetic (a point of /rates).
        """
        if src == dst:
            result = self.convert(ConvertQuery(_ONE, src, dst, at_ms), now_ms)
            return result.rate, result.quoted_ms
        return self._at(
            at_ms, now_ms, lambda stored: (self._memo(stored, src, dst)[3], stored.fetched_ms)
        )

    def _at(self, at_ms: int, now_ms: int, answer: Callable[[StoredSnapshot], _T]) -> _T:
        """`answer` for the snapshot in force at T: the first candidate whose rows can be read."""
        snapshots = self.snapshots
        for stored in snapshots.in_force(at_ms, now_ms):
            try:
                return answer(stored)
            except CorruptSnapshotError as exc:
                snapshots.reader.mark_corrupt(stored.fetched_ms, str(exc))
            except (SnapshotVanishedError, StoreReadError):
                continue  # read lazily now: skipped as candidates() skips them
        raise snapshots.not_found(at_ms)

    def _in(
        self, stored: StoredSnapshot, query: ConvertQuery, *, historical: bool
    ) -> ConversionResult:
        src, dst = query.from_code, query.to_code
        if src == dst:
            self.check_known(stored, src, dst)
            same = same_currency_conversion(query.amount)
            rate_text = format_fixed(same.rate, RATE_PLACES)
            return self._result(query, stored, same.amount, rate_text, None, False, historical)
        symbol, inverted, rate, rate_text = self._memo(stored, src, dst)
        amount = convert_amount(query.amount, rate)
        return self._result(query, stored, amount, rate_text, symbol, inverted, historical)

    def _memo(self, stored: StoredSnapshot, src: str, dst: str) -> Pair:
        key = (stored.fetched_ms, src, dst)
        pair = self._pairs.get(key)
        if pair is None:
            pair = self.remember(key, self._pair(stored, src, dst))
        return pair

    def memoised(self, key: tuple[int, str, str]) -> Pair | None:
        """The memo's entry for (snapshot ms, from, to), if any (`api.bulk` reads it too)."""
        return self._pairs.get(key)

    def remember(self, key: tuple[int, str, str], pair: Pair) -> Pair:
        """Keep `pair` for (snapshot ms, from, to); the memo is bounded, cleared when full."""
        if len(self._pairs) >= _PAIR_MEMO_SIZE:
            self._pairs.clear()
        self._pairs[key] = pair
        return pair

    def _pair(self, stored: StoredSnapshot, src: str, dst: str) -> Pair:
        """Symbol, direction and rate for src -> dst in this snapshot (memoised by caller)."""
        quote: Quote | None = stored.find(src, dst)
        inverted = False
        if quote is None:
            quote, inverted = stored.find(dst, src), True
        if quote is None:
            self.check_known(stored, src, dst)
            raise PairNotFoundError(
                f"No {self.exchange} symbol joins {src} and {dst} (no cross rates are computed).",
                **{"from": src, "to": dst, "exchange": self.exchange},
            )
        # The rate is a function of the snapshot alone; only amount x rate varies.
        return (quote.symbol, inverted, *pair_rate(quote, inverted))

    def check_known(self, stored: StoredSnapshot, src: str, dst: str) -> None:
        currencies = stored.currencies()
        for parameter, code in (("from", src), ("to", dst)):
            if code not in currencies:
                raise UnknownCurrencyError(
                    f"No quotable {self.exchange} symbol uses {code!r}.",
                    parameter=parameter,
                    currency=code,
                    exchange=self.exchange,
                )

    def _result(
        self,
        query: ConvertQuery,
        stored: StoredSnapshot,
        amount: Decimal,
        rate_text: str,
        symbol: str | None,
        inverted: bool,
        historical: bool,
    ) -> ConversionResult:
        return ConversionResult(
            amount=format_fixed(amount, AMOUNT_PLACES),
            rate=rate_text,
            from_code=query.from_code,
            to_code=query.to_code,
            quoted_ms=stored.fetched_ms,
            exchange=self.exchange,
            symbol=symbol,
            inverted=inverted,
            historical=historical,
        )
