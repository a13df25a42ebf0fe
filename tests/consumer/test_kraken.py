"""The Kraken adapter: parsers against recorded payloads, body errors, and the requests it sends.

Expected values are computed here from the fixture JSON with the stdlib (and
`fractions` for exact arithmetic), never with the adapter itself.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.errors import (
    BadPayloadError,
    ExchangeBodyError,
    ExchangeError,
    RateLimitedError,
)
from consumer.exchanges import kraken
from consumer.exchanges._model import SKIP_REASONS, OrderBook
from consumer.exchanges.kraken import (
    PairInfo,
    exact_product,
    parse_depth,
    parse_metadata,
    parse_quotes,
    parse_stats,
)
from storage.model import Quote

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kraken"
ASSET_PAIRS_BYTES = (FIXTURES / "AssetPairs_2026-01-12.trimmed.json").read_bytes()
TICKER_BYTES = (FIXTURES / "Ticker_derived_2026-08-27.json").read_bytes()
PARTIAL_BYTES = (FIXTURES / "Ticker_16pairs_with_EQuery_error.json").read_bytes()
DEPTH_BYTES = (FIXTURES / "Depth_XBTUSDT_count5_2025-11-11.json").read_bytes()

ASSET_PAIRS: dict[str, Any] = json.loads(ASSET_PAIRS_BYTES)
TICKER: dict[str, Any] = json.loads(TICKER_BYTES)
PARTIAL: dict[str, Any] = json.loads(PARTIAL_BYTES)
DEPTH: dict[str, Any] = json.loads(DEPTH_BYTES)
PAIRS: dict[str, dict[str, str]] = ASSET_PAIRS["result"]

METADATA = parse_metadata(ASSET_PAIRS)


def ticker_with(**entries: object) -> dict[str, Any]:
    """Test input: the derived ticker with some entries replaced (None removes one)."""
    payload = copy.deepcopy(TICKER)
    for key, entry in entries.items():
        if entry is None:
            del payload["result"][key]
        else:
            payload["result"][key] = entry
    return payload


def entry(bid: object = "1.0", ask: object = "1.1", qty: object = "1.000") -> dict[str, Any]:
    """Test input: one Ticker entry with the fields the quote parser reads."""
    return {
        "a": [ask, "1", qty],
        "b": [bid, "1", qty],
        "v": ["1", "2"],
        "p": ["3", "4"],
        "t": [1, 2],
    }


def quotable_by_hand() -> dict[str, tuple[str, str, str, str]]:
    """Key -> (bid, ask, bid lot volume, ask lot volume) for the fixture's quotable pairs."""
    return {
        key: (e["b"][0], e["a"][0], e["b"][2], e["a"][2])
        for key, e in TICKER["result"].items()
        if PAIRS[key]["status"] == "online" and 0 < Fraction(e["b"][0]) <= Fraction(e["a"][0])
    }


# -- AssetPairs -------------------------------------------------------------------


def test_metadata_has_every_recorded_pair() -> None:
    """All 1,434 recorded pairs are parsed, online exactly where the recording says so."""
    assert len(PAIRS) == 1434
    assert set(METADATA) == set(PAIRS)
    online = {key for key, pair in PAIRS.items() if pair["status"] == "online"}
    assert len(online) == 1365
    assert {key for key, info in METADATA.items() if info.online} == online


@pytest.mark.parametrize(
    ("key", "base", "quote"),
    [
        ("XXBTZUSD", "BTC", "USD"),
        ("XBTUSDT", "BTC", "USDT"),
        ("XDGUSD", "DOGE", "USD"),
        ("USDTZUSD", "USDT", "USD"),
        ("XETHZUSD", "ETH", "USD"),
        ("AIXBTUSD", "AIXBT", "USD"),  # the alias maps whole codes, never substrings
        ("XETHXXBT", "ETH", "BTC"),
    ],
)
def test_codes_come_from_wsname_then_aliases(key: str, base: str, quote: str) -> None:
    """Base and quote are wsname's halves with XBT->BTC and XDG->DOGE; USD and USDT differ."""
    assert METADATA[key] == PairInfo(key, base, quote, online=True)


def test_asset_ids_never_reach_the_vocabulary() -> None:
    """No X…/Z… asset id (XXBT, ZUSD) and no alternate name (XBT, XDG) becomes a code."""
    codes = {c for info in METADATA.values() for c in (info.base, info.quote)}
    asset_ids = {pair["base"] for pair in PAIRS.values()} | {p["quote"] for p in PAIRS.values()}
    assert {"XXBT", "ZUSD", "ZEUR", "XETH", "XXDG"} <= asset_ids
    assert not {"XXBT", "ZUSD", "ZEUR", "XETH", "XXDG", "XBT", "XDG"} & codes
    assert kraken.ALIASES == {"XBT": "BTC", "XDG": "DOGE"}
    assert all(info.codes_ok for info in METADATA.values())


def test_metadata_keeps_pairs_with_bad_codes_for_counting() -> None:
    """Pairs whose wsname gives no usable codes are kept (flagged); unusable entries dropped."""
    result = {
        "XXBTZUSD": {"wsname": "XBT/USD", "status": "online"},
        "WEIRD": {"wsname": "WE-IRD", "status": "online"},
        "LONG": {"wsname": "A" * 21 + "/USD", "status": "online"},
        "NOWS": {"status": "online"},
        "lower": {"wsname": "X/Y", "status": "online"},
        "NOTOBJ": "XBT/USD",
    }
    metadata = parse_metadata({"error": [], "result": result})
    assert set(metadata) == {"XXBTZUSD", "WEIRD", "LONG", "NOWS"}
    assert [k for k, info in metadata.items() if info.codes_ok] == ["XXBTZUSD"]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {},
        {"result": {"XXBTZUSD": {"wsname": "XBT/USD", "status": "online"}}},
        {"error": [], "result": []},
        {"error": [], "result": {}},
        {"error": [], "result": {"X": {"wsname": "X-Y"}}},
        {"error": None, "result": {}},
    ],
)
def test_metadata_of_the_wrong_shape_is_bad_payload(payload: object) -> None:
    """AssetPairs without an error list or a result with usable pairs raises BadPayloadError."""
    with pytest.raises(BadPayloadError):
        parse_metadata(payload)


def test_metadata_with_an_error_list_raises() -> None:
    """An AssetPairs body with an error is a failed call even if pairs came with it."""
    with pytest.raises(ExchangeBodyError) as info:
        parse_metadata({"error": ["EService:Unavailable"], "result": PAIRS})
    assert info.value.code == "EService:Unavailable"


# -- Ticker: quotes ---------------------------------------------------------------


def test_quotes_from_the_recording() -> None:
    """39 of the 40 derived pairs are quotable; each keeps its recorded strings exactly."""
    expected = quotable_by_hand()
    assert len(TICKER["result"]) == 40
    assert len(expected) == 39
    skipped: Counter[str] = Counter()
    quotes = parse_quotes(TICKER, METADATA, skipped)
    assert set(quotes) == set(expected)
    for key, (bid, ask, bid_qty, ask_qty) in expected.items():
        q = quotes[key]
        assert (q.symbol, q.base, q.quote) == (key, METADATA[key].base, METADATA[key].quote)
        fields = (q.bid, q.ask, q.bid_qty, q.ask_qty)
        assert tuple(format(v, "f") for v in fields if v is not None) == (
            bid,
            ask,
            bid_qty,
            ask_qty,
        )
    assert skipped == Counter({"not_quotable": 1})


def test_recorded_btc_doge_and_usdt_pairs() -> None:
    """XXBTZUSD is BTC/USD, XDGUSD DOGE/USD, XBTUSDT BTC/USDT, with b[0]/a[0] and lot volumes."""
    quotes = parse_quotes(TICKER, METADATA)
    raw = TICKER["result"]
    for key, base, quote in [
        ("XXBTZUSD", "BTC", "USD"),
        ("XDGUSD", "DOGE", "USD"),
        ("XBTUSDT", "BTC", "USDT"),
    ]:
        e = raw[key]
        assert quotes[key] == Quote(
            key, base, quote, *(Decimal(s) for s in (e["b"][0], e["a"][0], e["b"][2], e["a"][2]))
        )
    assert raw["XXBTZUSD"]["b"][0] == "80748.30000"
    assert format(quotes["XXBTZUSD"].bid, "f") == "80748.30000"


def test_a_pair_that_is_not_online_is_absent() -> None:
    """AIOEUR is post_only in AssetPairs and present in the ticker: skipped as not_quotable."""
    assert PAIRS["AIOEUR"]["status"] == "post_only"
    assert "AIOEUR" in TICKER["result"]
    skipped: Counter[str] = Counter()
    assert "AIOEUR" not in parse_quotes(TICKER, METADATA, skipped)
    assert skipped["not_quotable"] == 1


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        pytest.param(entry("80748.5", "80748.4"), "crossed", id="crossed"),
        pytest.param(entry("0.00000", "80748.4"), "empty_book", id="zero-bid"),
        pytest.param(entry("80748.3", "0"), "empty_book", id="zero-ask"),
        pytest.param(entry("1e5", "1.0"), "bad_price", id="exponent"),
        pytest.param(entry(qty="-1"), "bad_price", id="negative-size"),
        pytest.param({"a": ["1.0"], "b": ["1.0"]}, "bad_price", id="no-lot-volume"),
        pytest.param(["1.0", "1.1"], "bad_price", id="not-an-object"),
    ],
)
def test_bad_books_are_skipped_and_counted(variant: object, reason: str) -> None:
    """Test input: XXBTZUSD replaced by a crossed/empty/malformed entry; skipped, counted."""
    skipped: Counter[str] = Counter()
    quotes = parse_quotes(ticker_with(XXBTZUSD=variant), METADATA, skipped)
    assert "XXBTZUSD" not in quotes
    assert len(quotes) == 38
    assert skipped == Counter({"not_quotable": 1, reason: 1})
    assert set(skipped) <= set(SKIP_REASONS)


def test_unlisted_and_bad_code_pairs_are_counted() -> None:
    """A ticker key AssetPairs lacks is not_listed; a listed pair with unusable codes bad_code."""
    metadata = {**METADATA, "WEIRD": PairInfo("WEIRD", "WE-IRD", "", online=True)}
    payload = ticker_with(NEWPAIR=entry(), WEIRD=entry())
    skipped: Counter[str] = Counter()
    quotes = parse_quotes(payload, metadata, skipped)
    assert not {"NEWPAIR", "WEIRD"} & set(quotes)
    assert skipped == Counter({"not_quotable": 1, "not_listed": 1, "bad_code": 1})


def test_partial_result_with_an_error_raises() -> None:
    """The recorded 16-pair answer with EQuery:Unknown asset pair is a failure, not 16 quotes."""
    assert PARTIAL["error"] == ["EQuery:Unknown asset pair"]
    assert len(PARTIAL["result"]) == 16
    for parse in (
        lambda: parse_quotes(PARTIAL, METADATA),
        lambda: parse_stats(PARTIAL, METADATA),
    ):
        with pytest.raises(ExchangeBodyError) as info:
            parse()
        assert info.value.code == "EQuery:Unknown asset pair"
        assert "kraken" in str(info.value)
        assert "partial result of 16" in str(info.value)
    # Without its error list the same result is usable: the error alone decides.
    assert len(parse_quotes({**PARTIAL, "error": []}, METADATA)) == 16


def parse_stats_all(payload: object) -> object:
    return parse_stats(payload, METADATA)


@pytest.mark.parametrize("code", ["EAPI:Rate limit exceeded", "EGeneral:Too many requests"])
@pytest.mark.parametrize("result", [{}, None, "populated"])
def test_rate_limit_errors_pause_the_venue(code: str, result: object) -> None:
    """Each Kraken rate-limit string is RateLimitedError(status 200, retry_after 60)."""
    payload: dict[str, Any] = {"error": [code]}
    if result is not None:
        payload["result"] = TICKER["result"] if result == "populated" else result
    for parse in (parse_metadata, lambda p: parse_quotes(p, METADATA), parse_stats_all):
        with pytest.raises(RateLimitedError) as info:
            parse(payload)
        assert (info.value.status, info.value.retry_after) == (200, 60.0)
        assert code in str(info.value)


def test_a_rate_limit_anywhere_in_the_list_wins() -> None:
    """A rate-limit string after another error still pauses the venue."""
    with pytest.raises(RateLimitedError):
        parse_quotes({"error": ["EService:Busy", "EAPI:Rate limit exceeded"]}, METADATA)


@pytest.mark.parametrize(
    "code",
    [
        "EService:Unavailable",
        "EService:Busy",
        "EGeneral:Internal error",
        "EQuery:Unknown asset pair",
    ],
)
def test_other_body_errors_are_body_errors(code: str) -> None:
    """Any other error string is ExchangeBodyError carrying that string as its code."""
    with pytest.raises(ExchangeBodyError) as info:
        parse_quotes({"error": [code, "EGeneral:Second"], "result": {}}, METADATA)
    assert info.value.code == code
    assert not isinstance(info.value, RateLimitedError)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(None, id="null"),
        pytest.param([], id="list"),
        pytest.param("{}", id="string"),
        pytest.param({}, id="empty-object"),
        pytest.param({"result": TICKER["result"]}, id="no-error-list"),
        pytest.param({"error": "", "result": TICKER["result"]}, id="error-not-list"),
        pytest.param({"error": []}, id="no-result"),
        pytest.param({"error": [], "result": []}, id="result-list"),
        pytest.param({"error": [], "result": {}}, id="empty-result"),
        pytest.param({"error": [], "result": {"AIOEUR": entry()}}, id="only-post-only"),
        pytest.param({"error": [], "result": {"XXBTZUSD": entry("0", "0")}}, id="only-empty"),
    ],
)
def test_nothing_quotable_is_bad_payload(payload: object) -> None:
    """Wrong shapes, an empty result, or nothing quotable raise BadPayloadError."""
    with pytest.raises(BadPayloadError):
        parse_quotes(payload, METADATA)


# -- Ticker: 24 h stats -----------------------------------------------------------


def test_stats_from_the_recording() -> None:
    """quote_volume = v[1] × p[1] exactly and trades = t[1], for every online pair."""
    stats = parse_stats(TICKER, METADATA)
    raw = TICKER["result"]
    online = {key for key in raw if PAIRS[key]["status"] == "online"}
    assert set(stats) == online
    assert "AIOEUR" not in stats
    for key in online:
        e, s = raw[key], stats[key]
        assert s.quote_volume is not None
        assert Fraction(s.quote_volume) == Fraction(e["v"][1]) * Fraction(e["p"][1])
        assert s.trades == e["t"][1]
        assert (s.symbol, s.base, s.quote) == (key, METADATA[key].base, METADATA[key].quote)
    btc = stats["XXBTZUSD"]
    assert (btc.base, btc.quote) == ("BTC", "USD")


def test_stats_leave_out_malformed_figures() -> None:
    """A pair with a float volume, missing vwap or a non-integer trade count is left out."""
    bad = {
        "XXBTZUSD": {**entry(), "v": [1.5, 2.5]},
        "XDGUSD": {**entry(), "p": ["1"]},
        "XBTUSDT": {**entry(), "t": [1, "2"]},
        "XETHZUSD": {**entry(), "t": [1, True]},
    }
    stats = parse_stats(ticker_with(**bad), METADATA)
    assert not set(bad) & set(stats)
    assert len(stats) == 35


def test_stats_with_nothing_usable_is_bad_payload() -> None:
    """A ticker with no online pair's figures raises BadPayloadError."""
    with pytest.raises(BadPayloadError):
        parse_stats({"error": [], "result": {"AIOEUR": entry()}}, METADATA)


# -- Depth ------------------------------------------------------------------------


def test_depth_from_the_recording() -> None:
    """The recorded 5-level XBTUSDT book: (price, volume) pairs, best first, strings exact."""
    raw = DEPTH["result"]["XBTUSDT"]
    book = parse_depth(DEPTH, "XBTUSDT")
    assert book == OrderBook(
        "XBTUSDT",
        tuple((Decimal(p), Decimal(v)) for p, v, _ in raw["bids"]),
        tuple((Decimal(p), Decimal(v)) for p, v, _ in raw["asks"]),
    )
    assert len(book.bids) == len(book.asks) == 5
    assert format(book.asks[0][0], "f") == "105944.30000"
    assert book.bids[0][0] < book.asks[0][0]


def test_depth_under_another_single_key_is_read() -> None:
    """Asked by altname, Kraken answers under its classic key; a lone book is still read."""
    book = parse_depth(DEPTH, "XBTUSDT_ALT")
    assert book.symbol == "XBTUSDT_ALT"
    assert len(book.bids) == 5


def test_an_empty_book_is_a_book() -> None:
    """A pair with no resting orders gives empty sides, not an error."""
    payload = {"error": [], "result": {"AIOEUR": {"asks": [], "bids": []}}}
    assert parse_depth(payload, "AIOEUR") == OrderBook("AIOEUR", (), ())


def depth_with(**book: object) -> dict[str, Any]:
    """Test input: the recorded depth body with fields of its one book replaced."""
    payload = copy.deepcopy(DEPTH)
    payload["result"]["XBTUSDT"].update(book)
    return payload


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"error": [], "result": {}}, id="no-book"),
        pytest.param({"error": [], "result": {"A": {}, "B": {}}}, id="two-other-books"),
        pytest.param({"error": [], "result": {"XBTUSDT": []}}, id="book-not-object"),
        pytest.param(depth_with(bids=None), id="no-bids"),
        pytest.param(depth_with(asks=[["1.0"]]), id="short-level"),
        pytest.param(depth_with(asks=[[1.0, "1", 0]]), id="float-price"),
        pytest.param(depth_with(bids=[["0", "1", 0]]), id="zero-price"),
        pytest.param(depth_with(bids=[["1", "2", 0], ["2", "1", 0]]), id="bids-ascending"),
        pytest.param(depth_with(asks=[["2", "1", 0], ["1", "1", 0]]), id="asks-descending"),
    ],
)
def test_depth_of_the_wrong_shape_is_bad_payload(payload: object) -> None:
    """A missing book, a malformed level or levels not best first raise BadPayloadError."""
    with pytest.raises(BadPayloadError):
        parse_depth(payload, "XBTUSDT")


def test_depth_with_an_error_raises() -> None:
    """A Depth body with an error list is a body error."""
    with pytest.raises(ExchangeBodyError):
        parse_depth({"error": ["EQuery:Unknown asset pair"]}, "NOPE")


# -- the requests sent ------------------------------------------------------------


def serve(body: bytes, status: int = 200) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    """A client on a fake transport that answers every request with `body`."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body, headers={"Content-Type": "application/json"})

    transport = httpx.MockTransport(handler)
    return httpx.AsyncClient(transport=transport, base_url="https://api.kraken.test"), seen


async def test_fetch_metadata_gets_asset_pairs() -> None:
    """fetch_metadata sends GET /0/public/AssetPairs with no query and parses the answer."""
    client, seen = serve(ASSET_PAIRS_BYTES)
    async with client:
        metadata = await kraken.fetch_metadata(client)
    assert [(r.method, r.url.path, r.url.query) for r in seen] == [
        ("GET", "/0/public/AssetPairs", b"")
    ]
    assert metadata == METADATA


async def test_fetch_quotes_and_stats_get_the_all_pairs_ticker() -> None:
    """fetch_quotes and fetch_stats send GET /0/public/Ticker without `pair`."""
    client, seen = serve(TICKER_BYTES)
    skipped: Counter[str] = Counter()
    async with client:
        quotes = await kraken.fetch_quotes(client, METADATA, skipped)
        stats = await kraken.fetch_stats(client, METADATA)
    assert [(r.method, r.url.path, r.url.query) for r in seen] == [
        ("GET", "/0/public/Ticker", b""),
        ("GET", "/0/public/Ticker", b""),
    ]
    assert set(quotes) == set(quotable_by_hand())
    assert skipped == Counter({"not_quotable": 1})
    assert "XXBTZUSD" in stats


async def test_fetch_depth_sends_pair_and_count() -> None:
    """fetch_depth sends GET /0/public/Depth?pair=SYMBOL&count=LIMIT."""
    client, seen = serve(DEPTH_BYTES)
    async with client:
        book = await kraken.fetch_depth(client, "XBTUSDT", 200)
    [request] = seen
    assert request.url.path == "/0/public/Depth"
    assert dict(request.url.params) == {"pair": "XBTUSDT", "count": "200"}
    assert book.symbol == "XBTUSDT"


async def test_fetch_maps_a_body_rate_limit_at_http_200() -> None:
    """An HTTP 200 body with EGeneral:Too many requests is a RateLimitedError with status 200."""
    client, _ = serve(b'{"error":["EGeneral:Too many requests"]}')
    async with client:
        with pytest.raises(RateLimitedError) as info:
            await kraken.fetch_quotes(client, METADATA)
    assert (info.value.status, info.value.retry_after) == (200, 60.0)


async def test_fetch_maps_an_http_429_generically() -> None:
    """Kraken needs no status hook: a 429 is the generic RateLimitedError with its status."""
    client, _ = serve(b'{"error":["EAPI:Rate limit exceeded"]}', status=429)
    async with client:
        with pytest.raises(RateLimitedError) as info:
            await kraken.fetch_quotes(client, METADATA)
    assert info.value.status == 429


# -- properties -------------------------------------------------------------------

plain_decimals = st.from_regex(r"\A[0-9]{1,20}(\.[0-9]{1,20})?\Z")


@given(plain_decimals, plain_decimals, plain_decimals)
def test_plain_decimal_strings_round_trip_exactly(a: str, b: str, qty: str) -> None:
    """Any plain decimal bid/ask/size strings become Decimals equal to them, digit for digit."""
    bid, ask = sorted((a, b), key=Fraction)
    if Fraction(bid) == 0:
        return
    payload = {"error": [], "result": {"XXBTZUSD": entry(bid, ask, qty)}}
    q = parse_quotes(payload, METADATA)["XXBTZUSD"]
    for value, raw in ((q.bid, bid), (q.ask, ask), (q.bid_qty, qty), (q.ask_qty, qty)):
        assert isinstance(value, Decimal)
        assert Fraction(value) == Fraction(raw)
        assert value.as_tuple() == Decimal(raw).as_tuple()


@given(plain_decimals, plain_decimals)
def test_exact_product_never_rounds(a: str, b: str) -> None:
    """v × p of any two plain decimals is exact, however many digits they have."""
    assert Fraction(exact_product(Decimal(a), Decimal(b))) == Fraction(a) * Fraction(b)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
ticker_entries = st.fixed_dictionaries(
    {},
    optional={
        "a": st.lists(st.sampled_from(["1.1", "0", "-1", "2"]) | json_values, max_size=3),
        "b": st.lists(st.sampled_from(["1.0", "0", "1e5"]) | json_values, max_size=3),
        "v": st.lists(st.sampled_from(["1.0", "x"]) | json_values, max_size=2),
        "p": st.lists(st.sampled_from(["2.0"]) | json_values, max_size=2),
        "t": st.lists(st.integers() | json_values, max_size=2),
    },
)
bodies = st.fixed_dictionaries(
    {
        "error": st.lists(st.sampled_from(["EService:Busy", "EAPI:Rate limit exceeded"]))
        | json_values,
        "result": st.dictionaries(
            st.sampled_from(["XXBTZUSD", "AIOEUR", "NOPE"]) | st.text(max_size=8),
            ticker_entries | json_values,
            max_size=4,
        )
        | json_values,
    }
)


@given(json_values | bodies)
def test_parsers_raise_only_exchange_errors(payload: object) -> None:
    """For any JSON-like value the parsers return valid values or raise an ExchangeError."""
    for parse in (
        lambda: parse_quotes(payload, METADATA),
        lambda: parse_stats(payload, METADATA),
        lambda: parse_depth(payload, "XXBTZUSD"),
        lambda: parse_metadata(payload),
    ):
        try:
            value = parse()
        except ExchangeError:
            continue
        assert value
    try:
        quotes = parse_quotes(payload, METADATA)
    except ExchangeError:
        return
    assert all(METADATA[k].online and 0 < q.bid <= q.ask for k, q in quotes.items())
