"""Servers under test (real subprocesses on loopback) and `wrk` runs against them."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from _repo import OUT, ROOT
from store import Store

__all__ = [
    "LoadResult",
    "Server",
    "api_server",
    "bare_server",
    "finish_wrk",
    "get",
    "run_script",
    "run_wrk",
    "start_script",
    "start_wrk",
]

LUA = ROOT / "bench" / "lua" / "convert.lua"
RATES_LUA = ROOT / "bench" / "lua" / "rates.lua"
# Under bench/run.py the API keeps its defaults except RETENTION_DAYS (documented in
# the report): a week of history must stay inside retention while the run goes on. The
# store is caught up to "now" right before the servers start and a snapshot lands
# every 30 s during the rounds (bench/live.py), so QUOTES_MAX_AGE_SECONDS stays 60
# there. Scripts over static stores (bench/metrics.py, bench/http_semantics.py) keep
# the newest snapshot "fresh" for their whole run with MAX_AGE_SECONDS, the default.
MAX_AGE_SECONDS = "1800"
RETENTION_DAYS = "8"
_BENCH_LINE = re.compile(r"^BENCH (.*)$", re.MULTILINE)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """One GET on loopback; (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _base_env() -> dict[str, str]:
    """A clean environment: no `.env` (python-dotenv), no stray settings from the shell."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(PYTHONUNBUFFERED="1", PYTHON_DOTENV_DISABLED="1")
    return env


def api_server(
    name: str,
    store: Store,
    api_root: str | None = None,
    *,
    max_age_seconds: str | None = MAX_AGE_SECONDS,
) -> Server:
    """`python run.py api` on `store` with API_WORKERS=1 (not started yet).

    `api_root` runs another checkout's `run.py` (same interpreter), for A/B runs;
    `max_age_seconds=None` keeps QUOTES_MAX_AGE_SECONDS at its default (60).
    """
    port = free_port()
    env = _base_env()
    env.update(
        DATA_DIR=str(store.data_dir),
        API_HOST="127.0.0.1",
        API_PORT=str(port),
        API_WORKERS="1",
        RETENTION_DAYS=RETENTION_DAYS,
        LOG_LEVEL="INFO",
    )
    if max_age_seconds is not None:
        env["QUOTES_MAX_AGE_SECONDS"] = max_age_seconds
    run_py = Path(api_root or ROOT).resolve() / "run.py"
    return Server(name, [str(run_py), "api"], port, env)


def bare_server() -> Server:
    """`python bench/bare_app.py` (not started yet)."""
    port = free_port()
    return Server(
        "bare", [str(ROOT / "bench" / "bare_app.py"), "--port", str(port)], port, _base_env()
    )


class Server:
    """A server subprocess; `start()` returns the seconds until `ready_path` answered 200."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.env = env
        self.log_path = OUT / "logs" / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str, timeout: float = 30.0) -> float:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            started = time.perf_counter()
            self.proc = subprocess.Popen(
                [sys.executable, *self.argv],
                cwd=OUT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            try:
                status, _ = get(self.port, ready_path, timeout=1.0)
            except OSError:
                status = 0
            if status == 200:
                return time.perf_counter() - started
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} did not answer {ready_path} in {timeout} s")

    def rss_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) in KiB from /proc/<pid>/status."""
        assert self.proc is not None
        fields = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines()
        )
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    status_errors: int  # non-2xx/3xx responses
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def start_wrk(
    port: int,
    mode: str,
    pairs: str,
    *,
    seconds: float,
    connections: int,
    span: tuple[int, int] | None = None,
) -> subprocess.Popen[str]:
    """Start `wrk -t1 -cN -dS --latency -s convert.lua` against the server on `port`."""
    args = [mode, pairs] + ([str(span[0]), str(span[1])] if span is not None else [])
    return start_script(port, LUA, args, seconds=seconds, connections=connections)


def start_script(
    port: int, script: Path, args: list[str], *, seconds: float, connections: int
) -> subprocess.Popen[str]:
    """Start `wrk -t1 -cN -dS --latency -s SCRIPT URL -- ARGS` against the server on `port`."""
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        *args,
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_wrk(proc: subprocess.Popen[str], timeout: float = 120) -> LoadResult:
    """Wait for a `start_wrk` run and parse the line its done() hook printed."""
    stdout, stderr = proc.communicate(timeout=timeout)
    match = _BENCH_LINE.search(stdout)
    if proc.returncode or match is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{stdout}\n{stderr}")
    v = {k: int(x) for k, x in (item.split("=") for item in match.group(1).split())}
    return LoadResult(
        requests=v["requests"],
        seconds=v["duration_us"] / 1e6,
        status_errors=v["status_errors"],
        socket_errors=v["socket_errors"],
        p50_ms=v["p50_us"] / 1000,
        p90_ms=v["p90_us"] / 1000,
        p99_ms=v["p99_us"] / 1000,
        p999_ms=v["p999_us"] / 1000,
        max_ms=v["max_us"] / 1000,
    )


def run_script(
    port: int, script: Path, args: list[str], *, seconds: float, connections: int
) -> LoadResult:
    """One wrk run of `script`, waited for."""
    proc = start_script(port, script, args, seconds=seconds, connections=connections)
    return finish_wrk(proc, timeout=seconds + 60)


def run_wrk(
    port: int,
    mode: str,
    pairs: str,
    *,
    seconds: float,
    connections: int,
    span: tuple[int, int] | None = None,
) -> LoadResult:
    """One wrk run, waited for."""
    proc = start_wrk(port, mode, pairs, seconds=seconds, connections=connections, span=span)
    return finish_wrk(proc, timeout=seconds + 60)
