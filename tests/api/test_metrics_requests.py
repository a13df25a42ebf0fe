"""RequestStats: the API's request counts and latency histograms, and their merge across workers."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from api.metrics_requests import LATENCY_BUCKETS, UNMATCHED, RequestStats, SharedStats

observations = st.lists(
    st.tuples(
        st.sampled_from([None, "", "convert", "health"]),
        st.sampled_from([200, 400, 404, 503]),
        st.one_of(st.none(), st.floats(min_value=0, max_value=10, allow_nan=False)),
    ),
    max_size=60,
)


def observed(items: list[tuple[str | None, int, float | None]]) -> RequestStats:
    stats = RequestStats()
    for path, status, seconds in items:
        stats.observe(path, status, seconds)
    return stats


class _Families(Collector):
    def __init__(self, stats: RequestStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        yield from self.stats.families()


def exposed(stats: RequestStats) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(_Families(stats))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@given(observations)
def test_exposition_counts_each_response_and_buckets_cumulatively(
    items: list[tuple[str | None, int, float | None]],
) -> None:
    """_total per (route, status); le buckets cumulative; _count and _sum over timed ones."""
    samples = exposed(observed(items))
    for path, status, _ in items:
        route = UNMATCHED if path is None else "/" + path
        want = sum(1 for p, s, _ in items if (p, s) == (path, status))
        key = ("crypto_converter_http_requests_total", (("route", route), ("status", str(status))))
        assert samples[key] == want
    for path in {p for p, _, t in items if t is not None}:
        route = UNMATCHED if path is None else "/" + path
        timed = [t for p, _, t in items if p == path and t is not None]
        prefix = "crypto_converter_http_request_duration_seconds"
        assert samples[(f"{prefix}_count", (("route", route),))] == len(timed)
        assert abs(samples[(f"{prefix}_sum", (("route", route),))] - sum(timed)) < 1e-9
        for bound in LATENCY_BUCKETS:
            le = (("le", str(bound)), ("route", route))
            assert samples[(f"{prefix}_bucket", le)] == sum(1 for t in timed if t <= bound)


@given(observations, observations)
def test_merging_workers_files_equals_one_worker_seeing_everything(
    a: list[tuple[str | None, int, float | None]], b: list[tuple[str | None, int, float | None]]
) -> None:
    """dump/load round-trips; merged figures equal those of all responses observed together."""
    merged = RequestStats.load(observed(a).dump())
    merged.merge(RequestStats.load(observed(b).dump()))
    together = observed(a + b)
    assert merged.rows.keys() == together.rows.keys()
    for key, row in together.rows.items():
        assert merged.rows[key][:-1] == row[:-1]
        assert abs(merged.rows[key][-1] - row[-1]) < 1e-9
    assert merged.responses == len(a) + len(b)


def test_a_bucket_bound_itself_falls_in_that_bucket() -> None:
    """le is "less than or equal": an observation of exactly 0.005 s counts under le=0.005."""
    stats = observed([("convert", 200, 0.005)])
    index = bisect.bisect_left(LATENCY_BUCKETS, 0.005)
    assert LATENCY_BUCKETS[index] == 0.005
    assert stats.rows[("convert", 200)][1 + index] == 1


def test_shared_stats_flush_and_merge_every_workers_file(tmp_path: Path) -> None:
    """Each worker's file is merged by whoever answers; an unreadable file is skipped."""
    mine = observed([("convert", 200, 0.001)])
    shared = SharedStats(tmp_path, mine)
    (tmp_path / "requests_1.json").write_bytes(observed([("convert", 200, 0.002)]).dump())
    (tmp_path / "requests_2.json").write_bytes(b"{not json")
    (tmp_path / "requests_3.json").write_bytes(b'[["convert", 200, [1.0]]]')  # other bounds
    total = shared.merged()
    assert total.responses == 2
    assert shared.path.exists()
    mine.observe("convert", 200, None)
    assert shared.merged().responses == 3
