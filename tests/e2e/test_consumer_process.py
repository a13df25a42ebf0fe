"""`python run.py quote-consumer` as a real process against the fake exchange.

Intervals are configuration: polls every 0.2 s and snapshots every 0.5 s, so
a fault episode, a recovery and a hand-over all fit in a few seconds.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import orjson
import pytest

from storage.codec import decode, filename_for, ms_from_filename
from storage.model import format_iso_ms
from storage.writer import TEMP_PREFIX
from tests.fake_exchange import BOOK_TICKER_PATH, FakeBinance, Fault
from tests.procs import Proc, run_once, wait_until

pytestmark = pytest.mark.e2e

POLL = 0.2
SNAPSHOT = 0.5
START_TIMEOUT = 10.0
# Schema 2: the recorded bid/ask and the top-of-book sizes, as Binance's strings.
BTCUSDT_ROW = ["BTC", "USDT", "19979.51000000", "19980.18000000", "0.00455000", "0.06696000"]


@pytest.fixture
def env(consumer_env: dict[str, str]) -> dict[str, str]:
    return {
        **consumer_env,
        "POLL_INTERVAL_SECONDS": str(POLL),
        "SNAPSHOT_INTERVAL_SECONDS": str(SNAPSHOT),
    }


def snapshots(data_dir: Path) -> list[int]:
    """Fetch times (ms) of the finished snapshot files, oldest first."""
    directory = data_dir / "binance"
    if not directory.is_dir():
        return []
    return sorted(ms for p in directory.iterdir() if (ms := ms_from_filename(p.name)) is not None)


def temporaries(data_dir: Path) -> list[str]:
    directory = data_dir / "binance"
    return [p.name for p in directory.iterdir() if p.name.startswith(TEMP_PREFIX)]


def consumer(env: dict[str, str], tmp_path: Path, name: str = "consumer") -> Proc:
    return Proc("quote-consumer", env=env, workdir=tmp_path, name=name)


def test_snapshots_hold_the_recorded_quotes(
    env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    """Snapshots appear at start and on schedule, with 1,261 symbols and the exchange's strings."""
    started = time.time_ns() // 1_000_000
    with consumer(env, tmp_path) as proc:
        wait_until(lambda: len(snapshots(data_dir)) >= 3, START_TIMEOUT, message=proc.output)
        assert proc.terminate() == 0
    stopped = time.time_ns() // 1_000_000
    times = snapshots(data_dir)
    assert all(started <= ms <= stopped for ms in times)
    for ms in times:
        data = (data_dir / "binance" / filename_for(ms)).read_bytes()
        snap = decode(data, ms)  # also checks fetched_at against the name
        assert len(snap.quotes) == 1261
        doc = orjson.loads(data)
        assert doc["fetched_at"] == format_iso_ms(ms)
        assert doc["symbols"]["BTCUSDT"] == BTCUSDT_ROW
    assert f"quote consumer stopped ({len(times)} snapshot(s) written)" in proc.output()
    assert "Traceback" not in proc.output()


def test_snapshots_command_lists_and_shows_them(
    env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    """`run.py snapshots` lists every file; `snapshots show latest --symbol` prints one row."""
    with consumer(env, tmp_path) as proc:
        wait_until(lambda: len(snapshots(data_dir)) >= 2, START_TIMEOUT, message=proc.output)
        assert proc.terminate() == 0
    names = [filename_for(ms) for ms in snapshots(data_dir)]

    listing = run_once("snapshots", "--all", env=env, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert f"{len(names)} snapshot(s) in {data_dir / 'binance'}" in listing.stdout
    assert [line.split()[0] for line in listing.stdout.splitlines()[1:]] == names

    shown = run_once("snapshots", "show", "latest", "--symbol", "btcusdt", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"# {names[-1]}: ")
    assert "1261 symbols" in shown.stdout
    doc = orjson.loads(shown.stdout.split("\n", 1)[1])
    assert doc["symbols"] == {"BTCUSDT": BTCUSDT_ROW}


def test_fault_pauses_snapshots_and_recovery_resumes_them(
    env: dict[str, str], data_dir: Path, tmp_path: Path, fake_exchange: FakeBinance
) -> None:
    """During a fault nothing new is written and the cause is logged once; writing resumes after."""
    with consumer(env, tmp_path) as proc:
        proc.wait_for_log("wrote ", START_TIMEOUT)

        fake_exchange.set_fault(Fault.HTTP_500)
        at = proc.wait_for_log("binance poll failed: ", 5)
        first_failure = next(r for r in fake_exchange.requests if r.status == 500)
        # Quotes fetched before the fault may still be written once; nothing after it.
        time.sleep(SNAPSHOT + 0.1)
        during = snapshots(data_dir)
        assert max(during) <= first_failure.wall * 1000

        fake_exchange.set_fault(Fault.TRUNCATED)
        proc.wait_for_log("binance poll still failing, now: ", 5, since=at)
        time.sleep(2 * SNAPSHOT)
        assert snapshots(data_dir) == during
        assert proc.alive()

        fake_exchange.clear_fault()
        cleared = time.time() * 1000
        wait_until(
            lambda: snapshots(data_dir)[-1] > cleared,
            POLL + SNAPSHOT + 1.0,
            message=lambda: f"a snapshot after the fault cleared; output:\n{proc.output()}",
        )
        proc.wait_for_log("binance poll recovered after ", 1, since=at)
        assert proc.terminate() == 0

    output = proc.output()
    assert output.count("binance poll failed") == 1
    assert output.count("still failing") == 1
    failed = next(line for line in output.splitlines() if "binance poll failed" in line)
    assert f"GET {BOOK_TICKER_PATH} answered 500" in failed
    assert " ERROR " in failed
    assert "RemoteProtocolError" in output  # the cause of the second kind of failure
    assert "Traceback" not in output


def test_exchange_down_at_start_does_not_kill_the_process(
    env: dict[str, str], data_dir: Path, tmp_path: Path, fake_exchange: FakeBinance
) -> None:
    """With the exchange unreachable at start, the consumer waits, writing nothing, then writes."""
    fake_exchange.set_fault(Fault.REFUSED)
    with consumer(env, tmp_path) as proc:
        proc.wait_for_log("binance poll failed: ", START_TIMEOUT)
        time.sleep(3 * POLL)
        assert proc.alive()
        assert snapshots(data_dir) == []
        fake_exchange.clear_fault()
        wait_until(lambda: snapshots(data_dir), POLL + 2.0, message=proc.output)
        assert proc.terminate() == 0
    assert proc.output().count("binance poll failed") == 1


def test_second_consumer_stands_by_and_takes_over(
    env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    """A second consumer on the same DATA_DIR says the lock is held, writes nothing, takes over."""
    with contextlib.ExitStack() as stack, consumer(env, tmp_path, "first") as first:
        first.wait_for_log("wrote ", START_TIMEOUT)
        second = stack.enter_context(consumer(env, tmp_path, "second"))
        second.wait_for_log("another quote consumer holds", START_TIMEOUT)
        assert "Standing by: this consumer writes nothing" in second.output()
        time.sleep(2 * SNAPSHOT)
        assert second.alive()
        assert "wrote " not in second.output()

        assert first.terminate() == 0
        at = second.wait_for_log("this one takes over writing", 5)
        second.wait_for_log("wrote ", 5, since=at)
        assert second.terminate() == 0
    assert temporaries(data_dir) == []


def test_stale_temporaries_are_removed_and_sigterm_exits_0(
    env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    """Leftover `.tmp-*` files are removed at start; SIGTERM exits 0 leaving no temporary."""
    directory = data_dir / "binance"
    directory.mkdir(parents=True)
    stale = [f"{TEMP_PREFIX}{filename_for(1_795_304_160_123)}.0a1b2c3d", f"{TEMP_PREFIX}x"]
    for name in stale:
        (directory / name).write_bytes(b'{"schema":1,"exch')
    with consumer(env, tmp_path) as proc:
        proc.wait_for_log("removed 2 temporary file(s) left by a crash", START_TIMEOUT)
        proc.wait_for_log("wrote ", START_TIMEOUT)
        assert temporaries(data_dir) == []
        assert proc.terminate() == 0
    assert temporaries(data_dir) == []
    assert snapshots(data_dir)


def test_killed_consumer_leaves_no_stale_lock(
    env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    """After kill -9 a new consumer starts writing at once: the lock died with its holder."""
    with consumer(env, tmp_path, "killed") as killed:
        killed.wait_for_log("wrote ", START_TIMEOUT)
        assert killed.kill9() == -9
    with consumer(env, tmp_path, "next") as following:
        following.wait_for_log("wrote ", START_TIMEOUT)
        assert "another quote consumer" not in following.output()
        assert following.terminate() == 0
