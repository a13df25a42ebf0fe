"""Every exchange fault, against the real consumer process: survive, write nothing, log once.

One `python run.py quote-consumer` per fault, polling a FakeBinance every
0.3 s. For each member of `Fault` the test holds the fault for several polls,
then clears it, and pins the spec's section 6: the process keeps running,
no snapshot is stamped while no good quotes arrive, the episode is one ERROR
line naming its cause (although several polls failed), a 429/418's
Retry-After is honoured to the second, and writing resumes within a poll
interval (plus the next snapshot tick) of the fault clearing.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fake_exchange import BOOK_TICKER_PATH, FakeBinance, Fault, RecordedRequest
from tests.procs import Proc, settings_env, wait_until
from tests.reliability.conftest import lines_with, snapshot_times

POLL = 0.3
SNAPSHOT = 0.4
HTTP_TIMEOUT = 0.5
SLOW_DELAY = 1.0  # longer than HTTP_TIMEOUT, so every slow answer is a timeout
RETRY_AFTER = 1
START_TIMEOUT = 10.0
# Scheduling slack on a loaded 2-core machine: process wake-ups, the fake's threads.
SLACK = 0.6
HOLD = 4 * POLL + 0.1  # long enough for at least three failed polls
RATE_LIMITED = (429, 418)
_RECOVERED = re.compile(r"binance poll recovered after (\d+) failed attempt\(s\)")


@dataclass(frozen=True)
class Case:
    fault: Fault
    causes: tuple[str, ...]  # substrings the one ERROR line must contain
    min_failures: int = 3
    hold: float = HOLD


CASES = {
    Fault.HTTP_500: Case(Fault.HTTP_500, (f"GET {BOOK_TICKER_PATH} answered 500",)),
    Fault.HTTP_502_HTML: Case(Fault.HTTP_502_HTML, ("answered 502", "502 Bad Gateway")),
    Fault.HTTP_429: Case(
        Fault.HTTP_429, ("answered 429", f"Retry-After {RETRY_AFTER}s"), min_failures=2
    ),
    Fault.HTTP_418: Case(
        Fault.HTTP_418, ("answered 418", f"Retry-After {RETRY_AFTER}s"), min_failures=2
    ),
    Fault.HTTP_451: Case(Fault.HTTP_451, ("answered 451", "data-api.binance.vision")),
    Fault.HTTP_400: Case(Fault.HTTP_400, ("answered 400", "Invalid symbol")),
    Fault.SLOW: Case(Fault.SLOW, ("timed out",), hold=2.5 * (HTTP_TIMEOUT + POLL)),
    Fault.REFUSED: Case(Fault.REFUSED, ("ConnectError",)),
    Fault.TRUNCATED: Case(
        Fault.TRUNCATED, (f"GET {BOOK_TICKER_PATH} failed", "RemoteProtocolError")
    ),
    Fault.GARBAGE: Case(Fault.GARBAGE, ("body that is not JSON",)),
    Fault.WRONG_SHAPE: Case(Fault.WRONG_SHAPE, ("bookTicker is a dict, not a list",)),
    Fault.EMPTY_LIST: Case(Fault.EMPTY_LIST, ("bookTicker is an empty list",)),
    Fault.HTML_200: Case(Fault.HTML_200, ("not JSON (text/html", "System maintenance")),
}


def test_every_fault_has_a_case() -> None:
    """The parametrization below covers every fault the fake can inject."""
    assert set(CASES) == set(Fault) - {Fault.NONE}


def _after(requests: list[RecordedRequest], mono: float) -> list[RecordedRequest]:
    return sorted((r for r in requests if r.monotonic >= mono), key=lambda r: r.monotonic)


@pytest.mark.e2e
@pytest.mark.parametrize("fault", list(CASES), ids=lambda f: f.name)
def test_fault_is_survived_logged_once_and_recovered(
    fault: Fault, fake_exchange: FakeBinance, data_dir: Path, tmp_path: Path
) -> None:
    """Under the fault: alive, no snapshot, one ERROR line with the cause; prompt recovery."""
    case = CASES[fault]
    env = settings_env(
        base_url=fake_exchange.base_url,
        data_dir=data_dir,
        POLL_INTERVAL_SECONDS=str(POLL),
        SNAPSHOT_INTERVAL_SECONDS=str(SNAPSHOT),
        HTTP_TIMEOUT_SECONDS=str(HTTP_TIMEOUT),
    )
    with Proc("quote-consumer", env=env, workdir=tmp_path, name="consumer") as proc:
        proc.wait_for_log("wrote ", START_TIMEOUT)
        offset = len(proc.output())

        fault_mono = time.monotonic()
        fake_exchange.set_fault(fault, retry_after=RETRY_AFTER, delay=SLOW_DELAY)
        proc.wait_for_log("binance poll failed: ", 5, since=offset)
        observed_wall = time.time()
        if fault in (Fault.HTTP_429, Fault.HTTP_418):
            wait_until(
                lambda: (
                    len(
                        [
                            r
                            for r in _after(fake_exchange.requests, fault_mono)
                            if r.status in RATE_LIMITED
                        ]
                    )
                    >= case.min_failures
                ),
                RETRY_AFTER * case.min_failures + 3,
                message=proc.output,
            )
        else:
            time.sleep(case.hold)
        assert proc.alive(), proc.output()

        failed = [r for r in _after(fake_exchange.requests, fault_mono) if r.status != 200]
        # The window with no good quotes starts at the first refused answer (for
        # REFUSED, at the latest when the consumer logged it: the failing poll
        # began only after the last good one had been stamped).
        window_start = failed[0].wall if failed else observed_wall
        during = [ms for ms in snapshot_times(data_dir) if ms > window_start * 1000]
        assert during == [], f"snapshots written during {fault.name}:\n{proc.output()}"

        clear_mono, clear_wall = time.monotonic(), time.time()
        fake_exchange.clear_fault()
        # Requests that arrive from here on are surely served without the fault.
        cleared_mono = time.monotonic()

        def first_good() -> RecordedRequest | None:
            return next(
                (
                    r
                    for r in _after(fake_exchange.requests, cleared_mono)
                    if r.path == BOOK_TICKER_PATH and r.status == 200
                ),
                None,
            )

        good = wait_until(first_good, 10, message=proc.output)
        new = wait_until(
            lambda: [ms for ms in snapshot_times(data_dir) if ms > clear_wall * 1000],
            10,
            message=proc.output,
        )
        written_after = time.monotonic() - clear_mono
        proc.wait_for_log("binance poll recovered after ", 5, since=offset)
        assert proc.terminate() == 0, proc.output()

    output = proc.output()
    episode = output[offset:]

    # Resumes within one poll interval of the fault clearing (after an in-flight
    # timeout, or once Retry-After has run out), and writes at the next tick.
    earliest = clear_mono
    if fault is Fault.SLOW:
        earliest += HTTP_TIMEOUT
    limited = [r for r in _after(fake_exchange.requests, fault_mono) if r.status in RATE_LIMITED]
    if limited:
        earliest = max(earliest, limited[-1].monotonic + RETRY_AFTER)
    assert good.monotonic - earliest <= POLL + SLACK, (good.monotonic - earliest, output)
    assert written_after <= (earliest - clear_mono) + POLL + SNAPSHOT + 2 * SLACK, written_after
    assert min(new) >= good.wall * 1000 - 1

    # Nothing was stamped between the first bad answer and the first good one after.
    stamped = [ms for ms in snapshot_times(data_dir) if window_start * 1000 < ms < good.wall * 1000]
    assert stamped == [], f"snapshots from no good data: {stamped}"

    # One ERROR line for the whole episode, naming the cause; the recovery says how many.
    errors = lines_with(episode, " ERROR ")
    assert len(errors) == 1, "\n".join(errors)
    assert "binance poll failed: " in errors[0]
    for cause in case.causes:
        assert cause in errors[0], errors[0]
    assert "still failing" not in episode
    recovered = _RECOVERED.search(episode)
    assert recovered is not None, episode
    assert int(recovered.group(1)) >= case.min_failures, recovered.group(0)
    assert "Traceback" not in output

    # 429/418: nothing at all is sent to the exchange before Retry-After has passed.
    requests = _after(fake_exchange.requests, fault_mono)
    for before, after in itertools.pairwise(requests):
        if before.status in RATE_LIMITED:
            gap = after.monotonic - before.monotonic
            assert gap >= RETRY_AFTER, f"request {gap:.3f}s after a {before.status}"
    if fault in (Fault.HTTP_429, Fault.HTTP_418):
        assert len(limited) >= case.min_failures
