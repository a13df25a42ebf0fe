"""The quote-consumer process: lock, clean up, schedule the jobs, run until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry, disable_created_metrics

from consumer.exchanges import REGISTRY
from consumer.market.gauges import MarketGauges
from consumer.market.jobs import MarketJobs, market_adapter
from consumer.metrics import ConsumerMetrics, MetricsServer, consumer_registry
from consumer.service import Clock, ConsumerObserver, QuoteConsumer
from settings import Settings
from storage.errors import StoreError, StoreLockedError
from storage.lock import WriterLock
from storage.writer import SnapshotWriter

__all__ = ["run_consumer", "serve"]

log = logging.getLogger(__name__)

USER_AGENT = "crypto-converter/0.1 (+quote-consumer)"
_STANDBY_RETRY = 1.0


async def _acquire(lock: WriterLock, stop: asyncio.Event) -> bool:
    """Take the single-writer lock, standing by (and writing nothing) while another holds it."""
    announced = False
    while not stop.is_set():
        try:
            lock.acquire(timeout=0)
            if announced:
                log.warning("the other quote consumer stopped; this one takes over writing")
            return True
        except StoreLockedError as exc:
            if not announced:
                log.warning("%s. Standing by: this consumer writes nothing until it stops.", exc)
                announced = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _STANDBY_RETRY)
    return False


class _InFlight:
    """The jobs running right now, so that a stop lets them end instead of tracing them.

    APScheduler's `shutdown(wait=False)` leaves running coroutine jobs to
    `asyncio.run`, which cancels them; APScheduler then logs each one's
    CancelledError with a traceback ("Job ... raised an exception"), although
    stopping mid-poll is normal. At a stop, running jobs get `_DRAIN_SECONDS`
    to end; the rest are cancelled and end quietly. (A snapshot write in a
    thread is never cut: asyncio.run waits for its executor.)
    """

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[object]] = set()
        self.stopping = False

    def wrap(self, job: Callable[[], object], name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self.tasks.add(task)
            try:
                result = job()
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                if not self.stopping:
                    raise
                log.debug("%s stopped mid-run", name)
            finally:
                self.tasks.discard(task)

        return run

    async def drain(self, seconds: float) -> None:
        self.stopping = True
        if not self.tasks:
            return
        _, pending = await asyncio.wait(set(self.tasks), timeout=seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


_DRAIN_SECONDS = 1.0


def _schedule(
    scheduler: AsyncIOScheduler,
    consumer: QuoteConsumer,
    settings: Settings,
    market: MarketJobs | None = None,
    in_flight: _InFlight | None = None,
) -> None:
    """One venue's jobs, ids prefixed with its name: venues never share a job."""
    now = datetime.now(UTC)
    venue = consumer.venue
    tracker = in_flight or _InFlight()

    def every(job: Callable[[], object], seconds: float, first_in: float, name: str) -> None:
        # Never overlap a job with itself; after a stall run it once, not N times.
        scheduler.add_job(
            tracker.wrap(job, f"{venue}:{name}"),
            "interval",
            seconds=seconds,
            next_run_time=now + timedelta(seconds=first_in),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(seconds)),
            id=f"{venue}:{name}",
            name=f"{venue}:{name}",
        )

    # Retention and the first fetch (which writes the first snapshot) run at once.
    every(consumer.poll, settings.poll_interval_seconds, 0, "poll")
    every(
        consumer.write_snapshot,
        settings.snapshot_interval_seconds,
        settings.snapshot_interval_seconds,
        "snapshot",
    )
    every(consumer.cleanup, settings.cleanup_interval_seconds, 0, "retention")
    every(
        consumer.refresh_metadata,
        settings.exchange_info_refresh_seconds,
        settings.exchange_info_refresh_seconds,
        "metadata",
    )
    if market is not None:
        # The stats and depth jobs tick at least every poll interval and fetch
        # only when due, so the first figures follow the first poll.
        tick = settings.poll_interval_seconds
        every(market.stats_tick, min(tick, settings.market_stats_refresh_seconds), 0, "stats")
        every(market.depth_tick, min(tick, settings.market_depth_refresh_seconds), 0, "depth")
        interval = settings.market_interval_seconds
        every(market.update_spreads, interval, interval, "spreads")


def _metrics_server(settings: Settings, registry: CollectorRegistry) -> MetricsServer | None:
    """Serve /metrics unless METRICS_PORT=0; a busy port costs the metrics, never the quotes."""
    if not settings.metrics_port:
        log.info("metrics are off (METRICS_PORT=0)")
        return None
    try:
        server = MetricsServer(registry, settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        log.error(
            "metrics are off: cannot listen on %s:%d (METRICS_HOST/METRICS_PORT): %s",
            settings.metrics_host,
            settings.metrics_port,
            exc,
        )
        return None
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, server.port)
    return server


def _market_jobs(
    settings: Settings, consumer: QuoteConsumer, gauges: MarketGauges | None
) -> MarketJobs | None:
    adapter = market_adapter(consumer.adapter)
    if gauges is None or adapter is None:
        return None
    return MarketJobs(
        consumer,
        adapter,
        gauges,
        stats_every=settings.market_stats_refresh_seconds,
        depth_every=settings.market_depth_refresh_seconds,
    )


def _writer(settings: Settings, venue: str) -> SnapshotWriter:
    writer = SnapshotWriter(settings.data_dir, venue)
    writer.ensure_directory()
    removed = writer.remove_temporaries()
    if removed:
        log.warning("%s: removed %d temporary file(s) left by a crash", venue, removed)
    return writer


async def run_consumer(
    settings: Settings, stop: asyncio.Event, observer: ConsumerObserver | None = None
) -> int:
    """Run until `stop` is set. Returns the process exit code.

    One process polls every configured venue, each on its own jobs with its
    own HTTP client: a venue that hangs (bounded by HTTP_TIMEOUT_SECONDS),
    fails or is rate-limited only ever delays its own jobs, since every job is
    a coroutine on one event loop and file writes run in threads.
    """
    lock = WriterLock(settings.data_dir)
    try:
        if not await _acquire(lock, stop):
            return 0
    except StoreError as exc:
        log.error("cannot start: %s", exc)
        return 2
    try:
        writers = {venue: _writer(settings, venue) for venue in settings.exchanges}
        timeout = httpx.Timeout(settings.http_timeout_seconds)
        registry = consumer_registry()
        metrics = ConsumerMetrics(registry, settings.exchanges, settings.data_dir)
        gauges = MarketGauges(registry) if settings.market_analytics else None
        async with contextlib.AsyncExitStack() as stack:
            server = _metrics_server(settings, registry)
            if server is not None:
                stack.callback(server.close)
            consumers: list[QuoteConsumer] = []
            for venue, writer in writers.items():
                client = await stack.enter_async_context(
                    httpx.AsyncClient(
                        base_url=settings.base_url_for(venue),
                        timeout=timeout,
                        headers={"User-Agent": USER_AGENT},
                    )
                )
                consumers.append(
                    QuoteConsumer(
                        adapter=REGISTRY[venue],
                        client=client,
                        writer=writer,
                        retention_ms=settings.retention_ms,
                        metadata_max_age=settings.exchange_info_refresh_seconds,
                        clock=Clock(),
                        observer=observer or metrics,
                    )
                )
                log.info(
                    "%s: polling %s -> %s", venue, settings.base_url_for(venue), writer.directory
                )
            log.info(
                "quote consumer started: %s (poll %gs, snapshot %gs, retention %g days)",
                ", ".join(settings.exchanges),
                settings.poll_interval_seconds,
                settings.snapshot_interval_seconds,
                settings.retention_days,
            )
            scheduler = AsyncIOScheduler(timezone=UTC)
            in_flight = _InFlight()
            for consumer in consumers:
                _schedule(
                    scheduler,
                    consumer,
                    settings,
                    _market_jobs(settings, consumer, gauges),
                    in_flight,
                )
            scheduler.start()
            try:
                await stop.wait()
            finally:
                scheduler.shutdown(wait=False)
                await in_flight.drain(_DRAIN_SECONDS)
        total = sum(c.snapshots_written for c in consumers)
        by_venue = ", ".join(f"{c.venue} {c.snapshots_written}" for c in consumers)
        log.info("quote consumer stopped (%d snapshot(s) written) by venue: %s", total, by_venue)
        return 0
    except StoreError as exc:
        log.error("cannot start: %s", exc)
        return 2
    finally:
        lock.release()


def serve(settings: Settings) -> int:
    """Process entry: run the consumer until SIGTERM or SIGINT."""
    # A write past RLIMIT_FSIZE would kill us with SIGXFSZ; as an OSError it is
    # just a failed snapshot, logged and retried.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # One series per counter, not two: `_created` timestamps are noise to a scraper.
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in 0.26

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_consumer(settings, stop)

    return asyncio.run(main())
