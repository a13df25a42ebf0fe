"""A reader's view of one index file: a sealed segment or an open tail.

Both answer the same three questions for their record `i`: which row a
(base, quote) has, which codes the snapshot uses, and the record's stamp.
"""

from __future__ import annotations

import bisect
import os
from pathlib import Path

from storage.history._layout import (
    PREFIX,
    Layout,
    SegmentTable,
    SegmentTimes,
    decode_table,
    decode_times,
)
from storage.history._parse import Row
from storage.history._segment import Columns, decode_blob
from storage.history._tail import Delta

__all__ = ["Ident", "Sealed", "StaleError", "Tail", "ident_of"]

Ident = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns


def ident_of(st: os.stat_result) -> Ident:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class StaleError(Exception):
    """The file was replaced since its header was read (internal: re-read and retry)."""


class Sealed:
    """A sealed segment: its times in memory; its table and entries read on first use.

    Reads after the first check that the file is still the one listed
    (StaleError if not: retention rewrote it; the reader re-lists and retries).
    Other failures are OSError or IndexFileError (the reader stops believing it).
    """

    __slots__ = ("_codes", "_table", "ident", "layout", "part", "path")

    def __init__(self, path: Path, ident: Ident, layout: Layout, part: SegmentTimes) -> None:
        self.path = path
        self.ident = ident
        self.layout = layout
        self.part = part
        self._table: SegmentTable | None = None
        self._codes: dict[int, frozenset[str]] = {}

    @property
    def times(self) -> list[int]:
        return self.part.times

    @classmethod
    def load(cls, path: Path) -> Sealed:
        """Read a segment's prefix and times (OSError, IndexFileError)."""
        fd = os.open(path, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            layout = Layout.of(os.pread(fd, PREFIX.size, 0), st.st_size)
            raw = os.pread(fd, layout.times[1], layout.times[0])
        finally:
            os.close(fd)
        return cls(path, ident_of(st), layout, decode_times(raw, layout))

    def _read(self, span: tuple[int, int, int] | tuple[int, int]) -> bytes:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if ident_of(os.fstat(fd)) != self.ident:
                raise StaleError(self.path.name)
            return os.pread(fd, span[1], span[0])
        finally:
            os.close(fd)

    def table(self) -> SegmentTable:
        if self._table is None:
            self._table = decode_table(self._read(self.layout.table), self.layout, len(self.times))
        return self._table

    def stamp(self, i: int) -> tuple[int, int]:
        return self.part.sizes[i], self.part.mtimes[i]

    def entry(self, i: int, base: str, quote: str) -> int | None:
        """The entry holding (base, quote) in record i, if that snapshot has the pair."""
        table = self.table()
        present = table.sets[table.presence[i]]
        e = table.codes.by_pair.get((base, quote))
        if e is not None:
            return e if e in present else None
        ids = table.codes.shared.get((base, quote))
        if ids is None:
            return None
        winner = table.dups.get((i, base, quote))
        if winner is not None:
            return winner
        for e in ids:
            if e in present:
                return e
        return None

    def columns(self, e: int) -> Columns:
        """Entry e's four columns."""
        offset, length, crc = self.table().blob(e)
        return decode_blob(self._read((offset, length)), crc, len(self.times))

    def symbol(self, e: int) -> str:
        return self.table().symbols[e]

    def currencies(self, i: int) -> frozenset[str]:
        table = self.table()
        s = table.presence[i]
        codes = self._codes.get(s)
        if codes is None:
            codes = frozenset(table.bases[e] for e in table.sets[s])
            codes |= frozenset(table.quotes[e] for e in table.sets[s])
            self._codes[s] = codes
        return codes


class Tail:
    """An open tail, read incrementally: per symbol, the records where its row changed."""

    __slots__ = (
        "_codes",
        "_current",
        "broken",
        "by_pair",
        "dups",
        "hist",
        "ident",
        "mtimes",
        "offset",
        "path",
        "sizes",
        "times",
    )

    def __init__(self, path: Path, ident: Ident) -> None:
        self.path = path
        self.ident = ident  # of the first read: a tail keeps its inode while it grows
        self.offset = 0
        self.times: list[int] = []  # in append order (usually time order)
        self.sizes: list[int] = []
        self.mtimes: list[int] = []
        self.hist: dict[str, tuple[list[int], list[Row | None]]] = {}
        self.by_pair: dict[tuple[str, str], list[str]] = {}
        self.dups: dict[tuple[int, str, str], str] = {}
        self.broken = False
        self._current: dict[str, Row] = {}
        self._codes: dict[int, frozenset[str]] = {}

    def _set(self, symbol: str, k: int, row: Row | None) -> None:
        ks, rows = self.hist.setdefault(symbol, ([], []))
        ks.append(k)
        rows.append(row)
        if row is not None:
            symbols = self.by_pair.setdefault((row[0], row[1]), [])
            if symbol not in symbols:
                symbols.append(symbol)

    def feed(self, deltas: list[Delta]) -> int:
        """Apply frames in file order; returns how many became records."""
        added = 0
        for delta in deltas:
            k = len(self.times)
            current = self._current
            if delta.prev is None:
                new = dict(delta.rows)
                for symbol in current:
                    if symbol not in new:
                        self._set(symbol, k, None)
                for symbol, row in delta.rows:
                    if current.get(symbol) != row:
                        self._set(symbol, k, row)
                self._current = new
            elif self.times and self.times[-1] == delta.prev:
                for symbol in delta.gone:
                    if current.pop(symbol, None) is not None:
                        self._set(symbol, k, None)
                for symbol, row in delta.rows:
                    current[symbol] = row
                    self._set(symbol, k, row)
            else:
                self.broken = True  # a delta whose base is not the frame before it
                break
            if not self._current:
                self.broken = True
                break
            self.times.append(delta.ms)
            self.sizes.append(delta.size)
            self.mtimes.append(delta.mtime_ns)
            for (base, quote), symbol in delta.dups.items():
                self.dups[(k, base, quote)] = symbol
            added += 1
        return added

    def stamp(self, k: int) -> tuple[int, int]:
        return self.sizes[k], self.mtimes[k]

    def _row_at(self, symbol: str, k: int) -> Row | None:
        ks, rows = self.hist[symbol]
        j = bisect.bisect_right(ks, k) - 1
        return rows[j] if j >= 0 else None

    def row(self, k: int, base: str, quote: str) -> tuple[str, Row] | None:
        """(symbol, row) holding (base, quote) in record k, if that snapshot has the pair."""
        symbols = self.by_pair.get((base, quote))
        if not symbols:
            return None
        winner = self.dups.get((k, base, quote)) if len(symbols) > 1 else None
        for symbol in symbols if winner is None else [winner]:
            row = self._row_at(symbol, k)
            if row is not None and row[0] == base and row[1] == quote:
                return symbol, row
        return None

    def currencies(self, k: int) -> frozenset[str]:
        codes = self._codes.get(k)
        if codes is None:
            rows = (self._row_at(symbol, k) for symbol in self.hist)
            codes = frozenset(c for row in rows if row is not None for c in row[:2])
            self._codes[k] = codes
        return codes
