"""Which snapshot of one venue answers: now, or as of a moment T.

The rules (README, "Which snapshot"): without a timestamp, the newest
readable snapshot, refused when older than QUOTES_MAX_AGE_SECONDS; with T,
the newest at or before T and at most QUOTES_MAX_AGE_SECONDS older, never one
taken after T; nothing older than the retention window is ever served, even
if a file lingers. `now_ms` is always passed in, so every boundary is tested
to the millisecond without a clock. Messages and details name the venue.

With a history index (`history`), a snapshot in force at T that the index
holds is answered from it (`api.history_lookup`); the choice of snapshot is
the same either way, made from the files the reader lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from api.exceptions import QuotesNotFoundError, QuotesOutdatedError, QuotesUnavailableError
from api.history_lookup import IndexedSnapshot, Verifier
from storage.errors import CorruptSnapshotError, SnapshotVanishedError, StoreReadError
from storage.history import HistoryReader
from storage.model import format_iso_ms
from storage.reader import SnapshotReader, StoredSnapshot

__all__ = ["VenueSnapshots", "VenueState", "age_seconds"]

OK, OUTDATED, NO_DATA = "ok", "outdated", "no_data"


def age_seconds(now_ms: int, ms: int) -> float:
    """How old a snapshot is, in seconds with millisecond precision."""
    return round((now_ms - ms) / 1000, 3)


@dataclass(frozen=True, slots=True)
class VenueState:
    """One venue's newest snapshot and whether it is fresh (for status endpoints)."""

    venue: str
    status: str  # OK, OUTDATED or NO_DATA
    stored: StoredSnapshot | None  # the newest servable snapshot, decoded; None if none
    quoted_ms: int | None  # its time, or a lingering file's beyond retention
    reason: str | None = None  # why there is no data, when there is none

    @property
    def fresh(self) -> bool:
        return self.status == OK


class VenueSnapshots:
    """Snapshot choice over one venue's `SnapshotReader`."""

    def __init__(
        self,
        reader: SnapshotReader,
        *,
        venue: str,
        max_age_ms: int,
        retention_ms: int,
        history: HistoryReader | None = None,
    ) -> None:
        self.reader = reader
        self.venue = venue
        self.max_age_ms = max_age_ms
        self.retention_ms = retention_ms
        self.history = history
        self.verifier = None if history is None else Verifier(history)
        self._newest: StoredSnapshot | None = None

    # -- latest ------------------------------------------------------------------

    def newest(self, now_ms: int) -> StoredSnapshot | None:
        """The newest readable snapshot within retention, fully decoded; None if none.

        Raises StoreReadError when the venue's directory cannot be listed.
        """
        since = now_ms - self.retention_ms
        # Fast path, taken by nearly every request: the newest file is still the
        # one found last time. A generator per venue per request was a third of
        # the cost of `exchange=average` over four venues.
        remembered = self._newest
        if (
            remembered is not None
            and remembered.fetched_ms == self.reader.newest_ms()
            and remembered.fetched_ms >= since
        ):
            return remembered
        for stored in self.reader.candidates(None, since):
            try:
                stored.snapshot()
            except CorruptSnapshotError as exc:
                self.reader.mark_corrupt(stored.fetched_ms, str(exc))
                continue
            self._newest = stored
            return stored
        return None

    def latest(self, now_ms: int) -> StoredSnapshot:
        """`newest`, or quotes_unavailable / quotes_outdated (only a lingering file) if none."""
        try:
            stored = self.newest(now_ms)
            if stored is not None:
                return stored
            lingering = self.lingering(now_ms)
        except StoreReadError:
            raise self.unreadable() from None
        if lingering is not None:
            raise self.outdated(lingering, now_ms, "older than the retention window")
        raise QuotesUnavailableError(
            f"No quotes have been received from {self.venue} yet.", exchange=self.venue
        )

    def lingering(self, now_ms: int) -> int | None:
        """The newest file's time when it is older than retention (never served); else None.

        Call after `newest` found nothing: newer files were then all unreadable.
        """
        newest = self.reader.newest_ms()
        return newest if newest is not None and newest < now_ms - self.retention_ms else None

    def fresh_latest(self, now_ms: int) -> StoredSnapshot:
        """`latest`, refused with quotes_outdated when older than QUOTES_MAX_AGE_SECONDS."""
        stored = self.latest(now_ms)
        if not self.is_fresh(stored.fetched_ms, now_ms):
            raise self.outdated(stored.fetched_ms, now_ms)
        return stored

    def is_fresh(self, quoted_ms: int, now_ms: int) -> bool:
        return now_ms - quoted_ms <= self.max_age_ms

    def state(self, now_ms: int) -> VenueState:
        """ok / outdated / no_data, never raising: for /health, /exchanges, /prices."""
        try:
            stored = self.newest(now_ms)
            lingering = None if stored is not None else self.lingering(now_ms)
        except StoreReadError:
            return VenueState(self.venue, NO_DATA, None, None, self.unreadable().message)
        if stored is None:
            if lingering is None:
                reason = f"No quotes have been received from {self.venue} yet."
                return VenueState(self.venue, NO_DATA, None, None, reason)
            return VenueState(self.venue, OUTDATED, None, lingering)
        status = OK if self.is_fresh(stored.fetched_ms, now_ms) else OUTDATED
        return VenueState(self.venue, status, stored, stored.fetched_ms)

    def state_at(self, at_ms: int, now_ms: int) -> VenueState:
        """The snapshot in force at T, fully decoded, as a state (for the board at T).

        `ok` when one is in force, `outdated` when the newest before T is too
        old, `no_data` when there is none. Raises quotes_not_found for T
        older than retention.
        """
        try:
            for stored in self.in_force(at_ms, now_ms):
                try:
                    stored.snapshot()
                except CorruptSnapshotError as exc:
                    self.reader.mark_corrupt(stored.fetched_ms, str(exc))
                    continue
                except (SnapshotVanishedError, StoreReadError):
                    continue
                return VenueState(self.venue, OK, stored, stored.fetched_ms)
        except QuotesUnavailableError as exc:
            return VenueState(self.venue, NO_DATA, None, None, exc.message)
        before = self.newest_before(at_ms, now_ms)
        if before is None:
            reason = f"No {self.venue} snapshot was taken at or before the timestamp."
            return VenueState(self.venue, NO_DATA, None, None, reason)
        return VenueState(self.venue, OUTDATED, None, before)

    # -- as of T -----------------------------------------------------------------

    def in_force(self, at_ms: int, now_ms: int) -> Iterator[StoredSnapshot]:
        """Candidates for "the snapshot in force at T", newest first (rows read lazily).

        The first one whose rows can be read is the answer; a caller that finds
        a bad row calls `reader.mark_corrupt` and takes the next. Raises
        quotes_not_found for T older than retention, quotes_unavailable when
        the store cannot be listed.
        """
        oldest = now_ms - self.retention_ms
        if at_ms < oldest:
            raise QuotesNotFoundError(
                "The timestamp is older than the retention window.",
                timestamp=format_iso_ms(at_ms),
                retention_days=self.retention_ms / 86_400_000,
            )
        try:
            candidates = self.reader.candidates(at_ms, max(at_ms - self.max_age_ms, oldest))
            verifier = self.verifier
            if verifier is None:
                yield from candidates
                return
            for stored in candidates:
                yield IndexedSnapshot(stored.fetched_ms, self.reader, verifier)
        except StoreReadError:
            raise self.unreadable() from None

    def newest_before(self, at_ms: int, now_ms: int) -> int | None:
        """The time of the newest snapshot within retention at or before T, however old."""
        try:
            for stored in self.reader.candidates(at_ms, now_ms - self.retention_ms):
                return stored.fetched_ms
        except StoreReadError:
            pass
        return None

    # -- errors ------------------------------------------------------------------

    def outdated(self, quoted_ms: int, now_ms: int, why: str | None = None) -> QuotesOutdatedError:
        age = age_seconds(now_ms, quoted_ms)
        limit = self.max_age_ms / 1000
        message = (
            f"The newest {self.venue} quotes are {why}."
            if why
            else f"The newest {self.venue} quotes are {age:g} s old; the limit is {limit:g} s."
        )
        return QuotesOutdatedError(
            message,
            exchange=self.venue,
            quoted_at=format_iso_ms(quoted_ms),
            age_seconds=age,
            max_age_seconds=limit,
        )

    def not_found(self, at_ms: int) -> QuotesNotFoundError:
        return QuotesNotFoundError(
            f"No {self.venue} snapshot was taken in the {self.max_age_ms / 1000:g} s "
            "up to the timestamp.",
            exchange=self.venue,
            timestamp=format_iso_ms(at_ms),
            max_age_seconds=self.max_age_ms / 1000,
        )

    def unreadable(self) -> QuotesUnavailableError:
        return QuotesUnavailableError(
            f"The {self.venue} snapshot store cannot be read.", exchange=self.venue
        )
