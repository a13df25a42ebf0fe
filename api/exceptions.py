"""The API's closed error tree: pure values, importable without Sanic.

Every failure a client can see is one of these, and each class carries the
HTTP status and the stable ``error`` code from the README's error table::

    ApiError                          (base: never raised itself)
    ├── InvalidParameterError         400 invalid_parameter
    ├── MissingParameterError         400 missing_parameter
    ├── InvalidAmountError            400 invalid_amount
    ├── InvalidTimestampError         400 invalid_timestamp
    ├── UnknownCurrencyError          404 unknown_currency
    ├── PairNotFoundError             404 pair_not_found
    ├── QuotesNotFoundError           404 quotes_not_found
    ├── RateBelowPrecisionError       422 rate_below_precision
    ├── QuotesOutdatedError           503 quotes_outdated
    ├── QuotesUnavailableError        503 quotes_unavailable
    ├── NotFoundError                 404 not_found
    ├── MethodNotAllowedError         405 method_not_allowed
    ├── PayloadTooLargeError          413 payload_too_large
    ├── HeadersTooLargeError          431 headers_too_large
    └── InternalError                 500 internal_error

The body of every error response is ``ApiError.to_body()``:
``{"error": code, "message": "<one sentence>"}`` plus ``"details"`` when there
are any (the offending parameter, how old the quotes are, ...).
"""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    """Base of every error the API answers with; subclasses fix status and code."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "An unexpected error occurred."

    def __init__(self, message: str | None = None, **details: object) -> None:
        self.message: str = message if message is not None else self.default_message
        self.details: dict[str, object] = dict(details)
        super().__init__(self.message)

    def to_body(self) -> dict[str, object]:
        """Return the JSON body: error code, message, and details only when present."""
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = dict(self.details)
        return body


class InvalidParameterError(ApiError):
    """A query parameter is unknown, repeated, empty or malformed."""

    status = 400
    code = "invalid_parameter"
    default_message = "A query parameter is unknown, repeated, empty or malformed."


class MissingParameterError(ApiError):
    """A required query parameter (amount, from, to) is absent."""

    status = 400
    code = "missing_parameter"
    default_message = "A required query parameter is missing."


class InvalidAmountError(ApiError):
    """The amount is not a plain positive decimal within the allowed size."""

    status = 400
    code = "invalid_amount"
    default_message = (
        "The amount must be a plain decimal greater than zero, "
        "with at most 15 integer and 6 fraction digits."
    )


class InvalidTimestampError(ApiError):
    """The timestamp cannot be parsed, or lies too far in the future."""

    status = 400
    code = "invalid_timestamp"
    default_message = "The timestamp is not a valid unix time or ISO 8601 date-time."


class UnknownCurrencyError(ApiError):
    """No quotable symbol uses the currency code."""

    status = 404
    code = "unknown_currency"
    default_message = "The currency code is not quoted by the exchange."


class PairNotFoundError(ApiError):
    """Both codes are known, but no direct or inverse symbol joins them."""

    status = 404
    code = "pair_not_found"
    default_message = "No exchange symbol joins these two currencies."


class QuotesNotFoundError(ApiError):
    """No snapshot was in force at the requested timestamp."""

    status = 404
    code = "quotes_not_found"
    default_message = "No quotes are available for the requested timestamp."


class RateBelowPrecisionError(ApiError):
    """The rate rounds to zero at 12 fraction digits, so no answer is given."""

    status = 422
    code = "rate_below_precision"
    default_message = "The exchange rate rounds to zero at 12 decimal places."


class QuotesOutdatedError(ApiError):
    """The newest snapshot is older than the staleness limit."""

    status = 503
    code = "quotes_outdated"
    default_message = "The newest quotes are too old to convert with."


class QuotesUnavailableError(ApiError):
    """There is no snapshot yet, or the store cannot be read."""

    status = 503
    code = "quotes_unavailable"
    default_message = "No quotes are available yet."


class NotFoundError(ApiError):
    """The route does not exist."""

    status = 404
    code = "not_found"
    default_message = "There is no such endpoint."


class MethodNotAllowedError(ApiError):
    """The route exists, but not for this HTTP method."""

    status = 405
    code = "method_not_allowed"
    default_message = "This endpoint does not accept that HTTP method."


class PayloadTooLargeError(ApiError):
    """The request's body is larger than the server accepts (REQUEST_MAX_SIZE)."""

    status = 413
    code = "payload_too_large"
    default_message = "The request body is larger than the server accepts."


class HeadersTooLargeError(ApiError):
    """The request line and header fields together are larger than the server accepts."""

    status = 431
    code = "headers_too_large"
    default_message = "The request line and header fields are larger than the server accepts."


class InternalError(ApiError):
    """A bug; the body never carries a traceback."""

    status = 500
    code = "internal_error"
    default_message = "An unexpected error occurred."


# The closed set: a test checks it against the README's error table and against
# ApiError.__subclasses__(), so a new error cannot be added in one place only.
ALL_ERRORS: tuple[type[ApiError], ...] = (
    InvalidParameterError,
    MissingParameterError,
    InvalidAmountError,
    InvalidTimestampError,
    UnknownCurrencyError,
    PairNotFoundError,
    QuotesNotFoundError,
    RateBelowPrecisionError,
    QuotesOutdatedError,
    QuotesUnavailableError,
    NotFoundError,
    MethodNotAllowedError,
    PayloadTooLargeError,
    HeadersTooLargeError,
    InternalError,
)
