"""`python run.py snapshots`: list and show the snapshot files, for people."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

import orjson

from storage.codec import decode, ms_from_filename
from storage.errors import CorruptSnapshotError
from storage.model import format_iso_ms

__all__ = ["list_snapshots", "show_snapshot"]


def _files(directory: Path) -> list[tuple[int, os.DirEntry[str]]]:
    try:
        with os.scandir(directory) as entries:
            found = [(ms_from_filename(e.name), e) for e in entries]
    except FileNotFoundError:
        return []
    return sorted((ms, e) for ms, e in found if ms is not None)


def list_snapshots(directory: Path, out: TextIO, limit: int | None = 20) -> int:
    """Print the newest `limit` snapshots (all when None): name, bytes, quoted_at."""
    files = _files(directory)
    if not files:
        out.write(f"no snapshots in {directory}\n")
        return 1
    shown = files if limit is None else files[-limit:]
    total = sum(e.stat().st_size for _, e in files)
    out.write(f"{len(files)} snapshot(s) in {directory}, {total:,} bytes in all\n")
    if len(shown) < len(files):
        out.write(f"(newest {len(shown)}; --all for every one)\n")
    for ms, entry in shown:
        out.write(f"{entry.name}  {entry.stat().st_size:>9,} B  quoted_at {format_iso_ms(ms)}\n")
    return 0


def show_snapshot(directory: Path, name: str, out: TextIO, symbol: str | None = None) -> int:
    """Pretty-print one snapshot (`latest` or a file name), optionally one symbol."""
    files = _files(directory)
    if name == "latest":
        if not files:
            out.write(f"no snapshots in {directory}\n")
            return 1
        ms, entry = files[-1]
        path = Path(entry.path)
    else:
        path = directory / Path(name).name
        found = ms_from_filename(path.name)
        if found is None or not path.is_file():
            out.write(f"no snapshot named {name!r} in {directory}\n")
            return 1
        ms = found
    data = path.read_bytes()
    try:
        snapshot = decode(data, ms)
    except CorruptSnapshotError as exc:
        out.write(f"{path.name} is corrupt: {exc}\n")
        return 1
    doc = orjson.loads(data)
    if symbol is not None:
        doc["symbols"] = {k: v for k, v in doc["symbols"].items() if k == symbol.upper()}
    out.write(f"# {path.name}: {len(data):,} bytes, {len(snapshot.quotes)} symbols\n")
    out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
