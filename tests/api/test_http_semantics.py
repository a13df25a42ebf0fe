"""HTTP semantics in process: HEAD beside GET, ETag/304, Vary, Sanic's exceptions mapped.

The real app (`create_app`) over real stores and a fixed clock, driven
through Sanic's ASGI client; the same behaviour over a real `python run.py
api` process is `test_http_semantics_process.py`. Sanic's exception classes
are enumerated from the installed Sanic, each raised through a route, so a
Sanic upgrade that adds one fails here until `api/errors.py` decides its answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sanic.exceptions
from hypothesis import given
from hypothesis import strategies as st
from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse

from api import errors
from api.app import create_app
from api.exceptions import ALL_ERRORS
from api.http import Router, etag_for, matches
from settings import Settings
from storage.model import format_iso_ms
from tests.api.conftest import NOW_MS, FixedClock, Store

# sanic-testing 24.6 imports websockets.legacy, deprecated since websockets 14; the
# ASGI client used here never touches websockets.
pytestmark = pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")

HOUR_MS = 3_600_000
ETAG = re.compile(r'"[0-9a-f]{32}"')
LATEST = "/convert?amount=1&from=BTC&to=USDT"
CODES = {error.code: error.status for error in ALL_ERRORS}

# Every SanicException subclass of the installed Sanic, and the code a client
# gets for it. A class missing here (a Sanic upgrade) fails the enumeration
# test: decide its answer in api/errors.py, then add it.
SANIC_ANSWERS = {
    "SanicException": "internal_error",
    "HTTPException": "internal_error",
    "NotFound": "not_found",
    "FileNotFound": "not_found",
    "MethodNotAllowed": "method_not_allowed",
    "BadRequest": "invalid_parameter",
    "HeaderNotFound": "invalid_parameter",
    "InvalidHeader": "invalid_parameter",
    "RequestTimeout": "invalid_parameter",
    "ExpectationFailed": "invalid_parameter",
    "RangeNotSatisfiable": "invalid_parameter",
    "InvalidRangeType": "invalid_parameter",
    "Forbidden": "invalid_parameter",
    "Unauthorized": "invalid_parameter",
    "PayloadTooLarge": "headers_too_large",  # no body declared; with one: payload_too_large
    "URITooLong": "headers_too_large",
    "ServiceUnavailable": "quotes_unavailable",
    "ServerError": "internal_error",
    "URLBuildError": "internal_error",
    "PyFileError": "internal_error",
    "LoadFileException": "internal_error",
    "InvalidSignal": "internal_error",
    "WebsocketClosed": "internal_error",
}


def _subclasses(cls: type[SanicException]) -> Iterator[type[SanicException]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def sanic_exceptions() -> list[type[SanicException]]:
    """SanicException and every subclass Sanic defines (any of its modules), by name."""
    found = {sanic.exceptions.SanicException, *_subclasses(sanic.exceptions.SanicException)}
    return sorted((c for c in found if c.__module__.split(".")[0] == "sanic"), key=str)


def _instance(cls: type[SanicException]) -> SanicException:
    try:
        return cls()
    except TypeError:  # PyFileError(file) needs its argument
        return cls("x")


def _raising_app(exc: BaseException) -> Sanic[Any, Any]:
    app: Sanic[Any, Any] = Sanic(f"raise_{type(exc).__name__}_{id(exc)}", router=Router())
    errors.install(app)

    @app.get("/raise")
    async def handler(request: Request) -> HTTPResponse:
        raise exc

    return app


def assert_error_answer(status: int, headers: Any, body: Any, code: str) -> None:
    """The one error shape: the code's status, JSON, no-store, never an ETag."""
    assert body["error"] == code, body
    assert status == CODES[code], (status, body)
    assert set(body) <= {"error", "message", "details"}
    assert isinstance(body["message"], str)
    assert body["message"]
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert "etag" not in headers


def test_the_table_names_every_sanic_exception() -> None:
    """SANIC_ANSWERS names exactly the SanicException classes the installed Sanic defines."""
    assert {cls.__name__ for cls in sanic_exceptions()} == set(SANIC_ANSWERS)
    assert set(SANIC_ANSWERS.values()) <= set(CODES)


@pytest.mark.parametrize("cls", sanic_exceptions(), ids=lambda cls: cls.__name__)
async def test_every_sanic_exception_reaches_the_client_mapped(cls: type[SanicException]) -> None:
    """Each Sanic exception raised in a route answers its documented code, in the one JSON shape."""
    exc = _instance(cls)
    app = _raising_app(exc)
    _, response = await app.asgi_client.get("/raise")
    code = SANIC_ANSWERS[cls.__name__]
    assert_error_answer(response.status, response.headers, response.json, code)
    if 400 <= exc.status_code < 500:
        assert response.status < 500, "a client's fault must not look like our bug"


async def test_payload_too_large_with_a_body_is_413() -> None:
    """PayloadTooLarge on a request that declared a body is 413 payload_too_large."""
    app = _raising_app(sanic.exceptions.PayloadTooLarge())
    _, response = await app.asgi_client.request("GET", "/raise", content=b"body")
    assert_error_answer(response.status, response.headers, response.json, "payload_too_large")


async def test_other_exceptions_are_internal_errors() -> None:
    """An exception that is neither ours nor Sanic's is a 500 internal_error without a traceback."""
    app = _raising_app(RuntimeError("boom at /secret/path.py"))
    _, response = await app.asgi_client.get("/raise")
    assert_error_answer(response.status, response.headers, response.json, "internal_error")
    assert "boom" not in response.text


# -- HEAD -------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path, clock: FixedClock) -> Sanic[Any, Any]:
    """The app over a store with a fresh snapshot and one an hour old."""
    store = Store(tmp_path / "data")
    store.write_recorded(NOW_MS - 1_000)
    store.write_recorded(NOW_MS - HOUR_MS)
    return create_app(Settings(data_dir=store.root), reader=store.reader(), clock=clock)


def historical() -> str:
    """A /convert whose answer is immutable (an hour back, from the hour-old snapshot)."""
    return LATEST + "&timestamp=" + format_iso_ms(NOW_MS - HOUR_MS + 10_000)


def test_every_get_route_answers_head(app: Sanic[Any, Any]) -> None:
    """Every route of the app that has GET has HEAD too (the router adds it)."""
    routes = list(app.router.routes)
    assert routes
    for route in routes:
        if "GET" in route.methods:
            assert "HEAD" in route.methods, route.uri


def test_routes_added_later_get_head(app: Sanic[Any, Any]) -> None:
    """A GET route added after create_app, by either spelling, answers HEAD without asking."""

    async def later(request: Request) -> HTTPResponse:
        return HTTPResponse(b"{}", content_type="application/json")

    app.add_route(later, "/later", methods=["GET"])
    app.get("/later2", name="later2")(later)
    methods = {route.uri: route.methods for route in app.router.routes}
    assert {"GET", "HEAD"} <= methods["/later"]
    assert {"GET", "HEAD"} <= methods["/later2"]


@pytest.mark.parametrize("target", [LATEST, "/health", "/currencies", "/docs", "/nope"])
async def test_head_has_the_get_status_and_headers(app: Sanic[Any, Any], target: str) -> None:
    """HEAD answers with GET's status and header fields, and no body."""
    _, got = await app.asgi_client.get(target)
    _, head = await app.asgi_client.head(target)
    assert head.status == got.status
    assert head.body == b""
    assert dict(head.headers) == {k: v for k, v in got.headers.items() if k != "content-length"}


async def test_post_is_405_and_allows_get_and_head(app: Sanic[Any, Any]) -> None:
    """A method a route does not take is 405, `Allow: GET, HEAD`, the same list in details."""
    _, response = await app.asgi_client.post(LATEST)
    assert_error_answer(response.status, response.headers, response.json, "method_not_allowed")
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json["details"] == {"allowed": ["GET", "HEAD"]}


# -- validators ---------------------------------------------------------------------------


def test_etag_is_a_strong_hash_of_the_body() -> None:
    """etag_for gives a quoted 128-bit BLAKE2b hex digest; bodies that differ, tags that differ."""
    assert ETAG.fullmatch(etag_for(b"{}"))
    assert etag_for(b"{}") == etag_for(b"{}")
    assert etag_for(b"{}") != etag_for(b"{ }")


@given(others=st.lists(st.from_regex(r'W?/?"[0-9a-z]{1,8}"', fullmatch=True), max_size=4))
def test_if_none_match_lists(others: list[str]) -> None:
    """A list naming the tag (weakly or not) matches; a list without it does not; `*` always."""
    tag = etag_for(b"body")
    assert not matches(", ".join(others), tag)
    assert matches(", ".join([*others, tag]), tag)
    assert matches(",".join(["W/" + tag, *others]), tag)
    assert matches("*", tag)


async def test_historical_answer_revalidates(app: Sanic[Any, Any]) -> None:
    """A historical answer has an ETag; sent back (alone, in a list, weak, or *) it is a 304."""
    _, first = await app.asgi_client.get(historical())
    assert first.status == 200
    etag = first.headers["etag"]
    assert etag == etag_for(first.body)
    assert first.headers["cache-control"].startswith("public, max-age=")
    for condition in (etag, f'"nope", {etag}', "W/" + etag, "*"):
        _, again = await app.asgi_client.get(historical(), headers={"If-None-Match": condition})
        assert again.status == 304, condition
        assert again.body == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == first.headers["cache-control"]
        assert again.headers["access-control-allow-origin"] == "*"
        assert "content-type" not in again.headers
    _, other = await app.asgi_client.get(historical(), headers={"If-None-Match": '"nope"'})
    assert other.status == 200
    assert other.body == first.body


async def test_latest_answer_is_no_cache_without_an_etag(app: Sanic[Any, Any]) -> None:
    """A latest answer stays no-cache with no ETag (not worth its hash), and answers in full."""
    _, first = await app.asgi_client.get(LATEST, headers={"If-None-Match": "*"})
    assert first.status == 200
    assert first.headers["cache-control"] == "no-cache"
    assert "etag" not in first.headers


async def test_a_no_cache_answer_with_its_own_etag_revalidates(app: Sanic[Any, Any]) -> None:
    """/docs sets its ETag at start; its 304 keeps no-cache and that ETag."""
    _, first = await app.asgi_client.get("/docs")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    _, again = await app.asgi_client.get("/docs", headers={"If-None-Match": etag})
    assert (again.status, again.body) == (304, b"")
    assert (again.headers["cache-control"], again.headers["etag"]) == ("no-cache", etag)


async def test_head_revalidates_too(app: Sanic[Any, Any]) -> None:
    """HEAD with a matching If-None-Match is a 304 like GET."""
    _, first = await app.asgi_client.get(historical())
    _, head = await app.asgi_client.head(
        historical(), headers={"If-None-Match": first.headers["etag"]}
    )
    assert (head.status, head.body) == (304, b"")


@pytest.mark.parametrize(
    "target", ["/convert?amount=1&from=BTC&to=NOPE", "/nope", "/convert?amount=-1&from=BTC&to=USDT"]
)
async def test_errors_never_carry_an_etag(app: Sanic[Any, Any], target: str) -> None:
    """An error answers in full, no-store and without an ETag, even to If-None-Match: *."""
    _, response = await app.asgi_client.get(target, headers={"If-None-Match": "*"})
    assert response.status >= 400
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers
    assert response.json["error"] in CODES


async def test_no_store_answers_have_no_etag(app: Sanic[Any, Any]) -> None:
    """/health and /metrics are no-store: no ETag, and If-None-Match: * changes nothing."""
    for target in ("/health", "/metrics"):
        _, response = await app.asgi_client.get(target, headers={"If-None-Match": "*"})
        assert response.status == 200, target
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers


async def test_historical_board_revalidates(app: Sanic[Any, Any]) -> None:
    """/prices an hour back is cacheable and gets an ETag without any code of its own."""
    target = "/prices?pair=BTC-USDT&timestamp=" + format_iso_ms(NOW_MS - HOUR_MS + 10_000)
    _, first = await app.asgi_client.get(target)
    assert first.status == 200, first.text
    assert first.headers["cache-control"].startswith("public, max-age=")
    _, again = await app.asgi_client.get(target, headers={"If-None-Match": first.headers["etag"]})
    assert again.status == 304


async def test_a_route_added_later_gets_validators(app: Sanic[Any, Any]) -> None:
    """Any route's public 200 gets an ETag and 304s: the helper is in one place, not per route."""

    async def later(request: Request) -> HTTPResponse:
        return HTTPResponse(
            b'{"rates":[]}',
            headers={"Cache-Control": "public, max-age=60"},
            content_type="application/json",
        )

    app.add_route(later, "/later", methods=["GET"])
    _, first = await app.asgi_client.get("/later")
    assert first.headers["etag"] == etag_for(b'{"rates":[]}')
    _, again = await app.asgi_client.get("/later", headers={"If-None-Match": first.headers["etag"]})
    assert (again.status, again.headers["cache-control"]) == (304, "public, max-age=60")


# -- Vary -----------------------------------------------------------------------------------

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("accept", [BROWSER, "application/json", "*/*"])
async def test_index_varies_by_accept_in_get_head_and_304(
    app: Sanic[Any, Any], accept: str
) -> None:
    """/ says Vary: Accept in its 200 and its HEAD, and the page in its 304 too."""
    _, first = await app.asgi_client.get("/", headers={"Accept": accept})
    _, head = await app.asgi_client.head("/", headers={"Accept": accept})
    answers = [first, head]
    if accept == BROWSER:  # the page has an ETag; the JSON index is no-cache without one
        condition = {"Accept": accept, "If-None-Match": first.headers["etag"]}
        _, again = await app.asgi_client.get("/", headers=condition)
        assert again.status == 304
        answers.append(again)
    for response in answers:
        assert response.headers["vary"] == "Accept"


async def test_past_rates_revalidate(app: Sanic[Any, Any]) -> None:
    """/rates ending past the staleness window is public, so it gets an ETag and its 304."""
    start, end = (format_iso_ms(NOW_MS - HOUR_MS - ms) for ms in (60_000, -30_000))
    target = f"/rates?from=BTC&to=USDT&interval=30s&start={start}&end={end}"
    _, first = await app.asgi_client.get(target)
    assert first.status == 200, first.text
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert first.headers["etag"] == etag_for(first.body)
    _, again = await app.asgi_client.get(target, headers={"If-None-Match": first.headers["etag"]})
    assert (again.status, again.body) == (304, b"")
    assert again.headers["cache-control"] == first.headers["cache-control"]
