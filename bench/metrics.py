#!/usr/bin/env python
"""What the metrics cost: latest /convert with and without request metrics, and scrape times.

    .venv/bin/python bench/metrics.py [--rounds 5] [--duration 5] [--scrapes 50]

1. A/B: the same checkout's API on a 7-day store (20,160 names, see
   `make_store`), twice: "on" as shipped,
   "off" with CRYPTO_CONVERTER_BENCH_NO_REQUEST_METRICS=1 (api/metrics.py: no
   request is counted or timed; /metrics still answers). Interleaved wrk
   rounds (order alternated): req/s (ratio on/off within each round) and the
   server's CPU time per request (what a saturated single-worker server's
   throughput is the inverse of, and far less noisy on a shared machine).
   Target: on >= 95 % of off.
2. Scrape time of the API's /metrics with 4 venues, each holding that store
   (the venue directories are symlinks to it), with API_WORKERS=1 and 2 (multiprocess
   mode merges the workers' files). Target: < 20 ms.
3. The consumer's store scan (bytes and files per venue) over the same 4
   directories: the first scan stats every file, later ones only new names.

Nothing is written to docs/; results go to bench/out/metrics-<time>.json.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from _repo import OUT
from http_suite import PAIRS, READY
from load import LoadResult, api_server, run_wrk
from store import EXCHANGE, Store, fixture_quotes, now_ms

from api.metrics import DISABLE_REQUEST_METRICS
from consumer.metrics import StoreScanner
from storage.codec import encode, filename_for
from storage.model import Snapshot

VENUES = ("binance", "kraken", "bybit", "okx")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ab(
    store: Store, rounds: int, seconds: float, connections: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per round, for metrics on and off: req/s, and the server's CPU µs per request.

    On this shared 2-core VM other jobs move req/s by ±15 % between rounds;
    the server's own CPU time per request is what the metrics add to, and it
    moves far less. Both are reported.
    """
    servers = {"on": api_server("metrics-on", store), "off": api_server("metrics-off", store)}
    servers["off"].env[DISABLE_REQUEST_METRICS] = "1"
    rps: dict[str, list[float]] = {"on": [], "off": []}
    cpu_us: dict[str, list[float]] = {"on": [], "off": []}
    try:
        for server in servers.values():
            server.start(READY)
        for server in servers.values():  # warm-up
            run_wrk(server.port, "latest", PAIRS, seconds=2, connections=connections)
        for r in range(rounds):
            order = ["on", "off"] if r % 2 == 0 else ["off", "on"]
            for key in order:
                server = servers[key]
                assert server.proc is not None
                before = cpu_seconds(server.proc.pid)
                result: LoadResult = run_wrk(
                    server.port, "latest", PAIRS, seconds=seconds, connections=connections
                )
                used = cpu_seconds(server.proc.pid) - before
                if result.status_errors or result.socket_errors:
                    raise RuntimeError(f"{key}: errors in round {r + 1}: {result}")
                rps[key].append(result.rps)
                cpu_us[key].append(used / result.requests * 1e6)
                print(
                    f"  round {r + 1} metrics {key:<3} {result.rps:>8,.0f} req/s "
                    f"{cpu_us[key][-1]:6.1f} µs CPU/request",
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.stop()
    return rps, cpu_us


def make_store(count: int = 20_160, real: int = 10) -> Store:
    """A 7-day store ending now: the newest `real` files written with the real encoder.

    The older names are hard links to the oldest real file: neither latest
    /convert nor a scrape ever reads them (only the newest readable file), but
    the reader indexes every name, as it would a week of snapshots.
    """
    store = Store("metrics", count, 0, 0)
    shutil.rmtree(store.data_dir, ignore_errors=True)
    store.directory.mkdir(parents=True)
    quotes = fixture_quotes()
    newest = now_ms()
    times = [newest - i * 30_000 for i in range(count)]
    for ms in times[:real]:
        data = encode(Snapshot(EXCHANGE, ms, quotes))
        (store.directory / filename_for(ms)).write_bytes(data)
    source = store.directory / filename_for(times[real - 1])
    for ms in times[real:]:
        os.link(source, store.directory / filename_for(ms))
    return Store("metrics", count, times[-1], newest)


def four_venues(store: Store) -> Path:
    """A DATA_DIR whose four venue directories are the same store."""
    root = OUT / "store-metrics-4-venues"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for venue in VENUES:
        (root / venue).symlink_to(store.directory.resolve(), target_is_directory=True)
    return root


def scrape_times(data_dir: Path, workers: int, scrapes: int) -> list[float]:
    """Milliseconds per GET /metrics (after one warm-up scrape)."""
    server = api_server(f"metrics-scrape-{workers}", Store("metrics", 0, 0, 0))
    server.env.update(DATA_DIR=str(data_dir), API_WORKERS=str(workers))
    try:
        server.start(READY, timeout=60)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        times: list[float] = []
        for i in range(scrapes + 1):
            started = time.perf_counter()
            conn.request("GET", "/metrics")
            body = conn.getresponse().read()
            if i:
                times.append((time.perf_counter() - started) * 1000)
            if b'crypto_converter_snapshots_indexed{exchange="okx"} 20160.0' not in body:
                raise RuntimeError(f"unexpected scrape: {body[:300]!r}")
        conn.close()
        return times
    finally:
        server.stop()


def _name(middleware: object) -> str:
    return str(getattr(getattr(middleware, "func", middleware), "__name__", ""))


def middleware_cost(data_dir: Path, calls: int = 200_000) -> float:
    """µs per call of the API's request-metrics middleware, in process, on a real request.

    A lower bound (the code and its data stay in the CPU's caches here, not
    between real requests), but free of the machine's noise.
    """
    import asyncio
    import warnings

    from api.app import create_app
    from settings import load_settings

    app = create_app(load_settings({"DATA_DIR": str(data_dir)}), name="metrics_cost")
    # As Sanic keeps it: a Middleware wrapping the function.
    observe: Any = next(m for m in app.response_middleware if _name(m) == "observe")
    seen: list[Any] = []

    def grab(request: Any, response: Any) -> None:
        seen[:] = [request, response]

    app.on_response(grab)  # type: ignore[no-untyped-call]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # sanic-testing's websockets import
        asyncio.run(app.asgi_client.get("/convert?amount=1&from=BTC&to=USDT"))
    request, response = seen
    request.stream.perft0 = time.perf_counter()  # as Sanic's HTTP/1 stream sets it
    started = time.perf_counter()
    for _ in range(calls):
        observe(request, response)
    return (time.perf_counter() - started) / calls * 1e6


def scan_times(data_dir: Path) -> tuple[float, float]:
    """(first scan ms, later scan ms) of the consumer's store figures for 4 venues."""
    scanner = StoreScanner(data_dir, VENUES)
    started = time.perf_counter()
    scanner.scan()
    first = (time.perf_counter() - started) * 1000
    later = []
    for _ in range(5):
        started = time.perf_counter()
        scanner.scan()
        later.append((time.perf_counter() - started) * 1000)
    return first, statistics.median(later)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--scrapes", type=int, default=50)
    args = p.parse_args(argv)
    week = make_store()
    rps, cpu_us = ab(week, args.rounds, args.duration, args.connections)
    ratios = [on / off for on, off in zip(rps["on"], rps["off"], strict=True)]
    cpu = {key: statistics.median(values) for key, values in cpu_us.items()}
    data_dir = four_venues(week)
    scrapes = {w: scrape_times(data_dir, w, args.scrapes) for w in (1, 2)}
    first, later = scan_times(data_dir)
    call_us = middleware_cost(data_dir)
    result = {
        "middleware_us_per_call": call_us,
        "rps": rps,
        "cpu_us_per_request": cpu_us,
        "ratio_on_off": ratios,
        "scrape_ms": {str(w): t for w, t in scrapes.items()},
        "consumer_scan_ms": {"first": first, "later": later},
    }
    path = OUT / f"metrics-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(
        f"\nlatest /convert, median req/s: metrics on {statistics.median(rps['on']):,.0f}, "
        f"off {statistics.median(rps['off']):,.0f}; on/off per round "
        + ", ".join(f"{r:.1%}" for r in ratios)
        + f"; median {statistics.median(ratios):.1%} (target >= 95%)"
    )
    print(
        f"server CPU per request, median: on {cpu['on']:.1f} µs, off {cpu['off']:.1f} µs: "
        f"throughput on/off {cpu['off'] / cpu['on']:.1%} (target >= 95%)"
    )
    print(f"request-metrics middleware, in process: {call_us:.2f} µs a call")
    for workers, times in scrapes.items():
        ordered = sorted(times)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(
            f"GET /metrics, 4 venues x 20,160 snapshots, API_WORKERS={workers}: "
            f"median {statistics.median(times):.2f} ms, p95 {p95:.2f} ms, "
            f"max {max(times):.2f} ms (target < 20 ms)"
        )
    print(
        f"consumer store scan, 4 venues x 20,160 files: first {first:.0f} ms, then {later:.1f} ms"
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
