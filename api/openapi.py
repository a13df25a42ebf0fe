"""The OpenAPI 3 document of every endpoint (served at /docs/openapi.json, shown by `api.docs`).

Descriptions are Markdown (CommonMark, as OpenAPI says), kept to what
`api.markdown` renders. The HTTP behaviour every route shares (HEAD, ETag and
304, oversized requests) is added to each GET operation in one place
(`_shared_http`), so a route added later is documented with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from api.exceptions import ALL_ERRORS
from api.limits import MAX_BODY_BYTES, MAX_HEAD_BYTES
from api.schemas import schemas

__all__ = ["NOT_MODIFIED", "build_document"]

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


_DESCRIPTION = """\
Exact conversions between crypto currencies from the top-of-book quotes of {names}: \
one venue's mid price, the best executable price across venues, or the cross-venue \
average (outliers dropped), latest or as of a past moment; and a board of every pair's \
prices. Amounts are strings with 6 fraction digits, rates with 12, rounded half-up.

HTTP, the same on every route:

- **HEAD** answers wherever GET does, with the same status and header fields \
(`Content-Length` of the GET body included) and no body.
- **Caching**: historical answers are immutable, `Cache-Control: public, max-age=...`; \
latest ones `no-cache`; errors and `/health` `no-store`.
- **Validators**: every cacheable answer (historical conversions and boards) carries a \
strong `ETag` (a hash of its body), and so do the documentation's files; sending it back \
in `If-None-Match` (one tag, a list, or `*`) answers `304` with no body and the same \
`ETag` and `Cache-Control`. Latest answers and errors carry none.
- **Errors** are one JSON shape, `{{"error": code, "message": sentence, "details": {{...}}}}`, \
from a closed set of codes (see [Errors](#errors)). A body over {body} bytes is `413` \
`payload_too_large`; a request line and header fields over {head} bytes are `431` \
`headers_too_large`.
- **CORS**: every answer allows any origin (`Access-Control-Allow-Origin: *`).
"""

_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "The `ETag` of an earlier answer (or a list of them, or `*`): `304` "
    "with no body if the answer is still the same.",
    "schema": {"type": "string"},
    "example": '"7816386c1f0a6de4a10dfe8b365025a3"',
}
_HEADERS = {
    "ETag": {
        "description": "Strong validator: 128-bit BLAKE2b of the body, quoted; on "
        "cacheable (`public`) answers only.",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "`public, max-age=N` (historical), `no-cache` (latest) or `no-store`.",
        "schema": {"type": "string"},
    },
}
_SHARED_RESPONSES = {
    "NotModified": {
        "description": "Not modified: `If-None-Match` named this answer's `ETag`. No body; "
        "the same `ETag` and `Cache-Control`.",
        "headers": {name: {"$ref": f"#/components/headers/{name}"} for name in _HEADERS},
    },
    "PayloadTooLarge": {
        "description": f"Error: `payload_too_large` (a request body over {MAX_BODY_BYTES} bytes).",
        "content": {"application/json": {"schema": _ERROR}},
    },
    "HeadersTooLarge": {
        "description": "Error: `headers_too_large` (request line and header fields over "
        f"{MAX_HEAD_BYTES} bytes).",
        "content": {"application/json": {"schema": _ERROR}},
    },
}
NOT_MODIFIED = {"$ref": "#/components/responses/NotModified"}


def _shared_http(paths: Mapping[str, Any]) -> None:
    """What GET operations share: 413/431 on each; If-None-Match and ETag where 304 is listed."""
    for operations in paths.values():
        operation = operations.get("get")
        if operation is None:
            continue
        responses = operation["responses"]
        responses.setdefault("413", {"$ref": "#/components/responses/PayloadTooLarge"})
        responses.setdefault("431", {"$ref": "#/components/responses/HeadersTooLarge"})
        if "304" not in responses:
            continue
        ok = responses.get("200")
        if ok is not None and "$ref" not in ok:
            ok.setdefault("headers", {}).update(
                {name: {"$ref": f"#/components/headers/{name}"} for name in _HEADERS}
            )
        parameters = operation.setdefault("parameters", [])
        parameters.append(dict(_IF_NONE_MATCH))  # inline: clients read parameters by name
        operation["responses"] = dict(sorted(responses.items()))


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
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Crypto Converter",
            "version": version,
            "description": _DESCRIPTION.format(
                names=names, body=MAX_BODY_BYTES, head=MAX_HEAD_BYTES
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
                            "`DEFAULT_EXCHANGE`. Anything else is 400 `invalid_parameter` whose "
                            "`details.accepted` lists the values.",
                            "average",
                            [*venues, "best", "average"],
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "The conversion (shape depends on `exchange`)",
                            "content": {"application/json": {"schema": conversion}},
                        },
                        "304": NOT_MODIFIED,  # historical answers only: latest has no ETag
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
                            "orientation the venues list it (404 `pair_not_found` otherwise, "
                            "with the listed orientation in the message and `details.listed_as`).",
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
                        "304": NOT_MODIFIED,  # historical boards only
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
            "/": {
                "get": {
                    "summary": "The service name and its endpoints",
                    "responses": {"200": {"description": "The index"}},
                }
            },
            **(extra_paths or {}),
        },
        "components": {
            "schemas": schemas(list(venues)),
            "headers": _HEADERS,
            "responses": _SHARED_RESPONSES,
        },
    }
    _shared_http(document["paths"])
    return document
