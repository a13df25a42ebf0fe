"""Logging: LOG_FORMAT=json writes one JSON object per line, with `extra` fields."""

from __future__ import annotations

import io
import logging

import orjson
import pytest

from logsetup import configure_logging


@pytest.fixture
def restore_root() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def _capture(fmt: str, monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("INFO", fmt, "test")
    return stream


def test_json_format_is_one_object_per_line_with_extras(
    restore_root: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each record is a JSON line with time, level, logger, message and extra fields."""
    stream = _capture("json", monkeypatch)
    logging.getLogger("cc.test").warning("wrote %s", "x.json", extra={"symbols": 1261})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("cc.test").exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (orjson.loads(line) for line in lines)
    assert first["level"] == "WARNING"
    assert first["logger"] == "cc.test"
    assert first["message"] == "wrote x.json"
    assert first["symbols"] == 1261
    assert first["time"].endswith("+00:00")
    assert "ValueError: boom" in second["exception"]


def test_text_format_names_the_process_and_filters_below_level(
    restore_root: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text lines carry the process name; DEBUG is dropped at LOG_LEVEL=INFO."""
    stream = _capture("text", monkeypatch)
    logging.getLogger("cc.test").debug("hidden")
    logging.getLogger("cc.test").info("shown")
    out = stream.getvalue()
    assert "hidden" not in out
    assert " test cc.test: shown" in out
