"""Which index files a reader believes, and where each indexed time is.

Re-listed when the directory changes (its mtime, trusted only once it is
clearly older than the listing, as in `storage.reader`); open tails are read
on, frame by frame, at every refresh. A file that fails a check is warned
about once and not believed; its times are then read from the files.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from storage.history._files import is_segment, is_tail
from storage.history._layout import IndexFileError
from storage.history._parts import Ident, Sealed, Tail, ident_of
from storage.history._tail import decode_payload, scan

__all__ = ["Listing", "Part"]

log = logging.getLogger("storage.history.reader")

Part = Sealed | Tail
_MTIME_TRUST_NS = 1_000_000_000  # directory mtimes come from a coarse clock


class Listing:
    """The believed parts of one index directory, and each indexed time's (part, record)."""

    def __init__(self, directory: Path, rescan_after: float, clock: Callable[[], float]) -> None:
        self.directory = directory
        self.rescan_after = rescan_after
        self.where: dict[int, tuple[Part, int]] = {}
        self.times: list[int] = []  # sorted
        self.on_rebuild: Callable[[], None] = lambda: None
        self._clock = clock
        self._checked_at = float("-inf")
        self._dir: tuple[int, int] | None = None
        self._ambiguous = False
        self._parts: dict[str, Part] = {}
        self._damaged: set[tuple[str, Ident]] = set()

    def sealed(self) -> set[int]:
        """ids of the segments believed now."""
        return {id(p) for p in self.segments()}

    def segments(self) -> list[Sealed]:
        return [p for p in self._parts.values() if isinstance(p, Sealed)]

    def refresh(self, *, force: bool = False) -> None:
        """Pick up new, replaced and removed index files (throttled unless `force`)."""
        now = self._clock()
        if not force and now - self._checked_at < self.rescan_after:
            return
        self._checked_at = now
        try:
            st = os.stat(self.directory)
        except OSError:
            if self._parts:
                self._parts = {}
                self._rebuild()
            self._dir = None
            return
        changed = False
        if force or self._ambiguous or (st.st_ino, st.st_mtime_ns) != self._dir:
            changed = self._relist()
            self._dir = (st.st_ino, st.st_mtime_ns)
            self._ambiguous = time.time_ns() - st.st_mtime_ns < _MTIME_TRUST_NS
        grown = [part for part in self._parts.values() if isinstance(part, Tail)]
        added = [t for part in grown for t in self._read_tail(part)]
        if changed:
            self._rebuild()
        elif added:
            for ms, loc in added:
                if ms not in self.where:
                    self.where[ms] = loc
                    if not self.times or ms > self.times[-1]:
                        self.times.append(ms)
                    else:
                        bisect.insort(self.times, ms)

    def _relist(self) -> bool:
        try:
            names = set(os.listdir(self.directory))
        except OSError:
            names = set()
        changed = False
        for name in [n for n in self._parts if n not in names]:
            del self._parts[name]
            changed = True
        for name in sorted(names):
            path = self.directory / name
            part = self._parts.get(name)
            if is_segment(name):
                try:
                    ident = ident_of(os.stat(path))
                    if part is not None and part.ident == ident:
                        continue
                    if (name, ident) in self._damaged:
                        self._parts.pop(name, None)
                        continue
                    self._parts[name] = Sealed.load(path)
                except FileNotFoundError:
                    self._parts.pop(name, None)
                except (OSError, IndexFileError) as exc:
                    self.damage(name, path, exc)
                changed = True
            elif is_tail(name) and part is None:
                try:
                    self._parts[name] = Tail(path, ident_of(os.stat(path)))
                    changed = True
                except OSError:
                    pass
        return changed

    def _read_tail(self, tail: Tail) -> list[tuple[int, tuple[Part, int]]]:
        if tail.broken:
            return []
        try:
            with open(tail.path, "rb") as handle:
                st = os.fstat(handle.fileno())
                if ident_of(st)[:2] != tail.ident[:2] or st.st_size <= tail.offset:
                    return []
                handle.seek(tail.offset)
                data = handle.read()
        except OSError:
            return []
        frames, end = scan(data)
        deltas = []
        for frame in frames:
            try:
                deltas.append(decode_payload(frame))
            except IndexFileError as exc:  # believe the frames before it, as for a torn one
                tail.broken = True
                self._warn_once(tail.path.name, tail.ident, exc)
                break
        first = len(tail.times)
        tail.offset += end
        tail.feed(deltas)
        return [(tail.times[k], (tail, k)) for k in range(first, len(tail.times))]

    def _rebuild(self) -> None:
        where: dict[int, tuple[Part, int]] = {}
        sealed = sorted((p for p in self._parts.values() if isinstance(p, Sealed)), key=_first)
        tails = [p for p in self._parts.values() if isinstance(p, Tail)]
        parts: list[Part] = [*sealed, *tails]
        for part in parts:
            for i, ms in enumerate(part.times):
                where.setdefault(ms, (part, i))
        self.where = where
        self.times = sorted(where)
        self.on_rebuild()

    def damage(self, name: str, path: Path, exc: Exception) -> None:
        """Stop believing a damaged segment (its times are then read from the files)."""
        with contextlib.suppress(OSError):
            self._warn_once(name, ident_of(os.stat(path)), exc)
        if self._parts.pop(name, None) is not None:
            self._rebuild()

    def _warn_once(self, name: str, ident: Ident, exc: Exception) -> None:
        if (name, ident) not in self._damaged:
            self._damaged.add((name, ident))
            log.warning(
                "history index file %s is damaged (%s); its snapshots are read from their "
                "files until the consumer repairs it",
                self.directory / name,
                exc,
            )


def _first(part: Sealed) -> int:
    return part.times[0]
