"""`HistoryWriter`: keeps one venue's index as its snapshots are written and deleted.

Called by `storage.writer.SnapshotWriter` after a snapshot file is durably in
place (`append`), after retention deleted files (`prune`), and at consumer
start (`repair`, in `storage.history.repair`). Only the consumer writes, under
the writer lock; one `HistoryWriter` per venue, its methods serialised by a
thread lock (writes run in `asyncio.to_thread`, a catch-up in its own thread).

Appends go to the open tail, one frame each, without fsync: the index is
derived, so a frame lost or torn by a crash only means that snapshot is read
from its file until the repair re-indexes it. Every `seal_count` snapshots the
tail is sealed into a segment (written atomically, then the tail removed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from pathlib import Path

from storage.history._files import (
    fsync_directory,
    index_dir,
    is_segment,
    is_tail,
    new_tail_name,
    segment_name,
    write_atomic,
)
from storage.history._layout import PREFIX, IndexFileError, Layout, SegmentTimes, decode_times
from storage.history._parse import Record, parse_snapshot
from storage.history._segment import decode_records, encode_segment
from storage.history._tail import decode_payload, encode_frame, replay, scan

__all__ = ["SEAL_COUNT", "HistoryWriter", "State", "read_times"]

log = logging.getLogger(__name__)

SEAL_COUNT = 120  # an hour of 30 s snapshots; sealed, ~1-10 % of their bytes (bench/history.py)
SEAL_BYTES = 8 << 20  # a tail this big is sealed early (snapshots far larger than usual)

Stamps = dict[int, tuple[int, int]]  # fetched ms -> (size, mtime_ns) of the file indexed
Doomed = Callable[[int, tuple[int, int]], bool]


@dataclass
class State:
    """What the index directory holds, as this writer last left it."""

    segments: dict[str, Stamps] = field(default_factory=dict)
    tail: str | None = None
    tail_ident: tuple[int, int, int] = (0, 0, 0)  # st_dev, st_ino, st_size
    tail_stamps: Stamps = field(default_factory=dict)
    last: Record | None = None  # the tail's last record, once this process has it

    def stamps(self) -> Stamps:
        every = {ms: st for seg in self.segments.values() for ms, st in seg.items()}
        every.update(self.tail_stamps)
        return every


class HistoryWriter:
    """The index of `root/<venue>`'s snapshots, under `root/.history/<venue>/`."""

    def __init__(self, root: Path, venue: str, *, seal_count: int = SEAL_COUNT) -> None:
        self.directory = index_dir(root, venue)
        self.snapshots = root / venue
        self.seal_count = seal_count
        self.lock = threading.RLock()
        self.pruned_before: int | None = None  # never index what retention has deleted
        self._state: State | None = None
        self._indexed: set[int] = set()

    # -- state ----------------------------------------------------------------------

    def state(self) -> State:
        """The directory's state, read on first use (creates the directory)."""
        if self._state is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._state = self._load()
            self._indexed = set(self._state.stamps())
        return self._state

    def forget(self) -> None:
        """Drop what is known: the next call re-reads the directory (after any failure)."""
        self._state = None
        self._indexed = set()

    def wanted(self, ms: int) -> bool:
        """Whether a snapshot at `ms` should be indexed (not indexed, not retired)."""
        return ms not in self._indexed and (self.pruned_before is None or ms >= self.pruned_before)

    def _load(self) -> State:
        state = State()
        tails = []
        for name in sorted(os.listdir(self.directory)):
            if is_segment(name):
                try:
                    header = read_times(self.directory / name)
                except IndexFileError as exc:
                    log.warning("history index: removing damaged %s (%s)", name, exc)
                    (self.directory / name).unlink(missing_ok=True)
                    continue
                state.segments[name] = _stamps(header)
            elif is_tail(name):
                tails.append(name)
        sealed = state.stamps()
        if len(tails) == 1:
            with open(self.directory / tails[0], "rb") as handle:
                st = os.fstat(handle.fileno())
                data = handle.read()
            frames, end = scan(data)
            stamps = {f.ms: f.stamp for f in frames}
            if end == len(data) and len(stamps) == len(frames) and sealed.keys().isdisjoint(stamps):
                state.tail, state.tail_ident = tails[0], (st.st_dev, st.st_ino, end)
                state.tail_stamps = stamps
                return state
        if tails:  # torn, doubled or already sealed: keep the whole records, once
            self.rewrite_tail(state, self.tail_records(tails, skip=sealed.keys()), tails)
        return state

    def tail_records(self, names: list[str], skip: Set[int] = frozenset()) -> list[Record]:
        """The whole, checked records of these tails, except times in `skip`."""
        records: dict[int, Record] = {}
        for name in names:
            try:
                data = (self.directory / name).read_bytes()
            except FileNotFoundError:
                continue
            deltas = []
            for frame in scan(data)[0]:
                try:
                    deltas.append(decode_payload(frame))
                except IndexFileError:
                    break
            for record in replay(deltas):
                if record.ms not in skip:
                    records.setdefault(record.ms, record)
        return sorted(records.values(), key=lambda r: r.ms)

    def rewrite_tail(self, state: State, records: list[Record], old: list[str]) -> None:
        """Replace the tail(s) `old` by one holding exactly `records` (atomically)."""
        state.tail, state.tail_stamps, state.last = None, {}, None
        if records:
            frames, prev = [], None
            for record in records:
                frames.append(encode_frame(record, prev))
                prev = record
            name = new_tail_name()
            write_atomic(self.directory, name, b"".join(frames))
            st = os.stat(self.directory / name)
            state.tail, state.tail_ident = name, (st.st_dev, st.st_ino, st.st_size)
            state.tail_stamps = {r.ms: r.stamp for r in records}
            state.last = records[-1]
        for name in old:
            if name != state.tail:
                (self.directory / name).unlink(missing_ok=True)
        fsync_directory(self.directory)

    # -- append, seal ---------------------------------------------------------------

    def append(self, ms: int, data: bytes, stamp: tuple[int, int]) -> bool:
        """Index a snapshot just written (its bytes and file stamp). False if not indexed.

        Raises OSError or IndexFileError; the caller logs it, the API reads the
        file meanwhile, and the repair at the next start indexes what is missing.
        """
        with self.lock:
            try:
                state = self.state()
                if not self.wanted(ms):
                    return False
                record = parse_snapshot(data, ms, *stamp)
                if record is None:
                    return False
                self.add(state, record)
                return True
            except BaseException:
                self.forget()
                raise

    def add(self, state: State, record: Record) -> None:
        """Append one record to the tail, sealing it when full. Call with the lock held."""
        if state.tail is None:
            state.tail, state.tail_ident, state.tail_stamps = new_tail_name(), (0, 0, 0), {}
            state.last = None
        else:
            st = os.stat(self.directory / state.tail)
            if (st.st_dev, st.st_ino, st.st_size) != state.tail_ident:
                raise IndexFileError(f"{state.tail} changed behind the writer")
        frame = encode_frame(record, state.last)
        fd = os.open(self.directory / state.tail, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            try:
                view = memoryview(frame)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, state.tail_ident[2])  # leave no half frame behind
                raise
            st = os.fstat(fd)
        finally:
            os.close(fd)
        state.tail_ident = (st.st_dev, st.st_ino, st.st_size)
        state.tail_stamps[record.ms] = record.stamp
        state.last = record
        self._indexed.add(record.ms)
        if len(state.tail_stamps) >= self.seal_count or st.st_size >= SEAL_BYTES:
            self.seal(state)

    def seal(self, state: State) -> None:
        """Turn the tail into a segment, then remove the tail. Call with the lock held."""
        if state.tail is None:
            return
        old = state.tail
        records = self.tail_records([old])
        if records:
            self.write_segment(state, records)
        self.rewrite_tail(state, [], [old])

    def write_segment(self, state: State, records: list[Record], name: str | None = None) -> None:
        """Write `records` as a new segment, or as the new content of segment `name`."""
        self.add_segment(state, encode_segment(records), {r.ms: r.stamp for r in records}, name)

    def add_segment(
        self, state: State, data: bytes, stamps: Stamps, name: str | None = None
    ) -> None:
        """Write an encoded segment holding `stamps` (new, or replacing segment `name`)."""
        if name is None:
            name = segment_name(min(stamps))
            if name in state.segments:
                name = name.replace(".hxs", f"-{len(state.segments)}.hxs")
        write_atomic(self.directory, name, data)
        state.segments[name] = stamps
        self._indexed.update(stamps)

    # -- retention and repair -------------------------------------------------------

    def prune(self, cutoff_ms: int) -> int:
        """Remove every indexed snapshot fetched before `cutoff_ms`. Returns how many."""
        with self.lock:
            if self.pruned_before is None or cutoff_ms > self.pruned_before:
                self.pruned_before = cutoff_ms
            if not self.directory.is_dir():
                return 0
            try:
                return self.drop(lambda ms, _: ms < cutoff_ms)
            except BaseException:
                self.forget()
                raise

    def drop(self, doomed: Doomed) -> int:
        """Remove the records for which `doomed(ms, stamp)` holds. Call with the lock held."""
        state = self.state()
        dropped = 0
        for name, stamps in list(state.segments.items()):
            if not any(doomed(ms, st) for ms, st in stamps.items()):
                continue
            path = self.directory / name
            try:
                kept = [r for r in decode_records(path.read_bytes()) if not doomed(r.ms, r.stamp)]
            except (IndexFileError, FileNotFoundError) as exc:
                log.warning("history index: removing damaged %s (%s)", name, exc)
                kept = []
            dropped += len(stamps) - len(kept)
            self._indexed.difference_update(stamps)
            del state.segments[name]
            if kept:
                self.write_segment(state, kept, name)
            else:
                path.unlink(missing_ok=True)
        if state.tail is not None and any(doomed(ms, st) for ms, st in state.tail_stamps.items()):
            kept = [r for r in self.tail_records([state.tail]) if not doomed(r.ms, r.stamp)]
            dropped += len(state.tail_stamps) - len(kept)
            self._indexed.difference_update(state.tail_stamps)
            self.rewrite_tail(state, kept, [state.tail])
            self._indexed.update(state.tail_stamps)
        return dropped


def _stamps(header: SegmentTimes) -> Stamps:
    return {
        ms: (size, mtime)
        for ms, size, mtime in zip(header.times, header.sizes, header.mtimes, strict=True)
    }


def read_times(path: Path) -> SegmentTimes:
    """Which snapshots a segment holds (IndexFileError when damaged or unreadable)."""
    try:
        with open(path, "rb") as handle:
            layout = Layout.of(handle.read(PREFIX.size), os.fstat(handle.fileno()).st_size)
            raw = handle.read(layout.times[1])
    except OSError as exc:
        raise IndexFileError(f"cannot read: {exc.strerror}") from None
    return decode_times(raw, layout)
