"""What every venue adapter decides the same way: codes, plain decimals, tops of book, depth.

A venue module reads its own payload (envelope, field names, aliases, status
rule) into rows `(symbol, bid, ask, bid size, ask size)` of raw JSON values;
this module turns each row into a `Quote` or one skip reason, in one order
for every venue, so that a row with two faults is counted once, alike:

    an entry that is not an object  -> bad_price
    a symbol not in the metadata    -> not_listed
    the venue's status rule says no -> not_quotable  (TRADING, online, Trading, live)
    a code outside the vocabulary   -> bad_code      ([A-Z0-9]{1,20}, once per listing)
    a price that is not plain       -> bad_price
    a price of zero                 -> empty_book    (its size is not looked at: venues
                                                      send a zero or blank size with it)
    a size that is not plain        -> bad_price
    bid > ask                       -> crossed

(Kraken keys its ticker by pair, so there a listed pair whose entry is not an
object is counted after the listing checks, as a bad_price.)

Money is `Decimal(s)` of the venue's own string, built only after the string
is known to be a plain decimal: the venues send "0.07041400" and "80748.3";
exponents, signs, blanks, non-ASCII digits and floats are not trusted as money.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Any, TypeVar

from consumer.errors import BadPayloadError
from consumer.exchanges._model import SKIP_REASONS
from storage.model import Quote

__all__ = [
    "CODE",
    "NOT_AN_OBJECT",
    "PLAIN_DECIMAL",
    "SYMBOL",
    "Listing",
    "Row",
    "classify",
    "levels",
    "plain_decimal",
    "quotable_entries",
    "quotable_listing",
    "quotes_from_rows",
    "read_listings",
    "rows_of",
]

# The one code vocabulary of every venue (README, "Venues": upper case, 1 to 20 characters).
CODE = re.compile(r"[A-Z0-9]{1,20}")
# A venue's own symbol made of letters and digits (Binance, Kraken, Bybit), with room to spare.
SYMBOL = re.compile(r"[A-Z0-9]{1,40}")
# Every venue's prices and sizes are plain decimals; 20 digits a side is ample.
PLAIN_DECIMAL = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,20})?")

_code = CODE.fullmatch
_plain = PLAIN_DECIMAL.fullmatch
# Four plain decimals joined by NUL: one C call checks a whole top of book (a value
# holding a NUL adds a fifth part, so the whole matches exactly when each value does),
# and `str.join` refuses a value that is not a string (TypeError).
_four_plain = re.compile("\x00".join([PLAIN_DECIMAL.pattern] * 4)).fullmatch
_ZERO = Decimal(0)

# (symbol, bid price, ask price, bid size, ask size): JSON values, whatever the venue sent.
Row = tuple[Any, Any, Any, Any, Any]
# The row of an entry that is not even an object: counted bad_price, before any look-up.
NOT_AN_OBJECT: Row = (None, None, None, None, None)


@dataclass(frozen=True, slots=True)
class Listing:
    """One symbol of a venue's metadata: the venue's own name and its two codes.

    `codes_ok` (the codes fit the vocabulary) is worked out once, when the
    metadata is parsed, rather than for every row of every poll.
    """

    symbol: str
    base: str
    quote: str
    codes_ok: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "codes_ok", bool(_code(self.base) and _code(self.quote)))


L = TypeVar("L", bound=Listing)


def plain_decimal(raw: object) -> Decimal | None:
    """`raw` as an exact Decimal if it is a plain decimal string ("0.07041400"), else None."""
    return Decimal(raw) if isinstance(raw, str) and _plain(raw) else None


def read_listings(
    entries: Iterable[object],
    make: Callable[[str, str, str, bool], L],
    fields: tuple[str, str, str, str],
    quotable_status: str,
    *,
    symbol_pattern: re.Pattern[str] = SYMBOL,
) -> dict[str, L]:
    """Symbol -> listing, from metadata entries that are objects with string names.

    `fields` name the symbol, base, quote and status; a listing is quotable
    when its status is `quotable_status`. Entries that are not objects, or
    whose names are not strings (the symbol fitting `symbol_pattern`), are
    left out: they could never be quoted. Codes are kept as given.
    """
    symbol_key, base_key, quote_key, status_key = fields
    result: dict[str, L] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        symbol, base, quote = entry.get(symbol_key), entry.get(base_key), entry.get(quote_key)
        if (
            isinstance(symbol, str)
            and symbol_pattern.fullmatch(symbol)
            and isinstance(base, str)
            and isinstance(quote, str)
        ):
            result[symbol] = make(symbol, base, quote, entry.get(status_key) == quotable_status)
    return result


def rows_of(entries: Iterable[object], fields: tuple[str, str, str, str, str]) -> Iterator[Row]:
    """Rows from ticker entries that are flat objects: `fields` name symbol, bid, ask and sizes."""
    symbol, bid, ask, bid_qty, ask_qty = fields
    for e in entries:
        if isinstance(e, dict):
            yield e.get(symbol), e.get(bid), e.get(ask), e.get(bid_qty), e.get(ask_qty)
        else:
            yield NOT_AN_OBJECT


def quotable_listing(
    metadata: Mapping[str, L], symbol: object, quotable: Callable[[L], bool]
) -> L | None:
    """`symbol`'s listing if it is quotable by its venue's rule and its codes fit; else None."""
    info = metadata.get(symbol) if isinstance(symbol, str) else None
    return info if info is not None and quotable(info) and info.codes_ok else None


def quotable_entries(
    entries: Iterable[object],
    metadata: Mapping[str, L],
    symbol_key: str,
    quotable: Callable[[L], bool],
) -> Iterator[tuple[L, dict[str, Any]]]:
    """(listing, entry) for each entry that is an object whose symbol `quotable_listing` keeps."""
    for entry in entries:
        if isinstance(entry, dict):
            info = quotable_listing(metadata, entry.get(symbol_key), quotable)
            if info is not None:
                yield info, entry


def classify(
    raw_bid: object,
    raw_ask: object,
    raw_bid_qty: object,
    raw_ask_qty: object,
    *,
    blank_side: bool = False,
    sizes_optional: bool = False,
) -> str | tuple[Decimal, Decimal, Decimal | None, Decimal | None]:
    """One top of book -> (bid, ask, bid size, ask size), or the skip reason.

    `blank_side`: the venue sends "" as the price of a side with no orders
    (an empty book). `sizes_optional`: a size that is absent (None) is unknown
    and kept as None; one that is present must still be a plain decimal.
    """
    bid = _ZERO if blank_side and raw_bid == "" else plain_decimal(raw_bid)
    ask = _ZERO if blank_side and raw_ask == "" else plain_decimal(raw_ask)
    if bid is None or ask is None:
        return "bad_price"
    if bid <= _ZERO or ask <= _ZERO:
        return "empty_book"
    bid_qty, ask_qty = plain_decimal(raw_bid_qty), plain_decimal(raw_ask_qty)
    if (bid_qty is None and not (sizes_optional and raw_bid_qty is None)) or (
        ask_qty is None and not (sizes_optional and raw_ask_qty is None)
    ):
        return "bad_price"
    if bid > ask:
        return "crossed"
    return bid, ask, bid_qty, ask_qty


def quotes_from_rows(
    rows: Iterable[Row],
    metadata: Mapping[str, L],
    skipped: Counter[str] | None,
    *,
    quotable: Callable[[L], bool],
    nothing: str,
    blank_side: bool = False,
    sizes_optional: bool = False,
) -> dict[str, Quote]:
    """Symbol -> Quote for each quotable row; every other row counted in `skipped` by reason.

    `quotable` is the venue's status rule on its listing; `blank_side` and
    `sizes_optional` are as for `classify`. No quote at all raises
    BadPayloadError(`nothing`): such a snapshot would turn a venue's glitch
    into "pair_not_found".
    """
    # A poll parses every symbol of a venue (1,261 on Binance): the common row,
    # four plain decimals with 0 < bid <= ask, is decided inline here, with
    # the look-ups bound once; any other row goes to `classify`. Skips are
    # counted in a plain dict and added to the caller's Counter once.
    counts = dict.fromkeys(SKIP_REASONS, 0)
    quotes: dict[str, Quote] = {}
    get, four_plain, join, decimal, zero = metadata.get, _four_plain, "\x00".join, Decimal, _ZERO
    for row in rows:
        symbol, raw_bid, raw_ask, raw_bid_qty, raw_ask_qty = row
        info = get(symbol) if isinstance(symbol, str) else None
        if info is None:
            counts["bad_price" if row is NOT_AN_OBJECT else "not_listed"] += 1
            continue
        if not quotable(info):
            counts["not_quotable"] += 1
            continue
        if not info.codes_ok:
            counts["bad_code"] += 1
            continue
        try:
            if four_plain(join((raw_bid, raw_ask, raw_bid_qty, raw_ask_qty))):
                bid, ask = decimal(raw_bid), decimal(raw_ask)
                if zero < bid <= ask:
                    quotes[info.symbol] = Quote(
                        info.symbol,
                        info.base,
                        info.quote,
                        bid,
                        ask,
                        decimal(raw_bid_qty),
                        decimal(raw_ask_qty),
                    )
                    continue
        except TypeError:  # a value that is not a string: `classify` says which reason
            pass
        found = classify(
            raw_bid,
            raw_ask,
            raw_bid_qty,
            raw_ask_qty,
            blank_side=blank_side,
            sizes_optional=sizes_optional,
        )
        if isinstance(found, str):
            counts[found] += 1
        else:
            quotes[info.symbol] = Quote(info.symbol, info.base, info.quote, *found)
    if skipped is not None:
        skipped.update({reason: n for reason, n in counts.items() if n})
    if not quotes:
        raise BadPayloadError(nothing)
    return quotes


def levels(
    raw: object, side: str, where: str, *, bids: bool, extra_fields: bool = False
) -> tuple[tuple[Decimal, Decimal], ...]:
    """One side of a book, `[[price, size, ...], ...]`, as (price, size) Decimals, best first.

    `side` and `where` name it in messages ("bids", "depth for ETHBTC");
    `extra_fields`: a level may carry more after price and size (Kraken's
    time, OKX's order count). A missing side, a malformed level, a price of
    zero or levels not best first (bids must not rise, asks must not fall)
    are a BadPayloadError: the analytics sum the top levels.
    """
    if not isinstance(raw, list):
        raise BadPayloadError(f"{where} has no `{side}` list")
    parsed: list[tuple[Decimal, Decimal]] = []
    for level in raw:
        shaped = isinstance(level, list) and (len(level) >= 2 if extra_fields else len(level) == 2)
        price = plain_decimal(level[0]) if shaped else None
        qty = plain_decimal(level[1]) if price is not None else None
        if price is None or qty is None or price <= _ZERO:
            raise BadPayloadError(f"{where} has a bad {side} level: {str(level)[:60]}")
        parsed.append((price, qty))
    if any(
        (after > before) if bids else (after < before)
        for (before, _), (after, _) in pairwise(parsed)
    ):
        raise BadPayloadError(f"{where}: {side} are not best first")
    return tuple(parsed)
