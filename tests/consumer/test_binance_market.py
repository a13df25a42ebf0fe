"""Binance's market data: 24 h statistics and order books, against the recorded payloads.

Expected values are computed here from the fixture JSON with the stdlib
(`json`, `Decimal(str)`), never with the adapter's own helpers.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumer.errors import BadPayloadError, ExchangeHTTPError, RateLimitedError
from consumer.exchanges import binance
from consumer.exchanges._model import OrderBook, SymbolStats
from consumer.exchanges.binance import parse_depth, parse_metadata, parse_stats

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"
EXCHANGE_INFO: dict[str, Any] = json.loads(
    (FIXTURES / "exchangeInfo_2023-08-13.trimmed.json").read_bytes()
)
TICKER_24HR: list[dict[str, Any]] = json.loads(
    (FIXTURES / "ticker_24hr_2023-03-10.json").read_bytes()
)
DEPTH_FILES = {
    "BTCUSDT": "depth_BTCUSDT_limit10_2021-10.json",
    "NKNUSDT": "depth_NKNUSDT_limit1000_2021-10-12.json",
    "BLZETH": "depth_BLZETH_limit1000_2021-10-12.json",
    "LRCBTC": "depth_LRCBTC_limit1000_2021-10-12.json",
    "RUNEEUR": "depth_RUNEEUR_limit1000_2021-10-12.json",
}
METADATA = parse_metadata(EXCHANGE_INFO)


def depth(symbol: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / DEPTH_FILES[symbol]).read_bytes())
    return doc


def test_parse_stats_keeps_every_trading_symbol_with_its_recorded_figures() -> None:
    """quote_volume is Decimal(quoteVolume) and trades is count, for each TRADING symbol."""
    trading = {
        s["symbol"]: (s["baseAsset"], s["quoteAsset"])
        for s in EXCHANGE_INFO["symbols"]
        if s["status"] == "TRADING"
    }
    expected = {
        e["symbol"]: SymbolStats(
            e["symbol"],
            *trading[e["symbol"]],
            Decimal(e["quoteVolume"]),
            e["count"],
        )
        for e in TICKER_24HR
        if e["symbol"] in trading
    }
    assert len(expected) > 1000
    assert parse_stats(TICKER_24HR, METADATA) == expected


def test_parse_stats_skips_symbols_not_listed_or_not_trading() -> None:
    """Symbols absent from exchangeInfo, or in BREAK, never get statistics."""
    unlisted = {"symbol": "ZZZBTC", "quoteVolume": "99999.0", "count": 5}
    stats = parse_stats([*TICKER_24HR, unlisted], METADATA)
    broken = {s["symbol"] for s in EXCHANGE_INFO["symbols"] if s["status"] != "TRADING"}
    assert {e["symbol"] for e in TICKER_24HR} & broken, "the fixture has symbols in BREAK"
    assert not set(stats) & (broken | {"ZZZBTC"})


@pytest.mark.parametrize(
    "change",
    [
        {"quoteVolume": "1E+3"},
        {"quoteVolume": "-5.0"},
        {"quoteVolume": 12.5},
        {"count": -1},
        {"count": True},
        {"count": "12"},
        {"quoteVolume": None},
    ],
)
def test_parse_stats_leaves_out_an_entry_with_a_malformed_figure(change: dict[str, Any]) -> None:
    """An exponent, a negative, a float or a non-integer count drops that entry only."""
    entry = {"symbol": "ETHBTC", "quoteVolume": "10.5", "count": 3, **change}
    good = {"symbol": "LTCBTC", "quoteVolume": "1.25", "count": 7}
    stats = parse_stats([entry, good], METADATA)
    assert set(stats) == {"LTCBTC"}
    assert stats["LTCBTC"].quote_volume == Decimal("1.25")


@pytest.mark.parametrize("payload", [{"symbols": []}, [], [{"symbol": "NOPE"}], "x", [1, 2]])
def test_parse_stats_without_anything_usable_is_bad_payload(payload: object) -> None:
    """The wrong shape, an empty list or no usable entry is a BadPayloadError."""
    with pytest.raises(BadPayloadError):
        parse_stats(payload, METADATA)


@pytest.mark.parametrize("symbol", sorted(DEPTH_FILES))
def test_parse_depth_keeps_every_recorded_level_exactly(symbol: str) -> None:
    """Each [price, qty] string pair becomes a Decimal pair, in the recorded order."""
    doc = depth(symbol)
    book = parse_depth(doc, symbol)
    assert book == OrderBook(
        symbol,
        tuple((Decimal(p), Decimal(q)) for p, q in doc["bids"]),
        tuple((Decimal(p), Decimal(q)) for p, q in doc["asks"]),
    )
    assert book.bids[0][0] < book.asks[0][0]


def test_parse_depth_accepts_an_empty_side() -> None:
    """A side with no levels (a thin book) is an empty tuple, not an error."""
    book = parse_depth({"lastUpdateId": 1, "bids": [], "asks": [["1.5", "2"]]}, "X")
    assert book.bids == ()
    assert book.asks == ((Decimal("1.5"), Decimal(2)),)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"bids": []},
        {"bids": [], "asks": {}},
        {"bids": [["1.0"]], "asks": []},
        {"bids": [["1.0", "2", "3"]], "asks": []},
        {"bids": [["0", "2"]], "asks": []},
        {"bids": [["1e3", "2"]], "asks": []},
        {"bids": [[1.0, "2"]], "asks": []},
        {"bids": [["1.0", "2"], ["1.1", "2"]], "asks": []},
        {"bids": [], "asks": [["1.1", "2"], ["1.0", "2"]]},
    ],
)
def test_parse_depth_refuses_a_book_it_cannot_sum(payload: object) -> None:
    """Missing side, malformed level, zero price or levels not best first: BadPayloadError."""
    with pytest.raises(BadPayloadError):
        parse_depth(payload, "ETHBTC")


def transport(routes: dict[str, httpx.Response], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return routes.get(request.url.path, httpx.Response(404, json={"code": -1000}))

    return httpx.MockTransport(handle)


async def test_fetch_depth_asks_for_the_symbol_and_limit() -> None:
    """GET /api/v3/depth?symbol=S&limit=200, parsed; the limit is capped at Binance's 5000."""
    seen: list[httpx.Request] = []
    routes = {binance.DEPTH_PATH: httpx.Response(200, json=depth("LRCBTC"))}
    async with httpx.AsyncClient(
        transport=transport(routes, seen), base_url="http://binance.test"
    ) as client:
        book = await binance.fetch_depth(client, "LRCBTC", 200)
        await binance.fetch_depth(client, "LRCBTC", 10_000)
    assert dict(seen[0].url.params) == {"symbol": "LRCBTC", "limit": "200"}
    assert seen[1].url.params["limit"] == "5000"
    assert book == parse_depth(depth("LRCBTC"), "LRCBTC")


async def test_fetch_stats_gets_the_all_symbols_24hr_ticker() -> None:
    """GET /api/v3/ticker/24hr without a symbol (one request for every symbol)."""
    seen: list[httpx.Request] = []
    routes = {binance.TICKER_24HR_PATH: httpx.Response(200, json=TICKER_24HR)}
    async with httpx.AsyncClient(
        transport=transport(routes, seen), base_url="http://binance.test"
    ) as client:
        stats = await binance.fetch_stats(client, METADATA)
    assert [r.url.path for r in seen] == ["/api/v3/ticker/24hr"]
    assert not seen[0].url.params
    assert stats == parse_stats(TICKER_24HR, METADATA)


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, RateLimitedError), (418, RateLimitedError), (400, ExchangeHTTPError)],
)
async def test_market_requests_map_binance_statuses(status: int, error: type[Exception]) -> None:
    """429/418 are rate limits (Retry-After honoured), 400 (-1121 invalid symbol) an HTTP error."""
    body = {"code": -1121, "msg": "Invalid symbol."}
    response = httpx.Response(status, json=body, headers={"Retry-After": "7"})
    routes = {binance.DEPTH_PATH: response, binance.TICKER_24HR_PATH: response}
    async with httpx.AsyncClient(
        transport=transport(routes, []), base_url="http://binance.test"
    ) as client:
        with pytest.raises(error) as depth_error:
            await binance.fetch_depth(client, "NOPE", 200)
        with pytest.raises(error):
            await binance.fetch_stats(client, METADATA)
    if isinstance(depth_error.value, RateLimitedError):
        assert depth_error.value.retry_after == 7
