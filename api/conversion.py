"""Conversion maths: mid price, rates, rounding and fixed-point formatting.

Pure functions on ``Decimal``. Every operation runs in an explicit local
``Context`` sized for its operands, so results never depend on the process's
global decimal context (which a library could change) and the arithmetic that
the contract (README, "Design decisions") calls exact really is exact.
Rounding is ROUND_HALF_UP everywhere because the contract says so and
because it is what people check by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    Overflow,
)
from functools import cache

from api.exceptions import RateBelowPrecisionError

RATE_PLACES = 12
AMOUNT_PLACES = 6

# The spec asks for "at least 40 significant digits" in 1/mid; 50 gives margin.
_INVERSE_MIN_PREC = 50
_ONE = Decimal(1)
_HALF = Decimal("0.5")


@dataclass(frozen=True, slots=True)
class Conversion:
    """A converted amount (6 places), the rate used (12 places), and whether it is 1/mid."""

    amount: Decimal
    rate: Decimal
    inverted: bool


def mid_price(bid: Decimal, ask: Decimal) -> Decimal:
    """Return ``(bid + ask) / 2`` exactly; both must be finite and > 0."""
    _check_positive(bid, "bid")
    _check_positive(ask, "ask")
    # The sum needs at most (largest adjusted exponent + 1) - (smallest exponent)
    # + 1 digits, and halving (x * 0.5) one more, so this precision is exact.
    smallest = min(bid.as_tuple().exponent, ask.as_tuple().exponent)
    assert isinstance(smallest, int)  # finite, checked above
    prec = max(bid.adjusted(), ask.adjusted()) - smallest + 3
    context = decimal_context(prec, exact=True)
    return context.multiply(context.add(bid, ask), _HALF)


def direct_rate(mid: Decimal) -> Decimal:
    """Return the rate for base -> quote: ``mid`` rounded half-up to 12 places."""
    return round_half_up(mid, RATE_PLACES)


def inverse_rate(mid: Decimal) -> Decimal:
    """Return the rate for quote -> base: ``1 / mid`` correctly rounded half-up to 12 places.

    The division runs at 50 significant digits (the README's contract asks for >= 40), or
    more for a mid with many fraction digits. Why that is enough to avoid
    double rounding: write mid = n / 10**f with n of d digits. A 12-place tie
    t = (2k + 1) / (2 * 10**12) is either exactly 1/mid (then the division is
    exact and nothing is rounded twice) or differs from it by at least
    1 / (2 * n * 10**12) > 0.5 * 10**(-d - 12). With at least f + 14
    significant digits the division's own rounding error is at most
    0.5 * 10**(-d - 12), so it can neither cross nor land on a tie, and the
    quantize gives the same result as rounding the exact reciprocal.
    Binance prices have at most 8 fraction digits, so 50 is what runs.
    """
    return round_half_up(reciprocal(mid), RATE_PLACES)


def reciprocal(value: Decimal) -> Decimal:
    """Return ``1 / value``, not rounded to places, at the precision `inverse_rate` explains.

    At least 50 significant digits (the README's contract asks for >= 40), more for a value
    with many fraction digits; rounding this to 12 places is `inverse_rate`.
    """
    _check_positive(value, "value")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    fraction_digits = max(-exponent, 0)
    context = decimal_context(max(_INVERSE_MIN_PREC, fraction_digits + 20))
    return context.divide(_ONE, value)


def convert_amount(amount: Decimal, rate: Decimal) -> Decimal:
    """Return ``amount * rate`` rounded half-up to 6 places, from the exact product."""
    # A product of coefficients with a and b digits has at most a + b digits.
    prec = len(amount.as_tuple().digits) + len(rate.as_tuple().digits)
    product = decimal_context(prec, exact=True).multiply(amount, rate)
    return round_half_up(product, AMOUNT_PLACES)


def format_fixed(value: Decimal, places: int) -> str:
    """Format plainly with exactly ``places`` fraction digits (half-up), never an exponent.

    ``str(Decimal)`` would give ``1E-7`` or ``-0.000000``; clients parsing the
    JSON strings must get ``0.000000``. Negative values keep their sign.
    """
    if not value.is_finite():
        raise ValueError(f"cannot format a non-finite decimal: {value}")
    rounded = round_half_up(value, places)
    if rounded.is_zero():
        rounded = rounded.copy_abs()  # no "-0.000000" for tiny negatives
    return f"{rounded:f}"


def convert(amount: Decimal, bid: Decimal, ask: Decimal, *, inverted: bool) -> Conversion:
    """Convert ``amount`` at the mid of ``bid``/``ask``, as 1/mid when ``inverted``.

    Raises RateBelowPrecisionError when the rate rounds to zero at 12 places:
    a zero rate would turn any amount into 0, an answer that looks valid but
    is not (README: refuse with 422 rather than answer).
    """
    mid = mid_price(bid, ask)
    rate = inverse_rate(mid) if inverted else direct_rate(mid)
    if rate.is_zero():
        raise RateBelowPrecisionError(
            f"The exchange rate rounds to zero at {RATE_PLACES} decimal places.",
            rate_places=RATE_PLACES,
        )
    # The amount is computed from the *returned* rate, so a client can check
    # amount == round(amount_in * rate, 6) with the numbers it was given.
    return Conversion(amount=convert_amount(amount, rate), rate=rate, inverted=inverted)


def same_currency(amount: Decimal) -> Conversion:
    """Convert a currency into itself: rate exactly 1, amount unchanged (6 places)."""
    return Conversion(
        amount=round_half_up(amount, AMOUNT_PLACES),
        rate=round_half_up(_ONE, RATE_PLACES),
        inverted=False,
    )


def round_half_up(value: Decimal, places: int) -> Decimal:
    """Quantize half-up to ``places`` fraction digits, whatever the size of ``value``."""
    # The result has at most (adjusted + 1) integer digits, one more if rounding
    # carries (9.99... -> 10.00...), plus ``places``: size the context for that,
    # so 10**15 times a large rate still formats exactly.
    prec = max(value.adjusted(), 0) + places + 2
    return value.quantize(Decimal((0, (1,), -places)), context=decimal_context(prec))


@cache  # Contexts are only read (flags aside, which never change a result)
def decimal_context(prec: int, *, exact: bool = False) -> Context:
    """A context of ``prec`` digits and the widest exponent range, independent of globals.

    ``exact`` traps Inexact: the steps the README calls exact size their precision
    from the operands, and if that sizing were ever wrong we want a loud bug
    (a 500), never a silently rounded price.
    """
    traps = [InvalidOperation, Overflow, Inexact] if exact else [InvalidOperation, Overflow]
    return Context(prec=prec, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=traps)


def _check_positive(value: Decimal, name: str) -> None:
    # Callers only pass quotes the consumer already filtered to bid, ask > 0;
    # anything else here is a bug, so fail loudly rather than divide by zero.
    if not (value.is_finite() and value > 0):
        raise ValueError(f"{name} must be a finite decimal > 0, got {value}")
