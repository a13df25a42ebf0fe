"""The index's encodings, pure: parsing agrees with `codec.decode`, round trips are exact."""

from __future__ import annotations

import random
from decimal import Decimal

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.codec import decode
from storage.errors import CorruptSnapshotError
from storage.history._parse import Record, parse_snapshot
from storage.history._segment import decode_records, encode_segment
from storage.history._tail import decode_payload, encode_frame, replay, scan
from storage.model import Quote, format_iso_ms

MS = 1_795_304_160_123
DIGITS = "0123456789"

codes = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=20)
plain = st.builds(
    lambda i, f: i + ("." + f if f else ""),
    st.text(alphabet=DIGITS, min_size=1, max_size=30),
    st.text(alphabet=DIGITS, min_size=0, max_size=30),
)
prices = plain.filter(lambda s: s.strip("0.") != "")
sizes = st.one_of(st.none(), plain)


@st.composite
def rows(draw: st.DrawFn, schema: int) -> list[object]:
    row: list[object] = [draw(codes), draw(codes), draw(prices), draw(prices)]
    if schema == 2:
        row += [draw(sizes), draw(sizes)]
    return row


@st.composite
def documents(draw: st.DrawFn) -> dict[str, object]:
    """Valid snapshot documents of either schema, symbols any JSON string."""
    schema = draw(st.sampled_from([1, 2]))
    names = draw(st.lists(st.text(max_size=10), min_size=1, max_size=8, unique=True))
    return {
        "schema": schema,
        "exchange": draw(st.text(max_size=8)),
        "fetched_at": format_iso_ms(MS),
        "fields": ["base", "quote", "bid", "ask", "bid_qty", "ask_qty"][: 2 * schema + 2],
        "symbols": {name: draw(rows(schema)) for name in names},
    }


# Values decode refuses, or that only look like what it accepts.
BAD_VALUES: list[object] = [
    "",
    "1e5",
    "1E-8",
    "-1",
    "+1",
    " 1",
    "1 ",
    "1.",
    ".5",
    "1..2",
    "1.2.3",
    "0",
    "0.000",
    "00.0",
    "1" * 31,
    "1." + "1" * 31,
    "1\n2",
    "1\n",
    "\n1",
    "١٢",
    "1_0",
    "Infinity",
    "NaN",
    5,
    1.5,
    None,
    True,
    [],
    {},
    "btc",
    "BT-C",
    "A" * 21,
    "ÄB",
    "\t",
]


def quotes_of(record: Record) -> dict[str, Quote]:
    def dec(text: str) -> Decimal | None:
        return Decimal(text) if text else None

    return {
        s: Quote(s, b, q, Decimal(bid), Decimal(ask), dec(bq), dec(aq))
        for s, (b, q, bid, ask, bq, aq) in record.rows().items()
    }


def check_same(data: bytes, previous: Record | None = None) -> None:
    """parse_snapshot accepts exactly what decode accepts, with identical values."""
    record = parse_snapshot(data, MS, len(data), 7, previous)
    try:
        snapshot = decode(data, MS)
    except CorruptSnapshotError:
        assert record is None
        return
    assert record is not None
    got = quotes_of(record)
    assert got == dict(snapshot.quotes)
    for symbol, quote in snapshot.quotes.items():
        mine = got[symbol]
        assert [str(v) for v in (mine.bid, mine.ask, mine.bid_qty, mine.ask_qty)] == [
            str(v) for v in (quote.bid, quote.ask, quote.bid_qty, quote.ask_qty)
        ]
    assert list(record.symbols) == list(snapshot.quotes)


@settings(max_examples=300, deadline=None)
@given(documents())
def test_valid_documents_parse_as_decode_reads_them(doc: dict[str, object]) -> None:
    """Every valid document is indexed with decode's exact values (digits, exponent, sizes)."""
    check_same(orjson.dumps(doc))


@settings(max_examples=400, deadline=None)
@given(documents(), st.integers(0, 10_000), st.sampled_from(BAD_VALUES))
def test_damaged_values_are_refused_as_decode_refuses_them(
    doc: dict[str, object], where: int, bad: object
) -> None:
    """One value replaced by something odd: indexed iff decode accepts the file."""
    rows_ = list(doc["symbols"].values())  # type: ignore[attr-defined]
    row = rows_[where % len(rows_)]
    row[where % len(row)] = bad
    check_same(orjson.dumps(doc))


@settings(max_examples=400, deadline=None)
@given(documents(), st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(BAD_VALUES))))
def test_after_a_valid_snapshot_only_new_values_are_checked_and_all_count(
    doc: dict[str, object], changes: list[tuple[int, object]]
) -> None:
    """Parsed after the snapshot before it (as a rebuild does): same verdicts as decode."""
    before = parse_snapshot(orjson.dumps(doc), MS, 1, 1)
    assert before is not None
    rows_ = list(doc["symbols"].values())  # type: ignore[attr-defined]
    for where, bad in changes:
        row = rows_[where % len(rows_)]
        row[where % len(row)] = bad
    check_same(orjson.dumps(doc), before)


@settings(max_examples=200, deadline=None)
@given(documents(), st.integers(0, 10_000))
def test_damaged_structure_is_refused_as_decode_refuses_it(
    doc: dict[str, object], where: int
) -> None:
    """Rows of the wrong length or type, wrong header fields: same verdict as decode."""
    rows_ = list(doc["symbols"].values())  # type: ignore[attr-defined]
    damage = where % 9
    if damage == 0:
        rows_[where % len(rows_)].append("1")
    elif damage == 1:
        rows_[where % len(rows_)].pop()
    elif damage == 2:
        doc["symbols"][next(iter(doc["symbols"]))] = {"a": 1}  # type: ignore[index]
    elif damage == 3:
        doc["schema"] = [3, "2", True, 2.0, None][where % 5]
    elif damage == 4:
        doc["fetched_at"] = format_iso_ms(MS + 1)
    elif damage == 5:
        doc["exchange"] = 1
    elif damage == 6:
        doc["symbols"] = {}
    elif damage == 7:
        doc["schema"] = 3 - doc["schema"]  # type: ignore[operator]
    else:
        del doc["symbols"]
    check_same(orjson.dumps(doc))


def test_bytes_that_are_not_a_document_are_refused() -> None:
    """Truncated, empty, foreign: refused like decode refuses them."""
    good = orjson.dumps(
        {
            "schema": 2,
            "exchange": "x",
            "fetched_at": format_iso_ms(MS),
            "fields": [],
            "symbols": {"AB": ["A", "B", "1", "2", None, "3"]},
        }
    )
    for data in [good[:-1], b"", b"[]", b'"x"', b"\xff", good + b"x"]:
        check_same(data)
    check_same(good)


# -- segments and tails --------------------------------------------------------------


@st.composite
def record_lists(draw: st.DrawFn) -> list[Record]:
    """Records of one venue over time: symbols come and go, change codes, share pairs."""
    names = draw(st.lists(st.text(max_size=6), min_size=1, max_size=6, unique=True))
    count = draw(st.integers(1, 8))
    out = []
    for k in range(count):
        present = [n for n in names if draw(st.booleans()) or n == names[0]]
        schema = draw(st.sampled_from([1, 2]))
        doc = {
            "schema": schema,
            "exchange": "v",
            "fetched_at": format_iso_ms(MS + k),
            "symbols": {
                n: [
                    draw(st.sampled_from(["BTC", "ETH", "X"])),
                    draw(st.sampled_from(["USDT", "BTC"])),
                    *draw(rows(schema))[2:],
                ]
                for n in present
            },
        }
        record = parse_snapshot(orjson.dumps(doc), MS + k, k, k * 10)
        assert record is not None
        out.append(record)
    return out


def same_records(a: list[Record], b: list[Record]) -> None:
    assert [(r.ms, r.stamp, r.schema) for r in a] == [(r.ms, r.stamp, r.schema) for r in b]
    for x, y in zip(a, b, strict=True):
        assert x.rows() == y.rows()
        assert x.dups() == y.dups()


@settings(max_examples=200, deadline=None)
@given(record_lists())
def test_segment_round_trip_is_exact(records: list[Record]) -> None:
    """encode_segment then decode_records gives back every row, stamp, schema and winner."""
    shuffled = list(records)
    random.Random(len(records)).shuffle(shuffled)
    same_records(decode_records(encode_segment(shuffled)), records)


@settings(max_examples=200, deadline=None)
@given(record_lists())
def test_tail_round_trip_is_exact(records: list[Record]) -> None:
    """Full then delta frames replay to the same records; any cut keeps a prefix."""
    data, prev = b"", None
    for record in records:
        data += encode_frame(record, prev)
        prev = record
    frames, end = scan(data)
    assert end == len(data)
    same_records(replay(decode_payload(f) for f in frames), records)
    cut = random.Random(len(data)).randrange(len(data))
    partial, at = scan(data[:cut])
    assert at <= cut
    assert [f.ms for f in partial] == [r.ms for r in records[: len(partial)]]


def test_a_flipped_bit_stops_the_tail_there() -> None:
    """A frame failing its checksum, and everything after it, is not believed."""
    doc = {
        "schema": 1,
        "exchange": "v",
        "fetched_at": format_iso_ms(MS),
        "symbols": {"AB": ["A", "B", "1", "2"]},
    }
    record = parse_snapshot(orjson.dumps(doc), MS, 1, 1)
    assert record is not None
    one = encode_frame(record, None)
    data = bytearray(one * 3)
    data[len(one) + 30] ^= 1
    frames, end = scan(bytes(data))
    assert (len(frames), end) == (1, len(one))
