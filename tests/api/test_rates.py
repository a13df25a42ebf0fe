"""GET /rates through the real app (ASGI, in process) over real three-venue stores.

The stores hold two hours of snapshots every 30 s written by the real writer
(so the history index is kept as the consumer keeps it), with gaps longer
than QUOTES_MAX_AGE_SECONDS, a stretch where one venue does not list the
pair, and one venue priced 10 % above the others (an outlier for
`average`). The clock is fixed, so every boundary is exact.
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote as urlquote

import pytest
from sanic import Sanic

from api.app import create_app
from api.series import change_percent
from settings import Settings
from storage.model import Quote, format_iso_ms
from tests.api.conftest import NOW_MS, FixedClock, Store, quote

# sanic-testing 24.6 imports websockets.legacy, deprecated since websockets 14; the
# ASGI client used here never touches websockets.
pytestmark = pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")

VENUES = ("binance", "kraken", "bybit")
STEP = 30_000
COUNT = 240  # two hours
START = NOW_MS - COUNT * STEP
GAP = range(100, 106)  # binance writes nothing then: 3 minutes without a snapshot in force
KRAKEN_UNLISTED = range(150, 170)  # kraken lists no BTC/USDT then
SYMBOLS = {"binance": "BTCUSDT", "kraken": "XBTUSDT", "bybit": "BTCUSDT"}
FACTOR = {"binance": Decimal(1), "kraken": Decimal("1.001"), "bybit": Decimal("1.1")}


def _book(venue: str, k: int, rng: random.Random) -> list[Quote]:
    base = Decimal(65_000) + Decimal(rng.randrange(-5_000, 5_000)) / 100
    bid = (base * FACTOR[venue]).quantize(Decimal("0.01"))
    books = [
        quote("ETHBTC", "ETH", "BTC", f"0.0{rng.randrange(500_000, 510_000)}", "0.05100001"),
        quote("DOGEUSDT", "DOGE", "USDT", "0.08000", f"0.0{rng.randrange(8_001, 8_100)}"),
    ]
    if not (venue == "kraken" and k in KRAKEN_UNLISTED):
        books.append(quote(SYMBOLS[venue], "BTC", "USDT", f"{bid}", f"{bid + Decimal('0.02')}"))
    return books


class Api:
    """The app over the three venue stores, and a GET helper."""

    def __init__(self, root: Path, clock: FixedClock, *, history: bool = True, **kw: Any) -> None:
        self.settings = Settings(data_dir=root, exchanges=VENUES, **kw)
        readers = {venue: Store(root, venue).reader() for venue in VENUES}
        self.app: Sanic[Any, Any] = create_app(
            self.settings, readers=readers, clock=clock, history=history
        )

    async def get(self, target: str, **headers: str) -> tuple[int, Any, dict[str, str]]:
        _, response = await self.app.asgi_client.get(target, headers=headers)
        body = response.json if response.status != 304 else None
        return response.status, body, dict(response.headers)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hours of three venues' snapshots, every 30 s (with the gaps above)."""
    root = tmp_path_factory.mktemp("rates") / "data"
    rng = random.Random(7)
    for venue in VENUES:
        store = Store(root, venue)
        for k in range(COUNT):
            if venue == "binance" and k in GAP:
                continue
            store.write(START + k * STEP + rng.randrange(-3_000, 3_000), _book(venue, k, rng))
    return root


@pytest.fixture
def api(root: Path) -> Api:
    return Api(root, FixedClock(NOW_MS))


def iso(ms: int) -> str:
    return urlquote(format_iso_ms(ms))


async def assert_points_are_conversions(
    api: Api, target: str, exchange: str, sample: int = 40
) -> list[Any]:
    """Points are /convert's rate and quoted_at at t; left-out boundaries are /convert errors.

    Every left-out boundary and `sample` random points are asked (an ASGI
    request costs ~40 ms here; tests/e2e/test_rates_process.py asks them all).
    """
    status, body, _ = await api.get(target)
    assert status == 200, body
    step = {"30s": 30_000, "1m": 60_000, "5m": 300_000}[body["interval"]]
    src, dst = body["from"], body["to"]
    by_t = {p["t"]: p for p in body["points"]}
    start = -(-START // step) * step
    boundaries = range(start, NOW_MS, step)
    chosen = random.Random(target).sample(boundaries, min(sample, len(boundaries)))
    for t in sorted({*chosen, *(t for t in boundaries if format_iso_ms(t) not in by_t)}):
        _, answer, _ = await api.get(
            f"/convert?amount=1&from={src}&to={dst}&timestamp={iso(t)}&exchange={exchange}"
        )
        point = by_t.get(format_iso_ms(t))
        if point is None:
            assert "error" in answer, (t, answer)
        else:
            assert (point["rate"], point["quoted_at"]) == (answer["rate"], answer["quoted_at"])
    points: list[Any] = body["points"]
    return points


@pytest.mark.parametrize(
    ("pair", "exchange", "interval"),
    [
        ("from=BTC&to=USDT", "binance", "30s"),
        ("from=usdt&to=btc", "binance", "1m"),  # inverse, lower case
        ("from=BTC&to=USDT", "kraken", "30s"),  # a stretch where kraken lists no BTC/USDT
        ("from=BTC&to=ETH", "bybit", "1m"),  # inverse of ETH/BTC
        ("from=BTC&to=USDT", "average", "30s"),  # bybit an outlier, binance with a gap
        ("from=USDT&to=BTC", "average", "5m"),
        ("from=DOGE&to=DOGE", "binance", "5m"),  # same currency: 1 where the code is known
    ],
)
async def test_each_point_is_what_convert_answers(
    api: Api, pair: str, exchange: str, interval: str
) -> None:
    """The value at every boundary is /convert?amount=1&timestamp=t's rate; gaps are left out."""
    start, end = format_iso_ms(START - 60_000), format_iso_ms(NOW_MS)
    target = f"/rates?{pair}&exchange={exchange}&interval={interval}&start={start}&end={end}"
    points = await assert_points_are_conversions(api, target, exchange)
    assert len(points) > 10


async def test_gaps_and_unlisted_stretches_are_left_out(api: Api) -> None:
    """Boundaries inside binance's 3-minute gap and kraken's unlisted stretch have no point."""
    start, end = format_iso_ms(START), format_iso_ms(NOW_MS)
    for exchange, hole in (("binance", GAP), ("kraken", KRAKEN_UNLISTED)):
        _, body, _ = await api.get(
            f"/rates?from=BTC&to=USDT&exchange={exchange}&interval=30s&start={start}&end={end}"
        )
        times = {p["t"] for p in body["points"]}
        middle = START + (hole.start + hole.stop) // 2 * STEP
        inside = -(-middle // STEP) * STEP
        assert format_iso_ms(inside) not in times
        assert len(times) < COUNT - len(hole) // 2


async def test_average_drops_the_outlier(api: Api) -> None:
    """Average's points are the mean of binance and kraken: bybit's 10 % above is dropped."""
    _, body, _ = await api.get("/rates?from=BTC&to=USDT&exchange=average&interval=5m")
    _, binance, _ = await api.get("/rates?from=BTC&to=USDT&exchange=binance&interval=5m")
    ratio = Decimal(body["summary"]["last"]) / Decimal(binance["summary"]["last"])
    assert Decimal("0.99") < ratio < Decimal("1.01")


async def test_body_shape_and_summary(api: Api) -> None:
    """The defaults (last 24 h, 5m, DEFAULT_EXCHANGE) and a summary of the points."""
    status, body, headers = await api.get("/rates?from=btc&to=usdt")
    assert status == 200
    assert (body["from"], body["to"], body["exchange"], body["interval"]) == (
        "BTC",
        "USDT",
        "binance",
        "5m",
    )
    assert (body["start"], body["end"]) == (
        format_iso_ms(NOW_MS - 86_400_000),
        format_iso_ms(NOW_MS),
    )
    assert (body["clipped"], body["requested_start"]) == (False, body["start"])
    rates = [Decimal(p["rate"]) for p in body["points"]]
    summary = body["summary"]
    assert summary["points"] == len(rates) == 24  # two hours at 5 min
    assert (Decimal(summary["first"]), Decimal(summary["last"])) == (rates[0], rates[-1])
    assert (Decimal(summary["min"]), Decimal(summary["max"])) == (min(rates), max(rates))
    assert summary["change_percent"] == change_percent(rates[0], rates[-1])
    assert [p["t"] for p in body["points"]] == sorted(p["t"] for p in body["points"])
    assert all(p["t"].endswith(":00.000Z") for p in body["points"])
    assert headers["cache-control"] == "no-cache"
    assert "etag" not in headers


async def test_a_past_range_is_cacheable_with_an_etag(api: Api) -> None:
    """end older than QUOTES_MAX_AGE_SECONDS: public, max-age, an ETag, and 304 for it."""
    target = f"/rates?from=BTC&to=USDT&start={iso(START)}&end={iso(NOW_MS - 3_600_000)}"
    status, _, headers = await api.get(target)
    assert status == 200
    assert headers["cache-control"].startswith("public, max-age=")
    status, body, again = await api.get(target, **{"If-None-Match": headers["etag"]})
    assert (status, body, again["etag"]) == (304, None, headers["etag"])


async def test_start_older_than_retention_is_clipped(root: Path) -> None:
    """A start before the retention window is clipped to it, and the answer says so."""
    api = Api(root, FixedClock(NOW_MS), retention_days=0.05)  # 72 minutes
    status, body, headers = await api.get(f"/rates?from=BTC&to=USDT&start={iso(START)}")
    assert status == 200
    assert body["clipped"] is True
    assert body["requested_start"] == format_iso_ms(START)
    assert body["start"] == format_iso_ms(NOW_MS - 4_320_000)
    assert headers["cache-control"] == "no-cache"  # the clipped start moves with the clock


async def test_the_index_and_the_files_answer_the_same(root: Path) -> None:
    """The same /rates from an app without the history index: the same bytes."""
    with_index, files = Api(root, FixedClock(NOW_MS)), Api(root, FixedClock(NOW_MS), history=False)
    for target in (
        "/rates?from=BTC&to=USDT&interval=30s",
        "/rates?from=ETH&to=BTC&interval=1m&exchange=kraken",
        "/rates?from=USDT&to=BTC&interval=30s&exchange=average",
    ):
        assert (await with_index.get(target))[1] == (await files.get(target))[1]


@pytest.mark.parametrize(
    ("query", "status", "error", "parameter"),
    [
        ("from=BTC", 400, "missing_parameter", "to"),
        ("to=BTC", 400, "missing_parameter", "from"),
        ("from=BTC&to=USDT&exchange=best", 400, "invalid_parameter", "exchange"),
        ("from=BTC&to=USDT&exchange=BEST", 400, "invalid_parameter", "exchange"),
        ("from=BTC&to=USDT&exchange=okx", 400, "invalid_parameter", "exchange"),
        ("from=BTC&to=USDT&interval=2m", 400, "invalid_parameter", "interval"),
        ("from=BTC&to=USDT&interval=30S", 400, "invalid_parameter", "interval"),
        (
            "from=BTC&to=USDT&start=2026-11-21T23:00:00Z&end=2026-11-21T22:00:00Z",
            400,
            "invalid_parameter",
            "start",
        ),
        ("from=BTC&to=USDT&start=yesterday", 400, "invalid_timestamp", "start"),
        ("from=BTC&to=USDT&end=2030-01-01", 400, "invalid_timestamp", "end"),
        ("from=BTC&to=USDT&start=1795000000&interval=30s", 400, "invalid_parameter", "interval"),
        ("from=BTC&to=USDT&amount=1", 400, "invalid_parameter", "amount"),
        ("from=BTC&to=USDT&timestamp=1", 400, "invalid_parameter", "timestamp"),
        ("from=BTC&from=ETH&to=USDT", 400, "invalid_parameter", "from"),
        ("from=B-TC&to=USDT", 400, "invalid_parameter", "from"),
    ],
)
async def test_bad_queries_name_the_parameter(
    api: Api, query: str, status: int, error: str, parameter: str
) -> None:
    """Every bad parameter is a 400 from the closed set naming it, never cached."""
    got, body, headers = await api.get(f"/rates?{query}")
    assert (got, body["error"], body["details"]["parameter"]) == (status, error, parameter)
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        ("from=ZZZ&to=USDT", 404, "unknown_currency"),
        ("from=ETH&to=DOGE", 404, "pair_not_found"),
        ("from=BTC&to=USDT&exchange=average&to=USDT", 400, "invalid_parameter"),
        (f"from=BTC&to=USDT&start={iso(START - 7_200_000)}&end={iso(START - 600_000)}", 404,
         "quotes_not_found"),
        (f"from=ZZZ&to=USDT&start={iso(START - 7_200_000)}&end={iso(START - 600_000)}", 404,
         "unknown_currency"),
        ("from=BTC&to=USDT&start=2026-11-21T23:00:10Z&end=2026-11-21T23:00:20Z&interval=30s", 404,
         "quotes_not_found"),
    ],
)  # fmt: skip
async def test_errors_as_convert_says_them(api: Api, query: str, status: int, error: str) -> None:
    """Unknown codes, unlisted pairs and ranges with no point: the usual errors."""
    got, body, _ = await api.get(f"/rates?{query}")
    assert (got, body["error"]) == (status, error), body


async def test_head_answers_like_get(api: Api) -> None:
    """HEAD /rates: 200 with no body (the headers are pinned over the wire elsewhere)."""
    _, head = await api.app.asgi_client.head("/rates?from=BTC&to=USDT")
    assert (head.status, head.content) == (200, b"")
