"""Pins the behaviour of tests/fake_exchange.py that other tests rely on."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.fake_exchange import (
    BOOK_TICKER_PATH,
    EXCHANGE_INFO_PATH,
    FIXTURES,
    FakeBinance,
    Fault,
    RecordedRequest,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
ERROR_429 = (FIXTURES / "error_-1003_429_too_much_weight.json").read_bytes()
ERROR_418 = (FIXTURES / "error_-1003_418_ip_banned.json").read_bytes()


def _read_into(response: httpx.Response, sink: list[bytes]) -> None:
    for chunk in response.iter_bytes():
        sink.append(chunk)


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as server:
        yield server


@pytest.fixture
def client(fake: FakeBinance) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=5.0) as http:
        yield http


# -- normal payloads ----------------------------------------------------------


def test_exchange_info_serves_trimmed_recording(client: httpx.Client) -> None:
    """GET exchangeInfo answers 200 JSON with the 2,276 trimmed symbols."""
    response = client.get(EXCHANGE_INFO_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    doc = response.json()
    assert list(doc) == ["timezone", "serverTime", "rateLimits", "symbols"]
    assert doc["serverTime"] == 1691945251489
    assert len(doc["symbols"]) == 2276
    assert doc["symbols"][0] == {
        "symbol": "ETHBTC",
        "status": "TRADING",
        "baseAsset": "ETH",
        "quoteAsset": "BTC",
    }


def test_book_ticker_serves_all_symbols(client: httpx.Client) -> None:
    """GET bookTicker answers 200 JSON: 2,161 entries with exactly the five bookTicker fields."""
    response = client.get(BOOK_TICKER_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    entries = response.json()
    assert len(entries) == 2161
    assert {tuple(e) for e in entries} == {("symbol", "bidPrice", "bidQty", "askPrice", "askQty")}


def test_fixture_pair_has_1261_quotable_symbols(client: httpx.Client) -> None:
    """The served pair has 1,261 symbols TRADING, present in both, with bid > 0 and ask > 0."""
    status = {s["symbol"]: s["status"] for s in client.get(EXCHANGE_INFO_PATH).json()["symbols"]}
    quotable = [
        e["symbol"]
        for e in client.get(BOOK_TICKER_PATH).json()
        if status.get(e["symbol"]) == "TRADING"
        and Decimal(e["bidPrice"]) > 0
        and Decimal(e["askPrice"]) > 0
    ]
    assert len(quotable) == 1261
    assert "BTCUSDT" in quotable


def test_query_string_is_ignored_for_routing(client: httpx.Client) -> None:
    """A query string does not change routing; it is kept separately in the record."""
    response = client.get(BOOK_TICKER_PATH, params={"symbol": "BTCUSDT"})
    assert response.status_code == 200
    assert len(response.json()) == 2161


def test_unknown_path_is_binance_style_404(fake: FakeBinance, client: httpx.Client) -> None:
    """Unknown paths and non-GET methods answer a {"code","msg"} JSON 404, even under a fault."""
    fake.set_fault(Fault.HTTP_500)
    response = client.get("/api/v3/ticker/price")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "msg"}
    assert isinstance(body["code"], int)
    assert client.post(BOOK_TICKER_PATH).status_code == 404


def test_constructor_payloads_and_set_book_ticker() -> None:
    """Payloads given to the constructor or set_book_ticker are served verbatim."""
    with (
        FakeBinance(exchange_info=b'{"symbols":[]}', book_ticker=b"[1]") as custom,
        httpx.Client(base_url=custom.base_url) as http,
    ):
        assert http.get(EXCHANGE_INFO_PATH).content == b'{"symbols":[]}'
        assert http.get(BOOK_TICKER_PATH).content == b"[1]"
        custom.set_book_ticker(b'[{"symbol":"BTCUSDT"}]')
        response = http.get(BOOK_TICKER_PATH)
        assert response.content == b'[{"symbol":"BTCUSDT"}]'
        assert response.headers["content-length"] == str(len(response.content))


# -- faults -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "body"),
    [
        (
            Fault.HTTP_500,
            500,
            b'{"code":-1000,"msg":"An unknown error occured while processing the request."}',
        ),
        (Fault.HTTP_400, 400, b'{"code":-1121,"msg":"Invalid symbol."}'),
        (
            Fault.HTTP_451,
            451,
            b'{"code":0,"msg":"Service unavailable from a restricted location according to '
            b"'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer "
            b'service if you believe you received this message in error."}',
        ),
        (Fault.GARBAGE, 200, b"\x00\xff garbage {{{"),
        (Fault.EMPTY_LIST, 200, b"[]"),
    ],
)
def test_json_content_type_faults(
    fake: FakeBinance, client: httpx.Client, fault: Fault, status: int, body: bytes
) -> None:
    """Each JSON-typed fault answers its documented status and exact body on every endpoint."""
    fake.set_fault(fault)
    for path in (EXCHANGE_INFO_PATH, BOOK_TICKER_PATH):
        response = client.get(path)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert response.content == body


def test_garbage_is_not_json(fake: FakeBinance, client: httpx.Client) -> None:
    """GARBAGE is a 200 application/json response that does not parse as JSON."""
    fake.set_fault(Fault.GARBAGE)
    response = client.get(BOOK_TICKER_PATH)
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.parametrize(
    ("fault", "status", "title"),
    [(Fault.HTTP_502_HTML, 502, b"<title>502 Bad Gateway</title>"), (Fault.HTML_200, 200, None)],
)
def test_html_faults(
    fake: FakeBinance, client: httpx.Client, fault: Fault, status: int, title: bytes | None
) -> None:
    """HTTP_502_HTML and HTML_200 answer an HTML page with text/html."""
    fake.set_fault(fault)
    response = client.get(BOOK_TICKER_PATH)
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html"
    assert response.content.lstrip().lower().startswith((b"<html>", b"<!doctype html>"))
    if title is not None:
        assert response.content.startswith(b"<html><head>" + title)


@pytest.mark.parametrize(
    ("fault", "status", "body"),
    [(Fault.HTTP_429, 429, ERROR_429), (Fault.HTTP_418, 418, ERROR_418)],
)
def test_rate_limit_faults_send_retry_after(
    fake: FakeBinance, client: httpx.Client, fault: Fault, status: int, body: bytes
) -> None:
    """HTTP_429/HTTP_418 answer that status, Retry-After: <retry_after>, and the recorded body."""
    fake.set_fault(fault, retry_after=7)
    response = client.get(BOOK_TICKER_PATH)
    assert response.status_code == status
    assert response.headers["retry-after"] == "7"
    assert response.content == body
    assert response.json()["code"] == -1003


def test_rate_limit_retry_after_default(fake: FakeBinance, client: httpx.Client) -> None:
    """Retry-After defaults to 2 seconds."""
    fake.set_fault(Fault.HTTP_429)
    assert client.get(EXCHANGE_INFO_PATH).headers["retry-after"] == "2"


def test_wrong_shape(fake: FakeBinance, client: httpx.Client) -> None:
    """WRONG_SHAPE serves a JSON object for bookTicker and a JSON list for exchangeInfo."""
    fake.set_fault(Fault.WRONG_SHAPE)
    ticker = client.get(BOOK_TICKER_PATH)
    info = client.get(EXCHANGE_INFO_PATH)
    assert (ticker.status_code, info.status_code) == (200, 200)
    assert ticker.json() == {"unexpected": True}
    assert isinstance(info.json(), list)


def test_fault_on_one_endpoint_leaves_the_other_normal(
    fake: FakeBinance, client: httpx.Client
) -> None:
    """set_fault(endpoint=...) faults only that path; the other endpoint serves normally."""
    fake.set_fault(Fault.HTTP_500, endpoint=BOOK_TICKER_PATH)
    assert client.get(BOOK_TICKER_PATH).status_code == 500
    info = client.get(EXCHANGE_INFO_PATH)
    assert info.status_code == 200
    assert len(info.json()["symbols"]) == 2276


def test_set_fault_replaces_and_clear_fault_restores(
    fake: FakeBinance, client: httpx.Client
) -> None:
    """Only one fault is active at a time, and clear_fault() restores the recordings."""
    fake.set_fault(Fault.HTTP_500)
    fake.set_fault(Fault.EMPTY_LIST)
    assert client.get(BOOK_TICKER_PATH).content == b"[]"
    fake.clear_fault()
    assert len(client.get(BOOK_TICKER_PATH).json()) == 2161


def test_set_fault_rejects_bad_arguments(fake: FakeBinance) -> None:
    """set_fault rejects unknown endpoints and a per-endpoint REFUSED."""
    with pytest.raises(ValueError, match="unknown endpoint"):
        fake.set_fault(Fault.HTTP_500, endpoint="/api/v3/ticker/bookTicker?symbol=BTCUSDT")
    with pytest.raises(ValueError, match="whole server"):
        fake.set_fault(Fault.REFUSED, endpoint=BOOK_TICKER_PATH)


def test_refused_then_clear_fault_serves_on_same_port(
    fake: FakeBinance, client: httpx.Client
) -> None:
    """REFUSED refuses new and kept-alive connections; clear_fault re-binds the same port."""
    port, base_url = fake.port, fake.base_url
    assert client.get(BOOK_TICKER_PATH).status_code == 200  # leaves a pooled connection
    fake.set_fault(Fault.REFUSED)
    with pytest.raises(httpx.ConnectError):
        client.get(BOOK_TICKER_PATH)
    with httpx.Client(timeout=1.0) as fresh, pytest.raises(httpx.ConnectError):
        fresh.get(base_url + EXCHANGE_INFO_PATH)
    fake.clear_fault()
    assert (fake.port, fake.base_url) == (port, base_url)
    assert client.get(BOOK_TICKER_PATH).status_code == 200


def test_refused_left_by_setting_another_fault(fake: FakeBinance, client: httpx.Client) -> None:
    """Setting another fault while REFUSED re-binds the port and applies the new fault."""
    fake.set_fault(Fault.REFUSED)
    fake.set_fault(Fault.HTTP_429)
    assert client.get(BOOK_TICKER_PATH).status_code == 429


def test_refused_is_not_recorded(fake: FakeBinance, client: httpx.Client) -> None:
    """Refused connection attempts never reach the fake, so they are not recorded."""
    fake.set_fault(Fault.REFUSED)
    with pytest.raises(httpx.ConnectError):
        client.get(BOOK_TICKER_PATH)
    assert fake.requests == []


def test_truncated_body(fake: FakeBinance, client: httpx.Client) -> None:
    """TRUNCATED sends the full Content-Length but only half the body, then closes."""
    fake.set_fault(Fault.TRUNCATED)
    expected = len((FIXTURES / "bookTicker_from_ticker_24hr_2023-03-10.json").read_bytes())
    chunks: list[bytes] = []
    with client.stream("GET", BOOK_TICKER_PATH) as response:
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == expected
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            _read_into(response, chunks)
    assert 0 < sum(map(len, chunks)) < expected
    fake.clear_fault()
    assert client.get(BOOK_TICKER_PATH).status_code == 200  # client recovers


def test_slow_times_out_a_short_client_timeout(fake: FakeBinance, client: httpx.Client) -> None:
    """SLOW makes a client with a shorter timeout raise httpx.ReadTimeout."""
    fake.set_fault(Fault.SLOW, delay=1.0)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.get(BOOK_TICKER_PATH, timeout=0.2)
    assert time.monotonic() - started < 0.9


def test_slow_answers_normally_without_blocking_others(fake: FakeBinance) -> None:
    """A SLOW request answers normally after `delay` while other requests are served meanwhile."""
    fake.set_fault(Fault.SLOW, endpoint=BOOK_TICKER_PATH, delay=1.0)
    results: list[tuple[int, int, float]] = []

    def slow_request() -> None:
        with httpx.Client(base_url=fake.base_url, timeout=5.0) as http:
            started = time.monotonic()
            response = http.get(BOOK_TICKER_PATH)
            results.append((response.status_code, len(response.json()), time.monotonic() - started))

    worker = threading.Thread(target=slow_request)
    worker.start()
    try:
        deadline = time.monotonic() + 2.0
        while not fake.requests_to(BOOK_TICKER_PATH) and time.monotonic() < deadline:
            time.sleep(0.01)
        with httpx.Client(base_url=fake.base_url, timeout=0.5) as http:
            assert http.get(EXCHANGE_INFO_PATH).status_code == 200
        assert results == []  # the slow one is still sleeping
    finally:
        worker.join(timeout=5.0)
    [(status, count, elapsed)] = results
    assert (status, count) == (200, 2161)
    assert elapsed >= 0.9


def test_stop_is_prompt_while_slow_handler_sleeps() -> None:
    """stop() returns promptly even while a SLOW handler is sleeping."""
    fake = FakeBinance().start()
    try:
        fake.set_fault(Fault.SLOW, delay=5.0)
        with httpx.Client(base_url=fake.base_url) as http, pytest.raises(httpx.ReadTimeout):
            http.get(BOOK_TICKER_PATH, timeout=0.2)
    finally:
        started = time.monotonic()
        fake.stop()
    assert time.monotonic() - started < 1.0


def test_stop_cuts_idle_keep_alive_connections() -> None:
    """stop() returns promptly with an idle kept-alive connection open, which is then refused."""
    fake = FakeBinance().start()
    with httpx.Client(base_url=fake.base_url, timeout=1.0) as http:
        try:
            assert http.get(BOOK_TICKER_PATH).status_code == 200
        finally:
            started = time.monotonic()
            fake.stop()
        assert time.monotonic() - started < 1.0
        with pytest.raises(httpx.ConnectError):
            http.get(BOOK_TICKER_PATH)


# -- recording ----------------------------------------------------------------


def test_requests_are_recorded(fake: FakeBinance, client: httpx.Client) -> None:
    """Every answered request is recorded in order with method, path, query, status and times."""
    before_wall = time.time()
    client.get(EXCHANGE_INFO_PATH)
    fake.set_fault(Fault.HTTP_429, endpoint=BOOK_TICKER_PATH)
    client.get(BOOK_TICKER_PATH, params={"symbol": "BTCUSDT"})
    fake.set_fault(Fault.TRUNCATED)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(BOOK_TICKER_PATH)
    client.get("/nope")

    assert [(r.method, r.path, r.query, r.status) for r in fake.requests] == [
        ("GET", EXCHANGE_INFO_PATH, "", 200),
        ("GET", BOOK_TICKER_PATH, "symbol=BTCUSDT", 429),
        ("GET", BOOK_TICKER_PATH, "", 200),
        ("GET", "/nope", "", 404),
    ]
    monotonic = [r.monotonic for r in fake.requests]
    assert monotonic == sorted(monotonic)
    assert all(before_wall <= r.wall <= time.time() for r in fake.requests)
    assert [r.status for r in fake.requests_to(BOOK_TICKER_PATH)] == [429, 200]
    assert fake.requests_to("/api/v3/ping") == []


def test_recorded_request_is_frozen() -> None:
    """RecordedRequest is an immutable value."""
    entry = RecordedRequest(1.0, 2.0, "GET", BOOK_TICKER_PATH, 200)
    with pytest.raises(AttributeError):
        entry.status = 500  # type: ignore[misc]


# -- lifecycle and CLI ----------------------------------------------------------


def test_port_unknown_before_start() -> None:
    """port/base_url raise before start() when the port is 0 (ephemeral)."""
    fake = FakeBinance()
    with pytest.raises(RuntimeError):
        _ = fake.base_url


def test_restart_after_stop_reuses_port() -> None:
    """A stopped fake can be started again, on the same port; stop() is idempotent."""
    fake = FakeBinance().start()
    port = fake.port
    fake.stop()
    fake.stop()
    fake.start()
    try:
        with httpx.Client(base_url=fake.base_url) as http:
            assert http.get(BOOK_TICKER_PATH).status_code == 200
        assert fake.port == port
    finally:
        fake.stop()


def test_cli_serves_until_interrupted() -> None:
    """`python -m tests.fake_exchange --fault NAME` prints its URL, serves, exits 0 on Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_exchange", "--port", "0", "--fault", "http_500"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base_url = line.split()[4]
        assert base_url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=base_url, timeout=5.0) as http:
            assert http.get(BOOK_TICKER_PATH).status_code == 500
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "served 1 requests" in out
    assert err == ""
