"""How fast the venue features are: `/convert?exchange=average|best`, `/prices`, vs the ceiling.

    python bench/venues.py            # ~2 minutes: 3 interleaved rounds of 5 s wrk runs
    python bench/venues.py --quick    # ~40 s: 1 round of 3 s runs

The store: four venues (binance, kraken, bybit, okx), each holding all 1,261
quotable symbols of the recorded Binance payload with its prices moved by
+0.1 % per venue (exact decimals, the recording's sizes), three snapshots per
venue, the newest just written. So every pair is listed by four venues: the
heaviest board (5,044 rows, an outlier check per pair) and an average or best
over four venues on every request. The API runs as `python run.py api` with
`API_WORKERS=1` and `QUOTES_MAX_AGE_SECONDS=1800` (the snapshots must stay
fresh for the run), the ceiling is `bench/bare_app.py`, both as in `bench/run.py`.

Scenarios, `wrk -t1 -c32`, medians over interleaved rounds, ratios taken
within a round against the bare route:

- `latest-one`: plain `/convert` with `EXCHANGES=binance` (the product before
  venues: must not be slower than `bench/run.py`'s `latest-100`);
- `latest-venue`: plain `/convert` (default binance) with four venues configured;
- `average`, `best`: `/convert?...&exchange=average|best` over four venues;
- `prices-pair`: `/prices?pair=...` (one pair, all venues, with the average).

Then latency at `-c1` (no queueing): `/prices` (the full board, ~1.3 MB) and
`/prices?pair=...`, p50/p99; and the rebuild: the first full `/prices` after
one venue writes a new snapshot (median of 5).

Results go to `bench/out/venues-results.json` and are printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from decimal import Decimal

from _repo import OUT, ROOT
from load import LoadResult, Server, bare_server, finish_wrk, free_port, get
from store import fixture_quotes, now_ms

from storage.model import Quote, Snapshot
from storage.writer import SnapshotWriter

VENUES = ("binance", "kraken", "bybit", "okx")
DATA = OUT / "venues" / "data"
LUA = OUT / "venues" / "paths.lua"
PAIRS = (
    "BTC:USDT,USDT:BTC,ETH:BTC,btc:usdt,SOL:USDT,DOGE:USDT,"
    "BNB:ETH,XRP:BTC,ETH:USDT,USDT:ETH,ADA:USDT,LTC:BTC"
)
AMOUNTS = ("1", "0.5", "2.25", "123.456789", "1000", "0.000123")
BOARD_PAIRS = ("btc-usdt", "ETH/BTC", "doge_usdt", "bnb-eth", "XRP/BTC", "ltc-btc")
SNAPSHOTS_PER_VENUE = 3

# wrk picks one of the given paths at random per request; done() prints one
# machine-readable line, the same as bench/lua/convert.lua's, for load.finish_wrk.
_LUA = """
local paths = {}
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  math.randomseed(20230310)
end
function request() return wrk.format("GET", paths[math.random(#paths)]) end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d status_errors=%d socket_errors=%d "
      .. "p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
"""


def _moved(quote: Quote, factor: Decimal) -> Quote:
    return Quote(
        quote.symbol, quote.base, quote.quote, quote.bid * factor, quote.ask * factor,
        quote.bid_qty, quote.ask_qty,
    )  # fmt: skip


def write_store(end_ms: int) -> None:
    """Three snapshots per venue, 30 s apart, the newest at `end_ms` (minus a few ms)."""
    shutil.rmtree(DATA, ignore_errors=True)
    recorded = fixture_quotes()
    for index, venue in enumerate(VENUES):
        factor = 1 + Decimal(index) / 1000
        quotes = {s: _moved(q, factor) for s, q in recorded.items()}
        writer = SnapshotWriter(DATA, venue)
        writer.ensure_directory()
        for back in range(SNAPSHOTS_PER_VENUE):
            writer.write(Snapshot(venue, end_ms - index - back * 30_000, quotes))


def api_server(name: str, exchanges: tuple[str, ...]) -> Server:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env |= {
        "PYTHONUNBUFFERED": "1",
        "PYTHON_DOTENV_DISABLED": "1",
        "DATA_DIR": str(DATA),
        "EXCHANGES": ",".join(exchanges),
        "DEFAULT_EXCHANGE": "binance",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(free_port()),
        "API_WORKERS": "1",
        "QUOTES_MAX_AGE_SECONDS": "1800",
        "METRICS_PORT": "0",
        "LOG_LEVEL": "INFO",
    }
    return Server(name, [str(ROOT / "run.py"), "api"], int(env["API_PORT"]), env)


def convert_paths(exchange: str | None) -> list[str]:
    suffix = "" if exchange is None else f"&exchange={exchange}"
    return [
        f"/convert?amount={amount}&from={src}&to={dst}{suffix}"
        for amount in AMOUNTS
        for src, dst in (pair.split(":") for pair in PAIRS.split(","))
    ]


def wrk(port: int, paths: list[str], *, seconds: int, connections: int) -> LoadResult:
    listing = LUA.with_suffix(f".{port}.{connections}.txt")
    listing.write_text("\n".join(paths) + "\n")
    argv = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
        "-s", str(LUA), f"http://127.0.0.1:{port}", "--", str(listing),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result = finish_wrk(proc, timeout=seconds + 60)
    if result.status_errors or result.socket_errors:
        raise RuntimeError(f"errors under load on {paths[0]}: {result}")
    return result


def check_answers(port: int) -> None:
    """Every path of every scenario answers 200 before anything is measured."""
    paths = [*convert_paths(None), *convert_paths("average"), *convert_paths("best")]
    paths += [f"/prices?pair={p}" for p in BOARD_PAIRS] + ["/prices"]
    for path in paths:
        status, body = get(port, path)
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:300]!r}")


def rebuild_ms(port: int) -> list[float]:
    """The first full board after one venue writes a new snapshot (cold rows + merge)."""
    recorded = fixture_quotes()
    times = []
    for i in range(5):
        writer = SnapshotWriter(DATA, VENUES[i % len(VENUES)])
        writer.write(Snapshot(writer.directory.name, now_ms(), dict(recorded)))
        time.sleep(0.4)  # the reader re-lists a changed directory at most every 0.25 s
        started = time.perf_counter()
        status, _ = get(port, "/prices", timeout=10)
        times.append((time.perf_counter() - started) * 1000)
        assert status == 200
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds, rounds = (3, 1) if args.quick else (5, 3)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not on the PATH")
    LUA.parent.mkdir(parents=True, exist_ok=True)
    LUA.write_text(_LUA)
    write_store(now_ms())
    servers = {"bare": bare_server(), "one": api_server("api-one", ("binance",))}
    servers["four"] = api_server("api-four", VENUES)
    pair_paths = [f"/prices?pair={p}" for p in BOARD_PAIRS]
    scenarios = {
        "bare": ("bare", ["/convert"]),
        "latest-one": ("one", convert_paths(None)),
        "latest-venue": ("four", convert_paths(None)),
        "average": ("four", convert_paths("average")),
        "best": ("four", convert_paths("best")),
        "prices-pair": ("four", pair_paths),
    }
    results: dict[str, list[LoadResult]] = {name: [] for name in scenarios}
    latency: dict[str, LoadResult] = {}
    try:
        for name, server in servers.items():
            server.start("/convert" if name == "bare" else "/convert?amount=1&from=BTC&to=USDT")
        check_answers(servers["four"].port)
        for round_index in range(rounds):
            order = list(scenarios)
            order = order[round_index % len(order) :] + order[: round_index % len(order)]
            for name in order:
                server_name, paths = scenarios[name]
                port = servers[server_name].port
                results[name].append(wrk(port, paths, seconds=seconds, connections=32))
        four = servers["four"].port
        latency["prices-full"] = wrk(four, ["/prices"], seconds=seconds, connections=1)
        latency["prices-pair"] = wrk(four, pair_paths, seconds=seconds, connections=1)
        rebuild = rebuild_ms(four)
        board_bytes = len(get(four, "/prices", timeout=10)[1])
    finally:
        for server in servers.values():
            server.stop()
    report(results, latency, rebuild, board_bytes, seconds, rounds)


def report(
    results: dict[str, list[LoadResult]],
    latency: dict[str, LoadResult],
    rebuild: list[float],
    board_bytes: int,
    seconds: int,
    rounds: int,
) -> None:
    bare = results["bare"]
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wrk": f"-t1 -c32 -d{seconds}s, {rounds} round(s)",
        "rounds": {k: [asdict(r) for r in v] for k, v in results.items()},
        "latency_c1": {k: asdict(v) for k, v in latency.items()},
        "rebuild_ms": rebuild,
        "board_bytes": board_bytes,
    }
    (OUT / "venues-results.json").write_text(json.dumps(out, indent=2))
    print(f"\n{out['date']}, wrk {out['wrk']}, four venues x 1,261 pairs\n")
    print("| scenario | req/s (median) | / bare | p50 | p99 |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        rps = statistics.median(r.rps for r in runs)
        ratio = statistics.median(r.rps / b.rps for r, b in zip(runs, bare, strict=True))
        p50 = statistics.median(r.p50_ms for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        share = "" if name == "bare" else f"{ratio:.0%}"
        print(f"| {name} | {rps:,.0f} | {share} | {p50:.2f} ms | {p99:.2f} ms |")
    print("\n| at -c1 | req/s | p50 | p99 |")
    print("|---|---:|---:|---:|")
    for name, result in latency.items():
        print(f"| {name} | {result.rps:,.0f} | {result.p50_ms:.2f} ms | {result.p99_ms:.2f} ms |")
    print(
        f"\nFull board: {board_bytes:,} bytes. First full /prices after a new snapshot "
        f"(rows of one venue + merge + serialise): median {statistics.median(rebuild):.0f} ms "
        f"({', '.join(f'{t:.0f}' for t in rebuild)})."
    )


if __name__ == "__main__":
    main()
