"""Historical look-ups through the history index, with the snapshot files behind it.

A historical conversion used to read one ~65 KB snapshot file per moment
(~150 us of I/O on a cold page cache, 26 % of the framework's ceiling over
7 days). The history index (`storage.history`) holds the same rows in
~10 % of the bytes, so the API asks it first, under the rule that keeps it
from ever disagreeing with the files (`storage.history.reader`):

- the snapshot is chosen exactly as before, from the files the
  `SnapshotReader` lists and has not found corrupt (`VenueSnapshots.in_force`);
- the index answers for that time only when it holds it and the file still
  has the size and mtime it was indexed with (`Verifier`, one `stat`);
- anything else, and any time the index stops holding mid-way (KeyError),
  is read from the file exactly as before.

Answers are therefore the file's, digit for digit (tests/api/test_history_lookup.py
compares 500 random moments of a store with schema-1 files and a corrupt one).

Reads stay cheap enough for the event loop: `warm` reads every segment's
symbol table in a thread before the server takes requests; after that a cold
look-up decompresses one pair's columns of one segment (~0.1-0.4 ms) and
every later one is in memory (bench/run.py measures the worst case).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from storage.codec import filename_for
from storage.history import HistoryReader
from storage.model import Quote
from storage.reader import SnapshotReader, StoredSnapshot

__all__ = ["IndexedSnapshot", "Verifier"]

_NAMES = 50_000  # file names remembered (a 7-day store has 20,160 per venue)


class Verifier:
    """Whether the index may answer for a time: indexed, and its file unchanged since.

    A time found usable is believed for `trust_seconds` (1 s) before its file
    is `stat`ed again: a series of 10,000 points would otherwise `stat`
    10,000 files per request (~40 ms), and a file changed in place (damage:
    files are never modified once written) is then noticed within a second,
    as a new snapshot is (the reader re-lists at most every 0.25 s).
    """

    def __init__(
        self,
        history: HistoryReader,
        *,
        trust_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.history = history
        self.trust_seconds = trust_seconds
        self._clock = clock
        self._directory = str(history.snapshots)
        self._paths: dict[int, str] = {}
        self._trusted: dict[int, float] = {}  # time -> when its file was last found as indexed

    def path(self, fetched_ms: int) -> str:
        path = self._paths.get(fetched_ms)
        if path is None:
            if len(self._paths) >= _NAMES:
                self._paths.clear()
            path = self._paths[fetched_ms] = f"{self._directory}/{filename_for(fetched_ms)}"
        return path

    def usable(self, fetched_ms: int) -> bool:
        """`HistoryReader.matches_file` (one `stat`), or its answer of under a second ago."""
        now = self._clock()
        checked = self._trusted.get(fetched_ms)
        if checked is not None and now - checked < self.trust_seconds:
            return True
        try:
            stamp = self.history.stamp(fetched_ms)
            st = os.stat(self.path(fetched_ms))
        except (KeyError, OSError):
            return False
        if (st.st_size, st.st_mtime_ns) != stamp:
            return False
        if len(self._trusted) >= _NAMES:
            self._trusted.clear()
        self._trusted[fetched_ms] = now
        return True


class IndexedSnapshot(StoredSnapshot):
    """A snapshot in force: rows from the index when it may answer, else from the file.

    Whether it may is decided at the first row asked for (a memo hit asks
    none, so it costs no `stat`). Only what a historical conversion needs is
    answered from the index (`find`, `currencies`); the whole snapshot
    (`snapshot()`, `data`, for the board) is read from the file, as before.
    """

    __slots__ = ("_indexed", "_verifier")

    def __init__(self, fetched_ms: int, reader: SnapshotReader, verifier: Verifier) -> None:
        super().__init__(fetched_ms, None, reader)
        self._verifier = verifier
        self._indexed: bool | None = None

    def _index(self) -> HistoryReader | None:
        if self._indexed is None:
            self._indexed = self._verifier.usable(self.fetched_ms)
        return self._verifier.history if self._indexed else None

    def find(self, base: str, quote: str) -> Quote | None:
        history = self._index()
        if history is not None:
            try:
                return history.quote_at(self.fetched_ms, base, quote)
            except KeyError:  # no longer indexed (retention rewrote it, or damage)
                self._indexed = False
        return super().find(base, quote)

    def currencies(self) -> frozenset[str]:
        history = self._index()
        if history is not None:
            try:
                return history.currencies_at(self.fetched_ms)
            except KeyError:
                self._indexed = False
        return super().currencies()
