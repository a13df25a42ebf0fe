"""Exchange adapters: one module per exchange, behind one small protocol.

An adapter module has `NAME`, an async `fetch_metadata(client)`, an async
`fetch_quotes(client, metadata)`, and pure `parse_*` functions tested against
recorded payloads. Adding an exchange adds a module and a line in `REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from consumer.exchanges import binance
from storage.model import Quote

__all__ = ["REGISTRY", "ExchangeAdapter"]


class ExchangeAdapter(Protocol):
    NAME: str

    async def fetch_metadata(self, client: httpx.AsyncClient) -> Mapping[str, Any]: ...

    async def fetch_quotes(
        self, client: httpx.AsyncClient, metadata: Mapping[str, Any]
    ) -> dict[str, Quote]: ...


REGISTRY: dict[str, ExchangeAdapter] = {binance.NAME: binance}
