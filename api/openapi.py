"""The OpenAPI 3 document of every endpoint, and a self-contained page to browse it.

The page is rendered here from the document itself (no CDN, no JavaScript):
the service must be browsable on machines with no internet access.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from api.exceptions import ALL_ERRORS
from api.schemas import schemas

__all__ = ["build_document", "render_page"]

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error_responses(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in statuses:
        codes = [e.code for e in ALL_ERRORS if e.status == status]
        out[str(status)] = {
            "description": "Error: " + ", ".join(f"`{c}`" for c in codes),
            "content": {"application/json": {"schema": _ERROR}},
        }
    return out


def _param(
    name: str,
    required: bool,
    description: str,
    example: str,
    enum: list[str] | None = None,
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if enum is not None:
        schema["enum"] = enum
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
        "example": example,
    }


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_TIMESTAMP = (
    "Use the quotes in force then (each venue's newest snapshot at or before it, never a "
    "later one): unix seconds (integer or decimal) or ISO 8601 (Z, an offset, or no zone = UTC)."
)


def build_document(
    venues: Sequence[str] = (),
    version: str = "0.1.0",
    *,
    extra_paths: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3 document; `venues` are the configured venues (EXCHANGES), in order.

    `extra_paths` are routes installed by other modules (the page's static
    files, /metrics), each described by its own module.
    """
    code = "Currency code, case-insensitive; letters and digits, 1-20 characters."
    names = ", ".join(venues) or "the configured venues"
    example = venues[0] if venues else "NAME"  # venues are configuration, never spelt here
    conversion = {
        "oneOf": [
            {"$ref": "#/components/schemas/Conversion"},
            {"$ref": "#/components/schemas/AverageConversion"},
            {"$ref": "#/components/schemas/BestConversion"},
        ]
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Crypto Converter",
            "version": version,
            "description": (
                f"Exact conversions between crypto currencies from the top-of-book quotes of "
                f"{names}: one venue's mid price, the best executable price across venues, or "
                "the cross-venue average (outliers dropped), latest or as of a past moment; and "
                "a board of every pair's prices. Amounts are strings with 6 fraction digits, "
                "rates with 12, rounded half-up."
            ),
        },
        "paths": {
            "/convert": {
                "get": {
                    "summary": "Convert an amount of one currency into another",
                    "parameters": [
                        _param(
                            "amount",
                            True,
                            "Plain decimal > 0, at most 15 integer and 6 fraction digits.",
                            "1.5",
                        ),
                        _param("from", True, code, "BTC"),
                        _param("to", True, code, "USDT"),
                        _param("timestamp", False, _TIMESTAMP, "2026-11-21T12:00:00Z"),
                        _param(
                            "exchange",
                            False,
                            f"A venue ({names}): its mid price; `best`: the venue paying the "
                            "most (bid selling the base, 1/ask buying it); `average`: the mean "
                            "of the venues' mids, dropping any more than AVERAGE_OUTLIER_PERCENT "
                            "from their median (3+ venues). Case-insensitive; default "
                            "DEFAULT_EXCHANGE. Anything else is 400 invalid_parameter whose "
                            "details.accepted lists the values.",
                            "average",
                            [*venues, "best", "average"],
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "The conversion (shape depends on `exchange`)",
                            "content": {"application/json": {"schema": conversion}},
                        },
                        **_error_responses(400, 404, 422, 503),
                    },
                }
            },
            "/prices": {
                "get": {
                    "summary": "The price board: every pair of every usable venue, from the store",
                    "parameters": [
                        _param(
                            "pair",
                            False,
                            "BASE/QUOTE, BASE-QUOTE or BASE_QUOTE, case-insensitive, in the "
                            "orientation the venues list it (404 pair_not_found otherwise, "
                            "with the listed orientation in the message and details.listed_as).",
                            "BTC-USDT",
                        ),
                        _param(
                            "exchange",
                            False,
                            f"One venue ({names}) only, without the average; 503 when it is "
                            "outdated or has no data.",
                            example,
                            list(venues),
                        ),
                        _param("timestamp", False, _TIMESTAMP, "2026-11-21T12:00:00Z"),
                    ],
                    "responses": {
                        "200": _json("PriceBoard", "The board"),
                        **_error_responses(400, 404, 503),
                    },
                }
            },
            "/exchanges": {
                "get": {
                    "summary": "Every configured venue: freshness, pairs, currencies, snapshots",
                    "responses": {
                        "200": _json("Exchanges", "One block per venue"),
                        **_error_responses(400),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "200 ok (every venue fresh) or degraded (the default still "
                    "answers); 503 outdated/no_data when the default exchange cannot answer",
                    "responses": {
                        "200": _json("Health", "The default exchange can answer"),
                        "503": _json("Health", "The default exchange cannot answer"),
                    },
                }
            },
            "/currencies": {
                "get": {
                    "summary": "Sorted union of the codes in the venues' newest snapshots",
                    "parameters": [
                        _param(
                            "exchange",
                            False,
                            f"One venue ({names}) only.",
                            example,
                            list(venues),
                        )
                    ],
                    "responses": {
                        "200": _json("Currencies", "The codes, with each venue's age"),
                        **_error_responses(400, 503),
                    },
                }
            },
            "/docs/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3 JSON"}},
                }
            },
            "/docs": {
                "get": {
                    "summary": "This document as a page",
                    "responses": {"200": {"description": "HTML"}},
                }
            },
            "/": {
                "get": {
                    "summary": "The service name and its endpoints",
                    "responses": {"200": {"description": "The index"}},
                }
            },
            **(extra_paths or {}),
        },
        "components": {"schemas": schemas(list(venues))},
    }


def render_page(document: dict[str, Any]) -> str:
    """A plain HTML rendering of the document: endpoints, parameters, error codes."""
    esc = html.escape
    info = document["info"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(info['title'])} API</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;"
        "padding:0 1em}code{background:#f3f3f3;padding:0 .2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}</style></head><body>",
        f"<h1>{esc(info['title'])} <small>{esc(info['version'])}</small></h1>",
        f"<p>{esc(info['description'])}</p>",
        "<p>Machine-readable: <a href='/docs/openapi.json'>/docs/openapi.json</a></p>",
    ]
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            parts.append(f"<h2><code>{method.upper()} {esc(path)}</code></h2>")
            parts.append(f"<p>{esc(op['summary'])}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<table><tr><th>parameter</th><th>required</th><th>meaning</th></tr>")
                for p in params:
                    parts.append(
                        f"<tr><td><code>{esc(p['name'])}</code></td>"
                        f"<td>{'yes' if p['required'] else 'no'}</td>"
                        f"<td>{esc(p['description'])} "
                        f"e.g. <code>{esc(p['example'])}</code></td></tr>"
                    )
                parts.append("</table>")
            parts.append("<ul>")
            for status, response in op["responses"].items():
                parts.append(f"<li><b>{esc(status)}</b> {esc(response['description'])}</li>")
            parts.append("</ul>")
    parts.append("<h2>Errors</h2><table><tr><th>status</th><th>error</th><th>meaning</th></tr>")
    for error in ALL_ERRORS:
        parts.append(
            f"<tr><td>{error.status}</td><td><code>{esc(error.code)}</code></td>"
            f"<td>{esc(error.default_message)}</td></tr>"
        )
    parts.append("</table><h2>Bodies</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f"<h3 id='{esc(name)}'>{esc(name)}</h3>")
        parts.append("<table><tr><th>field</th><th>type</th><th>meaning</th></tr>")
        for field, spec in schema.get("properties", {}).items():
            kind = spec.get("type", spec.get("$ref", "").rsplit("/", 1)[-1])
            if spec.get("nullable"):
                kind += " or null"
            values = ", ".join(str(v) for v in spec.get("enum", []) if v is not None)
            meaning = spec.get("description", "") + (f" One of: {values}." if values else "")
            parts.append(
                f"<tr><td><code>{esc(field)}</code></td><td>{esc(kind)}</td>"
                f"<td>{esc(meaning)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)
