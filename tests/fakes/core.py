"""The venue-neutral part of the fake exchanges: faults, answers, the HTTP server.

``http.server.ThreadingHTTPServer`` in a background daemon thread, standard
library only, so a consumer running as a separate process can use it. What a
request is answered with is decided by ``FakeVenue._plan`` (``venue.py``) and
the venue's profile; this module only carries a ``Plan`` onto the wire,
including the transport faults (a delay, a body cut in half).
"""

from __future__ import annotations

import contextlib
import enum
import socket
import sys
import threading
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from socketserver import _RequestType

JSON = "application/json"
HTML = "text/html"
TEXT = "text/plain"

# Venue-neutral bodies. The 502 page is the stock nginx one a load balancer
# in front of any of the venues sends; GARBAGE is deliberately not UTF-8.
BODY_502_HTML = (
    b"<html><head><title>502 Bad Gateway</title></head>\r\n"
    b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
BODY_GARBAGE = b"\x00\xff garbage {{{"


def maintenance_page(title: str) -> bytes:
    """The HTML_200 body: a maintenance page served with 200 instead of the API's JSON."""
    return (
        f"<!DOCTYPE html><html><head><title>{title} - System Maintenance</title></head>"
        "<body><h1>System maintenance</h1><p>We are upgrading our systems. "
        "Please check back later.</p></body></html>"
    ).encode()


class Fault(enum.Enum):
    """Failure modes a fake venue can inject; ``NONE`` serves the recordings.

    Every venue has ``NONE`` through ``HTML_200``, ``RATE_LIMITED`` and
    ``BAD_REQUEST`` (``COMMON_FAULTS``), each in the venue's own form. The
    rest exist only where the venue has such an answer (``FakeVenue.faults``
    lists them; ``set_fault`` refuses the others):

    * RATE_LIMITED: binance 429; kraken 200 ``EAPI:Rate limit exceeded``;
      bybit 200 retCode 10006; okx 429 with the recorded 50011 body.
    * RATE_LIMITED_ALT: binance 418; kraken ``EGeneral:Too many requests``;
      bybit 403 IP limit (plain text); okx has none.
    * BODY_ERROR: kraken ``EService:Unavailable``; bybit retCode 10016; okx
      code 50001 (all HTTP 200); binance has none (it errs by status).
    * PARTIAL_RESULT: kraken only, the recorded 16-pair Ticker with an error.
    * GEO_BLOCKED: binance 451 JSON; bybit and okx 403 CloudFront HTML.
    * BAD_REQUEST: binance 400 -1121; kraken ``EGeneral:Invalid arguments``;
      bybit retCode 10001; okx 400 code 51000.

    ``retry_after`` (``set_fault``) adds the wait hint to both rate limits.
    """

    NONE = "none"
    HTTP_500 = "http_500"  # the venue's 500 body
    HTTP_502_HTML = "http_502_html"  # a proxy's HTML 502 page
    SLOW = "slow"  # the normal answer, after `delay` seconds
    REFUSED = "refused"  # the listening socket is closed (whole venue)
    TRUNCATED = "truncated"  # the normal answer's headers, half its body, then close
    GARBAGE = "garbage"  # 200 application/json that is not JSON
    WRONG_SHAPE = "wrong_shape"  # 200 valid JSON (success envelope) of the wrong shape
    EMPTY = "empty"  # 200 success envelope with nothing in it
    HTML_200 = "html_200"  # 200 text/html maintenance page
    RATE_LIMITED = "rate_limited"
    RATE_LIMITED_ALT = "rate_limited_alt"
    BODY_ERROR = "body_error"
    PARTIAL_RESULT = "partial_result"
    GEO_BLOCKED = "geo_blocked"
    BAD_REQUEST = "bad_request"


# Faults every venue supports; a profile adds its own from the table above.
COMMON_FAULTS = frozenset(
    {
        Fault.NONE,
        Fault.HTTP_500,
        Fault.HTTP_502_HTML,
        Fault.SLOW,
        Fault.REFUSED,
        Fault.TRUNCATED,
        Fault.GARBAGE,
        Fault.WRONG_SHAPE,
        Fault.EMPTY,
        Fault.HTML_200,
        Fault.RATE_LIMITED,
        Fault.BAD_REQUEST,
    }
)
RATE_LIMIT_FAULTS = frozenset({Fault.RATE_LIMITED, Fault.RATE_LIMITED_ALT})


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
class Plan:
    """What to answer one request with."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    truncate: bool = False


class Planner(Protocol):
    """The fake behind a server: decides each answer and records the request."""

    def _plan(self, method: str, path: str, query: str) -> Plan: ...

    def _record(self, method: str, path: str, query: str, status: int) -> None: ...


class Server(ThreadingHTTPServer):
    """One listening socket's lifetime; REFUSED/clear_fault replace it on the same port."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: Planner) -> None:
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
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
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
        assert isinstance(server, Server)
        path, _, query = self.path.partition("?")
        if self.command != "GET":
            # We never read request bodies, so do not reuse the connection.
            self.close_connection = True
        plan = server.fake._plan(self.command, path, query)
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
