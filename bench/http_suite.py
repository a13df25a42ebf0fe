"""The HTTP half of the benchmark: start-up, then wrk rounds interleaved across servers.

Every scenario runs once per round, in an order rotated each round, so slow
drifts of a shared machine hit all scenarios alike; ratios are taken within a
round (e.g. latest / bare of the same round) and the median over rounds is
reported. Conversions run at -c32 (throughput: the server saturated), series
at -c1 (latency: one request at a time, no queueing in the number).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import orjson
from live import LiveWriter
from load import (
    RATES_LUA,
    LoadResult,
    Server,
    api_server,
    bare_server,
    finish_wrk,
    get,
    run_script,
    run_wrk,
    start_script,
    start_wrk,
)
from store import Roller, Store, now_ms, warm

__all__ = [
    "ERROR_PAIRS",
    "PAIRS",
    "READY",
    "HttpResults",
    "Scenario",
    "measure_startup",
    "run_suite",
]

# A mix of direct and inverse pairs (USDT->BTC, USDT->ETH use BTCUSDT, ETHUSDT) and
# lower-case codes; all are quotable in the recorded payload.
PAIRS = (
    "BTC:USDT,USDT:BTC,ETH:BTC,btc:usdt,SOL:USDT,DOGE:USDT,"
    "BNB:ETH,XRP:BTC,ETH:USDT,USDT:ETH,ADA:USDT,LTC:BTC"
)
# Both codes are quoted in the fixture, but no symbol joins them: 404 pair_not_found.
ERROR_PAIRS = "ETH:DOGE,DOGE:ETH"
READY = "/convert?amount=1&from=BTC&to=USDT"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    server: str  # "bare" or a key of the APIs
    mode: str  # "latest" or "historical" (bench/lua/convert.lua), or "rates" (rates.lua)
    pairs: str = PAIRS
    expect_errors: bool = False  # every response must be non-2xx
    connections: int | None = None  # None: the suite's
    span_s: int = 0  # rates: start = now - span_s, end = now
    interval: str = "5m"  # rates
    exchange: str | None = None  # rates: None = DEFAULT_EXCHANGE


@dataclass(slots=True)
class HttpResults:
    rounds: dict[str, list[LoadResult]] = field(default_factory=dict)
    startup_s: list[float] = field(default_factory=list)
    rss_kib: dict[str, tuple[int, int]] = field(default_factory=dict)  # when -> (VmRSS, VmHWM)
    notes: list[str] = field(default_factory=list)  # problems: wrong statuses, socket errors
    warm_s: dict[str, float] = field(default_factory=dict)  # page-cache warm-up per store
    live_writes: int = 0  # snapshots written into the stores during the rounds
    stall: dict[str, LoadResult] = field(default_factory=dict)  # latest, snapshots landing
    beside: dict[str, LoadResult] = field(default_factory=dict)  # latest beside a long series
    connections: dict[str, int] = field(default_factory=dict)  # scenario -> wrk -c

    def median(self, name: str, attr: str) -> float:
        return statistics.median(float(getattr(r, attr)) for r in self.rounds[name])

    def ratio(self, name: str, base: str) -> float:
        """Median over rounds of rps(name) / rps(base) within the same round."""
        pairs = zip(self.rounds[name], self.rounds[base], strict=True)
        return statistics.median(a.rps / b.rps for a, b in pairs)


def measure_startup(store: Store, runs: int) -> list[float]:
    """Seconds from spawning `python run.py api` to its first 200 on /convert, `runs` times."""
    times: list[float] = []
    for i in range(runs):
        with api_server(f"startup-{store.label}-{i}", store, max_age_seconds=None) as server:
            times.append(server.start(READY))
    return times


def _preflight(server: Server, store: Store | None) -> None:
    """A few requests checked by hand, so wrk's counts mean what the table says."""
    status, body = get(server.port, READY)
    if status != 200 or (store is not None and b'"rate"' not in body):
        raise RuntimeError(f"{server.name}: {READY} -> {status} {body[:200]!r}")
    if store is None:
        return
    at = (store.oldest_ms + store.newest_ms) // 2
    path = f"/convert?amount=2&from=USDT&to=BTC&timestamp={at // 1000}.{at % 1000:03d}"
    status, body = get(server.port, path)
    quoted = orjson.loads(body).get("quoted_at", "") if status == 200 else ""
    if status != 200 or not quoted:
        raise RuntimeError(f"{server.name}: {path} -> {status} {body[:200]!r}")
    status, body = get(server.port, "/rates?from=BTC&to=USDT&interval=5m", timeout=10)
    if status == 404 and b'"not_found"' in body:
        return  # an older checkout (bench/ab.py): no /rates
    points = orjson.loads(body).get("summary", {}).get("points", 0) if status == 200 else 0
    if points < 288:
        raise RuntimeError(f"{server.name}: /rates 24 h -> {status} {body[:200]!r}")


def _check(scenario: Scenario, result: LoadResult) -> str | None:
    if result.socket_errors:
        return f"{scenario.name}: {result.socket_errors} socket errors"
    wrong = result.requests - result.status_errors if scenario.expect_errors else 0
    wrong = wrong or (0 if scenario.expect_errors else result.status_errors)
    return f"{scenario.name}: {wrong} responses with the wrong status" if wrong else None


def _rates_args(scenario: Scenario) -> list[str]:
    return [str(scenario.span_s), scenario.interval, scenario.pairs] + (
        [scenario.exchange] if scenario.exchange else []
    )


def run_suite(
    apis: dict[str, tuple[Store, str | None]],
    scenarios: list[Scenario],
    *,
    rounds: int,
    seconds: float,
    connections: int,
    live_interval: float = 30.0,
    beside: Scenario | None = None,
) -> HttpResults:
    """Start the bare server and the APIs (key -> store, checkout), then run the rounds.

    A scenario's `server` is "bare" or a key of `apis`; the checkout is None for
    this repository or the path of another one (A/B runs). Every `live_interval`
    seconds (0: never) a snapshot per venue lands in each store, as in production.
    `beside`: a series scenario run at the same time as latest conversions, after
    the rounds, to see whether a long series holds the event loop.
    """
    results = HttpResults()
    stores = {key: store for key, (store, _) in apis.items()}
    servers: dict[str, Server] = {"bare": bare_server()}
    for key, (store, root) in apis.items():
        servers[key] = api_server(f"api-{key}", store, root, max_age_seconds=None)
    try:
        for store in {s.label: s for s in stores.values()}.values():
            results.warm_s[store.label] = warm(store)
        for key, server in servers.items():
            server.start(READY)
            _preflight(server, stores.get(key))
        spans = {k: (s.oldest_ms, s.newest_ms) for k, s in stores.items()}

        def once(scenario: Scenario, duration: float) -> LoadResult:
            server = servers[scenario.server]
            clients = scenario.connections or connections
            results.connections[scenario.name] = clients
            if scenario.mode == "rates":
                return run_script(
                    server.port,
                    RATES_LUA,
                    _rates_args(scenario),
                    seconds=duration,
                    connections=clients,
                )
            span = spans.get(scenario.server) if scenario.mode == "historical" else None
            return run_wrk(
                server.port,
                scenario.mode,
                scenario.pairs,
                seconds=duration,
                connections=clients,
                span=span,
            )

        live = LiveWriter(list({s.label: s for s in stores.values()}.values()), live_interval)
        with live:
            for scenario in scenarios:  # warm-up: page cache, allocator, the memos
                once(scenario, min(2.0, seconds))
            for r in range(rounds):
                order = scenarios[r % len(scenarios) :] + scenarios[: r % len(scenarios)]
                for scenario in order:
                    result = once(scenario, seconds)
                    problem = _check(scenario, result)
                    if problem:
                        results.notes.append(f"round {r + 1}: {problem}")
                    results.rounds.setdefault(scenario.name, []).append(result)
                    print(
                        f"  round {r + 1} {scenario.name:<18} {result.rps:>8,.1f} req/s "
                        f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms",
                        flush=True,
                    )
            if beside is not None:
                for key in apis:
                    results.beside[key] = _beside(servers[key], beside, seconds)
        results.live_writes = len(live.written)
        for key in apis:
            results.stall[key] = _snapshot_stall(servers[key], stores[key])
        for key, server in servers.items():
            if key != "bare":
                results.rss_kib[f"{key} after load"] = server.rss_kib()
    finally:
        for server in servers.values():
            server.stop()
    return results


def _snapshot_stall(server: Server, store: Store, seconds: float = 6.0) -> LoadResult:
    """Latest conversions at a light load (-c4) while one snapshot of every venue lands.

    The consumer writes each venue's snapshot on one schedule, so they land
    together, 2 s into the run. The API notices each new file by its
    directory's mtime, re-lists the directory and decodes the newest file;
    whatever that costs, requests wait for it, so it shows in p99 and max.
    """
    roller = Roller(store)
    proc = start_wrk(server.port, "latest", PAIRS, seconds=seconds, connections=4)
    time.sleep(2.0)
    roller.write(now_ms())
    return finish_wrk(proc, timeout=seconds + 60)


def _beside(server: Server, series: Scenario, seconds: float) -> LoadResult:
    """Latest conversions at -c4 while `series` runs at -c1 on the same server."""
    other = start_script(server.port, RATES_LUA, _rates_args(series), seconds=seconds,
                         connections=1)  # fmt: skip
    try:
        return run_wrk(server.port, "latest", PAIRS, seconds=seconds, connections=4)
    finally:
        finish_wrk(other, timeout=seconds + 60)
