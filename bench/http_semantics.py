#!/usr/bin/env python
"""What issue #14's HTTP semantics cost a latest /convert: A/B of servers, and the ETag per call.

    .venv/bin/python bench/http_semantics.py [--sessions 4] [--rounds 4] [--before REF]

1. A/B on the same 7-day store (20,160 names, see `make_store`), same
   interpreter. "after" is this checkout's API as shipped. "before" is, by
   default, the same checkout with the per-request part of #14 taken out:
   this script, run as `--serve-without-http-semantics api`, puts Sanic's own
   router back (no HEAD beside GET) and leaves the validator middleware
   (`api.http.install`) out, then runs `run.py api`. The production code has
   no switch for it. With `--before REF`, "before" is instead that commit's
   whole API in a `git worktree` under /tmp (other changes since REF are
   then measured too).
   Several sessions, each with a fresh pair of servers (see `ab`), of
   interleaved wrk rounds of latest /convert (order alternated): req/s (ratio
   after/before within each round) and the server's CPU time per request
   (what a saturated single-worker server's throughput is the inverse of, and
   far less noisy on a shared machine). Target: after >= 97 % of before.
2. In process, µs per call on a real latest /convert response: the
   `revalidate` middleware (which passes it by: no-cache answers get no
   ETag) and `etag_for` (what an ETag on every latest answer would add). A
   lower bound free of the machine's noise.

Nothing is written to docs/; results go to bench/out/http-semantics-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import orjson
from _repo import OUT, ROOT
from http_suite import PAIRS, READY
from load import MAX_AGE_SECONDS, LoadResult, api_server, run_wrk
from store import EXCHANGE, Store, fixture_quotes, now_ms

from storage.codec import encode, filename_for
from storage.model import Snapshot

LABEL = "http-semantics"
SERVE_OFF = "--serve-without-http-semantics"


def serve_without_http_semantics(argv: list[str]) -> int:
    """`run.py` with Sanic's router (no HEAD) and no validator middleware: "before"."""
    from sanic.router import Router

    import run
    from api import http

    http.Router = Router  # type: ignore[misc, assignment]  # create_app builds `http.Router()`
    http.install = lambda app: None
    return run.main(argv)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_store(count: int = 20_160, real: int = 10) -> Store:
    """A 7-day store ending now: the newest `real` files real, the older names hard links.

    As bench/metrics.py builds its own: latest /convert reads only the newest
    file, but the reader indexes every name, as it would a week of snapshots.
    """
    store = Store(LABEL, count, 0, 0)
    shutil.rmtree(store.data_dir, ignore_errors=True)
    store.directory.mkdir(parents=True)
    quotes = fixture_quotes()
    newest = now_ms()
    times = [newest - i * 30_000 for i in range(count)]
    for ms in times[:real]:
        (store.directory / filename_for(ms)).write_bytes(encode(Snapshot(EXCHANGE, ms, quotes)))
    source = store.directory / filename_for(times[real - 1])
    for ms in times[real:]:
        os.link(source, store.directory / filename_for(ms))
    return Store(LABEL, count, times[-1], newest)


def worktree(ref: str) -> Path:
    """A detached `git worktree` of `ref` in a new directory under /tmp (removed by the caller)."""
    path = Path(tempfile.mkdtemp(prefix="crypto-converter-before-"))
    path.rmdir()
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(path), ref], cwd=ROOT, check=True
    )
    return path


def ab(
    store: Store,
    before_root: Path | None,
    *,
    sessions: int,
    rounds: int,
    seconds: float,
    connections: int,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per round, for before and after: latest /convert req/s, and server CPU µs per request.

    Each session starts both servers afresh (which one first alternates): a
    process's hash seed and memory layout move its speed by a few per cent
    for its whole life, as much as the change under test, so one pair of
    processes is not enough to judge it.
    """
    rps: dict[str, list[float]] = {"before": [], "after": []}
    cpu_us: dict[str, list[float]] = {"before": [], "after": []}
    for session in range(sessions):
        root = None if before_root is None else str(before_root)
        before = api_server(f"http-before-{session}", store, root)
        if before_root is None:
            before.argv = [str(Path(__file__).resolve()), SERVE_OFF, "api"]
        servers = {"before": before, "after": api_server(f"http-after-{session}", store)}
        try:
            for key in ("before", "after") if session % 2 == 0 else ("after", "before"):
                servers[key].start(READY)
            for server in servers.values():  # warm-up
                run_wrk(server.port, "latest", PAIRS, seconds=2, connections=connections)
            for r in range(rounds):
                order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
                for key in order:
                    server = servers[key]
                    assert server.proc is not None
                    started = cpu_seconds(server.proc.pid)
                    result: LoadResult = run_wrk(
                        server.port, "latest", PAIRS, seconds=seconds, connections=connections
                    )
                    used = cpu_seconds(server.proc.pid) - started
                    if result.status_errors or result.socket_errors:
                        raise RuntimeError(f"{key}: errors in round {r + 1}: {result}")
                    rps[key].append(result.rps)
                    cpu_us[key].append(used / result.requests * 1e6)
                    print(
                        f"  session {session + 1} round {r + 1} {key:<6} {result.rps:>8,.0f} "
                        f"req/s {cpu_us[key][-1]:6.1f} µs CPU/request",
                        flush=True,
                    )
        finally:
            for server in servers.values():
                server.stop()
    return rps, cpu_us


def etag_cost(data_dir: Path, calls: int = 200_000) -> tuple[float, float, int]:
    """(µs per `revalidate` call, µs per `etag_for` call, body bytes) on a real latest answer.

    `revalidate` passes a latest answer by (no-cache: no ETag); `etag_for` is
    what giving it one would add. Each call gets a fresh copy of the headers,
    as each request has its own (the copying is timed apart and subtracted).
    """
    from api.app import create_app
    from api.http import etag_for, revalidate
    from settings import load_settings

    settings = load_settings({"DATA_DIR": str(data_dir), "QUOTES_MAX_AGE_SECONDS": MAX_AGE_SECONDS})
    app = create_app(settings, name="http_semantics_cost")
    seen: list[Any] = []

    def grab(request: Any, response: Any) -> None:
        # The headers as they are before revalidate adds the ETag to them in place.
        seen[:] = [request, response, response.headers.copy()]

    app.on_response(grab, priority=-2)  # type: ignore[no-untyped-call]  # before revalidate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # sanic-testing's websockets import
        asyncio.run(app.asgi_client.get(READY))
    request, response, original = seen
    if response.status != 200 or original.get("cache-control") != "no-cache":
        raise RuntimeError(f"not a latest answer: {response.status} {original!r}")
    body: bytes = response.body
    started = time.perf_counter()
    for _ in range(calls):
        response.headers = original.copy()
    copying = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(calls):
        response.headers = original.copy()
        revalidate(request, response)
    per_call = (time.perf_counter() - started - copying) / calls * 1e6
    started = time.perf_counter()
    for _ in range(calls):
        etag_for(body)
    return per_call, (time.perf_counter() - started) / calls * 1e6, len(body)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", help="git ref of the 'before' API (default: this one, #14 off)")
    p.add_argument("--sessions", type=int, default=4, help="fresh server pairs")
    p.add_argument("--rounds", type=int, default=4, help="wrk rounds per session")
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    args = p.parse_args(argv)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", args.before or "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    store = make_store()
    before_root = worktree(args.before) if args.before else None
    label = f"{commit} in {before_root}" if before_root else "this checkout, #14 switched off"
    try:
        print(f"before: {label}; after: this checkout ({commit}+)", flush=True)
        rps, cpu_us = ab(
            store,
            before_root,
            sessions=args.sessions,
            rounds=args.rounds,
            seconds=args.duration,
            connections=args.connections,
        )
    finally:
        if before_root is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(before_root)], cwd=ROOT)
    revalidate_us, etag_us, body_bytes = etag_cost(store.data_dir)
    ratios = [a / b for a, b in zip(rps["after"], rps["before"], strict=True)]
    cpu = {key: statistics.median(values) for key, values in cpu_us.items()}
    per_session = [
        statistics.median(cpu_us["before"][i : i + args.rounds])
        / statistics.median(cpu_us["after"][i : i + args.rounds])
        for i in range(0, len(cpu_us["after"]), args.rounds)
    ]
    result = {
        "before": label,
        "rps": rps,
        "cpu_us_per_request": cpu_us,
        "ratio_after_before": ratios,
        "cpu_throughput_after_before_per_session": per_session,
        "revalidate_us_per_call": revalidate_us,
        "etag_for_us_per_call": etag_us,
        "latest_body_bytes": body_bytes,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"http-semantics-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(
        f"\nlatest /convert, median req/s: before ({label}) "
        f"{statistics.median(rps['before']):,.0f}, after {statistics.median(rps['after']):,.0f}; "
        "after/before per round "
        + ", ".join(f"{r:.1%}" for r in ratios)
        + f"; median {statistics.median(ratios):.1%} (target >= 97%)"
    )
    print(
        f"server CPU per request, median: before {cpu['before']:.1f} µs, after "
        f"{cpu['after']:.1f} µs: throughput after/before {cpu['before'] / cpu['after']:.1%} "
        "(target >= 97%); per session " + ", ".join(f"{r:.1%}" for r in per_session)
    )
    print(
        f"in process: revalidate {revalidate_us:.2f} µs per latest answer "
        f"({revalidate_us / cpu['after']:.1%} of its CPU); an ETag on it would add etag_for "
        f"{etag_us:.2f} µs on {body_bytes} bytes ({etag_us / cpu['after']:.1%})"
    )
    print(f"written: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == [SERVE_OFF]:
        sys.exit(serve_without_http_semantics(sys.argv[2:]))
    sys.exit(main())
