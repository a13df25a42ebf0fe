"""What each venue says about one pair, now or at T; and the error when none can answer.

`look_at` is the per-venue half of `average` and `best` (and of a board
entry): the snapshot in play and the pair's row in it, or why the venue
cannot take part (`outdated`, `no_snapshot`, `pair_not_listed`: the
`reason` values of a `sources` entry). `classify_missing` turns "no venue
can answer" into the one error the rules prescribe (README, "Errors for
average and best").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.exceptions import (
    ApiError,
    PairNotFoundError,
    QuotesNotFoundError,
    QuotesOutdatedError,
    QuotesUnavailableError,
    UnknownCurrencyError,
)
from api.params import ConvertQuery
from api.snapshots import VenueSnapshots, age_seconds
from storage.errors import CorruptSnapshotError, SnapshotVanishedError, StoreReadError
from storage.model import Quote, format_iso_ms
from storage.reader import StoredSnapshot

__all__ = [
    "NO_SNAPSHOT",
    "OUTDATED",
    "OUTLIER",
    "PAIR_NOT_LISTED",
    "Look",
    "classify_missing",
    "codes_of",
    "find_pair",
    "look_at",
    "look_latest",
    "nothing_servable",
    "see_latest",
    "venue_details",
]

OUTLIER, OUTDATED, NO_SNAPSHOT, PAIR_NOT_LISTED = (
    "outlier",
    "outdated",
    "no_snapshot",
    "pair_not_listed",
)


@dataclass(frozen=True, slots=True)
class Look:
    """One venue's part in a cross-venue answer for (from, to)."""

    venue: str
    reason: str | None  # None: usable and lists the pair; else why it cannot take part
    stored: StoredSnapshot | None  # latest: the newest servable (any age); at T: the one in force
    quote: Quote | None  # the pair's row, direct or inverse, when usable
    inverted: bool
    quoted_ms: int | None  # the snapshot's time (or a too-old/lingering one's); None if none

    @property
    def key(self) -> tuple[str | None, int | None]:
        """What the memo needs to know about this venue: the rest follows from it."""
        return self.reason, self.quoted_ms


def find_pair(stored: StoredSnapshot, src: str, dst: str) -> tuple[Quote | None, bool]:
    """The direct row (src is the base), else the inverse one; (None, False) if neither."""
    quote = stored.find(src, dst)
    if quote is not None:
        return quote, False
    quote = stored.find(dst, src)
    return (quote, True) if quote is not None else (None, False)


# What the latest path sees of a venue before any pair is looked up:
# (the newest servable snapshot or None, its time or a lingering file's, fresh).
Seen = tuple[StoredSnapshot | None, int | None, bool]


def see_latest(venue: VenueSnapshots, now_ms: int) -> Seen:
    """The venue's newest servable snapshot, its time and freshness (cheap: no pair lookup)."""
    try:
        stored = venue.newest(now_ms)
        if stored is None:
            return None, venue.lingering(now_ms), False
    except StoreReadError:
        return None, None, False
    return stored, stored.fetched_ms, venue.is_fresh(stored.fetched_ms, now_ms)


def look_latest(name: str, seen: Seen, src: str, dst: str) -> Look:
    """`look_at` without a timestamp, from what `see_latest` saw."""
    stored, quoted_ms, fresh = seen
    if stored is None:
        return Look(
            name, NO_SNAPSHOT if quoted_ms is None else OUTDATED, None, None, False, quoted_ms
        )
    if not fresh:
        return Look(name, OUTDATED, stored, None, False, quoted_ms)
    quote, inverted = find_pair(stored, src, dst)
    return Look(name, _listed(quote), stored, quote, inverted, quoted_ms)


def look_at(venue: VenueSnapshots, src: str, dst: str, at_ms: int | None, now_ms: int) -> Look:
    """The venue's snapshot in play and the pair's row in it (raises only for T past retention)."""
    name = venue.venue
    if at_ms is None:
        return look_latest(name, see_latest(venue, now_ms), src, dst)
    try:
        for stored in venue.in_force(at_ms, now_ms):
            try:
                quote, inverted = find_pair(stored, src, dst)
            except CorruptSnapshotError as exc:
                venue.reader.mark_corrupt(stored.fetched_ms, str(exc))
                continue
            except (SnapshotVanishedError, StoreReadError):
                continue
            return Look(name, _listed(quote), stored, quote, inverted, stored.fetched_ms)
    except QuotesUnavailableError:
        return Look(name, NO_SNAPSHOT, None, None, False, None)
    before = venue.newest_before(at_ms, now_ms)
    return Look(name, NO_SNAPSHOT if before is None else OUTDATED, None, None, False, before)


def _listed(quote: Quote | None) -> str | None:
    return None if quote is not None else PAIR_NOT_LISTED


def classify_missing(
    venues: Sequence[VenueSnapshots], looks: Sequence[Look], query: ConvertQuery, now_ms: int
) -> ApiError:
    """No venue can answer: unknown_currency, pair_not_found, or quotes outdated/not found.

    What a venue "knows" is the snapshot it answers from when usable, else its
    newest servable snapshot, fresh or not: a code or pair that only an
    outdated venue lists is a question of fresh quotes, not of a typo.
    """
    src, dst = query.from_code, query.to_code
    known = [
        knowledge(venue, look.stored, now_ms) for venue, look in zip(venues, looks, strict=True)
    ]
    if not any(known):
        return nothing_servable(venues, looks, query, now_ms)
    for venue, look, stored in zip(venues, looks, known, strict=True):
        if stored is not None and look.reason != PAIR_NOT_LISTED and lists(stored, src, dst):
            return _no_usable_quotes(venue, looks, query, now_ms)
    codes: set[str] = set()
    for stored in known:
        codes |= codes_of(stored)
    for parameter, code in (("from", src), ("to", dst)):
        if code not in codes:
            return UnknownCurrencyError(
                f"No quotable symbol of any venue uses {code!r}.",
                parameter=parameter,
                currency=code,
            )
    return PairNotFoundError(
        f"No venue has a symbol that joins {src} and {dst} (no cross rates are computed).",
        **{"from": src, "to": dst},
    )


def nothing_servable(
    venues: Sequence[VenueSnapshots], looks: Sequence[Look], query: ConvertQuery, now_ms: int
) -> ApiError:
    """No venue has a servable snapshot at all: like one venue with an empty store."""
    details = {"exchanges": venue_details(looks, query.at_ms, now_ms)}
    if query.at_ms is not None:
        return QuotesNotFoundError(
            "No venue has a snapshot in force at the timestamp.",
            timestamp=format_iso_ms(query.at_ms),
            max_age_seconds=venues[0].max_age_ms / 1000,
            **details,
        )
    if any(look.reason == OUTDATED for look in looks):
        return QuotesOutdatedError(
            "Every venue's newest quotes are older than the retention window.", **details
        )
    return QuotesUnavailableError("No quotes have been received from any venue yet.", **details)


def venue_details(
    looks: Sequence[Look], at_ms: int | None, now_ms: int
) -> dict[str, dict[str, object]]:
    """Per venue: why it could not answer, and how old its quotes are (latest only)."""
    out: dict[str, dict[str, object]] = {}
    for look in looks:
        entry: dict[str, object] = {"reason": look.reason}
        if look.quoted_ms is not None:
            entry["quoted_at"] = format_iso_ms(look.quoted_ms)
            if at_ms is None:
                entry["age_seconds"] = age_seconds(now_ms, look.quoted_ms)
        out[look.venue] = entry
    return out


def _no_usable_quotes(
    venue: VenueSnapshots, looks: Sequence[Look], query: ConvertQuery, now_ms: int
) -> ApiError:
    pair = f"{query.from_code} and {query.to_code}"
    details: dict[str, object] = {
        "from": query.from_code,
        "to": query.to_code,
        "max_age_seconds": venue.max_age_ms / 1000,
        "exchanges": venue_details(looks, query.at_ms, now_ms),
    }
    if query.at_ms is None:
        return QuotesOutdatedError(f"No venue that lists {pair} has fresh quotes.", **details)
    return QuotesNotFoundError(
        f"No venue that lists {pair} has a snapshot in force at the timestamp.",
        timestamp=format_iso_ms(query.at_ms),
        **details,
    )


def knowledge(
    venue: VenueSnapshots, stored: StoredSnapshot | None, now_ms: int
) -> StoredSnapshot | None:
    """What a venue knows: the snapshot it answers from, else its newest servable one."""
    if stored is not None:
        return stored
    try:
        return venue.newest(now_ms)
    except StoreReadError:
        return None


def lists(stored: StoredSnapshot, src: str, dst: str) -> bool:
    """Whether this snapshot has a row for src/dst; an unreadable one lists nothing."""
    try:
        return find_pair(stored, src, dst)[0] is not None
    except (CorruptSnapshotError, SnapshotVanishedError, StoreReadError):
        return False


def codes_of(stored: StoredSnapshot | None) -> frozenset[str]:
    """The codes a snapshot uses; none when it cannot be read (it is skipped elsewhere)."""
    if stored is None:
        return frozenset()
    try:
        return stored.currencies()
    except (CorruptSnapshotError, SnapshotVanishedError, StoreReadError):
        return frozenset()
