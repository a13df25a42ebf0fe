"""Why `/prices` cannot show what was asked: the one error the rules prescribe.

Kept apart from the board itself, which is about building and caching. The
classification follows `/convert`'s: no usable venue at all is a question of
fresh quotes (503 latest, 404 `quotes_not_found` at a timestamp); a pair
that only an unusable venue lists is too; a code that no venue knows is
`unknown_currency`; known codes in the other orientation are
`pair_not_found` with a hint.
"""

from __future__ import annotations

from collections.abc import Sequence

from api.exceptions import (
    ApiError,
    PairNotFoundError,
    QuotesNotFoundError,
    QuotesOutdatedError,
    QuotesUnavailableError,
    UnknownCurrencyError,
)
from api.lookup import codes_of, knowledge, lists
from api.params import PricesQuery, pair_name
from api.snapshots import OK, OUTDATED, VenueSnapshots, VenueState, age_seconds
from storage.model import format_iso_ms

__all__ = ["board_error"]


def board_error(
    venues: Sequence[VenueSnapshots],
    states: Sequence[VenueState],
    query: PricesQuery,
    now_ms: int,
    *,
    listed_as: str | None = None,
    any_usable: bool = False,
) -> ApiError:
    """The error for a board with no usable venue, or without the pair asked for."""
    if not any_usable:
        return _no_usable_venue(venues, states, query, now_ms)
    assert query.pair is not None
    base, quote = query.pair
    name = pair_name(base, quote)
    if listed_as is not None:
        return PairNotFoundError(
            f"No venue lists {name}; it is listed as {listed_as}.",
            pair=name,
            listed_as=listed_as,
        )
    known = [
        knowledge(venue, state.stored, now_ms) for venue, state in zip(venues, states, strict=True)
    ]
    for state, stored in zip(states, known, strict=True):
        if state.status != OK and stored is not None and lists(stored, base, quote):
            return _unusable_listing(venues, states, query, name, now_ms)
    codes: set[str] = set()
    for stored in known:
        codes |= codes_of(stored)
    for code in (base, quote):
        if code not in codes:
            return UnknownCurrencyError(
                f"No quotable symbol of {_whose(venues)} uses {code!r}.",
                parameter="pair",
                currency=code,
            )
    return PairNotFoundError(f"No symbol of {_whose(venues)} joins {base} and {quote}.", pair=name)


def _no_usable_venue(
    venues: Sequence[VenueSnapshots], states: Sequence[VenueState], query: PricesQuery, now_ms: int
) -> ApiError:
    at = query.at_ms
    if len(venues) == 1:
        venue, state = venues[0], states[0]
        if at is not None:
            return venue.not_found(at)
        if state.status == OUTDATED and state.quoted_ms is not None:
            return venue.outdated(state.quoted_ms, now_ms)
        return QuotesUnavailableError(
            f"No quotes have been received from {venue.venue} yet.", exchange=venue.venue
        )
    details = {"exchanges": _details(states, at, now_ms)}
    if at is not None:
        return QuotesNotFoundError(
            "No venue has a snapshot in force at the timestamp.",
            timestamp=format_iso_ms(at),
            max_age_seconds=venues[0].max_age_ms / 1000,
            **details,
        )
    if any(state.status == OUTDATED for state in states):
        return QuotesOutdatedError(
            "No venue has fresh quotes.", max_age_seconds=venues[0].max_age_ms / 1000, **details
        )
    return QuotesUnavailableError("No quotes have been received from any venue yet.", **details)


def _unusable_listing(
    venues: Sequence[VenueSnapshots],
    states: Sequence[VenueState],
    query: PricesQuery,
    name: str,
    now_ms: int,
) -> ApiError:
    details: dict[str, object] = {
        "pair": name,
        "max_age_seconds": venues[0].max_age_ms / 1000,
        "exchanges": _details(states, query.at_ms, now_ms),
    }
    if query.at_ms is None:
        return QuotesOutdatedError(f"No venue that lists {name} has fresh quotes.", **details)
    return QuotesNotFoundError(
        f"No venue that lists {name} has a snapshot in force at the timestamp.",
        timestamp=format_iso_ms(query.at_ms),
        **details,
    )


def _details(
    states: Sequence[VenueState], at_ms: int | None, now_ms: int
) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for state in states:
        entry: dict[str, object] = {"status": state.status}
        if state.quoted_ms is not None:
            entry["quoted_at"] = format_iso_ms(state.quoted_ms)
            entry["age_seconds"] = age_seconds(now_ms if at_ms is None else at_ms, state.quoted_ms)
        out[state.venue] = entry
    return out


def _whose(venues: Sequence[VenueSnapshots]) -> str:
    return venues[0].venue if len(venues) == 1 else "any venue"
