"""The consumer's costs, in this process: parse, write, bytes on disk, retention.

All of it calls the consumer's and the store's own code (`parse_quotes`,
`SnapshotWriter.write`, `SnapshotWriter.delete_older_than`) on the recorded
Binance payload; nothing is re-implemented here except the size estimates of
alternative encodings, which are estimates and say so.
"""

from __future__ import annotations

import os
import shutil
import statistics
import struct
import time
import zlib
from dataclasses import dataclass
from decimal import Decimal

import orjson
from _repo import BOOK_TICKER, EXCHANGE_INFO, OUT
from store import EXCHANGE, INTERVAL_MS, SPANS, Store, store_bytes

from consumer.exchanges.binance import parse_metadata, parse_quotes
from storage.codec import encode, filename_for
from storage.model import Quote, Snapshot
from storage.writer import SnapshotWriter

__all__ = ["CycleCost", "RetentionCost", "encoding_sizes", "measure_cycle", "measure_retention"]


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


@dataclass(frozen=True, slots=True)
class RetentionCost:
    files: int
    deleted: int
    runs: int
    wall_s: float  # medians over runs
    cpu_s: float
    wall_min_s: float
    wall_max_s: float
    scan_wall_s: float  # a pass that deletes nothing: listing and parsing 23,040 names


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


def measure_retention(week: Store, runs: int) -> RetentionCost:
    """One retention pass over 8 days of files (23,040), deleting the oldest day (2,880).

    The 7 newest days are hard links to the 7-day store (deleting nothing, they
    only have to be listed and parsed); the oldest day is 2,880 real files of
    real size, written fresh for each run and synced to disk before the pass.
    """
    extra = SPANS["8d"] - week.count
    root = OUT / "retention"
    directory = root / EXCHANGE
    sample = next(p for p in week.directory.iterdir() if p.name.endswith("Z.json")).read_bytes()
    walls: list[float] = []
    cpus: list[float] = []
    scans: list[float] = []
    files = deleted = 0
    for _ in range(runs):
        shutil.rmtree(root, ignore_errors=True)
        directory.mkdir(parents=True)
        for entry in os.scandir(week.directory):
            if entry.name.endswith("Z.json"):
                os.link(entry.path, directory / entry.name)
        for k in range(1, extra + 1):
            (directory / filename_for(week.oldest_ms - k * INTERVAL_MS)).write_bytes(sample)
        files = sum(1 for _ in os.scandir(directory))
        os.sync()
        writer = SnapshotWriter(root, EXCHANGE)
        w0 = time.perf_counter()
        writer.delete_older_than(0)
        scans.append(time.perf_counter() - w0)
        c0, w0 = _clocks()
        deleted = writer.delete_older_than(week.oldest_ms)
        c1, w1 = _clocks()
        walls.append(w1 - w0)
        cpus.append(c1 - c0)
    shutil.rmtree(root, ignore_errors=True)
    return RetentionCost(
        files=files,
        deleted=deleted,
        runs=runs,
        wall_s=statistics.median(walls),
        cpu_s=statistics.median(cpus),
        wall_min_s=min(walls),
        wall_max_s=max(walls),
        scan_wall_s=statistics.median(scans),
    )


def encoding_sizes(quotes: dict[str, Quote]) -> dict[str, int]:
    """Bytes of one snapshot in the current encoding and in smaller ones (estimates).

    Sizes come from encoding the recorded quotes with the same document shape
    as `storage.codec.encode`; "binary" is a hypothetical fixed-width layout
    (u16 symbol index + bid and ask as u64 units of 1e-8), its symbol table
    stored once per day and amortised over 2,880 files.
    """
    snapshot = Snapshot(EXCHANGE, 1_700_000_000_000, quotes)
    current = encode(snapshot)
    fetched_at = orjson.loads(current)["fetched_at"]

    def size(fields: list[str], rows: dict[str, list[str]]) -> int:
        doc = {"schema": 1, "exchange": EXCHANGE, "fetched_at": fetched_at}
        return len(orjson.dumps({**doc, "fields": fields, "symbols": rows}))

    def plain(d: Decimal) -> str:
        text = format(d, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text

    qs = list(quotes.values())
    full = {q.symbol: [q.base, q.quote, format(q.bid, "f"), format(q.ask, "f")] for q in qs}
    if size(["base", "quote", "bid", "ask"], full) != len(current):
        raise AssertionError("the size model does not match storage.codec.encode")
    table_once = len(orjson.dumps([[q.symbol, q.base, q.quote] for q in qs]))
    return {
        "current: orjson, exchange strings, base/quote in every row": len(current),
        "prices without trailing zeros": size(
            ["base", "quote", "bid", "ask"],
            {q.symbol: [q.base, q.quote, plain(q.bid), plain(q.ask)] for q in qs},
        ),
        "no base/quote per row (kept once elsewhere)": size(
            ["bid", "ask"], {q.symbol: [format(q.bid, "f"), format(q.ask, "f")] for q in qs}
        ),
        "both of the above": size(
            ["bid", "ask"], {q.symbol: [plain(q.bid), plain(q.ask)] for q in qs}
        ),
        "binary fixed-width (estimate)": 2
        + len(qs) * struct.calcsize("<HQQ")
        + table_once // 2_880,
        "current + zlib level 1 (reference)": len(zlib.compress(current, 1)),
        "current + zlib level 6 (reference)": len(zlib.compress(current, 6)),
    }


def byte_breakdown(quotes: dict[str, Quote]) -> dict[str, int]:
    """Where the bytes of one snapshot go: symbol keys, codes, prices, punctuation."""
    keys = sum(len(q.symbol) for q in quotes.values())
    codes = sum(len(q.base) + len(q.quote) for q in quotes.values())
    prices = sum(len(format(q.bid, "f")) + len(format(q.ask, "f")) for q in quotes.values())
    total = len(encode(Snapshot(EXCHANGE, 1_700_000_000_000, quotes)))
    return {
        "symbol keys": keys,
        "base/quote codes": codes,
        "prices": prices,
        "quotes, commas, brackets, header": total - keys - codes - prices,
        "total": total,
    }


def store_size(week: Store) -> tuple[int, int]:
    """(apparent, allocated) bytes of the generated 7-day store."""
    return store_bytes(week.directory)
