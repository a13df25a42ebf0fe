"""SnapshotWriter: atomic files, failures that leave nothing, crash leftovers, retention."""

from __future__ import annotations

import errno
import logging
import os
import stat
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.codec import decode, encode, filename_for
from storage.errors import StoreWriteError
from storage.model import Quote, Snapshot
from storage.writer import TEMP_PREFIX, SnapshotWriter

T0 = 1_795_304_160_123  # 2026-11-21T23:36:00.123Z


def make_snapshot(ms: int = T0, bid: str = "19979.51000000") -> Snapshot:
    quote = Quote("BTCUSDT", "BTC", "USDT", Decimal(bid), Decimal("19980.18000000"))
    return Snapshot("binance", ms, {"BTCUSDT": quote})


@pytest.fixture
def writer(tmp_path: Path) -> SnapshotWriter:
    w = SnapshotWriter(tmp_path / "data", "binance")
    w.ensure_directory()
    return w


def names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


# -- writing ----------------------------------------------------------------------


def test_write_creates_one_whole_file_and_no_temporary(writer: SnapshotWriter) -> None:
    """A write leaves exactly the named file, which decodes to the snapshot written."""
    snap = make_snapshot()
    path = writer.write(snap)
    assert path == writer.directory / "20261121T233600.123Z.json"
    assert names(writer.directory) == {path.name}
    assert path.read_bytes() == encode(snap)
    assert decode(path.read_bytes(), T0).quotes == snap.quotes
    assert stat.S_IMODE(path.stat().st_mode) & 0o444 == 0o444  # the API may run as another user


def test_writes_at_different_times_make_different_files(writer: SnapshotWriter) -> None:
    """Each fetch time gets its own file."""
    writer.write(make_snapshot(T0))
    writer.write(make_snapshot(T0 + 1))
    assert names(writer.directory) == {filename_for(T0), filename_for(T0 + 1)}


def test_existing_file_is_never_overwritten(
    writer: SnapshotWriter, caplog: pytest.LogCaptureFixture
) -> None:
    """A second snapshot with the same time leaves the first file's bytes untouched."""
    first = writer.write(make_snapshot(T0, bid="1.00000000"))
    before = first.read_bytes()
    with caplog.at_level(logging.WARNING, logger="storage.writer"):
        second = writer.write(make_snapshot(T0, bid="2.00000000"))
    assert second == first
    assert first.read_bytes() == before
    assert names(writer.directory) == {first.name}
    assert "already exists" in caplog.text


def test_ensure_directory_creates_parents(tmp_path: Path) -> None:
    """ensure_directory creates DATA_DIR/<exchange> and is idempotent."""
    w = SnapshotWriter(tmp_path / "a" / "b", "binance")
    w.ensure_directory()
    w.ensure_directory()
    assert w.directory.is_dir()


def test_ensure_directory_failure_is_store_write_error(tmp_path: Path) -> None:
    """A DATA_DIR that is a file cannot hold snapshots: StoreWriteError, not OSError."""
    (tmp_path / "data").write_text("not a directory")
    with pytest.raises(StoreWriteError, match="cannot create"):
        SnapshotWriter(tmp_path / "data", "binance").ensure_directory()


def test_write_into_a_non_directory_fails_cleanly(tmp_path: Path) -> None:
    """When the exchange directory is replaced by a file, write raises StoreWriteError."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "binance").write_text("in the way")
    with pytest.raises(StoreWriteError, match=filename_for(T0)) as info:
        SnapshotWriter(root, "binance").write(make_snapshot())
    assert isinstance(info.value.__cause__, OSError)
    assert names(root) == {"binance"}
    assert (root / "binance").read_text() == "in the way"


def test_write_into_a_read_only_directory_leaves_nothing(writer: SnapshotWriter) -> None:
    """A directory without write permission gives StoreWriteError and no file at all."""
    writer.directory.chmod(0o555)
    try:
        if os.access(writer.directory, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes")
        with pytest.raises(StoreWriteError):
            writer.write(make_snapshot())
        assert names(writer.directory) == set()
    finally:
        writer.directory.chmod(0o755)


def test_failure_after_the_temporary_is_created_removes_it(
    writer: SnapshotWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If fsync fails (disk error), the temporary is deleted and no snapshot appears."""

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr("storage.writer.os.fsync", failing_fsync)
    with pytest.raises(StoreWriteError, match="Input/output error"):
        writer.write(make_snapshot())
    assert names(writer.directory) == set()


def test_failure_at_rename_removes_the_temporary(
    writer: SnapshotWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the final os.replace fails, the fully written temporary is deleted too."""

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("storage.writer.os.replace", failing_replace)
    with pytest.raises(StoreWriteError, match="No space left"):
        writer.write(make_snapshot())
    assert names(writer.directory) == set()


# -- crash leftovers --------------------------------------------------------------


def test_remove_temporaries_removes_only_temporaries(writer: SnapshotWriter) -> None:
    """remove_temporaries deletes `.tmp-*` files and nothing else, and counts them."""
    d = writer.directory
    kept = {filename_for(T0), ".consumer.lock", "notes.txt", "tmp-not-ours", "x.tmp-1"}
    for name in kept:
        (d / name).write_bytes(b"keep")
    for name in (f"{TEMP_PREFIX}{filename_for(T0)}.0a1b2c3d", f"{TEMP_PREFIX}x"):
        (d / name).write_bytes(b"partial")
    assert writer.remove_temporaries() == 2
    assert names(d) == kept
    assert writer.remove_temporaries() == 0


def test_remove_temporaries_without_directory(tmp_path: Path) -> None:
    """With no directory yet there is nothing to remove."""
    assert SnapshotWriter(tmp_path / "none", "binance").remove_temporaries() == 0


# -- retention --------------------------------------------------------------------


def test_delete_older_than_is_strict(writer: SnapshotWriter) -> None:
    """Snapshots strictly older than the cutoff go; the one at the cutoff and newer stay."""
    for ms in (T0 - 2, T0 - 1, T0, T0 + 1):
        writer.write(make_snapshot(ms))
    (writer.directory / f"{TEMP_PREFIX}{filename_for(T0 - 5)}.ab").write_bytes(b"")
    (writer.directory / "README").write_bytes(b"")
    assert writer.delete_older_than(T0) == 2
    assert names(writer.directory) == {
        filename_for(T0),
        filename_for(T0 + 1),
        f"{TEMP_PREFIX}{filename_for(T0 - 5)}.ab",
        "README",
    }
    assert writer.delete_older_than(T0) == 0


def test_delete_older_than_without_directory(tmp_path: Path) -> None:
    """Retention on a missing directory deletes nothing and does not fail."""
    assert SnapshotWriter(tmp_path / "none", "binance").delete_older_than(T0) == 0


def test_delete_older_than_unlistable_directory(tmp_path: Path) -> None:
    """A directory that cannot be listed is a StoreWriteError."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "binance").write_text("not a directory")
    with pytest.raises(StoreWriteError, match="cannot list"):
        SnapshotWriter(tmp_path / "data", "binance").delete_older_than(T0)


@settings(max_examples=30, deadline=None)
@given(
    st.sets(st.integers(min_value=0, max_value=10_000), max_size=12),
    st.integers(min_value=-1, max_value=10_001),
)
def test_delete_older_than_matches_a_model(offsets: set[int], cutoff: int) -> None:
    """For any set of snapshot times, exactly those before the cutoff are deleted."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "binance"
        directory.mkdir()
        for offset in offsets:
            (directory / filename_for(T0 + offset)).write_bytes(b"{}")
        deleted = SnapshotWriter(Path(tmp), "binance").delete_older_than(T0 + cutoff)
        assert deleted == sum(1 for o in offsets if o < cutoff)
        assert names(directory) == {filename_for(T0 + o) for o in offsets if o >= cutoff}
