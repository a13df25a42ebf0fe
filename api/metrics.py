"""The API's metrics (docs/metrics.md): `GET /metrics`, request counts and latency, store figures.

`install(app, settings, sources)` is the one entry point (called from
`create_app`); `prepare_multiprocess(settings)` runs once in the API's main
process before Sanic spawns its workers.

Requests are counted and timed by one plain response middleware into
`api.metrics_requests.RequestStats` (cheap enough for the 5 % budget; see
there). With `API_WORKERS > 1` each worker is its own process:
`prepare_multiprocess` creates a directory, exports it as
PROMETHEUS_MULTIPROC_DIR before the workers are spawned (they inherit it;
prometheus-client picks its multiprocess mode at import), and removes it when
the API exits. Each worker writes its request figures there every second
(`SharedStats`) and prometheus-client keeps its corrupt-snapshot counter
there; the worker answering a scrape merges every worker's files
(`MultiProcessCollector` for the counter).

Figures that change with time alone are computed by the answering worker
when scraped, never stored: each venue's newest-snapshot age and the
snapshots indexed. No worker writes a gauge, so no "live" gauge mode and no
`mark_process_dead` bookkeeping is needed when Sanic replaces a worker.

Labels are bounded: `route` is the route's pattern (`/convert`), never the
raw path or query; requests that match no route are `route="unmatched"`.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from api.metrics_requests import FLUSH_SECONDS, RequestStats, SharedStats
from settings import Settings
from storage.errors import StoreReadError
from storage.reader import SnapshotReader

__all__ = [
    "DISABLE_REQUEST_METRICS",
    "MULTIPROC_ENV",
    "install",
    "openapi_paths",
    "prepare_multiprocess",
]

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Benchmark switch, not a setting: `bench/metrics.py` sets it to measure the
# request-metrics overhead (A/B). /metrics still answers; requests are not counted.
DISABLE_REQUEST_METRICS = "CRYPTO_CONVERTER_BENCH_NO_REQUEST_METRICS"


def prepare_multiprocess(settings: Settings) -> Path | None:
    """In the API's main process, before the workers exist: the shared metrics directory.

    One worker needs none (None). An operator's PROMETHEUS_MULTIPROC_DIR is
    used and emptied (prometheus-client requires a clean directory per run)
    but kept; otherwise a private temporary directory is made and removed at exit.
    """
    if settings.api_workers == 1 and MULTIPROC_ENV not in os.environ:
        return None
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        directory = Path(tempfile.mkdtemp(prefix="crypto-converter-metrics-"))
        os.environ[MULTIPROC_ENV] = str(directory)
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    log.info("metrics: %d workers share %s", settings.api_workers, directory)
    return directory


class _Store(Collector):
    """Each venue's newest-snapshot age and snapshots indexed, computed when scraped."""

    def __init__(
        self, sources: Mapping[str, SnapshotReader], retention_ms: int, clock: Callable[[], int]
    ) -> None:
        self._sources = sources
        self._retention_ms = retention_ms
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        age = GaugeMetricFamily(
            "crypto_converter_snapshot_age_seconds",
            "Age of the venue's newest readable snapshot, now (absent when it has none)",
            labels=["exchange"],
        )
        indexed = GaugeMetricFamily(
            "crypto_converter_snapshots_indexed",
            "Snapshot files in the venue's index (the API re-lists on a new file)",
            labels=["exchange"],
        )
        for venue, reader in self._sources.items():
            try:
                newest = next(reader.candidates(None, now - self._retention_ms), None)
            except StoreReadError:
                continue  # unreadable directory: no figure rather than a wrong one
            if newest is not None:
                age.add_metric([venue], max(0.0, (now - newest.fetched_ms) / 1000))
            indexed.add_metric([venue], reader.count)
        yield age
        yield indexed


class _Requests(Collector):
    def __init__(self, source: Callable[[], RequestStats]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield from self._source().families()


class _Metrics:
    """One worker's series, and how a scrape is answered."""

    def __init__(
        self,
        sources: Mapping[str, SnapshotReader],
        retention_ms: int,
        clock: Callable[[], int],
    ) -> None:
        directory = os.environ.get(MULTIPROC_ENV)
        self.stats = RequestStats()
        self.shared = None if directory is None else SharedStats(Path(directory), self.stats)
        # In multiprocess mode the corrupt counter is not registered anywhere:
        # its values go to this worker's file, which MultiProcessCollector merges.
        own = None if self.shared is not None else CollectorRegistry()
        self.corrupt = Counter(
            "crypto_converter_corrupt_snapshots_skipped",
            "Snapshot files found corrupt and skipped (each worker counts a file once)",
            ["exchange"],
            registry=own,
        )
        for venue, reader in sources.items():
            reader.on_corrupt = partial(_count, self.corrupt.labels(venue))
        self.store = _Store(sources, retention_ms, clock)
        shared = self.shared
        self.requests = _Requests(lambda: self.stats if shared is None else shared.merged())
        if own is not None:
            own.register(self.requests)
            own.register(self.store)
        self.registry = own

    def exposition(self) -> bytes:
        if self.registry is not None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in 0.26
        registry.register(self.requests)
        registry.register(self.store)
        return generate_latest(registry)


def _count(counter: Any, _ms: int) -> None:
    counter.inc()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def openapi_paths() -> dict[str, Any]:
    """`GET /metrics` for the OpenAPI document (`build_document(extra_paths=...)`)."""
    return {
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format)",
                "description": (
                    "Requests by route and status, latency by route, each venue's "
                    "newest-snapshot age, snapshots indexed, corrupt snapshots skipped "
                    "(docs/metrics.md). Every worker's counts are in one scrape."
                ),
                "responses": {"200": {"description": "text/plain; version=1.0.0"}},
            }
        }
    }


def install(
    app: Sanic[Any, Any],
    settings: Settings,
    sources: Mapping[str, SnapshotReader],
    *,
    clock: Callable[[], int] = _now_ms,
) -> None:
    """Add `GET /metrics` and the request metrics to `app`; `sources` are the venues' readers."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # one series per counter
    metrics = _Metrics(sources, settings.retention_ms, clock)

    async def serve_metrics(request: Request) -> HTTPResponse:
        return HTTPResponse(
            metrics.exposition(),
            content_type=CONTENT_TYPE_LATEST,
            headers={"Cache-Control": "no-store"},
        )

    app.add_route(serve_metrics, "/metrics", methods=["GET"], name="metrics")
    if os.environ.get(DISABLE_REQUEST_METRICS) == "1":
        log.warning("request metrics are off (%s=1: benchmark only)", DISABLE_REQUEST_METRICS)
        return
    stats = metrics.stats
    perf_counter = time.perf_counter

    # A plain function, not a coroutine: Sanic awaits a middleware only when it
    # returns an awaitable. It runs for every response, error answers included.
    # Sanic's HTTP/1 stream notes when the request's head was parsed (`perft0`,
    # what its access log times); under ASGI (tests) there is none, and the
    # request is counted without a latency.
    def observe(request: Request, response: HTTPResponse) -> None:
        route = request.route
        started = getattr(request.stream, "perft0", None)
        stats.observe(
            None if route is None else route.path,
            response.status,
            None if started is None else perf_counter() - started,
        )

    app.on_response(observe)  # type: ignore[no-untyped-call]  # untyped in Sanic 25
    shared = metrics.shared
    if shared is not None:

        async def start_flushing(app: Sanic[Any, Any]) -> None:
            app.add_task(shared.flush_every(FLUSH_SECONDS), name="metrics-flush")

        async def final_flush(app: Sanic[Any, Any]) -> None:
            shared.flush()

        app.after_server_start(start_flushing)
        app.before_server_stop(final_flush)
