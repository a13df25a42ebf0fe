"""The whole stack as separate processes: fake Binance -> quote consumer -> files -> API.

The expected numbers are computed here, independently of `api/`: straight
from the recorded JSON payloads with `fractions.Fraction` (exact) and a
half-up rounding written out below, so a shared bug cannot hide itself.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import httpx
import pytest

from tests.fake_exchange import BOOK_TICKER_FIXTURE, EXCHANGE_INFO_FIXTURE, FakeBinance
from tests.procs import Proc, free_port, run_once, settings_env, wait_until

pytestmark = pytest.mark.e2e

QUOTED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# COSBTC trades at a few 1e-7 BTC in the recording: a "tiny" price, both ways.
TINY = "COS"


@functools.cache
def recorded_books() -> dict[tuple[str, str], tuple[str, str]]:
    """(base, quote) -> (bid, ask) strings for every TRADING symbol with bid, ask > 0."""
    info = json.loads(EXCHANGE_INFO_FIXTURE.read_bytes())
    meta = {s["symbol"]: s for s in info["symbols"]}
    books: dict[tuple[str, str], tuple[str, str]] = {}
    for entry in json.loads(BOOK_TICKER_FIXTURE.read_bytes()):
        symbol = meta.get(entry["symbol"])
        bid, ask = entry["bidPrice"], entry["askPrice"]
        if symbol and symbol["status"] == "TRADING" and Decimal(bid) > 0 and Decimal(ask) > 0:
            books[(symbol["baseAsset"], symbol["quoteAsset"])] = (bid, ask)
    return books


def half_up(value: Fraction, places: int) -> str:
    """Round a positive exact fraction half-up; plain digits with exactly `places` decimals."""
    digits = str(math.floor(value * 10**places + Fraction(1, 2))).rjust(places + 1, "0")
    return f"{digits[:-places]}.{digits[-places:]}"


def expected_rate(src: str, dst: str) -> str:
    """The rate the spec prescribes: round(mid, 12) direct, round(1/mid, 12) inverse."""
    books = recorded_books()
    if (src, dst) in books:
        bid, ask = books[(src, dst)]
        return half_up((Fraction(bid) + Fraction(ask)) / 2, 12)
    bid, ask = books[(dst, src)]
    return half_up(2 / (Fraction(bid) + Fraction(ask)), 12)


def snapshot_name(quoted_at: str) -> str:
    """`2026-11-21T23:36:00.123Z` -> `20261121T233600.123Z.json` (spec section 5)."""
    return quoted_at.replace("-", "").replace(":", "") + ".json"


@dataclass(frozen=True)
class Stack:
    client: httpx.Client
    env: dict[str, str]
    workdir: Path
    snapshots: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Fake exchange, consumer and API running, with the API healthy."""
    workdir = tmp_path_factory.mktemp("stack")
    data_dir = workdir / "data"
    port = free_port()
    with FakeBinance() as fake:
        env = settings_env(
            base_url=fake.base_url,
            data_dir=data_dir,
            API_PORT=str(port),
            POLL_INTERVAL_SECONDS="0.5",
            SNAPSHOT_INTERVAL_SECONDS="1",
            HTTP_TIMEOUT_SECONDS="2",
        )
        with (
            Proc("quote-consumer", env=env, workdir=workdir, name="consumer") as consumer,
            Proc("api", env=env, workdir=workdir, name="api") as api,
        ):

            def outputs() -> str:
                return f"consumer:\n{consumer.output()}\napi:\n{api.output()}"

            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

                def healthy() -> bool:
                    assert consumer.alive(), outputs()
                    assert api.alive(), outputs()
                    try:
                        return client.get("/health").status_code == 200
                    except httpx.TransportError:
                        return False

                wait_until(healthy, timeout=30, message=outputs)
                yield Stack(client, env, workdir, data_dir / "binance")
            assert api.terminate() == 0, outputs()
            assert consumer.terminate() == 0, outputs()


def test_tiny_asset_is_tiny() -> None:
    """The chosen tiny asset really trades below 0.0001 BTC in the recording."""
    bid, ask = recorded_books()[(TINY, "BTC")]
    assert (Fraction(bid) + Fraction(ask)) / 2 < Fraction(1, 10_000)


@pytest.mark.parametrize("amount", ["1.5", "1234.567891"])
@pytest.mark.parametrize(
    ("src", "dst"), [("BTC", "USDT"), ("USDT", "BTC"), (TINY, "BTC"), ("BTC", TINY)]
)
def test_conversion_matches_recorded_payload(stack: Stack, amount: str, src: str, dst: str) -> None:
    """Rate and amount equal the spec's formulas applied to the recorded quotes."""
    response = stack.client.get("/convert", params={"amount": amount, "from": src, "to": dst})
    assert response.status_code == 200, response.text
    body = response.json()
    rate = expected_rate(src, dst)
    assert body["rate"] == rate
    assert body["amount"] == half_up(Fraction(amount) * Fraction(rate), 6)
    assert (body["from"], body["to"]) == (src, dst)
    assert QUOTED_AT.fullmatch(body["quoted_at"])
    assert (stack.snapshots / snapshot_name(body["quoted_at"])).is_file()


def test_quoted_at_passed_back_selects_same_snapshot(stack: Stack) -> None:
    """timestamp=<an earlier response's quoted_at> answers from that same snapshot."""
    params = {"amount": "2", "from": "ETH", "to": "BTC"}
    first = stack.client.get("/convert", params=params).json()
    first_at: str = first["quoted_at"]

    def newer_snapshot() -> bool:
        newest: str = stack.client.get("/health").json()["quoted_at"]
        return newest > first_at

    wait_until(newer_snapshot, timeout=10, interval=0.1, message="a newer snapshot")
    again = stack.client.get("/convert", params={**params, "timestamp": first_at})
    assert again.status_code == 200, again.text
    assert again.json() == first


def test_snapshots_command_lists_files(stack: Stack) -> None:
    """`python run.py snapshots` lists the snapshot files the consumer wrote."""
    names = sorted(p.name for p in stack.snapshots.glob("*.json"))
    assert names
    every = run_once("snapshots", "--all", env=stack.env, cwd=stack.workdir)
    assert every.returncode == 0, every.stderr
    for name in names:
        assert name in every.stdout
    newest = run_once("snapshots", env=stack.env, cwd=stack.workdir)
    assert newest.returncode == 0, newest.stderr
    assert names[-1] in newest.stdout
    assert stack.client.get("/health").status_code == 200
