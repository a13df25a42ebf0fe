"""One venue's rate at many moments at once: the points of `/rates`.

`rates_at(converter, from, to, times, now)` answers, for each moment, what
`Converter.rate_at` (so `/convert?amount=1&timestamp=t`) answers: the rate
text and the snapshot's time, or the error. It is the same computation, in
bulk where the history index holds the snapshot in force:

- the snapshot in force is the first candidate `VenueSnapshots.in_force`
  would yield (`_firsts`: the reader's own `candidates()`);
- the converter's (snapshot, pair) memo is asked first;
- the rows the memo lacks come from one `HistoryReader.series` call, only
  for snapshots whose file is still the one indexed (`Verifier`), and the
  rate from `pair_rate`, the function /convert uses;
- every other moment (no index, a file not as indexed, no candidate, a pair
  not listed then, the index changing meanwhile, the same currency) goes
  through `Converter.rate_at` itself.

`tests/api/test_history_lookup.py` and `tests/api/test_rates.py` compare
its answers with the files' and with /convert's.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from decimal import Decimal

from api.exceptions import ApiError
from api.service import Converter, pair_rate
from storage.errors import StoreReadError

__all__ = ["Answer", "rates_at"]

Answer = tuple[str, int] | ApiError  # (rate text, snapshot ms), or what /convert raises
_DENSE_MS = 90_000  # boundaries at most this far apart share one pass over the candidates


def rates_at(
    converter: Converter, src: str, dst: str, times: Sequence[int], now_ms: int
) -> list[Answer]:
    """`converter.rate_at(src, dst, t, now_ms)` for each t of `times`, or the error it raises."""
    snapshots = converter.snapshots
    verifier = snapshots.verifier
    out: list[Answer | None] = [None] * len(times)
    slow: list[int] = []
    wanted: dict[int, list[int]] = {}  # snapshot ms -> indexes of `times` it is in force at
    oldest = now_ms - snapshots.retention_ms
    if verifier is not None and src != dst:
        for k, ms in enumerate(_firsts(converter, times, oldest)):
            if ms is None:
                slow.append(k)
                continue
            pair = converter.memoised((ms, src, dst))
            if pair is not None:
                out[k] = (pair[3], ms)
            elif ms in wanted or verifier.usable(ms):
                wanted.setdefault(ms, []).append(k)
            else:
                slow.append(k)
    else:
        slow = list(range(len(times)))
    if wanted:
        slow += _from_index(converter, src, dst, wanted, out)
    for k in slow:
        try:
            out[k] = converter.rate_at(src, dst, times[k], now_ms)
        except ApiError as exc:
            out[k] = exc
    answers = [answer for answer in out if answer is not None]
    assert len(answers) == len(times)  # every moment was settled one way or the other
    return answers


def _firsts(converter: Converter, times: Sequence[int], oldest: int) -> list[int | None]:
    """The time of the first candidate `in_force` yields at each of `times`, if any.

    Ascending boundaries closer than ~3 snapshots apart (30 s, 1 m) are
    matched against one pass of `candidates()` over their whole span (one
    generator instead of one per boundary: ~10 % of a 10,000-point series);
    sparser ones ask `candidates()` each, so as not to walk every snapshot
    between them.
    """
    reader, max_age = converter.snapshots.reader, converter.max_age_ms
    ascending = all(a < b for a, b in itertools.pairwise(times))
    span = times[-1] - times[0] if times else 0
    dense = ascending and len(times) > 1 and span <= _DENSE_MS * (len(times) - 1)
    try:
        if not dense:
            firsts: list[int | None] = []
            for at in times:
                first = None
                if at >= oldest:
                    first = next(reader.candidates(at, max(at - max_age, oldest)), None)
                firsts.append(None if first is None else first.fetched_ms)
            return firsts
        since = max(times[0] - max_age, oldest)
        listed = [stored.fetched_ms for stored in reader.candidates(times[-1], since)]
    except StoreReadError:
        return [None] * len(times)  # rate_at says quotes_unavailable
    listed.reverse()
    out: list[int | None] = []
    for at in times:
        i = bisect.bisect_right(listed, at) - 1
        ok = at >= oldest and i >= 0 and listed[i] >= max(at - max_age, oldest)
        out.append(listed[i] if ok else None)
    return out


def _from_index(
    converter: Converter,
    src: str,
    dst: str,
    wanted: dict[int, list[int]],
    out: list[Answer | None],
) -> list[int]:
    """Fill `out` for `wanted` from one or two index reads; the indexes left to `rate_at`."""
    history = converter.snapshots.history
    assert history is not None
    moments = list(wanted)
    try:
        rows = history.series(src, dst, moments)
        missing = [ms for ms, row in zip(moments, rows, strict=True) if row is None]
        inverse = dict(zip(missing, history.series(dst, src, missing), strict=True))
    except KeyError:  # the index changed under us (retention, damage): one by one
        return [k for ks in wanted.values() for k in ks]
    rates: dict[tuple[Decimal, Decimal, bool], tuple[Decimal, str] | ApiError] = {}
    slow = []
    for ms, row in zip(moments, rows, strict=True):
        inverted = row is None
        quote = inverse.get(ms) if inverted else row
        if quote is None:
            slow += wanted[ms]  # not listed then: rate_at says which error
            continue
        key = (quote.bid, quote.ask, inverted)
        rate = rates.get(key)
        if rate is None:
            try:
                rate = rates[key] = pair_rate(quote, inverted)
            except ApiError as exc:
                rate = rates[key] = exc
        if isinstance(rate, ApiError):
            for k in wanted[ms]:
                out[k] = rate
            continue
        converter.remember((ms, src, dst), (quote.symbol, inverted, *rate))
        for k in wanted[ms]:
            out[k] = (rate[1], ms)
    return slow
