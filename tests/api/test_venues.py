"""Maths across venues (`api.venues`): venue rates, outliers, the average, the best venue.

Expected values are computed independently with `fractions.Fraction` (exact)
and a half-up rounding written out here; the properties use hypothesis.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.conversion import direct_rate, inverse_rate, mid_price, round_half_up
from api.venues import (
    average,
    best_index,
    executable_rate,
    format_plain,
    mean,
    median,
    outliers,
    top_of_book_quantity,
    venue_rate,
)

FIVE = Decimal(5)


def half_up(value: Fraction, places: int) -> Decimal:
    """Round a positive exact fraction half-up to `places` (independent of api/)."""
    return Decimal(math.floor(value * 10**places + Fraction(1, 2))).scaleb(-places)


def D(text: str) -> Decimal:
    return Decimal(text)


# Prices as venues print them: up to 10 integer and 8 fraction digits, > 0.
prices = st.decimals(
    min_value=Decimal("0.00000001"), max_value=Decimal("9999999999"), places=8
).filter(lambda d: d > 0)
rates = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1000000"), places=12)


@st.composite
def books(draw: st.DrawFn) -> tuple[Decimal, Decimal]:
    """A (bid, ask) with bid <= ask, both > 0."""
    a, b = draw(prices), draw(prices)
    return min(a, b), max(a, b)


# -- venue rates ---------------------------------------------------------------------


def test_venue_rate_direct_is_the_exact_mid() -> None:
    """Direct: the mid of bid and ask, exactly."""
    assert venue_rate(D("19979.51"), D("19980.18"), inverted=False) == D("19979.845")


def test_venue_rate_inverse_has_at_least_40_digits() -> None:
    """Inverse: 1 / mid, not rounded to 12 places: at least 40 significant digits."""
    rate = venue_rate(D("3"), D("3"), inverted=True)
    assert len(rate.as_tuple().digits) >= 40
    assert abs(Fraction(rate) - Fraction(1, 3)) < Fraction(1, 10**40)


def test_executable_rates() -> None:
    """Selling the base gets the bid; buying it pays the ask (1 / ask per unit of quote)."""
    assert executable_rate(D("100"), D("101"), inverted=False) == D("100")
    inverse = executable_rate(D("100"), D("101"), inverted=True)
    assert abs(Fraction(inverse) - Fraction(1, 101)) < Fraction(1, 10**45)


def test_top_of_book_quantity() -> None:
    """bid_qty for a direct pair; ask_qty x ask (quote units) for an inverse one; None unknown."""
    assert top_of_book_quantity(D("2.5"), D("101"), D("3"), inverted=False) == D("2.5")
    assert top_of_book_quantity(D("2.5"), D("101.5"), D("3.25"), inverted=True) == D("329.875")
    assert top_of_book_quantity(None, D("101"), D("3"), inverted=False) is None
    assert top_of_book_quantity(D("2.5"), D("101"), None, inverted=True) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [("2.97790000", "2.9779"), ("120", "120"), ("1.20E+2", "120"), ("0.00010", "0.0001"),
     ("5.0", "5"), ("0", "0")],
)  # fmt: skip
def test_format_plain(value: str, text: str) -> None:
    """Plain notation, no exponent, no trailing fraction zeros."""
    assert format_plain(D(value)) == text


# -- median, outliers, mean --------------------------------------------------------------


def test_median_odd_and_even() -> None:
    """The middle value, or the exact mean of the two middle ones."""
    assert median([D("3"), D("1"), D("2")]) == D("2")
    assert median([D("4"), D("1"), D("2"), D("3")]) == D("2.5")


def test_outliers_need_three_rates() -> None:
    """With one or two venues nothing is an outlier, however far apart."""
    assert outliers([D("1")], FIVE) == (False,)
    assert outliers([D("1"), D("1000")], FIVE) == (False, False)


def test_outlier_boundary_is_exclusive() -> None:
    """Exactly 5 % from the median stays; a hair more is dropped."""
    assert outliers([D("100"), D("100"), D("105")], FIVE) == (False, False, False)
    assert outliers([D("100"), D("100"), D("95")], FIVE) == (False, False, False)
    assert outliers([D("100"), D("100"), D("105.000000000001")], FIVE) == (False, False, True)
    assert outliers([D("100"), D("100"), D("94.999999999999")], FIVE) == (False, False, True)


def test_average_drops_the_twenty_percent_venue() -> None:
    """Three venues near 100 and one at +20 %: the mean of the three."""
    result = average([D("100"), D("101"), D("120"), D("99")], FIVE)
    assert result.dropped == (False, False, True, False)
    assert result.rate == D("100")


def test_split_camps_keep_everyone() -> None:
    """Two camps 20 % apart: the median is far from all, so nothing is dropped."""
    result = average([D("100"), D("100"), D("120"), D("120")], FIVE)
    assert result.dropped == (False,) * 4
    assert result.rate == D("110")


def test_mean_of_thirds_rounds_correctly() -> None:
    """A mean without a finite expansion rounds like the exact fraction."""
    values = [D("1"), D("1"), D("1.000000000002")]
    exact = sum(Fraction(v) for v in values) / 3
    assert round_half_up(mean(values), 12) == half_up(exact, 12)


def test_mean_exact_tie_rounds_up() -> None:
    """A mean exactly halfway at 12 places rounds up, as everywhere."""
    values = [D("0.000000000001"), D("0.000000000002")]
    assert round_half_up(mean(values), 12) == D("0.000000000002")


def test_best_index_ties_go_to_the_first() -> None:
    """The highest rate wins; equal rates go to the venue listed first."""
    assert best_index([D("1"), D("3"), D("2")]) == 1
    assert best_index([D("3"), D("1"), D("3")]) == 0


# -- properties ----------------------------------------------------------------------------


@given(st.lists(rates, min_size=1, max_size=8), st.sampled_from([D("1"), FIVE, D("50")]))
def test_average_lies_between_kept_min_and_max(values: list[Decimal], percent: Decimal) -> None:
    """The average (unrounded and rounded) lies between the smallest and largest kept rate."""
    result = average(values, percent)
    kept = [v for v, out in zip(values, result.dropped, strict=True) if not out]
    assert kept
    assert min(kept) <= result.rate <= max(kept)
    rounded = round_half_up(result.rate, 12)
    assert round_half_up(min(kept), 12) <= rounded <= round_half_up(max(kept), 12)


@st.composite
def clusters(draw: st.DrawFn) -> list[Decimal]:
    """3-7 rates within 1 % of a centre: venues that agree."""
    centre = draw(rates.filter(lambda r: r > Decimal("0.001")))
    offsets = st.integers(min_value=-10_000, max_value=10_000)  # in millionths
    return [
        centre * (1 + Decimal(o) / 1_000_000)
        for o in draw(st.lists(offsets, min_size=3, max_size=7))
    ]


@given(clusters(), st.integers(min_value=2, max_value=1000), st.booleans())
def test_dropping_a_far_outlier_never_moves_the_average_toward_it(
    values: list[Decimal], factor: int, above: bool
) -> None:
    """Add one rate far from a tight cluster: it is dropped, and the average moves away from it."""
    outlier = max(values) * factor if above else min(values) / factor
    result = average([*values, outlier], FIVE)
    assert result.dropped[-1] is True
    naive = sum((Fraction(v) for v in [*values, outlier]), Fraction(0)) / (len(values) + 1)
    assert abs(Fraction(result.rate) - Fraction(outlier)) >= abs(naive - Fraction(outlier))


@given(st.lists(st.tuples(books(), st.booleans()), min_size=1, max_size=6))
def test_best_is_at_least_every_venue(quotes: list[tuple[tuple[Decimal, Decimal], bool]]) -> None:
    """The chosen venue's executable rate is >= every venue's, rounded or not."""
    inverted = quotes[0][1]  # one direction for all venues, as in a real request
    executable = [executable_rate(bid, ask, inverted=inverted) for (bid, ask), _ in quotes]
    winner = best_index(executable)
    assert all(executable[winner] >= rate for rate in executable)
    best = round_half_up(executable[winner], 12)
    assert all(best >= round_half_up(rate, 12) for rate in executable)


@given(books(), st.booleans())
def test_average_of_one_venue_is_that_venue_to_the_digit(
    book: tuple[Decimal, Decimal], inverted: bool
) -> None:
    """With one venue, average and that venue's own rate agree to the last digit."""
    bid, ask = book
    mid = mid_price(bid, ask)
    alone = inverse_rate(mid) if inverted else direct_rate(mid)
    result = average([venue_rate(bid, ask, inverted=inverted)], FIVE)
    assert round_half_up(result.rate, 12) == alone
    assert result.dropped == (False,)


@given(st.lists(rates, min_size=1, max_size=8))
def test_mean_rounds_like_the_exact_fraction(values: list[Decimal]) -> None:
    """round(mean, 12) equals the exact mean rounded half-up (no double rounding)."""
    exact = sum((Fraction(v) for v in values), Fraction(0)) / len(values)
    assert round_half_up(mean(values), 12) == half_up(exact, 12)


@given(books(), books())
def test_inverse_average_of_two_matches_exact_reciprocals_closely(
    first: tuple[Decimal, Decimal], second: tuple[Decimal, Decimal]
) -> None:
    """Averaging 1/mid at >= 40 digits lands within one unit of the 12th place of the exact mean."""
    values = [venue_rate(*first, inverted=True), venue_rate(*second, inverted=True)]
    exact = sum(2 / (Fraction(b) + Fraction(a)) for b, a in (first, second)) / 2
    got = Fraction(round_half_up(mean(values), 12))
    assert abs(got - exact) <= Fraction(1, 10**12)
