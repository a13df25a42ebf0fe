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
from decimal import Decimal, InvalidOperation
from itertools import pairwise

import httpx

from consumer.errors import (
    BadPayloadError,
    ExchangeBodyError,
    RateLimitedError,
    RestrictedLocationError,
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

_CODE = re.compile(r"\A[A-Z0-9]{1,20}\Z")
_SYMBOL = re.compile(r"\A[A-Z0-9]{1,40}\Z")
_MS = re.compile(r"\A[0-9]{1,16}\Z")
# Bybit sends plain decimal strings ("0.09164", "1728"); anything else
# (exponents, signs, blanks) is not something we trust as money.
_DECIMAL = re.compile(r"\A[0-9]{1,20}(\.[0-9]{1,20})?\Z")


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    symbol: str
    base: str
    quote: str
    trading: bool


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


async def _get(client: httpx.AsyncClient, path: str, params: Mapping[str, str]) -> object:
    """GET through `get_json`, then raise the envelope's error with the response's headers."""
    seen: list[httpx.Response] = []

    def hook(response: httpx.Response) -> None:
        check_status(response)
        seen.append(response)

    payload = await get_json(client, path, params=params, venue=NAME, check_status=hook)
    # Only here are the status and headers at hand; the parsers check the
    # envelope again (cheaply) so that they stand alone on a recorded payload.
    check_envelope(
        payload,
        status=seen[-1].status_code if seen else 200,
        reset_header=seen[-1].headers.get(RESET_HEADER) if seen else None,
        now_ms=int(time.time() * 1000),
    )
    return payload


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
    levels = min(max(limit, 1), MAX_DEPTH_LIMIT)
    params = {"category": CATEGORY, "symbol": symbol, "limit": str(levels)}
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


def _decimal(raw: object) -> Decimal | None:
    if not isinstance(raw, str) or not _DECIMAL.match(raw):
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        return None


def _price(raw: object) -> Decimal | None:
    # Bybit leaves a side's price blank when no order rests on it: an empty side.
    return Decimal(0) if raw == "" else _decimal(raw)


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
    result: dict[str, SymbolInfo] = {}
    for payload in pages:
        for entry in _entries(payload, "instruments-info"):
            if not isinstance(entry, dict):
                continue
            symbol, base, quote = entry.get("symbol"), entry.get("baseCoin"), entry.get("quoteCoin")
            if not (
                isinstance(symbol, str)
                and _SYMBOL.match(symbol)
                and isinstance(base, str)
                and isinstance(quote, str)
            ):
                continue
            result[symbol] = SymbolInfo(symbol, base, quote, entry.get("status") == "Trading")
    if not result:
        raise BadPayloadError(f"{NAME} instruments-info lists no usable symbols")
    return result


def _quotable(
    entry: object, metadata: Mapping[str, SymbolInfo], skips: Counter[str]
) -> tuple[SymbolInfo, dict[str, object]] | None:
    """The entry's SymbolInfo (and the entry) if it may be quoted at all; else count why not."""
    if not isinstance(entry, dict):
        skips["bad_price"] += 1
        return None
    symbol = entry.get("symbol")
    info = metadata.get(symbol) if isinstance(symbol, str) else None
    if info is None:
        skips["not_listed"] += 1
    elif not info.trading:
        skips["not_quotable"] += 1
    elif not (_CODE.match(info.base) and _CODE.match(info.quote)):
        skips["bad_code"] += 1
    else:
        return info, entry
    return None


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
    skips: Counter[str] = Counter() if skipped is None else skipped
    quotes: dict[str, Quote] = {}
    for entry in entries:
        found = _quotable(entry, metadata, skips)
        if found is None:
            continue
        info, fields = found
        bid, ask = _price(fields.get("bid1Price")), _price(fields.get("ask1Price"))
        bid_qty, ask_qty = _decimal(fields.get("bid1Size")), _decimal(fields.get("ask1Size"))
        if bid is None or ask is None:
            skips["bad_price"] += 1
        elif bid <= 0 or ask <= 0:
            skips["empty_book"] += 1
        elif bid_qty is None or ask_qty is None:
            skips["bad_price"] += 1
        elif bid > ask:
            skips["crossed"] += 1
        else:
            quotes[info.symbol] = Quote(
                info.symbol, info.base, info.quote, bid, ask, bid_qty, ask_qty
            )
    if not quotes:
        raise BadPayloadError(f"{NAME} tickers has {len(entries)} entries but none is quotable")
    return quotes


def parse_stats(payload: object, metadata: Mapping[str, SymbolInfo]) -> dict[str, SymbolStats]:
    """Spot `tickers` -> symbol -> SymbolStats (`turnover24h`; Bybit has no trade count).

    Same payload as `parse_quotes`. Only quotable symbols (listed, `Trading`,
    codes in the vocabulary) with a plain-decimal `turnover24h` are kept;
    nothing usable is a BadPayloadError.
    """
    entries = _entries(payload, "tickers")
    stats: dict[str, SymbolStats] = {}
    for entry in entries:
        found = _quotable(entry, metadata, Counter())
        if found is None:
            continue
        info, fields = found
        turnover = _decimal(fields.get("turnover24h"))
        if turnover is not None:
            stats[info.symbol] = SymbolStats(info.symbol, info.base, info.quote, turnover, None)
    if not stats:
        raise BadPayloadError(f"{NAME} tickers has {len(entries)} entries but no usable turnover")
    return stats


def _levels(raw: object, side: str) -> tuple[tuple[Decimal, Decimal], ...]:
    if not isinstance(raw, list):
        raise BadPayloadError(f"{NAME} orderbook `{side}` is not a list")
    levels: list[tuple[Decimal, Decimal]] = []
    for level in raw:
        pair = level if isinstance(level, list) and len(level) == 2 else (None, None)
        price, qty = _decimal(pair[0]), _decimal(pair[1])
        if price is None or qty is None or price <= 0:
            raise BadPayloadError(f"{NAME} orderbook `{side}` has a level {str(level)[:60]}")
        levels.append((price, qty))
    return tuple(levels)


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
    bids, asks = _levels(result.get("b"), "b"), _levels(result.get("a"), "a")
    if any(b[0] > a[0] for a, b in pairwise(bids)) or any(b[0] < a[0] for a, b in pairwise(asks)):
        raise BadPayloadError(f"{NAME} orderbook levels for {symbol} are not best first")
    return OrderBook(symbol, bids, asks)
