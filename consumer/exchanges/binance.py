"""Binance spot: metadata from `exchangeInfo`, quotes from `bookTicker`, market data.

Facts this module relies on (Binance spot REST docs):
- `GET /api/v3/exchangeInfo` (weight 20) gives `status`, `baseAsset` and
  `quoteAsset` per symbol. Base and quote always come from here: slicing the
  symbol string is ambiguous (is `BTCUSDT` BTC/USDT or BTCU/SDT?).
- `GET /api/v3/ticker/bookTicker` without `symbol` (weight 4) gives the top
  of book of every symbol and carries no timestamp, so the fetch time is ours.
- The limit is 6000 weight per minute per IP; 429/418 carry `Retry-After`;
  451 means a restricted location (data-api.binance.vision serves market data).
- `GET /api/v3/ticker/24hr` without `symbol` (weight 80) gives every symbol's
  24 h `quoteVolume` (a decimal string) and `count` (trades, an integer).
- `GET /api/v3/depth?symbol=S&limit=200` (weight 25 for limits 101-500) gives
  `bids` and `asks` as [price, quantity] string pairs, best first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter

import httpx

from consumer.errors import BadPayloadError, RateLimitedError, RestrictedLocationError
from consumer.exchanges._book import (
    Listing,
    levels,
    plain_decimal,
    quotable_entries,
    quotes_from_rows,
    read_listings,
    rows_of,
)
from consumer.exchanges._http import get_json, parse_retry_after, snippet
from consumer.exchanges._model import OrderBook, SymbolStats
from storage.model import Quote

__all__ = [
    "BOOK_TICKER_PATH",
    "DEPTH_PATH",
    "EXCHANGE_INFO_PATH",
    "MAX_DEPTH_LIMIT",
    "NAME",
    "TICKER_24HR_PATH",
    "SymbolInfo",
    "check_status",
    "fetch_depth",
    "fetch_metadata",
    "fetch_quotes",
    "fetch_stats",
    "parse_depth",
    "parse_metadata",
    "parse_quotes",
    "parse_stats",
]

NAME = "binance"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
BOOK_TICKER_PATH = "/api/v3/ticker/bookTicker"
TICKER_24HR_PATH = "/api/v3/ticker/24hr"
DEPTH_PATH = "/api/v3/depth"
MAX_DEPTH_LIMIT = 5000  # the documented maximum `limit` of /api/v3/depth


@dataclass(frozen=True, slots=True)
class SymbolInfo(Listing):
    trading: bool  # `status` is TRADING; a symbol on BREAK may still show a bid (135 recorded)


_TRADING = attrgetter("trading")


def check_status(response: httpx.Response) -> None:
    """Binance's own statuses: 418 (banned for ignoring 429s) and 451 (location)."""
    status = response.status_code
    path = response.request.url.path
    if status == 418:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RateLimitedError(
            f"{NAME} GET {path} answered 418 (IP banned for ignoring 429s), "
            f"Retry-After {retry_after:g}s: {snippet(response)}",
            status,
            retry_after,
        )
    if status == 451:
        raise RestrictedLocationError(
            f"{NAME} GET {path} answered 451: Binance refuses this location. "
            "Set BINANCE_BASE_URL=https://data-api.binance.vision (public market data).",
            status,
        )


async def _get(
    client: httpx.AsyncClient, path: str, params: Mapping[str, str] | None = None
) -> object:
    return await get_json(client, path, params=params, venue=NAME, check_status=check_status)


async def fetch_metadata(client: httpx.AsyncClient) -> dict[str, SymbolInfo]:
    """Fetch and parse `exchangeInfo`."""
    return parse_metadata(await _get(client, EXCHANGE_INFO_PATH))


async def fetch_quotes(
    client: httpx.AsyncClient,
    metadata: Mapping[str, SymbolInfo],
    skipped: Counter[str] | None = None,
) -> dict[str, Quote]:
    """Fetch and parse the all-symbols book ticker."""
    return parse_quotes(await _get(client, BOOK_TICKER_PATH), metadata, skipped)


async def fetch_stats(
    client: httpx.AsyncClient, metadata: Mapping[str, SymbolInfo]
) -> dict[str, SymbolStats]:
    """Fetch and parse the all-symbols 24 h ticker."""
    return parse_stats(await _get(client, TICKER_24HR_PATH), metadata)


async def fetch_depth(client: httpx.AsyncClient, symbol: str, limit: int) -> OrderBook:
    """Fetch and parse up to `limit` levels a side of `symbol`'s book."""
    params = {"symbol": symbol, "limit": str(max(1, min(limit, MAX_DEPTH_LIMIT)))}
    return parse_depth(await _get(client, DEPTH_PATH, params), symbol)


def parse_metadata(payload: object) -> dict[str, SymbolInfo]:
    """`exchangeInfo` -> symbol -> SymbolInfo. Trimmed sample payload::

        {"timezone": "UTC", "serverTime": 1691945245042, "symbols": [
          {"symbol": "ETHBTC", "status": "TRADING",
           "baseAsset": "ETH", "quoteAsset": "BTC", ...}, ...]}

    Entries with unusable names are skipped (they could never be quoted);
    a payload of the wrong shape, or with no symbols, is a BadPayloadError.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("symbols"), list):
        raise BadPayloadError("exchangeInfo has no `symbols` list")
    fields = ("symbol", "baseAsset", "quoteAsset", "status")
    listed = read_listings(payload["symbols"], SymbolInfo, fields, "TRADING")
    # Binance's codes all fit the vocabulary; a symbol whose do not is dropped here.
    result = {symbol: info for symbol, info in listed.items() if info.codes_ok}
    if not result:
        raise BadPayloadError("exchangeInfo lists no usable symbols")
    return result


def parse_quotes(
    payload: object,
    metadata: Mapping[str, SymbolInfo],
    skipped: Counter[str] | None = None,
) -> dict[str, Quote]:
    """bookTicker -> symbol -> Quote, for quotable symbols only. Trimmed sample::

        [{"symbol": "ETHBTC", "bidPrice": "0.07041400", "bidQty": "2.97790000",
          "askPrice": "0.07041500", "askQty": "4.57300000"}, ...]

    Quotable: in `metadata`, status TRADING, 0 < bid <= ask, sizes plain
    decimals. Everything else is left out and counted in `skipped` by reason
    (a halted symbol shows bid 0 / ask 0 on Binance). An empty list, the wrong
    shape, or nothing quotable is a BadPayloadError: writing such a snapshot
    would turn an exchange glitch into "pair_not_found".
    """
    if not isinstance(payload, list):
        raise BadPayloadError(f"bookTicker is a {type(payload).__name__}, not a list")
    if not payload:
        raise BadPayloadError("bookTicker is an empty list")
    return quotes_from_rows(
        rows_of(payload, ("symbol", "bidPrice", "askPrice", "bidQty", "askQty")),
        metadata,
        skipped,
        quotable=_TRADING,
        nothing=f"bookTicker has {len(payload)} entries but none is quotable",
        # A size that is absent is unknown (None); one that is present must be sound.
        sizes_optional=True,
    )


def parse_stats(payload: object, metadata: Mapping[str, SymbolInfo]) -> dict[str, SymbolStats]:
    """24 h ticker -> symbol -> SymbolStats, for TRADING symbols. Trimmed sample::

        [{"symbol": "ETHBTC", "bidPrice": "0.07041400", "askPrice": "0.07041500",
          "volume": "143742.10100000", "quoteVolume": "10177.29085410",
          "count": 291190, ...}, ...]

    `quoteVolume` is the 24 h turnover in the quote asset, `count` the number
    of trades. Entries with a malformed figure are left out; none left (or the
    wrong shape) is a BadPayloadError.
    """
    if not isinstance(payload, list):
        raise BadPayloadError(f"ticker/24hr is a {type(payload).__name__}, not a list")
    stats: dict[str, SymbolStats] = {}
    for info, entry in quotable_entries(payload, metadata, "symbol", _TRADING):
        volume, trades = plain_decimal(entry.get("quoteVolume")), entry.get("count")
        if volume is None or type(trades) is not int or trades < 0:
            continue
        stats[info.symbol] = SymbolStats(info.symbol, info.base, info.quote, volume, trades)
    if not stats:
        raise BadPayloadError(f"ticker/24hr has {len(payload)} entries but none is usable")
    return stats


def parse_depth(payload: object, symbol: str) -> OrderBook:
    """`depth` -> OrderBook, best level first on each side. Trimmed sample::

        {"lastUpdateId": 14527958487,
         "bids": [["60650.00000000", "0.00213000"], ...],
         "asks": [["60650.01000000", "0.61982000"], ...]}

    A side may be empty (a thin book); a missing side, a malformed level, or
    levels not best first are a BadPayloadError: the notionals sum the top levels.
    """
    if not isinstance(payload, dict):
        raise BadPayloadError(f"depth for {symbol} is a {type(payload).__name__}, not an object")
    where = f"depth for {symbol}"
    return OrderBook(
        symbol,
        levels(payload.get("bids"), "bids", where, bids=True),
        levels(payload.get("asks"), "asks", where, bids=False),
    )
