"""A fake Binance spot REST server on loopback, for tests and manual demos.

Standard library only (``http.server.ThreadingHTTPServer`` in a background
daemon thread), so it can serve a consumer running as a separate process.
It replays recorded bodies from ``tests/fixtures/binance/`` (see
``tests/fixtures/SOURCES.md``) and can inject the failure modes a real
exchange connection shows: error statuses, HTML from a proxy, rate limiting,
slowness, refused connections, truncated or malformed bodies.

Endpoints (GET only; the query string is ignored for routing)::

    /api/v3/exchangeInfo          -> the trimmed exchangeInfo recording
    /api/v3/ticker/bookTicker     -> the all-symbols bookTicker body
    anything else                 -> 404 with a Binance-style JSON error body

Faults apply to those two endpoints (or to one of them, see ``set_fault``);
unknown paths always answer 404. ``Fault.REFUSED`` is server-wide by nature.

Usage in a test::

    with FakeBinance() as fake:
        fake.set_fault(Fault.HTTP_429, retry_after=1)
        ...  # point the consumer at fake.base_url
        assert fake.requests_to(BOOK_TICKER_PATH)

Manual demo (from the repository root)::

    python -m tests.fake_exchange --port 9100 [--fault http_429] [--endpoint PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from socketserver import _RequestType

FIXTURES = Path(__file__).parent / "fixtures" / "binance"

EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
BOOK_TICKER_PATH = "/api/v3/ticker/bookTicker"
ENDPOINTS = (EXCHANGE_INFO_PATH, BOOK_TICKER_PATH)

EXCHANGE_INFO_FIXTURE = FIXTURES / "exchangeInfo_2023-08-13.trimmed.json"
BOOK_TICKER_FIXTURE = FIXTURES / "bookTicker_from_ticker_24hr_2023-03-10.json"
ERROR_429_FIXTURE = FIXTURES / "error_-1003_429_too_much_weight.json"
ERROR_418_FIXTURE = FIXTURES / "error_-1003_418_ip_banned.json"

JSON = "application/json"
HTML = "text/html"

BODY_500 = b'{"code":-1000,"msg":"An unknown error occured while processing the request."}'
BODY_451 = (
    b'{"code":0,"msg":"Service unavailable from a restricted location according to '
    b"'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer "
    b'service if you believe you received this message in error."}'
)
BODY_400 = b'{"code":-1121,"msg":"Invalid symbol."}'
BODY_502_HTML = (
    b"<html><head><title>502 Bad Gateway</title></head>\r\n"
    b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
BODY_HTML_200 = (
    b"<!DOCTYPE html><html><head><title>Binance - System Maintenance</title></head>"
    b"<body><h1>System maintenance</h1><p>We are upgrading our systems. "
    b"Please check back later.</p></body></html>"
)
BODY_GARBAGE = b"\x00\xff garbage {{{"
BODY_WRONG_SHAPE_OBJECT = b'{"unexpected":true}'
BODY_WRONG_SHAPE_LIST = b'[{"unexpected":true}]'
BODY_EMPTY_LIST = b"[]"


class Fault(enum.Enum):
    """Failure modes the fake can inject; ``NONE`` serves the recordings."""

    NONE = "none"
    HTTP_500 = "http_500"
    HTTP_502_HTML = "http_502_html"
    HTTP_429 = "http_429"
    HTTP_418 = "http_418"
    HTTP_451 = "http_451"
    HTTP_400 = "http_400"
    SLOW = "slow"
    REFUSED = "refused"
    TRUNCATED = "truncated"
    GARBAGE = "garbage"
    WRONG_SHAPE = "wrong_shape"
    EMPTY_LIST = "empty_list"
    HTML_200 = "html_200"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it; timestamps are taken on arrival."""

    monotonic: float
    wall: float
    method: str
    path: str  # without the query string
    status: int  # the status answered (or, for SLOW, the one that would be)
    query: str = ""  # raw query string, "" when absent


@dataclass(frozen=True)
class _FaultConfig:
    fault: Fault = Fault.NONE
    endpoint: str | None = None
    retry_after: int = 2
    delay: float = 5.0

    def applies_to(self, path: str) -> bool:
        return self.fault is not Fault.NONE and self.endpoint in (None, path)


@dataclass(frozen=True)
class _Plan:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    truncate: bool = False


class _Server(ThreadingHTTPServer):
    """One listening socket's lifetime; REFUSED/clear_fault replace it on the same port."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeBinance) -> None:
        self.fake = fake
        self.closing = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: _RequestType, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._conns_lock:
                self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _RequestType) -> None:
        if isinstance(request, socket.socket):
            with self._conns_lock:
                self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: _RequestType, client_address: Any) -> None:
        # A client that gave up (timeout, closed pool) or a connection we cut on
        # stop()/REFUSED is expected here; anything else is a bug in the fake.
        if isinstance(sys.exc_info()[1], OSError):
            return
        traceback.print_exc()

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    timeout = None

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        path, _, query = self.path.partition("?")
        if self.command != "GET":
            # We never read request bodies, so do not reuse the connection.
            self.close_connection = True
        plan = server.fake._plan(self.command, path)
        server.fake._record(self.command, path, query, plan.status)
        if plan.delay > 0 and server.closing.wait(plan.delay):
            self.close_connection = True  # stopping: drop the request unanswered
            return
        self.send_response(plan.status)
        self.send_header("Content-Type", plan.content_type)
        self.send_header("Content-Length", str(len(plan.body)))
        for name, value in plan.headers:
            self.send_header(name, value)
        if plan.truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if plan.truncate:
            self.wfile.write(plan.body[: len(plan.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(plan.body)


class FakeBinance:
    """Fake Binance spot REST API on loopback; see the module docstring."""

    EXCHANGE_INFO_PATH: ClassVar[str] = EXCHANGE_INFO_PATH
    BOOK_TICKER_PATH: ClassVar[str] = BOOK_TICKER_PATH

    def __init__(
        self,
        *,
        exchange_info: bytes | None = None,
        book_ticker: bytes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._host = host
        self._port = port
        # _lock guards payloads, fault config and requests (held only briefly, also
        # by handler threads); _lifecycle serialises binding/unbinding, which
        # waits for handler threads and so must never be held with _lock.
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()
        self._exchange_info = (
            exchange_info if exchange_info is not None else EXCHANGE_INFO_FIXTURE.read_bytes()
        )
        self._book_ticker = (
            book_ticker if book_ticker is not None else BOOK_TICKER_FIXTURE.read_bytes()
        )
        self._error_429 = ERROR_429_FIXTURE.read_bytes()
        self._error_418 = ERROR_418_FIXTURE.read_bytes()
        self._config = _FaultConfig()
        self._started = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[RecordedRequest] = []

    # -- lifecycle ---------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("FakeBinance has no port yet: call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> FakeBinance:
        with self._lifecycle:
            if self._started:
                raise RuntimeError("FakeBinance already started")
            self._started = True
            self._bind()
            self._sync_refused()
        return self

    def stop(self) -> None:
        """Stop serving; returns promptly even while a SLOW handler is sleeping."""
        with self._lifecycle:
            self._started = False
            self._unbind()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _bind(self) -> None:
        server = _Server((self._host, self._port), self)
        self._port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-binance:{self._port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()

    def _sync_refused(self) -> None:
        """Make the listening socket match the fault: closed iff REFUSED."""
        with self._lock:
            refused = self._config.fault is Fault.REFUSED
        if refused:
            self._unbind()
        elif self._server is None:
            self._bind()

    def _unbind(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.closing.set()  # wakes SLOW handlers, which then drop their request
        server.shutdown()  # no new connections are accepted after this returns
        server.close_connections()  # wakes idle keep-alive handlers
        server.server_close()  # closes the listening socket, joins handler threads
        thread.join()

    # -- behaviour control -------------------------------------------------

    def set_fault(
        self,
        fault: Fault,
        *,
        endpoint: str | None = None,
        retry_after: int = 2,
        delay: float = 5.0,
    ) -> None:
        """Inject ``fault`` on every endpoint (``endpoint=None``) or on one path.

        One fault at a time: this replaces the previous one. ``REFUSED`` closes
        the listening socket (and open connections); leaving it re-binds the
        same port.
        """
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
        if fault is Fault.REFUSED and endpoint is not None:
            raise ValueError("Fault.REFUSED applies to the whole server, not one endpoint")
        with self._lifecycle:
            with self._lock:
                self._config = _FaultConfig(fault, endpoint, retry_after, delay)
            if self._started:
                self._sync_refused()

    def clear_fault(self) -> None:
        self.set_fault(Fault.NONE)

    def set_book_ticker(self, body: bytes) -> None:
        """Replace the served bookTicker payload (bytes are served verbatim)."""
        with self._lock:
            self._book_ticker = body

    def set_exchange_info(self, body: bytes) -> None:
        """Replace the served exchangeInfo payload (bytes are served verbatim)."""
        with self._lock:
            self._exchange_info = body

    # -- recorded traffic --------------------------------------------------

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _record(self, method: str, path: str, query: str, status: int) -> None:
        entry = RecordedRequest(time.monotonic(), time.time(), method, path, status, query)
        with self._lock:
            self.requests.append(entry)

    # -- responses ---------------------------------------------------------

    def _plan(self, method: str, path: str) -> _Plan:
        with self._lock:
            config = self._config
            payloads = {
                EXCHANGE_INFO_PATH: self._exchange_info,
                BOOK_TICKER_PATH: self._book_ticker,
            }
        if method != "GET" or path not in payloads:
            body = f'{{"code":-1000,"msg":"Not found: {method} {path}"}}'.encode()
            return _Plan(404, body)
        body = payloads[path]
        if not config.applies_to(path):
            return _Plan(200, body)
        retry = (("Retry-After", str(config.retry_after)),)
        match config.fault:
            case Fault.HTTP_500:
                return _Plan(500, BODY_500)
            case Fault.HTTP_502_HTML:
                return _Plan(502, BODY_502_HTML, HTML)
            case Fault.HTTP_429:
                return _Plan(429, self._error_429, headers=retry)
            case Fault.HTTP_418:
                return _Plan(418, self._error_418, headers=retry)
            case Fault.HTTP_451:
                return _Plan(451, BODY_451)
            case Fault.HTTP_400:
                return _Plan(400, BODY_400)
            case Fault.SLOW:
                return _Plan(200, body, delay=config.delay)
            case Fault.TRUNCATED:
                return _Plan(200, body, truncate=True)
            case Fault.GARBAGE:
                return _Plan(200, BODY_GARBAGE)
            case Fault.WRONG_SHAPE:
                shape = BODY_WRONG_SHAPE_LIST if path == EXCHANGE_INFO_PATH else None
                return _Plan(200, shape or BODY_WRONG_SHAPE_OBJECT)
            case Fault.EMPTY_LIST:
                return _Plan(200, BODY_EMPTY_LIST)
            case Fault.HTML_200:
                return _Plan(200, BODY_HTML_200, HTML)
            case Fault.NONE | Fault.REFUSED:  # REFUSED: only reachable in a race
                return _Plan(200, body)


def _parse_fault(name: str) -> Fault:
    try:
        return Fault[name.upper()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"unknown fault {name!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_exchange", description="Serve a fake Binance REST API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument(
        "--fault",
        type=_parse_fault,
        default=Fault.NONE,
        help="one of: " + ", ".join(f.name.lower() for f in Fault),
    )
    parser.add_argument("--endpoint", choices=ENDPOINTS, default=None)
    parser.add_argument("--retry-after", type=int, default=2)
    parser.add_argument("--delay", type=float, default=5.0)
    args = parser.parse_args(argv)

    fake = FakeBinance(host=args.host, port=args.port)
    fake.set_fault(
        args.fault, endpoint=args.endpoint, retry_after=args.retry_after, delay=args.delay
    )
    fake.start()
    print(f"fake Binance serving at {fake.base_url} (fault: {args.fault.name})", flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    finally:
        fake.stop()
    print(f"served {len(fake.requests)} requests", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
