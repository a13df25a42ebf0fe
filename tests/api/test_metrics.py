"""The API's /metrics, in process: request counts by route pattern, store figures at scrape time.

Real app from `create_app`, real snapshot files in tmp_path, a fixed clock;
Sanic's ASGI test client sends the requests (no latency is timed there: the
process-level tests in tests/e2e/test_api_metrics.py check the histogram).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sanic import Sanic

from api.app import create_app
from api.metrics import DISABLE_REQUEST_METRICS
from api.metrics_requests import UNMATCHED
from settings import load_settings
from storage.codec import filename_for
from tests.api.conftest import NOW_MS, FixedClock, Store
from tests.promtool import check_metrics

# sanic-testing's ASGI client imports websockets' legacy module, deprecated upstream.
pytestmark = pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def build(store: Store, clock: FixedClock, *venues: str) -> Sanic[Any, Any]:
    settings = load_settings(
        {"DATA_DIR": str(store.root), "EXCHANGES": ",".join(venues or ("binance",))}
    )
    readers = {venue: Store(store.root, venue).reader() for venue in settings.exchanges}
    return create_app(settings, readers=readers, clock=clock)


async def scrape(app: Sanic[Any, Any]) -> tuple[str, Samples]:
    _, response = await app.asgi_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    return response.text, samples


def requests(samples: Samples, route: str, status: str) -> float | None:
    return samples.get(
        ("crypto_converter_http_requests_total", (("route", route), ("status", status)))
    )


@pytest.fixture
def fixed() -> FixedClock:
    return FixedClock(NOW_MS)


async def test_requests_are_counted_by_route_pattern_and_status(
    store: Store, fixed: FixedClock
) -> None:
    """200, 400, 503 and an unmatched 404 each count once under the route's pattern."""
    store.write_recorded(NOW_MS - 5_000)
    app = build(store, fixed)
    client = app.asgi_client
    assert (await client.get("/convert?amount=1&from=BTC&to=USDT"))[1].status_code == 200
    assert (await client.get("/convert?amount=1&from=BTC&to=USDT"))[1].status_code == 200
    assert (await client.get("/convert?amount=x&from=BTC&to=USDT"))[1].status_code == 400
    assert (await client.get("/no/such/path?secret=1"))[1].status_code == 404
    fixed.advance(3_600_000)
    assert (await client.get("/health"))[1].status_code == 503
    _, samples = await scrape(app)
    assert requests(samples, "/convert", "200") == 2
    assert requests(samples, "/convert", "400") == 1
    assert requests(samples, UNMATCHED, "404") == 1
    assert requests(samples, "/health", "503") == 1
    routes = {dict(labels)["route"] for name, labels in samples if "route" in dict(labels)}
    assert routes == {"/convert", "/health", UNMATCHED}


async def test_raw_paths_and_queries_never_become_label_values(
    store: Store, fixed: FixedClock
) -> None:
    """A hundred different unknown paths and queries leave one `unmatched` series."""
    app = build(store, fixed)
    for i in range(100):
        await app.asgi_client.get(f"/x{i}?amount={i}")
    await app.asgi_client.get("/metrics")
    _, samples = await scrape(app)
    label_values = {value for _, labels in samples for _, value in labels}
    assert not any(value.startswith("/x") or "amount" in value for value in label_values)
    assert requests(samples, UNMATCHED, "404") == 100
    assert requests(samples, "/metrics", "200") == 1


async def test_snapshot_age_and_count_are_computed_at_scrape_time(
    store: Store, fixed: FixedClock
) -> None:
    """Age is now minus the newest snapshot's time, per venue; no snapshot means no age."""
    store.write_recorded(NOW_MS - 65_000)
    store.write_recorded(NOW_MS - 5_000)
    app = build(store, fixed, "binance", "kraken")
    age = "crypto_converter_snapshot_age_seconds"
    _, samples = await scrape(app)
    assert samples[(age, (("exchange", "binance"),))] == 5.0
    assert (age, (("exchange", "kraken"),)) not in samples
    indexed = "crypto_converter_snapshots_indexed"
    assert samples[(indexed, (("exchange", "binance"),))] == 2
    assert samples[(indexed, (("exchange", "kraken"),))] == 0
    fixed.advance(10_000)
    _, samples = await scrape(app)
    assert samples[(age, (("exchange", "binance"),))] == 15.0


async def test_corrupt_snapshots_are_counted_once_each(store: Store, fixed: FixedClock) -> None:
    """A corrupt newest file is skipped (the older one answers) and counted once."""
    store.write_recorded(NOW_MS - 20_000)
    (store.directory / filename_for(NOW_MS - 5_000)).write_bytes(b'{"schema": 2, "trunc')
    app = build(store, fixed)
    for _ in range(3):
        _, response = await app.asgi_client.get("/convert?amount=1&from=BTC&to=USDT")
        assert response.status_code == 200
    text, samples = await scrape(app)
    corrupt = ("crypto_converter_corrupt_snapshots_skipped_total", (("exchange", "binance"),))
    assert samples[corrupt] == 1
    assert samples[("crypto_converter_snapshot_age_seconds", (("exchange", "binance"),))] == 20.0
    await asyncio.to_thread(check_metrics, text)


async def test_the_benchmark_switch_turns_request_metrics_off(
    store: Store, fixed: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the A/B switch set, requests are not counted and /metrics still answers."""
    monkeypatch.setenv(DISABLE_REQUEST_METRICS, "1")
    app = build(store, fixed)
    await app.asgi_client.get("/health")
    _, samples = await scrape(app)
    assert not [name for name, _ in samples if name.startswith("crypto_converter_http")]
    assert ("crypto_converter_snapshots_indexed", (("exchange", "binance"),)) in samples
