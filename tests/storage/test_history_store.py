"""The history index against the files it is built from: answers, coverage, retention, repair."""

from __future__ import annotations

import bisect
import logging
import os
import random
from decimal import Decimal
from pathlib import Path

import pytest

from storage.codec import filename_for
from storage.history import HistoryReader, HistoryWriter, index_dir, rebuild, repair
from storage.model import Quote, Snapshot
from storage.writer import SnapshotWriter
from tests.storage._history_support import (
    STEP_MS,
    T0,
    VENUE,
    VariedVenue,
    disagreements,
    file_answer,
    file_codes,
    same,
    schema1_bytes,
    write_store,
)

MAX_AGE_MS = 60_000


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """80 snapshots, one in five schema 1 (not written by the writer), then a repair."""
    root = tmp_path_factory.mktemp("store") / "data"
    times = write_store(root, 80, seed=1)
    done = repair(HistoryWriter(root, VENUE, seal_count=7), sync_limit=None)
    assert done.indexed == 16  # the schema-1 files, which no writer appended
    return root, times


def test_every_snapshot_is_indexed_once(store: tuple[Path, list[int]]) -> None:
    """After the writer's appends and a repair, the index holds exactly the files' times."""
    root, times = store
    reader = HistoryReader(root, VENUE)
    assert reader.times() == sorted(times)
    assert reader.covered() == (min(times), max(times))
    names = os.listdir(index_dir(root, VENUE))
    assert any(n.endswith(".hxs") for n in names)
    assert any(n.startswith("tail-") for n in names)


def test_500_random_look_ups_agree_with_the_files(store: tuple[Path, list[int]]) -> None:
    """For 500 random (pair, T): the snapshot in force, its row and its codes are the files'."""
    root, times = store
    reader = HistoryReader(root, VENUE)
    ordered = sorted(times)
    rng = random.Random(500)
    pairs_seen = 0
    for _ in range(500):
        at = rng.randrange(ordered[0] - STEP_MS, ordered[-1] + 2 * STEP_MS)
        i = bisect.bisect_right(ordered, at)
        expected = ordered[i - 1] if i and ordered[i - 1] >= at - MAX_AGE_MS else None
        got = reader.in_force(at, at - MAX_AGE_MS)
        assert got == expected
        if got is None:
            continue
        codes = file_codes(root, got)
        assert reader.currencies_at(got) == codes
        base, quote = rng.sample(sorted(codes), 2)
        answer = file_answer(root, got, base, quote)
        assert same(reader.quote_at(got, base, quote), answer), (got, base, quote)
        pairs_seen += answer is not None
    assert pairs_seen > 20


def test_series_matches_quote_at_for_every_time(store: tuple[Path, list[int]]) -> None:
    """`series` answers what `quote_at` and the files answer, time by time (tables warmed)."""
    root, _ = store
    reader = HistoryReader(root, VENUE)
    assert reader.warm() == len(os.listdir(index_dir(root, VENUE))) - 1  # all but the tail
    ordered = reader.times()
    for base, quote in [("BTC", "USDT"), ("ETH", "BTC"), ("EUR", "TRY")]:
        series = reader.series(base, quote, ordered)
        for ms, got in zip(ordered, series, strict=True):
            assert same(got, file_answer(root, ms, base, quote))


def test_whole_snapshots_agree_with_the_files(store: tuple[Path, list[int]]) -> None:
    """Every indexed time: codes and sampled rows, including sizes and schema-1 rows."""
    root, _ = store
    assert disagreements(root, HistoryReader(root, VENUE), pairs=40) == []


def test_not_indexed_is_a_key_error(store: tuple[Path, list[int]]) -> None:
    """A time the index lacks raises KeyError (read the file), never a wrong None."""
    root, times = store
    reader = HistoryReader(root, VENUE)
    assert not reader.has(T0 - 1)
    with pytest.raises(KeyError):
        reader.quote_at(T0 - 1, "BTC", "USDT")
    with pytest.raises(KeyError):
        reader.currencies_at(T0 - 1)
    with pytest.raises(KeyError):
        reader.series("BTC", "USDT", [times[0], T0 - 1])
    assert reader.in_force(T0 - 1, 0) is None


def test_stamps_follow_the_files(store: tuple[Path, list[int]]) -> None:
    """Each time carries its file's size and mtime; `matches_file` checks them with one stat."""
    root, times = store
    reader = HistoryReader(root, VENUE)
    for ms in times[:10]:
        st = (root / VENUE / filename_for(ms)).stat()
        assert reader.stamp(ms) == (st.st_size, st.st_mtime_ns)
        assert reader.matches_file(ms)
    assert not reader.matches_file(T0 - 1)
    assert reader.missing([times[0], T0 - 1, times[1]]) == [T0 - 1]
    assert reader.mismatched([*times, T0 - 1]) == [T0 - 1]


def _quote(symbol: str, base: str, quote: str, bid: str) -> Quote:
    return Quote(symbol, base, quote, Decimal(bid), Decimal(bid))


def test_a_pair_two_rows_share_answers_the_first_row(tmp_path: Path) -> None:
    """Two symbols with one (base, quote): the index answers the first row, as find_pair does."""
    root = tmp_path / "data"
    writer = SnapshotWriter(root, VENUE)
    writer.ensure_directory()
    writer.history.seal_count = 2
    for k, order in enumerate([("A", "B"), ("B", "A"), ("A", "B")]):
        quotes = {s: _quote(s, "ETH", "BTC", f"0.0{k}{i + 1}") for i, s in enumerate(order)}
        quotes["XY"] = _quote("XY", "X", "Y", "1")
        writer.write(Snapshot(VENUE, T0 + k, quotes))
    reader = HistoryReader(root, VENUE)
    for ms in reader.times():
        assert same(reader.quote_at(ms, "ETH", "BTC"), file_answer(root, ms, "ETH", "BTC"))
    assert reader.quote_at(T0 + 1, "ETH", "BTC") == _quote("B", "ETH", "BTC", "0.011")


# -- retention ----------------------------------------------------------------------


def test_retention_removes_index_data_with_the_files(tmp_path: Path) -> None:
    """delete_older_than prunes the index (segments trimmed or removed, tail too)."""
    root = tmp_path / "data"
    times = write_store(root, 30, seed=2, schema1_every=0)
    reader = HistoryReader(root, VENUE, rescan_after=0)
    before = reader.series("BTC", "USDT", reader.times())  # segments' columns cached
    writer = SnapshotWriter(root, VENUE)
    cutoff = times[12]
    assert writer.delete_older_than(cutoff) == 12
    assert reader.times() == times[12:]
    assert reader.series("BTC", "USDT", times[12:]) == before[12:]  # rewritten files re-read
    assert disagreements(root, reader) == []
    writer.delete_older_than(times[-1] + 1)
    assert reader.times() == []
    assert [n for n in os.listdir(index_dir(root, VENUE)) if not n.startswith(".")] == []


def test_retention_then_a_late_append_of_an_old_time_is_refused(tmp_path: Path) -> None:
    """A snapshot older than the retention cutoff is never indexed."""
    root = tmp_path / "data"
    writer = SnapshotWriter(root, VENUE)
    writer.ensure_directory()
    writer.delete_older_than(T0)
    writer.write(Snapshot(VENUE, T0 - 1, VariedVenue(3).step()))
    writer.write(Snapshot(VENUE, T0 + 1, VariedVenue(3).step()))
    assert HistoryReader(root, VENUE).times() == [T0 + 1]


# -- the files change under the index ------------------------------------------------


def test_repair_drops_deleted_and_changed_files_and_indexes_new_ones(tmp_path: Path) -> None:
    """Deleted: dropped; replaced (new stamp): re-indexed from its bytes; corrupt: dropped."""
    root = tmp_path / "data"
    times = write_store(root, 12, seed=4, schema1_every=0)
    directory = root / VENUE
    (directory / filename_for(times[0])).unlink()
    other = Snapshot(VENUE, times[1], VariedVenue(99).step())
    tmp = directory / "x"
    tmp.write_bytes(schema1_bytes(other))
    os.replace(tmp, directory / filename_for(times[1]))
    (directory / filename_for(times[2])).write_bytes(b"{}")
    reader = HistoryReader(root, VENUE, rescan_after=0)
    assert reader.mismatched(times) == times[:3]
    done = repair(HistoryWriter(root, VENUE))
    assert (done.dropped, done.indexed) == (3, 1)
    assert reader.times() == times[1:2] + times[3:]
    assert reader.matches_file(times[1])
    assert disagreements(root, reader) == []


def test_writes_that_fail_to_index_still_write_the_snapshot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An index that cannot be written: files still land, one warning, then recovery."""
    root = tmp_path / "data"
    writer = SnapshotWriter(root, VENUE)
    writer.ensure_directory()
    blocker = index_dir(root, VENUE)
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"in the way")
    venue = VariedVenue(5)
    with caplog.at_level(logging.INFO, logger="storage.writer"):
        for k in range(3):
            writer.write(Snapshot(VENUE, T0 + k, venue.step()))
        blocker.unlink()
        writer.write(Snapshot(VENUE, T0 + 3, venue.step()))
    assert len(os.listdir(root / VENUE)) == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "index failed" in warnings[0].getMessage()
    assert "updating again" in caplog.text
    assert HistoryReader(root, VENUE).times() == [T0 + 3]
    writer.remove_temporaries()  # the start-up repair indexes the three it missed
    assert HistoryReader(root, VENUE).times() == [T0 + k for k in range(4)]


def test_rebuild_equals_what_the_writer_built(tmp_path: Path) -> None:
    """Rebuilding from the files (both schemas) gives the same answers as the live index."""
    root = tmp_path / "data"
    times = write_store(root, 25, seed=6)
    writer = HistoryWriter(root, VENUE, seal_count=7)
    assert rebuild(writer, workers=1) == (25, 0)
    reader = HistoryReader(root, VENUE)
    assert reader.times() == times
    assert disagreements(root, reader, pairs=20) == []
    assert rebuild(HistoryWriter(root, VENUE, seal_count=6), workers=2) == (25, 0)
    assert disagreements(root, HistoryReader(root, VENUE), pairs=20) == []
