"""The open tail: the newest snapshots, one appended frame each. Pure.

    frame   = b"HXT1" | u32 payload_len | u32 crc32 | i64 ms | i64 size | i64 mtime_ns | payload
    payload = raw deflate of orjson {"schema", "prev", "symbols", "columns", "gone", "dups"}

(ms, size, mtime_ns: the snapshot's time and its file's stamp; the crc32
covers them and the payload.)
A frame is written by one `write` at the end of the file and is checked whole
(length and checksum) before anything in it is believed: a reader that meets
a frame still being appended, or one torn by `kill -9`, stops there, and the
writer's repair cuts it off. `prev` is null in a full frame (every row); in a
delta frame it is the previous frame's time and the rows (`symbols`, and six
`columns` of "\n"-joined strings) are only those that changed (3 in 4 do
not, every 30 s), `gone` the symbols that left. A delta
whose `prev` is not the frame before it breaks the chain, and is not believed.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from storage.history._layout import IndexFileError
from storage.history._parse import Record, Row, record_from_rows

__all__ = ["Delta", "Frame", "decode_payload", "encode_frame", "replay", "scan"]

MAGIC = b"HXT1"
FRAME = struct.Struct("<4sIIqqq")
_STAMP = struct.Struct("<qqq")
_LEVEL = 6  # a full frame is ~25 % of its file at level 6, ~35 % at level 1
_MAX_PAYLOAD = 1 << 26


@dataclass(frozen=True, slots=True)
class Frame:
    """A whole frame whose checksum holds; the payload is not decoded yet."""

    ms: int
    size: int
    mtime_ns: int
    payload: bytes

    @property
    def stamp(self) -> tuple[int, int]:
        return self.size, self.mtime_ns


@dataclass(frozen=True, slots=True)
class Delta:
    """One frame, decoded: a full record (`prev` None) or the changes since `prev`."""

    ms: int
    size: int
    mtime_ns: int
    schema: int
    prev: int | None
    rows: list[tuple[str, Row]]
    gone: list[str]
    dups: dict[tuple[str, str], str]


def encode_frame(record: Record, prev: Record | None) -> bytes:
    """A full frame, or (given the record before it in this tail) a delta frame."""
    if prev is None:
        symbols, columns = list(record.symbols), list(record.columns)
        gone: list[str] = []
    else:
        now, before = record.rows(), prev.rows()
        changed = [(s, row) for s, row in now.items() if before.get(s) != row]
        symbols = [s for s, _ in changed]
        columns = list(zip(*(row for _, row in changed), strict=True)) or [()] * 6
        gone = [s for s in before if s not in now]
    doc = {
        "schema": record.schema,
        "prev": None if prev is None else prev.ms,
        "symbols": symbols,
        # Column by column (deflate does best on like values side by side);
        # no value holds a newline (they are codes and plain decimals).
        "columns": ["\n".join(column) for column in columns],
        "gone": gone,
        "dups": [[b, q, s] for (b, q), s in record.dups().items()],
    }
    payload = zlib.compress(orjson.dumps(doc), _LEVEL, wbits=-15)
    stamp = (record.ms, record.size, record.mtime_ns)
    crc = zlib.crc32(payload, zlib.crc32(_STAMP.pack(*stamp)))
    return FRAME.pack(MAGIC, len(payload), crc, *stamp) + payload


def scan(data: bytes, start: int = 0) -> tuple[list[Frame], int]:
    """Whole, checked frames from `start`, and the offset after the last one.

    Stops at the first frame that is incomplete (being appended, or torn) or
    fails its checks; the offset says where, and everything after it is ignored.
    """
    frames = []
    at, end = start, len(data)
    while at + FRAME.size <= end:
        magic, length, crc, ms, size, mtime_ns = FRAME.unpack_from(data, at)
        stop = at + FRAME.size + length
        if magic != MAGIC or length > _MAX_PAYLOAD or stop > end:
            break
        payload = data[at + FRAME.size : stop]
        if zlib.crc32(payload, zlib.crc32(_STAMP.pack(ms, size, mtime_ns))) != crc:
            break
        frames.append(Frame(ms, size, mtime_ns, payload))
        at = stop
    return frames, at


def _rows(symbols: Any, columns: Any) -> list[tuple[str, Row]]:
    if type(symbols) is not list or type(columns) is not list or len(columns) != 6:
        raise ValueError("rows are malformed")
    if not symbols:
        return []
    if set(map(type, symbols)) != {str} or set(map(type, columns)) != {str}:
        raise ValueError("rows are malformed")
    split = [column.split("\n") for column in columns]
    return list(zip(symbols, zip(*split, strict=True), strict=True))


def decode_payload(frame: Frame) -> Delta:
    """A checked frame's payload; IndexFileError if it does not decode as one."""
    try:
        doc = orjson.loads(zlib.decompress(frame.payload, wbits=-15))
        prev, schema = doc["prev"], doc["schema"]
        if type(schema) is not int or schema not in (1, 2):
            raise ValueError("schema is malformed")
        if prev is not None and type(prev) is not int:
            raise ValueError("prev is malformed")
        rows = _rows(doc["symbols"], doc["columns"])
        gone = doc["gone"]
        if not all(type(s) is str for s in gone):
            raise ValueError("gone is malformed")
        dups = {}
        for b, q, s in doc["dups"]:
            if not (type(b) is str and type(q) is str and type(s) is str):
                raise ValueError("dups are malformed")
            dups[(b, q)] = s
    except (zlib.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise IndexFileError(f"tail frame at {frame.ms} is malformed: {exc}") from None
    return Delta(frame.ms, frame.size, frame.mtime_ns, schema, prev, rows, gone, dups)


def replay(deltas: Iterable[Delta]) -> list[Record]:
    """Full records from a tail's frames in file order; stops where a delta's chain breaks."""
    records: list[Record] = []
    state: dict[str, Row] = {}
    for delta in deltas:
        if delta.prev is None:
            state = dict(delta.rows)
        elif records and records[-1].ms == delta.prev:
            state = dict(state)
            state.update(delta.rows)
            for symbol in delta.gone:
                state.pop(symbol, None)
        else:
            break
        if not state:
            break
        stamp = (delta.size, delta.mtime_ns)
        records.append(record_from_rows(delta.ms, stamp, delta.schema, state, delta.dups))
    return records
