"""The single-writer guard: one quote consumer per data directory.

An OS file lock (`filelock`, flock on Linux) on `DATA_DIR/.consumer.lock`.
The kernel releases it when the holder dies, even by `kill -9`, so a stale
lock never blocks a restart.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

from storage.errors import StoreLockedError, StoreWriteError

__all__ = ["LOCK_NAME", "WriterLock"]

LOCK_NAME = ".consumer.lock"


class WriterLock:
    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._lock = FileLock(self.path, thread_local=False)

    def acquire(self, timeout: float = 0) -> None:
        """Take the lock or raise StoreLockedError (after `timeout` seconds)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire(timeout=timeout)
        except Timeout:
            raise StoreLockedError(
                f"another quote consumer holds {self.path}; only one may write a data directory"
            ) from None
        except OSError as exc:
            raise StoreWriteError(f"cannot create lock {self.path}: {exc}") from exc

    def release(self) -> None:
        self._lock.release()

    @property
    def is_locked(self) -> bool:
        return self._lock.is_locked
