"""Parse a ``timestamp`` query value into UTC milliseconds; pure, ``now_ms`` is passed in.

Used by every endpoint that answers "as of T" (``/convert``, ``/prices``).
Raises only ``InvalidTimestampError``, whatever the input.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from api.exceptions import InvalidTimestampError

__all__ = ["parse_timestamp"]

_MAX_TIMESTAMP_LENGTH = 64
_MAX_FUTURE_MS = 5_000
# Unix seconds: 11 integer digits reach year 5138, beyond any sane request;
# 9 fraction digits is nanoseconds, enough for any clock a client prints.
_UNIX_RE = re.compile(r"([0-9]{1,11})(?:\.([0-9]{1,9}))?")
# The ISO 8601 shapes we accept, checked before datetime.fromisoformat, which
# on 3.11 also takes week dates and any character as the date/time separator.
# A space may stand for "T" and for "+" in the offset, because an unencoded
# "+" in a query string decodes to a space ("...T12:00:00+02:00" -> " 02:00").
_ISO_RE = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[Tt ](?P<hm>[0-9]{2}:[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?)?"
    r"(?:[Zz]|(?P<sign>[-+ ])(?P<oh>[0-9]{2})(?::?(?P<om>[0-9]{2}))?)?)?"
)
_EPOCH = datetime(1970, 1, 1)  # naive on purpose: compared with naive local parts
_MAX_MS = (datetime(9999, 12, 31, 23, 59, 59, 999_000) - _EPOCH) // timedelta(milliseconds=1)


def parse_timestamp(raw: str, now_ms: int) -> int:
    """Parse unix seconds or ISO 8601 into UTC milliseconds, floored.

    Flooring means a snapshot taken at millisecond ``m`` is "at or before T"
    exactly when ``m <= parse_timestamp(T)``. Accepted: ``1700000000``,
    ``1700000000.5``, ``2026-11-21``, ``2026-11-21T12:00:00Z``,
    ``2026-11-21T12:00:00.123+02:00`` and ``2026-11-21T12:00:00`` (UTC).
    """
    at_ms = _timestamp_ms(raw) if len(raw) <= _MAX_TIMESTAMP_LENGTH else None
    if at_ms is None:
        raise _timestamp_error(
            "The timestamp must be unix seconds (e.g. 1700000000.5) "
            "or ISO 8601 (e.g. 2026-11-21T12:00:00Z)."
        )
    if not 0 <= at_ms <= _MAX_MS:
        raise _timestamp_error(
            "The timestamp is out of range (before 1970 or after the year 9999)."
        )
    if at_ms > now_ms + _MAX_FUTURE_MS:
        raise _timestamp_error(
            "The timestamp is more than 5 seconds in the future.",
            timestamp=_iso_ms(at_ms),
            now=_iso_ms(now_ms),
            max_future_seconds=_MAX_FUTURE_MS // 1000,
        )
    return at_ms


def _timestamp_ms(raw: str) -> int | None:
    """Return the floored UTC milliseconds of ``raw``, or None when it does not parse."""
    unix = _UNIX_RE.fullmatch(raw)
    if unix is not None:
        # Integer arithmetic on the digits: exact, and truncating the fraction
        # to 3 digits is the floor because the value is never negative.
        return int(unix.group(1)) * 1000 + _fraction_ms(unix.group(2))
    iso = _ISO_RE.fullmatch(raw)
    if iso is None:
        return None
    # fromisoformat only sees "YYYY-MM-DDTHH:MM[:SS]", whose calendar it checks;
    # the fraction and the offset we handle ourselves, exactly.
    core = iso["date"] if iso["hm"] is None else f"{iso['date']}T{iso['hm']}:{iso['s'] or '00'}"
    try:
        local = datetime.fromisoformat(core)
    except ValueError:
        return None
    offset_ms = 0
    if iso["sign"] is not None:
        hours, minutes = int(iso["oh"]), int(iso["om"] or "0")
        if hours > 23 or minutes > 59:
            return None
        offset_ms = (hours * 60 + minutes) * 60_000 * (-1 if iso["sign"] == "-" else 1)
    local_ms = (local - _EPOCH) // timedelta(milliseconds=1)
    return local_ms + _fraction_ms(iso["fraction"]) - offset_ms


def _fraction_ms(fraction: str | None) -> int:
    """Milliseconds in a fraction-of-second digit string, truncated (= floored)."""
    return int((fraction or "").ljust(3, "0")[:3])


def _iso_ms(ms: int) -> str:
    """Format UTC milliseconds like the API's ``quoted_at``; raw number if out of range."""
    if not 0 <= ms <= _MAX_MS:
        return str(ms)
    moment = datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _timestamp_error(message: str, **details: object) -> InvalidTimestampError:
    return InvalidTimestampError(message, parameter="timestamp", **details)
