"""Pins every fault of every fake venue over real HTTP: status, content type, body, headers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.fakes import KNOWN_VENUES, BinanceFault, FakeVenue, Fault
from tests.fakes import binance as bn
from tests.fakes import bybit as by
from tests.fakes import kraken as kr
from tests.fakes import okx as ok
from tests.fakes.venue import PROFILES

# Parameters under which each path answers 200 normally.
VALID: dict[str, dict[str, str]] = {
    bn.EXCHANGE_INFO_PATH: {},
    bn.BOOK_TICKER_PATH: {},
    bn.TICKER_24HR_PATH: {},
    bn.DEPTH_PATH: {"symbol": "BTCUSDT", "limit": "5"},
    kr.ASSET_PAIRS_PATH: {},
    kr.TICKER_PATH: {},
    kr.DEPTH_PATH: {"pair": "XBTUSDT", "count": "5"},
    by.INSTRUMENTS_PATH: {"category": "spot"},
    by.TICKERS_PATH: {"category": "spot"},
    by.ORDERBOOK_PATH: {"category": "spot", "symbol": "BTCUSDT", "limit": "5"},
    ok.INSTRUMENTS_PATH: {"instType": "SPOT"},
    ok.TICKERS_PATH: {"instType": "SPOT"},
    ok.BOOKS_PATH: {"instId": "BTC-USDT", "sz": "5"},
}

Check = Callable[[bytes], bool]


def _json(expected: object) -> Check:
    return lambda body: json.loads(body) == expected


def _has(key: str, value: object) -> Check:
    return lambda body: json.loads(body)[key] == value


def _contains(text: bytes) -> Check:
    return lambda body: text in body


CLOUDFRONT = _contains(b"configured to block access from your country")
BYBIT_OK = {"retCode": 0, "retMsg": "OK", "retExtInfo": {}, "time": 1787848767275}
JSON, HTML, TEXT = "application/json", "text/html", "text/plain"

# (venue, fault) -> (status, content type, check of the body), on every path it touches.
EXPECTED: dict[tuple[str, Fault], tuple[int, str, Check]] = {
    ("binance", Fault.HTTP_500): (500, JSON, _has("code", -1000)),
    ("binance", Fault.RATE_LIMITED): (429, JSON, _has("code", -1003)),
    ("binance", Fault.RATE_LIMITED_ALT): (418, JSON, _contains(b"IP banned until")),
    ("binance", Fault.GEO_BLOCKED): (451, JSON, _contains(b"restricted location")),
    ("binance", Fault.BAD_REQUEST): (400, JSON, _json({"code": -1121, "msg": "Invalid symbol."})),
    ("kraken", Fault.HTTP_500): (500, JSON, _json({"error": ["EGeneral:Internal error"]})),
    ("kraken", Fault.RATE_LIMITED): (200, JSON, _json({"error": ["EAPI:Rate limit exceeded"]})),
    ("kraken", Fault.RATE_LIMITED_ALT): (
        200,
        JSON,
        _json({"error": ["EGeneral:Too many requests"]}),
    ),
    ("kraken", Fault.BODY_ERROR): (
        200,
        JSON,
        _json({"error": ["EService:Unavailable"], "result": {}}),
    ),
    ("kraken", Fault.BAD_REQUEST): (200, JSON, _json({"error": ["EGeneral:Invalid arguments"]})),
    ("kraken", Fault.WRONG_SHAPE): (200, JSON, _json({"error": [], "result": ["unexpected"]})),
    ("kraken", Fault.EMPTY): (200, JSON, _json({"error": [], "result": {}})),
    ("bybit", Fault.HTTP_500): (500, JSON, _has("retCode", 10016)),
    ("bybit", Fault.RATE_LIMITED): (200, JSON, _has("retMsg", "Too many visits!")),
    ("bybit", Fault.RATE_LIMITED_ALT): (403, TEXT, lambda body: body == b"access too frequent"),
    ("bybit", Fault.BODY_ERROR): (200, JSON, _has("retCode", 10016)),
    ("bybit", Fault.GEO_BLOCKED): (403, HTML, CLOUDFRONT),
    ("bybit", Fault.BAD_REQUEST): (200, JSON, _has("retCode", 10001)),
    ("bybit", Fault.WRONG_SHAPE): (200, JSON, _json({**BYBIT_OK, "result": {"unexpected": True}})),
    ("okx", Fault.HTTP_500): (500, JSON, _has("code", "50026")),
    ("okx", Fault.RATE_LIMITED): (429, JSON, _json({"msg": "Too Many Requests", "code": "50011"})),
    ("okx", Fault.BODY_ERROR): (
        200,
        JSON,
        _json(
            {"code": "50001", "msg": "Service temporarily unavailable. Try again later", "data": []}
        ),
    ),
    ("okx", Fault.GEO_BLOCKED): (403, HTML, CLOUDFRONT),
    ("okx", Fault.BAD_REQUEST): (400, JSON, _has("code", "51000")),
    ("okx", Fault.WRONG_SHAPE): (
        200,
        JSON,
        _json({"code": "0", "msg": "", "data": {"unexpected": True}}),
    ),
    ("okx", Fault.EMPTY): (200, JSON, _json({"code": "0", "msg": "", "data": []})),
}
for _name in KNOWN_VENUES:
    EXPECTED[_name, Fault.HTTP_502_HTML] = (502, HTML, _contains(b"<title>502 Bad Gateway</title>"))
    EXPECTED[_name, Fault.GARBAGE] = (200, JSON, lambda body: body == b"\x00\xff garbage {{{")
    _title = PROFILES[_name].title
    EXPECTED[_name, Fault.HTML_200] = (200, HTML, _contains(f"<title>{_title} - ".encode()))

# Faults whose answer depends on the path: checked path by path below.
PER_PATH = {
    ("binance", Fault.WRONG_SHAPE),
    ("binance", Fault.EMPTY),
    ("bybit", Fault.EMPTY),
    ("kraken", Fault.PARTIAL_RESULT),
}
# The normal answer, transformed: pinned by their own tests below.
TRANSPORT = {Fault.NONE, Fault.SLOW, Fault.REFUSED, Fault.TRUNCATED}
CASES = sorted(EXPECTED, key=lambda case: (case[0], case[1].value))


@pytest.fixture
def client_for() -> Iterator[Callable[[FakeVenue], httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(fake: FakeVenue) -> httpx.Client:
        clients.append(httpx.Client(base_url=fake.base_url, timeout=5.0))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def test_every_supported_fault_is_pinned() -> None:
    """Every (venue, fault) a venue supports is in EXPECTED, PER_PATH or TRANSPORT."""
    supported = {(name, f) for name, profile in PROFILES.items() for f in profile().faults}
    covered = set(EXPECTED) | PER_PATH | {(n, f) for n in KNOWN_VENUES for f in TRANSPORT}
    assert supported == covered


@pytest.mark.parametrize(("name", "fault"), CASES, ids=lambda v: getattr(v, "name", v))
def test_fault_answer_on_every_path(
    name: str, fault: Fault, client_for: Callable[[FakeVenue], httpx.Client]
) -> None:
    """Under the fault, every path of the venue answers the venue's own status and body."""
    status, content_type, check = EXPECTED[name, fault]
    with FakeVenue(name) as fake:
        fake.set_fault(fault)
        http = client_for(fake)
        for path in fake.paths:
            response = http.get(path, params=VALID[path])
            assert (path, response.status_code) == (path, status)
            assert response.headers["content-type"] == content_type
            assert check(response.content), (path, response.content[:300])


def test_unsupported_faults_are_refused() -> None:
    """set_fault refuses a fault the venue has no answer for, naming the venue."""
    for name, profile in PROFILES.items():
        for fault in set(Fault) - profile().faults:
            with pytest.raises(ValueError, match=f"{name} has no {fault.name}"):
                FakeVenue(name).set_fault(fault)


def test_binance_wrong_shape_and_empty_per_path(
    client_for: Callable[[FakeVenue], httpx.Client],
) -> None:
    """Binance WRONG_SHAPE swaps object and list per path; EMPTY is [] or an empty book."""
    with FakeVenue("binance") as fake:
        http = client_for(fake)
        fake.set_fault(Fault.WRONG_SHAPE)
        shapes = {p: type(http.get(p, params=VALID[p]).json()) for p in fake.paths}
        assert shapes == {
            bn.EXCHANGE_INFO_PATH: list,
            bn.BOOK_TICKER_PATH: dict,
            bn.TICKER_24HR_PATH: dict,
            bn.DEPTH_PATH: list,
        }
        fake.set_fault(Fault.EMPTY)
        empties = {p: http.get(p, params=VALID[p]).json() for p in fake.paths}
        assert empties == {
            bn.EXCHANGE_INFO_PATH: [],
            bn.BOOK_TICKER_PATH: [],
            bn.TICKER_24HR_PATH: [],
            bn.DEPTH_PATH: {"lastUpdateId": 0, "bids": [], "asks": []},
        }


def test_bybit_empty_per_path(client_for: Callable[[FakeVenue], httpx.Client]) -> None:
    """Bybit EMPTY is an empty `list`, or for orderbook a book with no levels."""
    with FakeVenue("bybit") as fake:
        fake.set_fault(Fault.EMPTY)
        http = client_for(fake)
        for path in (by.INSTRUMENTS_PATH, by.TICKERS_PATH):
            body = http.get(path, params=VALID[path]).json()
            assert body == {**BYBIT_OK, "result": {"category": "spot", "list": []}}
        book = http.get(by.ORDERBOOK_PATH, params=VALID[by.ORDERBOOK_PATH]).json()["result"]
        assert (book["s"], book["a"], book["b"]) == ("BTCUSDT", [], [])


def test_kraken_partial_result_touches_only_the_ticker(
    client_for: Callable[[FakeVenue], httpx.Client],
) -> None:
    """PARTIAL_RESULT serves the recorded 16-pair Ticker and its EQuery error; others are normal."""
    with FakeVenue("kraken") as fake:
        with pytest.raises(ValueError, match="applies only to"):
            fake.set_fault(Fault.PARTIAL_RESULT, endpoint=kr.ASSET_PAIRS_PATH)
        fake.set_fault(Fault.PARTIAL_RESULT)
        http = client_for(fake)
        ticker = http.get(kr.TICKER_PATH)
        assert ticker.content == kr.PARTIAL_TICKER_FIXTURE.read_bytes()
        doc = ticker.json()
        assert (doc["error"], len(doc["result"])) == (["EQuery:Unknown asset pair"], 16)
        assert http.get(kr.ASSET_PAIRS_PATH).json()["error"] == []
        assert http.get(kr.DEPTH_PATH, params=VALID[kr.DEPTH_PATH]).json()["error"] == []


RATE_LIMITS = sorted(
    ((n, f) for n, p in PROFILES.items() for f in p().faults if f.name.startswith("RATE_LIMITED")),
    key=lambda case: (case[0], case[1].value),
)


@pytest.mark.parametrize(("name", "fault"), RATE_LIMITS, ids=lambda v: getattr(v, "name", v))
def test_rate_limit_with_and_without_retry_after(
    name: str, fault: Fault, client_for: Callable[[FakeVenue], httpx.Client]
) -> None:
    """retry_after=N sends Retry-After: N (Bybit also its reset time); None sends no hint."""
    with FakeVenue(name) as fake:
        http = client_for(fake)
        path = fake.profile.quotes_path
        fake.set_fault(fault, retry_after=7)
        headers = http.get(path, params=VALID[path]).headers
        assert headers["retry-after"] == "7"
        if name == "bybit":
            assert headers["x-bapi-limit-reset-timestamp"] == str(1787848767275 + 7000)
        fake.set_fault(fault, retry_after=None)
        headers = http.get(path, params=VALID[path]).headers
        assert "retry-after" not in headers
        assert "x-bapi-limit-reset-timestamp" not in headers


@pytest.mark.parametrize("name", KNOWN_VENUES)
def test_slow_times_out_then_answers_normally(name: str) -> None:
    """SLOW makes a short-timeout client time out, and answers normally after `delay`."""
    with FakeVenue(name) as fake:
        path = fake.profile.metadata_path
        fake.set_fault(Fault.SLOW, delay=0.6)
        with (
            httpx.Client(base_url=fake.base_url, timeout=0.2) as hasty,
            pytest.raises(httpx.ReadTimeout),
        ):
            hasty.get(path, params=VALID[path])
        with httpx.Client(base_url=fake.base_url, timeout=5.0) as patient:
            started = time.monotonic()
            response = patient.get(path, params=VALID[path])
            assert time.monotonic() - started >= 0.5
        assert response.content == fake.profile.default_bodies()[path]


@pytest.mark.parametrize("name", KNOWN_VENUES)
def test_refused_then_clear_fault_rebinds_same_port(
    name: str, client_for: Callable[[FakeVenue], httpx.Client]
) -> None:
    """REFUSED refuses connections to that venue only; clear_fault serves on the same port."""
    with FakeVenue(name) as fake, FakeVenue("binance") as other:
        port, path = fake.port, fake.profile.metadata_path
        fake.set_fault(Fault.REFUSED)
        with pytest.raises(httpx.ConnectError):
            client_for(fake).get(path, params=VALID[path])
        assert client_for(other).get(bn.EXCHANGE_INFO_PATH).status_code == 200
        fake.clear_fault()
        assert fake.port == port
        assert client_for(fake).get(path, params=VALID[path]).status_code == 200


@pytest.mark.parametrize("name", KNOWN_VENUES)
def test_truncated_sends_half_the_quotes_body(name: str) -> None:
    """TRUNCATED announces the full quotes body but sends half of it, then closes."""
    with FakeVenue(name) as fake, httpx.Client(base_url=fake.base_url, timeout=5.0) as http:
        path = fake.profile.quotes_path
        expected = len(fake.profile.default_bodies()[path])
        fake.set_fault(Fault.TRUNCATED)
        received: list[bytes] = []
        with http.stream("GET", path, params=VALID[path]) as response:
            assert int(response.headers["content-length"]) == expected
            with pytest.raises(httpx.RemoteProtocolError):
                received.extend(response.iter_bytes())
        assert 0 < sum(map(len, received)) < expected


@pytest.mark.parametrize("name", KNOWN_VENUES)
def test_fault_on_one_endpoint_leaves_others_normal(
    name: str, client_for: Callable[[FakeVenue], httpx.Client]
) -> None:
    """set_fault(endpoint=quotes) faults only the quotes path; metadata serves the recording."""
    with FakeVenue(name) as fake:
        quotes, metadata = fake.profile.quotes_path, fake.profile.metadata_path
        fake.set_fault(Fault.HTTP_500, endpoint=quotes)
        http = client_for(fake)
        assert http.get(quotes, params=VALID[quotes]).status_code == 500
        assert (
            http.get(metadata, params=VALID[metadata]).content
            == (fake.profile.default_bodies()[metadata])
        )


def test_fault_wins_over_a_bad_query(client_for: Callable[[FakeVenue], httpx.Client]) -> None:
    """A content fault answers even when the query would have been a bad request."""
    with FakeVenue("okx") as fake:
        fake.set_fault(Fault.HTTP_500)
        assert client_for(fake).get(ok.TICKERS_PATH).status_code == 500


def test_set_fault_argument_checks() -> None:
    """set_fault rejects unknown endpoints, a per-endpoint REFUSED and a negative retry_after."""
    fake = FakeVenue("bybit")
    with pytest.raises(ValueError, match="unknown endpoint"):
        fake.set_fault(Fault.HTTP_500, endpoint=bn.BOOK_TICKER_PATH)
    with pytest.raises(ValueError, match="whole server"):
        fake.set_fault(Fault.REFUSED, endpoint=by.TICKERS_PATH)
    with pytest.raises(ValueError, match="retry_after"):
        fake.set_fault(Fault.RATE_LIMITED, retry_after=-1)


def test_legacy_binance_fault_names(client_for: Callable[[FakeVenue], httpx.Client]) -> None:
    """The original names map to the venue-neutral faults; status names stay Binance-only."""
    with FakeVenue("binance") as fake:
        fake.set_fault(BinanceFault.HTTP_418)
        assert client_for(fake).get(bn.BOOK_TICKER_PATH).status_code == 418
    kraken = FakeVenue("kraken")
    with pytest.raises(ValueError, match=r"use Fault\.RATE_LIMITED"):
        kraken.set_fault(BinanceFault.HTTP_429)
    kraken.set_fault(BinanceFault.EMPTY_LIST)  # a neutral name: EMPTY on any venue


def test_faults_switch_while_requests_run() -> None:
    """Faults switched from another thread while serving give whole answers, never a mix."""
    with FakeVenue("kraken") as fake, httpx.Client(base_url=fake.base_url, timeout=5.0) as http:

        def flip() -> None:
            for fault in (Fault.BODY_ERROR, Fault.NONE) * 20:
                fake.set_fault(fault)

        flips = threading.Thread(target=flip)
        flips.start()
        bodies = {http.get(kr.TICKER_PATH).content for _ in range(20)}
        flips.join()
    assert bodies <= {kr.TICKER_FIXTURE.read_bytes(), kr.BODY_UNAVAILABLE}
