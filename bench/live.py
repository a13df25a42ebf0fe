"""A stand-in for the quote consumer while the API is under load.

In production a snapshot appears every 30 s, and the API notices it by the
directory's mtime. A static store would hide what that costs the API, so
during the HTTP rounds this thread writes a snapshot into every store each
`interval` seconds with the consumer's own `SnapshotWriter.write` (atomic,
fsynced). The files it wrote are deleted when it stops, so the cached stores
keep their size.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

from store import EXCHANGE, Store, fixture_quotes, now_ms

from storage.model import Snapshot
from storage.writer import SnapshotWriter

__all__ = ["LiveWriter"]


class LiveWriter:
    def __init__(self, stores: list[Store], interval: float = 30.0) -> None:
        self.writers = [SnapshotWriter(s.data_dir, EXCHANGE) for s in stores]
        self.interval = interval
        self.quotes = fixture_quotes()
        self.written: list[Path] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-writer", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            snapshot = Snapshot(EXCHANGE, now_ms(), self.quotes)
            for writer in self.writers:
                self.written.append(writer.write(snapshot))

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
        for path in self.written:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
