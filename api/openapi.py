"""The OpenAPI 3 document of every endpoint, and a self-contained page to browse it.

The page is rendered here from the document itself (no CDN, no JavaScript):
the service must be browsable on machines with no internet access.
"""

from __future__ import annotations

import html
from typing import Any

from api.errors import ALL_ERRORS

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


def _param(name: str, required: bool, description: str, example: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
        "example": example,
    }


def build_document(version: str = "0.1.0") -> dict[str, Any]:
    code = "Currency code, case-insensitive; letters and digits, 1-20 characters."
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Crypto Converter",
            "version": version,
            "description": (
                "Exact conversions between crypto currencies from Binance top-of-book quotes "
                "(mid price), latest or as of a past moment. Amounts are strings with 6 "
                "fraction digits, rates with 12, rounded half-up."
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
                        _param(
                            "timestamp",
                            False,
                            "Convert with the quotes in force then: unix seconds (integer or "
                            "decimal) or ISO 8601 (Z, an offset, or no zone = UTC).",
                            "2026-11-21T12:00:00Z",
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "The conversion",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Conversion"}
                                }
                            },
                        },
                        **_error_responses(400, 404, 422, 503),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Freshness of the newest snapshot (200 ok, 503 outdated/no_data)",
                    "responses": {
                        "200": {"description": "Quotes are fresh"},
                        "503": {"description": "Quotes are outdated, or there are none"},
                    },
                }
            },
            "/currencies": {
                "get": {
                    "summary": "Sorted currency codes quotable in the newest snapshot",
                    "responses": {"200": {"description": "The codes"}, **_error_responses(503)},
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
        },
        "components": {
            "schemas": {
                "Conversion": {
                    "type": "object",
                    "required": ["amount", "rate", "from", "to", "quoted_at"],
                    "properties": {
                        "amount": {"type": "string", "example": "97500.022500"},
                        "rate": {"type": "string", "example": "65000.015000000000"},
                        "from": {"type": "string", "example": "BTC"},
                        "to": {"type": "string", "example": "USDT"},
                        "quoted_at": {"type": "string", "example": "2026-11-21T23:36:00.123Z"},
                        "exchange": {"type": "string", "example": "binance"},
                        "symbol": {"type": "string", "nullable": True, "example": "BTCUSDT"},
                        "inverted": {"type": "boolean"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string", "enum": [e.code for e in ALL_ERRORS]},
                        "message": {"type": "string"},
                        "details": {"type": "object"},
                    },
                },
            }
        },
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
    parts.append("</table></body></html>")
    return "".join(parts)
