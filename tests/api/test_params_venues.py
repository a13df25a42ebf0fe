"""The venue parameters: `exchange` on /convert and /currencies, and the /prices query."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import settings
from api.aggregate import AGGREGATES
from api.exceptions import ApiError, InvalidParameterError, InvalidTimestampError
from api.params import (
    PricesQuery,
    pair_name,
    parse_convert_query,
    parse_exchange_query,
    parse_pair,
    parse_prices_query,
)

NOW_MS = 1_795_000_000_000
VENUES = ("binance", "kraken", "bybit", "okx")
ACCEPTED = (*VENUES, "best", "average")
BASE = "amount=1&from=btc&to=usdt"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("kraken", "kraken"), ("KRAKEN", "kraken"), ("Best", "best"), ("average", "average")],
)
def test_exchange_is_case_insensitive(raw: str, expected: str) -> None:
    """A configured venue, best or average, in any case, is normalised to lower case."""
    query = parse_convert_query(f"{BASE}&exchange={raw}", NOW_MS, exchanges=ACCEPTED)
    assert query.exchange == expected


def test_exchange_absent_means_default() -> None:
    """Without `exchange` the query says None: the app applies DEFAULT_EXCHANGE."""
    assert parse_convert_query(BASE, NOW_MS, exchanges=ACCEPTED).exchange is None


@pytest.mark.parametrize("raw", ["coinbase", "bin ance", "best,average", "avg", "%00", "x" * 500])
def test_unknown_exchange_lists_the_accepted_values(raw: str) -> None:
    """Anything else is invalid_parameter naming `exchange` and listing what is accepted."""
    with pytest.raises(InvalidParameterError) as caught:
        parse_convert_query(f"{BASE}&exchange={raw}", NOW_MS, exchanges=ACCEPTED)
    assert caught.value.details == {"parameter": "exchange", "accepted": list(ACCEPTED)}
    assert "binance, kraken, bybit, okx, best, average" in caught.value.message
    assert len(caught.value.message) < 200


def test_unconfigured_venue_is_refused() -> None:
    """A known venue that EXCHANGES leaves out is not accepted."""
    with pytest.raises(InvalidParameterError):
        parse_convert_query(f"{BASE}&exchange=okx", NOW_MS, exchanges=("binance", "best"))


@pytest.mark.parametrize(
    ("query_string", "parameter"),
    [(f"{BASE}&exchange=", "exchange"), (f"{BASE}&exchange=okx&exchange=okx", "exchange"),
     (f"{BASE}&exchanges=okx", "exchanges"), (f"{BASE}&venue=okx", "venue")],
)  # fmt: skip
def test_exchange_empty_repeated_or_misspelt(query_string: str, parameter: str) -> None:
    """Empty, repeated or misspelt `exchange` is refused, never silently the default."""
    with pytest.raises(InvalidParameterError) as caught:
        parse_convert_query(query_string, NOW_MS, exchanges=ACCEPTED)
    assert caught.value.details["parameter"] == parameter


# -- pairs -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["BTC/USDT", "btc/usdt", "BTC-USDT", "btc_usdt", "Btc-UsDt"])
def test_pair_spellings(raw: str) -> None:
    """BASE/QUOTE, BASE-QUOTE, BASE_QUOTE, any case, all mean ("BTC", "USDT")."""
    assert parse_pair(raw) == ("BTC", "USDT")
    assert pair_name(*parse_pair(raw)) == "BTC/USDT"


@pytest.mark.parametrize(
    "raw", ["BTCUSDT", "BTC/", "/USDT", "BTC/USDT/EUR", "BTC USDT", "BTC//USDT", "B.C/USDT",
            "A" * 21 + "/USDT", "BTC\u0660/USDT", "BTC:USDT"],
)  # fmt: skip
def test_bad_pairs(raw: str) -> None:
    """Anything but two codes joined by one of / - _ is invalid_parameter naming `pair`."""
    with pytest.raises(InvalidParameterError) as caught:
        parse_pair(raw)
    assert caught.value.details == {"parameter": "pair"}


# -- the /prices query --------------------------------------------------------------------


def test_prices_query_all_parts() -> None:
    """pair, exchange and timestamp together; percent-encoded "/" works."""
    query = parse_prices_query(
        "pair=eth%2Fbtc&exchange=OKX&timestamp=1700000000", NOW_MS, venues=VENUES
    )
    assert query == PricesQuery(pair=("ETH", "BTC"), exchange="okx", at_ms=1_700_000_000_000)


def test_prices_query_empty() -> None:
    """No parameters: the whole latest board."""
    assert parse_prices_query("", NOW_MS, venues=VENUES) == PricesQuery(None, None, None)


@pytest.mark.parametrize(
    ("query_string", "parameter"),
    [("exchange=best", "exchange"), ("exchange=average", "exchange"), ("amount=1", "amount"),
     ("pair=btc-usdt&pair=eth-btc", "pair"), ("pair=", "pair"), ("symbol=BTCUSDT", "symbol")],
)  # fmt: skip
def test_prices_query_refusals(query_string: str, parameter: str) -> None:
    """best/average are not venues on /prices; unknown, repeated, empty are refused."""
    with pytest.raises(InvalidParameterError) as caught:
        parse_prices_query(query_string, NOW_MS, venues=VENUES)
    assert caught.value.details["parameter"] == parameter


def test_prices_bad_timestamp() -> None:
    """The timestamp follows /convert's rules."""
    with pytest.raises(InvalidTimestampError):
        parse_prices_query("timestamp=yesterday", NOW_MS, venues=VENUES)


def test_exchange_only_query() -> None:
    """/currencies takes `exchange` (a venue) and nothing else."""
    assert parse_exchange_query("", venues=VENUES) is None
    assert parse_exchange_query("exchange=Kraken", venues=VENUES) == "kraken"
    for bad in ("exchange=best", "pair=btc-usdt", "exchange=kraken&exchange=okx"):
        with pytest.raises(InvalidParameterError):
            parse_exchange_query(bad, venues=VENUES)


@given(st.text(max_size=80))
def test_new_parsers_raise_only_api_errors(raw: str) -> None:
    """parse_pair and the query parsers never raise anything but ApiError."""
    for call in (
        lambda: parse_pair(raw),
        lambda: parse_prices_query(raw, NOW_MS, venues=VENUES),
        lambda: parse_exchange_query(raw, venues=VENUES),
        lambda: parse_prices_query(f"pair={raw}&exchange={raw}", NOW_MS, venues=VENUES),
        lambda: parse_convert_query(f"{BASE}&exchange={raw}", NOW_MS, exchanges=ACCEPTED),
    ):
        with contextlib.suppress(ApiError):
            call()


def test_aggregate_names_match_settings() -> None:
    """/convert accepts exactly the aggregates DEFAULT_EXCHANGE may name, in the same order."""
    assert AGGREGATES == settings.AGGREGATES
