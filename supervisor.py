"""`python run.py all`: the two processes as children of one, for local use.

Docker compose runs them as two services; without Docker this gives the same
two processes from one command. SIGTERM/SIGINT are passed to both children;
if either exits, the other is stopped and its exit code is returned.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from types import FrameType

__all__ = ["supervise"]

log = logging.getLogger("supervisor")

CHILDREN = ("quote-consumer", "api")


def supervise(command: list[str], grace: float = 10.0) -> int:
    children = {name: subprocess.Popen([*command, name]) for name in CHILDREN}
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    log.info("started %s", ", ".join(f"{n} (pid {c.pid})" for n, c in children.items()))
    code = 0
    while all(c.poll() is None for c in children.values()):
        time.sleep(0.2)
    for name, child in children.items():
        if child.poll() is not None and not stopping:
            log.error("%s exited with %s; stopping the other process", name, child.returncode)
            code = child.returncode or 1
    deadline = time.monotonic() + grace
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return code
