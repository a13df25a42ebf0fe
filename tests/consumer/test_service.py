"""QuoteConsumer's jobs against the fake exchange, with a clock the test controls.

Real httpx client, real fake exchange on loopback, real SnapshotWriter on
tmp_path; only time is injected (wall ms for names, monotonic for waits).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from consumer.exchanges import REGISTRY
from consumer.service import Clock, QuoteConsumer
from storage.codec import decode, filename_for
from storage.writer import TEMP_PREFIX, SnapshotWriter
from tests.fake_exchange import BOOK_TICKER_PATH, EXCHANGE_INFO_PATH, FakeBinance, Fault

T0 = 1_795_304_160_123  # 2026-11-21T23:36:00.123Z
RETENTION_MS = 7 * 86_400_000
LOGGER = "consumer.service"


class FakeClock:
    """Wall ms and monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.wall = T0
        self.mono = 100.0

    def advance(self, seconds: float) -> None:
        self.wall += round(seconds * 1000)
        self.mono += seconds

    def clock(self) -> Clock:
        return Clock(wall_ms=lambda: self.wall, monotonic=lambda: self.mono)


@pytest.fixture
def time_() -> FakeClock:
    return FakeClock()


@pytest.fixture
def writer(tmp_path: Path) -> SnapshotWriter:
    w = SnapshotWriter(tmp_path / "data", "binance")
    w.ensure_directory()
    return w


@pytest.fixture
async def consumer(
    fake_exchange: FakeBinance, writer: SnapshotWriter, time_: FakeClock
) -> AsyncIterator[QuoteConsumer]:
    async with httpx.AsyncClient(base_url=fake_exchange.base_url, timeout=1.0) as client:
        yield QuoteConsumer(
            adapter=REGISTRY["binance"],
            client=client,
            writer=writer,
            retention_ms=RETENTION_MS,
            metadata_max_age=3600.0,
            clock=time_.clock(),
        )


def snapshot_names(writer: SnapshotWriter) -> list[str]:
    return sorted(p.name for p in writer.directory.iterdir())


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


# -- polling and writing ----------------------------------------------------------


async def test_first_successful_poll_writes_at_once(
    consumer: QuoteConsumer, writer: SnapshotWriter, fake_exchange: FakeBinance
) -> None:
    """The first poll fetches metadata and quotes and writes a snapshot without waiting."""
    assert await consumer.poll() is True
    assert snapshot_names(writer) == [filename_for(T0)]
    snap = decode((writer.directory / filename_for(T0)).read_bytes(), T0)
    assert len(snap.quotes) == 1261
    doc = orjson.loads((writer.directory / filename_for(T0)).read_bytes())
    assert doc["symbols"]["BTCUSDT"] == [
        "BTC",
        "USDT",
        "19979.51000000",
        "19980.18000000",
        "0.00455000",
        "0.06696000",
    ]
    assert [r.path for r in fake_exchange.requests] == [EXCHANGE_INFO_PATH, BOOK_TICKER_PATH]
    assert consumer.snapshots_written == 1
    assert consumer.pending is None


async def test_later_polls_wait_for_the_snapshot_job(
    consumer: QuoteConsumer, writer: SnapshotWriter, time_: FakeClock
) -> None:
    """After the first, polls only refresh the pending quotes; write_snapshot writes the newest."""
    await consumer.poll()
    time_.advance(10)
    await consumer.poll()
    time_.advance(10)
    await consumer.poll()
    assert snapshot_names(writer) == [filename_for(T0)]
    assert await consumer.write_snapshot() is True
    assert snapshot_names(writer) == [filename_for(T0), filename_for(T0 + 20_000)]


async def test_nothing_new_writes_nothing(
    consumer: QuoteConsumer, writer: SnapshotWriter, time_: FakeClock
) -> None:
    """write_snapshot without quotes fetched since the last one writes nothing (no re-stamping)."""
    assert await consumer.write_snapshot() is False  # nothing fetched yet
    await consumer.poll()
    time_.advance(30)
    assert await consumer.write_snapshot() is False
    assert await consumer.write_snapshot() is False
    assert snapshot_names(writer) == [filename_for(T0)]


async def test_fault_writes_nothing_and_logs_once_per_episode(
    consumer: QuoteConsumer,
    writer: SnapshotWriter,
    fake_exchange: FakeBinance,
    time_: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A run of failed polls: no snapshot, one ERROR line; then one INFO 'recovered' line."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    await consumer.poll()
    caplog.clear()
    fake_exchange.set_fault(Fault.HTTP_500)
    for _ in range(5):
        time_.advance(10)
        assert await consumer.poll() is False
        assert await consumer.write_snapshot() is False
    assert snapshot_names(writer) == [filename_for(T0)]
    errors = records(caplog, logging.ERROR)
    assert len(errors) == 1
    assert errors[0].startswith("binance poll failed: GET /api/v3/ticker/bookTicker answered 500")
    assert records(caplog, logging.INFO) == []

    fake_exchange.clear_fault()
    time_.advance(10)
    assert await consumer.poll() is True
    infos = records(caplog, logging.INFO)
    assert infos == ["binance poll recovered after 5 failed attempt(s) over 50.0s"]
    assert await consumer.write_snapshot() is True
    assert snapshot_names(writer)[-1] == filename_for(T0 + 60_000)
    assert len(records(caplog, logging.ERROR)) == 1


async def test_a_new_cause_is_logged_once_more(
    consumer: QuoteConsumer,
    fake_exchange: FakeBinance,
    time_: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Within one episode, a change of cause is logged once; repeats of it are not."""
    await consumer.poll()
    fake_exchange.set_fault(Fault.HTTP_500)
    for fault in (Fault.HTTP_500, Fault.TRUNCATED, Fault.TRUNCATED, Fault.GARBAGE, Fault.GARBAGE):
        fake_exchange.set_fault(fault)
        time_.advance(10)
        assert await consumer.poll() is False
    errors = records(caplog, logging.ERROR)
    assert len(errors) == 3
    assert "answered 500" in errors[0]
    assert errors[1].startswith("binance poll still failing, now: ")
    assert "not JSON" in errors[2]


async def test_failure_at_start_writes_nothing_until_it_clears(
    consumer: QuoteConsumer,
    writer: SnapshotWriter,
    fake_exchange: FakeBinance,
    time_: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If the exchange is down at start, nothing is written; the first success writes at once."""
    fake_exchange.set_fault(Fault.REFUSED)
    assert await consumer.poll() is False
    assert await consumer.write_snapshot() is False
    assert snapshot_names(writer) == []
    fake_exchange.clear_fault()
    time_.advance(10)
    assert await consumer.poll() is True
    assert snapshot_names(writer) == [filename_for(T0 + 10_000)]
    assert len(records(caplog, logging.ERROR)) == 1


@pytest.mark.parametrize("fault", [Fault.HTTP_429, Fault.HTTP_418])
async def test_retry_after_is_honoured(
    fault: Fault,
    consumer: QuoteConsumer,
    fake_exchange: FakeBinance,
    time_: FakeClock,
) -> None:
    """After a 429/418 with Retry-After 30, no request reaches the exchange for 30 s."""
    await consumer.poll()
    fake_exchange.set_fault(fault, retry_after=30)
    assert await consumer.poll() is False
    limited_at = len(fake_exchange.requests)
    fake_exchange.clear_fault()  # the exchange would answer now, but we must not ask
    for step in (1, 10, 29.9):
        time_.mono = 100.0 + step
        assert await consumer.poll() is False
        assert await consumer.refresh_metadata() is False
        assert await consumer.refresh_metadata(force=False) is True  # still fresh: no request
    assert len(fake_exchange.requests) == limited_at
    time_.mono = 130.0
    assert await consumer.poll() is True
    assert len(fake_exchange.requests) == limited_at + 1


async def test_rate_limit_at_start_blocks_metadata_too(
    consumer: QuoteConsumer, fake_exchange: FakeBinance, time_: FakeClock
) -> None:
    """A 429 on exchangeInfo at start also stops every request until Retry-After has passed."""
    fake_exchange.set_fault(Fault.HTTP_429, endpoint=EXCHANGE_INFO_PATH, retry_after=5)
    assert await consumer.poll() is False
    fake_exchange.clear_fault()
    time_.mono += 4.99
    assert await consumer.poll() is False
    assert len(fake_exchange.requests) == 1
    time_.mono += 0.01
    assert await consumer.poll() is True
    assert [r.path for r in fake_exchange.requests][1:] == [EXCHANGE_INFO_PATH, BOOK_TICKER_PATH]


async def test_polls_do_not_overlap(consumer: QuoteConsumer, fake_exchange: FakeBinance) -> None:
    """A poll started while another is in flight returns at once without a request."""
    fake_exchange.set_fault(Fault.SLOW, endpoint=BOOK_TICKER_PATH, delay=0.3)
    task = asyncio.ensure_future(consumer.poll())
    for _ in range(200):  # the first poll's request reaches the fake within 2 s
        if fake_exchange.requests_to(BOOK_TICKER_PATH):
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the first poll never reached the fake exchange")
    assert await consumer.poll() is False
    assert await task is True
    assert len(fake_exchange.requests_to(BOOK_TICKER_PATH)) == 1


# -- metadata ---------------------------------------------------------------------


async def test_metadata_refresh_honours_its_max_age(
    consumer: QuoteConsumer, fake_exchange: FakeBinance, time_: FakeClock
) -> None:
    """refresh_metadata(force=False) refetches only once metadata_max_age has passed."""
    await consumer.poll()
    assert len(fake_exchange.requests_to(EXCHANGE_INFO_PATH)) == 1
    time_.mono += 3599.9
    assert await consumer.refresh_metadata(force=False) is True
    assert len(fake_exchange.requests_to(EXCHANGE_INFO_PATH)) == 1
    time_.mono += 0.1
    assert await consumer.refresh_metadata(force=False) is True
    assert len(fake_exchange.requests_to(EXCHANGE_INFO_PATH)) == 2
    assert await consumer.refresh_metadata() is True  # the scheduled job forces it
    assert len(fake_exchange.requests_to(EXCHANGE_INFO_PATH)) == 3


async def test_polls_reuse_metadata(consumer: QuoteConsumer, fake_exchange: FakeBinance) -> None:
    """exchangeInfo (weight 20) is fetched once, not on every poll."""
    for _ in range(3):
        await consumer.poll()
    assert len(fake_exchange.requests_to(EXCHANGE_INFO_PATH)) == 1
    assert len(fake_exchange.requests_to(BOOK_TICKER_PATH)) == 3


async def test_failed_metadata_refresh_keeps_the_old_metadata(
    consumer: QuoteConsumer, fake_exchange: FakeBinance, time_: FakeClock, writer: SnapshotWriter
) -> None:
    """When a refresh fails, polling goes on with the metadata already known."""
    await consumer.poll()
    known = consumer.metadata
    fake_exchange.set_fault(Fault.HTTP_500, endpoint=EXCHANGE_INFO_PATH)
    assert await consumer.refresh_metadata() is False
    assert consumer.metadata is known
    time_.advance(10)
    assert await consumer.poll() is True
    assert await consumer.write_snapshot() is True
    assert len(snapshot_names(writer)) == 2


# -- the disk ---------------------------------------------------------------------


async def test_write_failure_keeps_the_quotes_and_logs_once(
    consumer: QuoteConsumer,
    writer: SnapshotWriter,
    time_: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failed write logs one ERROR, keeps the pending quotes, and retries them next time."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    writer.directory.rmdir()
    writer.directory.write_text("in the way")
    assert await consumer.poll() is True  # the fetch worked; the write did not
    assert await consumer.write_snapshot() is False
    assert consumer.pending is not None
    assert consumer.pending.fetched_ms == T0
    errors = records(caplog, logging.ERROR)
    assert len(errors) == 1
    assert errors[0].startswith("binance snapshot write failed: cannot write")
    writer.directory.unlink()
    writer.ensure_directory()
    time_.advance(1)
    assert await consumer.write_snapshot() is True
    assert snapshot_names(writer) == [filename_for(T0)]  # the quotes' own time, not now
    assert any(
        m.startswith("binance snapshot write recovered") for m in records(caplog, logging.INFO)
    )


# -- retention --------------------------------------------------------------------


async def test_cleanup_deletes_only_snapshots_past_retention(
    consumer: QuoteConsumer, writer: SnapshotWriter, caplog: pytest.LogCaptureFixture
) -> None:
    """cleanup deletes snapshots fetched more than RETENTION before now, and says how many."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    cutoff = T0 - RETENTION_MS
    times = (cutoff - 60_000, cutoff - 1, cutoff, cutoff + 1, T0)
    for ms in times:
        (writer.directory / filename_for(ms)).write_bytes(b"{}")
    (writer.directory / f"{TEMP_PREFIX}{filename_for(cutoff - 5)}.ab").write_bytes(b"")
    assert await consumer.cleanup() == 2
    assert snapshot_names(writer) == sorted(
        [f"{TEMP_PREFIX}{filename_for(cutoff - 5)}.ab", *(filename_for(ms) for ms in times[2:])]
    )
    assert records(caplog, logging.INFO) == [
        "binance: retention deleted 2 snapshot(s) older than 2026-11-14T23:36:00.123Z"
    ]
    assert await consumer.cleanup() == 0


async def test_cleanup_failure_is_logged_not_raised(
    consumer: QuoteConsumer, writer: SnapshotWriter, caplog: pytest.LogCaptureFixture
) -> None:
    """A retention pass that cannot list the directory logs one ERROR and returns 0."""
    writer.directory.rmdir()
    writer.directory.write_text("in the way")
    assert await consumer.cleanup() == 0
    assert await consumer.cleanup() == 0
    errors = records(caplog, logging.ERROR)
    assert len(errors) == 1
    assert errors[0].startswith("binance retention failed")
