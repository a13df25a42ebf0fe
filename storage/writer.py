"""Writing the store: atomic snapshot files, crash leftovers, retention, the history index.

Only the quote consumer writes, and only while it holds `storage.lock`. The
history index (`storage.history`) follows the files: a snapshot is indexed
once its file is durably in place, retention prunes the index with the files,
and the start-up clean-up repairs it. An index failure never costs or delays
a snapshot file: it is logged once per episode and the API reads the files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from storage.codec import encode, filename_for, ms_from_filename
from storage.errors import StoreWriteError
from storage.history import HistoryWriter, repair
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
        self.history = HistoryWriter(root, exchange)
        self._history_failing = False

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
                st = os.fstat(fd)
            finally:
                os.close(fd)
            os.replace(temp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise StoreWriteError(f"cannot write {final.name}: {exc}") from exc
        self._fsync_directory()
        # The stamp (size, mtime) is what the index checks the file against later.
        stamp = (st.st_size, st.st_mtime_ns)
        self._history("index", lambda: self.history.append(snapshot.fetched_ms, data, stamp))
        return final

    def _history(self, action: str, call: Callable[[], object]) -> object:
        """Run one index operation; a failure is logged once per episode, never raised."""
        try:
            result = call()
        except Exception as exc:  # any failure: the index must never cost a snapshot
            if not self._history_failing:
                self._history_failing = True
                log.warning(
                    "history index of %s: %s failed (%s); the API reads the snapshot files "
                    "until the index is repaired",
                    self.directory.name,
                    action,
                    exc,
                )
            return None
        if self._history_failing:
            self._history_failing = False
            log.info("history index of %s: updating again", self.directory.name)
        return result

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
        """Delete leftovers of a crash, and repair the history index.

        Call only while holding the writer lock. Returns the number of
        temporary snapshot files removed; the index repair logs what it did.
        """
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.directory):
                if entry.name.startswith(TEMP_PREFIX):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed += 1
        done = self._history("repair", lambda: repair(self.history))
        if done:
            log.info("history index of %s repaired: %s", self.directory.name, done)
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
        self._history("retention", lambda: self.history.prune(cutoff_ms))
        return deleted
