"""Venue adapters: one module per exchange, behind one small protocol.

An adapter module has `NAME`, async `fetch_metadata(client)`,
`fetch_quotes(client, metadata, skipped)`, `fetch_stats(client, metadata)` and
`fetch_depth(client, symbol, limit)`, and pure `parse_*` functions tested
against recorded payloads. Everything venue-specific (endpoints, error bodies,
rate-limit answers, field names, status rule, code aliases) lives in that
module; what every venue does alike lives in two private modules: `_http`
(a GET, with every transport failure mapped) and `_book` (plain decimals,
codes, one top of book -> Quote or skip reason, depth levels). Adding an
exchange adds a module and a line in `REGISTRY` (and its name in
`settings.KNOWN_VENUES`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from consumer.exchanges import binance, bybit, kraken, okx
from consumer.exchanges._model import OrderBook, SymbolStats
from storage.model import Quote

__all__ = ["REGISTRY", "ExchangeAdapter"]


class ExchangeAdapter(Protocol):
    NAME: str

    async def fetch_metadata(self, client: httpx.AsyncClient) -> Mapping[str, Any]: ...

    async def fetch_quotes(
        self,
        client: httpx.AsyncClient,
        metadata: Mapping[str, Any],
        skipped: Counter[str] | None = None,
    ) -> dict[str, Quote]: ...


class MarketAdapter(ExchangeAdapter, Protocol):
    """An adapter that also serves the market analytics (24 h statistics, order books)."""

    async def fetch_stats(
        self, client: httpx.AsyncClient, metadata: Mapping[str, Any]
    ) -> dict[str, SymbolStats]: ...

    async def fetch_depth(
        self, client: httpx.AsyncClient, symbol: str, limit: int
    ) -> OrderBook: ...


REGISTRY: dict[str, ExchangeAdapter] = {
    binance.NAME: binance,
    kraken.NAME: kraken,
    bybit.NAME: bybit,
    okx.NAME: okx,
}
