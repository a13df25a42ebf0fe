"""The quote consumer's jobs: poll, snapshot, retention, metadata refresh.

State lives here; the clock, the HTTP client, the adapter and the writer are
injected, so tests drive the jobs directly against a fake exchange.

Failure policy (README, "Venues" and "Design decisions"). Every failure is logged once per episode
(the first failure, a change of cause, and the recovery), never once per try.
A 429/418 stops all requests until `Retry-After` has passed: polling early
turns a 429 into a ban. Other failures are retried at the next poll and not
later: bookTicker costs 4 of the 6000 weight/min budget, so a 10 s cadence is
already gentle, and the reliability contract asks that writing resumes
within one poll interval after a fault clears.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from consumer.errors import ExchangeError, RateLimitedError, outcome
from consumer.exchanges import ExchangeAdapter
from storage.errors import StoreError
from storage.model import Snapshot, format_iso_ms
from storage.writer import SnapshotWriter

__all__ = ["Clock", "ConsumerObserver", "NullObserver", "QuoteConsumer"]

log = logging.getLogger(__name__)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Clock:
    """Wall time in UTC ms (for snapshot names) and a monotonic clock (for waits)."""

    wall_ms: Callable[[], int] = _wall_ms
    monotonic: Callable[[], float] = time.monotonic


class ConsumerObserver(Protocol):
    """What the jobs report as they run (the metrics implement it; tests may too)."""

    def poll_finished(self, venue: str, outcome: str, seconds: float) -> None: ...

    def quotes_parsed(self, venue: str, quotable: int, skipped: Mapping[str, int]) -> None: ...

    def snapshot_written(self, venue: str, fetched_ms: int, seconds: float) -> None: ...

    def retention_deleted(self, venue: str, count: int) -> None: ...

    def paused(self, venue: str, until_monotonic: float) -> None: ...


class NullObserver:
    """Reports to nobody."""

    def poll_finished(self, venue: str, outcome: str, seconds: float) -> None:
        pass

    def quotes_parsed(self, venue: str, quotable: int, skipped: Mapping[str, int]) -> None:
        pass

    def snapshot_written(self, venue: str, fetched_ms: int, seconds: float) -> None:
        pass

    def retention_deleted(self, venue: str, count: int) -> None:
        pass

    def paused(self, venue: str, until_monotonic: float) -> None:
        pass


# Skip reasons that say the venue's book itself is odd (not just "not listed").
_BOOK_SKIPS = ("crossed", "empty_book")


class _Episode:
    """Logs a run of failures once: at its start, when its cause changes, at its end."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0
        self.cause: str | None = None
        self.started = 0.0

    def failed(self, exc: Exception, now: float, level: int = logging.ERROR) -> None:
        cause = type(exc).__name__
        if self.failures == 0:
            self.started = now
            log.log(level, "%s failed: %s", self.what, exc)
        elif cause != self.cause:
            log.log(level, "%s still failing, now: %s", self.what, exc)
        self.failures += 1
        self.cause = cause

    def succeeded(self, now: float) -> None:
        if self.failures:
            log.info(
                "%s recovered after %d failed attempt(s) over %.1fs",
                self.what,
                self.failures,
                now - self.started,
            )
        self.failures, self.cause = 0, None


class QuoteConsumer:
    def __init__(
        self,
        *,
        adapter: ExchangeAdapter,
        client: httpx.AsyncClient,
        writer: SnapshotWriter,
        retention_ms: int,
        metadata_max_age: float,
        clock: Clock | None = None,
        observer: ConsumerObserver | None = None,
    ) -> None:
        self.adapter = adapter
        self.venue = adapter.NAME
        self.observer: ConsumerObserver = observer or NullObserver()
        self.client = client
        self.writer = writer
        self.retention_ms = retention_ms
        self.metadata_max_age = metadata_max_age
        self.clock = clock or Clock()
        self.metadata: Mapping[str, Any] | None = None
        self._metadata_at = float("-inf")
        # Quotes fetched since the last snapshot; a snapshot is written only from these.
        self.pending: Snapshot | None = None
        # The latest poll's quotes, kept after they are written (market spreads read them).
        self._last_quotes: Snapshot | None = None
        self._last_error: ExchangeError | None = None
        self.snapshots_written = 0
        self.blocked_until = float("-inf")
        self._exchange = _Episode(f"{adapter.NAME} poll")
        self._disk = _Episode(f"{adapter.NAME} snapshot write")
        self._retention = _Episode(f"{adapter.NAME} retention")
        # Crossed or empty books: logged once when they appear, once when they are gone.
        self._odd_books = 0
        # The start-up poll runs outside the scheduler, so max_instances alone
        # would not stop it overlapping the first scheduled poll.
        self._poll_lock = asyncio.Lock()

    @property
    def last_quotes(self) -> Snapshot | None:
        """The quotes of the latest successful poll (written or not); None before the first."""
        return self._last_quotes

    # -- exchange ----------------------------------------------------------------

    def paused(self) -> bool:
        """True while the venue's rate-limit pause lasts: send it nothing (market jobs too)."""
        now = self.clock.monotonic()
        if now < self.blocked_until:
            log.debug(
                "%s: honouring Retry-After for %.1fs more", self.venue, self.blocked_until - now
            )
            return True
        return False

    _rate_limited = paused

    def pause_for(self, exc: RateLimitedError) -> None:
        """Start (or extend) the venue's pause; any job that got a rate-limit answer calls it."""
        self.blocked_until = max(self.blocked_until, self.clock.monotonic() + exc.retry_after)
        self.observer.paused(self.venue, self.blocked_until)

    def _record_failure(self, exc: ExchangeError) -> None:
        if isinstance(exc, RateLimitedError):
            self.pause_for(exc)
        self._exchange.failed(exc, self.clock.monotonic())

    async def refresh_metadata(self, *, force: bool = True) -> bool:
        """Fetch symbol metadata (at start, then every EXCHANGE_INFO_REFRESH_SECONDS)."""
        if not force and self.clock.monotonic() - self._metadata_at < self.metadata_max_age:
            return True
        if self._rate_limited():
            return False
        try:
            metadata = await self.adapter.fetch_metadata(self.client)
        except ExchangeError as exc:
            self._last_error = exc
            self._record_failure(exc)
            return False
        self.metadata, self._metadata_at = metadata, self.clock.monotonic()
        self._last_error = None
        log.info("%s metadata: %d symbols", self.adapter.NAME, len(metadata))
        return True

    async def poll(self) -> bool:
        """Fetch the book ticker into `pending`. The first success writes at once."""
        if self._poll_lock.locked():
            return False
        async with self._poll_lock:
            return await self._poll()

    async def _poll(self) -> bool:
        if self._rate_limited():
            return False
        started = self.clock.monotonic()
        if self.metadata is None and not await self.refresh_metadata():
            label = outcome(self._last_error) if self._last_error else "rate_limited"
            self.observer.poll_finished(self.venue, label, self.clock.monotonic() - started)
            return False
        assert self.metadata is not None
        skipped: Counter[str] = Counter()
        try:
            quotes = await self.adapter.fetch_quotes(self.client, self.metadata, skipped)
        except ExchangeError as exc:
            self._record_failure(exc)
            self.observer.poll_finished(self.venue, outcome(exc), self.clock.monotonic() - started)
            return False
        # No venue's all-symbols ticker carries one time for the whole book
        # (Binance's has none at all): the moment we received it is the quote time.
        fetched_ms = self.clock.wall_ms()
        self._exchange.succeeded(self.clock.monotonic())
        self.observer.poll_finished(self.venue, "ok", self.clock.monotonic() - started)
        self.observer.quotes_parsed(self.venue, len(quotes), skipped)
        self._note_odd_books(skipped)
        self.pending = self._last_quotes = Snapshot(self.adapter.NAME, fetched_ms, quotes)
        if self.snapshots_written == 0:
            # A fresh `docker compose up` should be usable within seconds, not 30 s.
            await self.write_snapshot()
        return True

    def _note_odd_books(self, skipped: Mapping[str, int]) -> None:
        odd = sum(skipped.get(reason, 0) for reason in _BOOK_SKIPS)
        if odd and not self._odd_books:
            detail = ", ".join(f"{skipped.get(r, 0)} {r.replace('_', ' ')}" for r in _BOOK_SKIPS)
            log.warning("%s: skipping symbols with odd books (%s)", self.venue, detail)
        elif not odd and self._odd_books:
            log.info("%s: no crossed or empty books any more", self.venue)
        self._odd_books = odd

    # -- store -------------------------------------------------------------------

    async def write_snapshot(self) -> bool:
        """Write the pending quotes, if any were fetched since the last snapshot."""
        snapshot = self.pending
        if snapshot is None:
            log.debug("no quotes fetched since the last snapshot; nothing to write")
            return False
        started = self.clock.monotonic()
        try:
            path = await asyncio.to_thread(self.writer.write, snapshot)
        except StoreError as exc:
            self._disk.failed(exc, self.clock.monotonic())
            return False
        self._disk.succeeded(self.clock.monotonic())
        self.observer.snapshot_written(
            self.venue, snapshot.fetched_ms, self.clock.monotonic() - started
        )
        if self.pending is snapshot:
            self.pending = None
        self.snapshots_written += 1
        log.info(
            "%s: wrote %s (%d symbols, quoted at %s)",
            self.venue,
            path.name,
            len(snapshot.quotes),
            format_iso_ms(snapshot.fetched_ms),
        )
        return True

    async def cleanup(self) -> int:
        """Retention: delete snapshots older than RETENTION_DAYS."""
        cutoff = self.clock.wall_ms() - self.retention_ms
        try:
            deleted = await asyncio.to_thread(self.writer.delete_older_than, cutoff)
        except StoreError as exc:
            self._retention.failed(exc, self.clock.monotonic())
            return 0
        self._retention.succeeded(self.clock.monotonic())
        self.observer.retention_deleted(self.venue, deleted)
        if deleted:
            log.info(
                "%s: retention deleted %d snapshot(s) older than %s",
                self.venue,
                deleted,
                format_iso_ms(cutoff),
            )
        return deleted
