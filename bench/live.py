"""A stand-in for the quote consumer while the API is under load.

In production every venue writes a snapshot every 30 s, the API notices it
by the directory's mtime, and the consumer appends it to the history index.
A static store would hide what that costs the API, so during the HTTP rounds
this thread writes one snapshot per venue into every store each `interval`
seconds, through `SnapshotWriter` (atomic, fsynced, indexed), each venue's
random walk going on from its newest file (`store.Roller`). The stores roll
like production volumes: what is written stays, and the next
`ensure_store` carries on from it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType
from typing import Self

from store import Roller, Store, now_ms

__all__ = ["LiveWriter"]


class LiveWriter:
    def __init__(self, stores: list[Store], interval: float = 30.0) -> None:
        self.rollers = [Roller(s) for s in stores]
        self.interval = interval
        self.written: list[Path] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-writer", daemon=True)

    def _run(self) -> None:
        # One at once: a store brought up to date lands its last snapshot up to 30 s
        # before "now", and the latest must stay within QUOTES_MAX_AGE_SECONDS (60).
        while True:
            ms = now_ms()
            for roller in self.rollers:
                self.written.extend(roller.write(ms))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Self:
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
