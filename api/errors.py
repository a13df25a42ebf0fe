"""Errors to HTTP: the only place where an exception becomes a response.

The error tree itself is in `api.exceptions` (pure, no Sanic), so that the
pure modules (`params`, `conversion`, `venues`) can raise it without pulling
the web framework in. Here every exception raised while handling a request,
Sanic's own 404/405 included, is translated into that closed set and answered
with its one JSON shape, marked `no-store` (errors are never cached).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from sanic import Request, Sanic
from sanic.exceptions import MethodNotAllowed as SanicMethodNotAllowed
from sanic.exceptions import NotFound as SanicNotFound
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse

from api.exceptions import (
    ApiError,
    InternalError,
    InvalidParameterError,
    MethodNotAllowedError,
    NotFoundError,
)

__all__ = ["error_response", "install", "to_api_error"]

log = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}


def error_response(error: ApiError) -> HTTPResponse:
    """The one JSON shape of every error, never cached."""
    return HTTPResponse(
        orjson.dumps(error.to_body()),
        status=error.status,
        headers=_NO_STORE,
        content_type="application/json",
    )


def to_api_error(exc: BaseException) -> ApiError:
    """Translate anything raised while handling a request into the closed set."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SanicNotFound):
        return NotFoundError("There is no such endpoint; see /docs for the API.")
    if isinstance(exc, SanicMethodNotAllowed):
        return MethodNotAllowedError(
            "This endpoint accepts only GET.", allowed=sorted(getattr(exc, "allowed_methods", []))
        )
    if isinstance(exc, SanicException) and 400 <= exc.status_code < 500:
        # Malformed HTTP that Sanic refuses before routing (bad URL encoding,
        # oversized request line, ...): the client's fault, said without detail.
        return InvalidParameterError("The request is malformed.", http_status=exc.status_code)
    return InternalError()


def install(app: Sanic[Any, Any]) -> None:
    """Route every exception, Sanic's own 404/405 included, through `to_api_error`."""

    async def handle(request: Request, exc: Exception) -> HTTPResponse:
        error = to_api_error(exc)
        if isinstance(error, InternalError):
            log.exception("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return error_response(error)

    app.error_handler.add(Exception, handle)
