"""One venue's market jobs against the fake Binance, read back from the Prometheus registry.

Real QuoteConsumer, real httpx client, real fake on loopback; only time is
injected. Every expected figure is recomputed here from the fixture JSON
(`json`, `fractions.Fraction`), and the gauges must show exactly those
figures converted to float once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from consumer.exchanges import REGISTRY
from consumer.market.gauges import MarketGauges
from consumer.market.jobs import MarketJobs, market_adapter
from consumer.service import Clock, QuoteConsumer
from storage.writer import SnapshotWriter
from tests.fake_exchange import (
    BOOK_TICKER_PATH,
    DEPTH_PATH,
    TICKER_24HR_PATH,
    FakeBinance,
    Fault,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"
INFO: dict[str, Any] = json.loads((FIXTURES / "exchangeInfo_2023-08-13.trimmed.json").read_bytes())
TICKER_24HR: list[dict[str, Any]] = json.loads(
    (FIXTURES / "ticker_24hr_2023-03-10.json").read_bytes()
)
BOOK_TICKER: list[dict[str, Any]] = json.loads(
    (FIXTURES / "bookTicker_from_ticker_24hr_2023-03-10.json").read_bytes()
)
DEEP_BOOK = (FIXTURES / "depth_LRCBTC_limit1000_2021-10-12.json").read_bytes()
TRADING = {s["symbol"]: s["quoteAsset"] for s in INFO["symbols"] if s["status"] == "TRADING"}
TOPS = {e["symbol"]: e for e in BOOK_TICKER}


def quotable(entry: dict[str, Any]) -> bool:
    top = TOPS.get(entry["symbol"])
    return top is not None and 0 < Fraction(top["bidPrice"]) <= Fraction(top["askPrice"])


def expected_ranking(quote: str, figure: str, ticker: list[dict[str, Any]]) -> list[str]:
    rows = [
        (e["symbol"], Fraction(e[figure]))
        for e in ticker
        if TRADING.get(e["symbol"]) == quote and quotable(e)
    ]
    rows.sort(key=lambda row: (-row[1], row[0]))
    return [symbol for symbol, _ in rows[:5]]


class FakeClock:
    def __init__(self) -> None:
        self.wall, self.mono = 1_795_304_160_123, 100.0

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
async def consumer(
    fake_exchange: FakeBinance, tmp_path: Path, time_: FakeClock
) -> AsyncIterator[QuoteConsumer]:
    writer = SnapshotWriter(tmp_path / "data", "binance")
    writer.ensure_directory()
    async with httpx.AsyncClient(base_url=fake_exchange.base_url, timeout=1.0) as client:
        yield QuoteConsumer(
            adapter=REGISTRY["binance"],
            client=client,
            writer=writer,
            retention_ms=86_400_000,
            metadata_max_age=3600.0,
            clock=Clock(wall_ms=lambda: time_.wall, monotonic=lambda: time_.mono),
        )


@pytest.fixture
def jobs(consumer: QuoteConsumer, registry: CollectorRegistry) -> MarketJobs:
    adapter = market_adapter(consumer.adapter)
    assert adapter is not None
    return MarketJobs(consumer, adapter, MarketGauges(registry), stats_every=300, depth_every=60)


def gauge(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"exchange": "binance", **labels})


def series(registry: CollectorRegistry, name: str) -> set[tuple[tuple[str, str], ...]]:
    return {
        tuple(sorted(s.labels.items()))
        for metric in registry.collect()
        for s in metric.samples
        if s.name == name
    }


async def test_rankings_equal_the_recorded_ticker(
    consumer: QuoteConsumer, jobs: MarketJobs, registry: CollectorRegistry
) -> None:
    """Both top 5s, among the polled quotable symbols, exact before the gauge and as gauges."""
    await consumer.poll()
    assert await jobs.refresh_stats() is True
    by_volume = expected_ranking("BTC", "quoteVolume", TICKER_24HR)
    by_trades = expected_ranking("USDT", "count", TICKER_24HR)
    assert [r.symbol for r in jobs.by_volume] == by_volume
    assert [r.symbol for r in jobs.by_trades or ()] == by_trades
    volumes = {e["symbol"]: e["quoteVolume"] for e in TICKER_24HR}
    counts = {e["symbol"]: e["count"] for e in TICKER_24HR}
    for rank, symbol in enumerate(by_volume, 1):
        exact = jobs.by_volume[rank - 1].value
        assert Fraction(exact) == Fraction(volumes[symbol])
        value = gauge(
            registry,
            "crypto_market_top_symbol",
            ranking="btc_quote_volume",
            rank=str(rank),
            symbol=symbol,
        )
        assert value == float(Decimal(volumes[symbol]))
    for rank, symbol in enumerate(by_trades, 1):
        labels = {"ranking": "usdt_trades", "rank": str(rank), "symbol": symbol}
        assert gauge(registry, "crypto_market_top_symbol", **labels) == counts[symbol]
    assert len(series(registry, "crypto_market_top_symbol")) == 10


async def test_book_notionals_of_the_btc_leaders(
    fake_exchange: FakeBinance,
    consumer: QuoteConsumer,
    jobs: MarketJobs,
    registry: CollectorRegistry,
) -> None:
    """Σ price × qty of the top 200 levels a side, exact, for each BTC leader's served book."""
    leader = expected_ranking("BTC", "quoteVolume", TICKER_24HR)[0]
    fake_exchange.set_depth_body(leader, DEEP_BOOK)  # a recorded 1000-level book
    await consumer.poll()
    await jobs.refresh_stats()  # new leaders: their books are fetched at once
    requested = [r.query for r in fake_exchange.requests_to(DEPTH_PATH)]
    assert requested == [f"symbol={r.symbol}&limit=200" for r in jobs.by_volume]
    deep = json.loads(DEEP_BOOK)
    for ranked in jobs.by_volume:
        if ranked.symbol == leader:
            bids = sum(Fraction(p) * Fraction(q) for p, q in deep["bids"][:200])
            asks = sum(Fraction(p) * Fraction(q) for p, q in deep["asks"][:200])
        else:  # the fake derives a one-level book from the top of book
            top = TOPS[ranked.symbol]
            bids = Fraction(top["bidPrice"]) * Fraction(top["bidQty"])
            asks = Fraction(top["askPrice"]) * Fraction(top["askQty"])
        exact_bids, exact_asks = jobs.notionals[ranked.symbol]
        assert (Fraction(exact_bids), Fraction(exact_asks)) == (bids, asks)
        got_bids = gauge(registry, "crypto_market_book_notional", symbol=ranked.symbol, side="bid")
        got_asks = gauge(registry, "crypto_market_book_notional", symbol=ranked.symbol, side="ask")
        assert (got_bids, got_asks) == (float(exact_bids), float(exact_asks))


async def test_spreads_and_changes_across_two_polls_with_changed_prices(
    fake_exchange: FakeBinance,
    consumer: QuoteConsumer,
    jobs: MarketJobs,
    registry: CollectorRegistry,
    time_: FakeClock,
) -> None:
    """ask − bid for the USDT leaders, then again after prices ×1.5, with |change|."""
    await consumer.poll()
    await jobs.refresh_stats()
    assert jobs.update_spreads() is True
    leaders = expected_ranking("USDT", "count", TICKER_24HR)
    first = {s: Fraction(TOPS[s]["askPrice"]) - Fraction(TOPS[s]["bidPrice"]) for s in leaders}
    assert {s: Fraction(v) for s, v in jobs.spreads.items()} == first
    assert series(registry, "crypto_market_spread_abs_change") == set()  # nothing to compare yet
    for symbol in leaders:
        assert gauge(registry, "crypto_market_spread", symbol=symbol) == float(jobs.spreads[symbol])

    fake_exchange.set_price_factor(Decimal("1.5"))
    time_.advance(10)
    await consumer.poll()
    assert jobs.update_spreads() is True
    second = {s: v * Fraction(3, 2) for s, v in first.items()}
    assert {s: Fraction(v) for s, v in jobs.spreads.items()} == second
    for symbol in leaders:
        change = jobs.changes[symbol]
        assert Fraction(change) == abs(second[symbol] - first[symbol])
        assert gauge(registry, "crypto_market_spread_abs_change", symbol=symbol) == float(change)
        assert gauge(registry, "crypto_market_spread", symbol=symbol) == float(jobs.spreads[symbol])
    assert jobs.update_spreads() is False  # no poll since: the figures stand


async def test_a_symbol_leaving_a_ranking_leaves_every_gauge(
    fake_exchange: FakeBinance,
    consumer: QuoteConsumer,
    jobs: MarketJobs,
    registry: CollectorRegistry,
    time_: FakeClock,
) -> None:
    """When a leader drops out, its rank, notional and spread series are removed."""
    await consumer.poll()
    await jobs.refresh_stats()
    jobs.update_spreads()
    btc_out = jobs.by_volume[0].symbol
    usdt_out = (jobs.by_trades or ())[0].symbol
    changed = [
        {**e, "quoteVolume": "0.00000000"}
        if e["symbol"] == btc_out
        else {**e, "count": 0}
        if e["symbol"] == usdt_out
        else e
        for e in TICKER_24HR
    ]
    fake_exchange.set_body(TICKER_24HR_PATH, json.dumps(changed).encode())
    time_.advance(300)
    assert await jobs.refresh_stats() is True
    assert [r.symbol for r in jobs.by_volume] == expected_ranking("BTC", "quoteVolume", changed)
    names = {dict(labels)["symbol"] for labels in series(registry, "crypto_market_top_symbol")}
    assert btc_out not in names
    assert usdt_out not in names
    notional = {dict(x)["symbol"] for x in series(registry, "crypto_market_book_notional")}
    assert notional == {r.symbol for r in jobs.by_volume}
    assert usdt_out not in {dict(x)["symbol"] for x in series(registry, "crypto_market_spread")}
    assert len(series(registry, "crypto_market_top_symbol")) == 10


async def test_nothing_is_sent_while_the_venue_is_paused(
    fake_exchange: FakeBinance, consumer: QuoteConsumer, jobs: MarketJobs, time_: FakeClock
) -> None:
    """During a rate-limit pause the stats and depth jobs send no request."""
    await consumer.poll()
    await jobs.refresh_stats()
    before = len(fake_exchange.requests)
    time_.advance(400)  # both jobs are due...
    consumer.blocked_until = time_.mono + 30  # ...but the venue is paused
    assert await jobs.stats_tick() is False
    assert await jobs.refresh_depth() is False
    assert len(fake_exchange.requests) == before


async def test_a_rate_limited_market_request_pauses_the_whole_venue(
    fake_exchange: FakeBinance,
    consumer: QuoteConsumer,
    jobs: MarketJobs,
    registry: CollectorRegistry,
    time_: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 429 on 24hr pauses the venue for Retry-After: the next quote poll is not sent either."""
    await consumer.poll()
    fake_exchange.set_fault(Fault.HTTP_429, endpoint=TICKER_24HR_PATH, retry_after=40)
    assert await jobs.refresh_stats() is False
    assert consumer.paused()
    polls = len(fake_exchange.requests_to(BOOK_TICKER_PATH))
    assert await consumer.poll() is False
    assert len(fake_exchange.requests_to(BOOK_TICKER_PATH)) == polls
    labels = {"data": "stats", "outcome": "rate_limited"}
    assert gauge(registry, "crypto_converter_market_fetches_total", **labels) == 1
    assert any("24 h statistics failed" in r.getMessage() for r in caplog.records)
    time_.advance(41)
    fake_exchange.clear_fault()
    assert await jobs.refresh_stats() is True


async def test_stats_tick_waits_for_metadata_then_for_the_refresh_interval(
    fake_exchange: FakeBinance, consumer: QuoteConsumer, jobs: MarketJobs, time_: FakeClock
) -> None:
    """No metadata yet: nothing sent; then one fetch per MARKET_STATS_REFRESH_SECONDS."""
    assert await jobs.stats_tick() is False
    assert not fake_exchange.requests
    await consumer.poll()
    assert await jobs.stats_tick() is True
    time_.advance(299)
    assert await jobs.stats_tick() is False
    time_.advance(1)
    assert await jobs.stats_tick() is True
    assert len(fake_exchange.requests_to(TICKER_24HR_PATH)) == 2


async def test_a_hanging_stats_request_does_not_delay_polls_or_snapshots(
    fake_exchange: FakeBinance, consumer: QuoteConsumer, jobs: MarketJobs
) -> None:
    """While 24hr hangs (up to the HTTP timeout), a poll and a snapshot write complete."""
    await consumer.poll()
    fake_exchange.set_fault(Fault.SLOW, endpoint=TICKER_24HR_PATH, delay=3)
    stats = asyncio.create_task(jobs.refresh_stats())
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await consumer.poll() is True
    assert await consumer.write_snapshot() is True
    assert loop.time() - started < 0.5
    assert not stats.done()
    assert await stats is False  # timed out after 1 s: a failed refresh, retried later
