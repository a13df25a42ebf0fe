"""SnapshotReader: "newest at or before T", picking up new files, skipping bad ones."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.codec import encode, filename_for
from storage.errors import CorruptSnapshotError
from storage.lock import LOCK_NAME
from storage.model import Quote, Snapshot
from storage.reader import SnapshotReader
from storage.writer import TEMP_PREFIX

T0 = 1_795_304_160_000  # 2026-11-21T23:36:00.000Z
BTCUSDT = Quote("BTCUSDT", "BTC", "USDT", Decimal("19979.51000000"), Decimal("19980.18000000"))


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def put(root: Path, ms: int, data: bytes | None = None) -> Path:
    """Place a snapshot file for `ms` (valid unless `data` says otherwise)."""
    directory = root / "binance"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename_for(ms)
    path.write_bytes(
        encode(Snapshot("binance", ms, {"BTCUSDT": BTCUSDT})) if data is None else data
    )
    return path


def set_mtime(root: Path, seconds_ago: float) -> None:
    """Give the directory an mtime `seconds_ago` in the past, as a change then would have.

    The reader re-lists only a directory whose mtime changed. With coarse file
    system timestamps two changes a few ms apart can share one mtime, so tests
    that add a file after a listing set distinct, settled mtimes explicitly
    instead of relying on the clock's granularity (see the report on this race).
    """
    directory = root / "binance"
    mtime_ns = time.time_ns() - round(seconds_ago * 1e9)
    os.utime(directory, ns=(mtime_ns, mtime_ns))


def first(reader: SnapshotReader, upto: int | None, since: int = 0) -> int | None:
    for stored in reader.candidates(upto, since):
        return stored.fetched_ms
    return None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reader(tmp_path: Path, clock: FakeClock) -> SnapshotReader:
    return SnapshotReader(tmp_path, "binance", rescan_after=0.25, clock=clock)


# -- "newest at or before T" ------------------------------------------------------


@pytest.mark.parametrize(
    ("upto", "since", "expected"),
    [
        pytest.param(None, 0, T0 + 2000, id="latest"),
        pytest.param(T0 + 1000, 0, T0 + 1000, id="exactly-at-a-snapshot"),
        pytest.param(T0 + 999, 0, T0, id="1ms-before-a-snapshot"),
        pytest.param(T0 + 1001, 0, T0 + 1000, id="1ms-after-a-snapshot"),
        pytest.param(T0, 0, T0, id="exactly-the-first"),
        pytest.param(T0 - 1, 0, None, id="before-the-first"),
        pytest.param(T0 + 2000, 0, T0 + 2000, id="exactly-the-last"),
        pytest.param(T0 + 10**9, 0, T0 + 2000, id="after-the-last"),
        pytest.param(T0 + 1500, T0 + 1000, T0 + 1000, id="since-exactly-equal"),
        pytest.param(T0 + 1500, T0 + 1001, None, id="since-1ms-after"),
        pytest.param(None, T0 + 2000, T0 + 2000, id="latest-since-exactly-equal"),
        pytest.param(None, T0 + 2001, None, id="latest-too-old"),
    ],
)
def test_newest_at_or_before(
    tmp_path: Path, reader: SnapshotReader, upto: int | None, since: int, expected: int | None
) -> None:
    """candidates(T, since) starts at the newest snapshot with since <= time <= T."""
    for ms in (T0, T0 + 1000, T0 + 2000):
        put(tmp_path, ms)
    assert first(reader, upto, since) == expected


@settings(max_examples=40, deadline=None)
@given(
    st.sets(st.integers(min_value=0, max_value=5_000), max_size=15),
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(min_value=-10, max_value=5_010)),
            st.integers(min_value=-10, max_value=5_010),
        ),
        min_size=1,
        max_size=20,
    ),
)
def test_look_up_matches_brute_force(
    offsets: set[int], queries: list[tuple[int | None, int]]
) -> None:
    """For any files and queries, the first candidate and the whole order match a scan."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for offset in offsets:
            put(root, T0 + offset)
        reader = SnapshotReader(root, "binance")
        reader.refresh()
        times = sorted(T0 + o for o in offsets)
        assert reader.times == times
        for upto, since in queries:
            upto_ms = None if upto is None else T0 + upto
            in_force = [t for t in times if T0 + since <= t and (upto_ms is None or t <= upto_ms)]
            got = [s.fetched_ms for s in reader.candidates(upto_ms, T0 + since)]
            assert got == in_force[::-1]


def test_missing_directory_is_an_empty_index(tmp_path: Path) -> None:
    """No directory yet: no snapshots, no error."""
    reader = SnapshotReader(tmp_path / "nowhere", "binance")
    assert reader.newest_ms() is None
    assert reader.count == 0
    assert list(reader.candidates(None, 0)) == []


def test_directory_removed_after_indexing_empties_the_index(
    tmp_path: Path, reader: SnapshotReader, clock: FakeClock
) -> None:
    """If the directory disappears, the index becomes empty at the next look."""
    path = put(tmp_path, T0)
    assert reader.newest_ms() == T0
    path.unlink()
    path.parent.rmdir()
    clock.now += 1
    assert reader.newest_ms() is None


def test_temporaries_lock_and_other_files_are_ignored(tmp_path: Path) -> None:
    """Only finished snapshot names are indexed: no `.tmp-*`, lock, or stray file."""
    put(tmp_path, T0)
    d = tmp_path / "binance"
    for name in (
        f"{TEMP_PREFIX}{filename_for(T0 + 5)}.0a1b2c3d",
        LOCK_NAME,
        "README.md",
        filename_for(T0 + 7) + ".bak",
    ):
        (d / name).write_bytes(b"not a snapshot")
    (tmp_path / LOCK_NAME).write_bytes(b"")
    reader = SnapshotReader(tmp_path, "binance")
    reader.refresh()
    assert reader.times == [T0]
    assert first(reader, None) == T0


# -- seeing new files -------------------------------------------------------------


@pytest.fixture
def scandir_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count directory listings made by storage.reader (a stdlib boundary: os.listdir)."""
    calls: list[str] = []
    real = os.listdir

    def counting(path: str | os.PathLike[str]) -> list[str]:
        calls.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr("storage.reader.os.listdir", counting)
    return calls


def test_new_file_is_visible_after_rescan_after(
    tmp_path: Path, reader: SnapshotReader, clock: FakeClock, scandir_calls: list[str]
) -> None:
    """A new file shows up once rescan_after has passed, not before, with one listing."""
    put(tmp_path, T0)
    set_mtime(tmp_path, 60)
    assert reader.newest_ms() == T0
    assert len(scandir_calls) == 1

    put(tmp_path, T0 + 1000)
    set_mtime(tmp_path, 30)
    clock.now += 0.2
    assert reader.newest_ms() == T0  # throttled: not looked yet
    assert len(scandir_calls) == 1

    clock.now += 0.05
    assert reader.newest_ms() == T0 + 1000
    assert len(scandir_calls) == 2


def test_unchanged_directory_is_not_listed_again(
    tmp_path: Path, reader: SnapshotReader, clock: FakeClock, scandir_calls: list[str]
) -> None:
    """While the directory's mtime is unchanged, look-ups never re-list it."""
    put(tmp_path, T0)
    set_mtime(tmp_path, 60)
    for _ in range(10):
        assert reader.newest_ms() == T0
        assert first(reader, T0 + 5) == T0
        clock.now += 1
    assert len(scandir_calls) == 1


def test_forced_refresh_lists_again(
    tmp_path: Path, reader: SnapshotReader, scandir_calls: list[str]
) -> None:
    """refresh(force=True) re-lists even when nothing seems to have changed."""
    put(tmp_path, T0)
    reader.refresh(force=True)
    reader.refresh(force=True)
    assert len(scandir_calls) == 2


@pytest.mark.parametrize(
    ("mtime_ns", "trusted_after_ms"),
    [(1_795_306_860_123_456_789, 50), (1_795_306_860_000_000_000, 1000)],
    ids=["sub-second-mtime", "whole-second-mtime"],
)
def test_an_unchanged_mtime_is_trusted_after_the_filesystems_tick(
    tmp_path: Path, clock: FakeClock, mtime_ns: int, trusted_after_ms: int, scandir_calls: list[str]
) -> None:
    """Fine mtimes are trusted 50 ms after they were set, whole-second ones after a second."""
    put(tmp_path, T0)
    os.utime(tmp_path / "binance", ns=(mtime_ns, mtime_ns))
    reader = SnapshotReader(tmp_path, "binance", rescan_after=0, clock=clock)
    wall = [mtime_ns + (trusted_after_ms - 10) * 1_000_000]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("storage.reader.time.time_ns", lambda: wall[0])
        reader.refresh()  # listed just inside the window: the next look lists again
        reader.refresh()
        assert len(scandir_calls) == 2
        wall[0] = mtime_ns + (trusted_after_ms + 10) * 1_000_000
        reader.refresh()  # listed past the window: the mtime is trusted from now on
        reader.refresh()
        reader.refresh()
    assert len(scandir_calls) == 3


def test_deleted_file_leaves_the_index_at_the_next_listing(
    tmp_path: Path, reader: SnapshotReader, clock: FakeClock
) -> None:
    """Files removed by retention drop out of the index (and its count)."""
    old = put(tmp_path, T0)
    put(tmp_path, T0 + 1000)
    set_mtime(tmp_path, 60)
    assert reader.count == 0  # nothing looked at yet
    reader.refresh()
    assert reader.count == 2
    old.unlink()
    set_mtime(tmp_path, 30)
    clock.now += 1
    reader.refresh()
    assert reader.times == [T0 + 1000]


# -- bad files --------------------------------------------------------------------


def test_corrupt_newest_is_skipped_with_one_warning(
    tmp_path: Path, reader: SnapshotReader, caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    """A truncated newest file is skipped (one warning, ever) and the previous one is used."""
    put(tmp_path, T0)
    good = encode(Snapshot("binance", T0 + 1000, {"BTCUSDT": BTCUSDT}))
    put(tmp_path, T0 + 1000, good[: len(good) // 2])
    with caplog.at_level(logging.WARNING, logger="storage.reader"):
        assert first(reader, None) == T0
        clock.now += 1
        assert first(reader, None) == T0
        assert first(reader, T0 + 1000) == T0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(T0 + 1000) in warnings[0].getMessage()


def test_bad_row_found_later_is_skipped_via_mark_corrupt(
    tmp_path: Path, reader: SnapshotReader, caplog: pytest.LogCaptureFixture
) -> None:
    """A file with a good frame but a bad row fails on use; mark_corrupt moves on to the next."""
    put(tmp_path, T0)
    good = encode(Snapshot("binance", T0 + 1000, {"BTCUSDT": BTCUSDT}))
    put(tmp_path, T0 + 1000, good.replace(b'"19979.51000000"', b'"-1"'))
    used: list[int] = []
    with caplog.at_level(logging.WARNING, logger="storage.reader"):
        for stored in reader.candidates(None, 0):
            try:
                stored.snapshot()
            except CorruptSnapshotError as exc:
                reader.mark_corrupt(stored.fetched_ms, str(exc))
                continue
            used.append(stored.fetched_ms)
            break
        assert used == [T0]
        assert first(reader, None) == T0  # remembered: not offered again
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_file_deleted_between_index_and_read_is_skipped(
    tmp_path: Path, reader: SnapshotReader
) -> None:
    """A file indexed but deleted before it is read (retention) is skipped, not an error."""
    put(tmp_path, T0)
    newest = put(tmp_path, T0 + 1000)
    assert reader.newest_ms() == T0 + 1000
    newest.unlink()
    # The clock has not moved, so the index still lists the deleted file.
    assert reader.times == [T0, T0 + 1000]
    assert first(reader, None) == T0


def test_unreadable_entry_is_treated_as_corrupt(tmp_path: Path, reader: SnapshotReader) -> None:
    """A snapshot name that is a directory (cannot be read) is skipped like a corrupt file."""
    put(tmp_path, T0)
    (tmp_path / "binance" / filename_for(T0 + 1000)).mkdir()
    assert first(reader, None) == T0


# -- what a candidate offers ------------------------------------------------------


def test_stored_snapshot_find_and_decode_agree(tmp_path: Path, reader: SnapshotReader) -> None:
    """find() gives the same quote before and after the full decode; absent pairs are None."""
    put(tmp_path, T0)
    stored = next(reader.candidates(None, 0))
    assert stored.find("BTC", "USDT") == BTCUSDT
    assert stored.find("USDT", "BTC") is None
    assert stored.snapshot().quotes == {"BTCUSDT": BTCUSDT}
    assert stored.find("BTC", "USDT") == BTCUSDT
    assert stored.find("ETH", "BTC") is None


def test_loaded_files_are_cached(tmp_path: Path, reader: SnapshotReader) -> None:
    """Loading the same snapshot twice reads the file once (the same object comes back)."""
    put(tmp_path, T0)
    assert reader.load(T0) is reader.load(T0)


# -- historical rows read near their last known offset ----------------------------


def _many_rows(ms: int, shift: int = 0) -> Snapshot:
    """A snapshot with enough rows (~400) that BTCUSDT sits far from both ends."""
    quotes = {
        f"C{i:03d}X": Quote(f"C{i:03d}X", f"C{i:03d}", "X", Decimal("1.5"), Decimal("1.6"))
        for i in range(shift)
    }
    quotes["BTCUSDT"] = BTCUSDT
    for i in range(400):
        quotes[f"A{i:03d}B"] = Quote(f"A{i:03d}B", f"A{i:03d}", "B", Decimal("2.5"), Decimal("2.6"))
    return Snapshot("binance", ms, quotes)


def _historical(reader: SnapshotReader, ms: int) -> Quote | None:
    for stored in reader.candidates(ms, ms):
        return stored.find("BTC", "USDT")
    return None


def test_historical_row_is_found_near_its_last_offset_without_a_full_read(
    tmp_path: Path, reader: SnapshotReader
) -> None:
    """After one full read, later files are read only around the row's known offset."""
    put(tmp_path, T0, encode(_many_rows(T0)))
    put(tmp_path, T0 + 30_000, encode(_many_rows(T0 + 30_000)))
    assert _historical(reader, T0) == BTCUSDT  # learns the offset from a full read
    reads: list[int] = []
    real_load = reader.load
    reader.load = lambda ms: reads.append(ms) or real_load(ms)  # type: ignore[method-assign]
    assert _historical(reader, T0 + 30_000) == BTCUSDT
    assert reads == []


def test_a_row_that_moved_far_is_still_found_by_the_full_read(
    tmp_path: Path, reader: SnapshotReader
) -> None:
    """When the row is outside the window around its old offset, the whole file decides."""
    put(tmp_path, T0, encode(_many_rows(T0)))
    put(tmp_path, T0 + 30_000, encode(_many_rows(T0 + 30_000, shift=300)))
    assert _historical(reader, T0) == BTCUSDT
    assert _historical(reader, T0 + 30_000) == BTCUSDT


def test_the_near_read_refuses_a_file_whose_name_and_fetched_at_differ(
    tmp_path: Path, reader: SnapshotReader, caplog: pytest.LogCaptureFixture
) -> None:
    """The partial read still checks head, tail and fetched_at, and skips a misnamed file."""
    put(tmp_path, T0, encode(_many_rows(T0)))
    put(tmp_path, T0 + 30_000, encode(_many_rows(T0 + 99_000)))
    assert _historical(reader, T0) == BTCUSDT
    for stored in reader.candidates(T0 + 30_000, T0 + 30_000):
        with pytest.raises(CorruptSnapshotError, match="fetched_at"):
            stored.find("BTC", "USDT")


def test_names_already_parsed_are_not_parsed_again_on_a_rescan(
    tmp_path: Path, reader: SnapshotReader, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rescan after a new file parses only the new name (20k names cost 0.15 s to parse)."""
    import storage.reader as reader_module

    for i in range(5):
        put(tmp_path, T0 + i * 30_000)
    set_mtime(tmp_path, 10)
    reader.refresh(force=True)
    parsed: list[str] = []
    real = reader_module.ms_from_filename
    monkeypatch.setattr(reader_module, "ms_from_filename", lambda n: parsed.append(n) or real(n))
    put(tmp_path, T0 + 5 * 30_000)
    set_mtime(tmp_path, 5)
    clock.now += 1
    reader.refresh()
    assert parsed == [filename_for(T0 + 5 * 30_000)]
    assert reader.count == 6
