"""The Binance adapter's pure parsers, against the recorded payloads and arbitrary JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.errors import BadPayloadError
from consumer.exchanges import REGISTRY, binance
from consumer.exchanges.binance import SymbolInfo, parse_metadata, parse_quotes
from storage.model import Quote
from tests.fake_exchange import BOOK_TICKER_FIXTURE, EXCHANGE_INFO_FIXTURE

EXCHANGE_INFO: dict[str, Any] = json.loads(EXCHANGE_INFO_FIXTURE.read_bytes())
BOOK_TICKER: list[dict[str, str]] = json.loads(BOOK_TICKER_FIXTURE.read_bytes())
METADATA = parse_metadata(EXCHANGE_INFO)
QUOTES = parse_quotes(BOOK_TICKER, METADATA)

# From tests/fixtures/SOURCES.md: TRADING and in both files, but a zero bid or ask.
ZERO_PRICED = (
    *("BTCTUSD", "ETHTUSD", "TUSDUSDT", "BNBTUSD", "XRPTUSD", "BNBUSDC", "BTCUSDC", "ETHUSDC"),
    *("USDCUSDT", "ADATUSD", "LTCTUSD", "CVCUSDT", "BTCNGN", "BCHTUSD", "USDTZAR", "TUSDBUSD"),
    "USDPUSDT",
)


def ticker(symbol: str, bid: object = "1.00000000", ask: object = "1.10000000") -> dict[str, Any]:
    return {"symbol": symbol, "bidPrice": bid, "bidQty": "1", "askPrice": ask, "askQty": "1"}


def test_registry_maps_the_name_to_the_module() -> None:
    """The adapter registry has Binance under its NAME (beside the other venues)."""
    assert "binance" in REGISTRY
    assert REGISTRY["binance"] is binance
    assert binance.NAME == "binance"


# -- exchangeInfo -----------------------------------------------------------------


def test_metadata_from_the_recording() -> None:
    """All 2,276 recorded symbols are parsed; 1,393 of them are TRADING."""
    assert len(METADATA) == 2276
    assert sum(info.trading for info in METADATA.values()) == 1393
    assert METADATA["ETHBTC"] == SymbolInfo("ETHBTC", "ETH", "BTC", trading=True)
    assert METADATA["OMGBTC"].trading is False  # BREAK in August 2023


def test_metadata_skips_unusable_entries() -> None:
    """Entries that are not objects or have unusable names are skipped, not fatal."""
    payload = {
        "symbols": [
            "ETHBTC",
            {"symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "BTC"},
            {"symbol": "ethbtc", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "BTC"},
            {"symbol": "X", "status": "TRADING", "baseAsset": "", "quoteAsset": "BTC"},
            {"symbol": "Y", "status": "TRADING", "baseAsset": "Y", "quoteAsset": None},
            {"symbol": "Z" * 41, "status": "TRADING", "baseAsset": "Z", "quoteAsset": "ZZ"},
            {"status": "TRADING", "baseAsset": "A", "quoteAsset": "B"},
        ]
    }
    assert list(parse_metadata(payload)) == ["ETHBTC"]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "exchangeInfo",
        {},
        {"symbols": None},
        {"symbols": {"ETHBTC": {}}},
        {"symbols": []},
        {"symbols": [1, "a", None]},
        {"unexpected": True},
        [{"unexpected": True}],
    ],
)
def test_metadata_of_the_wrong_shape_is_bad_payload(payload: object) -> None:
    """exchangeInfo without a usable `symbols` list raises BadPayloadError."""
    with pytest.raises(BadPayloadError):
        parse_metadata(payload)


# -- bookTicker -------------------------------------------------------------------


def test_the_recorded_pair_gives_1261_quotable_symbols() -> None:
    """TRADING, present in both recordings, bid > 0 and ask > 0: exactly 1,261 symbols."""
    assert len(QUOTES) == 1261
    assert all(isinstance(q, Quote) and q.bid > 0 and q.ask > 0 for q in QUOTES.values())
    assert all(METADATA[s].trading for s in QUOTES)


def test_decimal_strings_are_preserved_exactly() -> None:
    """Prices are the exchange's decimal strings, exactly (no float anywhere)."""
    btc = QUOTES["BTCUSDT"]
    assert btc == Quote(
        "BTCUSDT",
        "BTC",
        "USDT",
        Decimal("19979.51000000"),
        Decimal("19980.18000000"),
        Decimal("0.00455000"),
        Decimal("0.06696000"),
    )
    assert (format(btc.bid, "f"), format(btc.ask, "f")) == ("19979.51000000", "19980.18000000")
    eth = QUOTES["ETHBTC"]
    assert (format(eth.bid, "f"), format(eth.ask, "f")) == ("0.07041400", "0.07041500")
    assert btc.bid.as_tuple().exponent == -8  # trailing zeros kept


def test_base_and_quote_come_from_metadata_not_slicing() -> None:
    """TUSDT is T/USDT per exchangeInfo, though TUSD/T is also a split of known codes."""
    codes = {c for info in METADATA.values() for c in (info.base, info.quote)}
    assert {"T", "USDT", "TUSD"} <= codes  # both splits would look plausible
    tusdt = QUOTES["TUSDT"]
    assert (tusdt.base, tusdt.quote) == ("T", "USDT")
    up = QUOTES["BTCUPUSDT"]
    assert (up.base, up.quote) == ("BTCUP", "USDT")


def test_metadata_decides_even_when_the_name_disagrees() -> None:
    """If metadata says a symbol's base and quote, they are used whatever the name suggests."""
    metadata = {"XBTUSD": SymbolInfo("XBTUSD", "BTC", "USD", trading=True)}
    [quote] = parse_quotes([ticker("XBTUSD")], metadata).values()
    assert (quote.symbol, quote.base, quote.quote) == ("XBTUSD", "BTC", "USD")


def test_non_trading_symbols_are_excluded() -> None:
    """The 135 symbols on BREAK that still had a bid in the recording are not quotable."""
    on_break = [
        e["symbol"]
        for e in BOOK_TICKER
        if not METADATA[e["symbol"]].trading and Decimal(e["bidPrice"]) > 0
    ]
    assert len(on_break) == 135
    assert "OMGBTC" in on_break
    assert not set(on_break) & set(QUOTES)


def test_zero_priced_symbols_are_excluded() -> None:
    """The 17 TRADING symbols with a zero bid or ask in the recording are not quotable."""
    assert all(METADATA[s].trading for s in ZERO_PRICED)
    recorded = {e["symbol"] for e in BOOK_TICKER}
    assert set(ZERO_PRICED) <= recorded
    assert not set(ZERO_PRICED) & set(QUOTES)


@pytest.mark.parametrize(("bid", "ask"), [("0.00000000", "1.0"), ("1.0", "0"), ("0", "0")])
def test_zero_bid_or_ask_is_excluded(bid: str, ask: str) -> None:
    """A zero bid or ask (a halted book) leaves the symbol out."""
    payload = [ticker("ETHBTC", bid, ask), ticker("BTCUSDT")]
    assert list(parse_quotes(payload, METADATA)) == ["BTCUSDT"]


def test_symbols_missing_from_metadata_are_skipped() -> None:
    """A ticker for a symbol exchangeInfo does not list is skipped (its codes are unknown)."""
    metadata = {k: v for k, v in METADATA.items() if k != "ETHBTC"}
    quotes = parse_quotes([*BOOK_TICKER, ticker("NEWCOINUSDT")], metadata)
    assert "ETHBTC" not in quotes
    assert "NEWCOINUSDT" not in quotes
    assert len(quotes) == 1260


def test_symbols_listed_after_the_recording_are_absent() -> None:
    """TRADING symbols with no ticker entry are simply not in the result."""
    in_ticker = {e["symbol"] for e in BOOK_TICKER}
    missing = {s for s, info in METADATA.items() if info.trading and s not in in_ticker}
    assert len(missing) == 115
    assert not missing & set(QUOTES)


@pytest.mark.parametrize(
    "price",
    [
        None,
        1.5,
        2,
        "",
        "-1.0",
        "+1.0",
        "1e5",
        "1E-8",
        " 1.0",
        "1.0 ",
        "NaN",
        "Infinity",
        "1,5",
        "1.",
        ".5",
        "1" * 21,
        "0." + "1" * 21,
        "١٢٣",
    ],
)
def test_prices_not_in_binance_notation_are_skipped(price: object) -> None:
    """Only plain decimal strings are money; any other price leaves that symbol out."""
    payload = [ticker("ETHBTC", bid=price), ticker("BTCUSDT")]
    assert list(parse_quotes(payload, METADATA)) == ["BTCUSDT"]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({}, id="object"),
        pytest.param({"symbol": "BTCUSDT"}, id="single-ticker-object"),
        pytest.param(None, id="null"),
        pytest.param("[]", id="string"),
        pytest.param([], id="empty-list"),
        pytest.param([{"unexpected": True}], id="wrong-entries"),
        pytest.param([1, "a", None, []], id="not-objects"),
        pytest.param([ticker("OMGBTC")], id="only-break"),
        pytest.param([ticker("BTCUSDT", "0", "0")], id="only-zero"),
    ],
)
def test_nothing_quotable_is_bad_payload(payload: object) -> None:
    """Wrong shapes, an empty list, or nothing quotable raise BadPayloadError (no snapshot)."""
    with pytest.raises(BadPayloadError):
        parse_quotes(payload, METADATA)


# -- totality ---------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
# Entries that look like tickers often enough to reach the price checks.
ticker_like = st.fixed_dictionaries(
    {"symbol": st.sampled_from(["BTCUSDT", "ETHBTC", "OMGBTC", "NOPE", ""]) | json_values},
    optional={
        "bidPrice": st.sampled_from(["1.0", "0", "0.00000001", "-1"]) | json_values,
        "askPrice": st.sampled_from(["1.0", "0", "20000.5"]) | json_values,
    },
)


@given(json_values | st.lists(ticker_like | json_values, max_size=6))
def test_parse_quotes_raises_only_bad_payload(payload: object) -> None:
    """For any JSON-like value, parse_quotes returns valid Quotes or raises BadPayloadError."""
    try:
        quotes = parse_quotes(payload, METADATA)
    except BadPayloadError:
        return
    assert quotes
    for symbol, quote in quotes.items():
        assert METADATA[symbol].trading
        assert quote.bid > 0
        assert quote.ask > 0


@given(json_values | st.fixed_dictionaries({"symbols": st.lists(json_values, max_size=5)}))
def test_parse_metadata_raises_only_bad_payload(payload: object) -> None:
    """For any JSON-like value, parse_metadata returns SymbolInfos or raises BadPayloadError."""
    try:
        metadata = parse_metadata(payload)
    except BadPayloadError:
        return
    assert metadata
    assert all(isinstance(info, SymbolInfo) for info in metadata.values())


def test_parse_quotes_skips_entries_whose_symbol_is_not_a_string() -> None:
    """An entry whose `symbol` is a list or object is skipped, not a TypeError."""
    metadata = parse_metadata(
        {
            "symbols": [
                {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT"}
            ]
        }
    )
    payload = [
        {"symbol": ["BTCUSDT"], "bidPrice": "1.0", "askPrice": "2.0"},
        {"symbol": {"x": 1}, "bidPrice": "1.0", "askPrice": "2.0"},
        {"symbol": "BTCUSDT", "bidPrice": "1.0", "askPrice": "2.0"},
    ]
    assert list(parse_quotes(payload, metadata)) == ["BTCUSDT"]
