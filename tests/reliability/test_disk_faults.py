"""The consumer when a snapshot cannot be written: it says so once, keeps running, recovers.

Two real ways for a write to fail, applied to the running process from outside:

- the file size limit (`RLIMIT_FSIZE`, set with `prlimit` on the consumer's
  pid) below the size of a snapshot: the write fails with EFBIG, and
  SIGXFSZ, which would kill the process by default, is ignored;
- the exchange directory made immutable (`chattr +i`), which stops even
  root from creating files in it; skipped where the file system or the
  container refuses the attribute.

In both cases the spec's section 5 holds: nothing partial or temporary is
left visible, and writing resumes as soon as the fault is gone.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.codec import decode, ms_from_filename
from tests.fake_exchange import FakeBinance
from tests.procs import Proc, settings_env, wait_until
from tests.reliability.conftest import (
    EXCHANGE,
    lines_with,
    snapshot_names,
    snapshot_times,
    temporaries,
)

pytestmark = pytest.mark.e2e

POLL = 0.1
SNAPSHOT = 0.3
START_TIMEOUT = 10.0
SLACK = 1.0


def _env(fake: FakeBinance, data_dir: Path) -> dict[str, str]:
    return settings_env(
        base_url=fake.base_url,
        data_dir=data_dir,
        POLL_INTERVAL_SECONDS=str(POLL),
        SNAPSHOT_INTERVAL_SECONDS=str(SNAPSHOT),
    )


def _all_whole(data_dir: Path) -> None:
    for name in snapshot_names(data_dir):
        ms = ms_from_filename(name)
        assert ms is not None
        decode((data_dir / EXCHANGE / name).read_bytes(), ms)


def _hold_and_check_fault(proc: Proc, data_dir: Path, since: int, fault_wall: float) -> None:
    """During the fault: logged, alive, no snapshot fetched after it began, nothing partial."""
    proc.wait_for_log("snapshot write failed: ", 5, since=since)
    time.sleep(4 * SNAPSHOT)  # several more failed writes
    assert proc.alive(), proc.output()
    assert [ms for ms in snapshot_times(data_dir) if ms > fault_wall * 1000] == []
    assert temporaries(data_dir) == []
    _all_whole(data_dir)


def _check_recovery(proc: Proc, data_dir: Path, since: int, cleared_wall: float) -> None:
    """Writing resumes within a snapshot interval or two; the episode is one ERROR line."""
    wait_until(
        lambda: [ms for ms in snapshot_times(data_dir) if ms > cleared_wall * 1000],
        POLL + SNAPSHOT + SLACK,
        message=proc.output,
    )
    proc.wait_for_log("snapshot write recovered after ", 5, since=since)
    assert proc.terminate() == 0, proc.output()
    episode = proc.output()[since:]
    errors = lines_with(episode, " ERROR ")
    assert len(errors) == 1, "\n".join(errors)
    assert "snapshot write failed: cannot write " in errors[0]
    assert "still failing" not in episode
    assert "Traceback" not in proc.output()
    assert temporaries(data_dir) == []
    _all_whole(data_dir)


def test_file_size_limit_fails_writes_without_killing(
    fake_exchange: FakeBinance, data_dir: Path, tmp_path: Path
) -> None:
    """RLIMIT_FSIZE below a snapshot: EFBIG logged once, no SIGXFSZ death, writes resume."""
    with Proc("quote-consumer", env=_env(fake_exchange, data_dir), workdir=tmp_path) as proc:
        proc.wait_for_log("wrote ", START_TIMEOUT)
        snapshot_size = min(
            (data_dir / EXCHANGE / name).stat().st_size for name in snapshot_names(data_dir)
        )
        limit = snapshot_size // 2
        # The limit applies to the process's log file too: leave it room to say what failed.
        assert proc.log_path.stat().st_size + 16_384 < limit, (snapshot_size, proc.log_path)
        since = len(proc.output())

        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        # Taken after the limit is in force: whatever was fetched before may still be
        # on disk, anything fetched after cannot be.
        fault_wall = time.time()
        try:
            _hold_and_check_fault(proc, data_dir, since, fault_wall)
            assert "File too large" in proc.output()[since:]
        finally:
            cleared_wall = time.time()
            if proc.alive():
                resource.prlimit(
                    proc.pid,
                    resource.RLIMIT_FSIZE,
                    (resource.RLIM_INFINITY, resource.RLIM_INFINITY),
                )
        _check_recovery(proc, data_dir, since, cleared_wall)


def _chattr(flag: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chattr", flag, str(path)], capture_output=True, text=True, check=False, timeout=10
    )


@pytest.fixture
def immutable(data_dir: Path) -> Iterator[Path]:
    """The exchange directory, made immutable on request; always mutable again afterwards."""
    directory = data_dir / EXCHANGE
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    yield directory
    if directory.exists():
        _chattr("-i", directory)


def test_immutable_directory_fails_writes_until_it_is_writable(
    fake_exchange: FakeBinance, data_dir: Path, tmp_path: Path, immutable: Path
) -> None:
    """A directory no file can be created in: logged once, nothing visible, writes resume."""
    with Proc("quote-consumer", env=_env(fake_exchange, data_dir), workdir=tmp_path) as proc:
        proc.wait_for_log("wrote ", START_TIMEOUT)
        since = len(proc.output())
        done = _chattr("+i", immutable)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is refused here: {done.stderr.strip()}")
        fault_wall = time.time()
        try:
            probe = immutable / ".probe"
            try:
                probe.touch()
            except PermissionError:
                pass
            else:
                probe.unlink()
                pytest.skip("chattr +i does not stop file creation on this file system")
            _hold_and_check_fault(proc, data_dir, since, fault_wall)
            assert "Operation not permitted" in proc.output()[since:]
        finally:
            cleared_wall = time.time()
            _chattr("-i", immutable)
        _check_recovery(proc, data_dir, since, cleared_wall)
