"""get_json's `check_body` hook: a venue maps a body error with the response's headers at hand.

Requests go through a real httpx.AsyncClient over an httpx.MockTransport.
"""

from __future__ import annotations

import httpx
import pytest

from consumer.errors import ExchangeHTTPError, RateLimitedError
from consumer.exchanges import bybit, kraken
from consumer.exchanges._http import get_json


def client(status: int, body: bytes, **headers: str) -> httpx.AsyncClient:
    """A client whose every request is answered with `status`, `body` and `headers`."""
    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers=headers)
    )
    return httpx.AsyncClient(transport=transport, base_url="https://venue.test")


async def test_check_body_sees_the_decoded_payload_and_the_response() -> None:
    """The hook gets the decoded JSON and the response it came in; what it raises propagates."""
    seen: list[tuple[object, int, str | None]] = []

    def hook(payload: object, response: httpx.Response) -> None:
        seen.append((payload, response.status_code, response.headers.get("X-Limit")))

    async with client(200, b'{"ok": [1]}', **{"X-Limit": "5"}) as http:
        assert await get_json(http, "/p", check_body=hook) == {"ok": [1]}
    assert seen == [({"ok": [1]}, 200, "5")]

    def refuse(payload: object, response: httpx.Response) -> None:
        raise RateLimitedError("limited", response.status_code, 1.0)

    async with client(200, b"{}") as http:
        with pytest.raises(RateLimitedError):
            await get_json(http, "/p", check_body=refuse)


async def test_check_body_is_not_called_for_an_error_status() -> None:
    """A status >= 400 is mapped before the body is decoded, so the hook never runs."""
    calls: list[object] = []
    async with client(500, b'{"error": []}') as http:
        with pytest.raises(ExchangeHTTPError):
            await get_json(http, "/p", check_body=lambda p, r: calls.append(p))
    assert calls == []


@pytest.mark.parametrize("code", sorted(kraken.RATE_LIMIT_ERRORS))
async def test_kraken_rate_limit_body_honours_a_retry_after(code: str) -> None:
    """A Kraken rate-limit body at HTTP 200 with Retry-After: 90 pauses 90 s, naming the path."""
    body = f'{{"error": ["{code}"]}}'.encode()
    async with client(200, body, **{"Retry-After": "90"}) as http:
        with pytest.raises(RateLimitedError) as caught:
            await kraken.fetch_quotes(http, {})
    assert (caught.value.status, caught.value.retry_after) == (200, 90.0)
    assert f"kraken GET {kraken.TICKER_PATH} answered errors ['{code}']" in str(caught.value)


async def test_bybit_rate_limit_body_uses_the_reset_header_of_its_response() -> None:
    """Bybit's retCode 10006 pauses until the reset header, measured on the body's own clock."""
    body = b'{"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "time": 1000}'
    async with client(200, body, **{bybit.RESET_HEADER: "8000"}) as http:
        with pytest.raises(RateLimitedError) as caught:
            await bybit.fetch_quotes(http, {})
    assert (caught.value.status, caught.value.retry_after) == (200, 7.0)
