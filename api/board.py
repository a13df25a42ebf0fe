"""`GET /prices`: every pair of every usable venue, with its cross-venue average.

The board is built from the store alone (no request ever reaches an
exchange) and only when the set of snapshots behind it changes: each venue's
rows are formatted once per snapshot (`_rows`), the merged board once per
set of usable snapshots (`_board`), and serialised once. A request then adds
only the small `exchanges` block, whose ages move with the clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import orjson

from api.board_errors import board_error
from api.conversion import RATE_PLACES, format_fixed, mid_price
from api.exceptions import ApiError
from api.params import PricesQuery, pair_name
from api.snapshots import OK, VenueSnapshots, VenueState, age_seconds
from api.venues import average
from storage.model import format_iso_ms
from storage.reader import StoredSnapshot

__all__ = ["BoardAnswer", "PriceBoard"]

_Pair = tuple[str, str]
_Row = tuple[Decimal, dict[str, object]]  # (mid, the entry as served)
# Rows of a few snapshots per venue, and a few boards (latest, and the last
# timestamps asked for): enough for the latest board to survive a historical
# request, small enough to bound memory (a full board is ~1 MB of dicts).
_ROWS_KEPT = 16
_BOARDS_KEPT = 4


@dataclass(frozen=True, slots=True)
class BoardAnswer:
    body: bytes
    quoted_ms: int | None  # the oldest snapshot used (for a historical answer's max-age)


@dataclass(frozen=True, slots=True)
class _Board:
    pairs: Mapping[str, dict[str, object]]  # "BTC/USDT" -> {"average"?, "exchanges"}
    counts: Mapping[str, int]  # venue -> pairs it contributed
    serialised: orjson.Fragment  # `pairs`, sorted by name, ready to splice


class PriceBoard:
    """Builds and keeps the board of the configured venues."""

    def __init__(self, venues: Sequence[VenueSnapshots], *, outlier_percent: Decimal) -> None:
        self.venues = tuple(venues)
        self.outlier_percent = outlier_percent
        self._rows: OrderedDict[tuple[str, int], dict[_Pair, _Row]] = OrderedDict()
        self._boards: OrderedDict[tuple[object, ...], _Board] = OrderedDict()

    def prices(self, query: PricesQuery, now_ms: int) -> BoardAnswer:
        venues = [v for v in self.venues if query.exchange in (None, v.venue)]
        if query.at_ms is None:
            states = [v.state(now_ms) for v in venues]
        else:
            states = [v.state_at(query.at_ms, now_ms) for v in venues]
        usable = [s for s in states if s.status == OK and s.stored is not None]
        if not usable:
            raise board_error(venues, states, query, now_ms)
        board = self._board(usable, with_average=query.exchange is None)
        pairs: object = board.serialised
        if query.pair is not None:
            name = pair_name(*query.pair)
            entry = board.pairs.get(name)
            if entry is None:
                raise self._missing(venues, states, query, board, now_ms)
            pairs = {name: entry}
        at = now_ms if query.at_ms is None else query.at_ms
        body = {
            "pairs": pairs,
            "exchanges": {s.venue: _status(s, board.counts.get(s.venue, 0), at) for s in states},
        }
        oldest = min(s.quoted_ms for s in usable if s.quoted_ms is not None)
        return BoardAnswer(orjson.dumps(body), oldest)

    def _missing(
        self,
        venues: Sequence[VenueSnapshots],
        states: Sequence[VenueState],
        query: PricesQuery,
        board: _Board,
        now_ms: int,
    ) -> ApiError:
        assert query.pair is not None
        base, quote = query.pair
        reverse = pair_name(quote, base) if pair_name(quote, base) in board.pairs else None
        return board_error(venues, states, query, now_ms, listed_as=reverse, any_usable=True)

    # -- building ------------------------------------------------------------------

    def _board(self, usable: Sequence[VenueState], *, with_average: bool) -> _Board:
        key = (with_average, *[(s.venue, s.quoted_ms) for s in usable])
        board = self._boards.get(key)
        if board is not None:
            self._boards.move_to_end(key)
            return board
        merged: dict[_Pair, list[tuple[str, Decimal, dict[str, object]]]] = {}
        counts: dict[str, int] = {}
        for state in usable:
            assert state.stored is not None
            rows = self._venue_rows(state.venue, state.stored)
            counts[state.venue] = len(rows)
            for pair, (mid, row) in rows.items():
                merged.setdefault(pair, []).append((state.venue, mid, row))
        pairs: dict[str, dict[str, object]] = {}
        for pair in sorted(merged):
            listing = merged[pair]
            entry: dict[str, object] = {}
            if with_average:
                if len(listing) == 1:
                    entry["average"] = listing[0][2]["mid"]  # the mean of one mid is that mid
                else:
                    rate = average([mid for _, mid, _ in listing], self.outlier_percent).rate
                    entry["average"] = format_fixed(rate, RATE_PLACES)
            entry["exchanges"] = {venue: row for venue, _, row in listing}
            pairs[pair_name(*pair)] = entry
        board = _Board(pairs, counts, orjson.Fragment(orjson.dumps(pairs)))
        self._boards[key] = board
        if len(self._boards) > _BOARDS_KEPT:
            self._boards.popitem(last=False)
        return board

    def _venue_rows(self, venue: str, stored: StoredSnapshot) -> dict[_Pair, _Row]:
        """(base, quote) -> (mid, the venue's board entry), formatted once per snapshot."""
        key = (venue, stored.fetched_ms)
        rows = self._rows.get(key)
        if rows is not None:
            self._rows.move_to_end(key)
            return rows
        quoted_at = format_iso_ms(stored.fetched_ms)
        rows = {}
        for quote in stored.snapshot().quotes.values():
            mid = mid_price(quote.bid, quote.ask)
            rows[(quote.base, quote.quote)] = (
                mid,
                {
                    "symbol": quote.symbol,
                    # The venue's own strings: Decimal keeps every digit it was given.
                    "bid": f"{quote.bid:f}",
                    "ask": f"{quote.ask:f}",
                    "mid": format_fixed(mid, RATE_PLACES),
                    "quoted_at": quoted_at,
                },
            )
        self._rows[key] = rows
        if len(self._rows) > _ROWS_KEPT:
            self._rows.popitem(last=False)
        return rows


def _status(state: VenueState, pairs: int, at_ms: int) -> dict[str, object]:
    quoted = state.quoted_ms
    return {
        "status": state.status,
        "quoted_at": format_iso_ms(quoted) if quoted is not None else None,
        "age_seconds": age_seconds(at_ms, quoted) if quoted is not None else None,
        "pairs": pairs if state.status == OK else 0,
    }
