"""Shared by the history index tests: varied stores, the files' own answers, subprocesses.

`python -m tests.storage._history_support append ROOT SEED` writes snapshots
back to back with the real `SnapshotWriter` (tiny segments, retention now
and then) until killed; `... reindex ROOT` rebuilds the index (one process)
over and over until killed. The kill -9 tests run these.
"""

from __future__ import annotations

import os
import random
import sys
from decimal import Decimal
from pathlib import Path

import orjson

from storage.codec import decode, filename_for, find_pair, ms_from_filename
from storage.errors import CorruptSnapshotError
from storage.history import HistoryReader, HistoryWriter, rebuild
from storage.model import Quote, Snapshot, format_iso_ms
from storage.writer import SnapshotWriter

VENUE = "binance"
T0 = 1_795_304_160_123  # 2026-11-21T23:36:00.123Z
STEP_MS = 30_000
CODES = ["BTC", "ETH", "USDT", "BNB", "XRP", "DOGE", "EUR", "TRY", "SOL", "ADA", "1INCH", "USDC"]


def _decimal(rng: random.Random) -> Decimal:
    """Prices of every shape a venue prints: scales 0-12, long integer parts, trailing zeros."""
    kind = rng.random()
    if kind < 0.05:  # as many digits as the codec allows
        return Decimal(f"{rng.randrange(1, 10**30)}.{rng.randrange(10**30):030d}")
    scale = rng.choice([0, 1, 2, 4, 8, 8, 8, 12])
    units = rng.randrange(1, 10 ** rng.randrange(1, 14))
    return Decimal(units).scaleb(-scale)


class VariedVenue:
    """A venue whose symbols come and go, move, and sometimes change codes."""

    def __init__(self, seed: int, symbols: int = 60) -> None:
        self.rng = random.Random(seed)
        self.quotes: dict[str, Quote] = {}
        for _ in range(symbols):
            self._new_symbol()

    def _new_symbol(self) -> None:
        rng = self.rng
        base, quote = rng.sample(CODES, 2)
        symbol = f"{base}{quote}{rng.choice(['', '-X', '.P', 'ü'])}{rng.randrange(100)}"
        self.quotes[symbol] = self._quote(symbol, base, quote)

    def _quote(self, symbol: str, base: str, quote: str) -> Quote:
        rng = self.rng
        bid = _decimal(rng)
        tick = Decimal(1).scaleb(bid.as_tuple().exponent)  # type: ignore[arg-type]
        ask = bid + tick if rng.random() < 0.9 and bid < 10**29 else bid
        sizes = [None if rng.random() < 0.05 else _decimal(rng) for _ in range(2)]
        if rng.random() < 0.02:
            sizes[0] = Decimal("0E-8")  # a size may be zero
        return Quote(symbol, base, quote, bid, ask, *sizes)

    def step(self) -> dict[str, Quote]:
        """Move about a quarter of the rows; now and then add, drop or re-code a symbol."""
        rng = self.rng
        for symbol in rng.sample(sorted(self.quotes), len(self.quotes) // 4):
            q = self.quotes[symbol]
            self.quotes[symbol] = self._quote(symbol, q.base, q.quote)
        roll = rng.random()
        if roll < 0.1:
            self._new_symbol()
        elif roll < 0.2 and len(self.quotes) > 2:
            del self.quotes[rng.choice(sorted(self.quotes))]
        elif roll < 0.25:
            symbol = rng.choice(sorted(self.quotes))
            base, quote = rng.sample(CODES, 2)
            self.quotes[symbol] = self._quote(symbol, base, quote)
        return dict(self.quotes)


def schema1_bytes(snapshot: Snapshot) -> bytes:
    """A snapshot as a release before sizes wrote it (schema 1)."""
    rows = {
        q.symbol: [q.base, q.quote, format(q.bid, "f"), format(q.ask, "f")]
        for q in snapshot.quotes.values()
    }
    return orjson.dumps(
        {
            "schema": 1,
            "exchange": snapshot.exchange,
            "fetched_at": format_iso_ms(snapshot.fetched_ms),
            "fields": ["base", "quote", "bid", "ask"],
            "symbols": rows,
        }
    )


def write_store(root: Path, count: int, seed: int, *, schema1_every: int = 5) -> list[int]:
    """`count` snapshots 30 s apart (jittered): most through SnapshotWriter, some schema 1."""
    venue = VariedVenue(seed)
    writer = SnapshotWriter(root, VENUE)
    writer.ensure_directory()
    writer.history.seal_count = 7  # many segments, a tail, seals during the test
    times = []
    for k in range(count):
        ms = T0 + k * STEP_MS + venue.rng.randrange(250)
        snapshot = Snapshot(VENUE, ms, venue.step())
        if schema1_every and k % schema1_every == schema1_every - 1:
            (writer.directory / filename_for(ms)).write_bytes(schema1_bytes(snapshot))
        else:
            writer.write(snapshot)
        times.append(ms)
    return times


def valid_times(root: Path) -> list[int]:
    """The times of the snapshot files `codec.decode` accepts."""
    times = []
    for name in sorted(os.listdir(root / VENUE)):
        ms = ms_from_filename(name)
        if ms is not None:
            try:
                decode((root / VENUE / name).read_bytes(), ms)
            except CorruptSnapshotError:
                continue
            times.append(ms)
    return times


def file_answer(root: Path, ms: int, base: str, quote: str) -> Quote | None:
    """What the historical path reads from the file: `codec.find_pair`."""
    return find_pair((root / VENUE / filename_for(ms)).read_bytes(), base, quote)


def file_codes(root: Path, ms: int) -> frozenset[str]:
    return decode((root / VENUE / filename_for(ms)).read_bytes(), ms).currencies


def same(a: Quote | None, b: Quote | None) -> bool:
    """Equal as values and printed the same (exponent included)."""
    if a is None or b is None:
        return a is b
    texts = [(str(x.bid), str(x.ask), str(x.bid_qty), str(x.ask_qty)) for x in (a, b)]
    return a == b and texts[0] == texts[1]


def disagreements(root: Path, reader: HistoryReader, pairs: int = 6) -> list[str]:
    """Every indexed time whose file exists, checked against the file; the mismatches."""
    bad = []
    rng = random.Random(0)
    for ms in reader.times():
        path = root / VENUE / filename_for(ms)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        snapshot = decode(data, ms)
        if reader.currencies_at(ms) != snapshot.currencies:
            bad.append(f"{ms}: currencies")
        rows = sorted(snapshot.pairs)
        for base, quote in [*rng.sample(rows, min(pairs, len(rows))), ("NOPE", "USDT")]:
            if not same(reader.quote_at(ms, base, quote), find_pair(data, base, quote)):
                bad.append(f"{ms}: {base}/{quote}")
    return bad


def _append_forever(root: Path, seed: int) -> None:
    venue = VariedVenue(seed, symbols=80)
    writer = SnapshotWriter(root, VENUE)
    writer.ensure_directory()
    writer.history.seal_count = 5
    ms = max([T0, *HistoryReader(root, VENUE).times()]) + STEP_MS
    while True:
        writer.write(Snapshot(VENUE, ms, venue.step()))
        if venue.rng.random() < 0.1:
            writer.delete_older_than(ms - 150 * STEP_MS)
        ms += STEP_MS


def main(argv: list[str]) -> int:
    command, root = argv[0], Path(argv[1])
    if command == "append":
        _append_forever(root, int(argv[2]))
    elif command == "reindex":
        while True:
            rebuild(HistoryWriter(root, VENUE, seal_count=4), workers=1)
            print("done", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
