"""`kill -9` the consumer at random moments, over and over: the store stays whole.

The consumer polls and writes every 0.05 s, so with ~65 KB snapshots written
and fsynced back to back, a good share of the kills land while a snapshot is
being written. The delays come from a seeded RNG, so a failing sequence can be
replayed. After every kill each visible snapshot must decode completely
(spec section 5: a reader never sees a partial file), and each restart on the
same DATA_DIR must take the lock at once (the kernel released it) and remove
the `.tmp-*` leftovers.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from storage.codec import decode, filename_for, ms_from_filename
from storage.writer import TEMP_PREFIX
from tests.fake_exchange import FakeBinance
from tests.procs import Proc, settings_env
from tests.reliability.conftest import EXCHANGE, snapshot_names, temporaries

pytestmark = pytest.mark.e2e

SEED = 20261121
KILLS = 24
INTERVAL = 0.05  # poll and snapshot: writes run back to back
START_TIMEOUT = 10.0


def _wait_for_a_write(directory: Path, known: set[str], timeout: float) -> bool:
    """Spin until a temporary or a new snapshot file shows up: a write is under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.startswith(TEMP_PREFIX) or (
                        entry.name not in known and ms_from_filename(entry.name) is not None
                    ):
                        return True
        except FileNotFoundError:
            pass
    return False


def _check_snapshots(data_dir: Path, verified: set[str]) -> None:
    """Every visible snapshot decodes in full (files never change, so each is checked once)."""
    for name in snapshot_names(data_dir):
        if name in verified:
            continue
        ms = ms_from_filename(name)
        assert ms is not None
        data = (data_dir / EXCHANGE / name).read_bytes()
        snapshot = decode(data, ms)  # raises CorruptSnapshotError on a partial file
        assert snapshot.quotes, name
        verified.add(name)


def test_kill9_at_random_moments_leaves_only_whole_snapshots(
    fake_exchange: FakeBinance, data_dir: Path, tmp_path: Path
) -> None:
    """After 24 random kill -9s every snapshot file is whole and a clean start removes .tmp-*."""
    rng = random.Random(SEED)
    env = settings_env(
        base_url=fake_exchange.base_url,
        data_dir=data_dir,
        POLL_INTERVAL_SECONDS=str(INTERVAL),
        SNAPSHOT_INTERVAL_SECONDS=str(INTERVAL),
        HTTP_TIMEOUT_SECONDS="2",
    )
    verified: set[str] = set()
    killed_mid_write = 0
    cleaned_at_start = 0
    for run in range(KILLS):
        with Proc("quote-consumer", env=env, workdir=tmp_path, name=f"run{run:02d}") as proc:
            moment = rng.random()
            if moment < 0.2:
                # Early: during start-up, taking the lock or removing leftovers.
                time.sleep(rng.uniform(0.0, 0.25))
            else:
                proc.wait_for_log("quote consumer started", START_TIMEOUT)
                time.sleep(rng.uniform(0.0, 0.4))
                if moment >= 0.6:
                    # A write takes ~2 ms of every 50: aim for it rather than hope.
                    _wait_for_a_write(data_dir / EXCHANGE, set(snapshot_names(data_dir)), 1.0)
            assert proc.kill9() == -9, proc.output()
        output = proc.output()
        assert "another quote consumer" not in output, output
        assert "Traceback" not in output, output
        cleaned_at_start += "temporary file(s) left by a crash" in output
        killed_mid_write += bool(temporaries(data_dir))
        _check_snapshots(data_dir, verified)

    # A leftover of our own, so the final check does not depend on where kills landed.
    directory = data_dir / EXCHANGE
    directory.mkdir(parents=True, exist_ok=True)
    planted = directory / f"{TEMP_PREFIX}{filename_for(1_795_304_160_123)}.0badf00d"
    planted.write_bytes(b'{"schema":1,"exchange":"bin')
    before = set(temporaries(data_dir))
    with Proc("quote-consumer", env=env, workdir=tmp_path, name="final") as proc:
        at = proc.wait_for_log(f"removed {len(before)} temporary file(s) left by a crash")
        proc.wait_for_log("wrote ", START_TIMEOUT, since=at)
        assert temporaries(data_dir) == []
        assert proc.terminate() == 0, proc.output()
    assert temporaries(data_dir) == []
    _check_snapshots(data_dir, verified)
    summary = (
        f"{KILLS} kills: {killed_mid_write} left a temporary file, "
        f"{cleaned_at_start} restarts removed leftovers, {len(verified)} snapshots checked"
    )
    print(summary)  # shown with -rA: how often the kills hit a write
    assert len(verified) >= KILLS, f"too few snapshots for the kills to matter: {summary}"
    assert killed_mid_write >= 1, f"no kill landed during a write: {summary}"
    assert cleaned_at_start >= 1, f"no restart found a leftover to remove: {summary}"
