"""`market-report` in process against the fake venues: its figures, its formats, its failures.

Expected figures are recomputed from the fixture JSON (`json`, `Fraction`);
the report's numbers are exact decimal strings, so they are compared exactly.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from consumer.report import market_report
from settings import load_settings
from tests.fakes import FakeExchanges, Fault

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"
INFO: dict[str, Any] = json.loads((FIXTURES / "exchangeInfo_2023-08-13.trimmed.json").read_bytes())
TICKER_24HR: list[dict[str, Any]] = json.loads(
    (FIXTURES / "ticker_24hr_2023-03-10.json").read_bytes()
)
TOPS = {
    e["symbol"]: e
    for e in json.loads((FIXTURES / "bookTicker_from_ticker_24hr_2023-03-10.json").read_bytes())
}
TRADING = {s["symbol"]: s["quoteAsset"] for s in INFO["symbols"] if s["status"] == "TRADING"}


def ranking(quote: str, figure: str) -> list[tuple[str, Fraction]]:
    def quotable(symbol: str) -> bool:
        top = TOPS.get(symbol)
        return top is not None and 0 < Fraction(top["bidPrice"]) <= Fraction(top["askPrice"])

    rows = [
        (e["symbol"], Fraction(e[figure]))
        for e in TICKER_24HR
        if TRADING.get(e["symbol"]) == quote and quotable(e["symbol"])
    ]
    return sorted(rows, key=lambda row: (-row[1], row[0]))[:5]


def report(fakes: FakeExchanges, *args: str, **env: str) -> tuple[int, str]:
    settings = load_settings({**fakes.env, "EXCHANGES": ",".join(fakes.names), **env})
    out = io.StringIO()
    code = market_report(settings, fakes.names, as_json="json" in args, watch=False, out=out)
    return code, out.getvalue()


def test_json_report_equals_the_figures_of_the_recordings() -> None:
    """Rankings, one-level notionals and spreads: exactly the fixture's figures."""
    with FakeExchanges(["binance"]) as fakes:
        code, text = report(fakes, "json")
    assert code == 0
    body = json.loads(text)["exchanges"]["binance"]
    assert body["error"] is None
    assert [(r["symbol"], Fraction(r["quote_volume"])) for r in body["most_traded_btc"]] == (
        ranking("BTC", "quoteVolume")
    )
    assert [(r["symbol"], r["trades"]) for r in body["most_active_usdt"]] == [
        (symbol, int(n)) for symbol, n in ranking("USDT", "count")
    ]
    for symbol, sides in body["book_notional"].items():
        top = TOPS[symbol]  # the fake derives a one-level book from the top of book
        assert Fraction(sides["bids"]) == Fraction(top["bidPrice"]) * Fraction(top["bidQty"])
        assert Fraction(sides["asks"]) == Fraction(top["askPrice"]) * Fraction(top["askQty"])
    for symbol, spread in body["spreads"].items():
        assert Decimal(spread) == Decimal(TOPS[symbol]["askPrice"]) - Decimal(
            TOPS[symbol]["bidPrice"]
        )
        assert "E" not in spread


def test_table_report_names_each_part_and_says_what_is_not_computed() -> None:
    """The table has each heading; a venue without trade counts says so."""
    with FakeExchanges(["binance", "okx"]) as fakes:
        code, text = report(fakes)
    assert code == 0
    for heading in ("Most traded in BTC", "Most active in USDT", "Book notional", "Spread"):
        assert text.count(heading) == 2
    assert "not computed: okx publishes no 24 h trade count" in text
    assert "    1  ETHBTC   10177.2908541\n" in text


def test_a_failing_venue_is_reported_and_the_others_still_answer() -> None:
    """OKX answering 500: its error is printed, Binance's figures are there, exit 1."""
    with FakeExchanges(["binance", "okx"]) as fakes:
        fakes["okx"].set_fault(Fault.HTTP_500)
        code, text = report(fakes, "json")
    body = json.loads(text)["exchanges"]
    assert code == 1
    assert "500" in body["okx"]["error"]
    assert body["binance"]["error"] is None
    assert len(body["binance"]["most_traded_btc"]) == 5
