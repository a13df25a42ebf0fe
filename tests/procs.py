"""Real processes for end-to-end tests: `python run.py ...` with a clean environment.

Every e2e test (consumer and API) starts its processes through `Proc`, so they
all get the same guarantees:

- The environment is built from scratch: `PATH`, `HOME`, `LANG` from the
  developer's shell, `PYTHONUNBUFFERED=1`, and the variables the test passes.
  Nothing else leaks in (no `PYTHONPATH`, no stray `DATA_DIR`).
- A developer's `.env` is never read. python-dotenv's `load_dotenv()` looks
  for `.env` next to the *calling file* (run.py's directory and its parents),
  not in the working directory, so changing cwd alone would not stop it;
  `PYTHON_DOTENV_DISABLED=1` does. The process also runs with cwd set to a
  temporary directory, so a relative default such as `DATA_DIR=./data` can
  never create files in the repository: pass absolute paths.
- Output (stdout and stderr, interleaved) goes to a file, not a pipe, so a
  chatty process can never block on a full pipe buffer.
- The process is always reaped: the context manager kills it if the test
  did not stop it, so no test leaves a child (or a ResourceWarning) behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

__all__ = [
    "REPO_ROOT",
    "RUN_PY",
    "Proc",
    "base_env",
    "free_port",
    "run_once",
    "settings_env",
    "wait_until",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_PY = REPO_ROOT / "run.py"

# Inherited from the developer's shell: enough to find programs and decode text.
_INHERITED = ("PATH", "HOME", "LANG")

T = TypeVar("T")


# The spec's configuration table, verbatim: variable -> default as written there.
# Processes under test get every variable spelled out, so nothing leaks in.
SPEC_DEFAULTS = {
    "BINANCE_BASE_URL": "https://api.binance.com",
    "DATA_DIR": "./data",
    "API_HOST": "127.0.0.1",
    "API_PORT": "8000",
    "API_WORKERS": "1",
    "QUOTES_MAX_AGE_SECONDS": "60",
    "POLL_INTERVAL_SECONDS": "10",
    "SNAPSHOT_INTERVAL_SECONDS": "30",
    "RETENTION_DAYS": "7",
    "CLEANUP_INTERVAL_SECONDS": "86400",
    "EXCHANGE_INFO_REFRESH_SECONDS": "3600",
    "HTTP_TIMEOUT_SECONDS": "10",
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",
    # venues (venues.md section 6)
    "EXCHANGES": "binance,kraken,bybit,okx",
    "DEFAULT_EXCHANGE": "binance",
    "KRAKEN_BASE_URL": "https://api.kraken.com",
    "BYBIT_BASE_URL": "https://api.bybit.com",
    "OKX_BASE_URL": "https://www.okx.com",
    "AVERAGE_OUTLIER_PERCENT": "5",
    # metrics and market analytics (observability.md)
    "METRICS_HOST": "127.0.0.1",
    "METRICS_PORT": "9101",
    "MARKET_ANALYTICS": "true",
    "MARKET_INTERVAL_SECONDS": "10",
    "MARKET_STATS_REFRESH_SECONDS": "300",
    "MARKET_DEPTH_REFRESH_SECONDS": "60",
}

# What a test process gets unless the test says otherwise: one venue (the fake
# Binance that `base_url` points to), so no process ever reaches a real venue,
# and no metrics port, so parallel processes never collide on 9101.
_TEST_DEFAULTS = {"EXCHANGES": "binance", "METRICS_PORT": "0", "MARKET_ANALYTICS": "false"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env() -> dict[str, str]:
    """The minimal environment every child starts from (see the module docstring)."""
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    # Subprocess coverage, when a coverage run asks for it, is opt-in by env var.
    env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHON_DOTENV_DISABLED"] = "1"
    return env


def settings_env(*, base_url: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    """Every variable of the spec's configuration table, explicitly, for a test process.

    Defaults are the spec's, except the Binance URL and data directory, which
    the test must give (the data directory absolute, since the child's cwd is
    a temporary directory), and `_TEST_DEFAULTS` (binance only, metrics off).
    `overrides` use the variable names, e.g. `POLL_INTERVAL_SECONDS="0.5"` or
    `EXCHANGES="binance,kraken"` with `KRAKEN_BASE_URL=...`.
    """
    if not data_dir.is_absolute():
        raise ValueError(f"data_dir must be absolute, got {data_dir}")
    env = {
        **SPEC_DEFAULTS,
        **_TEST_DEFAULTS,
        "BINANCE_BASE_URL": base_url,
        "DATA_DIR": str(data_dir),
    }
    unknown = set(overrides) - set(env)
    if unknown:
        raise ValueError(f"not configuration variables: {sorted(unknown)}")
    env.update(overrides)
    return env


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Poll `predicate` until it returns something truthy, and return that.

    Raises AssertionError naming `message` (a string, or a callable evaluated
    at failure time, e.g. to include a process's output) after `timeout` s.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:g}s waiting for: {text}")
        time.sleep(interval)


def run_once(
    *args: str, env: Mapping[str, str], cwd: Path, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run `python run.py ARGS` to completion; stdout and stderr captured separately."""
    return subprocess.run(
        [sys.executable, str(RUN_PY), *args],
        cwd=cwd,
        env={**base_env(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Proc:
    """A long-running `python run.py ARGS` child; use it as a context manager.

    `workdir` must exist; the child runs there and its output goes to
    `workdir/<name>.log`. Read it with `output()`, wait for a line with
    `wait_for_log()`, stop it with `terminate()` (SIGTERM, returns the exit
    code) or `kill9()`.
    """

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str],
        workdir: Path,
        name: str = "proc",
    ) -> None:
        self.args = args
        self.env = {**base_env(), **env}
        self.log_path = workdir / f"{name}.log"
        self.name = name
        # The child gets its own copy of the descriptor; ours can close at once.
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, str(RUN_PY), *args],
                cwd=workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    # -- state ------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """None while running, else the exit code (negative: killed by that signal)."""
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        """Everything the process wrote so far (stdout and stderr, interleaved)."""
        return self.log_path.read_bytes().decode("utf-8", "replace")

    def _describe(self, what: str) -> str:
        state = "running" if self.alive() else f"exited with {self.returncode}"
        return f"{what} ({self.name} pid {self.pid}, {state}); output:\n{self.output()}"

    # -- waiting ----------------------------------------------------------------

    def wait_for_log(self, substring: str, timeout: float = 10.0, *, since: int = 0) -> int:
        """Wait until `substring` appears in the output after offset `since`.

        Returns the offset just past the match, to chain waits for later lines
        (`since=proc.wait_for_log("first")`). Fails at once if the process
        exits without having written it.
        """

        def found() -> int:
            text = self.output()
            at = text.find(substring, since)
            if at >= 0:
                return at + len(substring)
            if not self.alive():
                # One last read: the line may have landed just before the exit.
                at = self.output().find(substring, since)
                if at >= 0:
                    return at + len(substring)
                raise AssertionError(self._describe(f"process exited before logging {substring!r}"))
            return 0

        return wait_until(found, timeout, message=lambda: self._describe(repr(substring)))

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the process to exit by itself; kill it and fail after `timeout` s."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(self._describe(f"did not exit within {timeout:g}s")) from None

    # -- stopping ---------------------------------------------------------------

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, then wait; returns the exit code. Kills and fails after `timeout` s."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(
                self._describe(f"ignored SIGTERM for {timeout:g}s and was killed")
            ) from None

    def kill9(self) -> int:
        """SIGKILL (no cleanup runs in the child), then reap; returns the exit code."""
        if self.alive():
            self.popen.kill()
        return self.popen.wait()

    def cleanup(self) -> None:
        """Kill the process if it still runs and reap it. Idempotent."""
        if self.alive():
            self.popen.kill()
        self.popen.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()
