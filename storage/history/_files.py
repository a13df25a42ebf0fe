"""Where a venue's index lives, what its files are called, and writing them atomically.

`DATA_DIR/.history/<venue>/`: beside the venues' snapshot directories, not
inside them, so that a snapshot directory holds snapshots and nothing else
(what `run.py snapshots`, the reader and the tests list), and dot-named so a
person listing DATA_DIR sees the venues first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from storage.codec import filename_for

__all__ = [
    "HISTORY_DIR",
    "SEGMENT_SUFFIX",
    "TAIL_SUFFIX",
    "TEMP_PREFIX",
    "index_dir",
    "is_segment",
    "is_tail",
    "new_tail_name",
    "segment_name",
    "write_atomic",
]

HISTORY_DIR = ".history"
SEGMENT_SUFFIX = ".hxs"
TAIL_SUFFIX = ".hxt"
TEMP_PREFIX = ".tmp-"


def index_dir(root: Path, venue: str) -> Path:
    return root / HISTORY_DIR / venue


def segment_name(first_ms: int) -> str:
    """`20261121T233600.123Z.hxs`: named, for people, after its first snapshot when written."""
    return filename_for(first_ms).removesuffix(".json") + SEGMENT_SUFFIX


def new_tail_name() -> str:
    # A fresh name for every new tail, so a reader never mistakes a new tail
    # for more of one it has read (an inode number can be reused).
    return f"tail-{secrets.token_hex(6)}{TAIL_SUFFIX}"


def is_segment(name: str) -> bool:
    return name.endswith(SEGMENT_SUFFIX) and not name.startswith(".")


def is_tail(name: str) -> bool:
    return name.startswith("tail-") and name.endswith(TAIL_SUFFIX)


def fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(directory: Path, name: str, data: bytes) -> None:
    """Temp file in the same directory, fsync, `os.replace`: readers see all or nothing."""
    temp = directory / f"{TEMP_PREFIX}{name}.{secrets.token_hex(4)}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, directory / name)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_directory(directory)
