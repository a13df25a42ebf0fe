"""The quote consumer's errors: one closed tree. httpx and orjson exceptions are
translated into it in exactly one place, `consumer.exchanges._http`.

    ExchangeError
    ├── ExchangeUnavailableError     refused, reset, truncated body, DNS
    │   └── ExchangeTimeoutError     no answer within HTTP_TIMEOUT_SECONDS
    ├── ExchangeHTTPError            any other 4xx/5xx status
    │   ├── RateLimitedError         429 / 418, with `retry_after` seconds
    │   └── RestrictedLocationError  451
    └── BadPayloadError              not JSON, wrong shape, empty list
"""

from __future__ import annotations

__all__ = [
    "BadPayloadError",
    "ExchangeError",
    "ExchangeHTTPError",
    "ExchangeTimeoutError",
    "ExchangeUnavailableError",
    "RateLimitedError",
    "RestrictedLocationError",
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
    """429 (over the weight limit) or 418 (banned for ignoring 429s)."""

    def __init__(self, message: str, status: int, retry_after: float) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class RestrictedLocationError(ExchangeHTTPError):
    """451: Binance refuses this location."""


class BadPayloadError(ExchangeError):
    """The answer was not the JSON we expect (HTML, garbage, wrong shape, empty)."""
