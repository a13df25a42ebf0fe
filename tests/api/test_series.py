"""The pure parts of /rates: boundaries, the default interval, the plan, the summary."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.exceptions import InvalidParameterError, QuotesNotFoundError
from api.series import (
    DEFAULT_POINTS,
    INTERVALS,
    MAX_POINTS,
    boundary_count,
    change_percent,
    choose_interval,
    first_boundary,
    plan,
    summarize,
)
from storage.model import format_iso_ms

DAY = 86_400_000
NOW = 1_795_304_160_123  # 2026-11-21T23:36:00.123Z
RETENTION = 7 * DAY
moments = st.integers(min_value=0, max_value=4_102_444_800_000)  # 1970 .. 2100
steps = st.sampled_from(list(INTERVALS.values()))


@given(moments, moments, steps)
def test_boundaries_are_the_multiples_of_the_step_in_the_range(a: int, b: int, step: int) -> None:
    """The first and last boundaries are multiples in [start, end], with none missed outside."""
    start, end = min(a, b), max(a, b)
    count = boundary_count(start, end, step)
    first = first_boundary(start, step)
    assert first % step == 0
    assert first - step < start <= first  # no multiple before the first is in range
    if count:
        last = first + (count - 1) * step
        assert last <= end < last + step  # nor after the last
    else:
        assert first > end


@given(moments, steps)
def test_boundaries_fall_on_utc_clock_marks(at: int, step: int) -> None:
    """5m boundaries on :00/:05, 4h on 00/04/08 h, 1d on midnight UTC: the epoch is UTC midnight."""
    moment = datetime.fromtimestamp(first_boundary(at, step) / 1000, UTC)
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    assert moment.microsecond == 0
    assert seconds % (step // 1000) == 0  # every interval divides a day


@given(moments, st.integers(min_value=1, max_value=400 * DAY))
def test_the_default_interval_is_the_smallest_with_at_most_500_points(
    start: int, span: int
) -> None:
    """choose_interval: <= 500 points, and the next smaller interval gives more than 500."""
    end = start + span
    name = choose_interval(start, end)
    names = list(INTERVALS)
    fits = boundary_count(start, end, INTERVALS[name]) <= DEFAULT_POINTS
    assert fits or name == names[-1]
    for smaller in names[: names.index(name)]:
        assert boundary_count(start, end, INTERVALS[smaller]) > DEFAULT_POINTS


def test_known_defaults() -> None:
    """24 h gives 5m (288 + 1 points at most), 7 days gives 1h, an hour 30s."""
    assert choose_interval(NOW - DAY, NOW) == "5m"
    assert choose_interval(NOW - 7 * DAY, NOW) == "1h"
    assert choose_interval(NOW - 3_600_000, NOW) == "30s"


def test_plan_defaults_end_now_start_a_day_before() -> None:
    """No start or end: the last 24 h, not clipped."""
    chosen = plan(None, None, None, now_ms=NOW, retention_ms=RETENTION)
    assert (chosen.start_ms, chosen.end_ms, chosen.interval) == (NOW - DAY, NOW, "5m")
    assert not chosen.clipped
    assert chosen.count == 288
    assert chosen.boundaries()[0] == first_boundary(NOW - DAY, 300_000)


def test_plan_clips_start_to_retention_and_says_so() -> None:
    """A start older than retention is clipped to now - retention."""
    chosen = plan(NOW - 30 * DAY, None, "1d", now_ms=NOW, retention_ms=RETENTION)
    assert chosen.clipped
    assert chosen.requested_start_ms == NOW - 30 * DAY
    assert chosen.start_ms == NOW - RETENTION


def test_plan_refuses_start_not_before_end() -> None:
    """start >= end is invalid_parameter naming start."""
    with pytest.raises(InvalidParameterError) as caught:
        plan(NOW, NOW, None, now_ms=NOW, retention_ms=RETENTION)
    assert caught.value.details["parameter"] == "start"


def test_plan_refuses_a_range_wholly_past_retention() -> None:
    """An end older than retention is quotes_not_found, as /convert says for such a timestamp."""
    with pytest.raises(QuotesNotFoundError):
        plan(NOW - 9 * DAY, NOW - 8 * DAY, None, now_ms=NOW, retention_ms=RETENTION)


def test_plan_refuses_more_than_10000_points_naming_interval() -> None:
    """7 days at 30 s is 20,160 points: 400 invalid_parameter naming interval."""
    with pytest.raises(InvalidParameterError) as caught:
        plan(NOW - 7 * DAY, NOW, "30s", now_ms=NOW, retention_ms=RETENTION)
    assert caught.value.details["parameter"] == "interval"
    assert caught.value.details["points"] > MAX_POINTS
    ok = plan(NOW - 10_000 * 30_000 + 1, NOW, "30s", now_ms=NOW, retention_ms=RETENTION)
    assert ok.count <= MAX_POINTS


rates = st.decimals(min_value=Decimal("0.000000000001"), max_value=Decimal(10) ** 15, places=12)


def _half_up(value: Fraction) -> str:
    """Exact reference: round half away from zero to 2 places."""
    scaled = abs(value) * 100
    whole = int(scaled + Fraction(1, 2))
    sign = "-" if value < 0 and whole else ""
    return f"{sign}{whole // 100}.{whole % 100:02d}"


@given(rates, rates)
def test_change_percent_is_exact_half_up(first: Decimal, last: Decimal) -> None:
    """(last - first) / first x 100 rounded half-up to 2 places, against exact fractions."""
    exact = (Fraction(last) - Fraction(first)) / Fraction(first) * 100
    assert change_percent(first, last) == _half_up(exact)


def test_change_percent_ties_and_signs() -> None:
    """Ties round away from zero; no "-0.00"."""
    assert change_percent(Decimal(200), Decimal("200.01")) == "0.01"  # 0.005 -> 0.01
    assert change_percent(Decimal(200), Decimal("199.99")) == "-0.01"
    assert change_percent(Decimal(3), Decimal("2.9999999")) == "0.00"
    assert change_percent(Decimal(1), Decimal(2)) == "100.00"


@given(st.lists(rates, min_size=1, max_size=50))
def test_summary_bounds_and_count(values: list[Decimal]) -> None:
    """min <= every rate <= max, first/last are the ends, strings are the points' own."""
    texts = [f"{v:.12f}" for v in values]
    summary = summarize(texts)
    assert summary["points"] == len(texts)
    assert (summary["first"], summary["last"]) == (texts[0], texts[-1])
    assert summary["min"] in texts
    assert summary["max"] in texts
    assert Decimal(str(summary["min"])) == min(values)
    assert Decimal(str(summary["max"])) == max(values)


@given(moments)
def test_iso_of_a_boundary_round_trips(at: int) -> None:
    """A boundary's ISO form parses back to the same millisecond (what /convert takes)."""
    text = format_iso_ms(first_boundary(at, 300_000))
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert int(parsed.timestamp() * 1000) == first_boundary(at, 300_000)
