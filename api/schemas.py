"""The OpenAPI component schemas: the shape of every body the API returns.

Kept apart from `api.openapi` (the paths and the page) because the bodies
change for other reasons than the routes do. Every example is a real number
shape: decimal strings with their fixed fraction digits, ISO times with `Z`.
"""

from __future__ import annotations

from typing import Any

from api.exceptions import ALL_ERRORS

__all__ = ["schemas"]

_STR: dict[str, Any] = {"type": "string"}
_NSTR: dict[str, Any] = {"type": "string", "nullable": True}
_TIME = {"type": "string", "example": "2026-11-21T23:36:00.123Z"}
_NTIME = {**_TIME, "nullable": True}
_AGE = {"type": "number", "nullable": True, "example": 4.1, "description": "seconds"}
_STATUS = {"type": "string", "enum": ["ok", "outdated", "no_data"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_CONTRACT = {
    "amount": {**_STR, "example": "97500.022500", "description": "6 fraction digits"},
    "rate": {**_STR, "example": "65000.015000000000", "description": "12 fraction digits"},
    "from": {**_STR, "example": "BTC"},
    "to": {**_STR, "example": "USDT"},
    "quoted_at": {**_TIME, "description": "When the quotes used were fetched (UTC, ms)."},
}
_REQUIRED = ["amount", "rate", "from", "to", "quoted_at", "exchange"]


def schemas(venues: list[str]) -> dict[str, Any]:
    """Every component schema; `venues` are the configured venue names."""
    venue = {"type": "string", "enum": venues}
    return {
        "Conversion": _object(
            [*_REQUIRED, "symbol", "inverted"],
            **_CONTRACT,
            exchange={**venue, "description": "The venue whose quotes were used."},
            symbol={**_NSTR, "example": "BTCUSDT", "description": "The venue's own symbol."},
            inverted={"type": "boolean", "description": "True when the rate is 1 / mid."},
        ),
        "Source": _object(
            ["exchange", "symbol", "inverted", "rate", "quoted_at", "used", "reason"],
            exchange=venue,
            symbol=_NSTR,
            inverted={"type": "boolean", "nullable": True},
            rate={
                **_NSTR,
                "description": "This venue's rate (12 places): the mid or 1/mid for "
                "`average`, the executable bid or 1/ask for `best`.",
            },
            quoted_at=_NTIME,
            used={"type": "boolean"},
            reason={
                "type": "string",
                "nullable": True,
                "enum": ["outlier", "outdated", "no_snapshot", "pair_not_listed", None],
                "description": "null when used; why the venue was left out otherwise.",
            },
        ),
        "AverageConversion": _object(
            [*_REQUIRED, "symbol", "inverted", "sources"],
            **_CONTRACT,
            exchange={"type": "string", "enum": ["average"]},
            symbol={**_NSTR, "description": "Always null: several symbols were used."},
            inverted={"type": "boolean", "nullable": True, "description": "Always null."},
            sources={"type": "array", "items": _ref("Source")},
        ),
        "BestConversion": _object(
            [
                *_REQUIRED,
                "venue",
                "symbol",
                "inverted",
                "side",
                "top_of_book_quantity",
                "exceeds_top_of_book",
                "sources",
            ],
            **_CONTRACT,
            exchange={"type": "string", "enum": ["best"]},
            venue={**venue, "nullable": True, "description": "The venue with the best rate."},
            symbol={**_NSTR, "example": "BTCUSDT"},
            inverted={"type": "boolean", "nullable": True},
            side={
                "type": "string",
                "nullable": True,
                "enum": ["bid", "ask", None],
                "description": "bid: selling the base (direct); ask: buying it (inverse).",
            },
            top_of_book_quantity={
                **_NSTR,
                "example": "2.9779",
                "description": "How much of `from` the best level takes (bid_qty, or "
                "ask_qty x ask); null for snapshots without sizes.",
            },
            exceeds_top_of_book={"type": "boolean", "nullable": True},
            sources={"type": "array", "items": _ref("Source")},
        ),
        "VenuePrice": _object(
            ["symbol", "bid", "ask", "mid", "quoted_at"],
            symbol={**_STR, "example": "BTCUSDT"},
            bid={**_STR, "example": "19979.51000000", "description": "The venue's string."},
            ask={**_STR, "example": "19980.18000000", "description": "The venue's string."},
            mid={**_STR, "example": "19979.845000000000", "description": "12 places."},
            quoted_at=_TIME,
        ),
        "PriceBoard": _object(
            ["pairs", "exchanges"],
            pairs={
                "type": "object",
                "description": "BASE/QUOTE as the venues list it -> prices.",
                "additionalProperties": _object(
                    ["exchanges"],
                    average={
                        **_STR,
                        "example": "19980.120000000000",
                        "description": "Cross-venue average (outliers dropped); absent "
                        "with `exchange`.",
                    },
                    exchanges={"type": "object", "additionalProperties": _ref("VenuePrice")},
                ),
            },
            exchanges={
                "type": "object",
                "additionalProperties": _object(
                    ["status", "quoted_at", "age_seconds", "pairs"],
                    status=_STATUS,
                    quoted_at=_NTIME,
                    age_seconds=_AGE,
                    pairs={"type": "integer", "description": "Pairs on the board (0 if unusable)"},
                ),
            },
        ),
        "VenueStatus": _object(
            ["status", "quoted_at", "age_seconds", "pairs", "currencies", "snapshots", "oldest"],
            status=_STATUS,
            quoted_at=_NTIME,
            age_seconds=_AGE,
            pairs={"type": "integer", "description": "Symbols in the newest snapshot"},
            currencies={"type": "integer", "description": "Codes in the newest snapshot"},
            snapshots={"type": "integer", "description": "Snapshot files kept"},
            oldest={**_NTIME, "description": "The oldest snapshot a timestamp can reach"},
            reason={**_STR, "description": "Why there is no data (only then)."},
        ),
        "Exchanges": _object(
            ["exchanges", "default_exchange", "max_age_seconds"],
            exchanges={"type": "object", "additionalProperties": _ref("VenueStatus")},
            default_exchange=_STR,
            max_age_seconds={"type": "number"},
        ),
        "Health": _object(
            ["status", "exchange", "max_age_seconds", "snapshots", "exchanges"],
            status={"type": "string", "enum": ["ok", "degraded", "outdated", "no_data"]},
            exchange={**_STR, "description": "DEFAULT_EXCHANGE"},
            quoted_at={**_TIME, "description": "The default venue's newest snapshot."},
            age_seconds=_AGE,
            max_age_seconds={"type": "number"},
            snapshots={"type": "integer"},
            exchanges={"type": "object", "additionalProperties": _ref("VenueStatus")},
        ),
        "Currencies": _object(
            [
                "currencies",
                "count",
                "quoted_at",
                "age_seconds",
                "outdated",
                "exchange",
                "exchanges",
            ],
            currencies={"type": "array", "items": _STR},
            count={"type": "integer"},
            quoted_at={**_TIME, "description": "The oldest snapshot the list comes from."},
            age_seconds=_AGE,
            outdated={"type": "boolean", "description": "True if any part is outdated."},
            exchange={**_NSTR, "description": "The venue, when the list is one venue's."},
            exchanges={
                "type": "object",
                "additionalProperties": _object(
                    ["quoted_at", "age_seconds", "outdated", "count"],
                    quoted_at=_NTIME,
                    age_seconds=_AGE,
                    outdated={"type": "boolean", "nullable": True},
                    count={"type": "integer"},
                ),
            },
        ),
        "Error": _object(
            ["error", "message"],
            error={"type": "string", "enum": [e.code for e in ALL_ERRORS]},
            message=_STR,
            details={
                "type": "object",
                "description": "e.g. parameter, accepted (the values `exchange` takes), "
                "quoted_at, age_seconds, max_age_seconds, exchange, exchanges (per "
                "venue: reason or status, quoted_at, age_seconds), listed_as.",
            },
        ),
    }
