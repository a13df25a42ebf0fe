#!/usr/bin/env python
"""Crypto Converter's benchmark: one command, results into docs/benchmarks.md.

    .venv/bin/python bench/run.py            full run (~6 minutes)
    .venv/bin/python bench/run.py --quick    fewer, shorter runs (~2 minutes)

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
from consumer_cost import (
    byte_breakdown,
    encoding_sizes,
    measure_cycle,
    measure_retention,
    store_size,
)
from http_suite import ERROR_PAIRS, Scenario, measure_startup, run_slow_error, run_suite
from report import Report, render, write
from store import ensure_store, fixture_quotes

PREAMBLE = """# Benchmarks

How fast Crypto Converter is on one machine, measured by `bench/` (see
`bench/README.md`). The section between the markers is rewritten by every run
of `python bench/run.py`; the analysis after it is written by people.
"""


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark the API and the consumer.")
    p.add_argument("--quick", action="store_true", help="3 s wrk runs, fewer stores and repeats")
    p.add_argument("--rounds", type=int, help="interleaved wrk rounds (default 3)")
    p.add_argument("--duration", type=int, help="seconds per wrk run (default 10, quick 3)")
    p.add_argument("--connections", type=int, default=32, help="wrk -c (default 32)")
    p.add_argument(
        "--static", action="store_true", help="no new snapshot every 30 s during the load"
    )
    p.add_argument("--api-root", help="run the API from another checkout (A/B experiments)")
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
        "(shared VM: medians, ratios within a round)",
        "software": f"Python {platform.python_version()}, Sanic {version('sanic')}, "
        f"uvloop {version('uvloop')}, orjson {version('orjson')}, {wrk.strip()}",
        "code": f"commit {commit.stdout.strip() or '?'}"
        + (" with uncommitted changes to tracked files" if dirty else ""),
    }


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    quick = args.quick
    rounds = args.rounds or 3
    seconds = args.duration or (3.0 if quick else 10.0)
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    OUT.mkdir(parents=True, exist_ok=True)
    labels = ["100", "7d"] if quick else ["100", "1d", "7d"]
    print(f"stores ({', '.join(labels)})", flush=True)
    stores = {label: ensure_store(label) for label in labels}
    week = stores["7d"]

    print("consumer: parse + write", flush=True)
    cycle = measure_cycle(10 if quick else 30)
    quotes = fixture_quotes()
    apparent, allocated = store_size(week)

    print("API start-up (7-day store)", flush=True)
    startup = measure_startup(week, 3)

    scenarios = [Scenario("bare", "bare", "latest")]
    for label in labels:
        scenarios.append(Scenario(f"latest-{label}", label, "latest"))
    for label in labels[1:]:
        scenarios.append(Scenario(f"historical-{label}", label, "historical"))
    scenarios.append(Scenario("error-7d", "7d", "latest", ERROR_PAIRS, expect_errors=True))
    print(f"wrk: {rounds} rounds x {len(scenarios)} scenarios x {seconds:g} s", flush=True)
    apis = {label: (store, args.api_root) for label, store in stores.items()}
    http = run_suite(apis, scenarios, rounds=rounds, seconds=seconds, connections=args.connections)
    http.startup_s = startup
    slow = None
    if not quick:
        print("historical pair_not_found (informational)", flush=True)
        slow = run_slow_error(week, seconds, args.connections, args.api_root)

    print("retention pass (8 days of files)", flush=True)
    retention = measure_retention(week, 1 if quick else 3)

    command = "python bench/run.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "loadavg": f"{load_start:.2f} / {os.getloadavg()[0]:.2f}",
        "load": f"wrk -t1 -c{args.connections} -d{seconds:g}s, {rounds} interleaved rounds",
        **_machine(),
    }
    result = Report(
        meta=meta,
        http=http,
        cycle=cycle,
        retention=retention,
        sizes=encoding_sizes(quotes),
        breakdown=byte_breakdown(quotes),
        store_apparent=apparent,
        store_allocated=allocated,
        slow_error=slow,
    )
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
