"""HTTP semantics over a real `python run.py api` process, checked on the wire.

HEAD on every documented GET route against GET, oversized bodies and heads,
ETag/304 round trips, Cache-Control of latest answers, errors and 304s, and
`Vary: Accept`. Requests go over a plain socket with `Connection: close` and
are read to the end, so "no body" means no byte after the head, and what the
server sends is seen as sent (httpx would hide a stray HEAD body).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest

from api.exceptions import ALL_ERRORS
from api.limits import MAX_BODY_BYTES, MAX_HEAD_BYTES
from storage.model import format_iso_ms
from tests.api.conftest import Store
from tests.procs import Proc, free_port, settings_env, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOUR_MS = 3_600_000
LATEST = "/convert?amount=1&from=BTC&to=USDT"
ETAG = re.compile(r'"[0-9a-f]{32}"')
CODES = {error.code: error.status for error in ALL_ERRORS}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> dict[str, object]:
        body = orjson.loads(self.body)
        assert isinstance(body, dict)
        return body


def exchange(port: int, request: bytes) -> Answer:
    """Send `request` as is, read until the server closes, and split the answer."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass  # refused mid-body: the answer was sent before the reset
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no complete answer: {data[:300]!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split(" ")[1]), headers, body)


@dataclass(frozen=True)
class Server:
    port: int
    hour_ago_ms: int

    def request(
        self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Answer:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        return exchange(self.port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def historical(self) -> str:
        return LATEST + "&timestamp=" + format_iso_ms(self.hour_ago_ms + 10_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The API over a fresh snapshot and one an hour old, on a free loopback port."""
    workdir = tmp_path_factory.mktemp("http-semantics")
    store = Store(workdir / "data")
    now = time.time_ns() // 1_000_000
    store.write_recorded(now - 1_000)
    store.write_recorded(now - HOUR_MS)
    port = free_port()
    env = settings_env(base_url="http://127.0.0.1:9", data_dir=store.root, API_PORT=str(port))
    with Proc("api", env=env, workdir=workdir, name="api") as proc:

        def ready() -> bool:
            assert proc.alive(), proc.output()
            try:
                return Server(port, 0).request("GET", "/health").status == 200
            except OSError:
                return False

        wait_until(ready, timeout=30, interval=0.05, message=proc.output)
        proc.wait_for_log("Worker ready", 15)
        yield Server(port, now - HOUR_MS)
        assert proc.terminate() == 0, proc.output()


def assert_error(answer: Answer, code: str) -> None:
    """The one error shape with the code's status, JSON, no-store and no ETag."""
    assert answer.status == CODES[code], answer
    assert answer.headers["content-type"] == "application/json", answer
    assert answer.headers["cache-control"] == "no-store", answer
    assert "etag" not in answer.headers, answer
    body = answer.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str)


# -- HEAD -------------------------------------------------------------------------------------


def get_routes(server: Server) -> list[str]:
    document = server.request("GET", "/docs/openapi.json").json()
    paths = document["paths"]
    assert isinstance(paths, dict)
    return sorted(path for path, operations in paths.items() if "get" in operations)


def test_head_matches_get_on_every_documented_route(server: Server) -> None:
    """HEAD on each GET route of the document: GET's status and header fields, not one body byte."""
    routes = get_routes(server)
    assert {"/convert", "/prices", "/health", "/docs", "/docs/openapi.json", "/"} <= set(routes)
    targets = [LATEST if path == "/convert" else path for path in routes]
    for target in [*targets, server.historical(), "/convert?amount=1&from=BTC&to=NOPE", "/nope"]:
        for _ in range(3):  # a body that changes between the two (ages, counters) is retried
            got = server.request("GET", target)
            head = server.request("HEAD", target)
            again = server.request("GET", target)
            if got.body == again.body:
                break
        assert head.body == b"", target
        assert head.status == got.status, target
        if got.body == again.body:
            assert head.headers == got.headers, target
            assert int(head.headers["content-length"]) == len(got.body), target
        else:  # /metrics counts the requests above: its length moves with every one
            assert set(head.headers) == set(got.headers), target
            for name in set(got.headers) - {"content-length", "etag"}:
                assert head.headers[name] == got.headers[name], (target, name)


# -- oversized requests -----------------------------------------------------------------------


def test_seventy_kilobyte_body_is_413(server: Server) -> None:
    """A GET with a 70 KB body (over 64 KB) is a JSON 413 payload_too_large, no-store."""
    answer = server.request("GET", LATEST, body=b"x" * 70_000)
    assert_error(answer, "payload_too_large")
    assert str(MAX_BODY_BYTES) in str(answer.json()["message"])


def test_chunked_body_past_the_limit_is_413(server: Server) -> None:
    """A chunked body that grows past the limit is a JSON 413 too."""
    chunk = b"x" * 16_384
    body = b"".join(b"%x\r\n%b\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    head = f"GET {LATEST} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    answer = exchange(server.port, head.encode() + b"Transfer-Encoding: chunked\r\n\r\n" + body)
    assert_error(answer, "payload_too_large")


def test_small_body_is_still_answered(server: Server) -> None:
    """A body under the limit on a GET is read and ignored: the conversion answers."""
    answer = server.request("GET", LATEST, body=b"x" * 1_000)
    assert answer.status == 200


def test_header_block_past_the_limit_is_431(server: Server) -> None:
    """Header fields over 8 KB are a JSON 431 headers_too_large, no-store."""
    answer = server.request("GET", LATEST, headers={"X-Padding": "p" * (MAX_HEAD_BYTES + 100)})
    assert_error(answer, "headers_too_large")
    assert str(MAX_HEAD_BYTES) in str(answer.json()["message"])


def test_many_headers_past_the_limit_are_431(server: Server) -> None:
    """Many small header fields adding up past the limit are the same 431."""
    headers = {f"X-H{i}": "v" * 100 for i in range(100)}
    assert_error(server.request("GET", "/health", headers=headers), "headers_too_large")


# -- validators and Cache-Control ---------------------------------------------------------------


def test_historical_etag_round_trip(server: Server) -> None:
    """A historical answer's ETag sent back gives 304, no body, the same ETag and Cache-Control."""
    first = server.request("GET", server.historical())
    assert first.status == 200
    assert ETAG.fullmatch(first.headers["etag"])
    assert re.fullmatch(r"public, max-age=[0-9]+", first.headers["cache-control"])
    for condition in (first.headers["etag"], f'"other", {first.headers["etag"]}', "*"):
        again = server.request("GET", server.historical(), headers={"If-None-Match": condition})
        assert again.status == 304, condition
        assert again.body == b""
        assert again.headers["etag"] == first.headers["etag"]
        assert again.headers["cache-control"] == first.headers["cache-control"]
        assert "content-length" not in again.headers
    changed = server.request("GET", server.historical(), headers={"If-None-Match": '"other"'})
    assert (changed.status, changed.body) == (200, first.body)


def test_latest_is_no_cache(server: Server) -> None:
    """A latest answer is no-cache without an ETag, answered in full even to If-None-Match: *."""
    first = server.request("GET", LATEST, headers={"If-None-Match": "*"})
    assert first.status == 200
    assert first.headers["cache-control"] == "no-cache"
    assert "etag" not in first.headers
    assert first.json()["quoted_at"]


@pytest.mark.parametrize(
    ("method", "target", "code"),
    [
        ("GET", "/convert?amount=1&from=BTC&to=NOPE", "unknown_currency"),
        ("GET", "/convert?amount=0&from=BTC&to=USDT", "invalid_amount"),
        ("GET", "/nope", "not_found"),
        ("DELETE", "/convert", "method_not_allowed"),
    ],
)
def test_errors_are_no_store_without_etag(
    server: Server, method: str, target: str, code: str
) -> None:
    """Errors answer in full even to If-None-Match: *, no-store, never with an ETag."""
    answer = server.request(method, target, headers={"If-None-Match": "*"})
    assert_error(answer, code)
    if code == "method_not_allowed":
        assert answer.headers["allow"] == "GET, HEAD"


def test_index_varies_by_accept(server: Server) -> None:
    """/ says Vary: Accept in its 200s and HEADs for a browser and an API client, and its 304s."""
    for accept in (BROWSER, "application/json"):
        first = server.request("GET", "/", headers={"Accept": accept})
        head = server.request("HEAD", "/", headers={"Accept": accept})
        answers = [first, head]
        if "etag" in first.headers:  # the page; the JSON index is no-cache without one
            condition = {"Accept": accept, "If-None-Match": first.headers["etag"]}
            answers.append(server.request("GET", "/", headers=condition))
            assert answers[-1].status == 304
        for answer in answers:
            assert answer.headers["vary"] == "Accept", (accept, answer)
    assert "etag" in server.request("GET", "/", headers={"Accept": BROWSER}).headers


def test_docs_are_revalidated_and_their_304s_say_no_cache(server: Server) -> None:
    """/docs and its files are no-cache with an ETag: a new server's docs show at once."""
    for target in ("/docs", "/docs/openapi.json", "/docs/explorer.js"):
        first = server.request("GET", target)
        assert first.headers["cache-control"] == "no-cache", target
        again = server.request("GET", target, headers={"If-None-Match": first.headers["etag"]})
        assert (again.status, again.body) == (304, b""), target
