"""/rates over the wire: `run.py reindex`, then `run.py api`, every point against /convert.

Three hours of two venues' snapshots every 30 s are written with the real
writer, a few as schema-1 files behind its back, and `python run.py reindex`
rebuilds the history index from them all. The API process then serves
/rates, and every boundary of several series is asked of /convert with
`amount=1&timestamp=t`: a point must be its rate and quoted_at, a left-out
boundary an error.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import quote as urlquote

import httpx
import orjson
import pytest

from storage.model import Quote, format_iso_ms
from tests.api.conftest import Store, quote
from tests.procs import Proc, free_port, run_once, settings_env, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VENUES = ("binance", "kraken")
STEP = 30_000
COUNT = 360  # three hours
UNUSED_URL = "http://127.0.0.1:9"


def _book(venue: str, rng: random.Random) -> list[Quote]:
    bid = Decimal(80_000 + rng.randrange(-500, 500)) + Decimal(rng.randrange(100)) / 100
    if venue == "kraken":
        bid += Decimal("12.5")
    return [
        quote("BTCUSDT", "BTC", "USDT", f"{bid}", f"{bid + Decimal('0.01')}"),
        quote("ETHBTC", "ETH", "BTC", f"0.0{rng.randrange(400_000, 410_000)}", "0.04100001"),
    ]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, int]]:
    """The store (one file in 10 schema 1, a gap in binance), reindexed, and the API on it."""
    workdir = tmp_path_factory.mktemp("rates-e2e")
    root = workdir / "data"
    end = time.time_ns() // 1_000_000 - 1_000
    rng = random.Random(3)
    for venue in VENUES:
        store = Store(root, venue)
        for k in range(COUNT):
            if venue == "binance" and 200 <= k < 206:
                continue  # three minutes without a binance snapshot
            ms = end - (COUNT - 1 - k) * STEP - rng.randrange(2_000)
            if k % 10 == 3:
                store.write_schema1(ms, _book(venue, rng))
            else:
                store.write(ms, _book(venue, rng))
    env = settings_env(
        base_url=UNUSED_URL, data_dir=root, API_PORT=str(free_port()), EXCHANGES=",".join(VENUES)
    )
    done = run_once("reindex", env=env, cwd=workdir, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "binance: 354 snapshot(s) indexed" in done.stdout, done.stdout
    base_url = f"http://127.0.0.1:{env['API_PORT']}"
    with Proc("api", env=env, workdir=workdir, name="api") as proc:

        def ready() -> bool:
            try:
                return httpx.get(f"{base_url}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout=30, message=proc.output)
        with httpx.Client(base_url=base_url, timeout=10) as client:
            yield client, end
        assert proc.terminate() == 0, proc.output()
    assert "Traceback" not in proc.output()


@pytest.mark.parametrize(
    ("src", "dst", "exchange", "interval"),
    [
        ("BTC", "USDT", "binance", "30s"),
        ("USDT", "BTC", "kraken", "1m"),
        ("BTC", "ETH", "binance", "1m"),
        ("BTC", "USDT", "average", "30s"),
    ],
)
def test_every_point_is_the_conversion_at_its_boundary(
    api: tuple[httpx.Client, int], src: str, dst: str, exchange: str, interval: str
) -> None:
    """Each point equals /convert at t (rate, quoted_at); each left-out boundary is an error."""
    client, end = api
    start = end - COUNT * STEP
    response = client.get(
        "/rates",
        params={
            "from": src,
            "to": dst,
            "exchange": exchange,
            "interval": interval,
            "start": format_iso_ms(start),
            "end": format_iso_ms(end),
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    step = {"30s": 30_000, "1m": 60_000}[interval]
    points = {p["t"]: p for p in body["points"]}
    asked = missing = 0
    for t in range(-(-start // step) * step, end + 1, step):
        answer = client.get(
            f"/convert?amount=1&from={src}&to={dst}&exchange={exchange}"
            f"&timestamp={urlquote(format_iso_ms(t))}"
        ).json()
        point = points.get(format_iso_ms(t))
        asked += 1
        if point is None:
            missing += 1
            assert "error" in answer, (t, answer)
        else:
            assert (point["rate"], point["quoted_at"]) == (answer["rate"], answer["quoted_at"])
    assert len(points) == asked - missing
    assert missing < asked // 10


def test_a_past_series_revalidates_over_the_wire(api: tuple[httpx.Client, int]) -> None:
    """A range ended long ago: public, an ETag, 304 for it; HEAD has GET's length and no body."""
    client, end = api
    target = (
        f"/rates?from=BTC&to=USDT&interval=5m&start={urlquote(format_iso_ms(end - 7_200_000))}"
        f"&end={urlquote(format_iso_ms(end - 3_600_000))}"
    )
    first = client.get(target)
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = client.get(target, headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    head = client.head(target)
    assert head.headers["content-length"] == str(len(first.content))
    body = orjson.loads(first.content)
    assert body["summary"]["points"] == len(body["points"]) >= 10  # 12-13 boundaries, a gap
