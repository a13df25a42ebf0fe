"""Stopping the consumer while jobs are running: prompt, exit 0, no traceback in the log.

APScheduler leaves coroutine jobs that are running at shutdown to asyncio,
which cancels them; unguarded, each one's CancelledError is logged with a
traceback ("Job ... raised an exception"). A stop in the middle of a poll is
normal operation and must read as such.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fakes import FakeExchanges, Fault
from tests.procs import Proc, settings_env, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HANG = 4.0  # each venue's answer takes this long: every poll is in flight at the stop
TIMEOUT = 6.0


def test_sigterm_with_polls_in_flight_exits_cleanly(
    fake_exchanges: FakeExchanges, tmp_path: Path
) -> None:
    """SIGTERM while every venue's poll hangs: exit 0 within a couple of seconds, no traceback."""
    env = settings_env(
        base_url=fake_exchanges["binance"].base_url,
        data_dir=tmp_path / "data",
        **fake_exchanges.env,
        EXCHANGES=",".join(fake_exchanges.names),
        POLL_INTERVAL_SECONDS="0.3",
        SNAPSHOT_INTERVAL_SECONDS="0.5",
        HTTP_TIMEOUT_SECONDS=str(TIMEOUT),
    )
    with Proc("quote-consumer", env=env, workdir=tmp_path, name="consumer") as proc:
        proc.wait_for_log("okx: wrote ", 15)
        proc.wait_for_log("binance: wrote ", 15)
        for venue in fake_exchanges:
            venue.set_fault(Fault.SLOW, delay=HANG)
        asked = time.monotonic()
        # Every venue has a poll in flight (the request reached the fake after the switch).
        wait_until(
            lambda: all(any(r.monotonic > asked for r in v.requests) for v in fake_exchanges),
            5,
            message=proc.output,
        )
        started = time.monotonic()
        assert proc.terminate(timeout=HANG) == 0, proc.output()
        took = time.monotonic() - started
    output = proc.output()
    assert took < 3.0, (took, output)
    assert "Traceback" not in output
    assert "raised an exception" not in output
    assert "quote consumer stopped" in output
