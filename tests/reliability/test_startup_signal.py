"""A SIGTERM that arrives while the API is still starting stops it cleanly (exit 0)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.procs import Proc, free_port
from tests.reliability.conftest import api_env, now_ms, write_snapshot

pytestmark = pytest.mark.e2e


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.05)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("attempt", range(3))
def test_sigterm_right_after_the_port_opens_exits_cleanly(tmp_path: Path, attempt: int) -> None:
    """Sanic listens before it installs its handlers; a SIGTERM then still exits 0."""
    data_dir = tmp_path / "data"
    write_snapshot(data_dir, now_ms())
    port = free_port()
    with Proc("api", env=api_env(data_dir, port), workdir=tmp_path, name="api") as proc:
        deadline = time.monotonic() + 15
        while not _port_open(port):
            assert proc.alive, proc.output()
            assert time.monotonic() < deadline, proc.output()
            time.sleep(0.002)
        assert proc.terminate() == 0, proc.output()
