"""Historical answers through the history index are the snapshot files' answers, to the digit.

Stores are written by the real writer (which keeps the index), with one file
in five written as schema 1 behind its back and indexed by the consumer's
start-up repair, a corrupt file the index never holds, and a file changed
after it was indexed (its stamp no longer matches: the index must not answer
for it). Each question is put to a `Converter` (or `Aggregator`) reading
through the index and to one reading only the files, over separate readers.
"""

from __future__ import annotations

import contextlib
import random
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from api.aggregate import Aggregator
from api.bulk import rates_at
from api.exceptions import ApiError
from api.history_lookup import IndexedSnapshot, Verifier
from api.params import ConvertQuery
from api.results import AggregateResult
from api.service import ConversionResult, Converter
from storage.codec import encode, filename_for
from storage.errors import CorruptSnapshotError
from storage.history import HistoryReader, HistoryWriter, repair
from storage.model import Snapshot
from storage.reader import SnapshotReader
from storage.writer import SnapshotWriter
from tests.storage._history_support import CODES, VariedVenue, write_store

MAX_AGE_MS = 60_000
RETENTION_MS = 30 * 86_400_000
AMOUNTS = ("1", "0.5", "123.456789", "999999999999999.999999", "0.000001")


def converter(root: Path, venue: str, *, indexed: bool) -> Converter:
    """A converter through the index, or one that reads every file whole (the reference).

    The reference loads each file (`SnapshotReader.load`), so each row is what
    `codec.find_pair` finds: the first row in file order with those codes. A
    reader that has not loaded a file reads a 2 KB window around where the
    row was last seen instead, and when two symbols share (base, quote) that
    window may hold the later one; the index, like `find_pair`, keeps the first.
    """
    history = HistoryReader(root, venue, rescan_after=0) if indexed else None
    reader = SnapshotReader(root, venue, rescan_after=0, cache_size=100_000)
    if not indexed:
        reader.refresh()
        for ms in reader.times:
            with contextlib.suppress(CorruptSnapshotError):
                reader.load(ms)
    return Converter(
        reader,
        exchange=venue,
        max_age_ms=MAX_AGE_MS,
        retention_ms=RETENTION_MS,
        history=history,
    )


def outcome(
    call: Callable[..., ConversionResult | AggregateResult], *args: object
) -> tuple[object, ...]:
    """A conversion's whole answer, or its error's code, message and details."""
    try:
        result = call(*args)
    except ApiError as exc:
        return ("error", exc.code, exc.message, exc.details)
    return ("ok", orjson.loads(orjson.dumps(result.to_body())), result.quoted_ms)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int], int, int]:
    """90 binance snapshots (schema 1 and 2, repaired), a corrupt one, and one changed later."""
    root = tmp_path_factory.mktemp("history") / "data"
    times = write_store(root, 90, seed=12)
    assert repair(HistoryWriter(root, "binance", seal_count=7), sync_limit=None).indexed == 18
    directory = root / "binance"
    corrupt = times[40] + 7_000  # between two snapshots: in force for ~23 s
    (directory / filename_for(corrupt)).write_bytes(b'{"schema":2,"exchange":"binance"')
    changed = times[61]  # rewritten with other prices after it was indexed
    replacement = Snapshot("binance", changed, VariedVenue(99).step())
    (directory / filename_for(changed)).write_bytes(encode(replacement))  # not re-indexed
    return root, sorted(times), corrupt, changed


def test_the_index_holds_most_times_and_not_the_bad_files(
    store: tuple[Path, list[int], int, int],
) -> None:
    """The fixture means something: the index answers for most times, never for the bad two."""
    root, times, corrupt, changed = store
    verifier = Verifier(HistoryReader(root, "binance"))
    usable = [ms for ms in times if verifier.usable(ms)]
    assert len(usable) == len(times) - 1
    assert not verifier.usable(corrupt)
    assert not verifier.usable(changed)
    assert HistoryReader(root, "binance").has(changed)  # indexed, with the old stamp


def test_500_random_conversions_agree_with_the_files(
    store: tuple[Path, list[int], int, int],
) -> None:
    """500 random (pair, T, amount): the indexed and file-only answers are identical."""
    root, times, corrupt, changed = store
    indexed, files = (
        converter(root, "binance", indexed=True),
        converter(root, "binance", indexed=False),
    )
    now = times[-1] + 10_000
    rng = random.Random(500)
    special = [corrupt, corrupt + 1, changed, changed + 5, times[0] - 1, times[-1] + 70_000]
    answered = 0
    for k in range(500):
        at = special[k] if k < len(special) else rng.randrange(times[0] - 60_000, now)
        src = rng.choice([*CODES, "NOPE"])
        dst = src if rng.random() < 0.05 else rng.choice(CODES)
        query = ConvertQuery(Decimal(rng.choice(AMOUNTS)), src, dst, at)
        got = outcome(indexed.convert, query, now)
        want = outcome(files.convert, query, now)
        assert got == want, (at, src, dst)
        answered += got[0] == "ok"
    assert answered > 100  # the comparison covers real conversions, not only errors


def _rate_or_error(converter: Converter, src: str, dst: str, at: int, now: int) -> object:
    try:
        return converter.rate_at(src, dst, at, now)
    except ApiError as exc:
        return ("error", exc.code, exc.message, exc.details)


def test_rates_in_bulk_are_each_moments_rate_from_the_files(
    store: tuple[Path, list[int], int, int],
) -> None:
    """`api.bulk.rates_at` over every 10 s of the store (/rates' path) is the files' `rate_at`."""
    root, times, corrupt, changed = store
    now = times[-1] + 10_000
    moments = list(range(times[0] - 60_000, now, 10_000))
    assert any(abs(m - corrupt) < 20_000 for m in moments)
    assert any(abs(m - changed) < 20_000 for m in moments)
    indexed, files = (
        converter(root, "binance", indexed=True),
        converter(root, "binance", indexed=False),
    )
    rng = random.Random(10)
    pairs = [
        ("NOPE", "USDT"),
        ("BTC", "BTC"),
        *((rng.choice(CODES), rng.choice(CODES)) for _ in range(12)),
    ]
    for src, dst in pairs:
        got = [
            ("error", a.code, a.message, a.details) if isinstance(a, ApiError) else a
            for a in rates_at(indexed, src, dst, moments, now)
        ]
        assert got == [_rate_or_error(files, src, dst, at, now) for at in moments], (src, dst)
        again = rates_at(indexed, src, dst, moments, now)  # from the memo this time
        assert [a for a in again if not isinstance(a, ApiError)] == [
            a for a in got if isinstance(a, tuple) and a[0] != "error"
        ]


def test_the_changed_file_answers_with_its_new_rows(
    store: tuple[Path, list[int], int, int],
) -> None:
    """A file whose stamp changed since it was indexed is read, never the index's old rows."""
    root, _, _, changed = store
    history = HistoryReader(root, "binance")
    reader = SnapshotReader(root, "binance")
    snapshot = IndexedSnapshot(changed, reader, Verifier(history))
    rows = VariedVenue(99).step()
    for quote in list(rows.values())[:10]:
        found = snapshot.find(quote.base, quote.quote)
        assert found is not None
        assert (found.bid, found.ask) == (quote.bid, quote.ask)


def test_average_and_best_at_t_agree_with_the_files(tmp_path: Path) -> None:
    """`average` and `best` at 300 random moments over two indexed venues: the files' answers."""
    root = tmp_path / "data"
    times = write_store(root, 40, seed=3, schema1_every=0)
    kraken = SnapshotWriter(root, "kraken")
    kraken.ensure_directory()
    venue = VariedVenue(3)  # the same symbols, moved on their own
    for k, ms in enumerate(times):
        if k % 6 != 5:  # gaps: at some moments only one venue has a snapshot in force
            kraken.write(Snapshot("kraken", ms + 3_000, venue.step()))
    now = times[-1] + 10_000

    def aggregator(indexed: bool) -> Aggregator:
        venues = [converter(root, v, indexed=indexed).snapshots for v in ("binance", "kraken")]
        return Aggregator(venues, outlier_percent=Decimal(5))

    with_index, files = aggregator(True), aggregator(False)
    rng = random.Random(300)
    answered = 0
    for _ in range(300):
        at = rng.randrange(times[0] - 40_000, now)
        src, dst = rng.choice(CODES), rng.choice(CODES)
        mode = rng.choice(["average", "best"])
        query = ConvertQuery(Decimal(rng.choice(AMOUNTS)), src, dst, at)
        got = outcome(with_index.convert, query, mode, now)
        assert got == outcome(files.convert, query, mode, now), (at, src, dst, mode)
        answered += got[0] == "ok"
    assert answered > 50


def test_no_index_at_all_answers_from_the_files(tmp_path: Path) -> None:
    """Without an index directory (never built, or removed), every answer comes from the files."""
    root = tmp_path / "data"
    times = write_store(root, 12, seed=5)
    shutil.rmtree(root / ".history")
    indexed, files = (
        converter(root, "binance", indexed=True),
        converter(root, "binance", indexed=False),
    )
    now = times[-1] + 1_000
    for at in times:
        for src, dst in (("BTC", "USDT"), ("USDT", "BTC"), ("ETH", "BTC")):
            query = ConvertQuery(Decimal(1), src, dst, at)
            assert outcome(indexed.convert, query, now) == outcome(files.convert, query, now)


def test_a_file_changed_after_a_check_is_noticed_within_the_trust_window(tmp_path: Path) -> None:
    """A usable time is believed for trust_seconds; a file changed since is then refused."""
    root = tmp_path / "data"
    times = write_store(root, 3, seed=8, schema1_every=0)
    clock = [100.0]
    verifier = Verifier(HistoryReader(root, "binance"), clock=lambda: clock[0])
    assert verifier.usable(times[1])
    path = root / "binance" / filename_for(times[1])
    path.write_bytes(path.read_bytes())  # the same bytes, a new mtime: not the file indexed
    clock[0] += 0.5
    assert verifier.usable(times[1])  # within the second it was last found as indexed
    clock[0] += 0.6
    assert not verifier.usable(times[1])
    assert verifier.usable(times[2])
