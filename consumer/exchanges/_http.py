"""GET a JSON document from an exchange; every httpx/orjson failure is mapped here."""

from __future__ import annotations

import httpx
import orjson

from consumer.errors import (
    BadPayloadError,
    ExchangeHTTPError,
    ExchangeTimeoutError,
    ExchangeUnavailableError,
    RateLimitedError,
    RestrictedLocationError,
)

__all__ = ["DEFAULT_RETRY_AFTER", "get_json", "parse_retry_after"]

# Binance always sends Retry-After with 429/418; if a proxy strips it, wait a
# full minute (the weight window) rather than hammering and earning a ban.
DEFAULT_RETRY_AFTER = 60.0
_MAX_RETRY_AFTER = 3 * 86400.0


def parse_retry_after(raw: str | None) -> float:
    """Seconds from a `Retry-After` header (delta-seconds form); default when unusable."""
    if raw is None:
        return DEFAULT_RETRY_AFTER
    try:
        value = float(raw.strip())
    except ValueError:
        return DEFAULT_RETRY_AFTER
    if not 0 <= value <= _MAX_RETRY_AFTER:
        return DEFAULT_RETRY_AFTER
    return value


def _snippet(response: httpx.Response) -> str:
    text = response.content[:200].decode("utf-8", "replace")
    return " ".join(text.split())


async def get_json(client: httpx.AsyncClient, path: str) -> object:
    """GET `path`; the decoded JSON, or an `ExchangeError` saying what went wrong."""
    try:
        response = await client.get(path)
    except httpx.TimeoutException as exc:
        raise ExchangeTimeoutError(f"GET {path} timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise ExchangeUnavailableError(f"GET {path} failed: {type(exc).__name__}: {exc}") from exc
    status = response.status_code
    if status in (418, 429):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RateLimitedError(
            f"GET {path} answered {status} (rate limited), Retry-After {retry_after:g}s: "
            f"{_snippet(response)}",
            status,
            retry_after,
        )
    if status == 451:
        raise RestrictedLocationError(
            f"GET {path} answered 451: Binance refuses this location. "
            "Set BINANCE_BASE_URL=https://data-api.binance.vision (public market data).",
            status,
        )
    if status >= 400:
        raise ExchangeHTTPError(f"GET {path} answered {status}: {_snippet(response)}", status)
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        kind = response.headers.get("Content-Type", "no content type")
        raise BadPayloadError(
            f"GET {path} answered {status} with a body that is not JSON ({kind}): "
            f"{_snippet(response)!r}"
        ) from None
