"""How `market-report` prints: a table for people, JSON for programs.

Figures are printed exactly, as plain decimal strings (never floats, never
exponents), so the report can be checked digit by digit against the venue.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal, Inexact, localcontext
from typing import TYPE_CHECKING

import orjson

from consumer.market.analytics import BOOK_LEVELS, RANKING_SIZE, Ranked

if TYPE_CHECKING:
    from consumer.report import VenueReport

__all__ = ["plain", "render_json", "render_table", "render_watch"]

_PRECISION = 200  # more digits than any figure of the analytics can have


def plain(value: Decimal) -> str:
    """A Decimal in plain notation without trailing zeros ("0.00000123", never "1.23E-6").

    The products behind a notional carry both factors' fraction digits
    ("0.2096858506000000"); the zeros say nothing, the value is unchanged.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION  # normalize() rounds to the context precision
        ctx.traps[Inexact] = True
        return format(value.normalize(), "f")


def _no_trades(venue: str) -> str:
    return f"not computed: {venue} publishes no 24 h trade count"


def _venue_json(r: VenueReport) -> dict[str, object]:
    def ranking(ranked: Sequence[Ranked], figure: str, trades: bool) -> list[dict[str, object]]:
        return [
            {
                "rank": x.rank,
                "symbol": x.symbol,
                "base": x.base,
                "quote": x.quote,
                figure: int(x.value) if trades else plain(x.value),
            }
            for x in ranked
        ]

    body: dict[str, object] = {"base_url": r.base_url, "error": r.error}
    if not r.market_data:
        body["note"] = f"{r.venue} serves no 24 h statistics or order books here"
        return body
    body["most_traded_btc"] = ranking(r.by_volume, "quote_volume", trades=False)
    if r.by_trades is None:
        body["most_active_usdt"] = None
        body["most_active_usdt_note"] = _no_trades(r.venue)
    else:
        body["most_active_usdt"] = ranking(r.by_trades, "trades", trades=True)
    body["book_notional"] = {
        symbol: {"bids": plain(bids), "asks": plain(asks)}
        for symbol, (bids, asks) in r.notionals.items()
    }
    body["spreads"] = {symbol: plain(value) for symbol, value in r.spreads.items()}
    return body


def render_json(reports: Sequence[VenueReport]) -> str:
    """One JSON document: {"exchanges": {venue: ...}, "levels": 200, "size": 5}."""
    document = {
        "ranking_size": RANKING_SIZE,
        "book_levels": BOOK_LEVELS,
        "exchanges": {r.venue: _venue_json(r) for r in reports},
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


def _rows(rows: Sequence[Sequence[str]], right: Sequence[int]) -> list[str]:
    """Aligned columns (those in `right` right-justified), indented under a heading."""
    if not rows:
        return ["    (none)"]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("    " + "  ".join(cells).rstrip())
    return lines


def _venue_table(r: VenueReport) -> list[str]:
    lines = [f"{r.venue} ({r.base_url})"]
    if r.error:
        lines.append(f"  error: {r.error}")
    if not r.market_data:
        lines.append(f"  {r.venue} serves no 24 h statistics or order books here")
        return lines
    lines.append("  Most traded in BTC (24 h quote volume, in BTC)")
    lines += _rows([(str(x.rank), x.symbol, plain(x.value)) for x in r.by_volume], (0, 2))
    lines.append("  Most active in USDT (24 h number of trades)")
    if r.by_trades is None:
        lines.append(f"    {_no_trades(r.venue)}")
    else:
        lines += _rows([(str(x.rank), x.symbol, plain(x.value)) for x in r.by_trades], (0, 2))
    lines.append(f"  Book notional, top {BOOK_LEVELS} levels a side (in the quote currency)")
    rows = [(s, "bids", plain(b), "asks", plain(a)) for s, (b, a) in r.notionals.items()]
    lines += _rows(rows, (2, 4))
    lines.append("  Spread, ask - bid (in the quote currency)")
    lines += _rows([(s, plain(v)) for s, v in r.spreads.items()], (1,))
    return lines


def render_table(reports: Sequence[VenueReport]) -> str:
    """The report as aligned text, one block per venue."""
    blocks = ["\n".join(_venue_table(r)) for r in reports]
    return "\n\n".join(blocks) + "\n"


def render_watch(
    venue: str,
    at: float,
    spreads: Mapping[str, Decimal],
    changes: Mapping[str, Decimal],
    as_json: bool,
    error: str | None = None,
) -> str:
    """One `--watch` tick of one venue: each spread and its absolute change."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    if as_json:
        line = {
            "at": stamp,
            "exchange": venue,
            "error": error,
            "spreads": {
                s: {"spread": plain(v), "abs_change": plain(changes[s]) if s in changes else None}
                for s, v in spreads.items()
            },
        }
        return orjson.dumps(line).decode() + "\n"
    if error is not None:
        return f"{stamp}  {venue}  error: {error}\n"
    return "".join(
        f"{stamp}  {venue}  {s}  spread {plain(v)}  change "
        f"{plain(changes[s]) if s in changes else '-'}\n"
        for s, v in spreads.items()
    )
