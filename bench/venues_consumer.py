#!/usr/bin/env python
"""The consumer's cost with four venues: CPU of one poll + snapshot of each, and the 7-day store.

    .venv/bin/python bench/venues_consumer.py [--rounds 30]

The fake venues (`tests.fakes.FakeExchanges`) run in a child process, so
that `time.process_time()` here counts the consumer's work only: the real
adapters behind the real `QuoteConsumer` (`poll`: GET, decode, parse into
Quotes) and its `write_snapshot` (encode, write, fsync, rename, directory
fsync, in a worker thread as in production; process time counts every
thread). One round is one poll and one snapshot of each venue in turn; the
figures are medians over `--rounds` rounds after a warm-up.

Two payload sets. *Recorded*: the fixtures as the tests serve them; Kraken's,
Bybit's and OKX's tickers hold only 40-50 symbols. *Full size*: Binance as
recorded, and each other venue at Binance's 1,261 quotable symbols, made by
cloning its recorded ticker entries round-robin under new names (`SYN0001…`)
listed as tradable in its metadata: synthetic, for scale only.

Store size: the fakes serve the same prices every poll, so every snapshot of
a venue has the same byte size; the 7-day store (20,160 snapshots per venue,
one per 30 s) is one file's size times 20,160, exactly, not generated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import logging
import multiprocessing
import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
from _repo import OUT, ROOT

from consumer.exchanges import REGISTRY
from consumer.service import QuoteConsumer
from storage.codec import ms_from_filename
from storage.writer import SnapshotWriter

__all__ = ["Result", "VenueCost", "full_size_bodies", "measure", "render"]

VENUES = ("binance", "kraken", "bybit", "okx")
SNAPSHOTS_7D = 7 * 24 * 3600 // 30  # 20,160 at the default SNAPSHOT_INTERVAL_SECONDS
TARGET_MS = 50.0
WARMUP = 3
FULL_SIZE = 1_261  # Binance's quotable symbols in its recording
FIXTURES = ROOT / "tests" / "fixtures"

Bodies = dict[str, tuple[bytes, bytes]]  # venue -> (metadata body, quotes body)


@dataclass(frozen=True, slots=True)
class VenueCost:
    """One venue's medians over the rounds (milliseconds) and its snapshot file."""

    venue: str
    symbols: int
    poll_cpu_ms: float  # QuoteConsumer.poll: GET, decode, parse
    write_cpu_ms: float  # QuoteConsumer.write_snapshot: encode, write, fsync, rename
    cycle_cpu_ms: float  # the two together, median of their per-round sums
    cycle_wall_ms: float
    file_bytes: int  # one snapshot file (every one has this size)
    file_allocated: int  # its disk blocks, as `du` counts them


@dataclass(frozen=True, slots=True)
class Result:
    label: str
    rounds: int
    venues: tuple[VenueCost, ...]
    round_cpu_ms: float  # median over rounds of the whole round (all four venues)
    round_wall_ms: float
    metadata_cpu_ms: float  # the four metadata fetches once (an hourly job)


# -- payloads ------------------------------------------------------------------------


def _load(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_bytes())


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def full_size_bodies(n: int = FULL_SIZE) -> Bodies:
    """Kraken, Bybit and OKX payloads of `n` quotable symbols, cloned from the recordings."""
    names = [f"SYN{i:04d}" for i in range(n)]

    pairs = _load("kraken/AssetPairs_2026-01-12.trimmed.json")
    ticker = _load("kraken/Ticker_derived_2026-08-27.json")
    online = [v for k, v in ticker["result"].items() if pairs["result"][k]["status"] == "online"]
    pairs["result"].update(
        {
            f"{s}USD": {"altname": f"{s}USD", "wsname": f"{s}/USD", "base": s, "quote": "ZUSD"}
            | {"status": "online"}
            for s in names
        }
    )
    ticker["result"] = {f"{s}USD": online[i % len(online)] for i, s in enumerate(names)}

    bybit_meta = _load("bybit/instruments-info_spot_2026-08-09.trimmed.json")
    bybit = _load("bybit/tickers_spot_50_trimmed_2026-08-27.json")
    bybit_meta["result"]["list"] += [
        {"symbol": f"{s}USDT", "baseCoin": s, "quoteCoin": "USDT", "status": "Trading"}
        for s in names
    ]
    templates = bybit["result"]["list"]
    bybit["result"]["list"] = [
        copy.deepcopy(templates[i % len(templates)]) | {"symbol": f"{s}USDT"}
        for i, s in enumerate(names)
    ]

    okx_meta = _load("okx/instruments_SPOT_50_trimmed_2026-08-27.trimmed.json")
    okx = _load("okx/tickers_SPOT_50_trimmed_2026-08-27.json")
    okx_meta["data"] += [
        {"instId": f"{s}-USDT", "instType": "SPOT", "baseCcy": s, "quoteCcy": "USDT"}
        | {"state": "live"}
        for s in names
    ]
    okx["data"] = [
        copy.deepcopy(okx["data"][i % len(okx["data"])]) | {"instId": f"{s}-USDT"}
        for i, s in enumerate(names)
    ]
    return {
        "kraken": (_dump(pairs), _dump(ticker)),
        "bybit": (_dump(bybit_meta), _dump(bybit)),
        "okx": (_dump(okx_meta), _dump(okx)),
    }


# -- the fakes, in a child process ------------------------------------------------------


def _serve(bodies: Bodies, conn: Connection, stop: Event) -> None:
    """Child process: serve the four fakes (with `bodies` swapped in) until `stop` is set."""
    from tests.fakes import FakeExchanges

    with FakeExchanges(VENUES) as fakes:
        for venue, (metadata, quotes) in bodies.items():
            fakes[venue].set_metadata_body(metadata)
            fakes[venue].set_quotes_body(quotes)
        conn.send(fakes.base_urls)
        stop.wait()


@contextlib.contextmanager
def fake_venues(bodies: Bodies) -> Iterator[dict[str, str]]:
    """The four fake venues in a child process; yields venue -> base URL."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    stop = ctx.Event()
    child = ctx.Process(target=_serve, args=(bodies, theirs, stop), daemon=True)
    child.start()
    try:
        if not ours.poll(30):
            raise RuntimeError("the fake venues did not start within 30 s")
        urls: dict[str, str] = ours.recv()
        yield urls
    finally:
        stop.set()
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join()


# -- measuring ---------------------------------------------------------------------------


def _newest_file(directory: Path) -> Path:
    return max((p for p in directory.iterdir() if ms_from_filename(p.name)), key=lambda p: p.name)


async def _rounds(
    consumers: dict[str, QuoteConsumer], rounds: int
) -> tuple[dict[str, list[tuple[float, float, float]]], list[tuple[float, float]]]:
    """Per venue (poll CPU, snapshot CPU, wall) and per round (CPU, wall), warm-up left out."""
    samples: dict[str, list[tuple[float, float, float]]] = {v: [] for v in consumers}
    whole: list[tuple[float, float]] = []
    for i in range(WARMUP + rounds):
        r0c, r0w = time.process_time(), time.perf_counter()
        for venue, consumer in consumers.items():
            c0, w0 = time.process_time(), time.perf_counter()
            polled = await consumer.poll()
            c1 = time.process_time()
            # The first poll writes the start-up snapshot itself; later ones leave it pending.
            written = await consumer.write_snapshot() or i == 0
            c2, w2 = time.process_time(), time.perf_counter()
            if not (polled and written):
                raise RuntimeError(f"{venue}: poll {polled}, snapshot {written}")
            if i >= WARMUP:
                samples[venue].append((c1 - c0, c2 - c1, w2 - w0))
        if i >= WARMUP:
            whole.append((time.process_time() - r0c, time.perf_counter() - r0w))
    return samples, whole


async def _measure(label: str, urls: dict[str, str], rounds: int, root: Path) -> Result:
    async with contextlib.AsyncExitStack() as stack:
        consumers: dict[str, QuoteConsumer] = {}
        for venue in VENUES:
            client = await stack.enter_async_context(
                httpx.AsyncClient(base_url=urls[venue], timeout=10)
            )
            writer = SnapshotWriter(root, venue)
            writer.ensure_directory()
            consumers[venue] = QuoteConsumer(
                adapter=REGISTRY[venue],
                client=client,
                writer=writer,
                retention_ms=7 * 86_400_000,
                metadata_max_age=3600,
            )
        c0 = time.process_time()
        for consumer in consumers.values():
            if not await consumer.refresh_metadata():
                raise RuntimeError(f"{consumer.venue}: no metadata from the fake")
        metadata_cpu = time.process_time() - c0
        samples, whole = await _rounds(consumers, rounds)

    def med(values: list[float]) -> float:
        return statistics.median(values) * 1000

    costs = []
    for venue, rows in samples.items():
        info = _newest_file(root / venue).stat()
        last = consumers[venue].last_quotes
        costs.append(
            VenueCost(
                venue=venue,
                symbols=len(last.quotes) if last is not None else 0,
                poll_cpu_ms=med([r[0] for r in rows]),
                write_cpu_ms=med([r[1] for r in rows]),
                cycle_cpu_ms=med([r[0] + r[1] for r in rows]),
                cycle_wall_ms=med([r[2] for r in rows]),
                file_bytes=info.st_size,
                file_allocated=info.st_blocks * 512,
            )
        )
    return Result(
        label=label,
        rounds=rounds,
        venues=tuple(costs),
        round_cpu_ms=med([w[0] for w in whole]),
        round_wall_ms=med([w[1] for w in whole]),
        metadata_cpu_ms=metadata_cpu * 1000,
    )


def measure(label: str, bodies: Bodies, rounds: int) -> Result:
    """Serve `bodies` (empty: the recordings), run the rounds into bench/out/, clean up."""
    root = OUT / "venues-consumer"
    shutil.rmtree(root, ignore_errors=True)
    try:
        with fake_venues(bodies) as urls:
            return asyncio.run(_measure(label, urls, rounds, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- the report ------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def render(results: list[Result]) -> str:
    """One Markdown table per payload set, and the verdicts."""
    rounds = results[0].rounds
    lines = [
        f"One poll + one snapshot of each venue against the fakes, median of {rounds} rounds "
        f"after {WARMUP} warm-up rounds; CPU is `time.process_time()` (every thread of the "
        "measuring process; the fakes run in another). 7-day store: one file per venue x "
        f"{SNAPSHOTS_7D:,} snapshots, extrapolated exactly (against the fakes every file of "
        "a venue has the same size), not generated.",
    ]
    for result in results:
        lines += [
            "",
            f"**{result.label}**",
            "",
            "| venue | symbols | poll CPU | snapshot CPU | poll + snapshot CPU | wall "
            "| bytes per file | 7-day store (apparent / allocated) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in result.venues:
            lines.append(
                f"| {c.venue} | {c.symbols:,} | {c.poll_cpu_ms:.2f} ms | {c.write_cpu_ms:.2f} ms "
                f"| {c.cycle_cpu_ms:.2f} ms | {c.cycle_wall_ms:.1f} ms | {c.file_bytes:,} "
                f"| {_mb(c.file_bytes * SNAPSHOTS_7D)} / {_mb(c.file_allocated * SNAPSHOTS_7D)} |"
            )
        size = sum(c.file_bytes for c in result.venues)
        allocated = sum(c.file_allocated for c in result.venues)
        verdict = "meets" if result.round_cpu_ms < TARGET_MS else "misses"
        lines += [
            f"| **one round, all four** | {sum(c.symbols for c in result.venues):,} | | "
            f"| **{result.round_cpu_ms:.2f} ms** | {result.round_wall_ms:.1f} ms | {size:,} "
            f"| **{_mb(size * SNAPSHOTS_7D)} / {_mb(allocated * SNAPSHOTS_7D)}** |",
            "",
            f"Target < {TARGET_MS:g} ms CPU per round: {verdict} ({result.round_cpu_ms:.2f} ms). "
            f"Metadata of all four (hourly): {result.metadata_cpu_ms:.1f} ms CPU.",
        ]
    if len(results) == 2:
        small, full = ({c.venue: c for c in r.venues} for r in results)
        marginal = []
        for v, c in small.items():
            if full[v].symbols > c.symbols:
                extra = (full[v].cycle_cpu_ms - c.cycle_cpu_ms) / (full[v].symbols - c.symbols)
                marginal.append(f"{v} {1000 * extra:.1f} µs")
        lines += [
            "",
            "CPU per extra symbol (full size less recorded): " + ", ".join(marginal) + ".",
        ]
    lines += [
        "",
        "Snapshot CPU includes the history index append (`DATA_DIR/.history`), which the "
        "7-day figures leave out: against prices that never change it stays unrepresentatively "
        "small (`bench/history.py` measures it on a moving store).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CPU and store size of the four-venue consumer.")
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds (default 30)")
    args = parser.parse_args(argv)
    # The consumer's INFO lines (one per snapshot) are formatted as in production, then dropped.
    with open(os.devnull, "w") as devnull:
        logging.basicConfig(level=logging.INFO, stream=devnull, force=True)
        results = [
            measure("Recorded payloads (Kraken 39, Bybit 50, OKX 50 symbols)", {}, args.rounds),
            measure(
                f"Full size: Kraken, Bybit and OKX at {FULL_SIZE:,} symbols each (synthetic)",
                full_size_bodies(),
                args.rounds,
            ),
        ]
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
