"""Errors to HTTP: the only place where an exception becomes a response.

The error tree itself is in `api.exceptions` (pure, no Sanic), so that the
pure modules (`params`, `conversion`, `venues`) can raise it without pulling
the web framework in. Here every exception raised while handling a request,
Sanic's own included, is translated into that closed set and answered with
its one JSON shape, marked `no-store` (errors are never cached, and never
carry an ETag). `tests/api/test_http_semantics.py` raises every
`SanicException` subclass through a route and fails if one reaches a client
outside the closed set.

Sanic's exceptions, and what a client gets for each:

    NotFound (FileNotFound)           404 not_found
    MethodNotAllowed                  405 method_not_allowed, with `Allow`
    PayloadTooLarge, a body declared  413 payload_too_large
    PayloadTooLarge, none declared    431 headers_too_large (the head itself was too large)
    URITooLong                        431 headers_too_large
    ServiceUnavailable                503 quotes_unavailable (RESPONSE_TIMEOUT passed)
    any other 4xx (BadRequest, RequestTimeout, ExpectationFailed, ...)
                                      400 invalid_parameter, saying what was wrong
    anything else                     500 internal_error, logged with its traceback
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from sanic import Request, Sanic
from sanic.exceptions import (
    ExpectationFailed,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    SanicException,
    ServiceUnavailable,
    URITooLong,
)
from sanic.http import Http
from sanic.response import HTTPResponse

from api.exceptions import (
    ApiError,
    HeadersTooLargeError,
    InternalError,
    InvalidParameterError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    QuotesUnavailableError,
)

__all__ = ["error_response", "install", "to_api_error"]

log = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}
# What a 4xx of Sanic's that has no code of its own was about; the rest are
# "malformed" (bad framing, bad URL encoding, a bad Range or Content-Length).
_MALFORMED = "The request is malformed."
_CLIENT_FAULTS: tuple[tuple[type[SanicException], str], ...] = (
    (RequestTimeout, "The request did not arrive completely in time."),
    (ExpectationFailed, "The only expectation this server meets is Expect: 100-continue."),
)


def error_response(error: ApiError) -> HTTPResponse:
    """The one JSON shape of every error, never cached; a 405 also says what is allowed."""
    headers = _NO_STORE
    allowed = error.details.get("allowed") if isinstance(error, MethodNotAllowedError) else None
    if isinstance(allowed, list):
        headers = {**_NO_STORE, "Allow": ", ".join(str(method) for method in allowed)}
    return HTTPResponse(
        orjson.dumps(error.to_body()),
        status=error.status,
        headers=headers,
        content_type="application/json",
    )


def _declares_body(request: Request | None) -> bool:
    # A body is declared by one of these fields (RFC 9112 section 6.3). When
    # the head itself is too large, Sanic answers with a placeholder request
    # that has no header fields at all, so a declared body means it was the body.
    if request is None:
        return False
    headers = request.headers
    return "content-length" in headers or "transfer-encoding" in headers


def _too_large(exc: SanicException, request: Request | None) -> ApiError:
    config = request.app.config if request is not None else None
    if isinstance(exc, PayloadTooLarge) and _declares_body(request):
        limit = None if config is None else int(config.REQUEST_MAX_SIZE)
        message = "The request body is larger than the server accepts"
        return PayloadTooLargeError(f"{message} ({limit} bytes)." if limit else f"{message}.")
    # Sanic reads at most min(REQUEST_MAX_HEADER_SIZE, its ceiling) bytes of head.
    limit = (
        None if config is None else min(int(config.REQUEST_MAX_HEADER_SIZE), Http.HEADER_CEILING)
    )
    message = "The request line and header fields are larger than the server accepts"
    return HeadersTooLargeError(f"{message} ({limit} bytes)." if limit else f"{message}.")


def to_api_error(exc: BaseException, request: Request | None = None) -> ApiError:
    """Translate anything raised while handling `request` into the closed set."""
    if isinstance(exc, ApiError):
        return exc
    if not isinstance(exc, SanicException):
        return InternalError()
    if isinstance(exc, NotFound):
        return NotFoundError("There is no such endpoint; see /docs for the API.")
    if isinstance(exc, MethodNotAllowed):
        allowed = sorted(getattr(exc, "allowed_methods", None) or ())
        return MethodNotAllowedError(
            f"This endpoint accepts only {' and '.join(allowed) or 'GET'}.", allowed=allowed
        )
    if isinstance(exc, PayloadTooLarge | URITooLong):
        return _too_large(exc, request)
    if isinstance(exc, ServiceUnavailable):
        # Sanic's RESPONSE_TIMEOUT: a handler outlived it (a store that reads slowly).
        return QuotesUnavailableError("The quotes could not be read in time; try again.")
    if 400 <= exc.status_code < 500:
        # Refused by Sanic before routing or while reading the request: the
        # client's fault, said without detail.
        for cls, message in _CLIENT_FAULTS:
            if isinstance(exc, cls):
                return InvalidParameterError(message)
        return InvalidParameterError(_MALFORMED)
    return InternalError()


def install(app: Sanic[Any, Any]) -> None:
    """Route every exception, Sanic's own 404/405 included, through `to_api_error`."""

    async def handle(request: Request, exc: Exception) -> HTTPResponse:
        error = to_api_error(exc, request)
        if isinstance(error, InternalError):
            log.exception("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        elif isinstance(exc, ServiceUnavailable):
            log.error("no answer within RESPONSE_TIMEOUT on %s %s", request.method, request.path)
        return error_response(error)

    app.error_handler.add(Exception, handle)
