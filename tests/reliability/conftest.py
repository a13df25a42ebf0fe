"""Helpers for the reliability tests: the store on disk, a raw HTTP client, the API process.

Everything here talks to real things: snapshot files written with the real
`SnapshotWriter`, `python run.py api` on a loopback port (through
`tests.procs.Proc`), and a socket client that sends request targets byte for
byte, because httpx re-encodes a URL it is given and a hostile client does not.
"""

from __future__ import annotations

import functools
import json
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from consumer.exchanges.binance import parse_metadata, parse_quotes
from storage.codec import ms_from_filename
from storage.model import Quote, Snapshot
from storage.writer import TEMP_PREFIX, SnapshotWriter
from tests.fake_exchange import BOOK_TICKER_FIXTURE, EXCHANGE_INFO_FIXTURE
from tests.procs import REPO_ROOT, Proc, free_port, settings_env, wait_until

EXCHANGE = "binance"
# The API never talks to the exchange; settings_env still wants a URL.
UNUSED_EXCHANGE_URL = "http://127.0.0.1:9"

# The spec's closed set of error codes (section 2, "Errors"), plus the two for
# oversized requests (issue #14, in the README).
ERROR_CODES = frozenset(
    {
        "invalid_parameter",
        "missing_parameter",
        "invalid_amount",
        "invalid_timestamp",
        "unknown_currency",
        "pair_not_found",
        "quotes_not_found",
        "rate_below_precision",
        "quotes_outdated",
        "quotes_unavailable",
        "not_found",
        "method_not_allowed",
        "payload_too_large",
        "headers_too_large",
        "internal_error",
    }
)
# 503 is documented only with these codes; any other 5xx is a failure.
DOCUMENTED_503 = frozenset({"quotes_outdated", "quotes_unavailable"})
# Nothing of the server's insides may reach a client: no traceback, no source
# file, no path of the deployment.
LEAK_MARKERS = ("Traceback", 'File "', ".py", "/work", str(REPO_ROOT), "site-packages")

_WROTE = re.compile(r"\bwrote (\d{8}T\d{6}\.\d{3}Z\.json) ")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- the store on disk ----------------------------------------------------------


@functools.cache
def recorded_quotes() -> Mapping[str, Quote]:
    """The recorded payload's quotable symbols, parsed by the real Binance adapter."""
    metadata = parse_metadata(json.loads(EXCHANGE_INFO_FIXTURE.read_bytes()))
    return parse_quotes(json.loads(BOOK_TICKER_FIXTURE.read_bytes()), metadata)


def write_snapshot(data_dir: Path, ms: int) -> Path:
    """Write the recorded quotes as the snapshot fetched at UTC `ms`, with the real writer."""
    writer = SnapshotWriter(data_dir, EXCHANGE)
    writer.ensure_directory()
    return writer.write(Snapshot(EXCHANGE, ms, dict(recorded_quotes())))


def snapshot_names(data_dir: Path) -> list[str]:
    """Finished snapshot file names (what a reader may use), oldest first."""
    directory = data_dir / EXCHANGE
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if ms_from_filename(p.name) is not None)


def snapshot_times(data_dir: Path) -> list[int]:
    """Fetch times (UTC ms) of the finished snapshot files, oldest first."""
    return [ms for name in snapshot_names(data_dir) if (ms := ms_from_filename(name)) is not None]


def temporaries(data_dir: Path) -> list[str]:
    """Names of temporary (`.tmp-*`) files in the exchange directory."""
    directory = data_dir / EXCHANGE
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(TEMP_PREFIX))


def tree_state(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path under (and including) `root`: (is_dir, size, mtime_ns). Atime is ignored."""
    state: dict[str, tuple[bool, int, int]] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        state[str(path.relative_to(root))] = (path.is_dir(), info.st_size, info.st_mtime_ns)
    return state


def wrote_names(output: str) -> list[str]:
    """File names from a consumer's `wrote <name> (...)` log lines, in order."""
    return _WROTE.findall(output)


def lines_with(output: str, *needles: str) -> list[str]:
    """The log lines that contain every one of `needles`."""
    return [line for line in output.splitlines() if all(n in line for n in needles)]


# -- a raw HTTP/1.1 client --------------------------------------------------------


class DroppedConnectionError(AssertionError):
    """The server closed or reset the connection without a complete response."""


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-cased names; the last value wins
    body: bytes

    def json(self) -> object:
        return orjson.loads(self.body)


def raw_request(
    port: int,
    target: bytes,
    *,
    method: bytes = b"GET",
    headers: bytes = b"",
    body: bytes = b"",
    timeout: float = 10.0,
) -> RawResponse:
    """Send `<method> <target> HTTP/1.1` exactly as given and read one whole response.

    The request target is not re-encoded in any way; `headers` are raw header
    lines, each ending in CRLF. A response cut short (EOF or reset before the
    headers and `Content-Length` bytes arrived) raises DroppedConnectionError.
    """
    start = method + b" " + target + b" HTTP/1.1\r\n"
    request = start + b"Host: 127.0.0.1\r\nConnection: close\r\n" + headers + b"\r\n" + body
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise DroppedConnectionError(f"no complete response to {target[:120]!r}: got {data!r}")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise DroppedConnectionError(f"bad status line {status_line!r} for {target[:120]!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    if length < 0 or len(body) < length:
        raise DroppedConnectionError(
            f"body cut short for {target[:120]!r}: {len(body)} of {length} bytes"
        )
    return RawResponse(int(parts[1]), headers, body[:length])


def check_api_response(response: RawResponse, *, data_dir: Path | None = None) -> None:
    """The invariants of every API answer to any request.

    Never a 500; a 5xx only as a documented 503; every non-200 a JSON error
    body from the closed set, marked no-store; no body leaks the server's
    insides (the client's own echoed parameter name excepted).
    """
    assert response.status < 500 or response.status == 503, response
    if response.status == 200:
        return
    assert response.headers.get("content-type") == "application/json", response
    assert response.headers.get("cache-control") == "no-store", response
    body = response.json()
    assert isinstance(body, dict), response
    assert body.get("error") in ERROR_CODES, response
    assert isinstance(body.get("message"), str), response
    if response.status == 503:
        assert body["error"] in DOCUMENTED_503, response
    assert_no_leak(body, data_dir=data_dir)


def assert_no_leak(body: dict[str, object], *, data_dir: Path | None = None) -> None:
    """No traceback, source file or server path in an error body.

    The API echoes an offending parameter *name* (cut to 64 characters) back to
    the client; that echo is the client's own text and is removed first.
    """
    details = body.get("details")
    echoed = details.get("parameter") if isinstance(details, dict) else None
    stripped = dict(body)
    if isinstance(echoed, str):
        stripped["message"] = str(body.get("message", "")).replace(repr(echoed), "'<echo>'")
        stripped["details"] = {**(details or {}), "parameter": "<echo>"}
    text = orjson.dumps(stripped).decode()
    markers = LEAK_MARKERS if data_dir is None else (*LEAK_MARKERS, str(data_dir))
    for marker in markers:
        assert marker not in text, f"{marker!r} leaked in {body!r}"


# -- processes --------------------------------------------------------------------


def api_env(data_dir: Path, port: int, **overrides: str) -> dict[str, str]:
    """Every setting for an API process on `port` over `data_dir`."""
    return settings_env(
        base_url=UNUSED_EXCHANGE_URL, data_dir=data_dir, API_PORT=str(port), **overrides
    )


def wait_listening(proc: Proc, port: int, timeout: float = 15.0) -> None:
    """Wait until the API `proc` accepts connections on 127.0.0.1:`port` and handles signals.

    Sanic opens the port before it installs its SIGTERM handler (and sets
    SIGTERM to "ignore" for a moment in between), so a SIGTERM sent as soon as
    the port answers can kill it with -15 or be lost. "Worker ready" is logged
    once the handlers are in place.
    """

    def accepting() -> bool:
        assert proc.alive(), proc.output()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(accepting, timeout, message=proc.output)
    proc.wait_for_log("Worker ready", timeout)


@dataclass(frozen=True)
class RunningApi:
    proc: Proc
    port: int
    data_dir: Path

    def get(
        self,
        target: str | bytes,
        *,
        method: bytes = b"GET",
        headers: bytes = b"",
        body: bytes = b"",
    ) -> RawResponse:
        raw = target.encode("ascii") if isinstance(target, str) else target
        return raw_request(self.port, raw, method=method, headers=headers, body=body)


def start_api(workdir: Path, data_dir: Path, *, name: str = "api", **overrides: str) -> RunningApi:
    """Start `python run.py api` over `data_dir` and wait until it listens (caller stops it)."""
    port = free_port()
    proc = Proc("api", env=api_env(data_dir, port, **overrides), workdir=workdir, name=name)
    try:
        wait_listening(proc, port)
    except BaseException:
        proc.cleanup()
        raise
    return RunningApi(proc, port, data_dir)
