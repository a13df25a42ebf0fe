"""Reading the store: a sorted in-memory index of snapshot times, and loading.

The index is a sorted `list[int]` of fetch times (UTC ms) built from file
names alone, so start-up with a 7-day store (20,160 files) needs no file to be
opened. "Newest at or before T" is one `bisect`. New files are picked up by
watching the directory's mtime (checked at most every `rescan_after` seconds):
the directory is re-listed only when an entry was added or removed, never on
every call.

Corrupt or unreadable files are skipped with one warning each and remembered;
a file deleted by retention between listing and reading is dropped from the
index. Callers iterate `candidates()` newest first and take the first usable.
"""

from __future__ import annotations

import bisect
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

from storage.codec import (
    HEAD_SPAN,
    TAIL,
    check_frame,
    codes_in,
    decode,
    filename_for,
    find_row,
    locate_pair,
    ms_from_filename,
)
from storage.errors import CorruptSnapshotError, SnapshotVanishedError, StoreReadError
from storage.model import Quote, Snapshot

__all__ = ["SnapshotReader", "StoredSnapshot"]

log = logging.getLogger(__name__)

# How long after a directory's mtime an unchanged mtime may still hide a new
# entry. Filesystems with whole-second times (some network and FAT mounts)
# need the full second; the usual ones (ext4, xfs, tmpfs, overlay: sub-second
# mtimes from the kernel's clock tick, 1-10 ms) only a few ticks. Trusting a
# second everywhere re-listed a 20,160-name directory 4-5 times per snapshot,
# each ~10-25 ms on the event loop: the p99 of latest /convert while a
# snapshot lands (docs/benchmarks.md).
_MTIME_TRUST_NS = 1_000_000_000
_FINE_MTIME_TRUST_NS = 50_000_000


def _trust_ns(mtime_ns: int) -> int:
    """A mtime with a sub-second part comes from a fine-grained filesystem clock."""
    return _FINE_MTIME_TRUST_NS if mtime_ns % 1_000_000_000 else _MTIME_TRUST_NS


class StoredSnapshot:
    """One snapshot file; a historical one is read lazily, ~2 KB around the row it needs."""

    __slots__ = ("_data", "_decoded", "_reader", "fetched_ms")

    def __init__(
        self, fetched_ms: int, data: bytes | None, reader: SnapshotReader | None = None
    ) -> None:
        self.fetched_ms = fetched_ms
        self._data = data
        self._reader = reader
        self._decoded: Snapshot | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            assert self._reader is not None
            self._data = self._reader.load(self.fetched_ms).data
        return self._data

    def find(self, base: str, quote: str) -> Quote | None:
        """The quote whose base and quote are these codes (raises CorruptSnapshotError)."""
        if self._decoded is not None:
            return self._decoded.pairs.get((base, quote))
        if self._data is None and self._reader is not None:
            found = self._reader.find_near(self.fetched_ms, base, quote)
            if found is not None:
                return found
        found, offset = locate_pair(self.data, base, quote)
        if found is not None and self._reader is not None:
            self._reader.learn(base, quote, offset)
        return found

    def currencies(self) -> frozenset[str]:
        """Every code used by a row, without decoding (unknown_currency/pair_not_found checks)."""
        if self._decoded is not None:
            return self._decoded.currencies
        return codes_in(self.data)

    def snapshot(self) -> Snapshot:
        """The whole snapshot, decoded and validated once (raises CorruptSnapshotError)."""
        if self._decoded is None:
            self._decoded = decode(self.data, self.fetched_ms)
        return self._decoded


_WINDOW = 1024  # bytes read either side of where a row was last seen


class SnapshotReader:
    """Index and cache over `root/<exchange>/*.json`. Never writes anything."""

    def __init__(
        self,
        root: Path,
        exchange: str,
        *,
        rescan_after: float = 0.25,
        cache_size: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = root / exchange
        self.rescan_after = rescan_after
        self._clock = clock
        self._times: list[int] = []
        self._bad: set[int] = set()
        self._unreadable: set[int] = set()  # warned once; retried on every look-up
        self._mtime_ns: int | None = None
        self._mtime_ambiguous = False
        self._checked_at = float("-inf")
        self._cache: OrderedDict[int, StoredSnapshot] = OrderedDict()
        self._cache_size = cache_size
        self._hints: dict[tuple[str, str], int] = {}
        self._ms_by_name: dict[str, int | None] = {}
        # Called once per file newly found corrupt (the API's metrics count them).
        self.on_corrupt: Callable[[int], None] | None = None

    # -- index ------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Re-list the directory if it changed since the last look (throttled)."""
        now = self._clock()
        if not force and now - self._checked_at < self.rescan_after:
            return
        self._checked_at = now
        try:
            mtime_ns = os.stat(self.directory).st_mtime_ns
        except FileNotFoundError:
            self._times, self._mtime_ns = [], None
            return
        except OSError as exc:
            raise StoreReadError(f"cannot read {self.directory}: {exc}") from exc
        if mtime_ns == self._mtime_ns and not self._mtime_ambiguous and not force:
            return
        listed_ns = time.time_ns()
        try:
            names = os.listdir(self.directory)  # names only: ~2x faster than scandir here
        except FileNotFoundError:
            self._times, self._mtime_ns = [], None
            return
        except OSError as exc:
            raise StoreReadError(f"cannot list {self.directory}: {exc}") from exc
        # Names never change meaning: parse each once (strptime is ~7 us a name,
        # 0.15 s for a 7-day store, paid on every new snapshot otherwise).
        known = self._ms_by_name
        self._ms_by_name = {n: known[n] if n in known else ms_from_filename(n) for n in names}
        times = [ms for ms in self._ms_by_name.values() if ms is not None]
        times.sort()
        self._times = times
        self._mtime_ns = mtime_ns
        # Directory mtimes come from the kernel's coarse clock (a jiffy, 1-10 ms):
        # a file renamed in just after this listing, in the same tick, would
        # leave the mtime unchanged. Until the listing is safely later than the
        # mtime, do not trust an unchanged mtime.
        self._mtime_ambiguous = listed_ns - mtime_ns < _trust_ns(mtime_ns)
        present = set(times)
        self._bad &= present
        for ms in [ms for ms in self._cache if ms not in present]:
            del self._cache[ms]

    @property
    def count(self) -> int:
        """Snapshots in the index (including any later found corrupt)."""
        return len(self._times)

    @property
    def times(self) -> list[int]:
        return list(self._times)

    # -- look-ups ---------------------------------------------------------------

    def candidates(self, upto_ms: int | None, since_ms: int) -> Iterator[StoredSnapshot]:
        """Readable snapshots with `since_ms <= fetched_ms <= upto_ms`, newest first.

        `upto_ms=None` means the newest. Corrupt and vanished files are skipped
        (with one warning per file), so the first one yielded is the one in
        force; callers that find a bad row call `mark_corrupt` and go on.
        """
        self.refresh()
        times = self._times
        i = len(times) if upto_ms is None else bisect.bisect_right(times, upto_ms)
        while i > 0:
            i -= 1
            ms = times[i]
            if ms < since_ms:
                return
            if ms in self._bad:
                continue
            try:
                if upto_ms is None or ms in self._cache:
                    yield self.load(ms)
                else:
                    yield StoredSnapshot(ms, None, self)
            except CorruptSnapshotError as exc:
                self.mark_corrupt(ms, str(exc))
            except SnapshotVanishedError:
                log.info("snapshot %s vanished (retention); skipping it", ms)
            except StoreReadError as exc:
                if ms not in self._unreadable:
                    self._unreadable.add(ms)
                    log.warning("skipping unreadable snapshot: %s", exc)

    def newest_ms(self) -> int | None:
        self.refresh()
        return self._times[-1] if self._times else None

    def load(self, ms: int) -> StoredSnapshot:
        """The file for `ms` (cached); its frame is checked, rows are read on demand."""
        cached = self._cache.get(ms)
        if cached is not None:
            self._cache.move_to_end(ms)
            return cached

        path = self.directory / filename_for(ms)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise SnapshotVanishedError(path.name) from None
        except OSError as exc:
            # Possibly transient (EMFILE, EIO on a network mount): skip, don't condemn.
            raise StoreReadError(f"cannot read {path.name}: {exc.strerror}") from exc
        # Frame check now, so a truncated file is skipped before anyone uses it.
        check_frame(data, ms)
        stored = StoredSnapshot(ms, data)
        self._cache[ms] = stored
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return stored

    def learn(self, base: str, quote: str, offset: int) -> None:
        """Remember where (base, quote)'s row is: symbol order barely changes between files."""
        self._hints[(base, quote)] = offset

    def find_near(self, ms: int, base: str, quote: str) -> Quote | None:
        """The row if it is within _WINDOW of its last offset (frame checked); else None."""
        hint = self._hints.get((base, quote))
        if hint is None:
            return None
        path = os.path.join(self.directory, filename_for(ms))
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                if size < 2 * _WINDOW:
                    return None  # tiny or truncated: the full read decides
                head = os.pread(fd, HEAD_SPAN, 0)
                tail = os.pread(fd, len(TAIL), size - len(TAIL))
                window = os.pread(fd, 2 * _WINDOW, max(0, hint - _WINDOW))
            finally:
                os.close(fd)
        except FileNotFoundError:
            raise SnapshotVanishedError(os.path.basename(path)) from None
        except OSError as exc:
            raise StoreReadError(f"cannot read {os.path.basename(path)}: {exc.strerror}") from exc
        check_frame(head + tail, ms)
        return find_row(window, base, quote)[0]

    def mark_corrupt(self, ms: int, reason: str) -> None:
        """Skip this snapshot from now on; warn once."""
        if ms not in self._bad:
            self._bad.add(ms)
            self._cache.pop(ms, None)
            log.warning("skipping corrupt snapshot %s: %s", ms, reason)
            if self.on_corrupt is not None:
                self.on_corrupt(ms)
