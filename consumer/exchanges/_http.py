"""GET a JSON document from an exchange; every httpx/orjson failure is mapped here."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx
import orjson

from consumer.errors import (
    BadPayloadError,
    ExchangeHTTPError,
    ExchangeTimeoutError,
    ExchangeUnavailableError,
    RateLimitedError,
)

__all__ = ["DEFAULT_RETRY_AFTER", "get_json", "parse_retry_after", "snippet"]

# A rate-limit answer without Retry-After (a proxy stripped it, or the venue
# never sends one: Kraken, Bybit's retCode 10006) pauses the venue a full
# minute: Binance's weight window, and the floor the venues spec sets.
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


def snippet(response: httpx.Response) -> str:
    """The first 200 bytes of a body, whitespace folded: enough to say what came back."""
    text = response.content[:200].decode("utf-8", "replace")
    return " ".join(text.split())


async def get_json(
    client: httpx.AsyncClient,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    venue: str = "exchange",
    check_status: Callable[[httpx.Response], None] | None = None,
    check_body: Callable[[object, httpx.Response], None] | None = None,
) -> object:
    """GET `path`; the decoded JSON, or an `ExchangeError` saying what went wrong.

    `check_status` is the venue's hook for the statuses only it gives meaning
    to (Binance 418/451, Bybit's 403); it raises or returns. After it, 429 is a
    rate limit everywhere (RFC 6585), and any other status >= 400 an error.
    `check_body` is the venue's hook for an error inside a decoded body that
    needs the response's status or headers (Kraken's Retry-After, Bybit's
    reset timestamp); it raises or returns.
    """
    what = f"GET {path}"  # the caller's log line names the venue
    try:
        response = await client.get(path, params=params)
    except httpx.TimeoutException as exc:
        raise ExchangeTimeoutError(f"{what} timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise ExchangeUnavailableError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
    if check_status is not None:
        check_status(response)
    status = response.status_code
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RateLimitedError(
            f"{what} answered 429 (rate limited), Retry-After {retry_after:g}s: "
            f"{snippet(response)}",
            status,
            retry_after,
        )
    if status >= 400:
        raise ExchangeHTTPError(f"{what} answered {status}: {snippet(response)}", status)
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        kind = response.headers.get("Content-Type", "no content type")
        raise BadPayloadError(
            f"{what} answered {status} with a body that is not JSON ({kind}): {snippet(response)!r}"
        ) from None
    if check_body is not None:
        check_body(payload, response)
    return payload
