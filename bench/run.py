#!/usr/bin/env python
"""Crypto Converter's benchmark: one command, results into docs/benchmarks.md.

    .venv/bin/python bench/run.py            full run (~8 minutes on a built store)
    .venv/bin/python bench/run.py --quick    shorter wrk runs, no reindex (~3 minutes)

See bench/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import orjson
from _repo import OUT, ROOT
from consumer_cost import measure_cycle
from history_cost import measure as measure_history
from http_suite import Scenario, measure_startup, run_suite
from report import Reindex, Report, render, write
from store import EXCHANGE, ensure_store, reindex, store_bytes

PREAMBLE = """# Benchmarks

How fast Crypto Converter is on one machine, measured by `bench/` (see
`bench/README.md`). The section between the markers is rewritten by every run
of `python bench/run.py`; the analysis after it is written by people.
"""
DAY_S = 86_400
TEN_K_30S_S = (10_000 - 1) * 30  # the longest span at 30 s that fits one response


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark the API, the history index and the consumer."
    )
    p.add_argument("--quick", action="store_true", help="3 s wrk runs, no reindex, fewer repeats")
    p.add_argument("--rounds", type=int, help="interleaved wrk rounds (default 3)")
    p.add_argument("--duration", type=int, help="seconds per wrk run (default 10, quick 3)")
    p.add_argument("--connections", type=int, default=32, help="wrk -c for conversions")
    p.add_argument("--no-reindex", action="store_true", help="skip timing run.py reindex")
    p.add_argument("--static", action="store_true", help="no snapshot landing every 30 s")
    p.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--no-write", action="store_true", help="print the Markdown, do not save it")
    return p.parse_args(argv)


def _machine() -> dict[str, str]:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "machine": f"{os.cpu_count()} cores, {model}, Linux {platform.release()} "
        "(a VM shared with other engineers' test runs: medians, ratios within a round)",
        "software": f"Python {platform.python_version()}, Sanic {version('sanic')}, "
        f"uvloop {version('uvloop')}, orjson {version('orjson')}, {wrk.strip()}",
        "code": f"commit {commit.stdout.strip() or '?'}"
        + (" with uncommitted changes to tracked files" if dirty else ""),
    }


def _reindex(store_dir: Path, venue: str) -> Reindex:
    """`python run.py reindex --exchange VENUE` as an operator runs it, timed from outside."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    took, output, cpu = reindex(store_dir, [venue])
    wall = time.perf_counter() - started
    snapshots = sum(1 for name in os.listdir(store_dir / venue) if name.endswith("Z.json"))
    return Reindex(venue, snapshots, wall, took.get(venue, 0.0), cpu, load_before,
                   os.getloadavg()[0], output)  # fmt: skip


def scenarios(quick: bool) -> tuple[list[Scenario], Scenario]:
    """The rounds' scenarios, and the series run beside latest conversions afterwards."""
    tenk = Scenario("rates-10k-30s", "7d", "rates", connections=1, span_s=TEN_K_30S_S,
                    interval="30s")  # fmt: skip
    rounds = [
        Scenario("bare", "bare", "latest"),
        Scenario("latest", "7d", "latest"),
        Scenario("historical", "7d", "historical"),
        Scenario("rates-24h-5m", "7d", "rates", connections=1, span_s=DAY_S, interval="5m"),
        # A minute short of 7 days: the oldest boundary stays inside the store as it rolls.
        Scenario("rates-7d-5m", "7d", "rates", connections=1, span_s=7 * DAY_S - 60, interval="5m"),
        tenk,
    ]
    if not quick:
        rounds.append(
            Scenario(
                "rates-24h-5m-average",
                "7d",
                "rates",
                connections=1,
                span_s=DAY_S,
                interval="5m",
                exchange="average",
            )
        )
    return rounds, tenk


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    quick = args.quick
    rounds = args.rounds or 3
    seconds = args.duration or (3.0 if quick else 10.0)
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    OUT.mkdir(parents=True, exist_ok=True)
    print("store (7 days, every venue)", flush=True)
    week = ensure_store("7d")
    sizes = {venue: store_bytes(week.data_dir / venue) for venue in week.venues}

    rebuilt = None
    if not (quick or args.no_reindex):
        print(f"run.py reindex --exchange {EXCHANGE} (7 days)", flush=True)
        rebuilt = _reindex(week.data_dir, EXCHANGE)
        print(f"  {rebuilt.wall_s:.1f} s wall, {rebuilt.cpu_s:.1f} s CPU", flush=True)

    print("consumer: parse + write (index append included)", flush=True)
    cycle = measure_cycle(10 if quick else 30)
    print("history index in process: warm-up, look-ups, series", flush=True)
    history = measure_history(week, 1_000 if quick else 3_000, 3 if quick else 5)

    print("store caught up; API start-up (7-day store, four venues)", flush=True)
    week = ensure_store("7d")
    startup = measure_startup(week, 3)
    week = ensure_store("7d")

    rounds_list, beside = scenarios(quick)
    print(f"wrk: {rounds} rounds x {len(rounds_list)} scenarios x {seconds:g} s", flush=True)
    http = run_suite(
        {"7d": (week, None)},
        rounds_list,
        rounds=rounds,
        seconds=seconds,
        connections=args.connections,
        live_interval=0 if args.static else 30,
        beside=beside,
    )
    http.startup_s = startup

    command = "python bench/run.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "loadavg": f"{load_start:.2f} / {os.getloadavg()[0]:.2f}",
        "load": f"wrk -t1 -c{args.connections} (conversions) or -c1 (series), "
        f"-d{seconds:g}s, {rounds} interleaved rounds",
        **_machine(),
    }
    result = Report(meta, http, cycle, history, rebuilt, sizes, week.venues)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = {**asdict(result), "rounds_rps": {k: [x.rps for x in v] for k, v in http.rounds.items()}}
    (OUT / f"results-{stamp}.json").write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2))
    region = render(result)
    if args.no_write:
        print(region)
    else:
        write(Path(args.output), region, PREAMBLE)
        print(f"wrote {args.output}")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
