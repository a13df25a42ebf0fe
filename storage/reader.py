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

from storage.codec import check_frame, decode, filename_for, find_pair, ms_from_filename
from storage.errors import CorruptSnapshotError, SnapshotVanishedError, StoreReadError
from storage.model import Quote, Snapshot

__all__ = ["SnapshotReader", "StoredSnapshot"]

log = logging.getLogger(__name__)

_MTIME_TRUST_NS = 1_000_000_000


class StoredSnapshot:
    """One snapshot file's bytes; rows are found without decoding the whole file."""

    __slots__ = ("_decoded", "data", "fetched_ms")

    def __init__(self, fetched_ms: int, data: bytes) -> None:
        self.fetched_ms = fetched_ms
        self.data = data
        self._decoded: Snapshot | None = None

    def find(self, base: str, quote: str) -> Quote | None:
        """The quote whose base and quote are these codes (raises CorruptSnapshotError)."""
        if self._decoded is not None:
            return self._decoded.pairs.get((base, quote))
        return find_pair(self.data, base, quote)

    def snapshot(self) -> Snapshot:
        """The whole snapshot, decoded and validated once (raises CorruptSnapshotError)."""
        if self._decoded is None:
            self._decoded = decode(self.data, self.fetched_ms)
        return self._decoded


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
            with os.scandir(self.directory) as entries:
                names = [e.name for e in entries]
        except FileNotFoundError:
            self._times, self._mtime_ns = [], None
            return
        except OSError as exc:
            raise StoreReadError(f"cannot list {self.directory}: {exc}") from exc
        times = [ms for ms in map(ms_from_filename, names) if ms is not None]
        times.sort()
        self._times = times
        self._mtime_ns = mtime_ns
        # Directory mtimes come from the kernel's coarse clock (a jiffy, 1-10 ms):
        # a file renamed in just after this listing, in the same tick, would
        # leave the mtime unchanged. Until the listing is safely later than the
        # mtime, do not trust an unchanged mtime.
        self._mtime_ambiguous = listed_ns - mtime_ns < _MTIME_TRUST_NS
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
                yield self.load(ms)
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

    def mark_corrupt(self, ms: int, reason: str) -> None:
        """Skip this snapshot from now on; warn once."""
        if ms not in self._bad:
            self._bad.add(ms)
            self._cache.pop(ms, None)
            log.warning("skipping corrupt snapshot %s: %s", ms, reason)
