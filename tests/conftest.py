"""Fixtures shared by the whole suite: the fake exchange, a data directory, process env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_exchange import FakeBinance
from tests.fakes import FakeExchanges
from tests.procs import settings_env


@pytest.fixture
def fake_exchange() -> Iterator[FakeBinance]:
    """A FakeBinance serving the recorded payloads on 127.0.0.1; stopped after the test."""
    with FakeBinance() as fake:
        yield fake


@pytest.fixture
def fake_exchanges() -> Iterator[FakeExchanges]:
    """Fakes of all four venues (binance, kraken, bybit, okx), each on its own loopback port."""
    with FakeExchanges() as fakes:
        yield fakes


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An absolute DATA_DIR for this test (not created: the consumer creates it)."""
    return tmp_path / "data"


@pytest.fixture
def consumer_env(fake_exchange: FakeBinance, data_dir: Path) -> dict[str, str]:
    """Every setting, explicitly, for a quote consumer against the fake with short intervals."""
    return settings_env(
        base_url=fake_exchange.base_url,
        data_dir=data_dir,
        POLL_INTERVAL_SECONDS="0.5",
        SNAPSHOT_INTERVAL_SECONDS="1",
        HTTP_TIMEOUT_SECONDS="1",
        LOG_LEVEL="INFO",
        LOG_FORMAT="text",
    )


# Process-level suites: each test starts `python run.py ...`, a browser or a
# hypothesis run over a live server. They are `slow` by where they live, so
# `pytest -m "not slow"` stays the fast inner loop (unit and in-process tests).
_SLOW_DIRECTORIES = ("e2e", "reliability", "page")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in a process-level directory, or marked e2e, as slow."""
    tests_root = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests_root).parts
        if parts[0] in _SLOW_DIRECTORIES or item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.slow)
