"""``FakeExchanges``: the four fake venues (or a chosen subset) started together.

Each venue gets its own loopback port, so a consumer in another process
reaches it through its usual ``<VENUE>_BASE_URL`` setting::

    with FakeExchanges() as fakes:
        env = {**fakes.env, "EXCHANGES": ",".join(fakes.names)}
        fakes["okx"].set_price_factor(Decimal("1.2"))  # OKX quotes 20 % higher
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Self

from tests.fakes.legacy import FakeBinance
from tests.fakes.venue import KNOWN_VENUES, FakeVenue

# Offsets from a base port for the CLI's `--all`: 9100, 9102, 9103, 9104.
# 9101 is skipped because it is the consumer's default METRICS_PORT.
DEMO_PORT_OFFSETS = {"binance": 0, "kraken": 2, "bybit": 3, "okx": 4}


def demo_ports(base: int) -> dict[str, int]:
    """The ports `--all` uses from `base` (all 0, i.e. ephemeral, when base is 0)."""
    return {name: base + offset if base else 0 for name, offset in DEMO_PORT_OFFSETS.items()}


class FakeExchanges:
    """Several fake venues, each on its own port; indexable by venue name."""

    def __init__(
        self,
        venues: Iterable[str] = KNOWN_VENUES,
        *,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
    ) -> None:
        names = tuple(dict.fromkeys(venues))
        unknown = [name for name in names if name not in KNOWN_VENUES]
        if unknown or not names:
            raise ValueError(f"venues must be some of {KNOWN_VENUES}, got {list(venues)}")
        ports = ports or {}
        self.venues: dict[str, FakeVenue] = {
            name: (
                FakeBinance(host=host, port=ports.get(name, 0))
                if name == "binance"
                else FakeVenue(name, host=host, port=ports.get(name, 0))
            )
            for name in names
        }

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.venues)

    def __getitem__(self, name: str) -> FakeVenue:
        return self.venues[name]

    def __iter__(self) -> Iterator[FakeVenue]:
        return iter(self.venues.values())

    @property
    def base_urls(self) -> dict[str, str]:
        """Venue name -> base URL, e.g. ``{"kraken": "http://127.0.0.1:40123"}``."""
        return {name: venue.base_url for name, venue in self.venues.items()}

    @property
    def env(self) -> dict[str, str]:
        """The settings that point the service here: ``{"KRAKEN_BASE_URL": ..., ...}``."""
        return {venue.env_var: venue.base_url for venue in self.venues.values()}

    def start(self) -> Self:
        started: list[FakeVenue] = []
        try:
            for venue in self.venues.values():
                started.append(venue.start())
        except BaseException:
            for venue in started:
                venue.stop()
            raise
        return self

    def stop(self) -> None:
        for venue in self.venues.values():
            venue.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
