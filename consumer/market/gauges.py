"""The market figures as Prometheus gauges, with no stale series.

A gauge series is one label set. When a symbol leaves a ranking its series
must go (a dashboard would otherwise keep showing a symbol that no longer
ranks), so every owner (a venue's ranking, a venue's notionals, a venue's
spreads) replaces its whole set of series at once: `_Series.replace`.
Decimals become floats here and nowhere earlier.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Gauge

from consumer.market.analytics import Ranked

__all__ = ["RANKINGS", "MarketGauges"]

# ranking label -> what it ranks (docs/metrics.md).
RANKINGS = {
    "btc_quote_volume": "24 h quote volume in BTC, BTC-quoted symbols",
    "usdt_trades": "24 h number of trades, USDT-quoted symbols",
}
SIDES = ("bid", "ask")
MARKET_DATA = ("stats", "depth")


class _Series:
    """The label sets one owner currently exposes on a gauge."""

    def __init__(self, gauge: Gauge, *fixed: str) -> None:
        self._gauge = gauge
        self._fixed = fixed
        self._current: set[tuple[str, ...]] = set()

    def replace(self, values: Mapping[tuple[str, ...], Decimal]) -> None:
        """Expose exactly `values` (label values after the fixed ones -> figure)."""
        for labels, value in values.items():
            self._gauge.labels(*self._fixed, *labels).set(float(value))
        for labels in self._current - values.keys():
            self._gauge.remove(*self._fixed, *labels)
        self._current = set(values)


class MarketGauges:
    """The `crypto_market_*` gauges and the market fetch counter, on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.top_symbol = Gauge(
            "crypto_market_top_symbol",
            "The ranked figure of the symbol at `rank` of `ranking` "
            "(btc_quote_volume: 24 h quote volume in BTC; usdt_trades: 24 h trades)",
            ["exchange", "ranking", "rank", "symbol"],
            registry=registry,
        )
        self.book_notional = Gauge(
            "crypto_market_book_notional",
            "Sum of price x quantity over the top 200 levels of one side of the order book, "
            "in quote units, for the top BTC-quoted symbols by 24 h volume",
            ["exchange", "symbol", "side"],
            registry=registry,
        )
        self.spread = Gauge(
            "crypto_market_spread",
            "Ask minus bid at the top of the book, in quote units, "
            "for the top USDT-quoted symbols by 24 h trades",
            ["exchange", "symbol"],
            registry=registry,
        )
        self.spread_abs_change = Gauge(
            "crypto_market_spread_abs_change",
            "Absolute change of crypto_market_spread since the previous market interval",
            ["exchange", "symbol"],
            registry=registry,
        )
        self.fetches = Counter(
            "crypto_converter_market_fetches",
            "Market data requests (24 h stats, order books) by venue and outcome",
            ["exchange", "data", "outcome"],
            registry=registry,
        )
        self._series: dict[tuple[object, ...], _Series] = {}

    def _owner(self, gauge: Gauge, *fixed: str) -> _Series:
        key = (gauge, *fixed)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(gauge, *fixed)
        return series

    def fetched(self, venue: str, data: str, outcome: str) -> None:
        self.fetches.labels(venue, data, outcome).inc()

    def ranking(self, venue: str, ranking: str, ranked: tuple[Ranked, ...]) -> None:
        """Expose one ranking of one venue; places and symbols not in it are removed."""
        self._owner(self.top_symbol, venue, ranking).replace(
            {(str(r.rank), r.symbol): r.value for r in ranked}
        )

    def notionals(self, venue: str, books: Mapping[str, tuple[Decimal, Decimal]]) -> None:
        """Expose the bid and ask notionals of exactly these symbols."""
        self._owner(self.book_notional, venue).replace(
            {
                (symbol, side): value
                for symbol, sides in books.items()
                for side, value in zip(SIDES, sides, strict=True)
            }
        )

    def spreads(
        self, venue: str, spreads: Mapping[str, Decimal], changes: Mapping[str, Decimal]
    ) -> None:
        """Expose exactly these spreads and absolute changes."""
        self._owner(self.spread, venue).replace({(s,): v for s, v in spreads.items()})
        self._owner(self.spread_abs_change, venue).replace({(s,): v for s, v in changes.items()})
