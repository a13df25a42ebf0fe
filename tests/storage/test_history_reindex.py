"""`storage.reindex.reindex`, behind `python run.py reindex [--exchange NAME]`."""

from __future__ import annotations

import io
import os
from pathlib import Path

from storage.codec import filename_for
from storage.history import HistoryReader, index_dir
from storage.lock import WriterLock
from storage.reindex import reindex
from tests.storage._history_support import VENUE, disagreements, valid_times, write_store


def test_reindex_rebuilds_every_venue_and_says_what_it_did(tmp_path: Path) -> None:
    """Both schemas indexed, a corrupt file skipped and counted, an empty venue reported."""
    root = tmp_path / "data"
    times = write_store(root, 30, seed=21, schema1_every=3)
    (root / VENUE / filename_for(times[-1] + 1)).write_bytes(b'{"schema":2,"exch')
    for path in index_dir(root, VENUE).iterdir():
        path.unlink()  # as if written by a release without an index
    (root / "kraken").mkdir()
    out = io.StringIO()
    assert reindex(root, [VENUE, "kraken", "okx"], out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{VENUE}: 30 snapshot(s) indexed in ")
    assert "1 skipped (corrupt or unreadable)" in lines[0]
    assert "% of the " in lines[0]
    assert lines[1].startswith("kraken: no snapshots in ")
    assert lines[2].startswith("okx: no snapshots in ")
    reader = HistoryReader(root, VENUE)
    assert reader.times() == valid_times(root) == times
    assert disagreements(root, reader, pairs=10) == []


def test_reindex_is_small(tmp_path: Path) -> None:
    """The rebuilt index is a small share of the files it covers."""
    root = tmp_path / "data"
    write_store(root, 60, seed=22)
    assert reindex(root, [VENUE], io.StringIO()) == 0
    files = sum(p.stat().st_size for p in (root / VENUE).iterdir())
    index = sum(p.stat().st_size for p in index_dir(root, VENUE).iterdir())
    assert index < files * 0.25


def test_reindex_refuses_beside_a_running_consumer(tmp_path: Path) -> None:
    """With the writer lock held, reindex changes nothing and says why."""
    root = tmp_path / "data"
    write_store(root, 5, seed=23)
    before = sorted(os.listdir(index_dir(root, VENUE)))
    lock = WriterLock(root)
    lock.acquire()
    try:
        out = io.StringIO()
        assert reindex(root, [VENUE], out) == 1
    finally:
        lock.release()
    assert "another quote consumer holds" in out.getvalue()
    assert "stop it to rebuild" in out.getvalue()
    assert sorted(os.listdir(index_dir(root, VENUE))) == before


def test_reindex_without_a_data_directory(tmp_path: Path) -> None:
    """A DATA_DIR that does not exist is reported, not created."""
    out = io.StringIO()
    assert reindex(tmp_path / "none", [VENUE], out) == 1
    assert "no data directory" in out.getvalue()
    assert not (tmp_path / "none").exists()


def test_run_py_reindex_command(tmp_path: Path) -> None:
    """`run.py reindex --exchange NAME` rebuilds that venue; an unknown NAME exits 2."""
    from tests.procs import run_once

    root = tmp_path / "data"
    times = write_store(root, 12, seed=23)
    env = {"DATA_DIR": str(root), "EXCHANGES": VENUE}
    done = run_once("reindex", "--exchange", VENUE.upper(), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{VENUE}: 12 snapshot(s) indexed in ")
    assert HistoryReader(root, VENUE).times() == times
    bad = run_once("reindex", "--exchange", "nowhere", env=env, cwd=tmp_path)
    assert bad.returncode == 2
    assert "--exchange 'nowhere' is not a venue of EXCHANGES" in bad.stderr
