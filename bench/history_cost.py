"""The history index as the API uses it, in this process: warm-up, look-ups, series, bytes.

Everything runs the API's own objects (`Converter` with a `HistoryReader`,
`RateSeries`) over the benchmark store, without HTTP, so the numbers are the
code's and not the framework's or the machine's queueing:

- warm-up: `HistoryReader.warm()` per venue, as the API does before serving;
- historical conversions at random T over 7 days, 12 pairs: the time of each
  call, first over a fresh (warmed) reader, then again. The largest is the
  longest the event loop waits on one look-up (a cold read);
- series of the default venue: 24 h at 5 min, 7 days at 5 min, and 7 days at
  30 s (20,160 points, more than one response may hold: `RateSeries.series`
  is called with a plan past the 10,000-point limit), first on fresh readers,
  then the median of repeats (the (snapshot, pair) memo warm);
- bytes: each venue's index against its snapshot files;
- a landing: after one snapshot of every venue lands, latest look-ups of the
  default venue (`VenueSnapshots.newest`) every 5 ms for 1.5 s, as requests
  would make them: the ones that took over 1 ms are what the event loop
  spends on the new file (re-listing the directory, decoding the file).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from store import EXCHANGE, Roller, Store, now_ms

from api.aggregate import Aggregator
from api.exceptions import ApiError
from api.params import ConvertQuery
from api.rates import RateSeries
from api.series import INTERVALS, Plan, boundary_count, first_boundary
from api.service import Converter
from storage.history import HistoryReader, index_dir
from storage.reader import SnapshotReader

__all__ = ["HistoryCost", "measure"]

PAIRS = [
    ("BTC", "USDT"), ("USDT", "BTC"), ("ETH", "BTC"), ("SOL", "USDT"), ("DOGE", "USDT"),
    ("BNB", "ETH"), ("XRP", "BTC"), ("ETH", "USDT"), ("USDT", "ETH"), ("ADA", "USDT"),
    ("LTC", "BTC"), ("BTC", "USDT"),
]  # fmt: skip
MAX_AGE_MS = 60_000
RETENTION_MS = 8 * 86_400_000
SERIES = {"24 h at 5 min": (86_400_000, "5m"), "7 days at 5 min": (7 * 86_400_000, "5m"),
          "7 days at 30 s": (7 * 86_400_000, "30s")}  # fmt: skip


@dataclass(slots=True)
class HistoryCost:
    warm_ms: dict[str, float] = field(default_factory=dict)  # venue -> warm()
    tables: dict[str, int] = field(default_factory=dict)  # venue -> segment tables read
    lookup_us: dict[str, dict[str, float]] = field(default_factory=dict)  # pass -> stats
    series_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> first, hot
    series_points: dict[str, int] = field(default_factory=dict)
    index_bytes: dict[str, tuple[int, int]] = field(default_factory=dict)  # venue -> idx, files
    landing_ms: list[tuple[float, float]] = field(default_factory=list)  # (at s, took ms) > 1 ms


def _converters(store: Store) -> dict[str, Converter]:
    return {
        venue: Converter(
            SnapshotReader(store.data_dir, venue),
            exchange=venue,
            max_age_ms=MAX_AGE_MS,
            retention_ms=RETENTION_MS,
            history=HistoryReader(store.data_dir, venue),
        )
        for venue in store.venues
    }


def _warm(converters: dict[str, Converter], cost: HistoryCost | None = None) -> None:
    for venue, converter in converters.items():
        converter.snapshots.reader.refresh()
        history = converter.snapshots.history
        assert history is not None
        started = time.perf_counter()
        tables = history.warm()
        if cost is not None:
            cost.warm_ms[venue] = (time.perf_counter() - started) * 1000
            cost.tables[venue] = tables


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered) * 1e6,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
        "max": ordered[-1] * 1e6,
        "n": len(ordered),
    }


def _total(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


def _bytes(store: Store, venue: str) -> tuple[int, int]:
    return _total(index_dir(store.data_dir, venue)), _total(store.data_dir / venue)


def measure(store: Store, lookups: int = 3_000, repeats: int = 5) -> HistoryCost:
    cost = HistoryCost()
    for venue in store.venues:
        cost.index_bytes[venue] = _bytes(store, venue)
    now = now_ms()
    converters = _converters(store)
    _warm(converters, cost)
    converter = converters[EXCHANGE]
    rng = random.Random(12)
    asks = [
        (rng.randrange(store.oldest_ms, store.newest_ms), *rng.choice(PAIRS))
        for _ in range(lookups)
    ]
    for label in ("first pass (fresh reader, tables warm)", "second pass"):
        samples = []
        for at, src, dst in asks:
            query = ConvertQuery(Decimal(1), src, dst, at)
            started = time.perf_counter()
            converter.convert(query, now)
            samples.append(time.perf_counter() - started)
        cost.lookup_us[label] = _stats(samples)
    _landing(store, converter, cost)
    for label, (span, interval) in SERIES.items():
        fresh = _converters(store)
        _warm(fresh)
        aggregator = Aggregator([c.snapshots for c in fresh.values()], outlier_percent=Decimal(5))
        series = RateSeries(fresh, aggregator, default_exchange=EXCHANGE, retention_ms=RETENTION_MS)
        end = now_ms()
        step = INTERVALS[interval]
        count = boundary_count(end - span, end, step)
        plan = Plan(end - span, end - span, end, interval, step, count)
        assert plan.boundaries()[0] == first_boundary(end - span, step)
        runs = []
        for _ in range(1 + repeats):
            started = time.perf_counter()
            try:
                answer = asyncio.run(series.series(EXCHANGE, "BTC", "USDT", plan, end))
            except ApiError as exc:
                raise RuntimeError(f"series {label}: {exc.message}") from None
            runs.append((time.perf_counter() - started) * 1000)
        cost.series_points[label] = answer.body.count(b'"t":')
        cost.series_ms[label] = {"first": runs[0], "hot": statistics.median(runs[1:])}
    return cost


def _landing(store: Store, converter: Converter, cost: HistoryCost) -> None:
    snapshots = converter.snapshots
    snapshots.newest(now_ms())
    Roller(store).write(now_ms())
    landed = time.perf_counter()
    while time.perf_counter() - landed < 1.5:
        started = time.perf_counter()
        snapshots.newest(now_ms())
        took = time.perf_counter() - started
        if took > 0.001:
            cost.landing_ms.append((started - landed, took * 1000))
        time.sleep(0.005)
