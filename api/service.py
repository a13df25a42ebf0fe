"""Answering conversions from the store: which snapshot, which symbol, which error.

The maths is in `api.conversion`, the query in `api.params`; this module joins
them to a `SnapshotReader`. `now_ms` is always passed in, so every rule about
staleness and "at or before T" is tested without a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from api.conversion import (
    AMOUNT_PLACES,
    RATE_PLACES,
    convert,
    convert_amount,
    format_fixed,
)
from api.conversion import same_currency as same_currency_conversion
from api.errors import (
    PairNotFoundError,
    QuotesNotFoundError,
    QuotesOutdatedError,
    QuotesUnavailableError,
    UnknownCurrencyError,
)
from api.params import ConvertQuery
from storage.errors import CorruptSnapshotError, SnapshotVanishedError, StoreReadError
from storage.model import Quote, format_iso_ms
from storage.reader import SnapshotReader, StoredSnapshot

__all__ = ["ConversionResult", "Converter"]


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
_Pair = tuple[str, bool, Decimal, str]


def _age_seconds(now_ms: int, ms: int) -> float:
    return round((now_ms - ms) / 1000, 3)


class Converter:
    """Converts with the snapshots of one exchange."""

    def __init__(
        self, reader: SnapshotReader, *, exchange: str, max_age_ms: int, retention_ms: int
    ) -> None:
        self.reader = reader
        self.exchange = exchange
        self.max_age_ms = max_age_ms
        self.retention_ms = retention_ms
        # (snapshot ms, from, to) -> what a conversion needs besides the amount.
        self._pairs: dict[tuple[int, str, str], _Pair] = {}

    # -- snapshot choice ---------------------------------------------------------

    def latest(self, now_ms: int) -> StoredSnapshot:
        """The newest readable snapshot within retention, fully decoded; 503 if none."""
        since = now_ms - self.retention_ms
        try:
            for stored in self.reader.candidates(None, since):
                try:
                    stored.snapshot()
                except CorruptSnapshotError as exc:
                    self.reader.mark_corrupt(stored.fetched_ms, str(exc))
                    continue
                return stored
            newest = self.reader.newest_ms()
        except StoreReadError:
            raise QuotesUnavailableError("The snapshot store cannot be read.") from None
        if newest is not None and newest < since:
            raise QuotesOutdatedError(
                "The newest quotes are older than the retention window.",
                quoted_at=format_iso_ms(newest),
                age_seconds=_age_seconds(now_ms, newest),
                max_age_seconds=self.max_age_ms / 1000,
            )
        raise QuotesUnavailableError("No quotes have been received from the exchange yet.")

    def fresh_latest(self, now_ms: int) -> StoredSnapshot:
        """`latest`, refused with quotes_outdated when older than QUOTES_MAX_AGE_SECONDS."""
        stored = self.latest(now_ms)
        if now_ms - stored.fetched_ms > self.max_age_ms:
            raise QuotesOutdatedError(
                f"The newest quotes are {_age_seconds(now_ms, stored.fetched_ms):g} s old; "
                f"the limit is {self.max_age_ms / 1000:g} s.",
                quoted_at=format_iso_ms(stored.fetched_ms),
                age_seconds=_age_seconds(now_ms, stored.fetched_ms),
                max_age_seconds=self.max_age_ms / 1000,
            )
        return stored

    # -- conversion --------------------------------------------------------------

    def convert(self, query: ConvertQuery, now_ms: int) -> ConversionResult:
        if query.at_ms is None:
            if query.from_code == query.to_code:
                # Same currency needs no quote, so no staleness check; the code must be known.
                return self._in(self.latest(now_ms), query, historical=False)
            return self._in(self.fresh_latest(now_ms), query, historical=False)
        at = query.at_ms
        oldest = now_ms - self.retention_ms
        if at < oldest:
            raise QuotesNotFoundError(
                "The timestamp is older than the retention window.",
                timestamp=format_iso_ms(at),
                retention_days=self.retention_ms / 86_400_000,
            )
        since = max(at - self.max_age_ms, oldest)
        try:
            for stored in self.reader.candidates(at, since):
                try:
                    return self._in(stored, query, historical=True)
                except CorruptSnapshotError as exc:
                    self.reader.mark_corrupt(stored.fetched_ms, str(exc))
                except (SnapshotVanishedError, StoreReadError):
                    continue  # read lazily now: skipped as candidates() skips them
        except StoreReadError:
            raise QuotesUnavailableError("The snapshot store cannot be read.") from None
        raise QuotesNotFoundError(
            f"No snapshot was taken in the {self.max_age_ms / 1000:g} s up to the timestamp.",
            timestamp=format_iso_ms(at),
            max_age_seconds=self.max_age_ms / 1000,
        )

    def _in(
        self, stored: StoredSnapshot, query: ConvertQuery, *, historical: bool
    ) -> ConversionResult:
        src, dst = query.from_code, query.to_code
        if src == dst:
            self._check_known(stored, src, dst)
            same = same_currency_conversion(query.amount)
            rate_text = format_fixed(same.rate, RATE_PLACES)
            return self._result(query, stored, same.amount, rate_text, None, False, historical)
        key = (stored.fetched_ms, src, dst)
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pair(stored, src, dst)
            if len(self._pairs) >= _PAIR_MEMO_SIZE:
                self._pairs.clear()
            self._pairs[key] = pair
        symbol, inverted, rate, rate_text = pair
        amount = convert_amount(query.amount, rate)
        return self._result(query, stored, amount, rate_text, symbol, inverted, historical)

    def _pair(self, stored: StoredSnapshot, src: str, dst: str) -> _Pair:
        """Symbol, direction and rate for src -> dst in this snapshot (memoised by caller)."""
        quote: Quote | None = stored.find(src, dst)
        inverted = False
        if quote is None:
            quote, inverted = stored.find(dst, src), True
        if quote is None:
            self._check_known(stored, src, dst)
            raise PairNotFoundError(
                f"No {self.exchange} symbol joins {src} and {dst} (no cross rates are computed).",
                **{"from": src, "to": dst},
            )
        # The rate is a function of the snapshot alone; only amount x rate varies.
        rate = convert(_ONE, quote.bid, quote.ask, inverted=inverted).rate
        return quote.symbol, inverted, rate, format_fixed(rate, RATE_PLACES)

    def _check_known(self, stored: StoredSnapshot, src: str, dst: str) -> None:
        currencies = stored.currencies()
        for parameter, code in (("from", src), ("to", dst)):
            if code not in currencies:
                raise UnknownCurrencyError(
                    f"No quotable {self.exchange} symbol uses {code!r}.",
                    parameter=parameter,
                    currency=code,
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

    # -- other endpoints ---------------------------------------------------------

    def health(self, now_ms: int) -> tuple[int, dict[str, object]]:
        """(status, body) for GET /health: 200 only when the newest quotes are fresh."""
        try:
            stored = self.latest(now_ms)
        except QuotesOutdatedError as exc:
            return 503, {"status": "outdated", **exc.details, "snapshots": self.reader.count}
        except QuotesUnavailableError as exc:
            return 503, {"status": "no_data", "reason": exc.message, "snapshots": self.reader.count}
        body: dict[str, object] = {
            "status": "ok",
            "quoted_at": format_iso_ms(stored.fetched_ms),
            "age_seconds": _age_seconds(now_ms, stored.fetched_ms),
            "max_age_seconds": self.max_age_ms / 1000,
            "snapshots": self.reader.count,
            "exchange": self.exchange,
        }
        if now_ms - stored.fetched_ms > self.max_age_ms:
            body["status"] = "outdated"
            return 503, body
        return 200, body

    def currencies(self, now_ms: int) -> dict[str, object]:
        """The newest snapshot's codes; its age is stated, never hidden."""
        stored = self.latest(now_ms)
        codes = sorted(stored.snapshot().currencies)
        return {
            "currencies": codes,
            "count": len(codes),
            "quoted_at": format_iso_ms(stored.fetched_ms),
            "age_seconds": _age_seconds(now_ms, stored.fetched_ms),
            "outdated": now_ms - stored.fetched_ms > self.max_age_ms,
            "exchange": self.exchange,
        }
