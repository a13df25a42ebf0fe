#!/usr/bin/env python
"""A/B: this checkout's API against another checkout's, in the same interleaved rounds.

    .venv/bin/python bench/ab.py /tmp/experiment [--rounds 5] [--duration 5]

Both APIs run on the same 7-day store with the same interpreter, next to the
bare Sanic route; the table gives each one's req/s and its share of the bare
route, so a source change can be judged on this noisy machine before it is
proposed. Nothing is written to docs/.
"""

from __future__ import annotations

import argparse
import sys

from http_suite import ERROR_PAIRS, Scenario, run_suite
from store import ensure_store


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("other", help="path of the other checkout (its run.py is started)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--errors", action="store_true", help="also the pair_not_found path")
    p.add_argument("--static", action="store_true", help="no new snapshot every 30 s")
    args = p.parse_args(argv)
    week = ensure_store("7d")
    apis = {"A": (week, None), "B": (week, args.other)}
    scenarios = [Scenario("bare", "bare", "latest")]
    for key in apis:
        scenarios.append(Scenario(f"latest-{key}", key, "latest"))
        scenarios.append(Scenario(f"historical-{key}", key, "historical"))
        if args.errors:
            scenarios.append(Scenario(f"error-{key}", key, "latest", ERROR_PAIRS, True))
    results = run_suite(
        apis,
        scenarios,
        rounds=args.rounds,
        seconds=args.duration,
        connections=args.connections,
        live_interval=0 if args.static else 30,
    )
    print(f"\n{'scenario':<16} {'req/s':>8} {'/ bare':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for s in scenarios:
        share = "" if s.name == "bare" else f"{results.ratio(s.name, 'bare'):.0%}"
        print(
            f"{s.name:<16} {results.median(s.name, 'rps'):>8,.0f} {share:>7} "
            f"{results.median(s.name, 'p50_ms'):>7.2f} {results.median(s.name, 'p99_ms'):>7.2f}"
        )
    for kind in ("latest", "historical") + (("error",) if args.errors else ()):
        print(f"B / A {kind}: {results.ratio(f'{kind}-B', f'{kind}-A'):.2f}")
    for key, x in results.stall.items():
        print(
            f"snapshot landing, {key}: {x.rps:,.0f} req/s at -c4, "
            f"p99 {x.p99_ms:.1f} ms, max {x.max_ms:.0f} ms"
        )
    for note in results.notes:
        print("problem:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
