"""Sealed segments: up to ~120 snapshots of one venue, column by column. Pure.

The file's layout (prefix, times, table, blobs) is in `_layout.py`. One blob
per entry, i.e. per (symbol, base, quote) seen in the segment: raw deflate of
four columns (bid, ask, bid_qty, ask_qty), one line per record, the
snapshot's own strings, "" where the entry is absent or a size is null.
Prices only hold `[0-9.]`, so "\\n" and "|" cannot occur in them. Strings
rather than scaled integers: nothing can lose a digit, and deflate over a
column of mostly repeated strings costs ~1 byte a value. A look-up inflates
one entry's blob (~1 KB); a 7-day series, one per segment.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from operator import attrgetter

from storage.history._layout import IndexFileError, Layout, decode_table, decode_times, pack
from storage.history._parse import NO_ROW, Record, Row, record_from_rows

__all__ = ["Columns", "decode_blob", "decode_records", "encode_segment"]

# Deflate level 1: level 6 is ~15 % smaller but twice as slow, and a rebuild of
# 7 days must take < 60 s on 2 shared cores (bench/history.py).
_LEVEL = 1
_SEP = "|"

Columns = tuple[list[str], list[str], list[str], list[str]]  # bid, ask, bid_qty, ask_qty
Pair = tuple[str, str]
Values = list[tuple[str, ...]]  # bid, ask, bid_qty, ask_qty over the records


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
    times = {
        "times": [r.ms for r in records],
        "sizes": [r.size for r in records],
        "mtimes": [r.mtime_ns for r in records],
        "schemas": [r.schema for r in records],
    }
    table = {
        "symbols": [e[0] for e in entries],
        # Codes are [A-Z0-9]: one string each, split in C by the reader.
        "bases": "\n".join(e[1] for e in entries),
        "quotes": "\n".join(e[2] for e in entries),
        # Entries in some records only, and for each distinct set of records'
        # rows, which of those it has (the others are in every record).
        "partial": sorted(partial),
        "sets": [list(extra) for extra in set_ids],
        "presence": presence,
        "dups": dups,
    }
    return pack(times, table, blobs)


def _by_pair(entries: list[tuple[str, str, str]]) -> dict[tuple[str, str], list[int]]:
    by_pair: dict[tuple[str, str], list[int]] = {}
    for e, (_, base, quote) in enumerate(entries):
        by_pair.setdefault((base, quote), []).append(e)
    return by_pair


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
    layout = Layout.of(data, len(data))
    times = decode_times(data[layout.times[0] : layout.times[0] + layout.times[1]], layout)
    n = len(times.times)
    table = decode_table(data[layout.table[0] : layout.table[0] + layout.table[1]], layout, n)
    columns = []
    for e in range(len(table.symbols)):
        offset, length, crc = table.blob(e)
        columns.append(decode_blob(data[offset : offset + length], crc, n))
    records = []
    for i, ms in enumerate(times.times):
        rows: dict[str, Row] = {}
        for e in sorted(table.sets[table.presence[i]]):
            symbol, base, quote = table.symbols[e], table.bases[e], table.quotes[e]
            bid, ask, bid_qty, ask_qty = (col[i] for col in columns[e])
            if not (bid and ask):
                raise IndexFileError("a present entry has no price")
            rows[symbol] = (base, quote, bid, ask, bid_qty, ask_qty)
        dups = {(b, q): table.symbols[e] for (k, b, q), e in table.dups.items() if k == i}
        stamp = (times.sizes[i], times.mtimes[i])
        records.append(record_from_rows(ms, stamp, times.schemas[i], rows, dups))
    return records
