"""Four fake venues -> `run.py quote-consumer` -> files -> `run.py api`, all as processes.

The expected numbers are computed here from the fixture JSON the fakes serve,
with each venue's listing rule written out again (status, codes from the
venue's own metadata, bid/ask/sizes fields) and exact `Fraction` maths, so
that no code of `consumer/` or `api/` checks itself.

Binance's recording is from 2023 (BTC near 19,980 USDT), the others' from
2026 (near 80,350): the module serves Binance's book ticker with its BTC rows
times `BINANCE_BTC_FACTOR` (`binance_book_ticker`), so that the four venues
agree as they would at one moment and no venue is an outlier until a test
makes one. Other rows (ETHBTC) are served as recorded.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import FakeExchanges
from tests.procs import Proc, free_port, settings_env, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VENUES = ("binance", "kraken", "bybit", "okx")
BINANCE_BTC_FACTOR = Decimal("4.02")
OUTLIER_FACTOR = Decimal("1.2")
MAX_AGE_SECONDS = 5
PAIRS = [("BTC", "USDT"), ("USDT", "BTC"), ("BTC", "EUR"), ("ETH", "BTC")]
_CODE = re.compile(r"[A-Z0-9]{1,20}")
KRAKEN_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}


# -- the fixtures, read independently -----------------------------------------------------


@dataclass(frozen=True)
class Book:
    symbol: str
    bid: Fraction
    ask: Fraction
    bid_qty: Fraction
    ask_qty: Fraction

    def scaled(self, factor: Decimal) -> Book:
        f = Fraction(factor)
        return Book(self.symbol, self.bid * f, self.ask * f, self.bid_qty, self.ask_qty)

    @property
    def mid(self) -> Fraction:
        return (self.bid + self.ask) / 2


def _load(venue: str, name: str) -> Any:
    return json.loads((FIXTURES / venue / name).read_bytes())


def _keep(books: dict[tuple[str, str], Book], base: str, quote: str, book: Book) -> None:
    if _CODE.fullmatch(base) and _CODE.fullmatch(quote) and 0 < book.bid <= book.ask:
        books[(base, quote)] = book


def binance_book_ticker() -> list[dict[str, str]]:
    """The recorded book ticker, BTC's own rows lifted to 2026 prices (exact)."""
    entries = _load("binance", "bookTicker_from_ticker_24hr_2023-03-10.json")
    for entry in entries:
        if entry["symbol"].startswith("BTC"):
            for key in ("bidPrice", "askPrice"):
                entry[key] = f"{Decimal(entry[key]) * BINANCE_BTC_FACTOR:f}"
    return entries


def _binance() -> dict[tuple[str, str], Book]:
    info = _load("binance", "exchangeInfo_2023-08-13.trimmed.json")
    meta = {s["symbol"]: s for s in info["symbols"]}
    books: dict[tuple[str, str], Book] = {}
    for e in binance_book_ticker():
        s = meta.get(e["symbol"])
        if s is not None and s["status"] == "TRADING":
            fields = (Fraction(e[k]) for k in ("bidPrice", "askPrice", "bidQty", "askQty"))
            _keep(books, s["baseAsset"], s["quoteAsset"], Book(e["symbol"], *fields))
    return books


def _kraken() -> dict[tuple[str, str], Book]:
    pairs = _load("kraken", "AssetPairs_2026-01-12.trimmed.json")["result"]
    books: dict[tuple[str, str], Book] = {}
    for key, t in _load("kraken", "Ticker_derived_2026-08-27.json")["result"].items():
        p = pairs.get(key)
        if p is None or p.get("status") != "online" or "/" not in p.get("wsname", ""):
            continue
        base, quote = (KRAKEN_ALIASES.get(c, c) for c in p["wsname"].split("/"))
        book = Book(
            key, Fraction(t["b"][0]), Fraction(t["a"][0]), Fraction(t["b"][2]), Fraction(t["a"][2])
        )
        _keep(books, base, quote, book)
    return books


def _bybit() -> dict[tuple[str, str], Book]:
    meta = {
        i["symbol"]: i
        for i in _load("bybit", "instruments-info_spot_2026-08-09.trimmed.json")["result"]["list"]
    }
    books: dict[tuple[str, str], Book] = {}
    for t in _load("bybit", "tickers_spot_50_trimmed_2026-08-27.json")["result"]["list"]:
        i = meta.get(t["symbol"])
        if i is not None and i["status"] == "Trading":
            book = Book(
                t["symbol"],
                *(Fraction(t[k]) for k in ("bid1Price", "ask1Price", "bid1Size", "ask1Size")),
            )
            _keep(books, i["baseCoin"], i["quoteCoin"], book)
    return books


def _okx() -> dict[tuple[str, str], Book]:
    meta = {
        i["instId"]: i
        for i in _load("okx", "instruments_SPOT_50_trimmed_2026-08-27.trimmed.json")["data"]
    }
    books: dict[tuple[str, str], Book] = {}
    for t in _load("okx", "tickers_SPOT_50_trimmed_2026-08-27.json")["data"]:
        i = meta.get(t["instId"])
        if i is not None and i["state"] == "live" and t["bidPx"] and t["askPx"]:
            book = Book(
                t["instId"], *(Fraction(t[k]) for k in ("bidPx", "askPx", "bidSz", "askSz"))
            )
            _keep(books, i["baseCcy"], i["quoteCcy"], book)
    return books


BOOKS = {"binance": _binance(), "kraken": _kraken(), "bybit": _bybit(), "okx": _okx()}


def books_now(factors: Mapping[str, Decimal]) -> dict[str, dict[tuple[str, str], Book]]:
    """Every venue's books as its fake serves them with these price factors."""
    return {
        venue: {pair: book.scaled(factors.get(venue, Decimal(1))) for pair, book in books.items()}
        for venue, books in BOOKS.items()
    }


# -- the rules, written out independently ---------------------------------------------------


def half_up(value: Fraction, places: int) -> str:
    digits = str(math.floor(value * 10**places + Fraction(1, 2))).rjust(places + 1, "0")
    return f"{digits[:-places]}.{digits[-places:]}"


def listing(books: Mapping[tuple[str, str], Book], src: str, dst: str) -> tuple[Book, bool] | None:
    if (src, dst) in books:
        return books[(src, dst)], False
    if (dst, src) in books:
        return books[(dst, src)], True
    return None


def expected_venue(books: Mapping[tuple[str, str], Book], src: str, dst: str) -> str | None:
    found = listing(books, src, dst)
    if found is None:
        return None
    book, inverted = found
    return half_up(1 / book.mid if inverted else book.mid, 12)


def expected_average(
    venues: Mapping[str, Mapping[tuple[str, str], Book]], src: str, dst: str
) -> tuple[str, dict[str, str | None]]:
    """(rate, venue -> reason) by the median/5 % rule, exactly."""
    rates: dict[str, Fraction] = {}
    for venue, books in venues.items():
        found = listing(books, src, dst)
        if found is not None:
            book, inverted = found
            rates[venue] = 1 / book.mid if inverted else book.mid
    ordered = sorted(rates.values())
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    out = {v for v, r in rates.items() if n >= 3 and abs(r - median) * 100 > 5 * median}
    kept = [r for v, r in rates.items() if v not in out]
    reasons = {
        v: ("outlier" if v in out else None) if v in rates else "pair_not_listed" for v in venues
    }
    return half_up(sum(kept, Fraction(0)) / len(kept), 12), reasons


def expected_best(
    venues: Mapping[str, Mapping[tuple[str, str], Book]], src: str, dst: str
) -> tuple[str, str, str, str]:
    """(rate, venue, side, top-of-book quantity) for the highest executable rate."""
    best: tuple[Fraction, str, str, Fraction] | None = None
    for venue, books in venues.items():  # in EXCHANGES order: the first wins a tie
        found = listing(books, src, dst)
        if found is None:
            continue
        book, inverted = found
        rate = 1 / book.ask if inverted else book.bid
        quantity = book.ask_qty * book.ask if inverted else book.bid_qty
        if best is None or rate > best[0]:
            best = (rate, venue, "ask" if inverted else "bid", quantity)
    assert best is not None
    rate, venue, side, quantity = best
    return half_up(rate, 12), venue, side, _plain(quantity)


def _plain(value: Fraction) -> str:
    text = f"{Decimal(value.numerator) / Decimal(value.denominator):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# -- the stack -------------------------------------------------------------------------------


@dataclass
class Stack:
    client: httpx.Client
    fakes: FakeExchanges
    env: dict[str, str]
    workdir: Path
    factors: dict[str, Decimal]

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.client.get(path, params=params)

    def convert(
        self, amount: str, src: str, dst: str, exchange: str, **extra: str
    ) -> httpx.Response:
        return self.get(
            "/convert", amount=amount, **{"from": src, "to": dst}, exchange=exchange, **extra
        )

    def set_factor(self, venue: str, factor: Decimal) -> None:
        """Change a fake's prices and wait until the API answers from a snapshot taken after."""
        self.fakes[venue].set_price_factor(factor)
        self.factors[venue] = factor
        expected = expected_venue(books_now(self.factors)[venue], "BTC", "USDT")

        def answered() -> bool:
            response = self.convert("1", "BTC", "USDT", venue)
            return response.status_code == 200 and response.json()["rate"] == expected

        wait_until(answered, timeout=20, interval=0.2, message=f"{venue} at x{factor}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The four fakes, the consumer and the API, every venue fresh."""
    workdir = tmp_path_factory.mktemp("venues")
    port = free_port()
    with FakeExchanges(VENUES) as fakes:
        fakes["binance"].set_quotes_body(json.dumps(binance_book_ticker()).encode())
        env = settings_env(
            base_url=fakes["binance"].base_url,
            data_dir=workdir / "data",
            **{k: v for k, v in fakes.env.items() if k != "BINANCE_BASE_URL"},
            EXCHANGES=",".join(VENUES),
            API_PORT=str(port),
            POLL_INTERVAL_SECONDS="0.5",
            SNAPSHOT_INTERVAL_SECONDS="1",
            HTTP_TIMEOUT_SECONDS="2",
            QUOTES_MAX_AGE_SECONDS=str(MAX_AGE_SECONDS),
        )
        with (
            Proc("quote-consumer", env=env, workdir=workdir, name="consumer") as consumer,
            Proc("api", env=env, workdir=workdir, name="api") as api,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
        ):

            def outputs() -> str:
                return f"consumer:\n{consumer.output()}\napi:\n{api.output()}"

            def all_fresh() -> bool:
                assert consumer.alive(), outputs()
                assert api.alive(), outputs()
                try:
                    response = client.get("/health")
                except httpx.TransportError:
                    return False
                return response.status_code == 200 and response.json()["status"] == "ok"

            wait_until(all_fresh, timeout=40, interval=0.2, message=outputs)
            yield Stack(client, fakes, env, workdir, {})
            client.close()
            assert api.terminate() == 0, outputs()
            assert consumer.terminate() == 0, outputs()


# -- every venue, and both modes, as recorded -------------------------------------------------


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_each_venue_answers_from_its_own_books(stack: Stack, src: str, dst: str) -> None:
    """exchange=<venue>: that venue's mid (or 1/mid), or a 404 when it does not list the pair."""
    books = books_now(stack.factors)
    for venue in VENUES:
        response = stack.convert("1.5", src, dst, venue)
        rate = expected_venue(books[venue], src, dst)
        if rate is None:
            assert response.status_code == 404, (venue, response.text)
            assert response.json()["error"] in ("pair_not_found", "unknown_currency")
            continue
        body = response.json()
        assert response.status_code == 200, (venue, body)
        assert (body["exchange"], body["rate"]) == (venue, rate)
        assert body["amount"] == half_up(Fraction("1.5") * Fraction(rate), 6)
        assert body["symbol"] == listing(books[venue], src, dst)[0].symbol  # type: ignore[index]


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_average_without_outlier(stack: Stack, src: str, dst: str) -> None:
    """average: the mean of the listing venues' rates; here none is 5 % off the median."""
    rate, reasons = expected_average(books_now(stack.factors), src, dst)
    assert "outlier" not in reasons.values()
    body = stack.convert("2", src, dst, "average").json()
    assert body["rate"] == rate, body
    assert body["amount"] == half_up(2 * Fraction(rate), 6)
    assert {s["exchange"]: s["reason"] for s in body["sources"]} == reasons


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_best(stack: Stack, src: str, dst: str) -> None:
    """best: the highest bid (or 1/ask), its venue, side and top-of-book size in `from`."""
    rate, venue, side, quantity = expected_best(books_now(stack.factors), src, dst)
    body = stack.convert("0.001", src, dst, "best").json()
    assert (body["rate"], body["venue"], body["side"]) == (rate, venue, side), body
    assert body["top_of_book_quantity"] == quantity
    assert body["exceeds_top_of_book"] is (Fraction("0.001") > Fraction(quantity))


def test_historical_average_uses_snapshots_in_force(stack: Stack) -> None:
    """timestamp=T: every source's snapshot was taken at or before T, and the numbers hold."""
    at = stack.convert("1", "BTC", "USDT", "average").json()["quoted_at"]
    time.sleep(1.2)  # newer snapshots now exist on every venue
    books = books_now(stack.factors)
    for mode in ("average", "best"):
        body = stack.convert("1", "BTC", "USDT", mode, timestamp=at).json()
        assert body["quoted_at"] <= at, body
        assert all(s["quoted_at"] is None or s["quoted_at"] <= at for s in body["sources"])
        # Venues without a snapshot in force at T (just started) sit out, said so.
        present = {s["exchange"] for s in body["sources"] if s["reason"] != "no_snapshot"}
        venues = {v: b for v, b in books.items() if v in present}
        if mode == "average":
            assert body["rate"] == expected_average(venues, "BTC", "USDT")[0]
        else:
            assert (body["rate"], body["venue"]) == expected_best(venues, "BTC", "USDT")[:2]


def test_price_board(stack: Stack) -> None:
    """/prices: BTC/USDT from all four venues with their strings and the average."""
    board = stack.get("/prices").json()
    entry = board["pairs"]["BTC/USDT"]
    assert list(entry["exchanges"]) == list(VENUES)
    rate, _ = expected_average(books_now(stack.factors), "BTC", "USDT")
    assert entry["average"] == rate
    kraken = BOOKS["kraken"][("BTC", "USDT")]
    assert Fraction(entry["exchanges"]["kraken"]["bid"]) == kraken.bid
    assert all(v["status"] == "ok" for v in board["exchanges"].values())
    single = stack.get("/prices", pair="btc-usdt").json()
    assert single["pairs"] == {"BTC/USDT": entry}
    hint = stack.get("/prices", pair="usdt_btc")
    assert hint.status_code == 404
    assert "BTC/USDT" in hint.json()["message"]


# -- an outlier, then a venue down -------------------------------------------------------------


def test_average_and_best_with_an_outlier(stack: Stack) -> None:
    """okx at +20 %: average leaves it out as an outlier; best sells BTC there."""
    stack.set_factor("okx", OUTLIER_FACTOR)
    try:
        books = books_now(stack.factors)
        for src, dst in PAIRS:
            rate, reasons = expected_average(books, src, dst)
            body = stack.convert("1", src, dst, "average").json()
            assert body["rate"] == rate, (src, dst, body)
            assert {s["exchange"]: s["reason"] for s in body["sources"]} == reasons
            best = expected_best(books, src, dst)
            got = stack.convert("1", src, dst, "best").json()
            assert (got["rate"], got["venue"], got["side"], got["top_of_book_quantity"]) == best
        assert expected_average(books, "BTC", "USDT")[1]["okx"] == "outlier"
    finally:
        stack.set_factor("okx", Decimal(1))


def test_stopped_venue_is_outdated(stack: Stack, tmp_path: Path) -> None:
    """kraken down past the max age: its own answer 503, left out as outdated, health degraded."""
    kraken = stack.fakes["kraken"]
    kraken.stop()
    try:

        def kraken_outdated() -> bool:
            return stack.convert("1", "BTC", "USDT", "kraken").status_code == 503

        wait_until(kraken_outdated, timeout=MAX_AGE_SECONDS + 15, interval=0.25)
        body = stack.convert("1", "BTC", "USDT", "kraken").json()
        assert (body["error"], body["details"]["exchange"]) == ("quotes_outdated", "kraken")
        for mode in ("average", "best"):
            answer = stack.convert("1", "BTC", "USDT", mode).json()
            reasons = {s["exchange"]: s["reason"] for s in answer["sources"]}
            assert reasons["kraken"] == "outdated", answer
        health = stack.get("/health")
        assert (health.status_code, health.json()["status"]) == (200, "degraded")
        assert health.json()["exchanges"]["kraken"]["status"] == "outdated"
        board = stack.get("/prices").json()
        assert board["exchanges"]["kraken"]["status"] == "outdated"
        assert "kraken" not in board["pairs"]["BTC/USDT"]["exchanges"]
        # With kraken as DEFAULT_EXCHANGE the same store makes /health 503.
        port = free_port()
        env = {**stack.env, "API_PORT": str(port), "DEFAULT_EXCHANGE": "kraken"}
        with Proc("api", env=env, workdir=tmp_path, name="api-kraken") as api:
            url = f"http://127.0.0.1:{port}/health"

            def answering() -> httpx.Response | None:
                assert api.alive(), api.output()
                try:
                    return httpx.get(url, timeout=5)
                except httpx.TransportError:
                    return None

            response = wait_until(answering, timeout=30, message=api.output)
            assert (response.status_code, response.json()["status"]) == (503, "outdated")
            assert api.terminate() == 0, api.output()
    finally:
        kraken.start()
    wait_until(lambda: stack.get("/health").json()["status"] == "ok", timeout=30, interval=0.25)
