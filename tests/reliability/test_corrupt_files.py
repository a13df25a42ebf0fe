"""Corrupt and vanishing snapshot files, against a running `python run.py api`.

Spec section 5: a corrupt or unreadable file is skipped with a warning, the
previous snapshot (or the documented error) is served, and it never causes a
500. Corrupt files are put in place with `os.replace`, as a foreign tool or a
damaged disk would leave them; files "vanish" the way retention removes them,
between the API listing the directory and reading the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from storage.codec import encode, filename_for
from storage.model import Snapshot, format_iso_ms
from tests.procs import wait_until
from tests.reliability.conftest import (
    EXCHANGE,
    RawResponse,
    RunningApi,
    check_api_response,
    now_ms,
    recorded_quotes,
    snapshot_times,
    start_api,
    write_snapshot,
)

pytestmark = pytest.mark.e2e

MAX_AGE_S = 10
BTC_USDT = "/convert?amount=1&from=BTC&to=USDT"


def _good_bytes(ms: int) -> bytes:
    return encode(Snapshot(EXCHANGE, ms, dict(recorded_quotes())))


def _bad_price(ms: int, row: bytes = b'"BTCUSDT":["BTC","USDT","') -> bytes:
    """Head and tail intact (passes the frame check); this row's bid is not a number."""
    data = _good_bytes(ms)
    at = data.index(row) + len(row)
    end = data.index(b'"', at)
    return data[:at] + b"12x45" + data[end:]


CORRUPTIONS: dict[str, Callable[[int], bytes]] = {
    "truncated_half": lambda ms: _good_bytes(ms)[: len(_good_bytes(ms)) // 2],
    "truncated_last_byte": lambda ms: _good_bytes(ms)[:-1],
    "empty": lambda ms: b"",
    "garbage": lambda ms: b"\x00\xff\xfe garbage {{{ \x89PNG" * 512,
    "foreign_json": lambda ms: b'{"hello":"world"}',
    "bad_price_in_row": lambda ms: _bad_price(ms),
    "misnamed": lambda ms: _good_bytes(ms - 1),  # fetched_at says another time
}


def place_corrupt(data_dir: Path, ms: int, kind: str) -> Path:
    """Put a corrupt file at snapshot time `ms`, appearing at once (temp + os.replace)."""
    directory = data_dir / EXCHANGE
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / filename_for(ms)
    temp = directory / f".tmp-test-{final.name}"
    temp.write_bytes(CORRUPTIONS[kind](ms))
    os.replace(temp, final)
    return final


def unix(ms: int) -> str:
    """UTC ms as exact unix seconds for `timestamp=`."""
    return f"{ms // 1000}.{ms % 1000:03d}"


def quoted_at(api: RunningApi, target: str) -> str:
    """GET target, check the universal invariants, expect 200, return quoted_at."""
    response = api.get(target)
    check_api_response(response, data_dir=api.data_dir)
    assert response.status == 200, (target, response)
    body = response.json()
    assert isinstance(body, dict)
    return str(body["quoted_at"])


def later_than_all(data_dir: Path, gap_ms: int = 400) -> int:
    """Now, once it is at least `gap_ms` after the newest file (so new files become the newest)."""
    newest = max(snapshot_times(data_dir), default=0)
    wait_until(lambda: now_ms() >= newest + gap_ms, (gap_ms + 100) / 1000)
    return now_ms()


def field(response: RawResponse, name: str) -> object:
    body = response.json()
    assert isinstance(body, dict), response
    return body.get(name)


def warnings_for(api: RunningApi, ms: int) -> list[str]:
    return [
        line
        for line in api.proc.output().splitlines()
        if f"skipping corrupt snapshot {ms}:" in line
    ]


# -- one API over a store with a good/corrupt pair per kind --------------------------

# Pairs written before the API starts: kind i has a good snapshot at
# _PAIRS_BASE + i*2000 and a corrupt one 500 ms later.
_PAIRS_BASE = now_ms() - 60_000


def _pair(kind: str) -> tuple[int, int]:
    good = _PAIRS_BASE + list(CORRUPTIONS).index(kind) * 2_000
    return good, good + 500


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """The API over a store holding, for every kind of corruption, a good file then a bad one."""
    workdir = tmp_path_factory.mktemp("corrupt")
    data_dir = workdir / "data"
    for kind in CORRUPTIONS:
        good, bad = _pair(kind)
        write_snapshot(data_dir, good)
        place_corrupt(data_dir, bad, kind)
    write_snapshot(data_dir, now_ms())
    running = start_api(workdir, data_dir, QUOTES_MAX_AGE_SECONDS=str(MAX_AGE_S))
    with running.proc:
        yield running
        assert running.proc.terminate() == 0, running.proc.output()
    assert "Traceback" not in running.proc.output()


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_historical_skips_a_corrupt_file(api: RunningApi, kind: str) -> None:
    """timestamp= selecting a corrupt file answers from the snapshot before it; one warning."""
    good, bad = _pair(kind)
    for _ in range(3):
        assert quoted_at(api, f"{BTC_USDT}&timestamp={unix(bad)}") == format_iso_ms(good)
        assert quoted_at(api, f"{BTC_USDT}&timestamp={unix(good)}") == format_iso_ms(good)
        same = f"/convert?amount=1&from=BTC&to=BTC&timestamp={unix(bad)}"
        assert quoted_at(api, same) == format_iso_ms(good)
    warned = warnings_for(api, bad)
    assert len(warned) == 1, api.proc.output()
    assert " WARNING " in warned[0]


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corrupt_newest_file_serves_the_previous(api: RunningApi, kind: str) -> None:
    """A corrupt newest file: latest /convert, /health, /currencies use the one before it."""
    base = later_than_all(api.data_dir)
    good, bad = base - 300, base - 100
    # The corrupt (newer) file is written first: once the API's index holds the
    # good file, it holds the corrupt one too.
    place_corrupt(api.data_dir, bad, kind)
    write_snapshot(api.data_dir, good)

    def health_quoted_at() -> object:
        response = api.get("/health")
        check_api_response(response, data_dir=api.data_dir)
        body = response.json()
        return isinstance(body, dict) and body.get("quoted_at") == format_iso_ms(good)

    wait_until(health_quoted_at, 5, message=api.proc.output)
    assert quoted_at(api, BTC_USDT) == format_iso_ms(good)
    assert quoted_at(api, "/currencies") == format_iso_ms(good)
    assert quoted_at(api, f"{BTC_USDT}&timestamp={unix(bad)}") == format_iso_ms(good)
    assert quoted_at(api, f"{BTC_USDT}&timestamp={unix(base)}") == format_iso_ms(good)
    assert len(warnings_for(api, bad)) == 1, api.proc.output()


@pytest.mark.xfail(
    strict=True,
    reason=(
        "finding: a historical look-up validates only the row it uses, so a file damaged "
        "in another row answers BTC->USDT until a latest/health request decodes it in full "
        "and marks it corrupt; the same timestamp then answers from the older snapshot"
    ),
)
def test_file_damaged_in_another_row_is_skipped_whatever_came_first(tmp_path: Path) -> None:
    """A file corrupt in any row is skipped for historical look-ups, before and after latest."""
    data_dir = tmp_path / "data"
    base = now_ms()
    older, damaged = base - 2_000, base - 1_000
    write_snapshot(data_dir, older)
    (data_dir / EXCHANGE / filename_for(damaged)).write_bytes(
        _bad_price(damaged, b'"ETHBTC":["ETH","BTC","')
    )
    running = start_api(tmp_path, data_dir, QUOTES_MAX_AGE_SECONDS=str(MAX_AGE_S))
    with running.proc:
        target = f"{BTC_USDT}&timestamp={unix(damaged)}"
        first = quoted_at(running, target)
        quoted_at(running, BTC_USDT)  # decodes the newest file in full
        second = quoted_at(running, target)
        assert running.proc.terminate() == 0, running.proc.output()
    assert (first, second) == (format_iso_ms(older), format_iso_ms(older))


# -- nothing readable at all -----------------------------------------------------------


def test_only_corrupt_files_answer_503_then_recover(tmp_path: Path) -> None:
    """When every file is corrupt: 503 quotes_unavailable / no_data, 404 historical; never 500."""
    data_dir = tmp_path / "data"
    base = now_ms()
    place_corrupt(data_dir, base - 2_000, "truncated_half")
    place_corrupt(data_dir, base - 1_000, "garbage")
    running = start_api(tmp_path, data_dir, QUOTES_MAX_AGE_SECONDS=str(MAX_AGE_S))
    with running.proc:
        for target, status, code in [
            (BTC_USDT, 503, "quotes_unavailable"),
            ("/convert?amount=1&from=BTC&to=BTC", 503, "quotes_unavailable"),
            ("/currencies", 503, "quotes_unavailable"),
            (f"{BTC_USDT}&timestamp={unix(base - 1_000)}", 404, "quotes_not_found"),
            (f"{BTC_USDT}&timestamp={unix(base - 2_000)}", 404, "quotes_not_found"),
        ]:
            response = running.get(target)
            check_api_response(response, data_dir=data_dir)
            assert response.status == status, (target, response)
            assert field(response, "error") == code, response
        health = running.get("/health")
        assert health.status == 503
        assert field(health, "status") == "no_data", health
        for ms in (base - 2_000, base - 1_000):
            assert len(warnings_for(running, ms)) == 1, running.proc.output()

        fresh = now_ms()
        write_snapshot(data_dir, fresh)
        wait_until(lambda: running.get(BTC_USDT).status == 200, 5, message=running.proc.output)
        assert quoted_at(running, BTC_USDT) == format_iso_ms(fresh)
        assert running.proc.terminate() == 0, running.proc.output()
    assert "Traceback" not in running.proc.output()


# -- files that vanish between the index and the read -----------------------------------


def _indexed(running: RunningApi, newest: int) -> None:
    """Wait until the API's index holds `newest` (and so every file written before it)."""

    def seen() -> bool:
        body = running.get("/health").json()
        return isinstance(body, dict) and body.get("quoted_at") == format_iso_ms(newest)

    wait_until(seen, 5, message=running.proc.output)


def test_vanished_file_falls_back_to_the_previous(tmp_path: Path) -> None:
    """A file deleted after it was indexed, before it was read: the older snapshot answers."""
    data_dir = tmp_path / "data"
    running = start_api(tmp_path, data_dir, QUOTES_MAX_AGE_SECONDS=str(MAX_AGE_S))
    with running.proc:
        for _ in range(5):
            base = later_than_all(data_dir)
            older, gone, newest = base - 300, base - 200, base - 100
            for ms in (older, gone, newest):
                write_snapshot(data_dir, ms)
            _indexed(running, newest)  # loads `newest` only; `gone` is indexed, never read
            (data_dir / EXCHANGE / filename_for(gone)).unlink()
            assert quoted_at(running, f"{BTC_USDT}&timestamp={unix(gone)}") == format_iso_ms(older)
            assert quoted_at(running, f"{BTC_USDT}&timestamp={unix(gone + 1)}") == format_iso_ms(
                older
            )
        # The read really raced the deletion at least once (the index re-lists at most
        # every 0.25 s), rather than every request finding a fresh listing.
        assert "vanished" in running.proc.output(), running.proc.output()
        assert running.proc.terminate() == 0, running.proc.output()
    assert "Traceback" not in running.proc.output()


def test_vanished_newest_file_falls_back_for_latest(tmp_path: Path) -> None:
    """The newest file deleted after it was indexed, before latest read it: 200, never 500."""
    data_dir = tmp_path / "data"
    running = start_api(tmp_path, data_dir, QUOTES_MAX_AGE_SECONDS=str(MAX_AGE_S))
    with running.proc:
        warm = now_ms()
        write_snapshot(data_dir, warm - 100)
        # A first historical read teaches the reader where BTCUSDT's row sits; later
        # ones read ~2 KB around it and keep no copy, so the newest stays unread.
        wait_until(lambda: running.get(f"{BTC_USDT}&timestamp={unix(warm)}").status == 200, 5)
        for _ in range(5):
            base = later_than_all(data_dir)
            older, newest = base - 200, base - 100
            write_snapshot(data_dir, older)
            write_snapshot(data_dir, newest)
            wait_until(
                lambda n=newest: (
                    quoted_at(running, f"{BTC_USDT}&timestamp={unix(n)}") == format_iso_ms(n)
                ),
                5,
                message=running.proc.output,
            )
            (data_dir / EXCHANGE / filename_for(newest)).unlink()
            for target in (BTC_USDT, "/health", "/currencies"):
                assert quoted_at(running, target) in (format_iso_ms(older), format_iso_ms(newest))
        # The latest read really raced the deletion at least once.
        assert "vanished" in running.proc.output(), running.proc.output()
        assert running.proc.terminate() == 0, running.proc.output()
    assert "Traceback" not in running.proc.output()


def test_vanished_file_without_fallback_is_quotes_not_found(tmp_path: Path) -> None:
    """A vanished file with nothing older in force: 404 quotes_not_found, never a 500."""
    data_dir = tmp_path / "data"
    base = now_ms()
    write_snapshot(data_dir, base - (MAX_AGE_S + 20) * 1000)  # too old to stand in
    gone, newest = base - 400, base - 200
    write_snapshot(data_dir, gone)
    write_snapshot(data_dir, newest)
    running = start_api(tmp_path, data_dir, QUOTES_MAX_AGE_SECONDS=str(MAX_AGE_S))
    with running.proc:
        _indexed(running, newest)
        (data_dir / EXCHANGE / filename_for(gone)).unlink()
        response = running.get(f"{BTC_USDT}&timestamp={unix(gone)}")
        check_api_response(response, data_dir=data_dir)
        assert response.status == 404, response
        assert field(response, "error") == "quotes_not_found", response
        assert running.proc.terminate() == 0, running.proc.output()
    assert "Traceback" not in running.proc.output()


def test_file_deleted_after_use_is_answered_then_dropped(tmp_path: Path) -> None:
    """Deleting the file the last answer used: next answer is 200 or 404, never 5xx; then older."""
    data_dir = tmp_path / "data"
    base = now_ms()
    older, used = base - 400, base - 200
    write_snapshot(data_dir, older)
    write_snapshot(data_dir, used)
    running = start_api(tmp_path, data_dir, QUOTES_MAX_AGE_SECONDS=str(MAX_AGE_S))
    with running.proc:
        target = f"{BTC_USDT}&timestamp={unix(used)}"
        assert quoted_at(running, target) == format_iso_ms(used)
        (data_dir / EXCHANGE / filename_for(used)).unlink()
        again = running.get(target)
        check_api_response(again, data_dir=data_dir)
        # The bytes read a moment ago may still answer (they were a whole snapshot),
        # or the older one; what must not happen is an error of ours.
        assert again.status == 200, again
        assert quoted_at(running, target) in (format_iso_ms(used), format_iso_ms(older))
        # Spec: a change to the store is visible within 1 s.
        wait_until(
            lambda: quoted_at(running, target) == format_iso_ms(older),
            1.5,
            message=running.proc.output,
        )
        assert running.proc.terminate() == 0, running.proc.output()
    assert "Traceback" not in running.proc.output()
