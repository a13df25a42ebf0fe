"""Kraken spot (`api.kraken.com/0/public`): recordings and error bodies of the fake.

Routes (GET)::

    /0/public/AssetPairs            trimmed AssetPairs recording (2026-01-12)
    /0/public/Ticker                all-pairs Ticker re-keyed to classic keys
                                    (derived, 2026-08-27); `pair` is ignored
    /0/public/Depth?pair=P&count=N  the recorded XBTUSDT book (5 levels, 2025-11-11);
                                    P is a pair key or altname; N in 1..500, default 100

Kraken answers its errors with HTTP 200 and an ``error`` list
(``{"error":["EService:Unavailable"]}``); the rate limits are the body errors
``EAPI:Rate limit exceeded`` and ``EGeneral:Too many requests``. The partial
result is the recorded 16-pair Ticker whose ``error`` holds
``EQuery:Unknown asset pair``. The other bodies use the messages of Kraken's
documented error list (``EGeneral:Invalid arguments``, ``EGeneral:Internal
error``, ``EGeneral:Unknown method``, ``EQuery:Unknown asset pair``); those
are built here, not recorded. See ``tests/fixtures/kraken/SOURCES.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

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

KRAKEN_FIXTURES = FIXTURES / "kraken"

ASSET_PAIRS_PATH = "/0/public/AssetPairs"
TICKER_PATH = "/0/public/Ticker"
DEPTH_PATH = "/0/public/Depth"

ASSET_PAIRS_FIXTURE = KRAKEN_FIXTURES / "AssetPairs_2026-01-12.trimmed.json"
TICKER_FIXTURE = KRAKEN_FIXTURES / "Ticker_derived_2026-08-27.json"
PARTIAL_TICKER_FIXTURE = KRAKEN_FIXTURES / "Ticker_16pairs_with_EQuery_error.json"
DEPTH_FIXTURES = {"XBTUSDT": KRAKEN_FIXTURES / "Depth_XBTUSDT_count5_2025-11-11.json"}
# GET /0/public/Depth: `count` is 1..500, default 100 (Kraken REST docs).
DEPTH_DEFAULT_COUNT = 100
DEPTH_MAX_COUNT = 500

BODY_RATE_LIMIT = b'{"error":["EAPI:Rate limit exceeded"]}'
BODY_TOO_MANY = b'{"error":["EGeneral:Too many requests"]}'
BODY_UNAVAILABLE = b'{"error":["EService:Unavailable"],"result":{}}'
BODY_INVALID_ARGUMENTS = b'{"error":["EGeneral:Invalid arguments"]}'
BODY_UNKNOWN_PAIR = b'{"error":["EQuery:Unknown asset pair"]}'
BODY_500 = b'{"error":["EGeneral:Internal error"]}'
BODY_UNKNOWN_METHOD = b'{"error":["EGeneral:Unknown method"]}'
BODY_WRONG_SHAPE = b'{"error":[],"result":["unexpected"]}'
BODY_EMPTY = b'{"error":[],"result":{}}'


class KrakenProfile(Profile):
    """Kraken: errors in the body's `error` list, at HTTP 200."""

    name = "kraken"
    title = "Kraken"
    metadata_path = ASSET_PAIRS_PATH
    quotes_path = TICKER_PATH
    stats_path = TICKER_PATH  # the Ticker carries v, p and t: the 24 h statistics
    depth_path = DEPTH_PATH
    extra_faults = frozenset({Fault.RATE_LIMITED_ALT, Fault.BODY_ERROR, Fault.PARTIAL_RESULT})
    fault_paths: ClassVar[Mapping[Fault, tuple[str, ...]]] = {Fault.PARTIAL_RESULT: (TICKER_PATH,)}

    def __init__(self) -> None:
        self._partial = PARTIAL_TICKER_FIXTURE.read_bytes()
        self._keys_cache: tuple[bytes, dict[str, str]] | None = None

    def default_bodies(self) -> dict[str, bytes]:
        return {
            ASSET_PAIRS_PATH: ASSET_PAIRS_FIXTURE.read_bytes(),
            TICKER_PATH: TICKER_FIXTURE.read_bytes(),
        }

    def default_books(self) -> dict[str, bytes]:
        return {pair: path.read_bytes() for pair, path in DEPTH_FIXTURES.items()}

    def check_query(self, path: str, params: Mapping[str, str]) -> Plan | None:
        return None  # AssetPairs and Ticker need nothing; Depth checks in depth_request

    def fault_answer(self, fault: Fault, path: str, params: Mapping[str, str]) -> Plan:
        match fault:
            case Fault.HTTP_500:
                return Plan(500, BODY_500)
            case Fault.RATE_LIMITED:
                return Plan(200, BODY_RATE_LIMIT)
            case Fault.RATE_LIMITED_ALT:
                return Plan(200, BODY_TOO_MANY)
            case Fault.BODY_ERROR:
                return Plan(200, BODY_UNAVAILABLE)
            case Fault.PARTIAL_RESULT:
                return Plan(200, self._partial)
            case Fault.BAD_REQUEST:
                return Plan(200, BODY_INVALID_ARGUMENTS)
            case Fault.WRONG_SHAPE:
                return Plan(200, BODY_WRONG_SHAPE)
            case Fault.EMPTY:
                return Plan(200, BODY_EMPTY)
        raise ValueError(f"kraken has no {fault.name} answer")

    def not_found(self, method: str, path: str) -> Plan:
        return Plan(404, BODY_UNKNOWN_METHOD)

    def scale_quotes(self, doc: Any, factor: Decimal) -> None:
        for entry in doc["result"].values():
            entry["a"][0] = scale_price(entry["a"][0], factor)
            entry["b"][0] = scale_price(entry["b"][0], factor)

    def depth_request(self, params: Mapping[str, str], served: Served) -> tuple[str, int] | Plan:
        pair = params.get("pair", "")
        count = parse_int(params.get("count"), DEPTH_DEFAULT_COUNT, 1, DEPTH_MAX_COUNT)
        if not pair or count is None:
            return Plan(200, BODY_INVALID_ARGUMENTS)
        # Kraken takes a pair key (XXBTZUSD) or its altname (XBTUSD) and answers by key.
        key = self._pair_keys(served.bodies[ASSET_PAIRS_PATH]).get(pair, pair)
        return key, count

    def cut_book(self, body: bytes, limit: int) -> bytes:
        doc = json.loads(body)
        books = doc["result"].values()
        if all(len(b["asks"]) <= limit and len(b["bids"]) <= limit for b in books):
            return body
        for book in books:
            book["asks"], book["bids"] = book["asks"][:limit], book["bids"][:limit]
        return compact(doc)

    def tops(self, raw_quotes: bytes) -> dict[str, TopOfBook]:
        # Ticker `b`/`a` are [price, whole lot volume, lot volume]; a book level's
        # volume is the lot volume.
        result = json.loads(raw_quotes)["result"]
        return {
            key: TopOfBook(entry["b"][0], entry["b"][2], entry["a"][0], entry["a"][2])
            for key, entry in result.items()
        }

    def derived_book(self, symbol: str, top: TopOfBook, raw_quotes: bytes) -> bytes:
        # A Depth level is [price, volume, timestamp]; the Ticker has no time, so 0.
        asks = [[top.ask, top.ask_qty, 0]] if positive(top.ask) else []
        bids = [[top.bid, top.bid_qty, 0]] if positive(top.bid) else []
        return compact({"error": [], "result": {symbol: {"asks": asks, "bids": bids}}})

    def unknown_symbol(self, symbol: str) -> Plan:
        return Plan(200, BODY_UNKNOWN_PAIR)

    def _pair_keys(self, asset_pairs: bytes) -> dict[str, str]:
        """Pair key by altname (and by key) from an AssetPairs payload; {} if unparsable."""
        cached = self._keys_cache
        if cached is not None and cached[0] is asset_pairs:
            return cached[1]
        try:
            result = json.loads(asset_pairs)["result"]
            keys = {entry["altname"]: key for key, entry in result.items()}
            keys.update({key: key for key in result})
        except (ValueError, TypeError, KeyError, AttributeError):
            keys = {}
        self._keys_cache = (asset_pairs, keys)
        return keys
