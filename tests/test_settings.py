"""Settings: the spec's configuration table (section 4), parsing, and failing loudly at start."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settings import Settings, SettingsError, load_settings
from tests.procs import SPEC_DEFAULTS, run_once

VARIABLES = tuple(SPEC_DEFAULTS)
SECONDS = (
    "QUOTES_MAX_AGE_SECONDS",
    "POLL_INTERVAL_SECONDS",
    "SNAPSHOT_INTERVAL_SECONDS",
    "RETENTION_DAYS",
    "CLEANUP_INTERVAL_SECONDS",
    "EXCHANGE_INFO_REFRESH_SECONDS",
    "HTTP_TIMEOUT_SECONDS",
)


def _value(settings: Settings, variable: str) -> object:
    return getattr(settings, variable.lower())


# -- defaults ---------------------------------------------------------------------


def test_every_spec_variable_is_a_setting() -> None:
    """Settings has exactly one field per variable of the spec's table, and no other."""
    assert {f.name.upper() for f in dataclasses.fields(Settings)} == set(VARIABLES)


def test_defaults_match_the_spec_table() -> None:
    """An empty environment gives every default of the spec's table."""
    settings = load_settings({})
    assert settings == Settings()
    assert settings == Settings(
        binance_base_url="https://api.binance.com",
        data_dir=Path("./data"),
        api_host="127.0.0.1",
        api_port=8000,
        api_workers=1,
        quotes_max_age_seconds=60.0,
        poll_interval_seconds=10.0,
        snapshot_interval_seconds=30.0,
        retention_days=7.0,
        cleanup_interval_seconds=86400.0,
        exchange_info_refresh_seconds=3600.0,
        http_timeout_seconds=10.0,
        log_level="INFO",
        log_format="text",
    )


def test_spec_defaults_written_out_parse_to_the_defaults() -> None:
    """Setting every variable to its documented default changes nothing."""
    assert load_settings(SPEC_DEFAULTS) == Settings()


def test_derived_durations() -> None:
    """retention_ms and quotes_max_age_ms are the settings in integer milliseconds."""
    settings = load_settings({"RETENTION_DAYS": "0.001", "QUOTES_MAX_AGE_SECONDS": "1.5"})
    assert settings.retention_seconds == pytest.approx(86.4)
    assert settings.retention_ms == 86_400
    assert settings.quotes_max_age_ms == 1_500
    assert Settings().retention_ms == 7 * 86_400_000


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after they are built."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().api_port = 1  # type: ignore[misc]


def test_unrelated_variables_are_ignored() -> None:
    """Variables outside the table (PATH, a typo) do not affect or break settings."""
    assert load_settings({"PATH": "/bin", "POLL_INTERVAL": "x", "api_port": "x"}) == Settings()


# -- parsing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("BINANCE_BASE_URL", "https://data-api.binance.vision", "https://data-api.binance.vision"),
        ("BINANCE_BASE_URL", "http://127.0.0.1:9100/", "http://127.0.0.1:9100"),
        ("DATA_DIR", "/data", Path("/data")),
        ("DATA_DIR", "relative/dir", Path("relative/dir")),
        ("API_HOST", "0.0.0.0", "0.0.0.0"),
        ("API_HOST", "localhost", "localhost"),
        ("API_PORT", "8080", 8080),
        ("API_PORT", " 0 ", 0),
        ("API_PORT", "65535", 65535),
        ("API_WORKERS", "4", 4),
        ("API_WORKERS", "64", 64),
        ("QUOTES_MAX_AGE_SECONDS", "90", 90.0),
        ("POLL_INTERVAL_SECONDS", "0.5", 0.5),
        ("SNAPSHOT_INTERVAL_SECONDS", "1", 1.0),
        ("RETENTION_DAYS", "0.001", 0.001),
        ("CLEANUP_INTERVAL_SECONDS", "60", 60.0),
        ("EXCHANGE_INFO_REFRESH_SECONDS", "600", 600.0),
        ("HTTP_TIMEOUT_SECONDS", " 2.5 ", 2.5),
        ("LOG_LEVEL", "debug", "DEBUG"),
        ("LOG_LEVEL", "Warning", "WARNING"),
        ("LOG_FORMAT", "JSON", "json"),
        ("LOG_FORMAT", "text", "text"),
    ],
)
def test_each_variable_is_parsed(variable: str, raw: str, expected: object) -> None:
    """Each variable is read from the environment and normalised to its typed value."""
    settings = load_settings({variable: raw})
    assert _value(settings, variable) == expected
    others = {f.name for f in dataclasses.fields(Settings)} - {variable.lower()}
    assert all(getattr(settings, name) == getattr(Settings(), name) for name in others)


MALFORMED = [
    ("BINANCE_BASE_URL", "api.binance.com"),
    ("BINANCE_BASE_URL", "ftp://api.binance.com"),
    ("BINANCE_BASE_URL", "https://"),
    ("BINANCE_BASE_URL", ""),
    ("DATA_DIR", ""),
    ("DATA_DIR", "   "),
    ("API_HOST", ""),
    ("API_HOST", "bad host"),
    ("API_PORT", "http"),
    ("API_PORT", "80.5"),
    ("API_PORT", "-1"),
    ("API_PORT", "65536"),
    ("API_PORT", ""),
    ("API_WORKERS", "0"),
    ("API_WORKERS", "65"),
    ("API_WORKERS", "two"),
    ("LOG_LEVEL", "verbose"),
    ("LOG_LEVEL", ""),
    ("LOG_FORMAT", "xml"),
    *[(v, raw) for v in SECONDS for raw in ("0", "-1", "abc", "", "nan", "inf", "1e999")],
]


@pytest.mark.parametrize(("variable", "raw"), MALFORMED)
def test_malformed_value_names_the_variable(variable: str, raw: str) -> None:
    """A malformed value raises SettingsError naming the variable and the bad value."""
    with pytest.raises(SettingsError) as info:
        load_settings({variable: raw})
    message = str(info.value)
    assert message.startswith(f"{variable}={raw!r} is not valid: ")
    assert len(message) > len(f"{variable}={raw!r} is not valid: ")  # says what is expected


@given(variable=st.sampled_from(VARIABLES), raw=st.text(max_size=30))
def test_any_text_gives_settings_or_settings_error(variable: str, raw: str) -> None:
    """For any value of any variable, load_settings returns Settings or raises SettingsError."""
    try:
        settings = load_settings({variable: raw})
    except SettingsError as exc:
        message = str(exc)
    else:
        assert isinstance(settings, Settings)
        return
    assert message.startswith(f"{variable}=")


@given(st.floats(min_value=1e-6, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_positive_seconds_round_trip(value: float) -> None:
    """Any positive finite number of seconds is accepted exactly as written."""
    assert load_settings({"POLL_INTERVAL_SECONDS": repr(value)}).poll_interval_seconds == value


# -- the process ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "variable", "raw"),
    [
        ("quote-consumer", "POLL_INTERVAL_SECONDS", "soon"),
        ("quote-consumer", "BINANCE_BASE_URL", "binance"),
        ("api", "API_PORT", "99999"),
    ],
)
def test_bad_value_stops_the_process_with_exit_2(
    tmp_path: Path, command: str, variable: str, raw: str
) -> None:
    """`run.py <command>` with a malformed variable exits 2 naming it on stderr, doing nothing."""
    data_dir = tmp_path / "data"
    result = run_once(command, env={"DATA_DIR": str(data_dir), variable: raw}, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"configuration error: {variable}={raw!r}" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not data_dir.exists()


def test_help_lists_the_subcommands(tmp_path: Path) -> None:
    """`run.py --help` exits 0 and lists every subcommand, even with a bad configuration."""
    result = run_once("--help", env={"API_PORT": "bad"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("quote-consumer", "api", "all", "snapshots"):
        assert command in result.stdout


def test_missing_subcommand_is_a_usage_error(tmp_path: Path) -> None:
    """`run.py` without a subcommand exits 2 with argparse's usage message."""
    result = run_once(env={}, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: run.py" in result.stderr
