"""Per-venue freshness: the bodies of `/exchanges`, `/health` and `/currencies`.

Every body states how old the quotes behind it are; nothing is hidden, and
nothing here raises for a venue that is merely outdated. `/health` is what
the docker-compose healthcheck calls: 200 (`ok` or `degraded`) while
`/convert` without `exchange` can answer, 503 when it cannot.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from api.exceptions import QuotesOutdatedError, QuotesUnavailableError
from api.snapshots import NO_DATA, OK, OUTDATED, VenueSnapshots, VenueState, age_seconds
from storage.errors import StoreReadError
from storage.model import format_iso_ms

__all__ = ["VenueStatus"]


class VenueStatus:
    """Freshness of every configured venue, and what the default exchange needs."""

    def __init__(self, venues: Sequence[VenueSnapshots], *, default_exchange: str) -> None:
        self.venues = tuple(venues)
        self.default_exchange = default_exchange

    def block(self, venue: VenueSnapshots, state: VenueState, now_ms: int) -> dict[str, object]:
        """One venue's `/exchanges` entry (also the per-venue block of `/health`)."""
        snapshot = state.stored.snapshot() if state.stored is not None else None
        quoted = state.quoted_ms
        body: dict[str, object] = {
            "status": state.status,
            "quoted_at": format_iso_ms(quoted) if quoted is not None else None,
            "age_seconds": age_seconds(now_ms, quoted) if quoted is not None else None,
            "pairs": len(snapshot.quotes) if snapshot is not None else 0,
            "currencies": len(snapshot.currencies) if snapshot is not None else 0,
            "snapshots": venue.reader.count,
            "oldest": self._oldest(venue, now_ms),
        }
        if state.reason is not None:
            body["reason"] = state.reason
        return body

    def exchanges(self, now_ms: int) -> dict[str, object]:
        """`GET /exchanges`: every configured venue, in EXCHANGES order."""
        return {
            "exchanges": {v.venue: self.block(v, v.state(now_ms), now_ms) for v in self.venues},
            "default_exchange": self.default_exchange,
            "max_age_seconds": self.venues[0].max_age_ms / 1000,
        }

    def health(self, now_ms: int) -> tuple[int, dict[str, object]]:
        """(status, body): 200 ok / degraded while the default can answer, else 503.

        A venue default needs that venue fresh; `best`/`average` need any venue
        fresh. `ok` means every venue is fresh; `degraded` that the default can
        answer but some venue cannot.
        """
        states = {v.venue: v.state(now_ms) for v in self.venues}
        fresh = [name for name, state in states.items() if state.fresh]
        default = states.get(self.default_exchange)
        answering = default.fresh if default is not None else bool(fresh)
        if answering:
            status = "ok" if len(fresh) == len(states) else "degraded"
        elif default is not None:
            status = OUTDATED if default.status == OUTDATED else NO_DATA
        else:
            status = OUTDATED if any(s.status == OUTDATED for s in states.values()) else NO_DATA
        body: dict[str, object] = {"status": status, "exchange": self.default_exchange}
        # The default's own freshness at the top, as before venues (and as the
        # compose healthcheck's log shows it); for best/average, the newest venue's.
        described = [default] if default is not None else list(states.values())
        times = [s.quoted_ms for s in described if s.quoted_ms is not None]
        if times:
            body["quoted_at"] = format_iso_ms(max(times))
            body["age_seconds"] = age_seconds(now_ms, max(times))
        elif default is not None and default.reason is not None:
            body["reason"] = default.reason
        body["max_age_seconds"] = self.venues[0].max_age_ms / 1000
        body["snapshots"] = sum(
            v.reader.count for v in self.venues if default is None or v.venue == default.venue
        )
        body["exchanges"] = {v.venue: self.block(v, states[v.venue], now_ms) for v in self.venues}
        return (200 if answering else 503), body

    def currencies(self, now_ms: int, exchange: str | None = None) -> dict[str, object]:
        """The sorted union of codes over the venues' newest snapshots (or one venue's).

        Outdated venues count too, marked `outdated`: the list says what the
        venues quote, and each venue's block says how old that knowledge is.
        """
        venues = [v for v in self.venues if exchange is None or v.venue == exchange]
        states = [(v, v.state(now_ms)) for v in venues]
        present = [(v, s) for v, s in states if s.stored is not None]
        if not present:
            raise self._no_currencies(venues, states, now_ms)
        codes: set[str] = set()
        blocks: dict[str, object] = {}
        for venue, state in states:
            snapshot = state.stored.snapshot() if state.stored is not None else None
            if snapshot is not None:
                codes |= snapshot.currencies
            quoted = state.quoted_ms if snapshot is not None else None
            blocks[venue.venue] = {
                "quoted_at": format_iso_ms(quoted) if quoted is not None else None,
                "age_seconds": age_seconds(now_ms, quoted) if quoted is not None else None,
                "outdated": state.status != OK if snapshot is not None else None,
                "count": len(snapshot.currencies) if snapshot is not None else 0,
            }
        # The top level speaks for the whole list: its oldest part, outdated if any is.
        oldest = min(s.stored.fetched_ms for _, s in present if s.stored is not None)
        sorted_codes = sorted(codes)
        return {
            "currencies": sorted_codes,
            "count": len(sorted_codes),
            "quoted_at": format_iso_ms(oldest),
            "age_seconds": age_seconds(now_ms, oldest),
            "outdated": any(s.status != OK for _, s in present),
            "exchange": venues[0].venue if len(venues) == 1 else None,
            "exchanges": blocks,
        }

    def _no_currencies(
        self,
        venues: Sequence[VenueSnapshots],
        states: Sequence[tuple[VenueSnapshots, VenueState]],
        now_ms: int,
    ) -> QuotesOutdatedError | QuotesUnavailableError:
        if len(venues) == 1:
            try:
                venues[0].latest(now_ms)
            except (QuotesOutdatedError, QuotesUnavailableError) as exc:
                return exc
        details = {
            "exchanges": {v.venue: {"status": s.status, "reason": s.reason} for v, s in states}
        }
        if any(s.status == OUTDATED for _, s in states):
            return QuotesOutdatedError(
                "Every venue's newest quotes are older than the retention window.", **details
            )
        return QuotesUnavailableError("No quotes have been received from any venue yet.", **details)

    @staticmethod
    def _oldest(venue: VenueSnapshots, now_ms: int) -> str | None:
        """The oldest snapshot a `timestamp` can still reach (files past retention are not)."""
        try:
            venue.reader.refresh()
        except StoreReadError:
            return None
        times = venue.reader.times
        index = bisect.bisect_left(times, now_ms - venue.retention_ms)
        return format_iso_ms(times[index]) if index < len(times) else None
