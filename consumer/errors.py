"""The quote consumer's errors: one closed tree. httpx and orjson exceptions are
translated into it in exactly one place, `consumer.exchanges._http`.

    ExchangeError
    ├── ExchangeUnavailableError     refused, reset, truncated body, DNS
    │   └── ExchangeTimeoutError     no answer within HTTP_TIMEOUT_SECONDS
    ├── ExchangeHTTPError            any other 4xx/5xx status
    │   ├── RateLimitedError         the venue's rate-limit answer (429, 418, Bybit 403,
    │   │                            or a body code at HTTP 200), with `retry_after` seconds
    │   └── RestrictedLocationError  a geographic refusal (Binance 451, CloudFront 403)
    ├── ExchangeBodyError            an error inside the body (Kraken `error`, Bybit
    │                                `retCode`, OKX `code`): a failed poll, never data
    └── BadPayloadError              not JSON, wrong shape, empty list, nothing quotable

Venue-specific answers (which status or body code means what) are decided in
each venue's adapter module; this tree is what the rest of the consumer sees.
"""

from __future__ import annotations

__all__ = [
    "OUTCOMES",
    "BadPayloadError",
    "ExchangeBodyError",
    "ExchangeError",
    "ExchangeHTTPError",
    "ExchangeTimeoutError",
    "ExchangeUnavailableError",
    "RateLimitedError",
    "RestrictedLocationError",
    "outcome",
]


class ExchangeError(Exception):
    """Base of every failure to get usable quotes from an exchange."""


class ExchangeUnavailableError(ExchangeError):
    """The exchange could not be reached, or the connection broke mid-answer."""


class ExchangeTimeoutError(ExchangeUnavailableError):
    """The exchange did not answer within the configured timeout."""


class ExchangeHTTPError(ExchangeError):
    """The exchange answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RateLimitedError(ExchangeHTTPError):
    """The venue asks us to slow down; nothing is sent to it for `retry_after` seconds."""

    def __init__(self, message: str, status: int, retry_after: float) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class RestrictedLocationError(ExchangeHTTPError):
    """The venue refuses requests from this location (Binance 451, a CloudFront 403)."""


class ExchangeBodyError(ExchangeError):
    """The venue answered (often HTTP 200) with an error code in the body."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class BadPayloadError(ExchangeError):
    """The answer was not the JSON we expect (HTML, garbage, wrong shape, empty)."""


def outcome(exc: BaseException | None) -> str:
    """The outcome class of a poll, for logs and metrics: a small, closed set of labels."""
    if exc is None:
        return "ok"
    for kind, label in _OUTCOMES:
        if isinstance(exc, kind):
            if label == "http_error":
                status = getattr(exc, "status", 0)
                return "http_5xx" if status >= 500 else "http_4xx"
            return label
    return "error"


# Most specific first: RateLimitedError is also an ExchangeHTTPError, and so on.
_OUTCOMES: tuple[tuple[type[BaseException], str], ...] = (
    (ExchangeTimeoutError, "timeout"),
    (ExchangeUnavailableError, "unavailable"),
    (RateLimitedError, "rate_limited"),
    (RestrictedLocationError, "restricted"),
    (ExchangeHTTPError, "http_error"),
    (ExchangeBodyError, "body_error"),
    (BadPayloadError, "bad_body"),
)

OUTCOMES = (
    "ok",
    "timeout",
    "unavailable",
    "rate_limited",
    "restricted",
    "http_5xx",
    "http_4xx",
    "body_error",
    "bad_body",
    "error",
)
