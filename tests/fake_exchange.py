"""The fake exchanges' original entry point: the single-venue Binance names, and the CLI.

The fakes themselves live in ``tests/fakes/`` (one module per venue; see its
``__init__``). This module keeps what tests written for the Binance-only fake
import: ``FakeBinance`` (now the Binance profile of ``FakeVenue``), ``Fault``
(the original Binance fault names, ``tests.fakes.BinanceFault``), the path,
fixture and body constants. New tests use ``tests.fakes``: ``FakeVenue``,
``FakeExchanges`` and the venue-neutral ``tests.fakes.Fault``.

Binance endpoints (GET only; the query string is ignored except by depth)::

    /api/v3/exchangeInfo          -> the trimmed exchangeInfo recording
    /api/v3/ticker/bookTicker     -> the all-symbols bookTicker body
    /api/v3/ticker/24hr           -> the trimmed 24 h ticker recording
    /api/v3/depth?symbol=S&limit=N   -> a recorded book, a derived top of book, or -1121
    anything else                 -> 404 with a Binance-style JSON error body

Usage in a test::

    with FakeBinance() as fake:
        fake.set_fault(Fault.HTTP_429, retry_after=1)
        ...  # point the consumer at fake.base_url
        assert fake.requests_to(BOOK_TICKER_PATH)

Manual demo (from the repository root)::

    python -m tests.fake_exchange --port 9100 [--fault http_429] [--endpoint PATH]
    python -m tests.fake_exchange --all        # the four venues; prints the env lines
"""

from __future__ import annotations

from tests.fakes.binance import BINANCE_FIXTURES as FIXTURES
from tests.fakes.binance import (
    BODY_400,
    BODY_451,
    BODY_500,
    BODY_EMPTY_LIST,
    BODY_WRONG_SHAPE_LIST,
    BODY_WRONG_SHAPE_OBJECT,
    BOOK_TICKER_FIXTURE,
    BOOK_TICKER_PATH,
    DEPTH_FIXTURES,
    DEPTH_PATH,
    ERROR_418_FIXTURE,
    ERROR_429_FIXTURE,
    EXCHANGE_INFO_FIXTURE,
    EXCHANGE_INFO_PATH,
    TICKER_24HR_FIXTURE,
    TICKER_24HR_PATH,
)
from tests.fakes.binance import BinanceFault as Fault
from tests.fakes.cli import main
from tests.fakes.core import BODY_502_HTML, BODY_GARBAGE, HTML, JSON, RecordedRequest
from tests.fakes.core import maintenance_page as _maintenance_page
from tests.fakes.exchanges import FakeExchanges
from tests.fakes.legacy import FakeBinance
from tests.fakes.venue import FakeVenue

ENDPOINTS = (EXCHANGE_INFO_PATH, BOOK_TICKER_PATH, TICKER_24HR_PATH, DEPTH_PATH)
BODY_HTML_200 = _maintenance_page("Binance")

__all__ = [
    "BODY_400",
    "BODY_451",
    "BODY_500",
    "BODY_502_HTML",
    "BODY_EMPTY_LIST",
    "BODY_GARBAGE",
    "BODY_HTML_200",
    "BODY_WRONG_SHAPE_LIST",
    "BODY_WRONG_SHAPE_OBJECT",
    "BOOK_TICKER_FIXTURE",
    "BOOK_TICKER_PATH",
    "DEPTH_FIXTURES",
    "DEPTH_PATH",
    "ENDPOINTS",
    "ERROR_418_FIXTURE",
    "ERROR_429_FIXTURE",
    "EXCHANGE_INFO_FIXTURE",
    "EXCHANGE_INFO_PATH",
    "FIXTURES",
    "HTML",
    "JSON",
    "TICKER_24HR_FIXTURE",
    "TICKER_24HR_PATH",
    "FakeBinance",
    "FakeExchanges",
    "FakeVenue",
    "Fault",
    "RecordedRequest",
    "main",
]

if __name__ == "__main__":
    raise SystemExit(main())
