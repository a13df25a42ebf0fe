"""`python run.py reindex [--exchange NAME]`: rebuild the history index from the files.

The index is derived (`storage.history`), so this is always safe: it removes
a venue's index and indexes every snapshot file again, schema 1 and 2 alike.
It takes the writer lock, so it refuses to run beside a quote consumer (which
keeps the index itself, and repairs it at every start); the API reads the
files for whatever is not indexed while it runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from storage.errors import StoreLockedError, StoreWriteError
from storage.history import HistoryWriter, index_dir, rebuild
from storage.lock import WriterLock

__all__ = ["reindex"]


def _bytes(directory: Path) -> int:
    try:
        with os.scandir(directory) as entries:
            return sum(e.stat().st_size for e in entries if e.is_file())
    except FileNotFoundError:
        return 0


def reindex(root: Path, venues: Sequence[str], out: TextIO) -> int:
    """Rebuild each venue's index; print what was done. 0 done, 1 refused, 2 failed."""
    if not root.is_dir():
        out.write(f"reindex: no data directory {root}\n")
        return 1
    lock = WriterLock(root)
    try:
        lock.acquire(timeout=0)
    except StoreLockedError as exc:
        out.write(
            f"reindex: {exc}.\nA running quote consumer keeps the index itself and repairs "
            "it at every start; stop it to rebuild the index from scratch.\n"
        )
        return 1
    except StoreWriteError as exc:
        out.write(f"reindex: {exc}\n")
        return 2
    status = 0
    try:
        for venue in venues:
            started = time.perf_counter()
            try:
                indexed, skipped = rebuild(HistoryWriter(root, venue))
            except OSError as exc:
                out.write(f"{venue}: reindex failed: {exc}\n")
                status = 2
                continue
            took = time.perf_counter() - started
            files, index = _bytes(root / venue), _bytes(index_dir(root, venue))
            if not indexed and not skipped:
                out.write(f"{venue}: no snapshots in {root / venue}; nothing to index\n")
                continue
            share = f"{100 * index / files:.1f} %" if files else "-"
            out.write(
                f"{venue}: {indexed:,} snapshot(s) indexed in {took:.1f} s"
                f"{f', {skipped:,} skipped (corrupt or unreadable)' if skipped else ''}; "
                f"index {index:,} bytes, {share} of the {files:,} bytes of snapshot files\n"
            )
            out.flush()
    finally:
        lock.release()
    return status
