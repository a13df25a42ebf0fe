"""Conversions across venues: `exchange=average` and `exchange=best`.

Per request, each configured venue (in EXCHANGES order) is looked at once
(`api.lookup`): the snapshot in play and the pair's row in it. Everything
after that depends only on those snapshots and the pair, so it is computed
once per (snapshot times, pair) and memoised; a request then only multiplies
its amount by the memoised rate. The maths is `api.venues`, the bodies
`api.results`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from api.conversion import AMOUNT_PLACES, RATE_PLACES, convert_amount, format_fixed, round_half_up
from api.exceptions import RateBelowPrecisionError, UnknownCurrencyError
from api.lookup import (
    OUTLIER,
    Look,
    classify_missing,
    codes_of,
    look_at,
    look_latest,
    nothing_servable,
    see_latest,
)
from api.params import ConvertQuery
from api.results import AggregateResult, Prepared, Source, prepare
from api.snapshots import VenueSnapshots
from api.venues import average, best_index, executable_rate, top_of_book_quantity, venue_rate

__all__ = ["AGGREGATES", "AVERAGE", "BEST", "Aggregator"]

AVERAGE, BEST = "average", "best"
AGGREGATES = (BEST, AVERAGE)
# Bounded like the single-venue memo: cleared wholesale when full.
_MEMO_SIZE = 50_000
_ONE = Decimal(1)


class Aggregator:
    """`average` and `best` over the configured venues, in tie-break order."""

    def __init__(self, venues: Sequence[VenueSnapshots], *, outlier_percent: Decimal) -> None:
        if not venues:
            raise ValueError("at least one venue is needed")
        self.venues = tuple(venues)
        self.outlier_percent = outlier_percent
        self._memo: dict[tuple[object, ...], Prepared] = {}

    def convert(self, query: ConvertQuery, mode: str, now_ms: int) -> AggregateResult:
        """Answer `query` with `mode` ("average" or "best"), latest or at `query.at_ms`."""
        src, dst = query.from_code, query.to_code
        if query.at_ms is None and src != dst:
            # Latest: the memo key needs only each venue's newest snapshot time and
            # freshness, so a hit costs no pair look-up at all.
            seen = [see_latest(venue, now_ms) for venue in self.venues]
            key: tuple[object, ...] = (mode, src, dst, *[(ms, fresh) for _, ms, fresh in seen])
            prepared = self._memo.get(key)
            if prepared is None:
                looks = [
                    look_latest(venue.venue, s, src, dst)
                    for venue, s in zip(self.venues, seen, strict=True)
                ]
                prepared = self._remember(key, self._prepare(query, mode, looks, now_ms))
        else:
            looks = [look_at(venue, src, dst, query.at_ms, now_ms) for venue in self.venues]
            if src == dst:
                return self._same_currency(query, mode, looks, now_ms)
            key = (mode, src, dst, *[look.key for look in looks])
            prepared = self._memo.get(key)
            if prepared is None:
                prepared = self._remember(key, self._prepare(query, mode, looks, now_ms))
        return AggregateResult(query, mode, prepared, convert_amount(query.amount, prepared.rate))

    def _remember(self, key: tuple[object, ...], prepared: Prepared) -> Prepared:
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = prepared
        return prepared

    def _prepare(self, query: ConvertQuery, mode: str, looks: list[Look], now_ms: int) -> Prepared:
        candidates = [look for look in looks if look.quote is not None]
        if not candidates:
            raise classify_missing(self.venues, looks, query, now_ms)
        rates = [_rate(look, mode) for look in candidates]
        winner: Look | None = None
        if mode == AVERAGE:
            result = average(rates, self.outlier_percent)
            used = [not dropped for dropped in result.dropped]
            rate = round_half_up(result.rate, RATE_PLACES)
            # The answer is only as recent as the oldest quote that went into it.
            quoted_ms = min(_ms(look) for look, u in zip(candidates, used, strict=True) if u)
        else:
            index = best_index(rates)
            used = [i == index for i in range(len(candidates))]
            rate = round_half_up(rates[index], RATE_PLACES)
            winner = candidates[index]
            quoted_ms = _ms(winner)
        if rate.is_zero():
            raise RateBelowPrecisionError(
                f"The {mode} rate rounds to zero at {RATE_PLACES} decimal places.",
                rate_places=RATE_PLACES,
            )
        taking_part = {
            look.venue: (format_fixed(r, RATE_PLACES), u)
            for look, r, u in zip(candidates, rates, used, strict=True)
        }
        sources = []
        for look in looks:
            if look.venue not in taking_part:
                sources.append(Source(look, None, False, look.reason))
                continue
            rate_text, is_used = taking_part[look.venue]
            # A `best` venue that did not win is no outlier: it was just not the best.
            reason = OUTLIER if not is_used and mode == AVERAGE else None
            sources.append(Source(look, rate_text, is_used, reason))
        quantity = None
        if winner is not None and winner.quote is not None:
            quote = winner.quote
            quantity = top_of_book_quantity(
                quote.bid_qty, quote.ask, quote.ask_qty, inverted=winner.inverted
            )
        return prepare(rate, quoted_ms, sources, winner, quantity)

    def _same_currency(
        self, query: ConvertQuery, mode: str, looks: list[Look], now_ms: int
    ) -> AggregateResult:
        """BTC->BTC: rate 1, amount unchanged, no staleness check; some venue must know BTC.

        Latest looks at each venue's newest snapshot whatever its age (as one
        venue does); with a timestamp, at the snapshots in force then. No quote
        is used, so `sources` is empty, and `quoted_at` is the newest snapshot
        that knows the code.
        """
        code = query.from_code
        stored = [look.stored for look in looks if look.stored is not None]
        if not stored:
            raise nothing_servable(self.venues, looks, query, now_ms)
        knowing = [s.fetched_ms for s in stored if code in codes_of(s)]
        if not knowing:
            raise UnknownCurrencyError(
                f"No quotable symbol of any venue uses {code!r}.", parameter="from", currency=code
            )
        prepared = prepare(round_half_up(_ONE, RATE_PLACES), max(knowing), [], None, None)
        return AggregateResult(query, mode, prepared, round_half_up(query.amount, AMOUNT_PLACES))


def _rate(look: Look, mode: str) -> Decimal:
    quote = look.quote
    assert quote is not None
    if mode == AVERAGE:
        return venue_rate(quote.bid, quote.ask, inverted=look.inverted)
    return executable_rate(quote.bid, quote.ask, inverted=look.inverted)


def _ms(look: Look) -> int:
    assert look.quoted_ms is not None  # a usable venue always has its snapshot's time
    return look.quoted_ms
