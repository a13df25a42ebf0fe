"""WriterLock: one quote consumer per data directory, and no stale lock after a crash."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.errors import StoreLockedError, StoreWriteError
from storage.lock import LOCK_NAME, WriterLock
from tests.procs import REPO_ROOT

HOLDER = """
import sys, time
from pathlib import Path
from storage.lock import WriterLock
lock = WriterLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def held(tmp_path: Path) -> Iterator[WriterLock]:
    lock = WriterLock(tmp_path)
    lock.acquire()
    yield lock
    lock.release()


def test_second_lock_is_refused_clearly(tmp_path: Path, held: WriterLock) -> None:
    """A second WriterLock on the same directory raises StoreLockedError naming the lock file."""
    with pytest.raises(StoreLockedError) as info:
        WriterLock(tmp_path).acquire()
    message = str(info.value)
    assert "another quote consumer holds" in message
    assert str(tmp_path / LOCK_NAME) in message
    assert "only one may write" in message
    assert held.is_locked


def test_lock_is_free_after_release(tmp_path: Path) -> None:
    """After release() another WriterLock can take the lock."""
    first = WriterLock(tmp_path)
    first.acquire()
    first.release()
    assert not first.is_locked
    second = WriterLock(tmp_path)
    second.acquire()
    try:
        assert second.is_locked
    finally:
        second.release()


def test_acquire_creates_the_data_directory(tmp_path: Path) -> None:
    """Taking the lock creates DATA_DIR if needed; the lock file lives at its top."""
    lock = WriterLock(tmp_path / "new" / "data")
    lock.acquire()
    try:
        assert (tmp_path / "new" / "data" / LOCK_NAME).exists()
    finally:
        lock.release()


def test_uncreatable_lock_is_store_write_error(tmp_path: Path) -> None:
    """A DATA_DIR that is a file gives StoreWriteError, not a bare OSError."""
    (tmp_path / "data").write_text("in the way")
    with pytest.raises(StoreWriteError, match="cannot create lock"):
        WriterLock(tmp_path / "data").acquire()


def test_lock_of_a_killed_process_is_free_again(tmp_path: Path) -> None:
    """A consumer killed with SIGKILL leaves no stale lock: the next one acquires at once."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(StoreLockedError):
            WriterLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.communicate()
    assert holder.returncode == -9
    assert (tmp_path / LOCK_NAME).exists()  # the file lingers; the lock does not
    lock = WriterLock(tmp_path)
    lock.acquire()
    lock.release()
