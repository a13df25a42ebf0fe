"""The open tail: the newest snapshots, one appended frame each. Pure.

    frame   = b"HXT1" | u32 payload_len | u32 crc32 | i64 ms | i64 size | i64 mtime_ns | payload
    payload = raw deflate of orjson {"schema", "prev", "rows", "gone", "dups"}

(ms, size, mtime_ns: the snapshot's time and its file's stamp; the crc32
covers them and the payload.)
A frame is written by one `write` at the end of the file and is checked whole
(length and checksum) before anything in it is believed: a reader that meets
a frame still being appended, or one torn by `kill -9`, stops there, and the
writer's repair cuts it off. `prev` is null in a full frame (every row); in a
delta frame it is the previous frame's time and `rows` holds only rows that
changed (3 in 4 do not, every 30 s), `gone` the symbols that left. A delta
whose `prev` is not the frame before it breaks the chain, and is not believed.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from storage.history._parse import Record, Row, record_from_rows
from storage.history._segment import IndexFileError

__all__ = ["Delta", "Frame", "decode_payload", "encode_frame", "replay", "scan"]

MAGIC = b"HXT1"
FRAME = struct.Struct("<4sIIqqq")
_STAMP = struct.Struct("<qqq")
_LEVEL = 1  # appended every 30 s; sealed segments are where bytes are saved
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
    now = record.rows()
    if prev is None:
        rows = [(s, *row) for s, row in now.items()]
        gone: list[str] = []
    else:
        before = prev.rows()
        rows = [(s, *row) for s, row in now.items() if before.get(s) != row]
        gone = [s for s in before if s not in now]
    doc = {
        "schema": record.schema,
        "prev": None if prev is None else prev.ms,
        "rows": rows,
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


def _row(value: Any) -> tuple[str, Row]:
    if not (type(value) is list and len(value) == 7 and all(type(v) is str for v in value)):
        raise ValueError("row is malformed")
    return value[0], tuple(value[1:])


def decode_payload(frame: Frame) -> Delta:
    """A checked frame's payload; IndexFileError if it does not decode as one."""
    try:
        doc = orjson.loads(zlib.decompress(frame.payload, wbits=-15))
        prev, schema = doc["prev"], doc["schema"]
        if type(schema) is not int or schema not in (1, 2):
            raise ValueError("schema is malformed")
        if prev is not None and type(prev) is not int:
            raise ValueError("prev is malformed")
        rows = [_row(v) for v in doc["rows"]]
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
