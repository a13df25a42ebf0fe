"""`HistoryReader`: what one venue's index holds, for the API. Reads only, never writes.

The rule that keeps the index from disagreeing with the files: the index
answers only for the times it holds (`has`, `times`), and its answer for a
time is what that snapshot file said when it was indexed. The caller keeps
listing the files as it does now and uses the index for a time only when the
file for that time is listed (not deleted) and not known to be corrupt; for
any other time, or when a call raises KeyError (the time is not, or no longer,
indexed), it reads the file. Files are never modified after they appear, so
a file that changes afterwards is damage: each time also carries the stamp
(size, mtime) of the file it came from; `matches_file` checks it with one
`stat`, and the consumer's repair at start drops every time whose stamp or
file is gone.

Not thread-safe: one reader per event loop. Look-ups refresh at most every
`rescan_after` seconds: one `stat` of the directory and one per open tail.
"""

from __future__ import annotations

import bisect
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from storage.codec import filename_for
from storage.history._files import index_dir
from storage.history._layout import IndexFileError
from storage.history._listing import Listing, Part
from storage.history._parse import Row
from storage.history._parts import Sealed, StaleError, Tail
from storage.history._segment import Columns
from storage.model import Quote

__all__ = ["HistoryReader"]

_T = TypeVar("_T")
_DECIMALS = 200_000  # strings remembered as Decimal; cleared when full


class HistoryReader:
    """The history index of `root/<venue>`, as the consumer keeps it."""

    def __init__(
        self,
        root: Path,
        venue: str,
        *,
        rescan_after: float = 0.25,
        cache_entries: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = index_dir(root, venue)
        self.snapshots = root / venue
        self._listing = Listing(self.directory, rescan_after, clock)
        self._listing.on_rebuild = self._forget_columns
        self._columns: OrderedDict[tuple[Sealed, int], Columns] = OrderedDict()
        self._cache_entries = cache_entries
        self._decimals: dict[str, Decimal] = {}

    def _forget_columns(self) -> None:
        live = self._listing.sealed()
        for key in [k for k in self._columns if id(k[0]) not in live]:
            del self._columns[key]

    def refresh(self, *, force: bool = False) -> None:
        """Pick up new, replaced and removed index files (throttled unless `force`)."""
        self._listing.refresh(force=force)

    def warm(self) -> int:
        """Read every segment's symbol table now (~1 ms each; a 7-day index has ~170),
        so that first look-ups do not. Returns how many were read."""
        self.refresh()
        done = 0
        for part in self._listing.segments():
            try:
                self._believed(part, part.times[0], part.table)
                done += 1
            except (KeyError, StaleError):
                pass  # damaged, or rewritten since: read at first use instead
        return done

    def covered(self) -> tuple[int, int] | None:
        """(oldest, newest) indexed fetch time; times in between may still be missing."""
        self.refresh()
        return (self._listing.times[0], self._listing.times[-1]) if self._listing.times else None

    def times(self) -> list[int]:
        """Every indexed fetch time, sorted."""
        self.refresh()
        return list(self._listing.times)

    def has(self, fetched_ms: int) -> bool:
        self.refresh()
        return fetched_ms in self._listing.where

    def missing(self, times: Iterable[int]) -> list[int]:
        """Those of `times` the index does not hold (read their files)."""
        self.refresh()
        where = self._listing.where
        return [t for t in times if t not in where]

    def in_force(self, at_ms: int, since_ms: int) -> int | None:
        """The newest indexed fetch time t with since_ms <= t <= at_ms."""
        self.refresh()
        i = bisect.bisect_right(self._listing.times, at_ms)
        if i and self._listing.times[i - 1] >= since_ms:
            return self._listing.times[i - 1]
        return None

    def stamp(self, fetched_ms: int) -> tuple[int, int]:
        """(size, mtime_ns) of the file as indexed; KeyError if not indexed."""
        self.refresh()
        part, i = self._listing.where[fetched_ms]
        return part.stamp(i)

    def matches_file(self, fetched_ms: int) -> bool:
        """Whether the snapshot file is there with the stamp it was indexed with (one stat)."""
        try:
            st = os.stat(self.snapshots / filename_for(fetched_ms))
            return (st.st_size, st.st_mtime_ns) == self.stamp(fetched_ms)
        except (OSError, KeyError):
            return False

    def mismatched(self, times: Iterable[int]) -> list[int]:
        """Those of `times` not indexed, or whose file is gone or changed (a stat each)."""
        return [t for t in times if not self.matches_file(t)]

    # -- answers ------------------------------------------------------------------

    def quote_at(self, fetched_ms: int, base: str, quote: str) -> Quote | None:
        """The row of that snapshot whose base/quote are exactly these codes, or None.

        KeyError when the time is not (or no longer) indexed: read the file.
        """
        return self._retry(lambda: self._quote_at(fetched_ms, base, quote))

    def currencies_at(self, fetched_ms: int) -> frozenset[str]:
        """Every code a row of that snapshot uses; KeyError when not indexed."""

        def codes() -> frozenset[str]:
            part, i = self._listing.where[fetched_ms]
            return self._believed(part, fetched_ms, lambda: part.currencies(i))

        return self._retry(codes)

    def series(self, base: str, quote: str, times: Sequence[int]) -> list[Quote | None]:
        """`quote_at` for many times at once (None where the snapshot lacks the pair).

        KeyError (naming the first) when any of `times` is not indexed: drop
        those the index lacks (`has`) and ask again, or read their files.
        """
        return self._retry(lambda: [self._quote_at(t, base, quote) for t in times])

    def _retry(self, call: Callable[[], _T]) -> _T:
        self.refresh()
        try:
            return call()
        except StaleError:
            self.refresh(force=True)  # a segment was rewritten (retention): once more
        try:
            return call()
        except StaleError as exc:
            raise KeyError(str(exc)) from None

    def _quote_at(self, fetched_ms: int, base: str, quote: str) -> Quote | None:
        part, i = self._listing.where[fetched_ms]
        if isinstance(part, Tail):
            found = part.row(i, base, quote)
            return None if found is None else self._quote(found[0], found[1])
        e = self._believed(part, fetched_ms, lambda: part.entry(i, base, quote))
        if e is None:
            return None
        key = (part, e)
        columns = self._columns.get(key)
        if columns is not None:
            self._columns.move_to_end(key)
        else:
            columns = self._believed(part, fetched_ms, lambda: part.columns(e))
            self._columns[key] = columns
            if len(self._columns) > self._cache_entries:
                self._columns.popitem(last=False)
        bid, ask, bid_qty, ask_qty = columns
        row: Row = (base, quote, bid[i], ask[i], bid_qty[i], ask_qty[i])
        return self._quote(part.table().symbols[e], row)

    def _believed(self, part: Part, fetched_ms: int, read: Callable[[], _T]) -> _T:
        """`read()` from a segment; one that turns out damaged is not believed again."""
        try:
            return read()
        except FileNotFoundError:
            raise StaleError(part.path.name) from None  # rewritten or removed: re-list
        except (OSError, IndexFileError) as exc:
            self._listing.damage(part.path.name, part.path, exc)
            raise KeyError(fetched_ms) from None

    def _decimal(self, text: str) -> Decimal:
        value = self._decimals.get(text)
        if value is None:
            if len(self._decimals) >= _DECIMALS:
                self._decimals.clear()
            value = self._decimals[text] = Decimal(text)
        return value

    def _quote(self, symbol: str, row: Row) -> Quote:
        base, quote, bid, ask, bid_qty, ask_qty = row
        dec = self._decimal
        return Quote(
            symbol,
            base,
            quote,
            dec(bid),
            dec(ask),
            dec(bid_qty) if bid_qty else None,
            dec(ask_qty) if ask_qty else None,
        )
