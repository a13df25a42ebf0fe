"""One venue's market jobs: 24 h stats, order books, spreads (docs/metrics.md).

They run beside the venue's quote jobs and share its HTTP client, metadata and
rate-limit pause: nothing is sent while `QuoteConsumer.paused()`, and a
rate-limit answer to a market request pauses the whole venue
(`pause_for`), since the venue counts every request against one budget.
They never delay snapshots: each is its own scheduled coroutine, and a
failure is logged (once per episode) and retried at the next run.

Spreads cost no request: they come from the quotes the consumer already
polled (`QuoteConsumer.last_quotes`), recomputed every MARKET_INTERVAL_SECONDS
when a newer poll has landed.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import cast

from consumer.errors import ExchangeError, RateLimitedError, outcome
from consumer.exchanges import ExchangeAdapter, MarketAdapter
from consumer.exchanges._model import SymbolStats
from consumer.market.analytics import (
    BOOK_LEVELS,
    Ranked,
    book_notional,
    spread_changes,
    spreads,
    top_by_quote_volume,
    top_by_trades,
)
from consumer.market.gauges import MarketGauges
from consumer.service import QuoteConsumer

__all__ = ["MarketJobs", "market_adapter"]

log = logging.getLogger(__name__)


def market_adapter(adapter: ExchangeAdapter) -> MarketAdapter | None:
    """The adapter as a MarketAdapter if it serves 24 h stats and order books."""
    if callable(getattr(adapter, "fetch_stats", None)) and callable(
        getattr(adapter, "fetch_depth", None)
    ):
        return cast(MarketAdapter, adapter)
    return None


class _Episode:
    """A run of failures of one kind of request, logged at its start, cause change and end."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0
        self.cause = ""

    def failed(self, exc: ExchangeError) -> None:
        cause = type(exc).__name__
        if self.failures == 0:
            log.warning("%s failed: %s", self.what, exc)
        elif cause != self.cause:
            log.warning("%s still failing, now: %s", self.what, exc)
        self.failures += 1
        self.cause = cause

    def succeeded(self) -> None:
        if self.failures:
            log.info("%s recovered after %d failed attempt(s)", self.what, self.failures)
        self.failures, self.cause = 0, ""


class MarketJobs:
    """The market analytics of one venue; `stats`, `depth` and `spreads` are its jobs."""

    def __init__(
        self,
        consumer: QuoteConsumer,
        adapter: MarketAdapter,
        gauges: MarketGauges,
        *,
        stats_every: float = 0.0,
        depth_every: float = 0.0,
        depth_levels: int = BOOK_LEVELS,
    ) -> None:
        self.consumer = consumer
        self.adapter = adapter
        self.venue = consumer.venue
        self.gauges = gauges
        self.depth_levels = depth_levels
        self.stats_every = stats_every
        self.depth_every = depth_every
        self._stats_due = self._depth_due = float("-inf")
        self.by_volume: tuple[Ranked, ...] = ()
        self.by_trades: tuple[Ranked, ...] | None = ()
        self.notionals: dict[str, tuple[Decimal, Decimal]] = {}
        self.spreads: dict[str, Decimal] = {}
        self.changes: dict[str, Decimal] = {}
        self._spreads_from_ms: int | None = None
        self._stats_episode = _Episode(f"{self.venue} 24 h statistics")
        self._depth_episode = _Episode(f"{self.venue} order books")
        self._depth_lock = asyncio.Lock()

    def _failed(self, data: str, episode: _Episode, exc: ExchangeError) -> None:
        self.gauges.fetched(self.venue, data, outcome(exc))
        if isinstance(exc, RateLimitedError):
            self.consumer.pause_for(exc)
        episode.failed(exc)

    # -- the scheduled entry points ---------------------------------------------------

    async def stats_tick(self) -> bool:
        """Refresh the stats when due; a skipped or failed refresh is retried at the next tick.

        The ticks come every poll interval (or sooner), so the first rankings
        follow the first poll within one interval, not MARKET_STATS_REFRESH_SECONDS.
        """
        if self.consumer.clock.monotonic() < self._stats_due:
            return False
        done = await self.refresh_stats()
        if done:
            self._stats_due = self.consumer.clock.monotonic() + self.stats_every
        return done

    async def depth_tick(self) -> bool:
        """Refresh the order books when due (as `stats_tick`)."""
        if self.consumer.clock.monotonic() < self._depth_due or not self.by_volume:
            return False
        return await self.refresh_depth()

    # -- 24 h statistics -> rankings -------------------------------------------------

    async def refresh_stats(self) -> bool:
        """Fetch the 24 h statistics and re-rank; new BTC leaders get their books at once."""
        metadata = self.consumer.metadata
        if metadata is None or self.consumer.paused():
            return False  # the quote poll loads metadata; nothing is sent during a pause
        try:
            stats = await self.adapter.fetch_stats(self.consumer.client, metadata)
        except ExchangeError as exc:
            self._failed("stats", self._stats_episode, exc)
            return False
        self.gauges.fetched(self.venue, "stats", "ok")
        self._stats_episode.succeeded()
        leaders = {r.symbol for r in self.by_volume}
        self.rank(stats)
        if {r.symbol for r in self.by_volume} != leaders:
            await self.refresh_depth()
        return True

    def rank(self, stats: dict[str, SymbolStats]) -> None:
        """Both rankings from `stats`, among the symbols of the latest poll when there is one."""
        last = self.consumer.last_quotes
        quotable = None if last is None else last.quotes.keys()
        self.by_volume = top_by_quote_volume(stats, quotable=quotable)
        self.by_trades = top_by_trades(stats, quotable=quotable)
        self.gauges.ranking(self.venue, "btc_quote_volume", self.by_volume)
        self.gauges.ranking(self.venue, "usdt_trades", self.by_trades or ())
        # Symbols that left a ranking leave its gauges now, not at the next job run.
        self.notionals = {s: v for s, v in self.notionals.items() if s in self._leaders()}
        self.gauges.notionals(self.venue, self.notionals)
        ranked = {r.symbol for r in self.by_trades or ()}
        self.spreads = {s: v for s, v in self.spreads.items() if s in ranked}
        self.changes = {s: v for s, v in self.changes.items() if s in ranked}
        self.gauges.spreads(self.venue, self.spreads, self.changes)

    def _leaders(self) -> set[str]:
        return {r.symbol for r in self.by_volume}

    # -- order books -> notionals ------------------------------------------------------

    async def refresh_depth(self) -> bool:
        """Fetch the book of each BTC leader (stopping at the first failure or pause)."""
        if self._depth_lock.locked():
            return False
        async with self._depth_lock:
            done = True
            for ranked in self.by_volume:
                if self.consumer.paused():
                    done = False
                    break
                try:
                    book = await self.adapter.fetch_depth(
                        self.consumer.client, ranked.symbol, self.depth_levels
                    )
                except ExchangeError as exc:
                    self._failed("depth", self._depth_episode, exc)
                    done = False
                    break
                self.gauges.fetched(self.venue, "depth", "ok")
                self.notionals[ranked.symbol] = book_notional(book, self.depth_levels)
            if done:
                self._depth_episode.succeeded()
                self._depth_due = self.consumer.clock.monotonic() + self.depth_every
            # A leader whose book failed keeps its previous figure; a former leader goes.
            self.notionals = {s: v for s, v in self.notionals.items() if s in self._leaders()}
            self.gauges.notionals(self.venue, self.notionals)
            return done

    # -- spreads from the polled quotes ------------------------------------------------

    def update_spreads(self) -> bool:
        """Spreads of the USDT leaders from the latest poll, and their change since the last."""
        last = self.consumer.last_quotes
        if last is None or last.fetched_ms == self._spreads_from_ms:
            return False  # no poll since the last interval: the figures stand
        symbols = [r.symbol for r in self.by_trades or ()]
        current = spreads(last.quotes, symbols)
        self.changes = spread_changes(self.spreads, current)
        self.spreads = current
        self._spreads_from_ms = last.fetched_ms
        self.gauges.spreads(self.venue, self.spreads, self.changes)
        return True
