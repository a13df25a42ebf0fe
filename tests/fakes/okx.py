"""OKX v5 spot (`www.okx.com`): recordings and error bodies of the fake.

Routes (GET)::

    /api/v5/public/instruments?instType=SPOT   trimmed 50-instrument recording (2026-08-27)
    /api/v5/market/tickers?instType=SPOT       50-ticker recording (2026-08-27)
    /api/v5/market/books?instId=S&sz=N
        no recorded order book exists: a derived top-of-book for the instIds of
        the tickers payload, else code 51001; N in 1..400, default 1

OKX answers with ``{"code","msg","data"}``; code ``"0"`` is success. The 429
rate limit is the recorded 50011 body, an unknown path the recorded 404 body.
The others follow the codes and messages of OKX's v5 error table (50001
"Service temporarily unavailable. Try again later", 50014 "Parameter {0} can
not be empty.", 50026 "System error. Try again later", 51000 "Parameter {0}
error", 51001 "Instrument ID does not exist") and are built here, not
recorded. BODY_ERROR serves 50001 at HTTP 200 so that the body-level path is
exercised (the table lists 503 for it; HTTP_500 covers the status path).
See ``tests/fixtures/okx/SOURCES.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tests.fakes.core import Fault, Plan
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

OKX_FIXTURES = FIXTURES / "okx"

INSTRUMENTS_PATH = "/api/v5/public/instruments"
TICKERS_PATH = "/api/v5/market/tickers"
BOOKS_PATH = "/api/v5/market/books"

INSTRUMENTS_FIXTURE = OKX_FIXTURES / "instruments_SPOT_50_trimmed_2026-08-27.trimmed.json"
TICKERS_FIXTURE = OKX_FIXTURES / "tickers_SPOT_50_trimmed_2026-08-27.json"
RATE_LIMIT_FIXTURE = OKX_FIXTURES / "error_50011_rate_limit.json"
NOT_FOUND_FIXTURE = OKX_FIXTURES / "error_404_unknown_path_2026-09-29.json"
# GET /api/v5/market/books: `sz` at most 400, default 1 (v5 docs).
DEPTH_DEFAULT_SZ = 1
DEPTH_MAX_SZ = 400


def envelope(code: str, message: str, data: object = None) -> bytes:
    """OKX's v5 answer envelope."""
    return compact({"code": code, "msg": message, "data": [] if data is None else data})


BODY_UNAVAILABLE = envelope("50001", "Service temporarily unavailable. Try again later")
BODY_500 = envelope("50026", "System error. Try again later")
BODY_UNKNOWN_INSTRUMENT = envelope("51001", "Instrument ID does not exist")
BODY_WRONG_SHAPE = envelope("0", "", {"unexpected": True})
BODY_EMPTY = envelope("0", "")


def _missing(param: str) -> Plan:
    return Plan(400, envelope("50014", f"Parameter {param} can not be empty."))


def _invalid(param: str) -> Plan:
    return Plan(400, envelope("51000", f"Parameter {param} error"))


class OkxProfile(Profile):
    """OKX: a string `code` in every body; 429 for the rate limit, 403 for geography."""

    name = "okx"
    title = "OKX"
    metadata_path = INSTRUMENTS_PATH
    quotes_path = TICKERS_PATH
    stats_path = TICKERS_PATH  # volCcy24h rides along with the top of book
    depth_path = BOOKS_PATH
    extra_faults = frozenset({Fault.BODY_ERROR, Fault.GEO_BLOCKED})

    def __init__(self) -> None:
        self._rate_limit = RATE_LIMIT_FIXTURE.read_bytes()
        self._not_found = NOT_FOUND_FIXTURE.read_bytes()

    def default_bodies(self) -> dict[str, bytes]:
        return {
            INSTRUMENTS_PATH: INSTRUMENTS_FIXTURE.read_bytes(),
            TICKERS_PATH: TICKERS_FIXTURE.read_bytes(),
        }

    def check_query(self, path: str, params: Mapping[str, str]) -> Plan | None:
        if path == BOOKS_PATH:
            return None  # depth_request checks instId and sz
        if not params.get("instType"):
            return _missing("instType")
        if params["instType"] != "SPOT":
            return _invalid("instType")  # the fake serves SPOT only
        return None

    def fault_answer(self, fault: Fault, path: str, params: Mapping[str, str]) -> Plan:
        match fault:
            case Fault.HTTP_500:
                return Plan(500, BODY_500)
            case Fault.RATE_LIMITED:
                return Plan(429, self._rate_limit)
            case Fault.BODY_ERROR:
                return Plan(200, BODY_UNAVAILABLE)
            case Fault.GEO_BLOCKED:
                return GEO_403
            case Fault.BAD_REQUEST:
                return _invalid("instId" if path == BOOKS_PATH else "instType")
            case Fault.WRONG_SHAPE:
                return Plan(200, BODY_WRONG_SHAPE)
            case Fault.EMPTY:
                return Plan(200, BODY_EMPTY)
        raise ValueError(f"okx has no {fault.name} answer")

    def not_found(self, method: str, path: str) -> Plan:
        return Plan(404, self._not_found)

    def scale_quotes(self, doc: Any, factor: Decimal) -> None:
        for entry in doc["data"]:
            entry["bidPx"] = scale_price(entry["bidPx"], factor)
            entry["askPx"] = scale_price(entry["askPx"], factor)

    def depth_request(self, params: Mapping[str, str], served: Served) -> tuple[str, int] | Plan:
        inst_id = params.get("instId", "")
        if not inst_id:
            return _missing("instId")
        size = parse_int(params.get("sz"), DEPTH_DEFAULT_SZ, 1, DEPTH_MAX_SZ)
        if size is None:
            return _invalid("sz")
        return inst_id, size

    def cut_book(self, body: bytes, limit: int) -> bytes:
        doc = json.loads(body)
        books = doc["data"]
        if all(len(b["asks"]) <= limit and len(b["bids"]) <= limit for b in books):
            return body
        for book in books:
            book["asks"], book["bids"] = book["asks"][:limit], book["bids"][:limit]
        return compact(doc)

    def tops(self, raw_quotes: bytes) -> dict[str, TopOfBook]:
        return {
            e["instId"]: TopOfBook(e["bidPx"], e["bidSz"], e["askPx"], e["askSz"])
            for e in json.loads(raw_quotes)["data"]
        }

    def derived_book(self, symbol: str, top: TopOfBook, raw_quotes: bytes) -> bytes:
        # A level is [price, size, "0" (deprecated, always "0"), number of orders];
        # the ticker has no order count, so "1": a level with size has at least one.
        stamp = next(
            (e.get("ts", "0") for e in json.loads(raw_quotes)["data"] if e["instId"] == symbol),
            "0",
        )
        book = {
            "asks": [[top.ask, top.ask_qty, "0", "1"]] if positive(top.ask) else [],
            "bids": [[top.bid, top.bid_qty, "0", "1"]] if positive(top.bid) else [],
            "ts": stamp,
        }
        return envelope("0", "", [book])

    def unknown_symbol(self, symbol: str) -> Plan:
        return Plan(200, BODY_UNKNOWN_INSTRUMENT)
