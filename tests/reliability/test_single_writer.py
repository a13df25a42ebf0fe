"""A second consumer on the same DATA_DIR writes nothing while the first one runs.

tests/e2e/test_consumer_process.py already shows the stand-by and the
take-over; this pins "writes nothing" file by file: every file that appears
is one the first consumer logged writing, and the second one touches nothing,
not even a temporary file the first may be in the middle of writing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from storage.codec import filename_for
from storage.writer import TEMP_PREFIX
from tests.fake_exchange import FakeBinance
from tests.procs import Proc, settings_env, wait_until
from tests.reliability.conftest import EXCHANGE, snapshot_names, wrote_names

pytestmark = pytest.mark.e2e

POLL = 0.1
SNAPSHOT = 0.2
START_TIMEOUT = 10.0


def test_second_consumer_writes_nothing_and_stops_cleanly(
    fake_exchange: FakeBinance, data_dir: Path, tmp_path: Path
) -> None:
    """Second consumer: says another holds the lock, creates/deletes no file, SIGTERM exits 0."""
    env = settings_env(
        base_url=fake_exchange.base_url,
        data_dir=data_dir,
        POLL_INTERVAL_SECONDS=str(POLL),
        SNAPSHOT_INTERVAL_SECONDS=str(SNAPSHOT),
        RETENTION_DAYS="7",
    )
    directory = data_dir / EXCHANGE
    with Proc("quote-consumer", env=env, workdir=tmp_path, name="first") as first:
        first.wait_for_log("wrote ", START_TIMEOUT)
        # What a write in progress looks like to the second consumer: it must not
        # "clean it up", or it would break the first one's atomic write.
        in_flight = directory / f"{TEMP_PREFIX}{filename_for(1_795_304_160_123)}.00c0ffee"
        in_flight.write_bytes(b'{"schema":1,"exch')

        with Proc("quote-consumer", env=env, workdir=tmp_path, name="second") as second:
            second.wait_for_log("Standing by", START_TIMEOUT)
            started = len(first.output())
            # Let the first write a dozen snapshots while the second stands by.
            wait_until(
                lambda: len(wrote_names(first.output()[started:])) >= 12,
                12 * SNAPSHOT + 5,
                message=first.output,
            )
            time.sleep(SNAPSHOT)
            assert second.alive(), second.output()
            assert first.alive(), first.output()
            assert second.terminate() == 0, second.output()
        assert in_flight.exists(), "the second consumer deleted another writer's temporary file"
        in_flight.unlink()
        # Every snapshot on disk now is one the first consumer says it wrote (its log
        # line follows the rename by a moment, so give it that moment).
        on_disk = set(snapshot_names(data_dir))
        wait_until(
            lambda: on_disk <= set(wrote_names(first.output())),
            2,
            message=lambda: f"files nobody logged: {on_disk - set(wrote_names(first.output()))}",
        )
        assert first.terminate() == 0, first.output()

    said = second.output()
    assert "another quote consumer holds" in said
    assert ".consumer.lock" in said
    assert "writes nothing" in said
    assert "wrote " not in said
    assert "retention deleted" not in said
    assert "removed " not in said
    assert "Traceback" not in said
    assert "quote consumer started" not in said
    assert set(wrote_names(first.output())) <= set(snapshot_names(data_dir))
    assert {p.name for p in directory.iterdir()} == set(snapshot_names(data_dir))
