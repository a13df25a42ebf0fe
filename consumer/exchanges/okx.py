"""OKX v5 spot: instruments from `public/instruments`, quotes and 24 h stats from
`market/tickers`, order books from `market/books`.

Facts this module relies on (OKX API v5 docs, www.okx.com/docs-v5/en/):
- Every answer is an envelope `{"code": "0", "msg": "", "data": [...]}`; `code`
  is a string and anything but `"0"` is an error, often at HTTP 200. An unknown
  path answers 404 with a *numeric* `"code": 404` (recorded in tests/fixtures/okx).
- 50011 "Rate limit reached" comes with HTTP 429; 50061 "Sub-account rate
  limit reached" is the other documented rate-limit code (REST error table).
  A Retry-After is honoured if one is sent; otherwise the 60 s default.
- `GET /api/v5/public/instruments?instType=SPOT`: `instId` (`BTC-USDT`),
  `baseCcy`, `quoteCcy`, `state` (`live`, `suspend`, `preopen`, `test`).
  Base and quote come from here, never from splitting `instId`.
- `GET /api/v5/market/tickers?instType=SPOT`: `bidPx`/`bidSz`, `askPx`/`askSz`,
  empty strings when a side of the book is empty; `volCcy24h` is "24h trading
  volume, with a unit of currency ... If it is SPOT/MARGIN, the value is the
  quantity in quote currency". No trade count is published.
- `GET /api/v5/market/books?instId=S&sz=N`: `sz` is the "order book depth per
  side. Maximum 400"; levels are `[price, size, "0", orders]`, best first. The
  docs warn the best ask may be below the best bid during the pre-open period,
  which is why a crossed book is skipped, not quoted.
- Access from some regions is refused with HTTP 403 from OKX's CloudFront edge.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter

import httpx
import orjson

from consumer.errors import (
    BadPayloadError,
    ExchangeBodyError,
    RateLimitedError,
    RestrictedLocationError,
)
from consumer.exchanges._book import (
    Listing,
    levels,
    plain_decimal,
    quotable_entries,
    quotes_from_rows,
    read_listings,
    rows_of,
)
from consumer.exchanges._http import DEFAULT_RETRY_AFTER, get_json, parse_retry_after, snippet
from consumer.exchanges._model import OrderBook, SymbolStats
from storage.model import Quote

__all__ = [
    "BOOKS_PATH",
    "INSTRUMENTS_PATH",
    "MAX_DEPTH",
    "NAME",
    "RATE_LIMIT_CODES",
    "TICKERS_PATH",
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

NAME = "okx"
INSTRUMENTS_PATH = "/api/v5/public/instruments"
TICKERS_PATH = "/api/v5/market/tickers"
BOOKS_PATH = "/api/v5/market/books"
SPOT = {"instType": "SPOT"}
MAX_DEPTH = 400
RATE_LIMIT_CODES = frozenset({"50011", "50061"})

_INST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# A region block: CloudFront's own page ("The Amazon CloudFront distribution is
# configured to block access from your country"), or a body naming the region.
_GEO = re.compile(r"countr|region|location|jurisdiction|restricted", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SymbolInfo(Listing):
    # Codes are kept as OKX gives them: one off-vocabulary is counted `bad_code`.
    live: bool  # `state` is "live" (not suspend, preopen or test)


_LIVE = attrgetter("live")


def _rate_limited(
    where: str, status: int, code: str | None, msg: str, retry_after: float
) -> RateLimitedError:
    said = f"code {code} ({msg!r})" if code is not None else repr(msg)
    return RateLimitedError(
        f"{NAME} {where} answered HTTP {status} with {said}: rate limited, "
        f"pausing {retry_after:g}s",
        status,
        retry_after,
    )


def _geo_cause(text: str) -> str | None:
    """Why a 403 body is a region block, or None if it does not look like one."""
    if "cloudfront" in text.lower():
        return "OKX's CloudFront edge blocks this country or region"
    return "the body names a region restriction" if _GEO.search(text) else None


def _body_code(response: httpx.Response) -> tuple[str, str] | None:
    """The (code, msg) of an OKX error envelope in an HTTP error answer, if it is one."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, bool) or not isinstance(code, str | int):
        return None
    return str(code), str(body.get("msg", ""))


def check_status(response: httpx.Response) -> None:
    """OKX's own statuses: 429 (code 50011) and other rate-limit codes, the region 403."""
    status = response.status_code
    where = f"GET {response.request.url.path}"
    if status < 400:
        return
    if status == 403:
        cause = _geo_cause(response.content[:4096].decode("utf-8", "replace"))
        if cause is not None:
            raise RestrictedLocationError(
                f"{NAME} {where} answered 403: OKX refuses this location ({cause}): "
                f"{snippet(response)}",
                status,
            )
    found = _body_code(response)
    if status == 429 or (found is not None and found[0] in RATE_LIMIT_CODES):
        code, msg = found if found is not None else (None, snippet(response))
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise _rate_limited(where, status, code, msg, retry_after)


async def _get(
    client: httpx.AsyncClient, path: str, params: Mapping[str, str] | None = None
) -> object:
    return await get_json(client, path, params=params, venue=NAME, check_status=check_status)


async def fetch_metadata(client: httpx.AsyncClient) -> dict[str, SymbolInfo]:
    """Fetch and parse the SPOT instrument list."""
    return parse_metadata(await _get(client, INSTRUMENTS_PATH, SPOT))


async def fetch_quotes(
    client: httpx.AsyncClient,
    metadata: Mapping[str, SymbolInfo],
    skipped: Counter[str] | None = None,
) -> dict[str, Quote]:
    """Fetch and parse every SPOT ticker."""
    return parse_quotes(await _get(client, TICKERS_PATH, SPOT), metadata, skipped)


async def fetch_stats(
    client: httpx.AsyncClient, metadata: Mapping[str, SymbolInfo]
) -> dict[str, SymbolStats]:
    """Fetch every SPOT ticker and keep its 24 h quote volume."""
    return parse_stats(await _get(client, TICKERS_PATH, SPOT), metadata)


async def fetch_depth(client: httpx.AsyncClient, symbol: str, limit: int) -> OrderBook:
    """Fetch `symbol`'s order book, `limit` levels per side (OKX serves at most 400)."""
    if limit < 1:
        raise ValueError(f"depth limit must be at least 1, not {limit}")
    params = {"instId": symbol, "sz": str(min(limit, MAX_DEPTH))}
    return parse_depth(await _get(client, BOOKS_PATH, params), symbol)


def _data(payload: object, what: str) -> list[object]:
    """The `data` list of an OKX envelope; a body error or wrong shape raises."""
    if not isinstance(payload, dict):
        raise BadPayloadError(f"{NAME} {what} is a {type(payload).__name__}, not an object")
    code = payload.get("code")
    if code != "0":
        if isinstance(code, bool) or not isinstance(code, str | int):
            raise BadPayloadError(f"{NAME} {what} has no usable `code`: {code!r}")
        msg = str(payload.get("msg", ""))
        if str(code) in RATE_LIMIT_CODES:
            raise _rate_limited(what, 200, str(code), msg, DEFAULT_RETRY_AFTER)
        raise ExchangeBodyError(f"{NAME} {what} answered code {code!r}: {msg!r}", str(code))
    data = payload.get("data")
    if not isinstance(data, list):
        raise BadPayloadError(f"{NAME} {what} has no `data` list")
    if not data:
        raise BadPayloadError(f"{NAME} {what} has an empty `data` list")
    return data


def parse_metadata(payload: object) -> dict[str, SymbolInfo]:
    """Instruments -> instId -> SymbolInfo. Trimmed sample payload::

        {"code": "0", "msg": "", "data": [
          {"instId": "BTC-USDT", "instType": "SPOT", "baseCcy": "BTC",
           "quoteCcy": "USDT", "state": "live", "tickSz": "0.1", ...}, ...]}

    Entries that are not SPOT or lack string fields are left out; codes are
    checked by `parse_quotes` (so a bad code is counted, not silently lost).
    """
    spot = [
        e
        for e in _data(payload, "instruments")
        if isinstance(e, dict) and e.get("instType", "SPOT") == "SPOT"
    ]
    fields = ("instId", "baseCcy", "quoteCcy", "state")
    result = read_listings(spot, SymbolInfo, fields, "live", symbol_pattern=_INST_ID)
    if not result:
        raise BadPayloadError(f"{NAME} instruments lists no usable SPOT instrument")
    return result


def parse_quotes(
    payload: object,
    metadata: Mapping[str, SymbolInfo],
    skipped: Counter[str] | None = None,
) -> dict[str, Quote]:
    """Tickers -> instId -> Quote, for quotable instruments only. Trimmed sample::

        {"code": "0", "msg": "", "data": [
          {"instType": "SPOT", "instId": "BTC-USDT", "askPx": "80348.7",
           "askSz": "2.05124545", "bidPx": "80348.6", "bidSz": "0.16110067",
           "volCcy24h": "452336258.382459592", "ts": "1787848766675", ...}, ...]}

    Quotable: listed, `live`, codes in the vocabulary, 0 < bid <= ask, prices
    and sizes plain decimals. Each other entry is counted once in `skipped`:
    an empty side (`""` or `"0"`, illiquid instruments) is `empty_book`. An
    empty list, the wrong shape or nothing quotable is a BadPayloadError.
    """
    data = _data(payload, "tickers")
    return quotes_from_rows(
        rows_of(data, ("instId", "bidPx", "askPx", "bidSz", "askSz")),
        metadata,
        skipped,
        quotable=_LIVE,
        nothing=f"{NAME} tickers has {len(data)} entries but none is quotable",
        # OKX sends empty strings for a side of the book with no orders: an empty book.
        blank_side=True,
    )


def parse_stats(payload: object, metadata: Mapping[str, SymbolInfo]) -> dict[str, SymbolStats]:
    """Tickers -> instId -> SymbolStats: `volCcy24h` (quote units for SPOT), no trades.

    Same payload as `parse_quotes`. Every listed, `live` instrument with codes
    in the vocabulary is kept, whatever its book; an unusable `volCcy24h` is
    None. Nothing usable is a BadPayloadError.
    """
    data = _data(payload, "tickers")
    stats: dict[str, SymbolStats] = {}
    for info, entry in quotable_entries(data, metadata, "instId", _LIVE):
        volume = plain_decimal(entry.get("volCcy24h"))
        stats[info.symbol] = SymbolStats(info.symbol, info.base, info.quote, volume, None)
    if not stats:
        raise BadPayloadError(f"{NAME} tickers has {len(data)} entries but none is usable")
    return stats


def parse_depth(payload: object, symbol: str) -> OrderBook:
    """Books -> OrderBook. Sample (OKX docs; levels are [price, size, "0", orders])::

        {"code": "0", "msg": "", "data": [
          {"asks": [["41006.8", "0.60038921", "0", "1"]],
           "bids": [["41006.3", "0.30178218", "0", "2"]], "ts": "1629966436396"}]}

    A side may be empty; a missing side, a malformed level or a side that is not
    best first is a BadPayloadError (the analytics would sum the wrong levels).
    """
    data = _data(payload, f"books for {symbol}")
    book = data[0]
    if not isinstance(book, dict):
        raise BadPayloadError(f"{NAME} books for {symbol} is not an object")
    # Best first is what OrderBook promises; OKX sends asks ascending, bids descending.
    where = f"{NAME} books for {symbol}"
    return OrderBook(
        symbol,
        levels(book.get("bids"), "bids", where, bids=True, extra_fields=True),
        levels(book.get("asks"), "asks", where, bids=False, extra_fields=True),
    )
