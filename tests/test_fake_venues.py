"""Pins the routes of every fake venue (tests/fakes/): payloads, parameters, depth rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.fakes import KNOWN_VENUES, FakeVenue
from tests.fakes import binance as bn
from tests.fakes import bybit as by
from tests.fakes import kraken as kr
from tests.fakes import okx as ok


@pytest.fixture(params=KNOWN_VENUES)
def venue(request: pytest.FixtureRequest) -> Iterator[FakeVenue]:
    with FakeVenue(request.param) as fake:
        yield fake


def _get(fake: FakeVenue, path: str, **params: str) -> httpx.Response:
    with httpx.Client(base_url=fake.base_url, timeout=5.0) as http:
        return http.get(path, params=params)


@pytest.fixture
def binance() -> Iterator[FakeVenue]:
    with FakeVenue("binance") as fake:
        yield fake


@pytest.fixture
def kraken() -> Iterator[FakeVenue]:
    with FakeVenue("kraken") as fake:
        yield fake


@pytest.fixture
def bybit() -> Iterator[FakeVenue]:
    with FakeVenue("bybit") as fake:
        yield fake


@pytest.fixture
def okx() -> Iterator[FakeVenue]:
    with FakeVenue("okx") as fake:
        yield fake


# -- every venue ------------------------------------------------------------------


def test_unknown_venue_is_refused() -> None:
    """FakeVenue accepts only the four known venue names."""
    with pytest.raises(ValueError, match="unknown venue"):
        FakeVenue("coinbase")


def test_each_venue_routes_its_four_roles(venue: FakeVenue) -> None:
    """Every venue routes a metadata, quotes, stats and depth path, and names its env var."""
    profile = venue.profile
    assert venue.env_var == f"{venue.name.upper()}_BASE_URL"
    assert set(venue.paths) == {
        profile.metadata_path,
        profile.quotes_path,
        profile.stats_path,
        profile.depth_path,
    }


@pytest.mark.parametrize(
    ("name", "status", "key", "value"),
    [
        ("binance", 404, "code", -1000),
        ("kraken", 404, "error", ["EGeneral:Unknown method"]),
        ("bybit", 404, "retCode", 10017),
        ("okx", 404, "error_message", "Not Found"),
    ],
)
def test_unknown_path_and_non_get_answer_venue_404(
    name: str, status: int, key: str, value: object
) -> None:
    """Unknown paths and non-GET methods answer the venue's own JSON 404."""
    with FakeVenue(name) as fake, httpx.Client(base_url=fake.base_url, timeout=5.0) as http:
        for response in (http.get("/api/v9/nope"), http.post(fake.profile.quotes_path)):
            assert response.status_code == status
            assert response.headers["content-type"] == "application/json"
            assert response.json()[key] == value


@pytest.mark.parametrize(
    ("name", "symbol", "params"),
    [
        ("binance", "ETHBTC", {"symbol": "ETHBTC", "limit": "200"}),
        ("kraken", "XXBTZUSD", {"pair": "XXBTZUSD", "count": "200"}),
        ("bybit", "ETHUSDT", {"category": "spot", "symbol": "ETHUSDT", "limit": "200"}),
        ("okx", "BTC-USDT", {"instId": "BTC-USDT", "sz": "200"}),
    ],
)
def test_unrecorded_depth_is_derived_top_of_book(
    name: str, symbol: str, params: dict[str, str]
) -> None:
    """A book with no recording is one level per side: the quote payload's best bid and ask."""
    with FakeVenue(name) as fake:
        response = _get(fake, fake.profile.depth_path, **params)
        top = fake.profile.tops(fake.profile.default_bodies()[fake.profile.quotes_path])[symbol]
    assert response.status_code == 200
    assert response.headers["x-fake-depth"] == "derived-top-of-book"
    doc = response.json()
    if name == "kraken":
        book = doc["result"][symbol]
    elif name == "bybit":
        book = {"bids": doc["result"]["b"], "asks": doc["result"]["a"]}
    elif name == "okx":
        book = doc["data"][0]
    else:
        book = doc
    assert [level[:2] for level in book["bids"]] == [[top.bid, top.bid_qty]]
    assert [level[:2] for level in book["asks"]] == [[top.ask, top.ask_qty]]


# -- binance ------------------------------------------------------------------------


def test_binance_24hr_serves_trimmed_statistics(binance: FakeVenue) -> None:
    """GET ticker/24hr answers the 2,161 recorded entries with the statistics fields, unedited."""
    entries = _get(binance, bn.TICKER_24HR_PATH).json()
    assert len(entries) == 2161
    assert {tuple(e) for e in entries} == {
        ("symbol", "volume", "quoteVolume", "openTime", "closeTime", "count")
    }
    assert entries[0] == {
        "symbol": "ETHBTC",
        "volume": "143742.10100000",
        "quoteVolume": "10177.29085410",
        "openTime": 1678372474069,
        "closeTime": 1678458874069,
        "count": 291190,
    }


def test_binance_24hr_and_book_ticker_are_one_recording(binance: FakeVenue) -> None:
    """The 24 h statistics and the bookTicker view list the same symbols in the same order."""
    stats = [e["symbol"] for e in _get(binance, bn.TICKER_24HR_PATH).json()]
    quotes = [e["symbol"] for e in _get(binance, bn.BOOK_TICKER_PATH).json()]
    assert stats == quotes


def test_binance_depth_recorded_book_cut_to_limit(binance: FakeVenue) -> None:
    """A recorded book answers its first `limit` levels per side, best first."""
    recorded = json.loads(bn.DEPTH_FIXTURES["NKNUSDT"].read_bytes())
    response = _get(binance, bn.DEPTH_PATH, symbol="NKNUSDT", limit="200")
    assert response.headers["x-fake-depth"] == "recorded"
    doc = response.json()
    assert doc["lastUpdateId"] == recorded["lastUpdateId"] == 499869752
    assert doc["bids"] == recorded["bids"][:200]
    assert doc["asks"] == recorded["asks"][:200]


def test_binance_depth_limit_over_5000_truncates_to_5000(binance: FakeVenue) -> None:
    """A limit above 5000 is served as 5000 levels (the docs: "the response will truncate")."""
    response = _get(binance, bn.DEPTH_PATH, symbol="NKNUSDT", limit="9999")
    assert response.status_code == 200
    assert response.content == bn.DEPTH_FIXTURES["NKNUSDT"].read_bytes()


def test_binance_depth_shallow_recording_served_verbatim(binance: FakeVenue) -> None:
    """A recording with fewer levels than asked is served byte for byte (BTCUSDT: 10 levels)."""
    response = _get(binance, bn.DEPTH_PATH, symbol="BTCUSDT")
    assert response.content == bn.DEPTH_FIXTURES["BTCUSDT"].read_bytes()


def test_binance_depth_of_dead_symbol_has_empty_sides(binance: FakeVenue) -> None:
    """A derived book drops a side whose price is zero (BCCBTC quotes 0.00000000 both sides)."""
    assert _get(binance, bn.DEPTH_PATH, symbol="BCCBTC").json() == {
        "lastUpdateId": 0,
        "bids": [],
        "asks": [],
    }


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "NOPEUSDT"}, -1121),
        ({}, -1102),
        ({"symbol": ""}, -1102),
        ({"symbol": "BTCUSDT", "limit": "0"}, -1100),
        ({"symbol": "BTCUSDT", "limit": "ten"}, -1100),
    ],
)
def test_binance_depth_bad_request(binance: FakeVenue, params: dict[str, str], code: int) -> None:
    """Depth answers 400 with Binance's code for an unknown symbol, no symbol, or a bad limit."""
    response = _get(binance, bn.DEPTH_PATH, **params)
    assert response.status_code == 400
    assert response.json()["code"] == code


# -- kraken -------------------------------------------------------------------------


def test_kraken_asset_pairs_and_ticker_serve_recordings(kraken: FakeVenue) -> None:
    """AssetPairs answers the 1,434 trimmed pairs, Ticker the 40 derived pairs (any `pair`)."""
    pairs = _get(kraken, kr.ASSET_PAIRS_PATH).json()
    assert (pairs["error"], len(pairs["result"])) == ([], 1434)
    assert pairs["result"]["XXBTZUSD"]["wsname"] == "XBT/USD"
    ticker = _get(kraken, kr.TICKER_PATH, pair="XXBTZUSD")
    assert ticker.content == kr.TICKER_FIXTURE.read_bytes()
    assert len(ticker.json()["result"]) == 40


def test_kraken_depth_recorded_xbtusdt(kraken: FakeVenue) -> None:
    """Depth for XBTUSDT is the recording: verbatim by default, cut to `count` levels."""
    assert _get(kraken, kr.DEPTH_PATH, pair="XBTUSDT").content == (
        kr.DEPTH_FIXTURES["XBTUSDT"].read_bytes()
    )
    book = _get(kraken, kr.DEPTH_PATH, pair="XBTUSDT", count="2").json()["result"]["XBTUSDT"]
    assert [level[0] for level in book["asks"]] == ["105944.30000", "105946.90000"]
    assert [level[0] for level in book["bids"]] == ["105944.20000", "105935.40000"]


def test_kraken_depth_by_altname_answers_by_pair_key(kraken: FakeVenue) -> None:
    """Depth takes an altname (XBTUSD) and answers under the pair key, with the lot volume."""
    doc = _get(kraken, kr.DEPTH_PATH, pair="XBTUSD").json()
    assert doc == {
        "error": [],
        "result": {
            "XXBTZUSD": {
                "asks": [["80748.40000", "1.000", 0]],
                "bids": [["80748.30000", "1.000", 0]],
            }
        },
    }


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"pair": "NOPEUSD"}, "EQuery:Unknown asset pair"),
        ({}, "EGeneral:Invalid arguments"),
        ({"pair": "XBTUSDT", "count": "0"}, "EGeneral:Invalid arguments"),
        ({"pair": "XBTUSDT", "count": "501"}, "EGeneral:Invalid arguments"),
    ],
)
def test_kraken_depth_errors_are_200_bodies(
    kraken: FakeVenue, params: dict[str, str], error: str
) -> None:
    """Depth errors are HTTP 200 with Kraken's `error` list and no result."""
    response = _get(kraken, kr.DEPTH_PATH, **params)
    assert response.status_code == 200
    assert response.json() == {"error": [error]}


# -- bybit --------------------------------------------------------------------------


def test_bybit_serves_recordings_for_spot(bybit: FakeVenue) -> None:
    """instruments-info (557) and tickers (50) answer with category=spot, other params ignored."""
    info = _get(bybit, by.INSTRUMENTS_PATH, category="spot", limit="1000", cursor="x")
    assert info.content == by.INSTRUMENTS_FIXTURE.read_bytes()
    assert len(info.json()["result"]["list"]) == 557
    tickers = _get(bybit, by.TICKERS_PATH, category="spot")
    assert tickers.content == by.TICKERS_FIXTURE.read_bytes()
    assert len(tickers.json()["result"]["list"]) == 50


@pytest.mark.parametrize("path", [by.INSTRUMENTS_PATH, by.TICKERS_PATH, by.ORDERBOOK_PATH])
@pytest.mark.parametrize("category", [None, "linear", "SPOT"])
def test_bybit_needs_category_spot(bybit: FakeVenue, path: str, category: str | None) -> None:
    """Without category=spot every route answers 200 with retCode 10001."""
    params = {"symbol": "BTCUSDT"} | ({"category": category} if category else {})
    response = _get(bybit, path, **params)
    assert response.status_code == 200
    body = response.json()
    assert (body["retCode"], body["retMsg"]) == (10001, "params error: category invalid")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"symbol": "NOPEUSDT"}, "params error: symbol invalid"),
        ({}, "params error: symbol invalid"),
        ({"symbol": "BTCUSDT", "limit": "0"}, "params error: limit invalid"),
        ({"symbol": "BTCUSDT", "limit": "201"}, "params error: limit invalid"),
    ],
)
def test_bybit_orderbook_errors(bybit: FakeVenue, params: dict[str, str], message: str) -> None:
    """Orderbook answers retCode 10001 for an unknown or missing symbol and a bad limit."""
    body = _get(bybit, by.ORDERBOOK_PATH, category="spot", **params).json()
    assert (body["retCode"], body["retMsg"], body["result"]) == (10001, message, {})


def test_bybit_orderbook_derived_envelope(bybit: FakeVenue) -> None:
    """The derived orderbook is a full v5 envelope stamped with the tickers' `time`."""
    body = _get(bybit, by.ORDERBOOK_PATH, category="spot", symbol="BTCUSDT").json()
    assert (body["retCode"], body["retMsg"], body["time"]) == (0, "OK", 1787848767275)
    assert body["result"]["s"] == "BTCUSDT"
    assert (body["result"]["u"], body["result"]["seq"]) == (0, 0)


# -- okx ----------------------------------------------------------------------------


def test_okx_serves_recordings_for_spot(okx: FakeVenue) -> None:
    """instruments and tickers answer the 50-entry recordings with instType=SPOT."""
    info = _get(okx, ok.INSTRUMENTS_PATH, instType="SPOT")
    assert info.content == ok.INSTRUMENTS_FIXTURE.read_bytes()
    tickers = _get(okx, ok.TICKERS_PATH, instType="SPOT")
    assert tickers.content == ok.TICKERS_FIXTURE.read_bytes()
    assert len(info.json()["data"]) == len(tickers.json()["data"]) == 50


@pytest.mark.parametrize(
    ("path", "params", "code", "msg"),
    [
        (ok.TICKERS_PATH, {}, "50014", "Parameter instType can not be empty."),
        (ok.INSTRUMENTS_PATH, {"instType": ""}, "50014", "Parameter instType can not be empty."),
        (ok.INSTRUMENTS_PATH, {"instType": "SWAP"}, "51000", "Parameter instType error"),
        (ok.BOOKS_PATH, {}, "50014", "Parameter instId can not be empty."),
        (ok.BOOKS_PATH, {"instId": "BTC-USDT", "sz": "0"}, "51000", "Parameter sz error"),
        (ok.BOOKS_PATH, {"instId": "BTC-USDT", "sz": "401"}, "51000", "Parameter sz error"),
    ],
)
def test_okx_bad_parameters_are_400(
    okx: FakeVenue, path: str, params: dict[str, str], code: str, msg: str
) -> None:
    """A missing or wrong parameter answers 400 with OKX's code and message."""
    response = _get(okx, path, **params)
    assert response.status_code == 400
    assert response.json() == {"code": code, "msg": msg, "data": []}


def test_okx_books_unknown_instrument(okx: FakeVenue) -> None:
    """Books for an instId the tickers do not list answers 200 with code 51001."""
    response = _get(okx, ok.BOOKS_PATH, instId="NOPE-USDT")
    assert response.status_code == 200
    assert response.json() == {"code": "51001", "msg": "Instrument ID does not exist", "data": []}


def test_okx_books_derived_level_shape(okx: FakeVenue) -> None:
    """A derived OKX level is [price, size, "0", "1"], stamped with the ticker's ts."""
    book = _get(okx, ok.BOOKS_PATH, instId="BTC-USDT").json()["data"][0]
    assert book["bids"] == [["80348.6", "0.16110067", "0", "1"]]
    assert Decimal(book["asks"][0][0]) > Decimal(book["bids"][0][0])
    assert book["ts"] == "1787848766675"
