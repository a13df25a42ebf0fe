"""``FakeBinance``: the Binance venue with the API of the original single-venue fake.

Tests written before the other venues existed construct it with payloads
(``FakeBinance(book_ticker=...)``), call ``set_book_ticker`` and
``set_exchange_info``, and pass the original fault names
(``tests.fake_exchange.Fault``, i.e. ``BinanceFault``); all of that maps onto
``FakeVenue("binance")``.
"""

from __future__ import annotations

from typing import ClassVar

from tests.fakes import binance
from tests.fakes.venue import FakeVenue


class FakeBinance(FakeVenue):
    """The Binance venue with the original single-venue API (constructor payloads, names)."""

    EXCHANGE_INFO_PATH: ClassVar[str] = binance.EXCHANGE_INFO_PATH
    BOOK_TICKER_PATH: ClassVar[str] = binance.BOOK_TICKER_PATH

    def __init__(
        self,
        *,
        exchange_info: bytes | None = None,
        book_ticker: bytes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__("binance", host=host, port=port)
        if exchange_info is not None:
            self.set_exchange_info(exchange_info)
        if book_ticker is not None:
            self.set_book_ticker(book_ticker)

    def set_book_ticker(self, body: bytes) -> None:
        """Replace the served bookTicker payload (bytes are served verbatim)."""
        self.set_quotes_body(body)

    def set_exchange_info(self, body: bytes) -> None:
        """Replace the served exchangeInfo payload (bytes are served verbatim)."""
        self.set_metadata_body(body)
