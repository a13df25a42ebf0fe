"""Bybit v5 spot (`api.bybit.com`): recordings and error bodies of the fake.

Routes (GET; every one needs ``category=spot``)::

    /v5/market/instruments-info?category=spot   trimmed recording (2026-08-09)
    /v5/market/tickers?category=spot            50-symbol recording (2026-08-27)
    /v5/market/orderbook?category=spot&symbol=S&limit=N
        no recorded order book exists: a derived top-of-book for the symbols of
        the tickers payload, else retCode 10001; N in 1..200, default 1

Bybit answers most errors with HTTP 200 and a non-zero ``retCode`` in the
envelope ``{retCode, retMsg, result, retExtInfo, time}``. 10006 "Too many
visits!" (the API rate limit) and 10016 "Server error." follow the v5 docs'
error table; the 403 IP limit ("403, access too frequent", v5 rate-limit page)
is a short plain-text body without the words the geographic page has; the
geographic 403 is CloudFront's HTML page. The 10001 messages follow the
``params error: symbol invalid`` text quoted in knowm/XChange#4822. All of
these are built here, not recorded. See ``tests/fixtures/bybit/SOURCES.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tests.fakes.core import TEXT, Fault, Plan
from tests.fakes.profile import (
    FIXTURES,
    GEO_403,
    Profile,
    Served,
    TopOfBook,
    compact,
    parse_int,
    positive,
    scale_price,
)

BYBIT_FIXTURES = FIXTURES / "bybit"

INSTRUMENTS_PATH = "/v5/market/instruments-info"
TICKERS_PATH = "/v5/market/tickers"
ORDERBOOK_PATH = "/v5/market/orderbook"

INSTRUMENTS_FIXTURE = BYBIT_FIXTURES / "instruments-info_spot_2026-08-09.trimmed.json"
TICKERS_FIXTURE = BYBIT_FIXTURES / "tickers_spot_50_trimmed_2026-08-27.json"
# Spot orderbook `limit` is 1..200, default 1 (v5 docs).
DEPTH_DEFAULT_LIMIT = 1
DEPTH_MAX_LIMIT = 200
# Constructed envelopes carry the tickers recording's `time`, so they are
# deterministic and agree with the reset header built from them.
TIME_MS = 1787848767275
RESET_HEADER = "X-Bapi-Limit-Reset-Timestamp"


def envelope(code: int, message: str, result: object = None) -> bytes:
    """Bybit's v5 answer envelope."""
    doc = {
        "retCode": code,
        "retMsg": message,
        "result": {} if result is None else result,
        "retExtInfo": {},
        "time": TIME_MS,
    }
    return compact(doc)


BODY_RATE_LIMIT = envelope(10006, "Too many visits!")
BODY_SERVER_ERROR = envelope(10016, "Server error.")
BODY_BAD_CATEGORY = envelope(10001, "params error: category invalid")
BODY_BAD_SYMBOL = envelope(10001, "params error: symbol invalid")
BODY_BAD_LIMIT = envelope(10001, "params error: limit invalid")
BODY_ROUTE_NOT_FOUND = envelope(10017, "Route not found.")
BODY_WRONG_SHAPE = envelope(0, "OK", {"unexpected": True})
BODY_EMPTY_LIST = envelope(0, "OK", {"category": "spot", "list": []})
BODY_IP_LIMIT = b"access too frequent"


class BybitProfile(Profile):
    """Bybit: errors as a non-zero retCode at HTTP 200; 403 for the IP limit and geography."""

    name = "bybit"
    title = "Bybit"
    metadata_path = INSTRUMENTS_PATH
    quotes_path = TICKERS_PATH
    stats_path = TICKERS_PATH  # turnover24h rides along with the top of book
    depth_path = ORDERBOOK_PATH
    extra_faults = frozenset({Fault.RATE_LIMITED_ALT, Fault.BODY_ERROR, Fault.GEO_BLOCKED})

    def retry_headers(self, seconds: int) -> tuple[tuple[str, str], ...]:
        # Bybit's own hint is the reset time (ms), relative to the body's `time`.
        reset = str(TIME_MS + seconds * 1000)
        return (*super().retry_headers(seconds), (RESET_HEADER, reset))

    def default_bodies(self) -> dict[str, bytes]:
        return {
            INSTRUMENTS_PATH: INSTRUMENTS_FIXTURE.read_bytes(),
            TICKERS_PATH: TICKERS_FIXTURE.read_bytes(),
        }

    def check_query(self, path: str, params: Mapping[str, str]) -> Plan | None:
        if params.get("category") != "spot":
            return Plan(200, BODY_BAD_CATEGORY)
        return None

    def fault_answer(self, fault: Fault, path: str, params: Mapping[str, str]) -> Plan:
        match fault:
            case Fault.HTTP_500:
                return Plan(500, BODY_SERVER_ERROR)
            case Fault.RATE_LIMITED:
                return Plan(200, BODY_RATE_LIMIT)
            case Fault.RATE_LIMITED_ALT:
                return Plan(403, BODY_IP_LIMIT, TEXT)
            case Fault.BODY_ERROR:
                return Plan(200, BODY_SERVER_ERROR)
            case Fault.GEO_BLOCKED:
                return GEO_403
            case Fault.BAD_REQUEST:
                return Plan(200, BODY_BAD_CATEGORY)
            case Fault.WRONG_SHAPE:
                return Plan(200, BODY_WRONG_SHAPE)
            case Fault.EMPTY if path == ORDERBOOK_PATH:
                book = {"s": params.get("symbol", ""), "a": [], "b": []}
                return Plan(200, envelope(0, "OK", {**book, "ts": TIME_MS, "u": 0, "seq": 0}))
            case Fault.EMPTY:
                return Plan(200, BODY_EMPTY_LIST)
        raise ValueError(f"bybit has no {fault.name} answer")

    def not_found(self, method: str, path: str) -> Plan:
        return Plan(404, BODY_ROUTE_NOT_FOUND)

    def scale_quotes(self, doc: Any, factor: Decimal) -> None:
        for entry in doc["result"]["list"]:
            entry["bid1Price"] = scale_price(entry["bid1Price"], factor)
            entry["ask1Price"] = scale_price(entry["ask1Price"], factor)

    def depth_request(self, params: Mapping[str, str], served: Served) -> tuple[str, int] | Plan:
        symbol = params.get("symbol", "")
        if not symbol:
            return Plan(200, BODY_BAD_SYMBOL)
        limit = parse_int(params.get("limit"), DEPTH_DEFAULT_LIMIT, 1, DEPTH_MAX_LIMIT)
        if limit is None:
            return Plan(200, BODY_BAD_LIMIT)
        return symbol, limit

    def cut_book(self, body: bytes, limit: int) -> bytes:
        doc = json.loads(body)
        book = doc["result"]
        if len(book["a"]) <= limit and len(book["b"]) <= limit:
            return body
        book["a"], book["b"] = book["a"][:limit], book["b"][:limit]
        return compact(doc)

    def tops(self, raw_quotes: bytes) -> dict[str, TopOfBook]:
        entries = json.loads(raw_quotes)["result"]["list"]
        return {
            e["symbol"]: TopOfBook(e["bid1Price"], e["bid1Size"], e["ask1Price"], e["ask1Size"])
            for e in entries
        }

    def derived_book(self, symbol: str, top: TopOfBook, raw_quotes: bytes) -> bytes:
        # The tickers envelope's `time` stands in for the book's; u/seq 0 mark it as ours.
        stamp = json.loads(raw_quotes).get("time", TIME_MS)
        book = {
            "s": symbol,
            "a": [[top.ask, top.ask_qty]] if positive(top.ask) else [],
            "b": [[top.bid, top.bid_qty]] if positive(top.bid) else [],
            "ts": stamp,
            "u": 0,
            "seq": 0,
            "cts": stamp,
        }
        return compact({**json.loads(envelope(0, "OK", book)), "time": stamp})

    def unknown_symbol(self, symbol: str) -> Plan:
        return Plan(200, BODY_BAD_SYMBOL)
