"""Bybit v5 spot: metadata from `instruments-info`, quotes and 24 h stats from `tickers`.

Facts this module relies on (Bybit v5 REST docs, bybit-exchange.github.io/docs/v5):
- Answers are envelopes `{retCode, retMsg, result, retExtInfo, time}`, errors
  mostly at HTTP 200. retCode 10006 "Too many visits!" is the API rate limit
  (10018 "Exceeded the IP Rate Limit" is deprecated, same meaning), 10009 a
  region refusal; `X-Bapi-Limit-Reset-Timestamp` (ms) says when limits reset.
- HTTP 403 is the IP ban ("403, access too frequent ... wait for at least 10
  minutes", v5/rate-limit) or CloudFront refusing U.S. and other blocked
  locations (an HTML page "configured to block access from your country").
- Spot `instruments-info` is documented as unpaginated; we still send
  `limit=1000` and follow a `nextPageCursor` a few pages, so a change on
  Bybit's side cannot silently cut the list at the default page of 500.
- Spot `tickers` carries top of book and `turnover24h` (quote coin), no trade
  count; spot `orderbook` serves `limit` 1..200 levels, bids desc, asks asc.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter

import httpx

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
    "NAME",
    "SymbolInfo",
    "check_envelope",
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

NAME = "bybit"
INSTRUMENTS_PATH = "/v5/market/instruments-info"
TICKERS_PATH = "/v5/market/tickers"
ORDERBOOK_PATH = "/v5/market/orderbook"
CATEGORY = "spot"
INSTRUMENTS_PAGE_LIMIT = 1000  # the documented maximum page size
MAX_INSTRUMENT_PAGES = 5  # 5000 symbols; spot lists ~560 in one page (Aug 2026)
MAX_DEPTH_LIMIT = 200  # spot orderbook `limit` is [1, 200]
RATE_LIMIT_CODES = frozenset({10006, 10018})
REGION_RESTRICTED_CODE = 10009
RESET_HEADER = "X-Bapi-Limit-Reset-Timestamp"
# The v5 docs: after "403, access too frequent" wait at least 10 minutes.
IP_BAN_SECONDS = 600.0
# A reset further away than this is not a per-second API window: distrust it.
_MAX_RESET_WAIT = 3600.0
_MIN_RESET_WAIT = 1.0
# Words of CloudFront's refusal page ("...configured to block access from
# your country") and of retCode 10009 ("...unavailable for your region").
_GEO_WORDS = ("cloudfront", "country", "region")

_MS = re.compile(r"\A[0-9]{1,16}\Z")


@dataclass(frozen=True, slots=True)
class SymbolInfo(Listing):
    # Codes are kept as Bybit gives them: one off-vocabulary is counted `bad_code`.
    trading: bool  # `status` is "Trading" (not PreLaunch)


_TRADING = attrgetter("trading")


# -- the HTTP shell -----------------------------------------------------------------


def check_status(response: httpx.Response) -> None:
    """Bybit's 403: a geographic refusal if the body says so, else the IP rate-limit ban."""
    if response.status_code != 403:
        return
    path = response.request.url.path
    body = response.content[:4096].decode("utf-8", "replace").lower()
    if any(word in body for word in _GEO_WORDS):
        raise RestrictedLocationError(
            f"{NAME} GET {path} answered 403: Bybit refuses requests from this location "
            f"(a CloudFront/region block; U.S. IPs are refused): {snippet(response)}",
            403,
        )
    # A Retry-After, where given, is honoured when it asks for longer than the ban.
    raw = response.headers.get("Retry-After")
    wait = IP_BAN_SECONDS if raw is None else max(IP_BAN_SECONDS, parse_retry_after(raw))
    raise RateLimitedError(
        f"{NAME} GET {path} answered 403 (IP rate limit ban; Bybit says wait at least "
        f"10 minutes), pausing {wait:g}s: {snippet(response)}",
        403,
        wait,
    )


def _check_body(payload: object, response: httpx.Response) -> None:
    """The envelope's error, with the status and reset header it came with."""
    # Only here are the status and headers at hand; the parsers check the
    # envelope again (cheaply) so that they stand alone on a recorded payload.
    reset_header = response.headers.get(RESET_HEADER)
    now_ms = int(time.time() * 1000)
    check_envelope(payload, status=response.status_code, reset_header=reset_header, now_ms=now_ms)


async def _get(client: httpx.AsyncClient, path: str, params: Mapping[str, str]) -> object:
    return await get_json(
        client, path, params=params, venue=NAME, check_status=check_status, check_body=_check_body
    )


async def fetch_metadata(client: httpx.AsyncClient) -> dict[str, SymbolInfo]:
    """Fetch every page of spot `instruments-info` (bounded) and parse them together."""
    base = {"category": CATEGORY, "limit": str(INSTRUMENTS_PAGE_LIMIT)}
    pages: list[object] = []
    cursor = ""
    for _ in range(MAX_INSTRUMENT_PAGES):
        params = {**base, "cursor": cursor} if cursor else base
        payload = await _get(client, INSTRUMENTS_PATH, params)
        pages.append(payload)
        cursor = _next_cursor(payload)
        if not cursor:
            return parse_metadata(*pages)
    raise BadPayloadError(
        f"{NAME} instruments-info still has a nextPageCursor after {MAX_INSTRUMENT_PAGES} pages"
    )


async def fetch_quotes(
    client: httpx.AsyncClient,
    metadata: Mapping[str, SymbolInfo],
    skipped: Counter[str] | None = None,
) -> dict[str, Quote]:
    """Fetch and parse the all-symbols spot tickers."""
    payload = await _get(client, TICKERS_PATH, {"category": CATEGORY})
    return parse_quotes(payload, metadata, skipped)


async def fetch_stats(
    client: httpx.AsyncClient, metadata: Mapping[str, SymbolInfo]
) -> dict[str, SymbolStats]:
    """Fetch the spot tickers and keep their 24 h turnover."""
    return parse_stats(await _get(client, TICKERS_PATH, {"category": CATEGORY}), metadata)


async def fetch_depth(client: httpx.AsyncClient, symbol: str, limit: int) -> OrderBook:
    """Fetch up to `limit` levels per side (clamped to Bybit's spot range 1..200)."""
    count = min(max(limit, 1), MAX_DEPTH_LIMIT)
    params = {"category": CATEGORY, "symbol": symbol, "limit": str(count)}
    return parse_depth(await _get(client, ORDERBOOK_PATH, params), symbol)


# -- the envelope -------------------------------------------------------------------


def reset_retry_after(reset_header: str | None, now_ms: int | None) -> float:
    """Seconds until `X-Bapi-Limit-Reset-Timestamp` (ms); the default when unusable."""
    if reset_header is None or now_ms is None:
        return DEFAULT_RETRY_AFTER
    raw = reset_header.strip()
    if not _MS.match(raw):
        return DEFAULT_RETRY_AFTER
    wait = (int(raw) - now_ms) / 1000
    if not 0 < wait <= _MAX_RESET_WAIT:
        return DEFAULT_RETRY_AFTER
    return max(wait, _MIN_RESET_WAIT)


def check_envelope(
    payload: object,
    *,
    status: int = 200,
    reset_header: str | None = None,
    now_ms: int | None = None,
) -> dict[str, object]:
    """The `result` object of a successful answer; otherwise the error its `retCode` means.

    `{"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "time": ...}`
    is a RateLimitedError (`status` is the HTTP status it came with). The wait
    is the reset header minus the body's `time` (Bybit's own clock, so no
    skew), else minus `now_ms`, else DEFAULT_RETRY_AFTER.
    """
    if not isinstance(payload, dict):
        raise BadPayloadError(f"{NAME} answered a {type(payload).__name__}, not an envelope")
    code = payload.get("retCode")
    if not isinstance(code, int) or isinstance(code, bool):
        raise BadPayloadError(f"{NAME} answer has no integer retCode: {str(payload)[:200]}")
    if code != 0:
        message = f"{NAME} answered retCode {code} ({str(payload.get('retMsg'))[:200]!r})"
        if code in RATE_LIMIT_CODES:
            server_ms = payload.get("time")
            clock = server_ms if type(server_ms) is int else now_ms
            retry_after = reset_retry_after(reset_header, clock)
            raise RateLimitedError(f"{message}, pausing {retry_after:g}s", status, retry_after)
        if code == REGION_RESTRICTED_CODE:
            raise RestrictedLocationError(
                f"{message}: Bybit refuses requests from this location", status
            )
        raise ExchangeBodyError(message, str(code))
    result = payload.get("result")
    if not isinstance(result, dict):
        raise BadPayloadError(f"{NAME} answer has no `result` object")
    category = result.get("category", CATEGORY)
    if category != CATEGORY:
        raise BadPayloadError(f"{NAME} answered category {category!r}, not {CATEGORY!r}")
    return result


def _next_cursor(payload: object) -> str:
    cursor = check_envelope(payload).get("nextPageCursor")
    return cursor if isinstance(cursor, str) else ""


def _entries(payload: object, what: str) -> list[object]:
    entries = check_envelope(payload).get("list")
    if not isinstance(entries, list):
        raise BadPayloadError(f"{NAME} {what} has no `result.list`")
    return entries


# -- the parsers --------------------------------------------------------------------


def parse_metadata(*pages: object) -> dict[str, SymbolInfo]:
    """`instruments-info` page(s) -> symbol -> SymbolInfo. Trimmed sample payload::

        {"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "list": [
          {"symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT",
           "status": "Trading", ...}, ...]}, "retExtInfo": {}, "time": 1786310817470}

    Codes are kept as given (a code outside `[A-Z0-9]{1,20}` is counted as
    `bad_code` by `parse_quotes`); entries without string names are skipped.
    No usable entry on any page is a BadPayloadError.
    """
    fields = ("symbol", "baseCoin", "quoteCoin", "status")
    result: dict[str, SymbolInfo] = {}
    for payload in pages:
        entries = _entries(payload, "instruments-info")
        result.update(read_listings(entries, SymbolInfo, fields, "Trading"))
    if not result:
        raise BadPayloadError(f"{NAME} instruments-info lists no usable symbols")
    return result


def parse_quotes(
    payload: object,
    metadata: Mapping[str, SymbolInfo],
    skipped: Counter[str] | None = None,
) -> dict[str, Quote]:
    """Spot `tickers` -> symbol -> Quote, for quotable symbols only. Trimmed sample::

        {"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "list": [
          {"symbol": "ETHUSDT", "bid1Price": "2523.1", "bid1Size": "5.42179",
           "ask1Price": "2523.11", "ask1Size": "16.55082",
           "turnover24h": "264327499.4613597", ...}, ...]},
         "retExtInfo": {}, "time": 1787848767275}

    Quotable: listed, `Trading`, codes in the vocabulary, 0 < bid <= ask and
    sizes plain decimals. A side with no orders (`""` or zero) is an
    `empty_book`; each skip is counted in `skipped` by reason. An empty list,
    the wrong shape, or nothing quotable is a BadPayloadError.
    """
    entries = _entries(payload, "tickers")
    if not entries:
        raise BadPayloadError(f"{NAME} tickers is an empty list")
    return quotes_from_rows(
        rows_of(entries, ("symbol", "bid1Price", "ask1Price", "bid1Size", "ask1Size")),
        metadata,
        skipped,
        quotable=_TRADING,
        nothing=f"{NAME} tickers has {len(entries)} entries but none is quotable",
        # Bybit leaves a side's price blank when no order rests on it: an empty side.
        blank_side=True,
    )


def parse_stats(payload: object, metadata: Mapping[str, SymbolInfo]) -> dict[str, SymbolStats]:
    """Spot `tickers` -> symbol -> SymbolStats (`turnover24h`; Bybit has no trade count).

    Same payload as `parse_quotes`. Only quotable symbols (listed, `Trading`,
    codes in the vocabulary) with a plain-decimal `turnover24h` are kept;
    nothing usable is a BadPayloadError.
    """
    entries = _entries(payload, "tickers")
    stats: dict[str, SymbolStats] = {}
    for info, entry in quotable_entries(entries, metadata, "symbol", _TRADING):
        turnover = plain_decimal(entry.get("turnover24h"))
        if turnover is not None:
            stats[info.symbol] = SymbolStats(info.symbol, info.base, info.quote, turnover, None)
    if not stats:
        raise BadPayloadError(f"{NAME} tickers has {len(entries)} entries but no usable turnover")
    return stats


def parse_depth(payload: object, symbol: str) -> OrderBook:
    """Spot `orderbook` -> OrderBook, best level first. Trimmed sample payload::

        {"retCode": 0, "retMsg": "OK", "result": {"s": "BTCUSDT",
          "b": [["65485.47", "47.081829"], ...], "a": [["65557.7", "16.606555"], ...],
          "ts": 1716863719031, "u": 230704, "seq": 1432604333},
         "retExtInfo": {}, "time": 1716863719382}

    Another symbol, a malformed level, or levels out of order (bids must not
    rise, asks must not fall) is a BadPayloadError. Empty sides are kept empty.
    """
    result = check_envelope(payload)
    if result.get("s") != symbol:
        raise BadPayloadError(f"{NAME} orderbook is for {result.get('s')!r}, not {symbol!r}")
    where = f"{NAME} orderbook for {symbol}"
    return OrderBook(
        symbol,
        levels(result.get("b"), "b", where, bids=True),
        levels(result.get("a"), "a", where, bids=False),
    )
