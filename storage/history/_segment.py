"""Sealed segments: up to ~120 snapshots of one venue, column by column. Pure.

    b"CCHXSEG1" | u32 header_len | u32 blobs_len | u32 crc32(header) | header | blobs

`header` is zlib of: u32 json_len | orjson | u32 lengths[m] | u32 crc32s[m].
The JSON holds the records' times, file stamps (size, mtime_ns) and schemas;
the m entries, one per (symbol, base, quote) seen in the segment; the distinct
sets of entries present in a record and which set each record has; and,
rarely, which entry wins a (base, quote) that two rows of one snapshot share.
Then each entry's blob length and checksum, little-endian (blobs follow the
header in entry order).

One blob per entry: raw deflate of four columns (bid, ask, bid_qty, ask_qty),
one line per record, the snapshot's own strings, "" where the entry is absent
or a size is null. Prices only hold `[0-9.]`, so "\\n" and "|" cannot occur in
them. Strings rather than scaled integers: nothing can lose a digit, and
deflate over a column of mostly repeated strings costs ~1 byte a value.
A look-up inflates one entry's blob (~1 KB); a 7-day series, one per segment.
"""

from __future__ import annotations

import itertools
import struct
import sys
import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import orjson

from storage.history._parse import NO_ROW, Record, Row, record_from_rows

__all__ = [
    "PREFIX",
    "Columns",
    "IndexFileError",
    "SegmentHeader",
    "decode_blob",
    "decode_header",
    "decode_records",
    "encode_segment",
    "header_span",
]

MAGIC = b"CCHXSEG1"
PREFIX = struct.Struct("<8sIII")
_LEN = struct.Struct("<I")
# Deflate level 1: level 6 is ~15 % smaller but twice as slow, and a rebuild of
# 7 days must take < 60 s on 2 shared cores (bench/history.py).
_LEVEL = 1
_SEP = "|"

Columns = tuple[list[str], list[str], list[str], list[str]]  # bid, ask, bid_qty, ask_qty
Pair = tuple[str, str]
Values = list[tuple[str, ...]]  # bid, ask, bid_qty, ask_qty over the records


class IndexFileError(Exception):
    """An index file that is truncated, damaged or not ours (internal: callers drop it)."""


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    times: list[int]
    sizes: list[int]
    mtimes: list[int]
    schemas: list[int]
    symbols: list[str]  # one per entry
    bases: list[str]
    quotes: list[str]
    offsets: list[int]  # of each entry's blob, from the start of the file
    lengths: list[int]
    crcs: list[int]
    sets: list[frozenset[int]]
    presence: list[int]  # record -> index into sets
    dups: dict[tuple[int, str, str], int]  # (record, base, quote) -> entry

    def blob(self, e: int) -> tuple[int, int, int]:
        return self.offsets[e], self.lengths[e], self.crcs[e]


def _symbol_columns(records: list[Record]) -> Iterator[tuple[str, Pair, Values]]:
    """Each symbol of the segment: its four value columns for each (base, quote) it had.

    A value column holds one string per record, "" where the symbol is absent
    (or had other codes: a venue may re-code a symbol, rarely).
    """
    first = records[0]
    if all(r.symbols == first.symbols for r in records):
        # The usual case, the venue's symbol list unchanged: transpose in C.
        fields = [list(zip(*(r.columns[f] for r in records), strict=True)) for f in range(2, 6)]
        if all(r.columns[:2] == first.columns[:2] for r in records):  # no symbol re-coded
            named = zip(first.symbols, first.columns[0], first.columns[1], strict=True)
            for j, (symbol, base, quote) in enumerate(named):
                yield symbol, (base, quote), [field[j] for field in fields]
            return
        codes = [list(zip(*(r.columns[f] for r in records), strict=True)) for f in range(2)]
        for j, symbol in enumerate(first.symbols):
            yield from _by_pair_of(symbol, codes[0][j], codes[1][j], [f[j] for f in fields])
        return
    rowmaps = [r.rows() for r in records]
    order: dict[str, Row] = {}
    for rows in rowmaps:
        order.update(rows)  # first-appearance order; only the keys are used
    for symbol in order:
        bases, quotes, *values = zip(*[rows.get(symbol, NO_ROW) for rows in rowmaps], strict=True)
        yield from _by_pair_of(symbol, bases, quotes, values)


def _by_pair_of(
    symbol: str, bases: tuple[str, ...], quotes: tuple[str, ...], values: Values
) -> Iterator[tuple[str, Pair, Values]]:
    base_set, quote_set = set(bases), set(quotes)
    base_set.discard("")
    quote_set.discard("")
    if len(base_set) == 1 and len(quote_set) == 1:
        yield symbol, (base_set.pop(), quote_set.pop()), values
        return
    codes = list(zip(bases, quotes, strict=True))
    for pair in dict.fromkeys(code for code in codes if code != ("", "")):
        keep = [code == pair for code in codes]
        masked = [tuple(v if k else "" for v, k in zip(c, keep, strict=True)) for c in values]
        yield symbol, pair, masked


def encode_segment(records: Sequence[Record]) -> bytes:
    """Records (distinct times) -> segment bytes, in time order."""
    records = sorted(records, key=attrgetter("ms"))
    if not records:
        raise ValueError("a segment needs at least one record")
    n = len(records)
    entries: list[tuple[str, str, str]] = []
    blobs: list[bytes] = []
    partial: dict[int, frozenset[int]] = {}  # entry -> the records it is in, if not all
    for symbol, (base, quote), values in _symbol_columns(records):
        if "" in values[0]:
            partial[len(entries)] = frozenset(i for i, bid in enumerate(values[0]) if bid)
        entries.append((symbol, base, quote))
        text = _SEP.join("\n".join(column) for column in values)
        blobs.append(zlib.compress(text.encode("ascii"), _LEVEL, wbits=-15))
    whole = [e for e in range(len(entries)) if e not in partial]
    set_ids: dict[tuple[int, ...], int] = {}
    presence = []
    for i in range(n):
        extra = tuple(e for e, records_in in partial.items() if i in records_in)
        presence.append(set_ids.setdefault(extra, len(set_ids)))
    entry_ids = {entry: e for e, entry in enumerate(entries)}
    shared = {pair for pair, ids in _by_pair(entries).items() if len(ids) > 1}
    dups = [
        [i, base, quote, entry_ids[(symbol, base, quote)]]
        for i, record in enumerate(records)
        if shared
        for (base, quote), symbol in record.dups().items()
    ]
    lengths = [len(blob) for blob in blobs]
    header = {
        "v": 1,
        "times": [r.ms for r in records],
        "sizes": [r.size for r in records],
        "mtimes": [r.mtime_ns for r in records],
        "schemas": [r.schema for r in records],
        "symbols": [e[0] for e in entries],
        # Codes are [A-Z0-9]: one string each, split in C by the reader.
        "bases": "\n".join(e[1] for e in entries),
        "quotes": "\n".join(e[2] for e in entries),
        "sets": [sorted([*whole, *extra]) for extra in set_ids],
        "presence": presence,
        "dups": dups,
    }
    numbers = array("I", lengths + [zlib.crc32(blob) for blob in blobs])
    if sys.byteorder == "big":
        numbers.byteswap()
    doc = orjson.dumps(header)
    packed = zlib.compress(_LEN.pack(len(doc)) + doc + numbers.tobytes(), _LEVEL)
    prefix = PREFIX.pack(MAGIC, len(packed), sum(lengths), zlib.crc32(packed))
    return b"".join([prefix, packed, *blobs])


def _by_pair(entries: list[tuple[str, str, str]]) -> dict[tuple[str, str], list[int]]:
    by_pair: dict[tuple[str, str], list[int]] = {}
    for e, (_, base, quote) in enumerate(entries):
        by_pair.setdefault((base, quote), []).append(e)
    return by_pair


def header_span(prefix: bytes, file_size: int) -> int:
    """How many bytes from the start hold the header, checked against the file's size."""
    if len(prefix) < PREFIX.size:
        raise IndexFileError("segment shorter than its prefix")
    magic, header_len, blobs_len, _ = PREFIX.unpack_from(prefix)
    if magic != MAGIC or PREFIX.size + header_len + blobs_len != file_size:
        raise IndexFileError("segment truncated or not a segment")
    return int(PREFIX.size + header_len)


def decode_header(head: bytes) -> SegmentHeader:
    """The header from the file's first `header_span` bytes; IndexFileError if damaged."""
    _, header_len, _, crc = PREFIX.unpack_from(head)
    packed = head[PREFIX.size : PREFIX.size + header_len]
    if len(packed) != header_len or zlib.crc32(packed) != crc:
        raise IndexFileError("segment header fails its checksum")
    try:
        raw = zlib.decompress(packed)
        (text_len,) = _LEN.unpack_from(raw)
        doc = orjson.loads(raw[_LEN.size : _LEN.size + text_len])
        numbers = array("I", raw[_LEN.size + text_len :])
        if sys.byteorder == "big":
            numbers.byteswap()
        return _header(doc, numbers.tolist(), PREFIX.size + header_len)
    except (zlib.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise IndexFileError(f"segment header is malformed: {exc}") from None


def _list(value: Any, kind: type, n: int | None = None) -> list[Any]:
    """`value` if it is a list of `n` values of exactly `kind` (checked in C)."""
    if type(value) is not list or (n is not None and len(value) != n):
        raise ValueError("a column is malformed")
    if value and set(map(type, value)) != {kind}:
        raise ValueError("a column holds the wrong type")
    return value


def _header(doc: Any, numbers: list[int], blob_start: int) -> SegmentHeader:
    if doc["v"] != 1:
        raise ValueError("unknown segment version")
    times = _list(doc["times"], int)
    n = len(times)
    if not n:
        raise ValueError("no records")
    symbols = _list(doc["symbols"], str)
    m = len(symbols)
    if len(numbers) != 2 * m:
        raise ValueError("entry lengths or checksums are missing")
    lengths, crcs = numbers[:m], numbers[m:]
    offsets = list(itertools.accumulate(lengths, initial=blob_start))[:-1]
    bases, quotes = doc["bases"].split("\n"), doc["quotes"].split("\n")
    if len(bases) != m or len(quotes) != m:
        raise ValueError("entry codes are malformed")
    sets = [frozenset(_list(ids, int)) for ids in _list(doc["sets"], list)]
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
    return SegmentHeader(
        times=times,
        sizes=_list(doc["sizes"], int, n),
        mtimes=_list(doc["mtimes"], int, n),
        schemas=_list(doc["schemas"], int, n),
        symbols=symbols,
        bases=bases,
        quotes=quotes,
        offsets=offsets,
        lengths=lengths,
        crcs=crcs,
        sets=sets,
        presence=presence,
        dups=dups,
    )


def decode_blob(blob: bytes, crc: int, n: int) -> Columns:
    """One entry's four columns of `n` strings; IndexFileError if damaged."""
    if zlib.crc32(blob) != crc:
        raise IndexFileError("entry fails its checksum")
    try:
        parts = zlib.decompress(blob, wbits=-15).decode("ascii").split(_SEP)
    except (zlib.error, UnicodeDecodeError):
        raise IndexFileError("entry does not inflate") from None
    if len(parts) != 4:
        raise IndexFileError("entry is malformed")
    bids, asks, bid_qtys, ask_qtys = (part.split("\n") for part in parts)
    if not len(bids) == len(asks) == len(bid_qtys) == len(ask_qtys) == n:
        raise IndexFileError("entry has the wrong number of records")
    return bids, asks, bid_qtys, ask_qtys


def decode_records(data: bytes) -> list[Record]:
    """A whole segment file back to records (to rewrite it); IndexFileError if damaged."""
    header = decode_header(data[: header_span(data[: PREFIX.size], len(data))])
    n = len(header.times)
    columns = []
    for e in range(len(header.symbols)):
        offset, length, crc = header.blob(e)
        columns.append(decode_blob(data[offset : offset + length], crc, n))
    records = []
    for i, ms in enumerate(header.times):
        rows: dict[str, Row] = {}
        for e in sorted(header.sets[header.presence[i]]):
            symbol, base, quote = header.symbols[e], header.bases[e], header.quotes[e]
            bid, ask, bid_qty, ask_qty = (col[i] for col in columns[e])
            if not (bid and ask):
                raise IndexFileError("a present entry has no price")
            rows[symbol] = (base, quote, bid, ask, bid_qty, ask_qty)
        dups = {(b, q): header.symbols[e] for (k, b, q), e in header.dups.items() if k == i}
        stamp = (header.sizes[i], header.mtimes[i])
        records.append(record_from_rows(ms, stamp, header.schemas[i], rows, dups))
    return records
