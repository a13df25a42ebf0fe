"""The quote consumer's service metrics (docs/metrics.md), and the server that exposes them.

`ConsumerMetrics` is the `ConsumerObserver` the jobs report to; it keeps
`crypto_converter_*` series on its own registry (never the global one, so
tests build as many as they like). Two kinds of figures are computed when
Prometheus scrapes instead of when something happens, because they change
with time alone: the seconds left of a venue's rate-limit pause, and the
store's bytes and files per venue (a directory listing; each file's size is
read once, since snapshot files never change after their atomic rename).

Labels are bounded: `exchange` is a configured venue, `outcome` one of
`consumer.errors.OUTCOMES`, `reason` one of the adapters' SKIP_REASONS.
Every combination is created at start, so a venue's failures show as a
counter going up from 0 rather than as a series appearing from nowhere.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from consumer.errors import OUTCOMES
from consumer.exchanges._model import SKIP_REASONS

__all__ = ["ConsumerMetrics", "MetricsServer", "StoreScanner", "consumer_registry"]

log = logging.getLogger(__name__)

# A poll is one HTTP request bounded by HTTP_TIMEOUT_SECONDS (default 10 s).
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A snapshot write is ~100-200 KB with two fsyncs: milliseconds on a healthy disk.
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


_MTIME_TRUST_NS = 1_000_000_000


def _is_snapshot(name: str) -> bool:
    # YYYYMMDDTHHMMSS.mmmZ.json; temporaries start with ".tmp-" and end otherwise.
    return name.endswith("Z.json") and not name.startswith(".")


class StoreScanner:
    """Bytes and files of each venue's snapshot directory, re-listed when it changed.

    A week is 20,160 files a venue; listing four such directories takes
    ~90 ms, so a directory whose mtime has not moved is not listed again.
    Directory mtimes come from a coarse clock: an mtime is trusted only once
    the listing that saw it was made a second or more after it.
    """

    def __init__(self, data_dir: Path, venues: Sequence[str]) -> None:
        self.directories = {venue: data_dir / venue for venue in venues}
        self._sizes: dict[str, dict[str, int]] = {venue: {} for venue in venues}
        self._seen: dict[str, tuple[int, tuple[int, int]]] = {}  # venue -> (mtime, result)
        self._lock = threading.Lock()  # two scrapes at once must not race on the caches

    def scan(self) -> dict[str, tuple[int, int]]:
        """venue -> (bytes, files); a venue whose directory cannot be listed is left out."""
        with self._lock:
            return {
                venue: found
                for venue, directory in self.directories.items()
                if (found := self._scan(venue, directory)) is not None
            }

    def _scan(self, venue: str, directory: Path) -> tuple[int, int] | None:
        try:
            mtime = os.stat(directory).st_mtime_ns
        except FileNotFoundError:
            self._sizes[venue] = {}
            self._seen.pop(venue, None)
            return 0, 0
        except OSError as exc:
            log.debug("cannot stat %s for metrics: %s", directory, exc)
            return None
        seen = self._seen.get(venue)
        if seen is not None and seen[0] == mtime:
            return seen[1]
        listed = time.time_ns()
        known = self._sizes[venue]
        sizes: dict[str, int] = {}
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    name = entry.name
                    if not _is_snapshot(name):
                        continue
                    size = known.get(name)
                    if size is None:
                        try:
                            size = entry.stat().st_size
                        except FileNotFoundError:
                            continue  # deleted by retention since the listing
                    sizes[name] = size
        except FileNotFoundError:
            sizes = {}
        except OSError as exc:
            log.debug("cannot list %s for metrics: %s", directory, exc)
            return None
        self._sizes[venue] = sizes
        result = sum(sizes.values()), len(sizes)
        if listed - mtime >= _MTIME_TRUST_NS:
            self._seen[venue] = (mtime, result)
        else:
            self._seen.pop(venue, None)
        return result


class _ScrapeTime(Collector):
    """Figures computed when scraped: pause remaining, store bytes and files."""

    def __init__(self, metrics: ConsumerMetrics, store: StoreScanner) -> None:
        self._metrics = metrics
        self._store = store

    def collect(self) -> Iterator[Metric]:
        now = self._metrics.monotonic()
        pause = GaugeMetricFamily(
            "crypto_converter_rate_limit_pause_remaining_seconds",
            "Seconds until the venue's rate-limit pause ends (0 when not paused)",
            labels=["exchange"],
        )
        for venue, until in self._metrics.paused_until.items():
            pause.add_metric([venue], max(0.0, until - now))
        yield pause
        size = GaugeMetricFamily(
            "crypto_converter_store_bytes",
            "Bytes of snapshot files in the venue's store directory",
            labels=["exchange"],
        )
        files = GaugeMetricFamily(
            "crypto_converter_store_files",
            "Snapshot files in the venue's store directory",
            labels=["exchange"],
        )
        for venue, (total, count) in self._store.scan().items():
            size.add_metric([venue], total)
            files.add_metric([venue], count)
        yield size
        yield files


class ConsumerMetrics:
    """The consumer's `crypto_converter_*` series; a `ConsumerObserver`."""

    def __init__(
        self,
        registry: CollectorRegistry,
        venues: Sequence[str],
        data_dir: Path,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.monotonic = monotonic
        self.paused_until: dict[str, float] = dict.fromkeys(venues, float("-inf"))
        self.polls = Counter(
            "crypto_converter_polls",
            "Quote polls by venue and outcome (ok, timeout, unavailable, rate_limited, "
            "restricted, http_5xx, http_4xx, body_error, bad_body, error)",
            ["exchange", "outcome"],
            registry=registry,
        )
        self.poll_duration = Histogram(
            "crypto_converter_poll_duration_seconds",
            "Time a quote poll took, failed or not (skipped polls are not observed)",
            ["exchange"],
            buckets=POLL_BUCKETS,
            registry=registry,
        )
        self.snapshots = Counter(
            "crypto_converter_snapshots_written",
            "Snapshot files written",
            ["exchange"],
            registry=registry,
        )
        self.last_snapshot = Gauge(
            "crypto_converter_last_snapshot_timestamp_seconds",
            "Quote time (Unix seconds) of the newest snapshot written",
            ["exchange"],
            registry=registry,
        )
        self.quotable = Gauge(
            "crypto_converter_quotable_symbols",
            "Quotable symbols in the latest successful poll",
            ["exchange"],
            registry=registry,
        )
        self.skipped = Gauge(
            "crypto_converter_skipped_symbols",
            "Symbols left out of the latest successful poll, by reason",
            ["exchange", "reason"],
            registry=registry,
        )
        self.write_duration = Histogram(
            "crypto_converter_snapshot_write_duration_seconds",
            "Time to write one snapshot file atomically (successful writes)",
            ["exchange"],
            buckets=WRITE_BUCKETS,
            registry=registry,
        )
        self.retention = Counter(
            "crypto_converter_retention_deletions",
            "Snapshot files deleted by retention",
            ["exchange"],
            registry=registry,
        )
        for venue in venues:
            for label in OUTCOMES:
                self.polls.labels(venue, label)
            for reason in SKIP_REASONS:
                self.skipped.labels(venue, reason)
            for metric in (self.poll_duration, self.snapshots, self.write_duration):
                metric.labels(venue)
            self.retention.labels(venue)
        registry.register(_ScrapeTime(self, StoreScanner(data_dir, venues)))

    # -- ConsumerObserver ----------------------------------------------------------

    def poll_finished(self, venue: str, outcome: str, seconds: float) -> None:
        self.polls.labels(venue, outcome).inc()
        self.poll_duration.labels(venue).observe(seconds)

    def quotes_parsed(self, venue: str, quotable: int, skipped: Mapping[str, int]) -> None:
        self.quotable.labels(venue).set(quotable)
        for reason in SKIP_REASONS:
            self.skipped.labels(venue, reason).set(skipped.get(reason, 0))

    def snapshot_written(self, venue: str, fetched_ms: int, seconds: float) -> None:
        self.snapshots.labels(venue).inc()
        self.last_snapshot.labels(venue).set(fetched_ms / 1000)
        self.write_duration.labels(venue).observe(seconds)

    def retention_deleted(self, venue: str, count: int) -> None:
        self.retention.labels(venue).inc(count)

    def paused(self, venue: str, until_monotonic: float) -> None:
        self.paused_until[venue] = until_monotonic


def consumer_registry() -> CollectorRegistry:
    """A fresh registry with the process collector (CPU, memory, open files)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return registry


class MetricsServer:
    """`GET /metrics` on METRICS_HOST:METRICS_PORT, in a daemon thread off the event loop."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self.server: WSGIServer
        self.server, self._thread = start_http_server(port, addr=host, registry=registry)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
