"""Conversion maths, checked against exact rational arithmetic (Fraction, integers)."""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.conversion import (
    AMOUNT_PLACES,
    RATE_PLACES,
    Conversion,
    convert,
    convert_amount,
    direct_rate,
    format_fixed,
    inverse_rate,
    mid_price,
    same_currency,
)
from api.exceptions import RateBelowPrecisionError

AMOUNT_RE = re.compile(r"[0-9]+\.[0-9]{6}")
RATE_RE = re.compile(r"[0-9]+\.[0-9]{12}")


def half_up(value: Fraction, places: int) -> Fraction:
    """Reference rounding: exact ROUND_HALF_UP of a non-negative rational."""
    scale = 10**places
    return Fraction((value * scale * 2 + 1) // 2, scale)


def scaled(value: Decimal, places: int) -> int:
    """The integer value * 10**places, asserting value has exactly that many places."""
    sign, digits, exponent = value.as_tuple()
    assert (sign, exponent) == (0, -places)
    return int("".join(map(str, digits)))


def decimal_from(coefficient: int, exponent: int) -> Decimal:
    """Build a Decimal from its parts, exactly (never through float)."""
    return Decimal(f"{coefficient}E{exponent}")


# Exchange-like prices: up to 12 significant digits, 0 to 12 fraction digits.
PRICES = st.builds(decimal_from, st.integers(1, 10**12), st.integers(-12, 0))
# Any positive amount the API accepts: 6 places, below 10**15.
AMOUNTS = st.integers(1, 10**21 - 1).map(lambda n: decimal_from(n, -6))


@settings(max_examples=400)
@given(amount=AMOUNTS, bid=PRICES, ask=PRICES, inverted=st.booleans())
def test_amount_is_rounded_product_with_returned_rate(
    amount: Decimal, bid: Decimal, ask: Decimal, inverted: bool
) -> None:
    """amount_out == round_half_up(amount_in * rate, 6) with the rate returned."""
    try:
        result = convert(amount, bid, ask, inverted=inverted)
    except RateBelowPrecisionError:
        return
    # Integer reference: amount * 10**6 times rate * 10**12 is the product at
    # 10**18; dropping 12 places half-up is (x + 10**12 / 2) // 10**12.
    product = scaled(amount, 6) * scaled(result.rate, 12)
    assert scaled(result.amount, 6) == (product + 5 * 10**11) // 10**12
    assert result.inverted is inverted


@settings(max_examples=400)
@given(bid=PRICES, ask=PRICES)
def test_mid_is_exact(bid: Decimal, ask: Decimal) -> None:
    """mid_price is exactly (bid + ask) / 2, whatever the global context says."""
    with localcontext() as context:
        context.prec = 3  # a hostile global context must not matter
        mid = mid_price(bid, ask)
    assert Fraction(mid) == (Fraction(bid) + Fraction(ask)) / 2


@settings(max_examples=400)
@given(bid=PRICES, ask=PRICES)
def test_direct_rate_is_rounded_mid(bid: Decimal, ask: Decimal) -> None:
    """The direct rate is the mid correctly rounded half-up to 12 places, or refused at 0."""
    exact = (Fraction(bid) + Fraction(ask)) / 2
    expected = half_up(exact, RATE_PLACES)
    if expected == 0:
        with pytest.raises(RateBelowPrecisionError):
            convert(Decimal(1), bid, ask, inverted=False)
        return
    rate = convert(Decimal(1), bid, ask, inverted=False).rate
    assert Fraction(rate) == expected
    assert scaled(rate, RATE_PLACES) >= 1


@settings(max_examples=400)
@given(
    mid=st.one_of(
        PRICES,
        # Many fraction digits: exercises the precision beyond 50 digits.
        st.builds(decimal_from, st.integers(1, 10**30), st.integers(-45, 0)),
        # Powers of two and five have terminating reciprocals: exact ties.
        st.builds(
            lambda a, b, e: decimal_from(2**a * 5**b, e),
            st.integers(0, 60),
            st.integers(0, 3),
            st.integers(-20, 20),
        ),
    )
)
def test_inverse_rate_is_correctly_rounded_reciprocal(mid: Decimal) -> None:
    """inverse_rate is 1/mid rounded half-up at 12 places, exact ties included."""
    rate = inverse_rate(mid)
    exact = 1 / Fraction(mid)
    assert Fraction(rate) == half_up(exact, RATE_PLACES)
    assert abs(Fraction(rate) - exact) <= Fraction(1, 2 * 10**RATE_PLACES)
    assert rate.as_tuple().exponent == -RATE_PLACES


@settings(max_examples=400)
@given(
    value=st.one_of(
        st.builds(decimal_from, st.integers(0, 10**40), st.integers(-45, 40)),
        st.decimals(min_value=0, max_value=10**20, allow_nan=False, allow_infinity=False),
        st.sampled_from([Decimal("1E-30"), Decimal("-0E-30"), Decimal("0E+30"), Decimal(0)]),
    )
)
def test_format_fixed_is_plain(value: Decimal) -> None:
    """format_fixed gives digits '.' exactly 6 or 12 digits, never a sign or exponent."""
    for places, pattern in ((AMOUNT_PLACES, AMOUNT_RE), (RATE_PLACES, RATE_RE)):
        text = format_fixed(value, places)
        assert pattern.fullmatch(text), text
        assert Fraction(Decimal(text)) == half_up(Fraction(value), places)


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (Decimal("1E-30"), 6, "0.000000"),
        (Decimal("-1E-30"), 6, "0.000000"),
        (Decimal("1E+20"), 6, "100000000000000000000.000000"),
        (Decimal("0.0000005"), 6, "0.000001"),
        (Decimal("0.00000049"), 6, "0.000000"),
        (Decimal("65000.015"), 12, "65000.015000000000"),
        (Decimal("-1.5"), 6, "-1.500000"),
    ],
)
def test_format_fixed_examples(value: Decimal, places: int, expected: str) -> None:
    """format_fixed rounds half-up, pads, and prints zero without a sign."""
    assert format_fixed(value, places) == expected


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity")])
def test_format_fixed_refuses_non_finite(value: Decimal) -> None:
    """Non-finite values are a bug, not a number to print."""
    with pytest.raises(ValueError, match="non-finite"):
        format_fixed(value, 6)


def test_spec_example() -> None:
    """The spec's BTC->USDT example: mid 65000.015, 1.5 BTC = 97500.0225 USDT."""
    result = convert(Decimal("1.5"), Decimal("65000.01"), Decimal("65000.02"), inverted=False)
    assert result == Conversion(
        amount=Decimal("97500.022500"), rate=Decimal("65000.015000000000"), inverted=False
    )
    assert format_fixed(result.rate, RATE_PLACES) == "65000.015000000000"
    assert format_fixed(result.amount, AMOUNT_PLACES) == "97500.022500"


def test_inverse_of_tiny_mid() -> None:
    """bid = ask = 0.00000001 inverts to exactly 100000000.000000000000."""
    result = convert(Decimal(1), Decimal("0.00000001"), Decimal("0.00000001"), inverted=True)
    assert format_fixed(result.rate, RATE_PLACES) == "100000000.000000000000"
    assert result.amount == Decimal("100000000.000000")


def test_inverse_tie_rounds_up() -> None:
    """1/1638.4 = 0.0006103515625 exactly, and the tie rounds up, not to even."""
    assert inverse_rate(Decimal("1638.4")) == Decimal("0.000610351563")


def test_direct_tie_rounds_up() -> None:
    """A mid ending in 5 at the 13th place rounds up."""
    assert direct_rate(Decimal("1.0000000000005")) == Decimal("1.000000000001")


def test_tiny_direct_rate_is_refused() -> None:
    """A mid of 1E-13 rounds to a zero rate, which is refused with 422."""
    with pytest.raises(RateBelowPrecisionError) as caught:
        convert(Decimal(1), Decimal("1E-13"), Decimal("1E-13"), inverted=False)
    assert caught.value.status == 422


def test_huge_mid_inverse_is_refused_or_half_up() -> None:
    """1/2E+12 is a tie that rounds up to 1E-12; 1/2.5E+12 rounds to zero and is refused."""
    assert convert(Decimal(1), Decimal("2E+12"), Decimal("2E+12"), inverted=True).rate == (
        Decimal("0.000000000001")
    )
    with pytest.raises(RateBelowPrecisionError):
        convert(Decimal(1), Decimal("2.5E+12"), Decimal("2.5E+12"), inverted=True)


def test_largest_amount_times_large_rate_is_exact() -> None:
    """(10**15 - 1e-6) * (10**9 - 1e-12) = 10**24 - 2000 + 1e-18, every digit kept."""
    amount = Decimal("999999999999999.999999")
    rate = Decimal("999999999.999999999999")
    expected = half_up(Fraction(amount) * Fraction(rate), AMOUNT_PLACES)
    assert Fraction(convert_amount(amount, rate)) == expected
    assert format_fixed(convert_amount(amount, rate), 6) == "999999999999999999998000.000000"


def test_same_currency() -> None:
    """Same currency: rate 1.000000000000 and the amount unchanged at 6 places."""
    result = same_currency(Decimal("1.5"))
    assert result == Conversion(amount=Decimal("1.500000"), rate=Decimal(1), inverted=False)
    assert format_fixed(result.rate, RATE_PLACES) == "1.000000000000"
    assert format_fixed(result.amount, AMOUNT_PLACES) == "1.500000"


@pytest.mark.parametrize(
    ("bid", "ask"),
    [(Decimal(0), Decimal(1)), (Decimal(1), Decimal(-1)), (Decimal("NaN"), Decimal(1))],
)
def test_non_positive_quotes_are_a_bug(bid: Decimal, ask: Decimal) -> None:
    """Quotes that are not finite and > 0 raise ValueError (the consumer filters them)."""
    with pytest.raises(ValueError, match="finite decimal > 0"):
        mid_price(bid, ask)
