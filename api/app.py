"""The Sanic application, built by a factory from settings and injected resources.

`create_app` is called once per worker process (Sanic's multi-worker mode
spawns fresh interpreters), so nothing here may rely on module state.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from sanic import Request, Sanic
from sanic.exceptions import BadRequest
from sanic.response import HTTPResponse

from api import docs, errors, http, metrics
from api.aggregate import AGGREGATES, Aggregator
from api.board import PriceBoard
from api.exceptions import InvalidParameterError
from api.limits import MAX_BODY_BYTES, MAX_HEAD_BYTES
from api.openapi import build_document
from api.page import install as install_page
from api.page import openapi_paths as page_paths
from api.params import (
    check_no_params,
    parse_convert_query,
    parse_exchange_query,
    parse_prices_query,
    parse_rates_query,
)
from api.rates import RateSeries
from api.rates_openapi import openapi_paths as rates_paths
from api.series import INTERVALS
from api.service import Converter
from api.status import VenueStatus
from settings import Settings
from storage.errors import StoreReadError
from storage.history import HistoryReader
from storage.reader import SnapshotReader

__all__ = ["create_app"]

_JSON = "application/json"
# Sanic refuses a second app with the same name in one process; tests build many.
_instances = itertools.count()
_HISTORY_MAX_AGE = 86_400


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _prepare(reader: SnapshotReader, history: HistoryReader | None) -> None:
    with contextlib.suppress(StoreReadError):  # unreadable now: requests will say so
        reader.refresh()
    if history is not None:
        history.warm()


def _query_string(request: Request) -> str:
    try:
        return request.query_string
    except UnicodeDecodeError:
        raise InvalidParameterError("The query string is not valid UTF-8.") from None


class _Request(Request):
    """Sanic's Request, able to stand in for a target that Sanic cannot parse.

    With a raw control byte in the request target, Sanic's error path rebuilds
    a placeholder request (method "NONE") from the same bytes, fails again, and
    drops the connection with a traceback in the log. The placeholder gets "/"
    instead, so the client receives our JSON 400.
    """

    def __init__(self, url_bytes: bytes, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(url_bytes, *args, **kwargs)
        except BadRequest:
            if kwargs.get("method") != "NONE":
                raise
            super().__init__(b"/", *args, **kwargs)


def create_app(
    settings: Settings,
    *,
    reader: SnapshotReader | None = None,
    readers: Mapping[str, SnapshotReader] | None = None,
    clock: Callable[[], int] = _now_ms,
    name: str | None = None,
    history: bool = True,
) -> Sanic[Any, Any]:
    """Build the API. Tests inject readers and `clock`; production passes neither.

    `readers` maps venues to their readers; `reader` alone stands for the
    default venue's (or the first venue's when the default is best/average).
    A venue without an injected reader reads `DATA_DIR/<venue>/`. With
    `history`, historical answers come from each venue's history index where
    it holds them (`api.history_lookup`); without, from the files only.
    """
    app: Sanic[Any, Any] = Sanic(
        name or f"crypto_converter_{next(_instances)}",
        configure_logging=False,
        strict_slashes=True,
        request_class=_Request,
        router=http.Router(),  # HEAD wherever GET is
    )
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES  # GET only: no request needs a body
    app.config.REQUEST_MAX_HEADER_SIZE = MAX_HEAD_BYTES
    venues = settings.exchanges
    given = dict(readers or {})
    if reader is not None:
        default = settings.default_exchange
        given.setdefault(default if default in venues else venues[0], reader)
    store = {
        venue: given.get(venue) or SnapshotReader(settings.data_dir, venue) for venue in venues
    }
    histories = {
        venue: HistoryReader(r.directory.parent, r.directory.name) for venue, r in store.items()
    }
    converters = {
        venue: Converter(
            store[venue],
            exchange=venue,
            max_age_ms=settings.quotes_max_age_ms,
            retention_ms=settings.retention_ms,
            history=histories[venue] if history else None,
        )
        for venue in venues
    }
    snapshots = [converter.snapshots for converter in converters.values()]
    aggregator = Aggregator(snapshots, outlier_percent=settings.average_outlier_percent)
    board = PriceBoard(snapshots, outlier_percent=settings.average_outlier_percent)
    status = VenueStatus(snapshots, default_exchange=settings.default_exchange)
    accepted = (*venues, *AGGREGATES)
    series = RateSeries(
        converters,
        aggregator,
        default_exchange=settings.default_exchange,
        retention_ms=settings.retention_ms,
    )
    rate_sources = (*venues, "average")
    default_exchange = settings.default_exchange
    document = build_document(
        venues,
        extra_paths={
            **rates_paths(venues),
            **metrics.openapi_paths(),
            **page_paths(),
            **docs.openapi_paths(),
        },
    )
    site = install_page(app)  # the page's files at /static/<name>; `/` asks it below
    docs.install(app, document)  # /docs, /docs/openapi.json and the explorer's files
    errors.install(app)
    metrics.install(
        app, settings, {v: c.snapshots.reader for v, c in converters.items()}, clock=clock
    )
    http.install(app)  # ETag on cacheable 200s, 304 for If-None-Match

    @app.on_request
    async def drain_body(request: Request) -> None:
        # GET takes no body, but Sanic logs "body not consumed" at ERROR after
        # any request that declared one (even Content-Length: 0): any client
        # could fill the log. Read it (REQUEST_MAX_SIZE caps it) and move on.
        if "content-length" in request.headers or "transfer-encoding" in request.headers:
            await request.receive_body()  # type: ignore[no-untyped-call]

    def json(body: object, status: int = 200, cache: str = "no-cache") -> HTTPResponse:
        return HTTPResponse(
            orjson.dumps(body),
            status=status,
            headers={"Cache-Control": cache, "Access-Control-Allow-Origin": "*"},
            content_type=_JSON,
        )

    def cache_for(at_ms: int | None, quoted_ms: int | None, now: int) -> str:
        if at_ms is None or quoted_ms is None or at_ms >= now - settings.quotes_max_age_ms:
            return "no-cache"
        # No snapshot at or before T can still appear once T is this far in the
        # past (snapshots are written within SNAPSHOT_INTERVAL <= the max age),
        # so the answer stands until retention deletes the snapshot it used.
        left = (quoted_ms + settings.retention_ms - now) // 1000
        return f"public, max-age={max(0, min(_HISTORY_MAX_AGE, left))}"

    @app.get("/convert")
    async def convert(request: Request) -> HTTPResponse:
        now = clock()
        query = parse_convert_query(_query_string(request), now, exchanges=accepted)
        exchange = query.exchange or default_exchange
        converter = converters.get(exchange)
        if converter is not None:
            result = converter.convert(query, now)
            return json(result.to_body(), cache=cache_for(query.at_ms, result.quoted_ms, now))
        answer = aggregator.convert(query, exchange, now)
        return json(answer.to_body(), cache=cache_for(query.at_ms, answer.quoted_ms, now))

    @app.before_server_start
    async def prepare_readers(app: Sanic[Any, Any]) -> None:
        # Before the first request, in a thread (nothing else uses the readers
        # yet): each venue's listing (~0.15 s for 20,160 names) and every
        # segment's symbol table (~1 ms each, ~170 for 7 days), so that no
        # request pays for them on the event loop.
        for venue in venues:
            await asyncio.to_thread(_prepare, store[venue], histories[venue] if history else None)
        # What was just read lives as long as the process, and every full
        # collection would walk it: ~45 ms a pass with four venues' 7-day
        # indexes, one every few long /rates answers, holding every request
        # (bench/run.py). Frozen, those passes see only what requests allocate.
        gc.freeze()

    @app.after_server_stop
    async def thaw(app: Sanic[Any, Any]) -> None:
        gc.unfreeze()  # so that another app in this process (tests) leaves nothing frozen

    @app.get("/rates")
    async def rates(request: Request) -> HTTPResponse:
        now = clock()
        query = parse_rates_query(
            _query_string(request), now, exchanges=rate_sources, intervals=tuple(INTERVALS)
        )
        answer = await series.answer(query, now)
        # A clipped start moves with the clock, so only an unclipped range can be stored.
        at = None if answer.plan.clipped else answer.plan.end_ms
        return HTTPResponse(
            answer.body,
            headers={
                "Cache-Control": cache_for(at, answer.oldest_quoted_ms, now),
                "Access-Control-Allow-Origin": "*",
            },
            content_type=_JSON,
        )

    @app.get("/prices")
    async def prices(request: Request) -> HTTPResponse:
        now = clock()
        query = parse_prices_query(_query_string(request), now, venues=venues)
        answer = board.prices(query, now)
        return HTTPResponse(
            answer.body,
            headers={
                "Cache-Control": cache_for(query.at_ms, answer.quoted_ms, now),
                "Access-Control-Allow-Origin": "*",
            },
            content_type=_JSON,
        )

    @app.get("/exchanges")
    async def exchanges(request: Request) -> HTTPResponse:
        check_no_params(_query_string(request))
        return json(status.exchanges(clock()))

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        check_no_params(_query_string(request))
        code, body = status.health(clock())
        return json(body, status=code, cache="no-store")

    @app.get("/currencies")
    async def currencies(request: Request) -> HTTPResponse:
        exchange = parse_exchange_query(_query_string(request), venues=venues)
        return json(status.currencies(clock(), exchange))

    @app.get("/")
    async def index(request: Request) -> HTTPResponse:
        # A browser gets the page (api/page.py); every other client this JSON index.
        index_json = json(
            {
                "name": "crypto-converter",
                "endpoints": [
                    "/convert",
                    "/rates",
                    "/prices",
                    "/exchanges",
                    "/health",
                    "/currencies",
                    "/docs",
                    "/docs/openapi.json",
                ],
            }
        )
        return site.index(request, index_json)

    return app
