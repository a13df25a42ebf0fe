"""``FakeVenue``: one fake exchange on its own loopback port.

A venue serves its profile's recordings (``binance.py``, ``kraken.py``,
``bybit.py``, ``okx.py``) and can be switched, at any time and from any
thread, to a fault, a price factor or replacement payloads. Usage::

    with FakeVenue("kraken") as kraken:
        kraken.set_fault(Fault.RATE_LIMITED, retry_after=None)
        ...  # point the consumer at kraken.base_url
        assert kraken.requests_to("/0/public/Ticker")
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs

from tests.fakes import binance, bybit, kraken, okx
from tests.fakes.binance import BINANCE_ONLY, BinanceFault, as_fault
from tests.fakes.core import (
    BODY_502_HTML,
    BODY_GARBAGE,
    HTML,
    RATE_LIMIT_FAULTS,
    Fault,
    Plan,
    RecordedRequest,
    Server,
    maintenance_page,
)
from tests.fakes.profile import Profile, Served

PROFILES: dict[str, type[Profile]] = {
    profile.name: profile
    for profile in (
        binance.BinanceProfile,
        kraken.KrakenProfile,
        bybit.BybitProfile,
        okx.OkxProfile,
    )
}
KNOWN_VENUES = tuple(PROFILES)  # ("binance", "kraken", "bybit", "okx")


@dataclass(frozen=True)
class _FaultConfig:
    fault: Fault = Fault.NONE
    endpoint: str | None = None
    retry_after: int | None = 2
    delay: float = 5.0


class FakeVenue:
    """One venue's fake REST API on loopback; see the module docstring."""

    def __init__(self, name: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if name not in PROFILES:
            raise ValueError(f"unknown venue {name!r}; expected one of {KNOWN_VENUES}")
        self.name = name
        self.profile = PROFILES[name]()
        self._host = host
        self._port = port
        # _lock guards the payload snapshot, fault config and requests (held only
        # briefly, also by handler threads); _lifecycle serialises binding and
        # unbinding, which waits for handler threads and so never holds _lock.
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()
        self._bodies = self.profile.default_bodies()
        self._books = self.profile.default_books()
        self._factor = Decimal(1)
        self._served = self._snapshot()
        self._config = _FaultConfig()
        self._started = False
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[RecordedRequest] = []

    # -- identity ----------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError(f"fake {self.name} has no port yet: call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def env_var(self) -> str:
        """The setting that points the service at this venue: ``KRAKEN_BASE_URL``."""
        return self.profile.env_var

    @property
    def paths(self) -> tuple[str, ...]:
        return self.profile.paths

    @property
    def faults(self) -> frozenset[Fault]:
        """The faults this venue can inject (``set_fault`` refuses the others)."""
        return self.profile.faults

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> Self:
        with self._lifecycle:
            if self._started:
                raise RuntimeError(f"fake {self.name} already started")
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
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _bind(self) -> None:
        server = Server((self._host, self._port), self)
        self._port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-{self.name}:{self._port}",
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

    # -- behaviour control ---------------------------------------------------------

    def set_fault(
        self,
        fault: Fault | BinanceFault,
        *,
        endpoint: str | None = None,
        retry_after: int | None = 2,
        delay: float = 5.0,
    ) -> None:
        """Inject ``fault`` on every path (``endpoint=None``) or on one path.

        One fault at a time: this replaces the previous one. ``retry_after``
        (seconds) adds the venue's wait hint to a rate-limit answer; ``None``
        sends none. ``delay`` is how long SLOW holds each answer: make it
        longer than the client's timeout. ``REFUSED`` closes the listening
        socket (and open connections); leaving it re-binds the same port.
        """
        if isinstance(fault, BinanceFault) and fault in BINANCE_ONLY and self.name != "binance":
            raise ValueError(f"{fault.name} is a Binance status; use {BINANCE_ONLY[fault]}")
        fault = as_fault(fault)
        if fault not in self.faults:
            names = ", ".join(sorted(f.name for f in self.faults))
            raise ValueError(f"{self.name} has no {fault.name} answer; it has: {names}")
        if endpoint is not None and endpoint not in self.paths:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {self.paths}")
        if fault is Fault.REFUSED and endpoint is not None:
            raise ValueError("Fault.REFUSED applies to the whole server, not one endpoint")
        if endpoint is not None and endpoint not in self.profile.paths_for(fault):
            raise ValueError(f"{fault.name} applies only to {self.profile.paths_for(fault)}")
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after must be >= 0 or None, not {retry_after}")
        with self._lifecycle:
            with self._lock:
                self._config = _FaultConfig(fault, endpoint, retry_after, delay)
            if self._started:
                self._sync_refused()

    def clear_fault(self) -> None:
        self.set_fault(Fault.NONE)

    def set_price_factor(self, factor: Decimal) -> None:
        """Multiply every bid and ask the quote endpoint serves by ``factor`` (exact)."""
        if not isinstance(factor, Decimal) or not factor.is_finite() or factor <= 0:
            raise ValueError(f"price factor must be a positive finite Decimal, not {factor!r}")
        with self._lock:
            self._factor = factor
            self._served = self._snapshot()

    def set_body(self, path: str, body: bytes) -> None:
        """Replace the payload a path serves (bytes served verbatim, bar the price factor)."""
        if path not in self.profile.payload_paths:
            raise ValueError(
                f"{path!r} serves no stored payload; one of {self.profile.payload_paths}"
            )
        with self._lock:
            self._bodies[path] = body
            self._served = self._snapshot()

    def set_quotes_body(self, body: bytes) -> None:
        """Replace the quote endpoint's payload (bookTicker, Ticker, tickers)."""
        self.set_body(self.profile.quotes_path, body)

    def set_metadata_body(self, body: bytes) -> None:
        """Replace the metadata endpoint's payload (exchangeInfo, AssetPairs, instruments)."""
        self.set_body(self.profile.metadata_path, body)

    def set_depth_body(self, symbol: str, body: bytes) -> None:
        """Serve ``body`` as the recorded order book of ``symbol`` (the venue's symbol)."""
        with self._lock:
            self._books[symbol] = body
            self._served = self._snapshot()

    def _snapshot(self) -> Served:
        raw = self._bodies[self.profile.quotes_path]
        served = {**self._bodies, self.profile.quotes_path: self.profile.scaled(raw, self._factor)}
        return Served(bodies=served, raw_quotes=raw, books=dict(self._books))

    # -- recorded traffic ------------------------------------------------------------

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _record(self, method: str, path: str, query: str, status: int) -> None:
        entry = RecordedRequest(time.monotonic(), time.time(), method, path, status, query)
        with self._lock:
            self.requests.append(entry)

    # -- responses ---------------------------------------------------------------------

    def _plan(self, method: str, path: str, query: str) -> Plan:
        with self._lock:
            config, served = self._config, self._served
        profile = self.profile
        if method != "GET" or path not in profile.paths:
            return profile.not_found(method, path)  # even under a fault
        params = {key: values[0] for key, values in parse_qs(query, keep_blank_values=True).items()}
        normal = profile.answer(path, params, served)
        fault = config.fault
        applies = config.endpoint in (None, path) and path in profile.paths_for(fault)
        if not applies:
            return normal
        match fault:
            case Fault.NONE | Fault.REFUSED:  # REFUSED: only reachable in a race
                return normal
            case Fault.SLOW:
                return replace(normal, delay=config.delay)
            case Fault.TRUNCATED:
                return replace(normal, truncate=True)
            case Fault.GARBAGE:
                return Plan(200, BODY_GARBAGE)
            case Fault.HTTP_502_HTML:
                return Plan(502, BODY_502_HTML, HTML)
            case Fault.HTML_200:
                return Plan(200, maintenance_page(profile.title), HTML)
        plan = profile.fault_answer(fault, path, params)
        if fault in RATE_LIMIT_FAULTS and config.retry_after is not None:
            plan = replace(plan, headers=plan.headers + profile.retry_headers(config.retry_after))
        return plan
