"""Settings: the environment (and `.env`) turned into one frozen object.

`load_settings(environ)` is the only constructor. It is called once by `run.py`
and the result is passed down; nothing builds settings at import time. A bad
value raises `SettingsError` naming the variable, and `run.py` stops with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["AGGREGATES", "KNOWN_VENUES", "Settings", "SettingsError", "load_settings"]

_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
# The venues this release has adapters for (consumer/exchanges/; a test checks
# that the registry and this tuple agree). Configuration is the one place
# outside the adapters that spells them.
KNOWN_VENUES = ("binance", "kraken", "bybit", "okx")
# What DEFAULT_EXCHANGE (and /convert's `exchange`) may name besides a venue.
AGGREGATES = ("best", "average")


class SettingsError(ValueError):
    """A configuration variable is malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every variable of the README's configuration table, validated."""

    binance_base_url: str = "https://api.binance.com"
    kraken_base_url: str = "https://api.kraken.com"
    bybit_base_url: str = "https://api.bybit.com"
    okx_base_url: str = "https://www.okx.com"
    exchanges: tuple[str, ...] = KNOWN_VENUES
    default_exchange: str = "binance"
    average_outlier_percent: Decimal = Decimal(5)
    data_dir: Path = Path("./data")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = 1
    quotes_max_age_seconds: float = 60.0
    poll_interval_seconds: float = 10.0
    snapshot_interval_seconds: float = 30.0
    retention_days: float = 7.0
    cleanup_interval_seconds: float = 86400.0
    exchange_info_refresh_seconds: float = 3600.0
    http_timeout_seconds: float = 10.0
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9101
    market_analytics: bool = True
    market_interval_seconds: float = 10.0
    market_stats_refresh_seconds: float = 300.0
    market_depth_refresh_seconds: float = 60.0

    def base_url_for(self, venue: str) -> str:
        """The REST base URL configured for `venue` (one of KNOWN_VENUES)."""
        url: str = getattr(self, f"{venue}_base_url")
        return url

    @property
    def retention_seconds(self) -> float:
        return self.retention_days * 86400.0

    @property
    def quotes_max_age_ms(self) -> int:
        return round(self.quotes_max_age_seconds * 1000)

    @property
    def retention_ms(self) -> int:
        return round(self.retention_seconds * 1000)


def _url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL such as https://api.binance.com")
    return raw.rstrip("/")


def _path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("must be a directory path")
    return Path(raw)


def _host(raw: str) -> str:
    if not raw or any(c.isspace() for c in raw):
        raise ValueError("must be a host name or IP address")
    return raw


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise ValueError(f"must be an integer from {low} to {high}")
        return value

    return parse


def _venues(raw: str) -> tuple[str, ...]:
    names = [part.strip().lower() for part in raw.split(",")]
    if not raw.strip() or any(not name for name in names):
        raise ValueError(f"must be a comma-separated list of venues from {', '.join(KNOWN_VENUES)}")
    unknown = [name for name in names if name not in KNOWN_VENUES]
    if unknown:
        raise ValueError(f"unknown venue {unknown[0]!r}; known: {', '.join(KNOWN_VENUES)}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{duplicates[0]!r} is listed twice")
    return tuple(names)


def _default_exchange(raw: str) -> str:
    value = raw.strip().lower()
    if value not in KNOWN_VENUES + AGGREGATES:
        raise ValueError(f"must be a venue of EXCHANGES, {AGGREGATES[0]} or {AGGREGATES[1]}")
    return value


def _percent(raw: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not 0 < value <= 100:
        raise ValueError("must be a number of percent above 0 and at most 100")
    return value


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _positive_seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError("must be a positive number")
    return value


def _choice(*allowed: str, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


_PARSERS: dict[str, Callable[[str], Any]] = {
    "binance_base_url": _url,
    "kraken_base_url": _url,
    "bybit_base_url": _url,
    "okx_base_url": _url,
    "exchanges": _venues,
    "default_exchange": _default_exchange,
    "average_outlier_percent": _percent,
    "data_dir": _path,
    "api_host": _host,
    "api_port": _int_in(0, 65535),
    "api_workers": _int_in(1, 64),
    "quotes_max_age_seconds": _positive_seconds,
    "poll_interval_seconds": _positive_seconds,
    "snapshot_interval_seconds": _positive_seconds,
    "retention_days": _positive_seconds,
    "cleanup_interval_seconds": _positive_seconds,
    "exchange_info_refresh_seconds": _positive_seconds,
    "http_timeout_seconds": _positive_seconds,
    "log_level": _choice(*_LOG_LEVELS, upper=True),
    "log_format": _choice("text", "json"),
    "metrics_host": _host,
    "metrics_port": _int_in(0, 65535),
    "market_analytics": _boolean,
    "market_interval_seconds": _positive_seconds,
    "market_stats_refresh_seconds": _positive_seconds,
    "market_depth_refresh_seconds": _positive_seconds,
}


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build `Settings` from an environment mapping; unset variables keep defaults."""
    values: dict[str, Any] = {}
    for field in fields(Settings):
        name = field.name.upper()
        raw = environ.get(name)
        if raw is None:
            continue
        try:
            values[field.name] = _PARSERS[field.name](raw)
        except ValueError as exc:
            raise SettingsError(f"{name}={raw!r} is not valid: {exc}") from None
    if "default_exchange" not in values and "exchanges" in values:
        # Unset DEFAULT_EXCHANGE means binance; with EXCHANGES lacking binance
        # (say EXCHANGES=kraken), the first listed venue is what a user means.
        venues = values["exchanges"]
        values["default_exchange"] = "binance" if "binance" in venues else venues[0]
    settings = Settings(**values)
    if settings.default_exchange not in settings.exchanges + AGGREGATES:
        raw = environ.get("DEFAULT_EXCHANGE", settings.default_exchange)
        raise SettingsError(
            f"DEFAULT_EXCHANGE={raw!r} is not valid: it must be one of EXCHANGES "
            f"({','.join(settings.exchanges)}), {AGGREGATES[0]} or {AGGREGATES[1]}"
        )
    return settings
