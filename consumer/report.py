"""`python run.py market-report`: the market analytics, answered once (or watched) from the venues.

The same adapters and pure figures as the consumer's market jobs, asked
directly: each venue's metadata, quotes, 24 h statistics and the books of its
BTC leaders, from the base URL in the settings (so a fake venue works).
Venues are asked concurrently; one that fails is reported and the others
still answer. `--watch` then re-polls the quotes every MARKET_INTERVAL_SECONDS
and prints each USDT leader's spread and its absolute change, until Ctrl-C
or SIGTERM (a clean exit, no traceback).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

import httpx

from consumer.errors import ExchangeError
from consumer.exchanges import REGISTRY
from consumer.market.analytics import (
    BOOK_LEVELS,
    Ranked,
    book_notional,
    spread_changes,
    spreads,
    top_by_quote_volume,
    top_by_trades,
)
from consumer.market.jobs import market_adapter
from consumer.report_format import render_json, render_table, render_watch
from settings import Settings

__all__ = ["VenueReport", "market_report"]

USER_AGENT = "crypto-converter/0.1 (+market-report)"


@dataclass(slots=True)
class VenueReport:
    """What one venue answered; `error` says why a part is missing."""

    venue: str
    base_url: str
    by_volume: tuple[Ranked, ...] = ()
    by_trades: tuple[Ranked, ...] | None = ()
    notionals: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    spreads: dict[str, Decimal] = field(default_factory=dict)
    market_data: bool = True  # False: the adapter serves no 24 h stats or books
    error: str | None = None


def _client(settings: Settings, venue: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=settings.base_url_for(venue),
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        headers={"User-Agent": USER_AGENT},
    )


async def _report(settings: Settings, venue: str) -> VenueReport:
    report = VenueReport(venue, settings.base_url_for(venue))
    adapter = REGISTRY[venue]
    market = market_adapter(adapter)
    report.market_data = market is not None
    async with _client(settings, venue) as client:
        try:
            metadata = await adapter.fetch_metadata(client)
            quotes = await adapter.fetch_quotes(client, metadata)
            if market is None:
                return report
            stats = await market.fetch_stats(client, metadata)
            report.by_volume = top_by_quote_volume(stats, quotable=quotes.keys())
            report.by_trades = top_by_trades(stats, quotable=quotes.keys())
            report.spreads = spreads(quotes, [r.symbol for r in report.by_trades or ()])
            for ranked in report.by_volume:
                book = await market.fetch_depth(client, ranked.symbol, BOOK_LEVELS)
                report.notionals[ranked.symbol] = book_notional(book)
        except ExchangeError as exc:
            report.error = f"{type(exc).__name__}: {exc}"
    return report


async def _watch(
    settings: Settings,
    reports: Sequence[VenueReport],
    stop: asyncio.Event,
    as_json: bool,
    out: TextIO,
) -> None:
    watched = [r for r in reports if r.by_trades]
    if not watched:
        out.write("nothing to watch: no venue ranked USDT symbols by trades\n")
        return
    clients = {r.venue: _client(settings, r.venue) for r in watched}
    metadata: dict[str, Mapping[str, Any]] = {}
    previous = {r.venue: dict(r.spreads) for r in watched}
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), settings.market_interval_seconds)
                break
            except TimeoutError:
                pass
            at = time.time()
            for report in watched:
                adapter, client = REGISTRY[report.venue], clients[report.venue]
                try:
                    if report.venue not in metadata:
                        metadata[report.venue] = await adapter.fetch_metadata(client)
                    quotes = await adapter.fetch_quotes(client, metadata[report.venue])
                except ExchangeError as exc:
                    out.write(render_watch(report.venue, at, {}, {}, as_json, f"{exc}"))
                    continue
                current = spreads(quotes, [r.symbol for r in report.by_trades or ()])
                changes = spread_changes(previous[report.venue], current)
                previous[report.venue] = current
                out.write(render_watch(report.venue, at, current, changes, as_json))
            out.flush()
    finally:
        for client in clients.values():
            await client.aclose()


async def _main(
    settings: Settings, venues: Sequence[str], as_json: bool, watch: bool, out: TextIO
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        task: asyncio.Future[list[VenueReport]] = asyncio.gather(
            *(_report(settings, venue) for venue in venues)
        )
        stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        racing: set[asyncio.Future[Any]] = {task, stopped}
        await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            task.cancel()
            return 0  # interrupted before the venues answered
        stopped.cancel()
        reports = task.result()
        out.write(render_json(reports) if as_json else render_table(reports))
        out.flush()
        if watch:
            await _watch(settings, reports, stop, as_json, out)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 1 if any(r.error for r in reports) else 0


def market_report(
    settings: Settings, venues: Sequence[str], *, as_json: bool, watch: bool, out: TextIO
) -> int:
    """Print the report for `venues` to `out`; the exit code (1 when a venue failed)."""
    try:
        return asyncio.run(_main(settings, venues, as_json, watch, out))
    except KeyboardInterrupt:  # Ctrl-C before the loop took over SIGINT
        return 0
