"""Binance spot (`api.binance.com`): recordings and error bodies of the fake.

Routes (GET; the query string is ignored except by depth, as the original
single-venue fake did)::

    /api/v3/exchangeInfo        trimmed exchangeInfo recording (2023-08-13)
    /api/v3/ticker/bookTicker   bookTicker view of the 2023-03-10 24 h ticker
    /api/v3/ticker/24hr         the same 24 h ticker, trimmed to its statistics
    /api/v3/depth?symbol=S&limit=N   recorded books (2021-10): BTCUSDT (10 levels),
                                NKNUSDT, BLZETH, LRCBTC, RUNEEUR (up to 1000)

Error bodies: 429/418 are the recorded -1003 bodies; 500, 451, -1121 and the
-1100/-1102 parameter errors use Binance's documented codes and messages
(binance-spot-api-docs `errors.md`). See ``tests/fixtures/SOURCES.md``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tests.fakes.core import Fault, Plan
from tests.fakes.profile import (
    FIXTURES,
    Profile,
    Served,
    TopOfBook,
    compact,
    parse_int,
    positive,
    scale_price,
)

BINANCE_FIXTURES = FIXTURES / "binance"

EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
BOOK_TICKER_PATH = "/api/v3/ticker/bookTicker"
TICKER_24HR_PATH = "/api/v3/ticker/24hr"
DEPTH_PATH = "/api/v3/depth"

EXCHANGE_INFO_FIXTURE = BINANCE_FIXTURES / "exchangeInfo_2023-08-13.trimmed.json"
BOOK_TICKER_FIXTURE = BINANCE_FIXTURES / "bookTicker_from_ticker_24hr_2023-03-10.json"
TICKER_24HR_FIXTURE = BINANCE_FIXTURES / "ticker_24hr_2023-03-10.json"
ERROR_429_FIXTURE = BINANCE_FIXTURES / "error_-1003_429_too_much_weight.json"
ERROR_418_FIXTURE = BINANCE_FIXTURES / "error_-1003_418_ip_banned.json"
DEPTH_FIXTURES = {
    "BTCUSDT": BINANCE_FIXTURES / "depth_BTCUSDT_limit10_2021-10.json",
    "NKNUSDT": BINANCE_FIXTURES / "depth_NKNUSDT_limit1000_2021-10-12.json",
    "BLZETH": BINANCE_FIXTURES / "depth_BLZETH_limit1000_2021-10-12.json",
    "LRCBTC": BINANCE_FIXTURES / "depth_LRCBTC_limit1000_2021-10-12.json",
    "RUNEEUR": BINANCE_FIXTURES / "depth_RUNEEUR_limit1000_2021-10-12.json",
}
# GET /api/v3/depth: `limit` defaults to 100; "If limit > 5000, then the
# response will truncate to 5000" (rest-api.md).
DEPTH_DEFAULT_LIMIT = 100
DEPTH_MAX_LIMIT = 5000

BODY_500 = b'{"code":-1000,"msg":"An unknown error occured while processing the request."}'
BODY_451 = (
    b'{"code":0,"msg":"Service unavailable from a restricted location according to '
    b"'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer "
    b'service if you believe you received this message in error."}'
)
BODY_400 = b'{"code":-1121,"msg":"Invalid symbol."}'
BODY_MISSING_SYMBOL = (
    b'{"code":-1102,"msg":"Mandatory parameter \'symbol\' was not sent, was empty/null, '
    b'or malformed."}'
)
BODY_BAD_LIMIT = b'{"code":-1100,"msg":"Illegal characters found in a parameter."}'
BODY_WRONG_SHAPE_OBJECT = b'{"unexpected":true}'
BODY_WRONG_SHAPE_LIST = b'[{"unexpected":true}]'
BODY_EMPTY_LIST = b"[]"
BODY_EMPTY_BOOK = b'{"lastUpdateId":0,"bids":[],"asks":[]}'


class BinanceProfile(Profile):
    """Binance spot: HTTP statuses carry every error; bodies are `{"code","msg"}`."""

    name = "binance"
    title = "Binance"
    metadata_path = EXCHANGE_INFO_PATH
    quotes_path = BOOK_TICKER_PATH
    stats_path = TICKER_24HR_PATH
    depth_path = DEPTH_PATH
    extra_faults = frozenset({Fault.RATE_LIMITED_ALT, Fault.GEO_BLOCKED})

    def __init__(self) -> None:
        self._error_429 = ERROR_429_FIXTURE.read_bytes()
        self._error_418 = ERROR_418_FIXTURE.read_bytes()

    def default_bodies(self) -> dict[str, bytes]:
        return {
            EXCHANGE_INFO_PATH: EXCHANGE_INFO_FIXTURE.read_bytes(),
            BOOK_TICKER_PATH: BOOK_TICKER_FIXTURE.read_bytes(),
            TICKER_24HR_PATH: TICKER_24HR_FIXTURE.read_bytes(),
        }

    def default_books(self) -> dict[str, bytes]:
        return {symbol: path.read_bytes() for symbol, path in DEPTH_FIXTURES.items()}

    def check_query(self, path: str, params: Mapping[str, str]) -> Plan | None:
        return None  # only depth reads its parameters (depth_request)

    def fault_answer(self, fault: Fault, path: str, params: Mapping[str, str]) -> Plan:
        match fault:
            case Fault.HTTP_500:
                return Plan(500, BODY_500)
            case Fault.RATE_LIMITED:
                return Plan(429, self._error_429)
            case Fault.RATE_LIMITED_ALT:
                return Plan(418, self._error_418)
            case Fault.GEO_BLOCKED:
                return Plan(451, BODY_451)
            case Fault.BAD_REQUEST:
                return Plan(400, BODY_400)
            case Fault.WRONG_SHAPE:
                # exchangeInfo and depth are objects, the tickers lists: serve the other.
                is_object = path in (EXCHANGE_INFO_PATH, DEPTH_PATH)
                return Plan(200, BODY_WRONG_SHAPE_LIST if is_object else BODY_WRONG_SHAPE_OBJECT)
            case Fault.EMPTY:
                return Plan(200, BODY_EMPTY_BOOK if path == DEPTH_PATH else BODY_EMPTY_LIST)
        raise ValueError(f"binance has no {fault.name} answer")

    def not_found(self, method: str, path: str) -> Plan:
        return Plan(404, f'{{"code":-1000,"msg":"Not found: {method} {path}"}}'.encode())

    def scale_quotes(self, doc: Any, factor: Decimal) -> None:
        for entry in doc:
            entry["bidPrice"] = scale_price(entry["bidPrice"], factor)
            entry["askPrice"] = scale_price(entry["askPrice"], factor)

    def depth_request(self, params: Mapping[str, str], served: Served) -> tuple[str, int] | Plan:
        symbol = params.get("symbol", "")
        if not symbol:
            return Plan(400, BODY_MISSING_SYMBOL)
        limit = parse_int(params.get("limit"), DEPTH_DEFAULT_LIMIT, 1, 10**18)
        if limit is None:
            return Plan(400, BODY_BAD_LIMIT)
        return symbol, min(limit, DEPTH_MAX_LIMIT)

    def cut_book(self, body: bytes, limit: int) -> bytes:
        doc = json.loads(body)
        if len(doc["bids"]) <= limit and len(doc["asks"]) <= limit:
            return body  # nothing to cut: the recording verbatim
        doc["bids"], doc["asks"] = doc["bids"][:limit], doc["asks"][:limit]
        return compact(doc)

    def tops(self, raw_quotes: bytes) -> dict[str, TopOfBook]:
        return {
            e["symbol"]: TopOfBook(e["bidPrice"], e["bidQty"], e["askPrice"], e["askQty"])
            for e in json.loads(raw_quotes)
        }

    def derived_book(self, symbol: str, top: TopOfBook, raw_quotes: bytes) -> bytes:
        # bookTicker has no update id; 0 marks the book as not from the venue.
        bids = [[top.bid, top.bid_qty]] if positive(top.bid) else []
        asks = [[top.ask, top.ask_qty]] if positive(top.ask) else []
        return compact({"lastUpdateId": 0, "bids": bids, "asks": asks})

    def unknown_symbol(self, symbol: str) -> Plan:
        return Plan(400, BODY_400)


class BinanceFault(enum.Enum):
    """The fault names of the original single-venue FakeBinance, kept for its tests.

    New tests use ``tests.fakes.Fault``; ``as_fault`` maps these onto it:
    HTTP_429 -> RATE_LIMITED, HTTP_418 -> RATE_LIMITED_ALT, HTTP_451 ->
    GEO_BLOCKED, HTTP_400 -> BAD_REQUEST, EMPTY_LIST -> EMPTY, the rest by name.
    """

    NONE = "none"
    HTTP_500 = "http_500"
    HTTP_502_HTML = "http_502_html"
    HTTP_429 = "http_429"
    HTTP_418 = "http_418"
    HTTP_451 = "http_451"
    HTTP_400 = "http_400"
    SLOW = "slow"
    REFUSED = "refused"
    TRUNCATED = "truncated"
    GARBAGE = "garbage"
    WRONG_SHAPE = "wrong_shape"
    EMPTY_LIST = "empty_list"
    HTML_200 = "html_200"


# The legacy names that spell a Binance status: meaningless on another venue.
BINANCE_ONLY = {
    BinanceFault.HTTP_429: Fault.RATE_LIMITED,
    BinanceFault.HTTP_418: Fault.RATE_LIMITED_ALT,
    BinanceFault.HTTP_451: Fault.GEO_BLOCKED,
    BinanceFault.HTTP_400: Fault.BAD_REQUEST,
}


def as_fault(fault: Fault | BinanceFault) -> Fault:
    """The venue-neutral fault for a legacy Binance fault name (identity for a Fault)."""
    if isinstance(fault, Fault):
        return fault
    if fault is BinanceFault.EMPTY_LIST:
        return Fault.EMPTY
    return BINANCE_ONLY.get(fault) or Fault[fault.name]
