"""get_json and the Binance fetches (with its status hook): each fault maps to one ExchangeError.

A real httpx.AsyncClient talks to the real fake exchange on loopback; the only
MockTransport is for a 429 without Retry-After, which the fake never sends.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.errors import (
    BadPayloadError,
    ExchangeError,
    ExchangeHTTPError,
    ExchangeTimeoutError,
    ExchangeUnavailableError,
    RateLimitedError,
    RestrictedLocationError,
)
from consumer.exchanges import binance
from consumer.exchanges._http import DEFAULT_RETRY_AFTER, get_json, parse_retry_after
from tests.fake_exchange import BOOK_TICKER_PATH, EXCHANGE_INFO_PATH, FakeBinance, Fault
from tests.procs import free_port

METADATA = binance.parse_metadata(
    {
        "symbols": [
            {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT"}
        ]
    }
)

# What fetching the book ticker raises under each fault: exactly this class.
EXPECTED: dict[Fault, type[ExchangeError] | None] = {
    Fault.NONE: None,
    Fault.HTTP_500: ExchangeHTTPError,
    Fault.HTTP_502_HTML: ExchangeHTTPError,
    Fault.HTTP_429: RateLimitedError,
    Fault.HTTP_418: RateLimitedError,
    Fault.HTTP_451: RestrictedLocationError,
    Fault.HTTP_400: ExchangeHTTPError,
    Fault.SLOW: ExchangeTimeoutError,
    Fault.REFUSED: ExchangeUnavailableError,
    Fault.TRUNCATED: ExchangeUnavailableError,
    Fault.GARBAGE: BadPayloadError,
    Fault.WRONG_SHAPE: BadPayloadError,
    Fault.EMPTY_LIST: BadPayloadError,
    Fault.HTML_200: BadPayloadError,
}


@pytest.fixture
async def client(fake_exchange: FakeBinance) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake_exchange.base_url, timeout=0.5) as http:
        yield http


def test_every_fault_has_an_expected_error() -> None:
    """The mapping table covers every fault the fake can inject (none left unmapped)."""
    assert set(EXPECTED) == set(Fault)


@pytest.mark.parametrize("fault", list(Fault), ids=lambda f: f.name)
async def test_fault_maps_to_its_error(
    fault: Fault, fake_exchange: FakeBinance, client: httpx.AsyncClient
) -> None:
    """Fetching quotes under each fault raises exactly the mapped ExchangeError, nothing else."""
    fake_exchange.set_fault(fault, delay=2.0)
    expected = EXPECTED[fault]
    if expected is None:
        assert len(await binance.fetch_quotes(client, METADATA)) == 1
        return
    with pytest.raises(ExchangeError) as info:
        await binance.fetch_quotes(client, METADATA)
    assert type(info.value) is expected
    assert str(info.value)  # always says what went wrong


@pytest.mark.parametrize("fault", list(Fault), ids=lambda f: f.name)
async def test_metadata_fault_maps_to_its_error(
    fault: Fault, fake_exchange: FakeBinance, client: httpx.AsyncClient
) -> None:
    """Fetching exchangeInfo maps the same faults to the same errors."""
    fake_exchange.set_fault(fault, endpoint=None if fault is Fault.REFUSED else EXCHANGE_INFO_PATH)
    expected = EXPECTED[fault]
    if expected is None:
        assert len(await binance.fetch_metadata(client)) == 2276
        return
    with pytest.raises(ExchangeError) as info:
        await binance.fetch_metadata(client)
    assert type(info.value) is expected


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.HTTP_500, 500),
        (Fault.HTTP_502_HTML, 502),
        (Fault.HTTP_400, 400),
        (Fault.HTTP_429, 429),
        (Fault.HTTP_418, 418),
        (Fault.HTTP_451, 451),
    ],
)
async def test_http_errors_carry_status_and_body(
    fault: Fault, status: int, fake_exchange: FakeBinance, client: httpx.AsyncClient
) -> None:
    """Status errors keep the status and quote the start of the body (for the log line)."""
    fake_exchange.set_fault(fault)
    with pytest.raises(ExchangeHTTPError) as info:
        await get_json(client, BOOK_TICKER_PATH, check_status=binance.check_status)
    assert info.value.status == status
    assert f"answered {status}" in str(info.value)
    if fault is Fault.HTTP_502_HTML:
        assert "502 Bad Gateway" in str(info.value)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("fault", [Fault.HTTP_429, Fault.HTTP_418])
async def test_rate_limit_carries_retry_after(
    fault: Fault, fake_exchange: FakeBinance, client: httpx.AsyncClient
) -> None:
    """429 and 418 carry the server's Retry-After in seconds."""
    fake_exchange.set_fault(fault, retry_after=30)
    with pytest.raises(RateLimitedError) as info:
        await get_json(client, BOOK_TICKER_PATH, check_status=binance.check_status)
    assert info.value.retry_after == 30.0
    assert "Retry-After 30s" in str(info.value)
    assert "-1003" in str(info.value)  # Binance's own code, from the recorded body


async def test_451_suggests_the_market_data_host(
    fake_exchange: FakeBinance, client: httpx.AsyncClient
) -> None:
    """451 (restricted location) tells the operator to use data-api.binance.vision."""
    fake_exchange.set_fault(Fault.HTTP_451)
    with pytest.raises(RestrictedLocationError) as info:
        await get_json(client, BOOK_TICKER_PATH, check_status=binance.check_status)
    assert "BINANCE_BASE_URL=https://data-api.binance.vision" in str(info.value)
    assert info.value.status == 451


async def test_transport_errors_are_chained(
    fake_exchange: FakeBinance, client: httpx.AsyncClient
) -> None:
    """Timeouts and broken connections keep the httpx exception as __cause__."""
    fake_exchange.set_fault(Fault.SLOW, delay=2.0)
    with pytest.raises(ExchangeTimeoutError) as timeout:
        await get_json(client, BOOK_TICKER_PATH, check_status=binance.check_status)
    assert isinstance(timeout.value.__cause__, httpx.TimeoutException)
    fake_exchange.set_fault(Fault.TRUNCATED)
    with pytest.raises(ExchangeUnavailableError) as cut:
        await get_json(client, BOOK_TICKER_PATH, check_status=binance.check_status)
    assert isinstance(cut.value.__cause__, httpx.HTTPError)


async def test_nobody_listening_is_unavailable() -> None:
    """A port with no server is ExchangeUnavailableError (not a timeout)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=1) as http:
        with pytest.raises(ExchangeUnavailableError) as info:
            await get_json(http, BOOK_TICKER_PATH, check_status=binance.check_status)
    assert type(info.value) is ExchangeUnavailableError


async def test_html_body_names_its_content_type(
    fake_exchange: FakeBinance, client: httpx.AsyncClient
) -> None:
    """A 200 HTML page is BadPayloadError that says it was text/html, with a snippet."""
    fake_exchange.set_fault(Fault.HTML_200)
    with pytest.raises(BadPayloadError, match="not JSON \\(text/html\\)") as info:
        await get_json(client, BOOK_TICKER_PATH, check_status=binance.check_status)
    assert "System maintenance" in str(info.value)


async def test_json_of_any_shape_is_returned(
    fake_exchange: FakeBinance, client: httpx.AsyncClient
) -> None:
    """get_json only decodes: shape checks belong to the adapter's parse functions."""
    fake_exchange.set_fault(Fault.WRONG_SHAPE)
    assert await get_json(client, BOOK_TICKER_PATH) == {"unexpected": True}
    fake_exchange.set_fault(Fault.EMPTY_LIST)
    assert await get_json(client, BOOK_TICKER_PATH) == []


# -- Retry-After ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30", 30.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("259200", 259200.0),
        (None, DEFAULT_RETRY_AFTER),
        ("", DEFAULT_RETRY_AFTER),
        ("soon", DEFAULT_RETRY_AFTER),
        ("Wed, 21 Oct 2026 07:28:00 GMT", DEFAULT_RETRY_AFTER),
        ("-1", DEFAULT_RETRY_AFTER),
        ("nan", DEFAULT_RETRY_AFTER),
        ("inf", DEFAULT_RETRY_AFTER),
        ("259201", DEFAULT_RETRY_AFTER),
    ],
)
def test_parse_retry_after(raw: str | None, expected: float) -> None:
    """Delta-seconds are used as sent; missing, garbage or absurd values mean 60 s."""
    assert parse_retry_after(raw) == expected
    assert DEFAULT_RETRY_AFTER == 60.0


@given(st.one_of(st.none(), st.text(max_size=20)))
def test_parse_retry_after_is_total(raw: str | None) -> None:
    """Any header value gives a finite wait between 0 and 3 days."""
    value = parse_retry_after(raw)
    assert math.isfinite(value)
    assert 0 <= value <= 3 * 86400


@pytest.mark.parametrize("status", [429, 418])
async def test_missing_retry_after_waits_a_minute(status: int) -> None:
    """A 429/418 whose Retry-After was stripped (a proxy) waits the default 60 s."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"code": -1003, "msg": "Too much request weight used"})

    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport, base_url="http://binance.test") as http:
        with pytest.raises(RateLimitedError) as info:
            await get_json(http, BOOK_TICKER_PATH, check_status=binance.check_status)
    assert info.value.retry_after == DEFAULT_RETRY_AFTER
    assert info.value.status == status
