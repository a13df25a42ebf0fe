"""Parse and validate query strings into values; pure, no clock (``now_ms`` is passed in).

Every function here raises only ``ApiError`` subclasses, whatever the input,
so a hostile query string can never turn into a 500. Which venues exist is
configuration, so the values ``exchange`` may take are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qsl, unquote_plus

from api.exceptions import (
    InvalidAmountError,
    InvalidParameterError,
    InvalidTimestampError,
    MissingParameterError,
)
from api.timestamps import parse_timestamp

__all__ = [
    "CONVERT_PARAMETERS",
    "PRICES_PARAMETERS",
    "ConvertQuery",
    "PricesQuery",
    "RatesQuery",
    "check_no_params",
    "pair_name",
    "parse_amount",
    "parse_code",
    "parse_convert_query",
    "parse_exchange_query",
    "parse_pair",
    "parse_prices_query",
    "parse_rates_query",
    "parse_timestamp",
]

CONVERT_PARAMETERS = ("amount", "from", "to", "timestamp", "exchange")
REQUIRED_PARAMETERS = ("amount", "from", "to")
PRICES_PARAMETERS = ("pair", "exchange", "timestamp")
RATES_PARAMETERS = ("from", "to", "start", "end", "interval", "exchange")

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
# BTC/USDT, btc-usdt or BTC_USDT: "/" is the board's own spelling, "-" and "_"
# spare clients from percent-encoding it (and are what OKX and others print).
_PAIR_RE = re.compile(r"([A-Za-z0-9]{1,20})[/_-]([A-Za-z0-9]{1,20})")


@dataclass(frozen=True, slots=True)
class ConvertQuery:
    """A validated ``GET /convert`` query."""

    amount: Decimal
    from_code: str  # upper-cased
    to_code: str  # upper-cased
    at_ms: int | None  # requested time as UTC milliseconds, floored; None = latest
    exchange: str | None = None  # lower-cased venue, "best" or "average"; None = the default


@dataclass(frozen=True, slots=True)
class PricesQuery:
    """A validated ``GET /prices`` query; every part optional."""

    pair: tuple[str, str] | None  # (base, quote), upper-cased, as the venues list it
    exchange: str | None  # a configured venue, lower-cased
    at_ms: int | None


@dataclass(frozen=True, slots=True)
class RatesQuery:
    """A validated ``GET /rates`` query; defaults (end = now, ...) are `api.series.plan`'s."""

    from_code: str
    to_code: str
    start_ms: int | None
    end_ms: int | None
    interval: str | None
    exchange: str | None  # a venue or "average", lower-cased; None = the default


def parse_convert_query(
    query_string: str, now_ms: int, *, exchanges: Sequence[str]
) -> ConvertQuery:
    """Parse the raw ``/convert`` query string, e.g. ``amount=1.5&from=btc&to=usdt``.

    ``exchanges`` are the values ``exchange`` may take (the configured venues,
    ``best`` and ``average``), in the order the error message lists them.
    """
    values = _values(query_string, CONVERT_PARAMETERS)
    for name in REQUIRED_PARAMETERS:
        if name not in values:
            raise MissingParameterError(f"Query parameter {name!r} is required.", parameter=name)
    raw_timestamp = values.get("timestamp")
    raw_exchange = values.get("exchange")
    return ConvertQuery(
        amount=parse_amount(values["amount"]),
        from_code=parse_code(values["from"], "from"),
        to_code=parse_code(values["to"], "to"),
        at_ms=None if raw_timestamp is None else parse_timestamp(raw_timestamp, now_ms),
        exchange=None if raw_exchange is None else parse_exchange(raw_exchange, exchanges),
    )


def parse_prices_query(query_string: str, now_ms: int, *, venues: Sequence[str]) -> PricesQuery:
    """Parse the raw ``/prices`` query string, e.g. ``pair=btc-usdt&exchange=kraken``."""
    values = _values(query_string, PRICES_PARAMETERS)
    raw_pair, raw_exchange = values.get("pair"), values.get("exchange")
    raw_timestamp = values.get("timestamp")
    return PricesQuery(
        pair=None if raw_pair is None else parse_pair(raw_pair),
        exchange=None if raw_exchange is None else parse_exchange(raw_exchange, venues),
        at_ms=None if raw_timestamp is None else parse_timestamp(raw_timestamp, now_ms),
    )


def parse_rates_query(
    query_string: str, now_ms: int, *, exchanges: Sequence[str], intervals: Sequence[str]
) -> RatesQuery:
    """Parse the raw ``/rates`` query string, e.g. ``from=btc&to=usdt&interval=5m``.

    ``exchanges`` are the values ``exchange`` may take (the venues and
    ``average``); ``best`` is refused by name: it is the best price for an
    amount, not a rate of the market.
    """
    values = _values(query_string, RATES_PARAMETERS)
    for name in ("from", "to"):
        if name not in values:
            raise MissingParameterError(f"Query parameter {name!r} is required.", parameter=name)
    raw_exchange, raw_interval = values.get("exchange"), values.get("interval")
    if raw_exchange is not None and raw_exchange.lower() == "best":
        raise InvalidParameterError(
            "Query parameter 'exchange' cannot be 'best' here: best is a quote for an amount, "
            f"not a rate; use one of {', '.join(exchanges)}.",
            parameter="exchange",
            accepted=list(exchanges),
        )
    if raw_interval is not None and raw_interval not in intervals:
        raise InvalidParameterError(
            f"Query parameter 'interval' must be one of {', '.join(intervals)}.",
            parameter="interval",
            accepted=list(intervals),
        )
    return RatesQuery(
        from_code=parse_code(values["from"], "from"),
        to_code=parse_code(values["to"], "to"),
        start_ms=_moment(values.get("start"), "start", now_ms),
        end_ms=_moment(values.get("end"), "end", now_ms),
        interval=raw_interval,
        exchange=None if raw_exchange is None else parse_exchange(raw_exchange, exchanges),
    )


def _moment(raw: str | None, name: str, now_ms: int) -> int | None:
    """A time parameter other than ``timestamp``, parsed like it; the error names `name`."""
    if raw is None:
        return None
    try:
        return parse_timestamp(raw, now_ms)
    except InvalidTimestampError as exc:
        details = {**exc.details, "parameter": name}
        raise InvalidTimestampError(f"Query parameter {name!r}: {exc.message}", **details) from None


def parse_exchange_query(query_string: str, *, venues: Sequence[str]) -> str | None:
    """Parse a query whose only (optional) parameter is ``exchange``, e.g. ``/currencies``."""
    raw = _values(query_string, ("exchange",)).get("exchange")
    return None if raw is None else parse_exchange(raw, venues)


def parse_exchange(raw: str, accepted: Sequence[str]) -> str:
    """Lower-case ``raw`` and check it is one of ``accepted``; the error lists them."""
    value = raw.lower()
    if value not in accepted:
        raise InvalidParameterError(
            f"Query parameter 'exchange' must be one of {', '.join(accepted)}.",
            parameter="exchange",
            accepted=list(accepted),
        )
    return value


def pair_name(base: str, quote: str) -> str:
    """``("BTC", "USDT")`` -> ``"BTC/USDT"``: how the board names a pair."""
    return f"{base}/{quote}"


def parse_pair(raw: str) -> tuple[str, str]:
    """``btc/usdt``, ``BTC-USDT`` or ``btc_usdt`` -> ``("BTC", "USDT")``."""
    match = _PAIR_RE.fullmatch(raw)
    if match is None:
        raise InvalidParameterError(
            "Query parameter 'pair' must be BASE/QUOTE, BASE-QUOTE or BASE_QUOTE, "
            "each code 1 to 20 ASCII letters or digits.",
            parameter="pair",
        )
    return match.group(1).upper(), match.group(2).upper()


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


def _values(query_string: str, accepted: tuple[str, ...]) -> dict[str, str]:
    """Name -> value, refusing unknown, repeated and empty parameters (naming them)."""
    pairs = _pairs(query_string)
    for name, _ in pairs:
        if name not in accepted:
            shown = _shown(name)
            raise InvalidParameterError(
                f"Unknown query parameter {shown!r}; the accepted ones are {_listed(accepted)}.",
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
    return values


def _listed(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _shown(name: str) -> str:
    """A client-supplied name, cut short enough to echo back safely."""
    return name[:_MAX_SHOWN_NAME]


def _amount_error(message: str) -> InvalidAmountError:
    return InvalidAmountError(message, parameter="amount")
