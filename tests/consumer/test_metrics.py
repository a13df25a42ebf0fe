"""The consumer's service metrics: what the jobs report, read back from the registry and /metrics.

A real QuoteConsumer polls the fake Binance with a clock the test moves; the
metrics observe it. Counts are checked against what the test did (one
outcome per poll) and against the log lines of the same episode.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
import urllib.request
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from consumer.errors import OUTCOMES
from consumer.exchanges import REGISTRY
from consumer.exchanges._model import SKIP_REASONS
from consumer.metrics import ConsumerMetrics, MetricsServer, StoreScanner, consumer_registry
from consumer.service import Clock, QuoteConsumer
from storage.writer import SnapshotWriter
from tests.fake_exchange import FakeBinance, Fault
from tests.procs import free_port
from tests.promtool import check_metrics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"
T0 = 1_795_304_160_123


class FakeClock:
    def __init__(self) -> None:
        self.wall, self.mono = T0, 100.0

    def advance(self, seconds: float) -> None:
        self.wall += round(seconds * 1000)
        self.mono += seconds


@pytest.fixture
def time_() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry, tmp_path: Path, time_: FakeClock) -> ConsumerMetrics:
    return ConsumerMetrics(registry, ("binance",), tmp_path / "data", monotonic=lambda: time_.mono)


@pytest.fixture
def writer(tmp_path: Path) -> SnapshotWriter:
    w = SnapshotWriter(tmp_path / "data", "binance")
    w.ensure_directory()
    return w


@pytest.fixture
async def consumer(
    fake_exchange: FakeBinance, writer: SnapshotWriter, time_: FakeClock, metrics: ConsumerMetrics
) -> AsyncIterator[QuoteConsumer]:
    async with httpx.AsyncClient(base_url=fake_exchange.base_url, timeout=1.0) as client:
        yield QuoteConsumer(
            adapter=REGISTRY["binance"],
            client=client,
            writer=writer,
            retention_ms=86_400_000,
            metadata_max_age=3600.0,
            clock=Clock(wall_ms=lambda: time_.wall, monotonic=lambda: time_.mono),
            observer=metrics,
        )


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"exchange": "binance", **labels})


def polls(registry: CollectorRegistry) -> dict[str, float]:
    return {
        label: value(registry, "crypto_converter_polls_total", outcome=label) or 0.0
        for label in OUTCOMES
    }


def expected_skips() -> dict[str, int]:
    """Each bookTicker entry's fate by the spec's rules, recomputed from the fixture JSON."""
    info = json.loads((FIXTURES / "exchangeInfo_2023-08-13.trimmed.json").read_bytes())
    status = {s["symbol"]: s["status"] for s in info["symbols"]}
    counts = dict.fromkeys(SKIP_REASONS, 0)
    for e in json.loads((FIXTURES / "bookTicker_from_ticker_24hr_2023-03-10.json").read_bytes()):
        if e["symbol"] not in status:
            counts["not_listed"] += 1
        elif status[e["symbol"]] != "TRADING":
            counts["not_quotable"] += 1
        else:
            try:
                bid, ask = Decimal(e["bidPrice"]), Decimal(e["askPrice"])
            except InvalidOperation:
                counts["bad_price"] += 1
                continue
            if bid <= 0 or ask <= 0:
                counts["empty_book"] += 1
            elif bid > ask:
                counts["crossed"] += 1
    return counts


async def test_a_good_poll_counts_ok_and_the_quotable_and_skipped_symbols(
    consumer: QuoteConsumer, registry: CollectorRegistry
) -> None:
    """One poll: ok +1, its duration observed once, 1261 quotable, skips by reason."""
    assert await consumer.poll() is True
    assert polls(registry) == {label: float(label == "ok") for label in OUTCOMES}
    assert value(registry, "crypto_converter_poll_duration_seconds_count") == 1
    assert value(registry, "crypto_converter_quotable_symbols") == 1261
    skips = {
        reason: value(registry, "crypto_converter_skipped_symbols", reason=reason)
        for reason in SKIP_REASONS
    }
    assert skips == {reason: float(n) for reason, n in expected_skips().items()}


async def test_a_fault_episode_is_counted_once_per_poll_and_the_logs_agree(
    fake_exchange: FakeBinance,
    consumer: QuoteConsumer,
    registry: CollectorRegistry,
    time_: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """3 polls answered 500, then recovery: http_5xx 3, ok 2; one failure and one recovery log."""
    caplog.set_level(logging.INFO, logger="consumer.service")
    await consumer.poll()
    fake_exchange.set_fault(Fault.HTTP_500)
    for _ in range(3):
        time_.advance(10)
        assert await consumer.poll() is False
    fake_exchange.clear_fault()
    time_.advance(10)
    assert await consumer.poll() is True
    counted = polls(registry)
    assert counted["http_5xx"] == 3
    assert counted["ok"] == 2
    assert sum(counted.values()) == 5
    assert value(registry, "crypto_converter_poll_duration_seconds_count") == 5
    lines = [r.getMessage() for r in caplog.records if r.name == "consumer.service"]
    failed = [line for line in lines if "poll failed" in line]
    recovered = [line for line in lines if "recovered after" in line]
    assert len(failed) == 1
    assert "500" in failed[0]
    assert recovered == [recovered[0]]
    assert f"after {int(counted['http_5xx'])} failed attempt(s)" in recovered[0]


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (Fault.HTTP_429, "rate_limited"),
        (Fault.HTTP_418, "rate_limited"),
        (Fault.HTTP_451, "restricted"),
        (Fault.HTTP_400, "http_4xx"),
        (Fault.GARBAGE, "bad_body"),
        (Fault.WRONG_SHAPE, "bad_body"),
        (Fault.TRUNCATED, "unavailable"),
        (Fault.REFUSED, "unavailable"),
    ],
)
async def test_each_failure_is_counted_under_its_outcome(
    fake_exchange: FakeBinance,
    consumer: QuoteConsumer,
    registry: CollectorRegistry,
    time_: FakeClock,
    fault: Fault,
    outcome: str,
) -> None:
    """A failed poll increments exactly its outcome class, once."""
    await consumer.poll()
    fake_exchange.set_fault(fault)
    time_.advance(10)
    await consumer.poll()
    assert polls(registry) == {
        label: float(label == "ok") + (label == outcome) for label in OUTCOMES
    }


async def test_pause_remaining_is_computed_at_scrape_time(
    fake_exchange: FakeBinance,
    consumer: QuoteConsumer,
    registry: CollectorRegistry,
    time_: FakeClock,
) -> None:
    """After a 429 with Retry-After 40: 40 s left, 25 s after 15 s, 0 once it ended."""
    pause = "crypto_converter_rate_limit_pause_remaining_seconds"
    assert value(registry, pause) == 0
    fake_exchange.set_fault(Fault.HTTP_429, retry_after=40)
    await consumer.poll()
    assert value(registry, pause) == 40
    time_.advance(15)
    assert value(registry, pause) == 25
    assert await consumer.poll() is False  # skipped: not a poll, not counted
    assert sum(polls(registry).values()) == 1
    time_.advance(30)
    assert value(registry, pause) == 0


async def test_snapshots_written_and_the_time_of_the_last(
    consumer: QuoteConsumer, registry: CollectorRegistry, time_: FakeClock
) -> None:
    """Each write counts once; the last snapshot time is its quote time in Unix seconds."""
    await consumer.poll()
    time_.advance(10)
    await consumer.poll()
    await consumer.write_snapshot()
    assert value(registry, "crypto_converter_snapshots_written_total") == 2
    assert (
        value(registry, "crypto_converter_last_snapshot_timestamp_seconds") == (T0 + 10_000) / 1000
    )
    assert value(registry, "crypto_converter_snapshot_write_duration_seconds_count") == 2


async def test_retention_deletions_are_counted(
    consumer: QuoteConsumer, registry: CollectorRegistry, writer: SnapshotWriter, time_: FakeClock
) -> None:
    """Snapshots older than retention deleted by cleanup add to the counter."""
    await consumer.poll()
    time_.advance(10)
    await consumer.poll()
    await consumer.write_snapshot()
    time_.advance(86_400 + 5)  # both are now older than one day
    assert await consumer.cleanup() == 2
    assert value(registry, "crypto_converter_retention_deletions_total") == 2


def test_store_bytes_and_files_are_the_snapshot_files_on_disk(tmp_path: Path) -> None:
    """Sizes of *Z.json files only (no temporaries), re-listed at every scrape."""
    folder = tmp_path / "binance"
    folder.mkdir()
    (folder / "20261121T233600.123Z.json").write_bytes(b"x" * 100)
    (folder / "20261121T233630.123Z.json").write_bytes(b"y" * 50)
    (folder / ".tmp-20261121T233700.000Z.json.abcd").write_bytes(b"z" * 999)
    scanner = StoreScanner(tmp_path, ("binance", "kraken"))
    assert scanner.scan() == {"binance": (150, 2), "kraken": (0, 0)}
    (folder / "20261121T233600.123Z.json").unlink()
    (folder / "20261121T233700.123Z.json").write_bytes(b"w" * 7)
    assert scanner.scan()["binance"] == (57, 2)
    shutil.rmtree(folder)
    assert scanner.scan()["binance"] == (0, 0)


def test_store_scan_reuses_an_unchanged_directory_and_sees_a_new_file(tmp_path: Path) -> None:
    """A directory whose (old) mtime did not move is not re-listed; a new file moves it."""
    folder = tmp_path / "binance"
    folder.mkdir()
    (folder / "20261121T233600.123Z.json").write_bytes(b"x" * 10)
    past = time.time() - 60
    os.utime(folder, (past, past))
    scanner = StoreScanner(tmp_path, ("binance",))
    assert scanner.scan() == {"binance": (10, 1)}
    (folder / "20261121T233600.123Z.json").write_bytes(b"x" * 99)  # in place: no dir change
    assert scanner.scan() == {"binance": (10, 1)}  # snapshot files never change in place
    (folder / "20261121T233630.123Z.json").write_bytes(b"y" * 5)
    assert scanner.scan() == {"binance": (15, 2)}


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text: str = response.read().decode()
        return text


async def test_metrics_server_serves_the_registry_and_promtool_accepts_it(
    consumer: QuoteConsumer, tmp_path: Path
) -> None:
    """GET /metrics answers the text format; `promtool check metrics` finds no problem."""
    registry = consumer_registry()
    metrics = ConsumerMetrics(registry, ("binance", "kraken"), tmp_path / "data")
    consumer.observer = metrics
    await consumer.poll()
    server = MetricsServer(registry, "127.0.0.1", free_port())
    try:
        text = await asyncio.to_thread(scrape, server.port)
    finally:
        server.close()
    assert 'crypto_converter_polls_total{exchange="binance",outcome="ok"} 1.0' in text
    assert 'crypto_converter_polls_total{exchange="kraken",outcome="timeout"} 0.0' in text
    assert 'crypto_converter_store_files{exchange="binance"} 1.0' in text
    assert "process_resident_memory_bytes" in text
    await asyncio.to_thread(check_metrics, text)


def test_label_values_are_bounded(metrics: ConsumerMetrics, registry: CollectorRegistry) -> None:
    """Only configured venues, the closed outcome set and the skip reasons appear as labels."""
    seen: dict[str, set[str]] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            for name, label in sample.labels.items():
                seen.setdefault(name, set()).add(label)
    allowed: dict[str, Any] = {
        "exchange": {"binance"},
        "outcome": set(OUTCOMES),
        "reason": set(SKIP_REASONS),
        "le": None,
    }
    assert set(seen) <= set(allowed)
    for name, labels in seen.items():
        if allowed[name] is not None:
            assert labels <= allowed[name], name
