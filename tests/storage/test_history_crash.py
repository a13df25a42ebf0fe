"""The index under damage: torn tails, corrupt files, a reader beside the writer, kill -9."""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.codec import ms_from_filename
from storage.history import HistoryReader, HistoryWriter, index_dir, repair
from storage.history._parts import Sealed
from storage.history._tail import scan
from tests.storage._history_support import VENUE, disagreements, valid_times, write_store

REPO = Path(__file__).resolve().parents[2]


def file_times(root: Path) -> list[int]:
    return sorted(ms for n in os.listdir(root / VENUE) if (ms := ms_from_filename(n)) is not None)


def index_files(root: Path, suffix: str) -> list[Path]:
    return sorted(p for p in index_dir(root, VENUE).iterdir() if p.name.endswith(suffix))


def check_repaired(root: Path) -> None:
    """After a repair: the index holds exactly the files' times, and agrees with every file."""
    repair(HistoryWriter(root, VENUE), sync_limit=None)
    reader = HistoryReader(root, VENUE)
    assert reader.times() == valid_times(root)
    assert disagreements(root, reader) == []
    assert not [n for n in os.listdir(index_dir(root, VENUE)) if n.startswith(".tmp-")]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_store(root, 24, seed=11, schema1_every=0)
    return root


# -- torn and damaged files -----------------------------------------------------------


@pytest.mark.parametrize("damage", ["cut_mid_frame", "junk_after", "bit_flip_in_frame"])
def test_a_torn_tail_is_ignored_then_cut_and_reindexed(root: Path, damage: str) -> None:
    """Readers stop at the first bad frame; the repair cuts it and re-indexes from the files."""
    (tail,) = index_files(root, ".hxt")
    data = tail.read_bytes()
    frames, _ = scan(data)
    assert len(frames) >= 2
    last_start = len(data) - len(frames[-1].payload) - 36
    if damage == "cut_mid_frame":
        tail.write_bytes(data[: last_start + 40])
        expected_lost = {frames[-1].ms}
    elif damage == "junk_after":
        tail.write_bytes(data + b"HXT1\x00\x00")
        expected_lost = set()
    else:
        damaged = bytearray(data)
        damaged[last_start - 5] ^= 0x40  # inside the second-to-last frame's payload
        tail.write_bytes(bytes(damaged))
        expected_lost = {frames[-2].ms, frames[-1].ms}
    reader = HistoryReader(root, VENUE)
    assert set(file_times(root)) - set(reader.times()) == expected_lost
    assert disagreements(root, reader) == []
    check_repaired(root)


@pytest.mark.parametrize("where", ["blob", "table", "times", "truncated", "empty"])
def test_a_damaged_segment_is_never_believed(
    root: Path, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A segment failing a checksum: its times are not answered (KeyError), warned once."""
    segment = index_files(root, ".hxs")[0]
    sealed = Sealed.load(segment)
    table = sealed.table()
    pair = (table.bases[0], table.quotes[0])
    data = bytearray(segment.read_bytes())
    if where == "blob":
        data[table.offsets[0] + 1] ^= 0x01
    elif where == "table":
        data[sealed.layout.table[0] + 2] ^= 0x01
    elif where == "times":
        data[sealed.layout.times[0] + 2] ^= 0x01
    elif where == "truncated":
        del data[-10:]
    else:
        data = bytearray()
    segment.write_bytes(bytes(data))
    reader = HistoryReader(root, VENUE)
    with caplog.at_level(logging.WARNING, logger="storage.history"):
        times = reader.times()
        lost = [ms for ms in file_times(root) if ms not in times]
        if where in ("blob", "table"):  # the times read fine: found at the first look-up
            assert lost == []
            with pytest.raises(KeyError):
                reader.series(*pair, sealed.times)
            lost = [ms for ms in file_times(root) if not reader.has(ms)]
            assert lost == sealed.times
        assert lost
        assert disagreements(root, reader) == []
        for ms in lost:
            with pytest.raises(KeyError):
                reader.quote_at(ms, "BTC", "USDT")
    warned = [r for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warned) == 1, caplog.text
    check_repaired(root)


def test_foreign_files_are_ignored_and_temporaries_removed(root: Path) -> None:
    """Names the index does not own are left alone; `.tmp-*` leftovers go at repair."""
    directory = index_dir(root, VENUE)
    (directory / "notes.txt").write_text("mine")
    (directory / ".tmp-20261121T233600.123Z.hxs.0a0b0c0d").write_bytes(b"partial")
    before = HistoryReader(root, VENUE).times()
    check_repaired(root)
    assert HistoryReader(root, VENUE).times() == before
    assert (directory / "notes.txt").read_text() == "mine"


def test_a_lost_index_is_caught_up_in_the_background(root: Path) -> None:
    """With more missing than the start may wait for, a thread indexes them; files meanwhile."""
    for path in index_dir(root, VENUE).iterdir():
        path.unlink()
    writer = HistoryWriter(root, VENUE, seal_count=5)
    done = repair(writer, sync_limit=3)
    assert (done.indexed, done.pending) == (0, 24)
    reader = HistoryReader(root, VENUE, rescan_after=0)
    deadline = time.monotonic() + 20
    while reader.times() != file_times(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reader.times() == file_times(root)
    assert disagreements(root, reader) == []


# -- a reader beside the writer, and kill -9 ------------------------------------------


def _start(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.storage._history_support", args[0], str(root), *args[1:]],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _kill(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """kill -9, then what it printed."""
    proc.kill()
    out, err = proc.communicate()
    assert proc.returncode == -9, err.decode(errors="replace")
    return out, err


@pytest.mark.slow
def test_a_reader_beside_a_writer_never_disagrees(root: Path) -> None:
    """While another process appends, seals and prunes, every answer read equals the file's."""
    proc = _start(root, "append", "5")
    reader = HistoryReader(root, VENUE, rescan_after=0)
    seen: set[int] = set(reader.times())
    segments = set()
    checked = 0
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            times = reader.times()
            seen.update(times)
            segments.update(p.name for p in index_files(root, ".hxs"))
            try:
                problems = disagreements(root, reader, pairs=3)
            except KeyError:  # pruned between listing and asking: the caller reads the file
                continue
            assert problems == []
            checked += 1
    finally:
        _kill(proc)
    assert len(seen) > 60
    assert len(segments) > 4
    assert checked > 5


@pytest.mark.slow
def test_kill9_during_appends_or_a_reindex_is_repaired(root: Path) -> None:
    """20 kill -9s at random moments: what is left never disagrees, and the start repairs it."""
    rng = random.Random(20261129)
    torn = partial = 0
    for kill in range(20):
        reindexing = kill % 3 == 2
        proc = _start(root, "reindex") if reindexing else _start(root, "append", str(kill))
        time.sleep(rng.uniform(0.3, 1.2))
        _, err = _kill(proc)
        assert b"Traceback" not in err, err.decode(errors="replace")
        reader = HistoryReader(root, VENUE)
        partial += reindexing and reader.times() != file_times(root)
        for tail in index_files(root, ".hxt"):
            data = tail.read_bytes()
            torn += scan(data)[1] != len(data)
        assert disagreements(root, reader) == []
        check_repaired(root)
    print(f"20 kills: {partial} left a partial reindex, {torn} a torn tail")
    assert partial >= 1
