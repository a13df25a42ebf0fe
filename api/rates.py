"""`GET /rates`: a rate over time, one point per interval boundary.

The value at boundary t is what `/convert?amount=1&timestamp=t` with the
same codes and `exchange` answers as `rate`: for a venue, `api.bulk.rates_at`
(the same snapshot choice, (snapshot, pair) memo, rate function and errors
as /convert, the rows it lacks read from the history index in one call per
slice, anything else settled by /convert's own path); for `average`,
`Aggregator.convert` itself, point by point. Tests compare every point with
/convert. A boundary where /convert would answer an error is left out;
`quotes_not_found` there means no snapshot was in force (a gap), anything
else that the snapshot in force could not answer (the pair was not listed
then).

Long series are computed and serialised in slices, handing the event loop
back between them (`_SLICE_SECONDS`), so a long series does not hold up the
conversions served beside it (bench/run.py measures latest /convert beside
10,000-point answers). Boundaries, the default interval and the summary are pure
(`api.series`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import orjson

from api.aggregate import AVERAGE, Aggregator
from api.bulk import rates_at
from api.exceptions import (
    ApiError,
    PairNotFoundError,
    QuotesNotFoundError,
    UnknownCurrencyError,
)
from api.params import ConvertQuery, RatesQuery
from api.series import Plan, plan, summarize
from api.service import Converter
from storage.model import format_iso_ms

__all__ = ["RateSeries", "SeriesAnswer"]

_ONE = Decimal(1)
_SLICE_SECONDS = 0.002  # hand the event loop back once this long has passed ...
_CHUNK = 64  # ... checked every this many boundaries of a venue (~0.1-2 ms of work)


@dataclass(frozen=True, slots=True)
class SeriesAnswer:
    """A /rates body and what its caching depends on."""

    body: bytes
    plan: Plan
    oldest_quoted_ms: int  # the oldest snapshot any point used


class RateSeries:
    """/rates over the API's converters (one per venue) and its cross-venue aggregator."""

    def __init__(
        self,
        converters: Mapping[str, Converter],
        aggregator: Aggregator,
        *,
        default_exchange: str,
        retention_ms: int,
    ) -> None:
        self.converters = dict(converters)
        self.aggregator = aggregator
        # `best` is a quote for an amount, not a rate: a default of best means average here.
        self.default_exchange = default_exchange if default_exchange in converters else AVERAGE
        self.retention_ms = retention_ms

    async def answer(self, query: RatesQuery, now_ms: int) -> SeriesAnswer:
        exchange = query.exchange or self.default_exchange
        chosen = plan(
            query.start_ms,
            query.end_ms,
            query.interval,
            now_ms=now_ms,
            retention_ms=self.retention_ms,
        )
        return await self.series(exchange, query.from_code, query.to_code, chosen, now_ms)

    async def series(
        self, exchange: str, src: str, dst: str, chosen: Plan, now_ms: int
    ) -> SeriesAnswer:
        """The points of `chosen`'s boundaries and their summary (raises as `answer`)."""
        pieces: list[bytes] = []  # the points' JSON, a slice at a time
        rates: list[str] = []
        oldest = now_ms  # the oldest snapshot a point used
        refused: ApiError | None = None  # the newest boundary /convert refused with a snapshot
        boundaries = chosen.boundaries()
        size = _CHUNK if exchange in self.converters else _CHUNK // 4  # average: 4 venues a point
        started = time.perf_counter()
        for first in range(0, len(boundaries), size):
            if time.perf_counter() - started > _SLICE_SECONDS:
                await asyncio.sleep(0)  # let the requests queued meanwhile run
                started = time.perf_counter()
            chunk = boundaries[first : first + size]
            points = []
            for t, answer in zip(
                chunk, self._points(exchange, src, dst, chunk, now_ms), strict=True
            ):
                if not isinstance(answer, ApiError):
                    rate, quoted = answer
                    points.append({"t": _iso(t), "rate": rate, "quoted_at": _iso(quoted)})
                    rates.append(rate)
                    oldest = min(oldest, quoted)
                elif isinstance(answer, QuotesNotFoundError):
                    continue  # no snapshot in force at t: a gap, never interpolated
                elif answer.status >= 500:
                    raise answer  # the store cannot be read: as /convert says it
                else:
                    refused = answer  # unknown code, pair not listed then, rate below precision
            if points:  # serialised now, so that no single step at the end holds the loop
                pieces.append(orjson.dumps(points)[1:-1])
        if not rates:
            raise refused or self._nothing(exchange, src, dst, chosen, now_ms)
        summary = summarize(rates)
        return SeriesAnswer(_body(src, dst, exchange, chosen, pieces, summary), chosen, oldest)

    def _points(
        self, exchange: str, src: str, dst: str, times: Sequence[int], now_ms: int
    ) -> list[tuple[str, int] | ApiError]:
        """/convert's rate and quoted time at each of `times`, or the error it would answer."""
        converter = self.converters.get(exchange)
        if converter is not None:
            return rates_at(converter, src, dst, times, now_ms)
        out: list[tuple[str, int] | ApiError] = []
        for at in times:
            try:
                answer = self.aggregator.convert(ConvertQuery(_ONE, src, dst, at), exchange, now_ms)
                out.append((answer.prepared.rate_text, answer.quoted_ms))
            except ApiError as exc:
                out.append(exc)
        return out

    def _nothing(self, exchange: str, src: str, dst: str, chosen: Plan, now_ms: int) -> ApiError:
        """No snapshot in range: a code or pair unknown to the newest quotes says so first."""
        latest = ConvertQuery(_ONE, src, dst, None, exchange)
        try:
            converter = self.converters.get(exchange)
            if converter is not None:
                converter.convert(latest, now_ms)
            else:
                self.aggregator.convert(latest, exchange, now_ms)
        except (UnknownCurrencyError, PairNotFoundError) as exc:
            return exc
        except ApiError:
            pass  # outdated or unavailable now: the range's own answer follows
        where = exchange if exchange in self.converters else "venue"
        return QuotesNotFoundError(
            f"No {where} snapshot was in force at any {chosen.interval} boundary "
            "from start to end.",
            exchange=exchange,
            start=format_iso_ms(chosen.start_ms),
            end=format_iso_ms(chosen.end_ms),
            interval=chosen.interval,
        )


_DAY_MS = 86_400_000
_DAYS: dict[int, str] = {}  # UTC day number -> "YYYY-MM-DDT"
_TIMES: dict[int, str] = {}  # ms -> its ISO form: boundaries and snapshot times recur
_TIMES_SIZE = 200_000  # ~20 MB at most; cleared wholesale when full


def _iso(ms: int) -> str:
    """`format_iso_ms(ms)`, remembered: a week at 30 s formats 40,000 times per answer.

    `format_iso_ms` keeps 4,096 (a conversion's working set); a series
    needs a boundary and a snapshot time per point, so it keeps its own.
    """
    text = _TIMES.get(ms)
    if text is None:
        day, rest = divmod(ms, _DAY_MS)
        prefix = _DAYS.get(day)
        if prefix is None:
            prefix = _DAYS[day] = format_iso_ms(day * _DAY_MS)[:11]
        seconds, milli = divmod(rest, 1000)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        if len(_TIMES) >= _TIMES_SIZE:
            _TIMES.clear()
        text = _TIMES[ms] = f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{milli:03d}Z"
    return text


def _body(
    src: str, dst: str, exchange: str, chosen: Plan, pieces: list[bytes], summary: object
) -> bytes:
    return orjson.dumps(
        {
            "from": src,
            "to": dst,
            "exchange": exchange,
            "interval": chosen.interval,
            "start": format_iso_ms(chosen.start_ms),
            "end": format_iso_ms(chosen.end_ms),
            "clipped": chosen.clipped,
            "requested_start": format_iso_ms(chosen.requested_start_ms),
            "points": orjson.Fragment(b"[" + b",".join(pieces) + b"]"),
            "summary": summary,
        }
    )
