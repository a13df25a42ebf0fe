"""The real API (`python run.py api`) over a store written by hand, and a headless Chromium.

The store holds four venues, written with the real `SnapshotWriter` relative to
the real clock when the session starts: a day of five-minute history on
binance (so the chart has points), fresh snapshots on binance, kraken and
bybit, and an okx snapshot half an hour old (so the page has an outdated venue
to show). `QUOTES_MAX_AGE_SECONDS=600` keeps the fresh ones fresh for the
whole session. No consumer runs: nothing here may reach a network.

The browser is Debian's `chromium` driven by Playwright from PyPI (no browser
download: `executable_path` points at the system one; `.ci/run` installs it).
A missing browser fails the tests rather than skipping them.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from storage.model import Quote, Snapshot
from storage.writer import SnapshotWriter
from tests.procs import Proc, free_port, settings_env, wait_until

# Debian's package; elsewhere (GitHub's Ubuntu runners ship Google Chrome, and
# Ubuntu's `chromium` is a snap stub) CHROMIUM_PATH names the browser to use.
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# No sandbox: CI runs as root in a container. The rest stops Chromium phoning home
# (updates, sync, field trials, QUIC probes) so the only traffic is the page's.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VENUES = ("binance", "kraken", "bybit", "okx")
MAX_AGE_SECONDS = 600
HISTORY_STEP_MS = 300_000
HISTORY_MS = 25 * 3_600_000
OUTDATED_AGE_MS = 1_800_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _q(symbol: str, base: str, quote: str, bid: str, ask: str, qty: str = "0.25") -> Quote:
    return Quote(symbol, base, quote, Decimal(bid), Decimal(ask), Decimal(qty), Decimal(qty))


# Each venue's own symbols (the names venues really use), with prices chosen so
# that kraken pays the best bid for BTC and bybit asks the least.
FRESH: dict[str, list[Quote]] = {
    "binance": [
        _q("BTCUSDT", "BTC", "USDT", "60010.50", "60011.10"),
        _q("ETHUSDT", "ETH", "USDT", "3001.20", "3001.45", "12.5"),
        _q("ETHBTC", "ETH", "BTC", "0.05001", "0.05002", "30"),
        _q("BTCEUR", "BTC", "EUR", "55200.00", "55204.00"),
    ],
    "kraken": [
        _q("XBTUSDT", "BTC", "USDT", "60015.0", "60016.2"),
        _q("ETHUSDT", "ETH", "USDT", "3001.10", "3001.60", "8"),
        _q("XXBTZEUR", "BTC", "EUR", "55199.9", "55201.3"),
    ],
    "bybit": [
        _q("BTCUSDT", "BTC", "USDT", "60008.00", "60009.90"),
        _q("ETHUSDT", "ETH", "USDT", "3000.95", "3001.30", "20"),
    ],
    "okx": [
        _q("BTC-USDT", "BTC", "USDT", "60100.0", "60100.1"),
        _q("ETH-USDT", "ETH", "USDT", "3002.0", "3002.1", "5"),
    ],
}


def history_btc(i: int) -> Quote:
    """Binance's BTC/USDT at history step `i`: a smooth wave, so a drawn chart is easy to judge."""
    mid = Decimal(60_000) + Decimal(round(400 * math.sin(i / 25) + 90 * math.sin(i / 4), 2))
    return _q("BTCUSDT", "BTC", "USDT", str(mid - Decimal("0.30")), str(mid + Decimal("0.30")))


def write_store(root: Path, now_ms: int) -> None:
    """Write the session's snapshots (see the module docstring)."""
    writers = {venue: SnapshotWriter(root, venue) for venue in VENUES}
    for writer in writers.values():
        writer.ensure_directory()

    def write(venue: str, ms: int, quotes: list[Quote]) -> None:
        writers[venue].write(Snapshot(venue, ms, {q.symbol: q for q in quotes}))

    first = now_ms - HISTORY_MS
    for i, ms in enumerate(range(first, now_ms - HISTORY_STEP_MS, HISTORY_STEP_MS)):
        write("binance", ms, [history_btc(i), *FRESH["binance"][1:]])
    for venue in ("binance", "kraken", "bybit"):
        write(venue, now_ms - 1_000, FRESH[venue])
    write("okx", now_ms - OUTDATED_AGE_MS, FRESH["okx"])


@dataclass
class Api:
    """The running API and an HTTP client for computing what the page should show."""

    base_url: str
    client: httpx.Client
    proc: Proc
    routes: set[str] = field(default_factory=set)

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.client.get(path, params=params)

    def has_route(self, path: str) -> bool:
        """Whether the API serves `path` (a route that is not there answers `not_found`)."""
        if path not in self.routes:
            response = self.client.get(path)
            if response.status_code != 404 or response.json().get("error") != "not_found":
                self.routes.add(path)
        return path in self.routes


# Package scope, not session: Playwright's sync API keeps an event loop (and
# greenlets) alive in the main thread while it runs, so it must be closed when
# this package's tests end; left open until the session's end, it broke later
# asyncio.run() calls and ast.parse ("recursion depth mismatch") in other packages.
@pytest.fixture(scope="package")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """`python run.py api` with four venues over the hand-written store, answering."""
    workdir = tmp_path_factory.mktemp("page")
    data_dir = workdir / "data"
    write_store(data_dir, time.time_ns() // 1_000_000)
    port = free_port()
    env = settings_env(
        base_url="http://127.0.0.1:9",  # never contacted: no consumer runs
        data_dir=data_dir,
        API_PORT=str(port),
        EXCHANGES=",".join(VENUES),
        QUOTES_MAX_AGE_SECONDS=str(MAX_AGE_SECONDS),
    )
    base_url = f"http://127.0.0.1:{port}"
    with (
        Proc("api", env=env, workdir=workdir, name="api") as proc,
        httpx.Client(base_url=base_url, timeout=10) as client,
    ):

        def answering() -> bool:
            assert proc.alive(), proc.output()
            try:
                return client.get("/").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answering, timeout=30, message=proc.output)
        yield Api(base_url, client, proc)
        assert proc.terminate() == 0, proc.output()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium under Playwright (`apt-get install chromium` if it fails here)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
