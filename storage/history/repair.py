"""Repair and rebuild: making a venue's index agree with its snapshot files again.

`repair` runs at consumer start (from `SnapshotWriter.remove_temporaries`,
under the writer lock): it removes temporaries and damaged index files, cuts
torn tails, drops every indexed time whose file is gone or no longer has the
stamp it was indexed with, and indexes the files the index lacks: a few at
once, many (an upgrade, a lost index) in a background thread so that the
consumer's first snapshot is not delayed; the API reads those files meanwhile.
`rebuild` (`run.py reindex`) starts from nothing.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import multiprocessing
import os
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from storage.codec import filename_for, ms_from_filename
from storage.history._files import TEMP_PREFIX, is_segment, is_tail
from storage.history._layout import IndexFileError, Layout, decode_table, decode_times
from storage.history._parse import Record, parse_snapshot
from storage.history._segment import encode_segment
from storage.history.writer import HistoryWriter, Stamps

__all__ = ["SYNC_LIMIT", "Repair", "index_files", "rebuild", "repair", "snapshot_stamps"]

log = logging.getLogger(__name__)

SYNC_LIMIT = 240  # files indexed before the consumer goes on (~0.5 s); more go to a thread
_CATCH_UP = threading.Lock()  # one background catch-up at a time: the cores are shared


@dataclass(frozen=True, slots=True)
class Repair:
    """What a repair found and did."""

    damaged: int  # index files removed as damaged
    dropped: int  # indexed snapshots whose file is gone or changed
    indexed: int  # snapshots indexed during the repair
    pending: int  # snapshots left to the background catch-up

    def __bool__(self) -> bool:
        return any((self.damaged, self.dropped, self.indexed, self.pending))

    def __str__(self) -> str:
        return (
            f"{self.damaged} damaged index file(s) removed, {self.dropped} snapshot(s) "
            f"dropped (file gone or changed), {self.indexed} indexed, {self.pending} left "
            "to a background catch-up"
        )


def snapshot_stamps(directory: Path) -> Stamps:
    """Every snapshot file's (size, mtime_ns), by fetch time."""
    stamps: Stamps = {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                ms = ms_from_filename(entry.name)
                if ms is not None:
                    with contextlib.suppress(FileNotFoundError):
                        st = entry.stat()
                        stamps[ms] = (st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        pass
    return stamps


def read_records(directory: Path, times: list[int]) -> tuple[list[Record], int]:
    """The records of these snapshot files, and how many were corrupt or gone."""
    records: list[Record] = []
    skipped = 0
    previous: Record | None = None
    for ms in times:
        try:
            with open(directory / filename_for(ms), "rb") as handle:
                st = os.fstat(handle.fileno())
                data = handle.read()
        except OSError:
            skipped += 1
            continue
        record = parse_snapshot(data, ms, st.st_size, st.st_mtime_ns, previous)
        if record is None:
            skipped += 1
        else:
            records.append(record)
            previous = record
    return records, skipped


def index_files(writer: HistoryWriter, times: list[int], *, tail_rest: bool) -> tuple[int, int]:
    """Index these files, `seal_count` at a time: (indexed, skipped as corrupt or gone).

    Full chunks become segments; with `tail_rest`, a last short chunk goes to
    the tail (as appends would), else it is a segment too. Files are read
    without the writer's lock; each chunk is written under it.
    """
    indexed = skipped = 0
    size = writer.seal_count
    for start in range(0, len(times), size):
        chunk = sorted(times[start : start + size])
        records, bad = read_records(writer.snapshots, chunk)
        skipped += bad
        with writer.lock:
            try:
                state = writer.state()
                records = [r for r in records if writer.wanted(r.ms)]
                if not records:
                    continue
                if tail_rest and len(chunk) < size:
                    for record in records:
                        writer.add(state, record)
                else:
                    writer.write_segment(state, records)
            except BaseException:
                writer.forget()
                raise
        indexed += len(records)
    return indexed, skipped


def _remove_ours(directory: Path, *, everything: bool) -> int:
    """Remove temporaries (and, with `everything`, every index file); count damaged segments."""
    damaged = 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        path = directory / name
        if name.startswith(TEMP_PREFIX) or (everything and (is_segment(name) or is_tail(name))):
            path.unlink(missing_ok=True)
        elif is_segment(name) and not _whole(path):
            log.warning("history index: removing damaged %s", name)
            path.unlink(missing_ok=True)
            damaged += 1
    return damaged


def _whole(path: Path) -> bool:
    """Every checksum of a segment holds (its entries are only inflated by readers)."""
    try:
        data = path.read_bytes()
        layout = Layout.of(data, len(data))
        at, size, _ = layout.times
        times = decode_times(data[at : at + size], layout)
        at, size, _ = layout.table
        table = decode_table(data[at : at + size], layout, len(times.times))
    except (OSError, IndexFileError):
        return False
    blobs = (table.blob(e) for e in range(len(table.symbols)))
    return all(zlib.crc32(data[o : o + n]) == crc for o, n, crc in blobs)


def repair(
    writer: HistoryWriter, *, sync_limit: int | None = SYNC_LIMIT, background: bool = True
) -> Repair:
    """Make the index agree with the files (see the module docstring).

    `sync_limit=None` indexes everything now; `background=False` leaves
    anything over the limit for the next repair (tests, `run.py reindex`).
    """
    with writer.lock:
        writer.forget()
        if not writer.snapshots.is_dir():
            if not writer.directory.is_dir():
                return Repair(0, 0, 0, 0)
            files: Stamps = {}
        else:
            files = snapshot_stamps(writer.snapshots)
        writer.directory.mkdir(parents=True, exist_ok=True)
        damaged = _remove_ours(writer.directory, everything=False)
        state = writer.state()
        if state.tail is not None:  # deltas whose chain breaks are cut off here
            records = writer.tail_records([state.tail])
            if len(records) != len(state.tail_stamps):
                damaged += 1
                writer.rewrite_tail(state, records, [state.tail])
                writer.forget()
                writer.state()
        dropped = writer.drop(lambda ms, stamp: files.get(ms) != stamp)
        missing = sorted((ms for ms in files if writer.wanted(ms)), reverse=True)
    if sync_limit is None or len(missing) <= sync_limit:
        indexed = index_files(writer, missing, tail_rest=True)[0]
        return Repair(damaged, dropped, indexed, 0)
    if background:
        thread = threading.Thread(
            target=_catch_up,
            args=(writer, missing),
            name=f"history-catch-up-{writer.snapshots.name}",
            daemon=True,
        )
        thread.start()
    return Repair(damaged, dropped, 0, len(missing))


def _catch_up(writer: HistoryWriter, missing: list[int]) -> None:
    with _CATCH_UP:
        try:
            indexed, skipped = index_files(writer, missing, tail_rest=False)
        except Exception as exc:
            log.warning(
                "history index of %s: catch-up stopped (%s); the next start resumes it",
                writer.snapshots.name,
                exc,
            )
            return
    log.info(
        "history index of %s: caught up, %d snapshot(s) indexed, %d skipped as corrupt",
        writer.snapshots.name,
        indexed,
        skipped,
    )


def _build(directory: Path, times: list[int]) -> tuple[bytes, Stamps, int]:
    """(segment bytes, what it holds, files skipped) for these snapshot files."""
    records, skipped = read_records(directory, times)
    data = encode_segment(records) if records else b""
    return data, {r.ms: r.stamp for r in records}, skipped


def _built(
    directory: Path, chunks: list[list[int]], workers: int
) -> Iterator[tuple[bytes, Stamps, int]]:
    """`_build` for each chunk, in order: in `workers` processes, or here if that fails."""
    done = 0
    if workers > 1 and len(chunks) > 1:
        context = multiprocessing.get_context("spawn")  # never fork a threaded process
        try:
            with ProcessPoolExecutor(workers, mp_context=context, initializer=gc.disable) as pool:
                for result in pool.map(_build, itertools.repeat(directory), chunks):
                    yield result
                    done += 1
            return
        except BrokenProcessPool as exc:  # e.g. a __main__ that cannot be re-imported
            log.warning("history rebuild: worker processes failed (%s); going on in one", exc)
    for chunk in chunks[done:]:
        yield _build(directory, chunk)


def rebuild(writer: HistoryWriter, *, workers: int | None = None) -> tuple[int, int]:
    """Remove the venue's index and index every file again: (indexed, skipped).

    Chunks are read, checked and encoded by `workers` processes (default: up
    to 2, as many cores as this machine has): ~2.5 ms of CPU a file, so one
    core would need ~50 s for 7 days of 1,261-symbol snapshots with sizes.
    """
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    with writer.lock:
        writer.forget()
        _remove_ours(writer.directory, everything=True)
        writer.pruned_before = None
        if not writer.snapshots.is_dir():
            return 0, 0
        files = sorted(snapshot_stamps(writer.snapshots))
        size = writer.seal_count
        chunks = [files[i : i + size] for i in range(0, len(files), size)]
        state = writer.state()
        indexed = skipped = 0
        for data, stamps, bad in _built(writer.snapshots, chunks, workers):
            skipped += bad
            if stamps:
                writer.add_segment(state, data, stamps)
                indexed += len(stamps)
        return indexed, skipped
