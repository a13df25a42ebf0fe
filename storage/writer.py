"""Writing the store: atomic snapshot files, crash leftovers, retention.

Only the quote consumer writes, and only while it holds `storage.lock`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from storage.codec import encode, filename_for, ms_from_filename
from storage.errors import StoreWriteError
from storage.model import Snapshot

__all__ = ["TEMP_PREFIX", "SnapshotWriter"]

log = logging.getLogger(__name__)

# Temporary files start with a dot: readers match only finished names, and a
# person listing the directory does not mistake one for a snapshot.
TEMP_PREFIX = ".tmp-"


class SnapshotWriter:
    """Writes one exchange's snapshots under `root/<exchange>/`."""

    def __init__(self, root: Path, exchange: str) -> None:
        self.directory = root / exchange

    def ensure_directory(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreWriteError(f"cannot create {self.directory}: {exc}") from exc

    def write(self, snapshot: Snapshot) -> Path:
        """Write atomically: temp file in the same directory, fsync, `os.replace`.

        A reader sees either no file or the whole file; a crash at any point
        leaves at most a temporary file, removed by `remove_temporaries`.
        """
        data = encode(snapshot)
        final = self.directory / filename_for(snapshot.fetched_ms)
        if final.exists():
            # Files are never modified after they appear; same ms twice is a no-op.
            log.warning("snapshot %s already exists; not overwriting", final.name)
            return final
        temp = self.directory / f"{TEMP_PREFIX}{final.name}.{secrets.token_hex(4)}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise StoreWriteError(f"cannot write {final.name}: {exc}") from exc
        self._fsync_directory()
        return final

    def _fsync_directory(self) -> None:
        # The rename is durable only once the directory entry is on disk.
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def remove_temporaries(self) -> int:
        """Delete leftovers of a crash. Call only while holding the writer lock."""
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.directory):
                if entry.name.startswith(TEMP_PREFIX):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed += 1
        return removed

    def delete_older_than(self, cutoff_ms: int) -> int:
        """Retention: delete snapshots fetched before `cutoff_ms`. Returns the count."""
        deleted = 0
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StoreWriteError(f"cannot list {self.directory}: {exc}") from exc
        for entry in entries:
            ms = ms_from_filename(entry.name)
            if ms is not None and ms < cutoff_ms:
                try:
                    os.unlink(entry.path)
                    deleted += 1
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise StoreWriteError(f"cannot delete {entry.name}: {exc}") from exc
        return deleted
