"""Pins the fakes' switches (price factor, payloads, recording), FakeExchanges and the CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fake_exchange import FakeBinance
from tests.fakes import KNOWN_VENUES, FakeExchanges, FakeVenue, demo_ports
from tests.fakes import bybit as by
from tests.fakes import kraken as kr
from tests.fakes import okx as ok
from tests.fakes.profile import scale_price
from tests.procs import REPO_ROOT, free_port

QUERY = {"bybit": {"category": "spot"}, "okx": {"instType": "SPOT"}}

# Venue -> the (symbol, bid, ask) strings of every entry of a quote payload.
PRICES: dict[str, Callable[[Any], list[tuple[str, str, str]]]] = {
    "binance": lambda doc: [(e["symbol"], e["bidPrice"], e["askPrice"]) for e in doc],
    "kraken": lambda doc: [(k, e["b"][0], e["a"][0]) for k, e in doc["result"].items()],
    "bybit": lambda doc: [
        (e["symbol"], e["bid1Price"], e["ask1Price"]) for e in doc["result"]["list"]
    ],
    "okx": lambda doc: [(e["instId"], e["bidPx"], e["askPx"]) for e in doc["data"]],
}


# A symbol per venue with no recorded book (its depth is derived from the quotes).
DERIVED = {
    "binance": ("ETHBTC", {"symbol": "ETHBTC"}),
    "kraken": ("XXBTZUSD", {"pair": "XXBTZUSD"}),
    "bybit": ("ETHUSDT", {"category": "spot", "symbol": "ETHUSDT"}),
    "okx": ("BTC-USDT", {"instId": "BTC-USDT"}),
}


def _quotes(fake: FakeVenue) -> httpx.Response:
    with httpx.Client(base_url=fake.base_url, timeout=5.0) as http:
        return http.get(fake.profile.quotes_path, params=QUERY.get(fake.name, {}))


def _fraction_digits(text: str) -> int:
    return len(text.partition(".")[2])


# -- price factor ---------------------------------------------------------------------


@pytest.mark.parametrize("name", KNOWN_VENUES)
def test_price_factor_scales_every_bid_and_ask_exactly(name: str) -> None:
    """A factor multiplies every quoted bid and ask exactly, plain, keeping the fraction digits."""
    with FakeVenue(name) as fake:
        before = json.loads(_quotes(fake).content)
        fake.set_price_factor(Decimal("1.2"))
        after = json.loads(_quotes(fake).content)
    old, new = PRICES[name](before), PRICES[name](after)
    assert [entry[0] for entry in new] == [entry[0] for entry in old]
    for (_, *old_prices), (_, *new_prices) in zip(old, new, strict=True):
        for was, now in zip(old_prices, new_prices, strict=True):
            assert Decimal(now) == Decimal(was) * Decimal("1.2")
            assert "E" not in now.upper()
            assert _fraction_digits(now) >= _fraction_digits(was)


@pytest.mark.parametrize("name", KNOWN_VENUES)
def test_price_factor_one_restores_the_recording_and_spares_the_rest(name: str) -> None:
    """Other paths and derived books ignore the factor; factor 1 serves the recording verbatim."""
    with FakeVenue(name) as fake:
        profile = fake.profile
        fake.set_price_factor(Decimal("3"))
        with httpx.Client(base_url=fake.base_url, timeout=5.0) as http:
            metadata = http.get(profile.metadata_path, params=QUERY.get(name, {}))
            symbol, params = DERIVED[name]
            book = http.get(profile.depth_path, params=params).content
        assert metadata.content == profile.default_bodies()[profile.metadata_path]
        top = profile.tops(profile.default_bodies()[profile.quotes_path])[symbol]
        assert f'"{top.bid}"'.encode() in book  # the recorded, unscaled best bid
        fake.set_price_factor(Decimal(1))
        assert _quotes(fake).content == profile.default_bodies()[profile.quotes_path]


@pytest.mark.parametrize("factor", [1.2, Decimal(0), Decimal(-1), Decimal("NaN"), "1.2"])
def test_price_factor_must_be_a_positive_decimal(factor: object) -> None:
    """set_price_factor refuses floats, strings, zero, negatives and NaN."""
    with pytest.raises(ValueError, match="positive finite Decimal"):
        FakeVenue("okx").set_price_factor(factor)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "factor", "expected"),
    [
        ("80348.6", "1.2", "96418.32"),
        ("0.1718", "1.2", "0.20616"),
        ("0.00000000", "1.2", "0.000000000"),
        ("129.12000", "2", "258.24000"),
        ("5", "1E+1", "50"),
        ("0.5", "2", "1.0"),
        ("", "1.2", ""),
    ],
)
def test_scale_price_examples(text: str, factor: str, expected: str) -> None:
    """scale_price is exact, plain, and never drops the venue's fraction digits."""
    assert scale_price(text, Decimal(factor)) == expected


@given(
    st.decimals(min_value=0, max_value=10**9, places=8, allow_nan=False),
    st.decimals(min_value=Decimal("0.0001"), max_value=1000, places=4, allow_nan=False),
)
def test_scale_price_is_the_exact_product(price: Decimal, factor: Decimal) -> None:
    """For any plain price and factor, the result parses back to exactly price x factor."""
    text = format(price, "f")
    scaled = scale_price(text, factor)
    assert Decimal(scaled) == price * factor
    assert "E" not in scaled
    assert _fraction_digits(scaled) >= _fraction_digits(text)


def test_price_factor_moves_one_venue_only() -> None:
    """In FakeExchanges a factor on one venue leaves the other venues' quotes untouched."""
    with FakeExchanges(["kraken", "okx"]) as fakes:
        fakes["okx"].set_price_factor(Decimal("1.2"))
        assert _quotes(fakes["kraken"]).content == kr.TICKER_FIXTURE.read_bytes()
        assert _quotes(fakes["okx"]).content != ok.TICKERS_FIXTURE.read_bytes()


# -- payloads and recording ----------------------------------------------------------------


@pytest.mark.parametrize("name", KNOWN_VENUES)
def test_set_quotes_and_metadata_bodies_are_served_verbatim(name: str) -> None:
    """set_quotes_body/set_metadata_body replace the payloads; bytes are served as given."""
    with FakeVenue(name) as fake, httpx.Client(base_url=fake.base_url, timeout=5.0) as http:
        fake.set_quotes_body(b'{"quotes":1}')
        fake.set_metadata_body(b'{"metadata":1}')
        fake.set_price_factor(Decimal("2"))  # an unparsable quote payload is not scaled
        params = QUERY.get(name, {})
        assert http.get(fake.profile.quotes_path, params=params).content == b'{"quotes":1}'
        assert http.get(fake.profile.metadata_path, params=params).content == b'{"metadata":1}'


def test_set_body_refuses_the_depth_path() -> None:
    """set_body takes only paths that serve a stored payload (depth uses set_depth_body)."""
    with pytest.raises(ValueError, match="serves no stored payload"):
        FakeVenue("bybit").set_body(by.ORDERBOOK_PATH, b"{}")


def test_set_depth_body_serves_a_book_cut_to_size() -> None:
    """set_depth_body makes a book "recorded" for a symbol, cut to the requested levels."""
    levels = [[str(100 + i), "1", "0", "1"] for i in range(5)]
    book = {"code": "0", "msg": "", "data": [{"asks": levels, "bids": levels, "ts": "1"}]}
    with FakeVenue("okx") as fake, httpx.Client(base_url=fake.base_url, timeout=5.0) as http:
        fake.set_depth_body("ETH-USDT", json.dumps(book).encode())
        response = http.get(ok.BOOKS_PATH, params={"instId": "ETH-USDT", "sz": "2"})
    assert response.headers["x-fake-depth"] == "recorded"
    assert response.json()["data"][0]["asks"] == levels[:2]


def test_requests_are_recorded_per_venue() -> None:
    """Each venue records its own requests, with the query; requests_to filters by path."""
    with FakeExchanges(["kraken", "bybit"]) as fakes:
        with httpx.Client(timeout=5.0) as http:
            http.get(fakes["kraken"].base_url + kr.TICKER_PATH)
            http.get(fakes["kraken"].base_url + kr.DEPTH_PATH, params={"pair": "XBTUSDT"})
            http.get(fakes["bybit"].base_url + by.TICKERS_PATH, params={"category": "spot"})
        kraken, bybit = fakes["kraken"], fakes["bybit"]
        assert [(r.path, r.query, r.status) for r in kraken.requests] == [
            (kr.TICKER_PATH, "", 200),
            (kr.DEPTH_PATH, "pair=XBTUSDT", 200),
        ]
        assert [r.query for r in bybit.requests_to(by.TICKERS_PATH)] == ["category=spot"]
        assert kraken.requests_to(kr.ASSET_PAIRS_PATH) == []


# -- FakeExchanges ---------------------------------------------------------------------------


def test_fake_exchanges_env_and_base_urls() -> None:
    """FakeExchanges starts the four venues on distinct ports and names their settings."""
    with FakeExchanges() as fakes:
        assert fakes.names == KNOWN_VENUES
        assert isinstance(fakes["binance"], FakeBinance)
        urls = fakes.base_urls
        assert len(set(urls.values())) == 4
        assert fakes.env == {
            "BINANCE_BASE_URL": urls["binance"],
            "KRAKEN_BASE_URL": urls["kraken"],
            "BYBIT_BASE_URL": urls["bybit"],
            "OKX_BASE_URL": urls["okx"],
        }
        for venue in fakes:
            assert _quotes(venue).status_code == 200


def test_fake_exchanges_subset_and_ports() -> None:
    """A subset starts only the chosen venues, on the ports asked for."""
    port = free_port()
    with FakeExchanges(["okx"], ports={"okx": port}) as fakes:
        assert fakes.env == {"OKX_BASE_URL": f"http://127.0.0.1:{port}"}
        with pytest.raises(KeyError):
            fakes["kraken"]


def test_fake_exchanges_rejects_unknown_or_no_venue() -> None:
    """FakeExchanges refuses unknown venue names and an empty selection."""
    with pytest.raises(ValueError, match="venues must be"):
        FakeExchanges(["binance", "ftx"])
    with pytest.raises(ValueError, match="venues must be"):
        FakeExchanges([])


def test_demo_ports_skip_the_metrics_port() -> None:
    """--all ports are 9100, 9102, 9103, 9104 (9101 is the consumer's metrics port)."""
    assert demo_ports(9100) == {"binance": 9100, "kraken": 9102, "bybit": 9103, "okx": 9104}
    assert set(demo_ports(0).values()) == {0}


# -- CLI ---------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fake_exchange", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _interrupt(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=10.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_cli_all_prints_env_lines_and_serves_four_venues() -> None:
    """`--all` starts the four venues, prints their export lines, and serves each."""
    proc = _cli("--all", "--port", "0", "--price-factor", "okx=2")
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in range(9)]
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines[5:])
    assert [line.split()[1] for line in lines[:4]] == ["Binance", "Kraken", "Bybit", "OKX"]
    assert lines[4].startswith("#")
    assert list(exports) == [
        "BINANCE_BASE_URL",
        "KRAKEN_BASE_URL",
        "BYBIT_BASE_URL",
        "OKX_BASE_URL",
    ]
    with httpx.Client(timeout=5.0) as http:
        okx = http.get(exports["OKX_BASE_URL"] + ok.TICKERS_PATH, params={"instType": "SPOT"})
        assert okx.json()["data"][0]["askPx"] == "0.3436"  # 0.1718 x 2
        assert http.get(exports["KRAKEN_BASE_URL"] + kr.TICKER_PATH).status_code == 200
    out, err = _interrupt(proc)
    assert (proc.returncode, err) == (0, "")
    assert "served 2 requests" in out


def test_cli_single_venue_fault() -> None:
    """`--venue NAME --fault F` serves that venue alone, faulted (here without Retry-After)."""
    proc = _cli(
        "--venue", "bybit", "--port", "0", "--fault", "rate_limited", "--retry-after", "none"
    )
    assert proc.stdout is not None
    base_url = proc.stdout.readline().split()[4]
    with httpx.Client(base_url=base_url, timeout=5.0) as http:
        response = http.get(by.TICKERS_PATH, params={"category": "spot"})
    assert response.json()["retCode"] == 10006
    assert "retry-after" not in response.headers
    _, err = _interrupt(proc)
    assert (proc.returncode, err) == (0, "")


def test_cli_refuses_a_fault_the_venue_lacks() -> None:
    """A single venue with a fault it has no answer for exits 2 with the reason."""
    proc = _cli("--venue", "okx", "--port", "0", "--fault", "rate_limited_alt")
    _, err = proc.communicate(timeout=10.0)
    assert proc.returncode == 2
    assert "okx has no RATE_LIMITED_ALT answer" in err
