"""Helpers for API tests: real snapshot stores in a temporary directory, and a fixed clock.

A `Store` writes snapshots with the real `SnapshotWriter` (so the files are
exactly what the consumer writes) at chosen UTC milliseconds, either from
explicit quotes or from the recorded Binance payload parsed by the real
adapter. Tests then read them back through the real `SnapshotReader`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from api.service import Converter
from consumer.exchanges.binance import parse_metadata, parse_quotes
from storage.codec import filename_for
from storage.model import Quote, Snapshot, format_iso_ms
from storage.reader import SnapshotReader
from storage.writer import SnapshotWriter
from tests.fake_exchange import BOOK_TICKER_FIXTURE, EXCHANGE_INFO_FIXTURE

EXCHANGE = "binance"
SECOND_MS = 1_000
DAY_MS = 86_400_000
MAX_AGE_MS = 60 * SECOND_MS  # the spec's default QUOTES_MAX_AGE_SECONDS
RETENTION_MS = 7 * DAY_MS  # the spec's default RETENTION_DAYS
# 2026-11-21T23:36:00.123Z: the spec's example moment, with non-zero milliseconds
# so that any truncation to whole seconds shows up as a wrong answer.
NOW_MS = 1_795_304_160_123


def quote(
    symbol: str,
    base: str,
    quote_: str,
    bid: str,
    ask: str,
    bid_qty: str | None = None,
    ask_qty: str | None = None,
) -> Quote:
    """A `Quote` from decimal strings, as the consumer builds it from the venue's."""
    return Quote(
        symbol,
        base,
        quote_,
        Decimal(bid),
        Decimal(ask),
        None if bid_qty is None else Decimal(bid_qty),
        None if ask_qty is None else Decimal(ask_qty),
    )


@functools.cache
def recorded_quotes() -> Mapping[str, Quote]:
    """The quotable symbols of the recorded payload, parsed by the real Binance adapter."""
    metadata = parse_metadata(json.loads(EXCHANGE_INFO_FIXTURE.read_bytes()))
    return parse_quotes(json.loads(BOOK_TICKER_FIXTURE.read_bytes()), metadata)


@dataclass(frozen=True)
class Store:
    """A snapshot store under `root`, written with the real writer."""

    root: Path
    exchange: str = EXCHANGE

    @property
    def directory(self) -> Path:
        return self.root / self.exchange

    def write(self, ms: int, quotes: Iterable[Quote]) -> Path:
        """Write one snapshot fetched at UTC `ms` holding exactly `quotes`."""
        writer = SnapshotWriter(self.root, self.exchange)
        writer.ensure_directory()
        by_symbol = {q.symbol: q for q in quotes}
        return writer.write(Snapshot(exchange=self.exchange, fetched_ms=ms, quotes=by_symbol))

    def write_schema1(self, ms: int, quotes: Iterable[Quote]) -> Path:
        """Write a schema-1 file (rows without sizes), as releases before venues did."""
        self.directory.mkdir(parents=True, exist_ok=True)
        rows = {q.symbol: [q.base, q.quote, f"{q.bid:f}", f"{q.ask:f}"] for q in quotes}
        document = {
            "schema": 1,
            "exchange": self.exchange,
            "fetched_at": format_iso_ms(ms),
            "fields": ["base", "quote", "bid", "ask"],
            "symbols": rows,
        }
        path = self.directory / filename_for(ms)
        path.write_bytes(orjson.dumps(document))
        return path

    def write_recorded(self, ms: int, *extra: Quote) -> Path:
        """Write the recorded payload's quotes at `ms`; `extra` quotes add or replace symbols."""
        return self.write(ms, [*recorded_quotes().values(), *extra])

    def reader(self) -> SnapshotReader:
        """A fresh reader that re-lists the directory on every look-up."""
        return SnapshotReader(self.root, self.exchange, rescan_after=0)

    def converter(
        self, *, max_age_ms: int = MAX_AGE_MS, retention_ms: int = RETENTION_MS
    ) -> Converter:
        """A `Converter` over this store with the spec's defaults."""
        return Converter(
            self.reader(), exchange=self.exchange, max_age_ms=max_age_ms, retention_ms=retention_ms
        )


class FixedClock:
    """A clock that says the same UTC millisecond until a test moves it."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """An empty store (no directory yet) in this test's temporary directory."""
    return Store(tmp_path / "data")


@pytest.fixture
def clock() -> FixedClock:
    """A fixed clock at NOW_MS."""
    return FixedClock(NOW_MS)
