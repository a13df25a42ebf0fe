"""`GET /rates` in the OpenAPI document (`build_document(extra_paths=...)`), with its body's schema.

Kept beside the route rather than in `api.openapi` so that /rates is
documented where it changes; the HTTP behaviour every route shares (HEAD,
413/431, ETag and 304 where `304` is listed) is added by `api.openapi`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.exceptions import ALL_ERRORS
from api.series import DEFAULT_POINTS, INTERVALS, MAX_POINTS

__all__ = ["openapi_paths"]

_TIME = {"type": "string", "example": "2026-11-21T00:05:00.000Z"}
_RATE = {"type": "string", "example": "19979.845000000000", "description": "12 fraction digits"}
_MOMENT = (
    "unix seconds (integer or decimal) or ISO 8601 (Z, an offset, or no zone = UTC), as "
    "`timestamp` on /convert"
)


def _param(name: str, required: bool, description: str, example: str, **schema: Any) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
        "example": example,
    }


def _errors(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in statuses:
        codes = [e.code for e in ALL_ERRORS if e.status == status]
        out[str(status)] = {
            "description": "Error: " + ", ".join(f"`{c}`" for c in codes),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return out


def _series_schema() -> dict[str, Any]:
    point = {
        "type": "object",
        "required": ["t", "rate", "quoted_at"],
        "properties": {
            "t": {**_TIME, "description": "The interval boundary (UTC)."},
            "rate": {**_RATE, "description": "What /convert?amount=1&timestamp=t answers."},
            "quoted_at": {**_TIME, "example": "2026-11-21T00:04:51.918Z"},
        },
    }
    summary = {
        "type": "object",
        "required": ["first", "last", "min", "max", "change_percent", "points"],
        "properties": {
            "first": _RATE,
            "last": _RATE,
            "min": _RATE,
            "max": _RATE,
            "change_percent": {
                "type": "string",
                "example": "0.42",
                "description": "(last - first) / first x 100, 2 places, half-up.",
            },
            "points": {"type": "integer", "example": 288},
        },
    }
    return {
        "type": "object",
        "required": [
            "from",
            "to",
            "exchange",
            "interval",
            "start",
            "end",
            "clipped",
            "requested_start",
            "points",
            "summary",
        ],
        "properties": {
            "from": {"type": "string", "example": "BTC"},
            "to": {"type": "string", "example": "USDT"},
            "exchange": {"type": "string", "description": "A venue, or `average`."},
            "interval": {"type": "string", "enum": list(INTERVALS)},
            "start": {**_TIME, "description": "The start used (clipped to retention if older)."},
            "end": _TIME,
            "clipped": {
                "type": "boolean",
                "description": "True when `start` was older than the retention window.",
            },
            "requested_start": {**_TIME, "description": "The start asked for (or its default)."},
            "points": {"type": "array", "items": point},
            "summary": summary,
        },
    }


def openapi_paths(venues: Sequence[str]) -> dict[str, Any]:
    """`GET /rates`; `venues` are the configured venues (what `exchange` takes besides average)."""
    names = ", ".join(venues) or "the configured venues"
    code = "Currency code, case-insensitive; letters and digits, 1-20 characters."
    intervals = ", ".join(f"`{name}`" for name in INTERVALS)
    return {
        "/rates": {
            "get": {
                "summary": "A rate over time: one point per interval boundary, and a summary",
                "description": (
                    "Points sit on UTC interval boundaries (`5m`: :00, :05, ...) from the first "
                    "at or after `start` to the last at or before `end`. Each point's `rate` is "
                    "exactly what `/convert?amount=1&timestamp=t` with the same `from`, `to` "
                    "and `exchange` answers; a boundary where no snapshot was in force (or the "
                    "pair was not listed) is left out, never interpolated. At most "
                    f"{MAX_POINTS:,} points: more is 400 `invalid_parameter` naming `interval`. "
                    "A range that ended more than QUOTES_MAX_AGE_SECONDS ago (and was not "
                    "clipped) is cacheable like a historical conversion."
                ),
                "parameters": [
                    _param("from", True, code, "BTC"),
                    _param("to", True, code, "USDT"),
                    _param(
                        "start",
                        False,
                        f"Default `end` - 24 h; {_MOMENT}. Older than "
                        "the retention window: clipped to it (`clipped: true`).",
                        "2026-11-21T00:00:00Z",
                    ),
                    _param("end", False, f"Default now; {_MOMENT}.", "2026-11-22T00:00:00Z"),
                    _param(
                        "interval",
                        False,
                        f"One of {intervals}; default the smallest giving at most "
                        f"{DEFAULT_POINTS} points.",
                        "5m",
                        enum=list(INTERVALS),
                    ),
                    _param(
                        "exchange",
                        False,
                        f"A venue ({names}) or `average`, case-insensitive; default "
                        "`DEFAULT_EXCHANGE` (`average` when that is `best`). `best` is refused "
                        "(400): it is a quote for an amount, not a rate.",
                        "average",
                        enum=[*venues, "average"],
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The series",
                        "content": {"application/json": {"schema": _series_schema()}},
                    },
                    "304": {"$ref": "#/components/responses/NotModified"},
                    **_errors(400, 404, 503),
                },
            }
        }
    }
