"""One venue's trouble never delays another venue's snapshots (venues.md section 1, Isolation).

One `python run.py quote-consumer` polls all four fake venues. One of them
hangs past HTTP_TIMEOUT_SECONDS, goes down for many snapshot intervals, or
answers a rate limit with a long Retry-After, while the test reads the other
three venues' snapshot file names: each keeps its cadence. The cadence bound
is SNAPSHOT + POLL + JITTER between consecutive files (a file carries its
newest poll's time, up to one poll older than its tick), which a hang that
held up the event loop or a shared lock for HTTP_TIMEOUT would break.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.codec import ms_from_filename
from tests.fakes import FakeExchanges, FakeVenue, Fault
from tests.procs import Proc, settings_env, wait_until
from tests.reliability.conftest import lines_with

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VENUES = ("binance", "kraken", "bybit", "okx")
START_TIMEOUT = 10.0
JITTER = 0.35  # scheduling slack on a loaded 2-core machine


def snapshot_times(data_dir: Path, venue: str) -> list[float]:
    """Fetch times (UTC seconds) of the venue's finished snapshot files, oldest first."""
    directory = data_dir / venue
    if not directory.is_dir():
        return []
    names = (ms_from_filename(p.name) for p in directory.iterdir())
    return sorted(ms / 1000 for ms in names if ms is not None)


def start(
    fakes: FakeExchanges, tmp_path: Path, *, poll: float, snapshot: float, timeout: float
) -> tuple[Proc, Path]:
    """A consumer over the four fakes, once every venue has written its first snapshot."""
    data_dir = tmp_path / "data"
    env = settings_env(
        base_url=fakes["binance"].base_url,
        data_dir=data_dir,
        EXCHANGES=",".join(VENUES),
        POLL_INTERVAL_SECONDS=str(poll),
        SNAPSHOT_INTERVAL_SECONDS=str(snapshot),
        HTTP_TIMEOUT_SECONDS=str(timeout),
        **fakes.env,
    )
    proc = Proc("quote-consumer", env=env, workdir=tmp_path, name="consumer")
    try:
        for venue in VENUES:
            proc.wait_for_log(f"{venue}: wrote ", START_TIMEOUT)
    except BaseException:
        proc.cleanup()
        raise
    return proc, data_dir


def written_after(data_dir: Path, venue: str, moment: float) -> Callable[[], bool]:
    """A predicate: the venue has a snapshot stamped after `moment` (UTC seconds)."""
    return lambda: any(t > moment for t in snapshot_times(data_dir, venue))


def requests_reach(fake: FakeVenue, count: int) -> Callable[[], bool]:
    """A predicate: the fake has recorded at least `count` requests."""
    return lambda: len(fake.requests) >= count


def assert_cadence(
    proc: Proc, data_dir: Path, venues: list[str], window: tuple[float, float], bound: float
) -> None:
    """From `window[0]` to the first file after `window[1]`, no venue goes `bound` s unwritten."""
    begin, end = window
    for venue in venues:
        # Wait for the file that closes the window (a file is written after its stamp).
        wait_until(
            written_after(data_dir, venue, end),
            bound + JITTER + 2,
            message=f"{venue} snapshot after the window",
        )
        times = snapshot_times(data_dir, venue)
        closing = next(t for t in times if t > end)
        points = [begin, *(t for t in times if begin < t <= closing)]
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(points)]
        assert max(gaps) <= bound, f"{venue} went {max(gaps)}s without a snapshot: {gaps}"


def stamped_between(data_dir: Path, venue: str, begin: float, end: float) -> list[float]:
    return [t for t in snapshot_times(data_dir, venue) if begin < t < end]


def test_a_hanging_venue_does_not_delay_the_others(tmp_path: Path) -> None:
    """Each venue in turn hangs past HTTP_TIMEOUT_SECONDS; the other three keep their cadence."""
    poll, snapshot, timeout = 0.25, 0.5, 1.0
    bound = snapshot + poll + JITTER  # < snapshot + timeout: a hang that blocked would show
    with FakeExchanges(VENUES) as fakes:
        proc, data_dir = start(fakes, tmp_path, poll=poll, snapshot=snapshot, timeout=timeout)
        with proc:
            for hung in VENUES:
                offset = len(proc.output())
                fakes[hung].set_fault(Fault.SLOW, delay=3 * timeout)
                proc.wait_for_log(f"{hung} poll failed: ", timeout + poll + 5, since=offset)
                begin = time.time()  # the hung venue's last good quote was stamped before
                # Hold for two whole timeouts, counted by the requests that hang.
                wait_until(
                    requests_reach(fakes[hung], len(fakes[hung].requests) + 2),
                    4 * (timeout + poll) + 5,
                    message=proc.output,
                )
                hold_end = time.time()
                fakes[hung].clear_fault()
                cleared = time.time()
                # The hung venue writes again once its in-flight request times out.
                wait_until(
                    written_after(data_dir, hung, cleared),
                    timeout + poll + snapshot + 5,
                    message=proc.output,
                )
                others = [v for v in VENUES if v != hung]
                assert_cadence(proc, data_dir, others, (begin, hold_end), bound)
                assert stamped_between(data_dir, hung, begin, cleared) == [], hung
                assert "timed out" in lines_with(proc.output()[offset:], " ERROR ")[0], hung
            assert proc.terminate() == 0, proc.output()
    assert "Traceback" not in proc.output()


def test_a_venue_down_for_many_intervals_does_not_stop_the_others(tmp_path: Path) -> None:
    """Kraken refuses connections for 40 snapshot intervals; the rest write on time; it recovers."""
    poll, snapshot, intervals = 0.1, 0.25, 40
    bound = snapshot + poll + JITTER
    down = "kraken"
    with FakeExchanges(VENUES) as fakes:
        proc, data_dir = start(fakes, tmp_path, poll=poll, snapshot=snapshot, timeout=1.0)
        with proc:
            offset = len(proc.output())
            fakes[down].set_fault(Fault.REFUSED)
            proc.wait_for_log(f"{down} poll failed: ", 5, since=offset)
            begin = time.time()
            time.sleep(intervals * snapshot)  # the outage itself: its length is the point
            end = time.time()
            fakes[down].clear_fault()
            wait_until(
                written_after(data_dir, down, end),
                poll + snapshot + JITTER + 2,
                message=proc.output,
            )
            recovered_in = time.time() - end
            others = [v for v in VENUES if v != down]
            assert_cadence(proc, data_dir, others, (begin, end), bound)
            proc.wait_for_log(f"{down} poll recovered after ", 2, since=offset)
            assert proc.terminate() == 0, proc.output()

    for venue in others:
        assert len(stamped_between(data_dir, venue, begin, end)) >= intervals - 2, venue
    assert stamped_between(data_dir, down, begin, end) == []
    assert recovered_in <= poll + snapshot + JITTER + 0.5, recovered_in
    episode = proc.output()[offset:]
    assert len(lines_with(episode, " ERROR ", f"{down} poll failed: ")) == 1
    failed = re.search(rf"{down} poll recovered after (\d+) failed attempt", episode)
    assert failed is not None
    assert int(failed.group(1)) >= intervals, failed.group(0)
    assert "Traceback" not in proc.output()


def test_a_rate_limited_venue_does_not_delay_the_others(tmp_path: Path) -> None:
    """OKX answers 429 with Retry-After 3600: it goes quiet for good, the others keep writing."""
    poll, snapshot, watch = 0.25, 0.5, 3.0
    bound = snapshot + poll + JITTER
    limited = "okx"
    with FakeExchanges(VENUES) as fakes:
        proc, data_dir = start(fakes, tmp_path, poll=poll, snapshot=snapshot, timeout=1.0)
        with proc:
            offset = len(proc.output())
            fakes[limited].set_fault(Fault.RATE_LIMITED, retry_after=3600)
            proc.wait_for_log(f"{limited} poll failed: ", 5, since=offset)
            seen_mono, begin = time.monotonic(), time.time()
            answered = [r for r in fakes[limited].requests if r.monotonic < seen_mono][-1]
            time.sleep(max(0.0, answered.monotonic + watch - time.monotonic()))
            end = time.time()
            others = [v for v in VENUES if v != limited]
            assert_cadence(proc, data_dir, others, (begin, end), bound)
            assert proc.terminate() == 0, proc.output()

    assert answered.status == 429
    after = [r for r in fakes[limited].requests if r.monotonic > answered.monotonic]
    assert after == [], f"requests to {limited} during its Retry-After: {after}"
    assert stamped_between(data_dir, limited, begin, time.time()) == []
    errors = lines_with(proc.output()[offset:], " ERROR ")
    assert len(errors) == 1, errors
    assert "pausing 3600s" in errors[0], errors[0]
    assert "Traceback" not in proc.output()
