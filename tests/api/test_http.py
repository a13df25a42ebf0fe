"""The real API (`python run.py api`) on a real loopback port, over prepared stores.

One process per store and module: `fresh` (the recorded payload a second old,
plus history), `stale` (ten minutes old) and `empty`. The process has a real
clock, so snapshot times are set relative to the real time when the store is
built; every assertion leaves the 60 s staleness limit ample margin.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.exceptions import ALL_ERRORS
from settings import Settings
from storage.model import Quote, format_iso_ms
from tests.api.conftest import DAY_MS, Store, quote, recorded_quotes
from tests.procs import Proc, free_port, settings_env, wait_until

# The API never talks to the exchange; settings_env still wants a URL.
UNUSED_EXCHANGE_URL = "http://127.0.0.1:9"
# A synthetic dust asset, added to the fresh snapshot, whose rate rounds to 0.
DUSTBTC = quote("DUSTBTC", "DUST", "BTC", "0.0000000000001", "0.0000000000002")

PLAIN_AMOUNT = re.compile(r"[0-9]+\.[0-9]{6}")
PLAIN_RATE = re.compile(r"[0-9]+\.[0-9]{12}")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def btc_at(bid: str) -> Quote:
    return quote("BTCUSDT", "BTC", "USDT", bid, str(Decimal(bid) + Decimal("0.02")))


def half_up(value: Fraction, places: int) -> str:
    """Round a positive exact fraction half-up, formatted plainly with `places` digits."""
    digits = str(math.floor(value * 10**places + Fraction(1, 2))).rjust(places + 1, "0")
    return f"{digits[:-places]}.{digits[-places:]}"


@dataclass(frozen=True)
class Api:
    """A running API process and a client for it."""

    client: httpx.Client
    data_dir: Path
    times: dict[str, int]

    def get(self, target: str, **params: str) -> httpx.Response:
        return self.client.get(target, params=params or None)


@dataclass(frozen=True)
class _Running:
    proc: Proc
    base_url: str


def _start(data_dir: Path, workdir: Path, name: str, **overrides: str) -> _Running:
    port = free_port()
    env = settings_env(
        base_url=UNUSED_EXCHANGE_URL, data_dir=data_dir, API_PORT=str(port), **overrides
    )
    proc = Proc("api", env=env, workdir=workdir, name=name)
    base_url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if not proc.alive():
            raise AssertionError(f"API exited early:\n{proc.output()}")
        try:
            return httpx.get(f"{base_url}/docs/openapi.json", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, timeout=30, interval=0.05, message=proc.output)
    except BaseException:
        proc.cleanup()
        raise
    return _Running(proc, base_url)


def _serve(
    tmp_path_factory: pytest.TempPathFactory, name: str, store: Store, times: dict[str, int]
) -> Iterator[Api]:
    running = _start(store.root, tmp_path_factory.mktemp(f"{name}-proc"), name)
    with running.proc:
        with httpx.Client(base_url=running.base_url, timeout=10) as client:
            yield Api(client, store.root, times)
        # The client is closed first, so no keep-alive connection delays the shutdown.
        assert running.proc.terminate() == 0, running.proc.output()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The recorded payload a second old, two older snapshots, and one beyond retention."""
    store = Store(tmp_path_factory.mktemp("fresh") / "data")
    now = now_ms()
    h1 = (now - 3 * 3_600_000) // 1000 * 1000  # a whole second, for integer unix times
    times = {
        "latest": now - 1_000,
        "h1": h1,
        "h2": h1 + 30_500,  # a half second, for decimal unix times
        "lingering": now - 8 * DAY_MS,
    }
    store.write_recorded(times["latest"], DUSTBTC)
    store.write(times["h1"], [btc_at("30000.00")])
    store.write(times["h2"], [btc_at("31000.00")])
    store.write_recorded(times["lingering"])
    yield from _serve(tmp_path_factory, "fresh", store, times)


@pytest.fixture(scope="module")
def stale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A store whose only snapshot is ten minutes old."""
    store = Store(tmp_path_factory.mktemp("stale") / "data")
    times = {"latest": now_ms() - 600_000}
    store.write_recorded(times["latest"])
    yield from _serve(tmp_path_factory, "stale", store, times)


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A data directory with no snapshot at all."""
    store = Store(tmp_path_factory.mktemp("empty") / "data")
    store.root.mkdir()
    yield from _serve(tmp_path_factory, "empty", store, {})


def _server(request: pytest.FixtureRequest, name: str) -> Api:
    api = request.getfixturevalue(name)
    assert isinstance(api, Api)
    return api


# -- errors: every row of the spec's table ------------------------------------------------


@dataclass(frozen=True)
class ErrorCase:
    server: str
    method: str
    target: str  # may name {future}, {gap} or {lingering}: filled in at request time
    status: int
    code: str
    parameter: str | None = None

    def __str__(self) -> str:
        return f"{self.server} {self.method} {self.target}"


def _case(
    target: str, status: int, code: str, parameter: str | None = None, server: str = "fresh"
) -> ErrorCase:
    return ErrorCase(server, "GET", target, status, code, parameter)


BTC_USDT = "/convert?amount=1&from=BTC&to=USDT"
ERROR_CASES = [
    _case(BTC_USDT + "&at=1700000000", 400, "invalid_parameter", "at"),
    _case("/convert?amount=1&form=BTC&to=USDT", 400, "invalid_parameter", "form"),
    _case(BTC_USDT + "&amount=2", 400, "invalid_parameter", "amount"),
    _case("/convert?amount=1&from=&to=USDT", 400, "invalid_parameter", "from"),
    _case("/convert?amount=1&from=BT-C&to=USDT", 400, "invalid_parameter", "from"),
    _case(BTC_USDT + "&timestamp=", 400, "invalid_parameter", "timestamp"),
    _case("/health?verbose=1", 400, "invalid_parameter", "verbose"),
    _case("/convert?amount=1&from=BTC", 400, "missing_parameter", "to"),
    _case("/convert", 400, "missing_parameter", "amount"),
    *(
        _case(f"/convert?amount={amount}&from=BTC&to=USDT", 400, "invalid_amount", "amount")
        for amount in ("-1", "0", "0.000000", "1e3", "1.1234567", "1" + "0" * 15, "1,5", "%201")
    ),
    _case(BTC_USDT + "&timestamp=yesterday", 400, "invalid_timestamp", "timestamp"),
    _case(BTC_USDT + "&timestamp={future}", 400, "invalid_timestamp", "timestamp"),
    _case("/convert?amount=1&from=XYZ123&to=USDT", 404, "unknown_currency", "from"),
    _case("/convert?amount=1&from=BTC&to=xyz123", 404, "unknown_currency", "to"),
    _case("/convert?amount=1&from=SHIB&to=BTC", 404, "pair_not_found"),
    _case(BTC_USDT + "&timestamp={gap}", 404, "quotes_not_found"),
    _case(BTC_USDT + "&timestamp={lingering}", 404, "quotes_not_found"),
    _case("/convert?amount=1000000&from=DUST&to=BTC", 422, "rate_below_precision"),
    _case(BTC_USDT, 503, "quotes_outdated", server="stale"),
    _case(BTC_USDT, 503, "quotes_unavailable", server="empty"),
    _case("/currencies", 503, "quotes_unavailable", server="empty"),
    _case("/nope", 404, "not_found"),
    _case("/convert/?amount=1&from=BTC&to=USDT", 404, "not_found"),
    ErrorCase("fresh", "POST", BTC_USDT, 405, "method_not_allowed"),
    ErrorCase("fresh", "DELETE", "/health", 405, "method_not_allowed"),
]


def test_error_cases_cover_the_spec_table() -> None:
    """ERROR_CASES exercises every error code but internal_error (no way to provoke it)."""
    # Oversized requests need a body or huge headers: tests/api/test_http_semantics.py.
    untested = {"internal_error", "payload_too_large", "headers_too_large"}
    assert {case.code for case in ERROR_CASES} == {e.code for e in ALL_ERRORS} - untested
    statuses = {e.code: e.status for e in ALL_ERRORS}
    assert all(statuses[case.code] == case.status for case in ERROR_CASES)


def _fill(target: str, times: dict[str, int]) -> str:
    gap = times.get("h2", 0) + 61_000  # more than the 60 s max age after the last snapshot
    values = {
        "future": str(now_ms() // 1000 + 3600),
        "gap": f"{gap // 1000}.{gap % 1000:03d}",
        "lingering": str(times.get("lingering", 0) // 1000),
    }
    return target.format(**values)


@pytest.mark.parametrize("case", ERROR_CASES, ids=str)
def test_error_response(request: pytest.FixtureRequest, case: ErrorCase) -> None:
    """Each error has its status and code, the one JSON shape, no-store and CORS *."""
    api = _server(request, case.server)
    response = api.client.request(case.method, _fill(case.target, api.times))
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    assert set(body) <= {"error", "message", "details"}
    assert body["error"] == case.code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body.get("details", {}), dict)
    if case.parameter is not None:
        assert body["details"]["parameter"] == case.parameter
    assert "Traceback" not in response.text
    assert str(api.data_dir) not in response.text
    assert str(api.data_dir.parent) not in response.text


def test_quotes_outdated_says_how_old(stale: Api) -> None:
    """quotes_outdated details carry quoted_at, age_seconds and max_age_seconds."""
    details = stale.get("/convert", amount="1", **{"from": "BTC", "to": "USDT"}).json()["details"]
    assert details["quoted_at"] == format_iso_ms(stale.times["latest"])
    assert 600 <= details["age_seconds"] < 700
    assert details["max_age_seconds"] == 60


# -- successful conversions ----------------------------------------------------------------


def convert(api: Api, amount: str, src: str, dst: str, **extra: str) -> httpx.Response:
    return api.get("/convert", amount=amount, **{"from": src, "to": dst}, **extra)


def test_btc_usdt_latest(fresh: Api) -> None:
    """BTC->USDT from the recorded payload: the contract's five fields, JSON, no-cache, CORS."""
    response = convert(fresh, "1.5", "BTC", "USDT")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    assert {
        k: body[k] for k in ("amount", "rate", "from", "to", "quoted_at")
    } == {  # mid of 19979.51000000 / 19980.18000000
        "amount": "29969.767500",
        "rate": "19979.845000000000",
        "from": "BTC",
        "to": "USDT",
        "quoted_at": format_iso_ms(fresh.times["latest"]),
    }


@pytest.mark.parametrize(("src", "dst"), [("btc", "usdt"), ("BTC", "USDT"), ("bTc", "UsDt")])
def test_codes_are_case_insensitive(fresh: Api, src: str, dst: str) -> None:
    """Lower, upper and mixed-case codes give the same answer with upper-case codes."""
    body = convert(fresh, "2", src, dst).json()
    assert (body["from"], body["to"], body["rate"]) == ("BTC", "USDT", "19979.845000000000")


@pytest.mark.parametrize(
    ("amount", "src", "dst"),
    [
        ("1.5", "BTC", "USDT"),
        ("1234.567891", "USDT", "BTC"),
        ("1.5", "COS", "BTC"),
        ("1234.567891", "BTC", "COS"),
        ("0.000001", "COS", "BTC"),
        ("999999999999999.999999", "BTC", "USDT"),
    ],
)
def test_numbers_are_plain_fixed_strings(fresh: Api, amount: str, src: str, dst: str) -> None:
    """amount/rate are strings with exactly 6/12 fraction digits, and amount = round(in*rate, 6)."""
    body = convert(fresh, amount, src, dst).json()
    assert PLAIN_AMOUNT.fullmatch(body["amount"]), body
    assert PLAIN_RATE.fullmatch(body["rate"]), body
    symbols = recorded_quotes()
    direct = next((q for q in symbols.values() if (q.base, q.quote) == (src, dst)), None)
    inverse = next((q for q in symbols.values() if (q.base, q.quote) == (dst, src)), None)
    row = direct or inverse
    assert row is not None
    mid = (Fraction(row.bid) + Fraction(row.ask)) / 2
    assert body["rate"] == half_up(mid if direct else 1 / mid, 12)
    assert body["amount"] == half_up(Fraction(amount) * Fraction(body["rate"]), 6)


def test_same_currency(fresh: Api) -> None:
    """BTC->BTC is rate 1 and the amount unchanged."""
    body = convert(fresh, "0.5", "btc", "BTC").json()
    assert (body["amount"], body["rate"]) == ("0.500000", "1.000000000000")


# -- historical conversions -------------------------------------------------------------------


def _formats(ms: int) -> dict[str, str]:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    plus2 = moment.astimezone(timezone(timedelta(hours=2)))
    minus530 = moment.astimezone(timezone(-timedelta(hours=5, minutes=30)))
    return {
        "unix-decimal": f"{ms // 1000}.{ms % 1000:03d}",
        "iso-z": format_iso_ms(ms),
        "iso-plus-offset": plus2.isoformat(timespec="milliseconds"),
        "iso-minus-offset": minus530.isoformat(timespec="milliseconds"),
        "iso-no-zone": moment.replace(tzinfo=None).isoformat(timespec="milliseconds"),
    }


@pytest.mark.parametrize(
    "form", ["unix-decimal", "iso-z", "iso-plus-offset", "iso-minus-offset", "iso-no-zone"]
)
def test_timestamp_formats_select_the_snapshot(fresh: Api, form: str) -> None:
    """Each accepted timestamp format for h2's exact ms selects h2; one ms earlier, h1."""
    h1, h2 = fresh.times["h1"], fresh.times["h2"]
    for at, expected, rate in ((h2, h2, "31000.010000000000"), (h2 - 1, h1, "30000.010000000000")):
        body = convert(fresh, "1", "BTC", "USDT", timestamp=_formats(at)[form]).json()
        assert (body["quoted_at"], body["rate"]) == (format_iso_ms(expected), rate), body


def test_timestamp_integer_unix_seconds(fresh: Api) -> None:
    """An integer unix time equal to a snapshot's time (whole second) selects it."""
    h1 = fresh.times["h1"]
    body = convert(fresh, "1", "BTC", "USDT", timestamp=str(h1 // 1000)).json()
    assert body["quoted_at"] == format_iso_ms(h1)


def test_timestamp_with_unencoded_plus(fresh: Api) -> None:
    """An offset whose '+' was not percent-encoded (so it decodes to a space) still parses."""
    at = _formats(fresh.times["h2"])["iso-plus-offset"]
    assert "+" in at
    response = fresh.client.get(f"/convert?amount=1&from=BTC&to=USDT&timestamp={at}")
    assert response.json()["quoted_at"] == format_iso_ms(fresh.times["h2"])


def test_historical_answer_is_cacheable(fresh: Api) -> None:
    """A historical answer well in the past is public with a positive max-age."""
    response = convert(fresh, "1", "BTC", "USDT", timestamp=format_iso_ms(fresh.times["h2"]))
    assert response.status_code == 200
    match = re.fullmatch(r"public, max-age=([0-9]+)", response.headers["cache-control"])
    assert match, response.headers["cache-control"]
    assert 0 < int(match.group(1)) <= 7 * 86_400
    assert response.headers["access-control-allow-origin"] == "*"


def test_recent_historical_answer_is_not_immutable(fresh: Api) -> None:
    """Passing the latest quoted_at back gives the same snapshot, not cached as immutable."""
    latest = convert(fresh, "1", "USDT", "BTC").json()
    again = convert(fresh, "1", "USDT", "BTC", timestamp=latest["quoted_at"])
    assert again.json() == latest
    assert again.headers["cache-control"] == "no-cache"


# -- health, currencies, docs -----------------------------------------------------------------


def _snapshot_files(api: Api) -> int:
    return len(list((api.data_dir / "binance").glob("*.json")))


def test_health_ok(fresh: Api) -> None:
    """/health is 200 ok with quoted_at, age_seconds and the snapshot count."""
    response = fresh.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["quoted_at"] == format_iso_ms(fresh.times["latest"])
    assert 0 < body["age_seconds"] < 60
    assert body["snapshots"] == _snapshot_files(fresh) == 4
    assert response.headers["access-control-allow-origin"] == "*"


def test_health_outdated(stale: Api) -> None:
    """/health is 503 outdated with how old the newest quotes are."""
    response = stale.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "outdated"
    assert body["quoted_at"] == format_iso_ms(stale.times["latest"])
    assert body["age_seconds"] >= 600
    assert body["snapshots"] == 1


def test_health_no_data(empty: Api) -> None:
    """/health is 503 no_data when there is no snapshot."""
    response = empty.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "no_data"
    assert response.json()["snapshots"] == 0


def test_currencies(fresh: Api) -> None:
    """/currencies lists the newest snapshot's codes, sorted, with its quoted_at."""
    body = fresh.get("/currencies").json()
    expected = {c for q in recorded_quotes().values() for c in (q.base, q.quote)} | {"DUST"}
    assert body["currencies"] == sorted(expected)
    assert body["quoted_at"] == format_iso_ms(fresh.times["latest"])


def test_currencies_state_their_age(stale: Api) -> None:
    """/currencies from outdated quotes still answers, with their quoted_at."""
    body = stale.get("/currencies").json()
    assert body["quoted_at"] == format_iso_ms(stale.times["latest"])
    assert body["currencies"] == sorted(body["currencies"])


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_openapi_document(fresh: Api, tmp_path: Path) -> None:
    """/docs/openapi.json is OpenAPI 3 JSON whose paths are exactly the served routes."""
    response = fresh.get("/docs/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert re.fullmatch(r"3\.[0-9]+\.[0-9]+", document["openapi"])
    assert isinstance(document["info"]["title"], str)
    assert isinstance(document["info"]["version"], str)
    for path, operations in document["paths"].items():
        assert path.startswith("/")
        for method, operation in operations.items():
            assert method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
            assert operation["responses"], f"{method} {path} lists no responses"
            assert all(re.fullmatch(r"[1-5][0-9][0-9]", s) for s in operation["responses"])
            for parameter in operation.get("parameters", []):
                assert {"name", "in", "schema"} <= set(parameter)
    for ref in _refs(document):
        node: Any = document
        assert ref.startswith("#/")
        for part in ref[2:].split("/"):
            node = node[part]  # every $ref resolves inside the document
    app = create_app(Settings(data_dir=tmp_path))
    served = {route.uri for route in app.router.routes}
    assert set(document["paths"]) == served


def test_docs_page(fresh: Api) -> None:
    """/docs is an HTML page that names every documented path."""
    response = fresh.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for path in fresh.get("/docs/openapi.json").json()["paths"]:
        assert path in response.text


@pytest.mark.parametrize(
    "target", ["/", "/convert?amount=1&from=BTC&to=USDT", "/health", "/currencies", "/docs",
               "/docs/openapi.json"]
)  # fmt: skip
def test_every_get_allows_any_origin(fresh: Api, target: str) -> None:
    """Every successful GET carries Access-Control-Allow-Origin: *."""
    response = fresh.client.get(target)
    assert response.status_code == 200
    assert response.headers.get("access-control-allow-origin") == "*"


# -- several workers ---------------------------------------------------------------------------


def test_two_workers_answer(fresh: Api, tmp_path: Path) -> None:
    """With API_WORKERS=2 the API starts and answers conversions on new connections."""
    running = _start(fresh.data_dir, tmp_path, "workers", API_WORKERS="2")
    with running.proc:
        # Sanic's worker manager spins and ignores SIGTERM when it arrives while a
        # worker is still starting (sanic-org/sanic#2997), so wait for both workers.
        wait_until(
            lambda: running.proc.output().count("Worker ready") >= 2,
            timeout=30,
            message=running.proc.output,
        )
        bodies = [
            httpx.get(
                f"{running.base_url}/convert",
                params={"amount": "1", "from": "BTC", "to": "USDT"},
                timeout=10,
            ).json()
            for _ in range(8)
        ]
        assert running.proc.terminate() == 0, running.proc.output()
    assert all(b["rate"] == "19979.845000000000" for b in bodies), bodies
