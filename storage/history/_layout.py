"""A segment file's layout: a prefix, then the times part, the table part, the blobs. Pure.

    b"CCHXSEG2" | u32 times_len | u32 table_len | u32 blobs_len
                | u32 crc32(times) | u32 crc32(table) | times | table | blobs

`times` is zlib(orjson): each record's fetch time, file stamp (size, mtime_ns)
and schema. It is all a reader or the writer needs to know which snapshots a
segment holds, so a 7-day index (~170 segments) is listed in ~20 ms.

`table` is zlib of: u32 json_len | orjson | u32 lengths[m] | u32 crc32s[m].
The JSON holds the m entries, one per (symbol, base, quote) seen in the
segment; which entries some records lack, the distinct sets of those a record
has, and which set each record has; and, rarely, which entry wins a (base, quote) that two rows of
one snapshot share. Then each entry's blob length and checksum, little-endian
(blobs follow the table in entry order). It is read on a segment's first look-up.
"""

from __future__ import annotations

import functools
import itertools
import struct
import sys
import zlib
from array import array
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "PREFIX",
    "Codes",
    "IndexFileError",
    "Layout",
    "SegmentTable",
    "SegmentTimes",
    "decode_table",
    "decode_times",
    "pack",
]

MAGIC = b"CCHXSEG2"
PREFIX = struct.Struct("<8sIIIII")
_LEN = struct.Struct("<I")
_LEVEL = 1


class IndexFileError(Exception):
    """An index file that is truncated, damaged or not ours (internal: callers drop it)."""


@dataclass(frozen=True, slots=True)
class SegmentTimes:
    times: list[int]
    sizes: list[int]
    mtimes: list[int]
    schemas: list[int]


@dataclass(frozen=True, slots=True)
class Codes:
    """The entries' codes, and which entry has a (base, quote): shared by like segments."""

    bases: list[str]
    quotes: list[str]
    by_pair: dict[tuple[str, str], int]  # pairs one entry has
    shared: dict[tuple[str, str], tuple[int, ...]]  # pairs several entries have (rare)


@functools.lru_cache(maxsize=32)
def _codes(bases_text: str, quotes_text: str) -> Codes:
    # Consecutive segments mostly list the same symbols: one Codes for them all.
    bases, quotes = bases_text.split("\n"), quotes_text.split("\n")
    if len(bases) != len(quotes):
        raise ValueError("entry codes are malformed")
    pairs = list(zip(bases, quotes, strict=True))
    by_pair = dict(zip(pairs, range(len(pairs)), strict=True))
    shared: dict[tuple[str, str], tuple[int, ...]] = {}
    if len(by_pair) < len(pairs):
        groups: dict[tuple[str, str], list[int]] = {}
        for e, pair in enumerate(pairs):
            groups.setdefault(pair, []).append(e)
        shared = {pair: tuple(ids) for pair, ids in groups.items() if len(ids) > 1}
        by_pair = {pair: ids[0] for pair, ids in groups.items() if len(ids) == 1}
    return Codes(bases, quotes, by_pair, shared)


@dataclass(frozen=True, slots=True)
class SegmentTable:
    symbols: list[str]  # one per entry
    codes: Codes
    offsets: list[int]  # of each entry's blob, from the start of the file
    lengths: list[int]
    crcs: list[int]
    sets: list[frozenset[int]]
    presence: list[int]  # record -> index into sets
    dups: dict[tuple[int, str, str], int]  # (record, base, quote) -> entry

    def blob(self, e: int) -> tuple[int, int, int]:
        return self.offsets[e], self.lengths[e], self.crcs[e]

    @property
    def bases(self) -> list[str]:
        return self.codes.bases

    @property
    def quotes(self) -> list[str]:
        return self.codes.quotes


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the parts of a segment file are, from its prefix and size."""

    times: tuple[int, int, int]  # offset, length, crc32
    table: tuple[int, int, int]
    blobs: int  # offset of the first blob

    @classmethod
    def of(cls, prefix: bytes, file_size: int) -> Layout:
        if len(prefix) < PREFIX.size:
            raise IndexFileError("segment shorter than its prefix")
        magic, times_len, table_len, blobs_len, times_crc, table_crc = PREFIX.unpack_from(prefix)
        if magic != MAGIC or PREFIX.size + times_len + table_len + blobs_len != file_size:
            raise IndexFileError("segment truncated or not a segment")
        table_at = PREFIX.size + times_len
        return cls(
            (PREFIX.size, times_len, times_crc),
            (table_at, table_len, table_crc),
            table_at + table_len,
        )


def pack(times: dict[str, Any], table: dict[str, Any], blobs: list[bytes]) -> bytes:
    """The whole segment file."""
    numbers = array("I", [len(b) for b in blobs] + [zlib.crc32(b) for b in blobs])
    if sys.byteorder == "big":
        numbers.byteswap()
    doc = orjson.dumps(table)
    packed_table = zlib.compress(_LEN.pack(len(doc)) + doc + numbers.tobytes(), _LEVEL)
    packed_times = zlib.compress(orjson.dumps(times), _LEVEL)
    prefix = PREFIX.pack(
        MAGIC,
        len(packed_times),
        len(packed_table),
        sum(len(b) for b in blobs),
        zlib.crc32(packed_times),
        zlib.crc32(packed_table),
    )
    return b"".join([prefix, packed_times, packed_table, *blobs])


def _checked(raw: bytes, span: tuple[int, int, int], what: str) -> bytes:
    if len(raw) != span[1] or zlib.crc32(raw) != span[2]:
        raise IndexFileError(f"segment {what} fails its checksum")
    return zlib.decompress(raw)


def _list(value: Any, kind: type, n: int | None = None) -> list[Any]:
    """`value` if it is a list of `n` values of exactly `kind` (checked in C)."""
    if type(value) is not list or (n is not None and len(value) != n):
        raise ValueError("a column is malformed")
    if value and set(map(type, value)) != {kind}:
        raise ValueError("a column holds the wrong type")
    return value


_ERRORS = (zlib.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError, struct.error)


def decode_times(raw: bytes, layout: Layout) -> SegmentTimes:
    """The times part (its bytes as read); IndexFileError if damaged."""
    try:
        doc = orjson.loads(_checked(raw, layout.times, "times"))
        times = _list(doc["times"], int)
        n = len(times)
        if not n:
            raise ValueError("no records")
        return SegmentTimes(
            times,
            _list(doc["sizes"], int, n),
            _list(doc["mtimes"], int, n),
            _list(doc["schemas"], int, n),
        )
    except _ERRORS as exc:
        raise IndexFileError(f"segment times are malformed: {exc}") from None


def decode_table(raw: bytes, layout: Layout, n: int) -> SegmentTable:
    """The table part (its bytes as read) of a segment of `n` records; IndexFileError if damaged."""
    try:
        data = _checked(raw, layout.table, "table")
        (text_len,) = _LEN.unpack_from(data)
        doc = orjson.loads(data[_LEN.size : _LEN.size + text_len])
        numbers = array("I", data[_LEN.size + text_len :])
        if sys.byteorder == "big":
            numbers.byteswap()
        return _table(doc, numbers.tolist(), n, layout.blobs)
    except _ERRORS as exc:
        raise IndexFileError(f"segment table is malformed: {exc}") from None


def _table(doc: Any, numbers: list[int], n: int, blob_start: int) -> SegmentTable:
    symbols = _list(doc["symbols"], str)
    m = len(symbols)
    if len(numbers) != 2 * m:
        raise ValueError("entry lengths or checksums are missing")
    lengths, crcs = numbers[:m], numbers[m:]
    offsets = list(itertools.accumulate(lengths, initial=blob_start))[:-1]
    if type(doc["bases"]) is not str or type(doc["quotes"]) is not str:
        raise ValueError("entry codes are malformed")
    codes = _codes(doc["bases"], doc["quotes"])
    if len(codes.bases) != m:
        raise ValueError("entry codes are malformed")
    partial = frozenset(_list(doc["partial"], int))
    whole = frozenset(range(m)) - partial
    sets = [whole | frozenset(_list(ids, int)) for ids in _list(doc["sets"], list)]
    if any(ids and not (min(ids) >= 0 and max(ids) < m) for ids in sets):
        raise ValueError("a set names an unknown entry")
    presence = _list(doc["presence"], int, n)
    if min(presence) < 0 or max(presence) >= len(sets):
        raise ValueError("a record names an unknown set")
    dups = {}
    for i, base, quote, e in _list(doc["dups"], list):
        if not (type(i) is int and type(base) is str and type(quote) is str and 0 <= e < m):
            raise ValueError("dups are malformed")
        dups[(i, base, quote)] = e
    return SegmentTable(symbols, codes, offsets, lengths, crcs, sets, presence, dups)
