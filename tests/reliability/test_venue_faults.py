"""Every fault of Kraken, Bybit and OKX, against the real consumer process.

One `python run.py quote-consumer` per venue (EXCHANGES=<venue>, polls every
0.3 s, snapshots every 0.4 s, 0.5 s timeout) cycles through the venue's
faults in sequence: set the fault, wait for the failure line, hold until a
few polls have failed (counted by the consumer's own metrics, so refused
connections count too), clear it, wait for the recovery. Each episode pins
the spec (crypto-converter.md section 6, venues.md section 1): the process
stays up, no snapshot is stamped while no good quotes arrive, the episode is
one ERROR line naming the venue and the cause, a Retry-After is honoured to
the second, and writing resumes within a poll interval (plus the next
snapshot tick) of the fault clearing.

A rate-limit answer without a usable hint pauses the venue for 60 s (Bybit's
IP ban 600 s): those episodes cannot recover within a test, so they run in
their own processes, and what is checked is that the venue goes quiet (no
request at all for several poll intervals) and that the log and the pause
gauge say how long. Every wait is derived from an observed event: a log
line, a recorded request, a metrics counter.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from consumer.exchanges import REGISTRY
from consumer.exchanges._http import DEFAULT_RETRY_AFTER
from consumer.exchanges.bybit import IP_BAN_SECONDS
from consumer.service import QuoteConsumer
from storage.codec import ms_from_filename
from storage.writer import SnapshotWriter
from tests.fakes import FakeExchanges, FakeVenue, Fault, RecordedRequest
from tests.procs import Proc, free_port, settings_env, wait_until
from tests.reliability.conftest import lines_with

# The process-level tests carry these; the pure and in-process checks run in the fast loop.
PROCESS = (pytest.mark.e2e, pytest.mark.slow)

POLL = 0.3
SNAPSHOT = 0.4
HTTP_TIMEOUT = 0.5
SLOW_DELAY = 1.0  # longer than HTTP_TIMEOUT: every slow answer is a timeout
RETRY_AFTER = 1  # the hint the fake sends where a case asks for one
START_TIMEOUT = 10.0
SLACK = 0.6  # process wake-ups and the fakes' threads on a loaded 2-core machine
FAILED_POLLS = 3  # the hold: this many failed polls per episode
PAUSE_WATCH = 2.5  # a paused venue gets no request for this long (> 8 poll intervals)
UNUSED_BINANCE = "http://127.0.0.1:9"  # EXCHANGES names one venue; Binance is never asked

QUOTES_PATH = {
    "kraken": "/0/public/Ticker",
    "bybit": "/v5/market/tickers",
    "okx": "/api/v5/market/tickers",
}
VENUES = tuple(QUOTES_PATH)


@dataclass(frozen=True)
class Case:
    """One fault episode: what to inject and what the one ERROR line must say."""

    fault: Fault
    causes: tuple[str, ...]  # substrings of the ERROR line (after "<venue> poll failed: ")
    retry_after: int | None = None  # the fake's wait hint on a rate-limit answer
    pause: float | None = None  # a long pause (s) this answer must start: no recovery watched

    @property
    def min_failures(self) -> int:
        # Two answers already take over a second under a honoured 1 s Retry-After,
        # or under SLOW (each poll waits out the timeout, then the next tick).
        return 2 if self.retry_after is not None or self.fault is Fault.SLOW else FAILED_POLLS

    @property
    def label(self) -> str:
        hint = "" if self.retry_after is None else f"+retry_after={self.retry_after}"
        return f"{self.fault.name}{hint}"


def _transport(path: str) -> list[Case]:
    """Faults every venue answers alike (they come from the HTTP layer, not the venue)."""
    return [
        Case(Fault.HTTP_502_HTML, (f"GET {path} answered 502", "502 Bad Gateway")),
        Case(Fault.SLOW, (f"GET {path} timed out",)),
        Case(Fault.REFUSED, (f"GET {path} failed", "ConnectError")),
        Case(Fault.TRUNCATED, (f"GET {path} failed", "RemoteProtocolError")),
        Case(Fault.GARBAGE, (f"GET {path} answered 200 with a body that is not JSON",)),
        Case(Fault.HTML_200, ("not JSON (text/html", "System maintenance")),
    ]


KRAKEN, BYBIT, OKX = (QUOTES_PATH[v] for v in VENUES)

# Episodes that recover, in the order one process runs them.
CYCLES: dict[str, list[Case]] = {
    "kraken": [
        Case(Fault.HTTP_500, (f"GET {KRAKEN} answered 500", "EGeneral:Internal error")),
        *_transport(KRAKEN),
        Case(Fault.WRONG_SHAPE, (f"kraken {KRAKEN} has no `result` object",)),
        Case(Fault.EMPTY, (f"kraken {KRAKEN} has 0 pairs but none is quotable",)),
        Case(Fault.BAD_REQUEST, (f"kraken {KRAKEN} answered errors", "EGeneral:Invalid arguments")),
        Case(Fault.BODY_ERROR, (f"kraken {KRAKEN} answered errors", "EService:Unavailable")),
        Case(
            Fault.PARTIAL_RESULT,
            ("EQuery:Unknown asset pair", "(and a partial result of 16)"),
        ),
    ],
    "bybit": [
        Case(Fault.HTTP_500, (f"GET {BYBIT} answered 500", "Server error.")),
        *_transport(BYBIT),
        Case(Fault.WRONG_SHAPE, ("bybit tickers has no `result.list`",)),
        Case(Fault.EMPTY, ("bybit tickers is an empty list",)),
        Case(Fault.BAD_REQUEST, ("bybit answered retCode 10001", "params error: category")),
        Case(Fault.BODY_ERROR, ("bybit answered retCode 10016", "Server error.")),
        Case(
            Fault.GEO_BLOCKED,
            (
                f"bybit GET {BYBIT} answered 403",
                "refuses requests from this location",
                "CloudFront",
            ),
        ),
        Case(
            Fault.RATE_LIMITED,
            ("bybit answered retCode 10006", "Too many visits!", f"pausing {RETRY_AFTER}s"),
            retry_after=RETRY_AFTER,
        ),
    ],
    "okx": [
        Case(Fault.HTTP_500, (f"GET {OKX} answered 500", "50026")),
        *_transport(OKX),
        Case(Fault.WRONG_SHAPE, ("okx tickers has no `data` list",)),
        Case(Fault.EMPTY, ("okx tickers has an empty `data` list",)),
        Case(Fault.BAD_REQUEST, (f"GET {OKX} answered 400", "51000")),
        Case(Fault.BODY_ERROR, ("okx tickers answered code '50001'", "Service temporarily")),
        Case(
            Fault.GEO_BLOCKED,
            (f"okx GET {OKX} answered 403", "OKX refuses this location", "CloudFront"),
        ),
        Case(
            Fault.RATE_LIMITED,
            (f"okx GET {OKX} answered HTTP 429 with code 50011", f"pausing {RETRY_AFTER}s"),
            retry_after=RETRY_AFTER,
        ),
    ],
}

# Rate-limit answers with no usable hint: the venue pauses for a minute or more.
# Each round is one process polling the venues named in it.
PAUSE_ROUNDS: list[dict[str, Case]] = [
    {
        "kraken": Case(
            Fault.RATE_LIMITED,
            ("EAPI:Rate limit exceeded", "pausing 60s"),
            pause=DEFAULT_RETRY_AFTER,
        ),
        "bybit": Case(
            Fault.RATE_LIMITED,
            ("bybit answered retCode 10006", "pausing 60s"),
            pause=DEFAULT_RETRY_AFTER,
        ),
        "okx": Case(
            Fault.RATE_LIMITED,
            (f"okx GET {OKX} answered HTTP 429 with code 50011", "pausing 60s"),
            pause=DEFAULT_RETRY_AFTER,
        ),
    },
    {
        "kraken": Case(
            Fault.RATE_LIMITED_ALT,
            ("EGeneral:Too many requests", "pausing 60s"),
            pause=DEFAULT_RETRY_AFTER,
        ),
        "bybit": Case(
            Fault.RATE_LIMITED_ALT,
            (f"bybit GET {BYBIT} answered 403 (IP rate limit ban", "pausing 600s"),
            pause=IP_BAN_SECONDS,
        ),
    },
]

_METRIC = re.compile(r'^(\w+)\{exchange="(\w+)"(?:,outcome="(\w+)")?\} (\S+)$')


# -- observing the process ---------------------------------------------------------


def snapshot_times(data_dir: Path, venue: str) -> list[int]:
    """Fetch times (UTC ms) of the venue's finished snapshot files, oldest first."""
    directory = data_dir / venue
    if not directory.is_dir():
        return []
    return sorted(ms for p in directory.iterdir() if (ms := ms_from_filename(p.name)) is not None)


def after(requests: list[RecordedRequest], mono: float) -> list[RecordedRequest]:
    return sorted((r for r in requests if r.monotonic >= mono), key=lambda r: r.monotonic)


class Metrics:
    """The consumer's /metrics, read on demand (METRICS_PORT is a free loopback port)."""

    def __init__(self, proc: Proc) -> None:
        proc.wait_for_log("metrics on http://", START_TIMEOUT)
        found = re.search(r"metrics on (http://\S+/metrics)", proc.output())
        assert found is not None, proc.output()
        self.url = found.group(1)

    def _series(self) -> Iterator[tuple[str, str, str | None, float]]:
        with urllib.request.urlopen(self.url, timeout=5) as response:
            text = response.read().decode()
        for line in text.splitlines():
            match = _METRIC.match(line)
            if match:
                name, venue, outcome, value = match.groups()
                yield name, venue, outcome, float(value)

    def failed_polls(self, venue: str) -> int:
        """Polls of `venue` that ended in any outcome but ok."""
        return int(
            sum(
                value
                for name, v, outcome, value in self._series()
                if name == "crypto_converter_polls_total" and v == venue and outcome != "ok"
            )
        )

    def pause_left(self, venue: str) -> float:
        """Seconds left of the venue's rate-limit pause, as the gauge says."""
        name = "crypto_converter_rate_limit_pause_remaining_seconds"
        [value] = [val for n, v, _, val in self._series() if n == name and v == venue]
        return value


def consumer_env(fakes: dict[str, FakeVenue], data_dir: Path) -> dict[str, str]:
    return settings_env(
        base_url=UNUSED_BINANCE,
        data_dir=data_dir,
        EXCHANGES=",".join(fakes),
        DEFAULT_EXCHANGE=next(iter(fakes)),
        POLL_INTERVAL_SECONDS=str(POLL),
        SNAPSHOT_INTERVAL_SECONDS=str(SNAPSHOT),
        HTTP_TIMEOUT_SECONDS=str(HTTP_TIMEOUT),
        METRICS_PORT=str(free_port()),
        **{fake.env_var: fake.base_url for fake in fakes.values()},
    )


# -- coverage of the parametrization -------------------------------------------------


def test_every_fault_of_every_venue_has_a_case() -> None:
    """The cycles and pause rounds cover every fault each fake venue can inject."""
    for venue in VENUES:
        cases = CYCLES[venue] + [r[venue] for r in PAUSE_ROUNDS if venue in r]
        assert {c.fault for c in cases} == FakeVenue(venue).faults - {Fault.NONE}, venue
        # Only a rate-limit answer may pause a venue for longer than a test can wait.
        assert all(c.fault.name.startswith("RATE_LIMITED") for c in cases if c.pause), venue


# -- one venue, its faults in sequence ---------------------------------------------


def _episode(
    venue: str, case: Case, proc: Proc, fake: FakeVenue, metrics: Metrics, data_dir: Path
) -> None:
    """Inject `case`, hold it for a few failed polls, clear it; assert the whole episode."""
    what = f"{venue} {case.label}"
    offset = len(proc.output())
    failed_before = metrics.failed_polls(venue)
    fake.set_fault(case.fault, retry_after=case.retry_after, delay=SLOW_DELAY)
    proc.wait_for_log(f"{venue} poll failed: ", 5, since=offset)
    # Every good quote was stamped before the failing poll began, so before the
    # failure line was written; from here on nothing may be stamped.
    observed_mono, observed_wall = time.monotonic(), time.time()
    hold = case.min_failures * (POLL + HTTP_TIMEOUT + (case.retry_after or 0)) + 5
    wait_until(
        lambda: metrics.failed_polls(venue) - failed_before >= case.min_failures,
        hold,
        message=lambda: f"{case.min_failures} failed polls under {what}:\n{proc.output()}",
    )
    assert proc.alive(), proc.output()
    quotes = QUOTES_PATH[venue]

    clear_mono, clear_wall = time.monotonic(), time.time()
    fake.clear_fault()
    cleared_mono = time.monotonic()  # requests from here on surely get the recording

    def first_good() -> RecordedRequest | None:
        return next((r for r in after(fake.requests, cleared_mono) if r.path == quotes), None)

    good = wait_until(first_good, 10, message=proc.output)
    assert good is not None
    new = wait_until(
        lambda: [ms for ms in snapshot_times(data_dir, venue) if ms > clear_wall * 1000],
        10,
        message=proc.output,
    )
    written_after = time.monotonic() - clear_mono
    end = proc.wait_for_log(f"{venue} poll recovered after ", 5, since=offset)
    output = proc.output()
    episode = output[offset : output.find("\n", end)]

    # Resumes within one poll interval of the clearing (once an in-flight timeout
    # or a honoured Retry-After has run out), and writes at the next tick.
    earliest = clear_mono + (HTTP_TIMEOUT if case.fault is Fault.SLOW else 0)
    limited: list[RecordedRequest] = []
    if case.retry_after is not None:
        # The logged answer is the last request before the line was seen; every
        # request from it until the clearing was answered with the rate limit.
        logged = [r for r in fake.requests if r.monotonic < observed_mono][-1]
        limited = [r for r in fake.requests if logged.monotonic <= r.monotonic < clear_mono]
        earliest = max(earliest, limited[-1].monotonic + case.retry_after)
    assert good.monotonic - earliest <= POLL + SLACK, (what, good.monotonic - earliest)
    assert written_after <= (earliest - clear_mono) + POLL + SNAPSHOT + 2 * SLACK, (
        what,
        written_after,
    )
    assert min(new) >= good.wall * 1000 - 1, what

    stamped = [
        ms for ms in snapshot_times(data_dir, venue) if observed_wall * 1000 < ms < good.wall * 1000
    ]
    assert stamped == [], f"{what}: snapshots from no good data {stamped}\n{proc.output()}"

    errors = lines_with(episode, " ERROR ")
    assert len(errors) == 1, (what, errors)
    assert f"{venue} poll failed: " in errors[0], (what, errors[0])
    for cause in case.causes:
        assert cause in errors[0], (what, cause, errors[0])
    assert "still failing" not in episode, (what, episode)
    recovered = re.search(r"recovered after (\d+) failed attempt", episode)
    assert recovered is not None, (what, episode)
    assert int(recovered.group(1)) >= case.min_failures, (what, recovered.group(0))

    if case.retry_after is not None:
        # Nothing at all reaches the venue before Retry-After has passed.
        assert len(limited) >= case.min_failures, (what, limited)
        for before, following in itertools.pairwise([*limited, good]):
            gap = following.monotonic - before.monotonic
            assert gap >= case.retry_after, f"{what}: a request {gap:.3f}s after a rate limit"


@PROCESS[0]
@PROCESS[1]
@pytest.mark.parametrize("venue", VENUES)
def test_faults_in_sequence_are_survived_logged_once_and_recovered(
    venue: str, tmp_path: Path
) -> None:
    """Each fault of the venue in turn: alive, nothing stamped, one ERROR line, quick recovery."""
    data_dir = tmp_path / "data"
    with FakeVenue(venue) as fake:
        env = consumer_env({venue: fake}, data_dir)
        with Proc("quote-consumer", env=env, workdir=tmp_path, name="consumer") as proc:
            metrics = Metrics(proc)
            proc.wait_for_log(f"{venue}: wrote ", START_TIMEOUT)
            for case in CYCLES[venue]:
                _episode(venue, case, proc, fake, metrics, data_dir)
            assert proc.terminate() == 0, proc.output()
    assert "Traceback" not in proc.output()


# -- rate limits without a usable hint: a long pause ---------------------------------


@dataclass
class PauseRound:
    """One process polling the venues of one PAUSE_ROUNDS entry."""

    cases: dict[str, Case]
    fakes: FakeExchanges
    proc: Proc
    metrics: Metrics
    data_dir: Path
    offset: int = 0
    observed_wall: float = 0.0
    limited: dict[str, RecordedRequest] = field(default_factory=dict)
    left: dict[str, float] = field(default_factory=dict)


@PROCESS[0]
@PROCESS[1]
def test_rate_limits_without_hint_pause_the_venue_for_a_minute_or_more(tmp_path: Path) -> None:
    """The venue gets no request for many polls and writes nothing; log and gauge say how long."""
    with contextlib.ExitStack() as stack:
        # The rounds run side by side: each only waits, and the venues are independent.
        rounds: list[PauseRound] = []
        for number, cases in enumerate(PAUSE_ROUNDS):
            workdir = tmp_path / f"round{number}"
            workdir.mkdir()
            fakes = stack.enter_context(FakeExchanges(cases))
            env = consumer_env(dict(fakes.venues), workdir / "data")
            proc = stack.enter_context(
                Proc("quote-consumer", env=env, workdir=workdir, name="consumer")
            )
            rounds.append(PauseRound(cases, fakes, proc, Metrics(proc), workdir / "data"))
        for r in rounds:
            for venue in r.cases:
                r.proc.wait_for_log(f"{venue}: wrote ", START_TIMEOUT)
        for r in rounds:
            r.offset = len(r.proc.output())
            for venue, case in r.cases.items():
                r.fakes[venue].set_fault(case.fault, retry_after=None)
        for r in rounds:
            for venue in r.cases:
                r.proc.wait_for_log(f"{venue} poll failed: ", 5, since=r.offset)
            observed_mono, r.observed_wall = time.monotonic(), time.time()
            # The logged answer is the venue's last request before the line was seen.
            r.limited = {
                venue: [q for q in r.fakes[venue].requests if q.monotonic < observed_mono][-1]
                for venue in r.cases
            }
        # Watch every venue for at least PAUSE_WATCH after its own rate-limit answer.
        watch_until = max(q.monotonic for r in rounds for q in r.limited.values()) + PAUSE_WATCH
        time.sleep(max(0.0, watch_until - time.monotonic()))
        for r in rounds:
            r.left = {venue: r.metrics.pause_left(venue) for venue in r.cases}
            assert r.proc.alive(), r.proc.output()
            assert r.proc.terminate() == 0, r.proc.output()

    for r in rounds:
        output = r.proc.output()
        episode = output[r.offset :]
        for venue, case in r.cases.items():
            assert case.pause is not None
            what = f"{venue} {case.label}"
            quiet = after(r.fakes[venue].requests, r.limited[venue].monotonic)
            assert quiet == [r.limited[venue]], f"{what}: requests during the pause {quiet}"
            stamped = [
                ms for ms in snapshot_times(r.data_dir, venue) if ms > r.observed_wall * 1000
            ]
            assert stamped == [], f"{what}: snapshots while paused {stamped}"
            errors = lines_with(episode, " ERROR ", f"{venue} poll failed: ")
            assert len(errors) == 1, (what, errors)
            for cause in case.causes:
                assert cause in errors[0], (what, cause, errors[0])
            # The gauge counts down from the pause the answer started.
            elapsed = watch_until - r.limited[venue].monotonic
            assert case.pause - elapsed - SLACK - 1 <= r.left[venue] <= case.pause, (
                what,
                r.left[venue],
            )
        assert "still failing" not in episode
        assert "Traceback" not in output


# -- a hint longer than the default ----------------------------------------------------

LONG_HINT = 1200  # longer than both defaults (60 s, Bybit's 600 s IP ban)


@pytest.mark.parametrize(
    ("venue", "fault"),
    [
        ("kraken", Fault.RATE_LIMITED),
        ("kraken", Fault.RATE_LIMITED_ALT),
        ("bybit", Fault.RATE_LIMITED),
        ("bybit", Fault.RATE_LIMITED_ALT),
        ("okx", Fault.RATE_LIMITED),
    ],
)
async def test_a_retry_after_longer_than_the_default_is_honoured(
    venue: str, fault: Fault, tmp_path: Path
) -> None:
    """A rate-limit answer whose Retry-After exceeds the venue's default pauses that long."""
    writer = SnapshotWriter(tmp_path, venue)
    writer.ensure_directory()
    with FakeVenue(venue) as fake:
        async with httpx.AsyncClient(base_url=fake.base_url, timeout=HTTP_TIMEOUT * 4) as client:
            consumer = QuoteConsumer(
                adapter=REGISTRY[venue],
                client=client,
                writer=writer,
                retention_ms=86_400_000,
                metadata_max_age=3600,
            )
            assert await consumer.poll()
            fake.set_fault(fault, retry_after=LONG_HINT)
            assert not await consumer.poll()
            left = consumer.blocked_until - consumer.clock.monotonic()
    assert left >= LONG_HINT - 5, f"{venue} {fault.name}: paused {left:.0f}s, not {LONG_HINT}s"
