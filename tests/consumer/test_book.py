"""The venue-neutral half of the adapters: plain decimals, codes, one top of book, depth levels.

Expected values come from the standard library (`Decimal`, `Fraction`, string
methods), never from the module under test.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from operator import attrgetter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.errors import BadPayloadError
from consumer.exchanges._book import (
    NOT_AN_OBJECT,
    PLAIN_DECIMAL,
    Listing,
    Row,
    classify,
    levels,
    plain_decimal,
    quotable_entries,
    quotes_from_rows,
    read_listings,
    rows_of,
)
from consumer.exchanges._model import SKIP_REASONS
from storage.model import Quote


@dataclass(frozen=True, slots=True)
class Info(Listing):
    open: bool


OPEN = attrgetter("open")
METADATA = {
    "AB": Info("AB", "A", "B", open=True),
    "SHUT": Info("SHUT", "C", "B", open=False),
    "LOW": Info("LOW", "low", "B", open=True),
}


def is_plain(text: str) -> bool:
    """Test oracle: 1-20 ASCII digits, optionally a dot and 1-20 more (no regex)."""
    whole, dot, fraction = text.partition(".")
    digits = whole + fraction
    return (
        all(c in "0123456789" for c in digits)
        and 1 <= len(whole) <= 20
        and (not dot or 1 <= len(fraction) <= 20)
    )


def quote_of(rows: list[Row], **options: bool) -> tuple[dict[str, Quote], Counter[str]]:
    skipped: Counter[str] = Counter()
    try:
        quotes = quotes_from_rows(
            rows, METADATA, skipped, quotable=OPEN, nothing="nothing", **options
        )
    except BadPayloadError:
        quotes = {}
    return quotes, skipped


# -- plain decimals ----------------------------------------------------------------

plain_strings = st.from_regex(PLAIN_DECIMAL, fullmatch=True)
near_misses = st.text(alphabet="0123456789.eE+-_ \t١٢NaIinfy", max_size=45)


@given(plain_strings)
def test_any_plain_decimal_string_round_trips_exactly(text: str) -> None:
    """A plain decimal string becomes the Decimal of that string: same value, same digits."""
    assert is_plain(text)
    value = plain_decimal(text)
    assert value is not None
    assert Fraction(value) == Fraction(text)
    assert value.as_tuple() == Decimal(text).as_tuple()
    assert value.as_tuple().exponent == -len(text.partition(".")[2])


@given(near_misses | st.text(max_size=30))
def test_any_other_string_is_refused(text: str) -> None:
    """Exponents, signs, blanks, separators, non-ASCII digits, NaN, > 20 digits: None."""
    assert (plain_decimal(text) is not None) == is_plain(text)


@pytest.mark.parametrize("raw", [None, True, 1, 1.5, ["1"], {"1": 1}, b"1"])
def test_non_strings_are_refused(raw: object) -> None:
    """JSON numbers and other non-strings are never money, even when they look right."""
    assert plain_decimal(raw) is None


# -- listings ----------------------------------------------------------------------


def test_codes_are_checked_once_and_do_not_take_part_in_equality() -> None:
    """codes_ok says whether both codes fit [A-Z0-9]{1,20}; repr and == ignore it."""
    assert METADATA["AB"].codes_ok
    assert not METADATA["LOW"].codes_ok
    assert not Info("X", "A" * 21, "B", open=True).codes_ok
    assert not Info("X", "A", "", open=True).codes_ok
    assert repr(METADATA["AB"]) == "Info(symbol='AB', base='A', quote='B', open=True)"
    assert Info("AB", "A", "B", True) == METADATA["AB"]


def test_read_listings_keeps_objects_with_string_names() -> None:
    """Entries that are not objects, lack a string name or an allowed symbol are left out."""
    entries: list[object] = [
        {"s": "AB", "b": "A", "q": "B", "st": "open"},
        {"s": "SHUT", "b": "C", "q": "B", "st": "closed"},
        {"s": "ab", "b": "A", "q": "B", "st": "open"},
        {"s": "NOQ", "b": "A", "q": None, "st": "open"},
        "AB",
        {"s": "LOW", "b": "low", "q": "B"},
    ]
    assert read_listings(entries, Info, ("s", "b", "q", "st"), "open") == {
        "AB": Info("AB", "A", "B", open=True),
        "SHUT": Info("SHUT", "C", "B", open=False),
        "LOW": Info("LOW", "low", "B", open=False),
    }


def test_quotable_entries_need_a_listed_open_symbol_with_good_codes() -> None:
    """Only objects whose symbol is listed, open and coded come out, with their entry."""
    entries: list[object] = [{"id": s} for s in ("AB", "SHUT", "LOW", "NOPE")] + [["AB"], {}]
    assert [(i.symbol, e) for i, e in quotable_entries(entries, METADATA, "id", OPEN)] == [
        ("AB", {"id": "AB"})
    ]


# -- one top of book ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param(("1.0", "1.1", "2", "3"), ("1.0", "1.1", "2", "3"), id="quotable"),
        pytest.param(("5", "5", "0", "0"), ("5", "5", "0", "0"), id="locked-zero-sizes"),
        pytest.param(("1.2", "1.1", "2", "3"), "crossed", id="crossed"),
        pytest.param(("0", "1.1", "2", "3"), "empty_book", id="zero-bid"),
        pytest.param(("1.0", "0.000", "2", "3"), "empty_book", id="zero-ask"),
        pytest.param(("1e3", "1.1", "2", "3"), "bad_price", id="exponent"),
        pytest.param(("1.0", "1.1", "-2", "3"), "bad_price", id="negative-size"),
        pytest.param(("1.0", "1.1", "2", None), "bad_price", id="no-size"),
        pytest.param(("", "1.1", "2", "3"), "bad_price", id="blank-not-a-venue-fact"),
        # Two faults: an empty side's size is not looked at; a bad price beats an empty one.
        pytest.param(("0", "1.1", "x", "3"), "empty_book", id="zero-bid-bad-size"),
        pytest.param(("0", "x", "2", "3"), "bad_price", id="zero-bid-bad-ask"),
        pytest.param(("2", "1", "x", "3"), "bad_price", id="crossed-bad-size"),
    ],
)
def test_classify_in_the_documented_order(row: tuple[object, ...], expected: object) -> None:
    """Each row gives its values or the first fault in the module's documented order."""
    found = classify(*row)
    if isinstance(expected, tuple):
        assert found == tuple(Decimal(v) for v in expected)
    else:
        assert found == expected


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (("", "1.1", "", "3"), "empty_book"),
        (("1.0", "", "2", ""), "empty_book"),
        (("", "x", "", "3"), "bad_price"),
        (("1.0", "1.1", "", "3"), "bad_price"),
    ],
)
def test_a_blank_side_is_an_empty_book_where_the_venue_says_so(
    row: tuple[object, ...], expected: str
) -> None:
    """blank_side: "" as a price is a side with no orders (Bybit, OKX); a blank size is not."""
    assert classify(*row, blank_side=True) == expected


def test_absent_sizes_are_unknown_where_the_venue_says_so() -> None:
    """sizes_optional: a size that is None is kept as None; a present one must be plain."""
    one, two = Decimal("1.0"), Decimal("1.1")
    assert classify("1.0", "1.1", None, None, sizes_optional=True) == (one, two, None, None)
    assert classify("1.0", "1.1", "", None, sizes_optional=True) == "bad_price"
    assert classify("1.0", "1.1", None, None) == "bad_price"


# -- many rows ---------------------------------------------------------------------

values = st.sampled_from(["0", "0.0", "1", "1.5", "2", "", " 1", "1e3", "-1", "NaN"]) | (
    st.none() | st.integers() | st.floats() | plain_strings | st.text("0123456789.\x00", max_size=6)
)
rows = st.tuples(
    st.sampled_from([*METADATA, "NOPE"]) | st.none() | st.integers(), values, values, values, values
)


@given(rows, st.booleans(), st.booleans())
def test_each_row_is_what_classify_says(row: Row, blank: bool, optional: bool) -> None:
    """The inline common case agrees with `classify` on any row, under any venue options."""
    quotes, skipped = quote_of([row], blank_side=blank, sizes_optional=optional)
    symbol, *raw = row
    info = METADATA.get(symbol) if isinstance(symbol, str) else None
    if info is None:
        expected: object = "not_listed"
    elif not info.open:
        expected = "not_quotable"
    elif not info.codes_ok:
        expected = "bad_code"
    else:
        expected = classify(*raw, blank_side=blank, sizes_optional=optional)
    if isinstance(expected, str):
        assert (quotes, skipped) == ({}, Counter({expected: 1}))
    else:
        assert isinstance(symbol, str)
        assert quotes == {symbol: Quote(symbol, "A", "B", *expected)}
        assert not skipped


def test_every_row_is_quoted_or_counted_once() -> None:
    """Skips are counted by reason (only reasons that occurred), quotes keyed by symbol."""
    payload: list[Row] = [
        ("AB", "1.0", "1.1", "2", "3"),
        ("SHUT", "1.0", "1.1", "2", "3"),
        ("LOW", "1.0", "1.1", "2", "3"),
        ("NOPE", "1.0", "1.1", "2", "3"),
        (["AB"], "1.0", "1.1", "2", "3"),
        NOT_AN_OBJECT,
        NOT_AN_OBJECT,
    ]
    skipped: Counter[str] = Counter(crossed=4)
    quotes = quotes_from_rows(payload, METADATA, skipped, quotable=OPEN, nothing="none")
    assert list(quotes) == ["AB"]
    assert skipped == Counter(crossed=4, not_quotable=1, bad_code=1, not_listed=2, bad_price=2)
    assert set(skipped) <= set(SKIP_REASONS)


def test_nothing_quotable_raises_after_counting() -> None:
    """No quote raises BadPayloadError with the venue's message; the skips are counted first."""
    skipped: Counter[str] = Counter()
    with pytest.raises(BadPayloadError, match=r"^okx tickers: none$"):
        quotes_from_rows(
            [("SHUT", "1", "2", "1", "1")],
            METADATA,
            skipped,
            quotable=OPEN,
            nothing="okx tickers: none",
        )
    assert skipped == Counter(not_quotable=1)
    with pytest.raises(BadPayloadError):
        quotes_from_rows([], METADATA, None, quotable=OPEN, nothing="empty")


def test_rows_of_flat_objects() -> None:
    """Flat ticker objects give their five named fields; anything else the not-an-object row."""
    entries: list[object] = [{"s": "AB", "b": "1", "a": "2", "bq": "3"}, ["AB"], None]
    assert list(rows_of(entries, ("s", "b", "a", "bq", "aq"))) == [
        ("AB", "1", "2", "3", None),
        NOT_AN_OBJECT,
        NOT_AN_OBJECT,
    ]


# -- depth levels ------------------------------------------------------------------


def test_levels_keep_price_and_size_best_first() -> None:
    """Levels become (price, size) Decimals in order; ties are allowed; a side may be empty."""
    raw = [["3", "1"], ["3", "0"], ["2.50", "4"]]
    assert levels(raw, "bids", "x", bids=True) == (
        (Decimal(3), Decimal(1)),
        (Decimal(3), Decimal(0)),
        (Decimal("2.50"), Decimal(4)),
    )
    assert levels(list(reversed(raw)), "asks", "x", bids=False)[0] == (Decimal("2.50"), 4)
    assert levels([], "asks", "x", bids=False) == ()
    extra = [["1", "2", 1762820248], ["2", "1", "0", "3"]]
    assert len(levels(extra, "asks", "x", bids=False, extra_fields=True)) == 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "x has no `bids` list"),
        ([["1"]], "x has a bad bids level"),
        ([["1", "2", "3"]], "x has a bad bids level"),
        ([["0", "2"]], "x has a bad bids level"),
        ([[1.5, "2"]], "x has a bad bids level"),
        ([["1", "2"], ["1.1", "2"]], "x: bids are not best first"),
    ],
)
def test_levels_refuse_what_cannot_be_summed(raw: Any, message: str) -> None:
    """A missing side, a malformed level, a zero price or a rising bid side raise."""
    with pytest.raises(BadPayloadError, match=message):
        levels(raw, "bids", "x", bids=True)


@given(st.lists(st.tuples(plain_strings, plain_strings), max_size=20), st.booleans())
def test_levels_accept_exactly_the_sorted_sides(pairs: list[tuple[str, str]], bids: bool) -> None:
    """Any list of plain (price, size) pairs parses iff its prices are positive and best first."""
    prices = [Fraction(p) for p, _ in pairs]
    ordered = prices == sorted(prices, reverse=bids)
    try:
        parsed = levels([list(p) for p in pairs], "side", "x", bids=bids)
    except BadPayloadError:
        assert not (ordered and all(prices))
    else:
        assert ordered
        assert all(prices)
        assert [(Fraction(p), Fraction(q)) for p, q in parsed] == [
            (Fraction(p), Fraction(q)) for p, q in pairs
        ]
