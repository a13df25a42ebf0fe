"""Parse and validate query strings into values; pure, no clock (``now_ms`` is passed in).

Every function here raises only ``ApiError`` subclasses, whatever the input,
so a hostile query string can never turn into a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, unquote_plus

from api.errors import (
    InvalidAmountError,
    InvalidParameterError,
    InvalidTimestampError,
    MissingParameterError,
)

CONVERT_PARAMETERS = ("amount", "from", "to", "timestamp")
REQUIRED_PARAMETERS = ("amount", "from", "to")

# Names are echoed back in error details; cap them so a client cannot make
# us reflect a kilobyte of its own input.
_MAX_SHOWN_NAME = 64

# 15 integer digits + "." + 6 fraction digits is 22 characters; 40 leaves room
# for leading zeros while keeping regex work on hostile input trivially cheap.
_MAX_AMOUNT_LENGTH = 40
_AMOUNT_FRACTION_DIGITS = 6
_AMOUNT_LIMIT = 10**15  # "at most 15 integer digits", counted on the value
# [0-9], not \d: \d (and str.isdigit) would accept "١" and other unicode digits.
_AMOUNT_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")

_CODE_RE = re.compile(r"[A-Za-z0-9]{1,20}")

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


@dataclass(frozen=True, slots=True)
class ConvertQuery:
    """A validated ``GET /convert`` query."""

    amount: Decimal
    from_code: str  # upper-cased
    to_code: str  # upper-cased
    at_ms: int | None  # requested time as UTC milliseconds, floored; None = latest


def parse_convert_query(query_string: str, now_ms: int) -> ConvertQuery:
    """Parse the raw ``/convert`` query string, e.g. ``amount=1.5&from=btc&to=usdt``."""
    pairs = _pairs(query_string)
    for name, _ in pairs:
        if name not in CONVERT_PARAMETERS:
            shown = _shown(name)
            raise InvalidParameterError(
                f"Unknown query parameter {shown!r}; "
                "the accepted ones are amount, from, to and timestamp.",
                parameter=shown,
            )
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values:
            raise InvalidParameterError(
                f"Query parameter {name!r} is given more than once.", parameter=name
            )
        values[name] = value
    for name, value in values.items():
        if not value:
            raise InvalidParameterError(f"Query parameter {name!r} is empty.", parameter=name)
    for name in REQUIRED_PARAMETERS:
        if name not in values:
            raise MissingParameterError(f"Query parameter {name!r} is required.", parameter=name)
    raw_timestamp = values.get("timestamp")
    return ConvertQuery(
        amount=parse_amount(values["amount"]),
        from_code=parse_code(values["from"], "from"),
        to_code=parse_code(values["to"], "to"),
        at_ms=None if raw_timestamp is None else parse_timestamp(raw_timestamp, now_ms),
    )


def check_no_params(query_string: str) -> None:
    """Refuse any query parameter, for endpoints that take none (``/health``, ``/currencies``)."""
    pairs = _pairs(query_string)
    if pairs:
        shown = _shown(pairs[0][0])
        raise InvalidParameterError(
            f"This endpoint takes no query parameters, but got {shown!r}.", parameter=shown
        )


def parse_amount(raw: str) -> Decimal:
    """Parse a plain positive decimal (``"1"``, ``"0.5"``, ``"000123.456789"``) exactly."""
    if len(raw) > _MAX_AMOUNT_LENGTH:
        raise _amount_error(f"The amount is longer than {_MAX_AMOUNT_LENGTH} characters.")
    match = _AMOUNT_RE.fullmatch(raw)
    if match is None:
        raise _amount_error(
            "The amount must be plain decimal digits with an optional '.' and fraction "
            "(no sign, exponent, spaces or separators)."
        )
    integer_part, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > _AMOUNT_FRACTION_DIGITS:
        raise _amount_error(f"The amount has more than {_AMOUNT_FRACTION_DIGITS} fraction digits.")
    if int(integer_part) >= _AMOUNT_LIMIT:
        raise _amount_error("The amount has more than 15 integer digits.")
    amount = Decimal(raw)  # from the string, so exact; the context does not apply
    if amount == 0:
        raise _amount_error("The amount must be greater than zero.")
    return amount


def parse_code(raw: str, parameter: str) -> str:
    """Validate a currency code (ASCII letters and digits, 1-20) and upper-case it."""
    if _CODE_RE.fullmatch(raw) is None:
        raise InvalidParameterError(
            f"Query parameter {parameter!r} must be 1 to 20 ASCII letters or digits.",
            parameter=parameter,
        )
    return raw.upper()


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


def _pairs(query_string: str) -> list[tuple[str, str]]:
    """Split a raw query string into decoded (name, value) pairs, in order.

    Each ``&``-separated piece is decoded on its own so that, when one is not
    valid UTF-8, the error can still name the parameter it belongs to.
    """
    if "%" not in query_string and "+" not in query_string:
        # Nothing to decode: what parse_qsl would return, without its per-piece cost.
        return [
            (name, value)
            for name, _, value in (p.partition("=") for p in query_string.split("&") if p)
        ]
    pairs: list[tuple[str, str]] = []
    for piece in query_string.split("&"):
        try:
            pairs.extend(
                parse_qsl(piece, keep_blank_values=True, strict_parsing=False, errors="strict")
            )
        except ValueError:  # UnicodeDecodeError is a ValueError
            shown = _shown(unquote_plus(piece.partition("=")[0], errors="replace"))
            raise InvalidParameterError(
                f"Query parameter {shown!r} is not valid percent-encoded UTF-8.",
                parameter=shown,
            ) from None
    return pairs


def _shown(name: str) -> str:
    """A client-supplied name, cut short enough to echo back safely."""
    return name[:_MAX_SHOWN_NAME]


def _amount_error(message: str) -> InvalidAmountError:
    return InvalidAmountError(message, parameter="amount")


def _timestamp_error(message: str, **details: object) -> InvalidTimestampError:
    return InvalidTimestampError(message, parameter="timestamp", **details)
