"""Maths across venues: venue rates, the outlier rule, the average, the best venue.

Pure functions on ``Decimal`` values, in the order of the rules they implement
(the README's "average" and "best" sections): no snapshot, no clock, no venue
names. Rates here are *not* rounded to 12 places; callers round once, at the
end, half-up, like every other rate the API returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from api.conversion import decimal_context, mid_price, reciprocal

__all__ = [
    "Average",
    "average",
    "best_index",
    "executable_rate",
    "format_plain",
    "mean",
    "median",
    "outliers",
    "top_of_book_quantity",
    "venue_rate",
]

# Digits beyond the sum's own for the division in `mean` (see there).
_MEAN_GUARD_DIGITS = 20
_MEAN_MIN_PREC = 50
# For the steps that must be exact (sums, the outlier bounds). Operands are
# venue prices (at most 30 integer and 30 fraction digits: storage.codec refuses
# more), their mids and their reciprocals at >= 50 digits: sums and products of
# a few of them need far fewer than 1,000 digits. Inexact is trapped, so an
# operand beyond that fails loudly instead of being rounded. Decimal's cost
# follows the digits actually present, not the precision allowed.
_EXACT = decimal_context(1_000, exact=True)


def venue_rate(bid: Decimal, ask: Decimal, *, inverted: bool) -> Decimal:
    """The mid (direct) or ``1 / mid`` (inverse, >= 50 significant digits), unrounded.

    Rounded to 12 places this is exactly the single-venue rate, so a venue on
    its own and an "average" of that one venue agree to the digit.
    """
    mid = mid_price(bid, ask)
    return reciprocal(mid) if inverted else mid


def executable_rate(bid: Decimal, ask: Decimal, *, inverted: bool) -> Decimal:
    """What one unit of ``from`` fetches at the top of the book, unrounded.

    Selling the base (direct symbol) hits the bid; buying the base with the
    quote (inverse) lifts the ask, so one unit of the quote buys ``1 / ask``.
    """
    return reciprocal(ask) if inverted else bid


def top_of_book_quantity(
    bid_qty: Decimal | None, ask: Decimal, ask_qty: Decimal | None, *, inverted: bool
) -> Decimal | None:
    """How much of ``from`` the best level takes: ``bid_qty``, or ``ask_qty * ask`` (exact).

    ``None`` when the snapshot has no sizes (schema 1 files).
    """
    if not inverted:
        return bid_qty
    if ask_qty is None:
        return None
    prec = len(ask_qty.as_tuple().digits) + len(ask.as_tuple().digits)
    return decimal_context(prec, exact=True).multiply(ask_qty, ask)


def format_plain(value: Decimal) -> str:
    """An exact decimal in plain notation without trailing fraction zeros: ``0.0015``, ``120``."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def median(rates: Sequence[Decimal]) -> Decimal:
    """The median, exactly (the mean of the two middle values for an even count)."""
    if not rates:
        raise ValueError("the median of no rates is undefined")
    ordered = sorted(rates)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return mid_price(ordered[middle - 1], ordered[middle])  # (a + b) / 2, exact


def outliers(rates: Sequence[Decimal], percent: Decimal) -> tuple[bool, ...]:
    """Which rates lie more than ``percent`` % away from the median; none with 1 or 2 rates.

    With two venues there is no majority to say which one is wrong, so both
    stay. Every step is exact (contexts sized from the operands, Inexact
    trapped): the comparison decides which venues count, so no rounding may
    decide it instead.
    """
    if len(rates) < 3:
        return (False,) * len(rates)
    middle = median(rates)
    # |r - m| * 100 > percent * m  <=>  r outside [m - limit, m + limit], limit = percent * m / 100
    limit = _EXACT.scaleb(_EXACT.multiply(middle, percent), -2)
    low, high = _EXACT.subtract(middle, limit), _EXACT.add(middle, limit)
    return tuple(rate < low or rate > high for rate in rates)


def mean(rates: Sequence[Decimal]) -> Decimal:
    """The arithmetic mean, close enough to exact that rounding it to 12 places is exact.

    The sum is exact (`_EXACT`). The division runs at the sum's digits + 20: a quotient with a
    finite expansion then comes out exactly, and one without cannot be a
    12-place tie, and lies at least 10**min(e, -13) / n from any tie (e the
    sum's exponent), far more than the division's error of 0.5 * 10**(e - 20).
    So rounding this half-up gives the correctly rounded mean.
    """
    if not rates:
        raise ValueError("the mean of no rates is undefined")
    if len(rates) == 1:
        return rates[0]
    total = Decimal(0)
    for rate in rates:
        total = _EXACT.add(total, rate)
    prec = max(_MEAN_MIN_PREC, len(total.as_tuple().digits) + _MEAN_GUARD_DIGITS)
    return decimal_context(prec).divide(total, len(rates))


@dataclass(frozen=True, slots=True)
class Average:
    """The mean of the kept rates, and which rates were dropped as outliers."""

    rate: Decimal  # unrounded
    dropped: tuple[bool, ...]  # parallel to the input: True = outlier, left out


def average(rates: Sequence[Decimal], percent: Decimal) -> Average:
    """Drop outliers (3+ rates, `outliers`), then average what is left."""
    dropped = outliers(rates, percent)
    if all(dropped):
        # Only possible with an even count split in two camps ([100, 100, 120,
        # 120]: the median 110 is 9 % from all four). No majority says which
        # camp is wrong, so, as with two venues, every rate stays.
        dropped = (False,) * len(rates)
    kept = [rate for rate, out in zip(rates, dropped, strict=True) if not out]
    return Average(rate=mean(kept), dropped=dropped)


def best_index(rates: Sequence[Decimal]) -> int:
    """The index of the highest rate; on a tie the first one (EXCHANGES order decides)."""
    if not rates:
        raise ValueError("no rates to choose from")
    best = 0
    for index in range(1, len(rates)):
        if rates[index] > rates[best]:
            best = index
    return best
