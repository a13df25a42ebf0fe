"""`python run.py quote-consumer` against the four fake venues, read back from the store.

One consumer process polls Binance, Kraken, Bybit and OKX fakes (each on its
own loopback port) every 0.25 s and writes a snapshot per venue every 1 s.
The expected rows are computed here from the fixture JSON with the standard
library and the spec's rules (venues.md section 1), never with the adapters,
so a parser bug cannot hide behind its own output.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from storage.codec import ms_from_filename
from tests.fakes import FakeExchanges
from tests.fakes import binance as fake_binance
from tests.fakes import bybit as fake_bybit
from tests.fakes import kraken as fake_kraken
from tests.fakes import okx as fake_okx
from tests.procs import Proc, run_once, settings_env, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VENUES = ("binance", "kraken", "bybit", "okx")
POLL = 0.25
SNAPSHOT = 1.0
START_TIMEOUT = 10.0
FIRST_WITHIN = 5.0  # "within seconds of start", process start-up included
FILES = 5  # per venue: the start-up snapshot and four scheduled ones
JITTER = 0.35  # scheduling slack on a loaded 2-core machine
FIELDS = ["base", "quote", "bid", "ask", "bid_qty", "ask_qty"]
CODE = re.compile(r"\A[A-Z0-9]{1,20}\Z")
# Kraken's alternate asset names (venues.md section 1), spelled out independently.
KRAKEN_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}
# Test inputs: one symbol each that the recordings list as tradable, served
# with another status so that the "quotable when" rule has something to drop
# (the recorded Bybit and OKX instrument lists are all Trading / live).
BYBIT_CLOSED = ("AVAXUSDT", "PreLaunch")
OKX_SUSPENDED = ("AVAX-USDT", "suspend")

Row = list[str]


def _load(path: Path) -> Any:
    return json.loads(path.read_bytes())


def _row(base: str, quote: str, bid: str, ask: str, bid_qty: str, ask_qty: str) -> Row | None:
    """The schema 2 row, or None when the spec's quotable rule drops the symbol."""
    if not (CODE.match(base) and CODE.match(quote)):
        return None
    if not (Decimal(bid) > 0 and Decimal(ask) > 0 and Decimal(bid) <= Decimal(ask)):
        return None
    return [base, quote, bid, ask, bid_qty, ask_qty]


def _rows(pairs: Iterator[tuple[str, Row | None]]) -> dict[str, Row]:
    return {symbol: row for symbol, row in pairs if row is not None}


def expected_binance() -> dict[str, Row]:
    """exchangeInfo status TRADING, baseAsset/quoteAsset; bookTicker prices and sizes."""
    meta = {s["symbol"]: s for s in _load(fake_binance.EXCHANGE_INFO_FIXTURE)["symbols"]}
    keys = ("bidPrice", "askPrice", "bidQty", "askQty")
    return _rows(
        (
            t["symbol"],
            _row(m["baseAsset"], m["quoteAsset"], *(t[k] for k in keys)),
        )
        for t in _load(fake_binance.BOOK_TICKER_FIXTURE)
        if (m := meta.get(t["symbol"])) is not None and m["status"] == "TRADING"
    )


def _kraken_codes(wsname: str) -> tuple[str, str]:
    base, quote = wsname.upper().split("/")
    return KRAKEN_ALIASES.get(base, base), KRAKEN_ALIASES.get(quote, quote)


def expected_kraken() -> dict[str, Row]:
    """AssetPairs status online, codes from wsname plus aliases; Ticker b/a [0] and [2]."""
    meta = _load(fake_kraken.ASSET_PAIRS_FIXTURE)["result"]
    return _rows(
        (
            key,
            _row(*_kraken_codes(m["wsname"]), t["b"][0], t["a"][0], t["b"][2], t["a"][2]),
        )
        for key, t in _load(fake_kraken.TICKER_FIXTURE)["result"].items()
        if (m := meta.get(key)) is not None and m["status"] == "online"
    )


def bybit_metadata() -> dict[str, Any]:
    """The recorded instruments-info with BYBIT_CLOSED's status changed (a test input)."""
    doc = _load(fake_bybit.INSTRUMENTS_FIXTURE)
    symbol, status = BYBIT_CLOSED
    [entry] = [e for e in doc["result"]["list"] if e["symbol"] == symbol]
    assert entry["status"] == "Trading"
    entry["status"] = status
    return dict(doc)


def expected_bybit(metadata: dict[str, Any]) -> dict[str, Row]:
    """instruments-info status Trading, baseCoin/quoteCoin; tickers bid1/ask1 price and size."""
    meta = {e["symbol"]: e for e in metadata["result"]["list"]}
    keys = ("bid1Price", "ask1Price", "bid1Size", "ask1Size")
    return _rows(
        (t["symbol"], _row(m["baseCoin"], m["quoteCoin"], *(t[k] for k in keys)))
        for t in _load(fake_bybit.TICKERS_FIXTURE)["result"]["list"]
        if (m := meta.get(t["symbol"])) is not None and m["status"] == "Trading"
    )


def okx_metadata() -> dict[str, Any]:
    """The recorded SPOT instruments with OKX_SUSPENDED's state changed (a test input)."""
    doc = _load(fake_okx.INSTRUMENTS_FIXTURE)
    inst_id, state = OKX_SUSPENDED
    [entry] = [e for e in doc["data"] if e["instId"] == inst_id]
    assert entry["state"] == "live"
    entry["state"] = state
    return dict(doc)


def expected_okx(metadata: dict[str, Any]) -> dict[str, Row]:
    """instruments state live, baseCcy/quoteCcy; tickers bidPx/askPx and bidSz/askSz."""
    meta = {e["instId"]: e for e in metadata["data"]}
    keys = ("bidPx", "askPx", "bidSz", "askSz")
    return _rows(
        (t["instId"], _row(m["baseCcy"], m["quoteCcy"], *(t[k] for k in keys)))
        for t in _load(fake_okx.TICKERS_FIXTURE)["data"]
        if (m := meta.get(t["instId"])) is not None and m["state"] == "live"
    )


def snapshot_files(data_dir: Path, venue: str) -> list[Path]:
    """The venue's finished snapshot files, oldest first (names sort by time)."""
    directory = data_dir / venue
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if ms_from_filename(p.name) is not None)


def stamp(path: Path) -> int:
    ms = ms_from_filename(path.name)
    assert ms is not None, path
    return ms


@dataclass(frozen=True)
class Run:
    """One finished consumer run over the four fakes."""

    env: dict[str, str]
    expected: dict[str, dict[str, Row]]  # venue -> symbol -> row, from the fixtures
    started: float  # wall time just before the process was spawned
    data_dir: Path
    workdir: Path
    output: str


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A consumer over the four fakes, run until every venue has FILES snapshots, then stopped."""
    workdir = tmp_path_factory.mktemp("venues")
    data_dir = workdir / "data"
    bybit_meta, okx_meta = bybit_metadata(), okx_metadata()
    expected = {
        "binance": expected_binance(),
        "kraken": expected_kraken(),
        "bybit": expected_bybit(bybit_meta),
        "okx": expected_okx(okx_meta),
    }
    with FakeExchanges(VENUES) as fakes:
        fakes["bybit"].set_metadata_body(json.dumps(bybit_meta).encode())
        fakes["okx"].set_metadata_body(json.dumps(okx_meta).encode())
        env = settings_env(
            base_url=fakes["binance"].base_url,
            data_dir=data_dir,
            EXCHANGES=",".join(VENUES),
            POLL_INTERVAL_SECONDS=str(POLL),
            SNAPSHOT_INTERVAL_SECONDS=str(SNAPSHOT),
            HTTP_TIMEOUT_SECONDS="2",
            **fakes.env,
        )
        started = time.time()
        with Proc("quote-consumer", env=env, workdir=workdir, name="consumer") as proc:
            wait_until(
                lambda: all(len(snapshot_files(data_dir, v)) >= FILES for v in VENUES),
                START_TIMEOUT + FILES * SNAPSHOT,
                message=proc.output,
            )
            assert proc.terminate() == 0, proc.output()
    assert "Traceback" not in proc.output()
    return Run(env, expected, started, data_dir, workdir, proc.output())


def test_every_venue_writes_at_start_then_every_interval(run: Run) -> None:
    """Each venue's first snapshot lands within seconds of start, then one per SNAPSHOT_INTERVAL."""
    for venue in VENUES:
        times = [stamp(p) / 1000 for p in snapshot_files(run.data_dir, venue)]
        assert len(times) >= FILES, venue
        assert times[0] - run.started <= FIRST_WITHIN, venue
        # From the first scheduled snapshot on, ticks are SNAPSHOT apart and each
        # file carries the newest poll's time, at most one poll older than its tick.
        gaps = [b - a for a, b in itertools.pairwise(times[1:])]
        for gap in gaps:
            assert SNAPSHOT - POLL - JITTER <= gap <= SNAPSHOT + POLL + JITTER, (venue, gaps)
        mean = (times[-1] - times[1]) / (len(times) - 2)
        assert abs(mean - SNAPSHOT) <= POLL, (venue, mean, gaps)
        # The start-up snapshot comes from the first poll, before the first tick.
        assert 0 < times[1] - times[0] <= SNAPSHOT + POLL + JITTER, (venue, times[:2])


def test_snapshots_hold_each_venues_rows_as_computed_from_the_fixtures(run: Run) -> None:
    """Every file is schema 2 and holds exactly the rows the fixtures and the spec's rules give."""
    for venue in VENUES:
        assert run.expected[venue], venue
        for path in snapshot_files(run.data_dir, venue):
            doc = json.loads(path.read_bytes())
            assert doc["schema"] == 2, path
            assert doc["exchange"] == venue, path
            assert doc["fields"] == FIELDS, path
            assert doc["symbols"] == run.expected[venue], (path, venue)


def test_sample_rows_carry_the_venues_own_strings(run: Run) -> None:
    """A sample per venue: base, quote, bid, ask and sizes exactly as the venue printed them."""
    samples = {
        "binance": ("ETHBTC", "BTCUSDT"),
        "kraken": ("XXBTZUSD", "XETHZUSD", "PEPEUSD", "ZEURZUSD"),
        "bybit": ("BTCUSDT", "ETHUSDT", "BABYDOGEUSDT", "1INCHUSDT"),
        "okx": ("BTC-USDT", "ETH-USDT", "BABYDOGE-USDT", "2Z-USDT"),
    }
    for venue, symbols in samples.items():
        latest = json.loads(snapshot_files(run.data_dir, venue)[-1].read_bytes())["symbols"]
        for symbol in symbols:
            assert latest[symbol] == run.expected[venue][symbol], (venue, symbol)
    kraken = json.loads(snapshot_files(run.data_dir, "kraken")[-1].read_bytes())["symbols"]
    # Literal values from Ticker_derived_2026-08-27.json: b/a are [price, whole lot, lot].
    assert kraken["XXBTZUSD"] == ["BTC", "USD", "80748.30000", "80748.40000", "1.000", "1.000"]
    assert kraken["XBTUSDT"] == ["BTC", "USDT", "80734.30000", "80748.70000", "1.000", "1.000"]
    assert kraken["XDGUSD"] == [
        "DOGE",
        "USD",
        "0.089769200",
        "0.089775100",
        "2279.000",
        "12499.000",
    ]
    assert "AIOEUR" not in kraken  # status post_only in AssetPairs, in the Ticker all the same
    assert not any("XBT" in row[:2] or "XDG" in row[:2] for row in kraken.values())


def test_non_quotable_symbols_are_absent(run: Run) -> None:
    """Kraken's post_only AIOEUR, Bybit's PreLaunch and OKX's suspended test inputs are absent."""
    tickers = {
        "kraken": set(_load(fake_kraken.TICKER_FIXTURE)["result"]),
        "bybit": {t["symbol"] for t in _load(fake_bybit.TICKERS_FIXTURE)["result"]["list"]},
        "okx": {t["instId"] for t in _load(fake_okx.TICKERS_FIXTURE)["data"]},
    }
    dropped = {"kraken": "AIOEUR", "bybit": BYBIT_CLOSED[0], "okx": OKX_SUSPENDED[0]}
    for venue, symbol in dropped.items():
        assert symbol in tickers[venue], (venue, symbol)  # the venue does quote it
        for path in snapshot_files(run.data_dir, venue):
            symbols = json.loads(path.read_bytes())["symbols"]
            assert symbol not in symbols, (venue, path)
            assert len(symbols) == len(tickers[venue]) - 1, (venue, path)


def test_snapshots_command_lists_one_venue_or_all(run: Run) -> None:
    """`run.py snapshots --exchange kraken` lists only Kraken's files; without it, all four."""

    def listed(stdout: str) -> dict[str, list[str]]:
        """Directory -> file names, from `N snapshot(s) in DIR, ...` headers and file lines."""
        found: dict[str, list[str]] = {}
        current: list[str] = []
        for line in stdout.splitlines():
            header = re.match(r"\d+ snapshot\(s\) in (\S+), ", line)
            if header:
                current = found.setdefault(Path(header.group(1)).name, [])
            elif line and ms_from_filename(line.split()[0]) is not None:
                current.append(line.split()[0])
        return found

    one = run_once("snapshots", "--exchange", "kraken", "--all", env=run.env, cwd=run.workdir)
    assert one.returncode == 0, one.stderr
    names = {v: sorted(p.name for p in snapshot_files(run.data_dir, v)) for v in VENUES}
    assert listed(one.stdout) == {"kraken": names["kraken"]}, one.stdout

    assert all(len(n) < 20 for n in names.values())  # the default listing shows them all
    every = run_once("snapshots", env=run.env, cwd=run.workdir)
    assert every.returncode == 0, every.stderr
    assert {v: sorted(n) for v, n in listed(every.stdout).items()} == names, every.stdout
    assert list(listed(every.stdout)) == list(VENUES)  # in EXCHANGES order
