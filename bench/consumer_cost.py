"""The consumer's cost for Binance, in this process: parse a poll, write a snapshot.

It calls the consumer's and the store's own code (`parse_quotes`,
`SnapshotWriter.write`, which now appends to the history index too) on the
recorded Binance payload. Four venues: `bench/venues_consumer.py`.
"""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import dataclass

import orjson
from _repo import BOOK_TICKER, EXCHANGE_INFO, OUT
from store import EXCHANGE, INTERVAL_MS

from consumer.exchanges.binance import parse_metadata, parse_quotes
from storage.codec import encode
from storage.model import Quote, Snapshot
from storage.writer import SnapshotWriter

__all__ = ["CycleCost", "measure_cycle"]


@dataclass(frozen=True, slots=True)
class CycleCost:
    """Medians over `runs`, in milliseconds."""

    runs: int
    quotes: int
    parse_cpu_ms: float  # orjson.loads + parse_quotes (one poll)
    parse_wall_ms: float
    write_cpu_ms: float  # SnapshotWriter.write: encode, write, fsync, rename, fsync dir
    write_wall_ms: float
    cycle_cpu_ms: float  # one poll + one snapshot, measured together
    cycle_wall_ms: float
    metadata_cpu_ms: float  # orjson.loads + parse_metadata (hourly)
    snapshot_bytes: int


def _clocks() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def measure_cycle(runs: int) -> CycleCost:
    """Parse the recorded book ticker and write it as a snapshot, `runs` times."""
    payload, info = BOOK_TICKER.read_bytes(), EXCHANGE_INFO.read_bytes()
    root = OUT / "consumer-cycle"
    shutil.rmtree(root, ignore_errors=True)
    writer = SnapshotWriter(root, EXCHANGE)
    writer.ensure_directory()
    meta_cpu: list[float] = []
    parse: list[tuple[float, float]] = []
    write: list[tuple[float, float]] = []
    cycle: list[tuple[float, float]] = []
    base_ms = 1_700_000_000_000
    quotes: dict[str, Quote] = {}
    for i in range(runs):
        c0 = time.process_time()
        metadata = parse_metadata(orjson.loads(info))
        c1, w1 = _clocks()
        quotes = parse_quotes(orjson.loads(payload), metadata)
        c2, w2 = _clocks()
        writer.write(Snapshot(EXCHANGE, base_ms + i * INTERVAL_MS, quotes))
        c3, w3 = _clocks()
        meta_cpu.append(c1 - c0)
        parse.append((c2 - c1, w2 - w1))
        write.append((c3 - c2, w3 - w2))
        cycle.append((c3 - c1, w3 - w1))
    size = len(encode(Snapshot(EXCHANGE, base_ms, quotes)))
    shutil.rmtree(root, ignore_errors=True)

    def med(values: list[tuple[float, float]], index: int) -> float:
        return statistics.median(v[index] for v in values) * 1000

    return CycleCost(
        runs=runs,
        quotes=len(quotes),
        parse_cpu_ms=med(parse, 0),
        parse_wall_ms=med(parse, 1),
        write_cpu_ms=med(write, 0),
        write_wall_ms=med(write, 1),
        cycle_cpu_ms=med(cycle, 0),
        cycle_wall_ms=med(cycle, 1),
        metadata_cpu_ms=statistics.median(meta_cpu) * 1000,
        snapshot_bytes=size,
    )
