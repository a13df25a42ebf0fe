"""Kraken spot: pairs from `AssetPairs`, quotes and 24 h stats from `Ticker`, books from `Depth`.

Facts this module relies on (Kraken REST docs and recorded answers):
- Every answer is `{"error": [...], "result": {...}}`, almost always with HTTP
  200; a non-empty `error` list means the call failed, even when `result` is
  populated too (a recorded `Ticker` answer carries `EQuery:Unknown asset pair`
  next to 16 good pairs). Such a body is a failed poll, never data.
- The rate-limit answers are body errors: `EAPI:Rate limit exceeded`, and
  since December 2021 `EGeneral:Too many requests`. They carry no retry hint,
  so the venue is paused for DEFAULT_RETRY_AFTER. Kraken gives no meaning of
  its own to an HTTP status, so there is no `check_status` hook: 429 and
  other statuses >= 400 are handled by `get_json` like any venue's.
- `GET /0/public/Ticker` without `pair` answers every pair, keyed by the
  same classic pair names as `AssetPairs` (`XXBTZUSD`, `XBTUSDT`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext
from operator import attrgetter

import httpx

from consumer.errors import BadPayloadError, ExchangeBodyError, RateLimitedError
from consumer.exchanges._book import (
    SYMBOL,
    Listing,
    Row,
    levels,
    plain_decimal,
    quotable_listing,
    quotes_from_rows,
)
from consumer.exchanges._http import DEFAULT_RETRY_AFTER, get_json, parse_retry_after
from consumer.exchanges._model import OrderBook, SymbolStats
from storage.model import Quote

__all__ = [
    "ALIASES",
    "ASSET_PAIRS_PATH",
    "DEPTH_PATH",
    "NAME",
    "RATE_LIMIT_ERRORS",
    "TICKER_PATH",
    "PairInfo",
    "exact_product",
    "fetch_depth",
    "fetch_metadata",
    "fetch_quotes",
    "fetch_stats",
    "parse_depth",
    "parse_metadata",
    "parse_quotes",
    "parse_stats",
]

NAME = "kraken"
ASSET_PAIRS_PATH = "/0/public/AssetPairs"
TICKER_PATH = "/0/public/Ticker"
DEPTH_PATH = "/0/public/Depth"

RATE_LIMIT_ERRORS = frozenset({"EAPI:Rate limit exceeded", "EGeneral:Too many requests"})
# `get_json` hands over a body only for statuses below 400, and Kraken sends
# its body errors with 200: that is the status a body-level rate limit reports.
_BODY_ERROR_STATUS = 200

# The one alias table. `wsname` (`XBT/USD`) already carries Kraken's alternate
# asset names, so the X…/Z… asset ids (`XXBT`, `ZUSD`) never reach the
# vocabulary; only these two alternate names differ from everyone else's code.
ALIASES = {"XBT": "BTC", "XDG": "DOGE"}


@dataclass(frozen=True, slots=True)
class PairInfo(Listing):
    # `symbol` is Kraken's pair key ("XXBTZUSD"); base and quote come from `wsname`,
    # upper-cased and aliased, and may not fit the vocabulary (then `codes_ok` is False).
    online: bool  # `status` is "online"; a "post_only" pair (AIOEUR, recorded) is not quoted


_ONLINE = attrgetter("online")


def _check_body(payload: object, response: httpx.Response) -> None:
    """A rate-limit body that comes with a Retry-After header pauses that long.

    Kraken does not document a Retry-After, but a proxy or a future Kraken may
    send one, and the venues contract says to honour it where given; without
    one, the parsers pause DEFAULT_RETRY_AFTER.
    """
    errors = payload.get("error") if isinstance(payload, dict) else None
    raw = response.headers.get("Retry-After")
    if raw is not None and isinstance(errors, list):
        limited = RATE_LIMIT_ERRORS.intersection(str(e) for e in errors)
        if limited:
            wait = parse_retry_after(raw)
            raise RateLimitedError(
                f"{NAME} GET {response.request.url.path} answered errors {sorted(limited)}, "
                f"Retry-After {wait:g}s",
                response.status_code,
                wait,
            )


async def _get(
    client: httpx.AsyncClient, path: str, params: Mapping[str, str] | None = None
) -> object:
    return await get_json(client, path, params=params, venue=NAME, check_body=_check_body)


async def fetch_metadata(client: httpx.AsyncClient) -> dict[str, PairInfo]:
    """Fetch and parse every pair of `AssetPairs`."""
    return parse_metadata(await _get(client, ASSET_PAIRS_PATH))


async def fetch_quotes(
    client: httpx.AsyncClient,
    metadata: Mapping[str, PairInfo],
    skipped: Counter[str] | None = None,
) -> dict[str, Quote]:
    """Fetch and parse the all-pairs `Ticker`."""
    return parse_quotes(await _get(client, TICKER_PATH), metadata, skipped)


async def fetch_stats(
    client: httpx.AsyncClient, metadata: Mapping[str, PairInfo]
) -> dict[str, SymbolStats]:
    """Fetch the all-pairs `Ticker` and read its 24 h figures."""
    return parse_stats(await _get(client, TICKER_PATH), metadata)


async def fetch_depth(client: httpx.AsyncClient, symbol: str, limit: int) -> OrderBook:
    """Fetch and parse up to `limit` levels a side of `symbol`'s book."""
    payload = await _get(client, DEPTH_PATH, {"pair": symbol, "count": str(limit)})
    return parse_depth(payload, symbol)


def _result(payload: object, endpoint: str) -> dict[str, object]:
    """The `result` object of a Kraken body; raises for an error list or a wrong shape."""
    if not isinstance(payload, dict):
        raise BadPayloadError(f"{NAME} {endpoint} is a {type(payload).__name__}, not an object")
    errors = payload.get("error")
    if not isinstance(errors, list):
        raise BadPayloadError(f"{NAME} {endpoint} has no `error` list")
    result = payload.get("result")
    if errors:
        codes = [str(e) for e in errors]
        partial = f" (and a partial result of {len(result)})" if isinstance(result, dict) else ""
        message = f"{NAME} {endpoint} answered errors {codes}{partial}"
        if RATE_LIMIT_ERRORS.intersection(codes):
            raise RateLimitedError(
                f"{message}, pausing {DEFAULT_RETRY_AFTER:g}s",
                _BODY_ERROR_STATUS,
                DEFAULT_RETRY_AFTER,
            )
        raise ExchangeBodyError(message, codes[0])
    if not isinstance(result, dict):
        raise BadPayloadError(f"{NAME} {endpoint} has no `result` object")
    return result


def _codes(wsname: object) -> tuple[str, str]:
    """`XBT/USD` -> ("BTC", "USD"); ("", "") when `wsname` is not one `/`-pair."""
    if not isinstance(wsname, str) or wsname.count("/") != 1:
        return "", ""
    base, quote = (part.upper() for part in wsname.split("/"))
    return ALIASES.get(base, base), ALIASES.get(quote, quote)


def parse_metadata(payload: object) -> dict[str, PairInfo]:
    """`AssetPairs` -> pair key -> PairInfo. Trimmed sample payload::

        {"error": [], "result": {
          "XXBTZUSD": {"altname": "XBTUSD", "wsname": "XBT/USD", "base": "XXBT",
                       "quote": "ZUSD", "status": "online", ...},
          "AIOEUR": {"altname": "AIOEUR", "wsname": "AIO/EUR", ..., "status": "post_only"}}}

    Pairs whose codes do not fit the vocabulary are kept (so `parse_quotes`
    can count them as `bad_code`); entries that are not objects or have an
    unusable key are dropped. No pair with usable codes is a BadPayloadError.
    """
    result = _result(payload, ASSET_PAIRS_PATH)
    pairs: dict[str, PairInfo] = {}
    for key, entry in result.items():
        if not SYMBOL.fullmatch(key) or not isinstance(entry, dict):
            continue
        base, quote = _codes(entry.get("wsname"))
        pairs[key] = PairInfo(key, base, quote, entry.get("status") == "online")
    if not any(info.codes_ok for info in pairs.values()):
        raise BadPayloadError(f"{NAME} {ASSET_PAIRS_PATH} lists no usable pairs")
    return pairs


def _field(entry: Mapping[str, object], name: str, index: int) -> object:
    value = entry.get(name)
    return value[index] if isinstance(value, list) and len(value) > index else None


def _rows(result: Mapping[str, object]) -> Iterator[Row]:
    """Ticker pairs as rows: bid b[0], ask a[0], and their lot volumes b[2], a[2]."""
    for key, entry in result.items():
        if not isinstance(entry, dict):
            yield key, None, None, None, None  # listed or not, its book is unusable
            continue
        b, a = entry.get("b"), entry.get("a")
        if isinstance(b, list) and isinstance(a, list) and len(b) > 2 and len(a) > 2:
            yield key, b[0], a[0], b[2], a[2]
        else:
            bid, ask = _field(entry, "b", 0), _field(entry, "a", 0)
            yield key, bid, ask, _field(entry, "b", 2), _field(entry, "a", 2)


def parse_quotes(
    payload: object,
    metadata: Mapping[str, PairInfo],
    skipped: Counter[str] | None = None,
) -> dict[str, Quote]:
    """All-pairs `Ticker` -> pair key -> Quote, quotable pairs only. Trimmed sample::

        {"error": [], "result": {"XXBTZUSD": {
          "a": ["80748.40000", "1", "1.000"], "b": ["80748.30000", "1", "1.000"],
          "c": [...], "v": [...], "p": [...], "t": [...], ...}}}

    `a`/`b` are [price, whole lot volume, lot volume]: the size kept is the lot
    volume, `[2]`. Quotable: listed, `online`, codes in the vocabulary, sizes
    plain decimals, 0 < bid <= ask; every other pair is counted in `skipped`
    by reason. An error list, the wrong shape, or nothing quotable raises.
    """
    result = _result(payload, TICKER_PATH)
    return quotes_from_rows(
        _rows(result),
        metadata,
        skipped,
        quotable=_ONLINE,
        nothing=f"{NAME} {TICKER_PATH} has {len(result)} pairs but none is quotable",
    )


def exact_product(a: Decimal, b: Decimal) -> Decimal:
    """a × b with no rounding: the context is as precise as the product can need."""
    with localcontext() as ctx:
        ctx.prec = max(1, len(a.as_tuple().digits) + len(b.as_tuple().digits))
        ctx.traps[Inexact] = True
        return a * b


def parse_stats(payload: object, metadata: Mapping[str, PairInfo]) -> dict[str, SymbolStats]:
    """All-pairs `Ticker` -> pair key -> 24 h stats, for online pairs. Trimmed sample::

        {"error": [], "result": {"XXBTZUSD": {..., "v": ["1015.3", "2390.1"],
          "p": ["80512.4", "80290.7"], "t": [21034, 48311]}}}

    `v`, `p`, `t` are [today, last 24 hours]: quote volume = v[1] × p[1]
    (volume in base × volume-weighted price), exact; trades = t[1]. Pairs with
    a malformed figure are left out; none left is a BadPayloadError.
    """
    result = _result(payload, TICKER_PATH)
    stats: dict[str, SymbolStats] = {}
    for key, entry in result.items():
        info = quotable_listing(metadata, key, _ONLINE)
        if info is None or not isinstance(entry, dict):
            continue
        volume, vwap = plain_decimal(_field(entry, "v", 1)), plain_decimal(_field(entry, "p", 1))
        trades = _field(entry, "t", 1)
        if volume is None or vwap is None or type(trades) is not int or trades < 0:
            continue
        stats[key] = SymbolStats(key, info.base, info.quote, exact_product(volume, vwap), trades)
    if not stats:
        raise BadPayloadError(f"{NAME} {TICKER_PATH} has no usable 24 h figures")
    return stats


def parse_depth(payload: object, symbol: str) -> OrderBook:
    """`Depth` -> OrderBook, best level first on each side. Trimmed sample::

        {"error": [], "result": {"XBTUSDT": {
          "asks": [["105944.30000", "0.136", 1762820248], ...],
          "bids": [["105944.20000", "0.002", 1762820233], ...]}}}

    Levels are [price, volume, timestamp]. Kraken keys the book by its own
    pair name; asked for by that key, the answer has it. A body with one
    other key (asked by altname) is read too. Any bad level, or levels not
    best first, is a BadPayloadError: book notionals sum the top levels.
    """
    result = _result(payload, DEPTH_PATH)
    book = result.get(symbol)
    if book is None and len(result) == 1:
        [book] = result.values()
    if not isinstance(book, dict):
        raise BadPayloadError(f"{NAME} {DEPTH_PATH} has no book for {symbol}")
    where = f"{NAME} {DEPTH_PATH} {symbol}"
    return OrderBook(
        symbol,
        levels(book.get("bids"), "bids", where, bids=True, extra_fields=True),
        levels(book.get("asks"), "asks", where, bids=False, extra_fields=True),
    )
