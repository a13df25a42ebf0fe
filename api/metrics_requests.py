"""Request counts and latency of the API, kept cheaply; merged across workers when scraped.

Part of the API's metrics (`api.metrics`, docs/metrics.md). prometheus-client's
Counter and Histogram cost ~6 µs of a ~100 µs latest /convert inside the
server (a lock and several calls per series; multiprocess mode adds an mmap
write each); the 5 % budget measured by bench/metrics.py leaves room for
about two dictionary updates, so that is what a request does here
(`RequestStats.observe`). The figures become Prometheus families only when
scraped.

With several workers (multiprocess mode) each worker's figures are a file
beside prometheus-client's (`SharedStats`).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import orjson
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

__all__ = ["FLUSH_SECONDS", "LATENCY_BUCKETS", "UNMATCHED", "RequestStats", "SharedStats"]

log = logging.getLogger(__name__)

# A latest /convert takes ~0.1 ms on the benchmark machine; historical ~1-10 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED = "unmatched"  # the route label of a request that matched no route
# How far behind the other workers' request figures may be in a scrape.
FLUSH_SECONDS = 1.0


class RequestStats:
    """One worker's request counts and latency histograms, as plain dicts.

    One row per (route path, status): [responses, observations per latency
    bucket (the last is +Inf), their sum]. A response is one dict look-up and
    three list additions; the per-route histogram adds the rows of its
    statuses when exposed.
    """

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.rows: dict[tuple[str | None, int], list[float]] = {}

    def observe(self, path: str | None, status: int, seconds: float | None) -> None:
        """One response; `path` is the route's pattern (None: no route matched)."""
        row = self.rows.get((path, status))
        if row is None:
            row = self.rows[(path, status)] = [0.0] * (len(self.bounds) + 3)
        row[0] += 1
        if seconds is not None:
            row[1 + bisect.bisect_left(self.bounds, seconds)] += 1
            row[-1] += seconds

    @property
    def responses(self) -> int:
        return int(sum(row[0] for row in self.rows.values()))

    def merge(self, other: RequestStats) -> None:
        for key, row in other.rows.items():
            mine = self.rows.setdefault(key, [0.0] * len(row))
            for i, value in enumerate(row):
                mine[i] += value

    def dump(self) -> bytes:
        return orjson.dumps([[path, status, row] for (path, status), row in self.rows.items()])

    @classmethod
    def load(cls, data: bytes, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> RequestStats:
        stats = cls(bounds)
        for path, status, row in orjson.loads(data):
            if len(row) != len(bounds) + 3:
                raise ValueError(f"a row of {len(row)} figures; {len(bounds) + 3} expected")
            stats.rows[(path, status)] = row
        return stats

    def families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "crypto_converter_http_requests",
            "HTTP requests answered, by route pattern and status code",
            labels=["route", "status"],
        )
        per_route: dict[str | None, list[float]] = {}
        for (path, status), row in sorted(self.rows.items(), key=str):
            requests.add_metric([_route_label(path), str(status)], row[0])
            total = per_route.setdefault(path, [0.0] * (len(row) - 1))
            for i, value in enumerate(row[1:]):
                total[i] += value
        yield requests
        latency = HistogramMetricFamily(
            "crypto_converter_http_request_duration_seconds",
            "Time from the request's head to its response, by route pattern",
            labels=["route"],
        )
        for path, total in per_route.items():
            cumulative = list(itertools.accumulate(total[:-1]))
            if not cumulative[-1]:
                continue  # counted, never timed (no HTTP/1 stream: the ASGI test client)
            buckets = [(str(b), c) for b, c in zip(self.bounds, cumulative, strict=False)]
            latency.add_metric(
                [_route_label(path)], [*buckets, ("+Inf", cumulative[-1])], sum_value=total[-1]
            )
        yield latency


def _route_label(path: str | None) -> str:
    return UNMATCHED if path is None else "/" + path


class SharedStats:
    """Multiprocess mode: each worker's RequestStats as a file beside prometheus-client's.

    A worker rewrites its file (atomically) every FLUSH_SECONDS when it
    counted something; the worker answering a scrape writes its own first and
    merges every file, a dead worker's included (its counts still happened).
    """

    def __init__(self, directory: Path, stats: RequestStats) -> None:
        self.directory = directory
        self.stats = stats
        self.path = directory / f"requests_{os.getpid()}.json"
        self._flushed = 0

    def flush(self) -> None:
        responses = self.stats.responses
        if responses == self._flushed:
            return
        temporary = self.path.with_suffix(".tmp")
        temporary.write_bytes(self.stats.dump())
        os.replace(temporary, self.path)
        self._flushed = responses

    async def flush_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.flush()

    def merged(self) -> RequestStats:
        self.flush()
        total = RequestStats(self.stats.bounds)
        for path in self.directory.glob("requests_*.json"):
            try:
                total.merge(RequestStats.load(path.read_bytes(), self.stats.bounds))
            except (OSError, orjson.JSONDecodeError, TypeError, ValueError) as exc:
                log.warning("metrics: skipping %s: %s", path.name, exc)
        return total
