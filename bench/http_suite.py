"""The HTTP half of the benchmark: start-up, then wrk rounds interleaved across servers.

Every scenario runs once per round, in an order rotated each round, so slow
drifts of a shared machine hit all scenarios alike; ratios are taken within a
round (e.g. latest / bare of the same round) and the median over rounds is
reported.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import orjson
from live import LiveWriter
from load import (
    LoadResult,
    Server,
    api_server,
    bare_server,
    finish_wrk,
    get,
    run_wrk,
    start_wrk,
)
from store import Store, warm

__all__ = ["ERROR_PAIRS", "PAIRS", "HttpResults", "Scenario", "measure_startup", "run_suite"]

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
    server: str  # "bare" or a store label
    mode: str  # "latest" or "historical" (see bench/lua/convert.lua)
    pairs: str = PAIRS
    expect_errors: bool = False  # every response must be non-2xx


@dataclass(slots=True)
class HttpResults:
    rounds: dict[str, list[LoadResult]] = field(default_factory=dict)
    startup_s: list[float] = field(default_factory=list)
    rss_kib: dict[str, tuple[int, int]] = field(default_factory=dict)  # when -> (VmRSS, VmHWM)
    notes: list[str] = field(default_factory=list)  # problems: wrong statuses, socket errors
    warm_s: dict[str, float] = field(default_factory=dict)  # page-cache warm-up per store
    live_writes: int = 0  # snapshots written into the stores during the rounds
    stall: dict[str, LoadResult] = field(default_factory=dict)  # latest, one snapshot lands

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
        with api_server(f"startup-{store.label}-{i}", store) as server:
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
    status, body = get(server.port, "/convert?amount=1&from=ETH&to=DOGE")
    if status != 404 or b"pair_not_found" not in body:
        raise RuntimeError(f"{server.name}: ETH->DOGE -> {status} {body[:200]!r}")


def _check(scenario: Scenario, result: LoadResult) -> str | None:
    if result.socket_errors:
        return f"{scenario.name}: {result.socket_errors} socket errors"
    wrong = result.requests - result.status_errors if scenario.expect_errors else 0
    wrong = wrong or (0 if scenario.expect_errors else result.status_errors)
    return f"{scenario.name}: {wrong} responses with the wrong status" if wrong else None


def run_suite(
    apis: dict[str, tuple[Store, str | None]],
    scenarios: list[Scenario],
    *,
    rounds: int,
    seconds: float,
    connections: int,
    live_interval: float = 30.0,
) -> HttpResults:
    """Start the bare server and the APIs (key -> store, checkout), then run the rounds.

    A scenario's `server` is "bare" or a key of `apis`; the checkout is None for
    this repository or the path of another one (A/B runs). Every `live_interval`
    seconds (0: never) a new snapshot is written into each store, as in production.
    """
    results = HttpResults()
    stores = {key: store for key, (store, _) in apis.items()}
    servers: dict[str, Server] = {"bare": bare_server()}
    for key, (store, root) in apis.items():
        servers[key] = api_server(f"api-{key}", store, root)
    try:
        for store in {s.label: s for s in stores.values()}.values():
            results.warm_s[store.label] = warm(store)
        for key, server in servers.items():
            server.start(READY)
            _preflight(server, stores.get(key))
        spans = {k: (s.oldest_ms, s.newest_ms) for k, s in stores.items()}

        def once(scenario: Scenario, duration: float) -> LoadResult:
            server = servers[scenario.server]
            span = spans.get(scenario.server) if scenario.mode == "historical" else None
            return run_wrk(
                server.port,
                scenario.mode,
                scenario.pairs,
                seconds=duration,
                connections=connections,
                span=span,
            )

        for scenario in scenarios:  # warm-up: page cache, allocator, the reader's index
            once(scenario, min(2.0, seconds))
        live = LiveWriter(list({s.label: s for s in stores.values()}.values()), live_interval)
        with live:
            for r in range(rounds):
                order = scenarios[r % len(scenarios) :] + scenarios[: r % len(scenarios)]
                for scenario in order:
                    result = once(scenario, seconds)
                    problem = _check(scenario, result)
                    if problem:
                        results.notes.append(f"round {r + 1}: {problem}")
                    results.rounds.setdefault(scenario.name, []).append(result)
                    print(
                        f"  round {r + 1} {scenario.name:<16} {result.rps:>8,.0f} req/s "
                        f"p50 {result.p50_ms:5.2f} ms  p99 {result.p99_ms:6.2f} ms",
                        flush=True,
                    )
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


def _snapshot_stall(server: Server, store: Store, seconds: float = 4.0) -> LoadResult:
    """Latest conversions at a light load (-c4) while one new snapshot is written.

    The API notices the new file by the directory's mtime and re-indexes the
    store; whatever that costs, requests wait for it, so it shows as max latency.
    """
    proc = start_wrk(server.port, "latest", PAIRS, seconds=seconds, connections=4)
    with LiveWriter([store], interval=seconds / 4):
        return finish_wrk(proc, timeout=seconds + 60)


def run_slow_error(
    store: Store, seconds: float, connections: int, api_root: str | None = None
) -> tuple[LoadResult, tuple[int, int], tuple[int, int]]:
    """Historical pair_not_found on a fresh API: (load, RSS before, RSS after) in KiB."""
    with api_server(f"api-{store.label}-hist-error", store, api_root) as server:
        server.start(READY)
        before = server.rss_kib()
        result = run_wrk(
            server.port,
            "historical",
            ERROR_PAIRS,
            seconds=seconds,
            connections=connections,
            span=(store.oldest_ms, store.newest_ms),
        )
        return result, before, server.rss_kib()
