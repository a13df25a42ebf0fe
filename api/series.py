"""The pure half of `GET /rates`: interval boundaries, the default interval, the summary.

No clock, no store: `now_ms` and the retention window are passed in.
Boundaries are multiples of the interval since the Unix epoch: the epoch is
a UTC midnight and Unix time has no leap seconds, so every multiple of 5 min
falls on :00, :05, ..., every multiple of 4 h on 00:00, 04:00, ..., and every
multiple of a day on a UTC midnight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from api.exceptions import InvalidParameterError, QuotesNotFoundError
from storage.model import format_iso_ms

__all__ = [
    "DEFAULT_POINTS",
    "DEFAULT_SPAN_MS",
    "INTERVALS",
    "MAX_POINTS",
    "Plan",
    "boundary_count",
    "change_percent",
    "choose_interval",
    "first_boundary",
    "plan",
    "summarize",
]

# name -> milliseconds, smallest first (the default is the first that fits).
INTERVALS: dict[str, int] = {
    "30s": 30_000,
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
DEFAULT_POINTS = 500  # the default interval is the smallest giving at most this many
MAX_POINTS = 10_000  # more boundaries than this in one response: 400 naming `interval`
DEFAULT_SPAN_MS = 86_400_000  # `start` defaults to `end` - 24 h


def first_boundary(start_ms: int, step_ms: int) -> int:
    """The first multiple of `step_ms` at or after `start_ms`."""
    return -(-start_ms // step_ms) * step_ms


def boundary_count(start_ms: int, end_ms: int, step_ms: int) -> int:
    """How many multiples of `step_ms` lie in [start_ms, end_ms] (0 if none)."""
    return max(0, end_ms // step_ms - first_boundary(start_ms, step_ms) // step_ms + 1)


def choose_interval(start_ms: int, end_ms: int, points: int = DEFAULT_POINTS) -> str:
    """The smallest interval giving at most `points` boundaries; the largest if none does."""
    for name, step in INTERVALS.items():
        if boundary_count(start_ms, end_ms, step) <= points:
            return name
    return next(reversed(INTERVALS))


@dataclass(frozen=True, slots=True)
class Plan:
    """Which boundaries a /rates request asks for, after defaults and clipping."""

    requested_start_ms: int
    start_ms: int  # clipped to the retention window when older
    end_ms: int
    interval: str
    step_ms: int
    count: int

    @property
    def clipped(self) -> bool:
        return self.start_ms != self.requested_start_ms

    def boundaries(self) -> range:
        """The boundaries, oldest first."""
        first = first_boundary(self.start_ms, self.step_ms)
        return range(first, first + self.count * self.step_ms, self.step_ms)


def plan(
    start_ms: int | None,
    end_ms: int | None,
    interval: str | None,
    *,
    now_ms: int,
    retention_ms: int,
) -> Plan:
    """Defaults (end = now, start = end - 24 h), clipping, the interval and the point limit.

    Raises invalid_parameter naming `start` when start >= end, or `interval`
    when it would give more than MAX_POINTS boundaries; quotes_not_found when
    the whole range is older than the retention window.
    """
    end = now_ms if end_ms is None else end_ms
    requested = end - DEFAULT_SPAN_MS if start_ms is None else start_ms
    if requested >= end:
        raise InvalidParameterError(
            "Query parameter 'start' must be before 'end'.",
            parameter="start",
            start=format_iso_ms(requested),
            end=format_iso_ms(end),
        )
    oldest = now_ms - retention_ms
    if end < oldest:
        raise QuotesNotFoundError(
            "The whole range is older than the retention window.",
            end=format_iso_ms(end),
            retention_days=retention_ms / 86_400_000,
        )
    start = max(requested, oldest)
    name = choose_interval(start, end) if interval is None else interval
    step = INTERVALS[name]
    count = boundary_count(start, end, step)
    if count > MAX_POINTS:
        raise InvalidParameterError(
            f"Interval {name!r} gives {count:,} points from start to end; at most "
            f"{MAX_POINTS:,} fit in one response: choose a larger interval or a shorter range.",
            parameter="interval",
            points=count,
            max_points=MAX_POINTS,
            accepted=list(INTERVALS),
        )
    return Plan(requested, start, end, name, step, count)


def change_percent(first: Decimal, last: Decimal) -> str:
    """(last - first) / first x 100, rounded half-up to 2 places, computed exactly.

    The rates are fixed-point decimals, so the quotient is a ratio of
    integers: rounding it with integer arithmetic cannot round twice.
    """
    if first <= 0:
        raise ValueError(f"first must be > 0, got {first}")
    places = max(_places(first), _places(last))
    f, la = int(first.scaleb(places)), int(last.scaleb(places))
    numerator, denominator = 10_000 * (la - f), f  # hundredths of a percent
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:  # half-up: ties away from zero
        quotient += 1
    sign = "-" if numerator < 0 and quotient else ""
    return f"{sign}{quotient // 100}.{quotient % 100:02d}"


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: rates are
    return max(-exponent, 0)


def summarize(rates: Sequence[str]) -> dict[str, object]:
    """first, last, min, max (the rates' own strings), change_percent and the count.

    `rates` are the points' rates in time order, each a fixed-point string > 0.
    """
    if not rates:
        raise ValueError("a summary needs at least one point")
    values = [Decimal(r) for r in rates]
    low = min(range(len(values)), key=values.__getitem__)
    high = max(range(len(values)), key=values.__getitem__)
    return {
        "first": rates[0],
        "last": rates[-1],
        "min": rates[low],
        "max": rates[high],
        "change_percent": change_percent(values[0], values[-1]),
        "points": len(rates),
    }
