"""Snapshot file bytes -> `Record`: what the index keeps of one snapshot. Pure.

The index must answer exactly what `storage.codec.decode` answers, so a file
is indexed only when `decode` would accept it, and each value is kept as the
file's own decimal string (`Decimal(s)` rebuilds the very value `decode`
builds: same digits, same exponent, same `str`). `decode` costs ~5 ms a file
(a `Decimal` per value), and a rebuild of 20,160 files must take < 60 s, so
the same rules are checked column by column: one regex over each column's
values joined by newlines (which no valid value contains). Anything unusual
falls back to checking value by value; a test holds both to `decode`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from storage.model import format_iso_ms

__all__ = ["NO_ROW", "Columns6", "Record", "Row", "parse_snapshot", "record_from_rows"]

# base, quote, bid, ask, bid_qty, ask_qty: the file's strings; "" for a size
# that is null (schema 2) or absent (schema 1), and NO_ROW for "not in this snapshot".
Row = tuple[str, str, str, str, str, str]
NO_ROW: Row = ("", "", "", "", "", "")
Strings = tuple[str, ...]
Columns6 = tuple[Strings, Strings, Strings, Strings, Strings, Strings]


@dataclass(frozen=True, slots=True)
class Record:
    """One snapshot as the index holds it: its rows as six columns, in file order."""

    ms: int  # fetched_at, UTC ms (the file name)
    size: int  # the file's size and mtime when it was indexed: its stamp
    mtime_ns: int
    schema: int
    symbols: Strings
    columns: Columns6  # bases, quotes, bids, asks, bid_qtys, ask_qtys
    # (base, quote) shared by several rows -> the first such symbol in file
    # order (what `codec.find_pair` returns); None: work it out from the order.
    shared: dict[tuple[str, str], str] | None = None

    @property
    def stamp(self) -> tuple[int, int]:
        return self.size, self.mtime_ns

    def rows(self) -> dict[str, Row]:
        return dict(zip(self.symbols, zip(*self.columns, strict=True), strict=True))

    def dups(self) -> dict[tuple[str, str], str]:
        if self.shared is not None:
            return self.shared
        pairs = list(zip(self.columns[0], self.columns[1], strict=True))
        if len(set(pairs)) == len(pairs):
            return {}
        first: dict[tuple[str, str], str] = {}
        dups: dict[tuple[str, str], str] = {}
        for symbol, pair in zip(self.symbols, pairs, strict=True):
            winner = first.setdefault(pair, symbol)
            if winner != symbol:
                dups[pair] = winner
        return dups


def record_from_rows(
    ms: int,
    stamp: tuple[int, int],
    schema: int,
    rows: dict[str, Row],
    dups: dict[tuple[str, str], str],
) -> Record:
    columns = tuple(zip(*rows.values(), strict=True))
    return Record(ms, *stamp, schema, tuple(rows), columns, dups)  # type: ignore[arg-type]


# The rules of storage.codec (`_CODE`, `_PRICE`, `_decimal`, `_size`), value by value.
_CODE = re.compile(r"\A[A-Z0-9]{1,20}\Z")
_PLAIN = re.compile(r"\A[0-9]{1,30}(\.[0-9]{1,30})?\Z")
_WIDTH = {1: 4, 2: 6}
_DIGITS = b"0123456789"
_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _lines_ok(text: bytes, n: int) -> bool:
    """`n` lines, none empty (a value holding "\n" makes more lines than values)."""
    return (
        bool(text)
        and text.count(b"\n") == n - 1
        and b"\n\n" not in text
        and (text[:1] != b"\n" and text[-1:] != b"\n")
    )


def _codes_ok(values: Sequence[str]) -> bool:
    """Every value matches `[A-Z0-9]{1,20}`: checked over the joined column, in C."""
    text = "\n".join(values).encode("ascii")  # TypeError, UnicodeEncodeError: not codes
    return (
        _lines_ok(text, len(values))
        and not text.translate(None, _DIGITS + _UPPER + b"\n")
        and max(map(len, values)) <= 20
    )


def _plains_ok(values: Sequence[str], *, positive: bool) -> bool:
    """Every value matches `[0-9]{1,30}(\\.[0-9]{1,30})?` (and is > 0): in C, like `_codes_ok`.

    Values over 30 characters are left to `_by_value` (the 30-digit limits
    hold for each part, not for the whole).
    """
    text = "\n".join(values).encode("ascii")
    if not _lines_ok(text, len(values)) or text.translate(None, _DIGITS + b".\n"):
        return False
    if max(map(len, values)) > 30 or b".." in text.translate(None, _DIGITS):
        return False  # too long to judge here, or two dots in one value
    if text[:1] == b"." or text[-1:] == b"." or b"\n." in text or b".\n" in text:
        return False
    if positive:  # a value with no digit but 0 leaves an empty line here
        nonzero = text.translate(None, b"0.")
        return bool(nonzero) and _lines_ok(nonzero, len(values))
    return True


def parse_snapshot(
    data: bytes, ms: int, size: int, mtime_ns: int, previous: Record | None = None
) -> Record | None:
    """The file's record, or None when `codec.decode(data, ms)` would refuse the file.

    `previous`: the record parsed just before (the snapshot before, when
    rebuilding); a value equal to the one at the same place in it was checked
    then, so only the others are checked (3 in 4 prices do not move in 30 s).
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    schema = doc.get("schema")
    width = _WIDTH.get(schema) if type(schema) is int else None
    if width is None or doc.get("fetched_at") != format_iso_ms(ms):
        return None
    symbols = doc.get("symbols")
    if not isinstance(doc.get("exchange"), str) or not isinstance(symbols, dict) or not symbols:
        return None
    rows = list(symbols.values())
    columns = _by_column(rows, width, previous.columns if previous else None)
    if columns is None:
        columns = _by_value(rows, width)
    if columns is None:
        return None
    assert isinstance(schema, int)
    return Record(ms, size, mtime_ns, schema, tuple(symbols), columns)


def _new(column: Strings, before: Strings | None) -> Sequence[str]:
    """The values not already checked: those unlike the value at the same place `before`."""
    if before is None or len(before) != len(column):
        return column
    return [v for v, b in zip(column, before, strict=True) if v != b]


def _by_column(rows: list[Any], width: int, before: Columns6 | None) -> Columns6 | None:
    """Six checked columns, or None if anything is unusual (then `_by_value` decides)."""
    if set(map(type, rows)) != {list} or set(map(len, rows)) != {width}:
        return None
    columns = list(zip(*rows, strict=True))
    last: Columns6 | tuple[None, ...] = before or (None,) * 6
    try:
        for f in (0, 1):
            if columns[f] != last[f] and not _codes_ok(columns[f]):
                return None
        for f in (2, 3):
            new = _new(columns[f], last[f])
            if new and not _plains_ok(new, positive=True):
                return None
        if width == 4:
            none = ("",) * len(rows)
            return columns[0], columns[1], columns[2], columns[3], none, none
        for f in (4, 5):
            if "" in columns[f]:  # never valid; "" below stands for null
                return None
            if None in columns[f]:  # a size the venue did not give
                columns[f] = tuple("" if v is None else v for v in columns[f])
            new = [v for v in _new(columns[f], last[f]) if v != ""]
            if new and not _plains_ok(new, positive=False):
                return None
    except (TypeError, UnicodeEncodeError):
        return None
    return tuple(columns)  # type: ignore[return-value]


def _price_ok(value: object) -> bool:
    # A plain decimal is > 0 exactly when one of its digits is not 0.
    return isinstance(value, str) and bool(_PLAIN.match(value)) and value.strip("0.") != ""


def _size_ok(value: object) -> bool:
    return value is None or (isinstance(value, str) and bool(_PLAIN.match(value)))


def _by_value(rows: list[Any], width: int) -> Columns6 | None:
    """Value by value, exactly as `codec.decode` does."""
    out: list[Row] = []
    for row in rows:
        if not (isinstance(row, list) and len(row) == width):
            return None
        base, quote, bid, ask = row[:4]
        sizes = row[4:] if width == 6 else [None, None]
        if not all(isinstance(c, str) and _CODE.match(c) for c in (base, quote)):
            return None
        if not (_price_ok(bid) and _price_ok(ask) and all(_size_ok(s) for s in sizes)):
            return None
        out.append((base, quote, bid, ask, sizes[0] or "", sizes[1] or ""))
    return tuple(zip(*out, strict=True))  # type: ignore[return-value]
