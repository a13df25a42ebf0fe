"""Fake exchanges (Binance, Kraken, Bybit, OKX) on loopback, for tests and manual demos.

Each venue is one stdlib ``ThreadingHTTPServer`` on its own 127.0.0.1 port,
serving recorded payloads from ``tests/fixtures/<venue>/`` and able to inject
the venue's own failure answers. The layout:

* ``core.py``: ``Fault``, ``RecordedRequest``, the HTTP server;
* ``profile.py``: what a venue profile provides, the depth and price rules;
* ``binance.py``, ``kraken.py``, ``bybit.py``, ``okx.py``: one profile each;
* ``venue.py``: ``FakeVenue`` (one venue); ``legacy.py``: ``FakeBinance``;
* ``exchanges.py``: ``FakeExchanges`` (several venues, their env settings);
* ``cli.py``: ``python -m tests.fake_exchange [--all]``.

``tests/fake_exchange.py`` keeps the original single-venue names importable.
"""

from tests.fakes.binance import BinanceFault
from tests.fakes.core import Fault, RecordedRequest
from tests.fakes.exchanges import FakeExchanges, demo_ports
from tests.fakes.legacy import FakeBinance
from tests.fakes.venue import KNOWN_VENUES, FakeVenue

__all__ = [
    "KNOWN_VENUES",
    "BinanceFault",
    "FakeBinance",
    "FakeExchanges",
    "FakeVenue",
    "Fault",
    "RecordedRequest",
    "demo_ports",
]
