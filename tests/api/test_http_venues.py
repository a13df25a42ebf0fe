"""The venue endpoints through the real app (ASGI, in process) over real four-venue stores.

`create_app` gets real readers over files written by the real writer, and a
fixed clock, so every freshness rule is exact; requests go through Sanic's
routing, our error mapping and our JSON, as from a client.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sanic import Sanic

from api.app import create_app
from settings import Settings
from storage.model import Quote, format_iso_ms
from tests.api.conftest import MAX_AGE_MS, NOW_MS, SECOND_MS, FixedClock, Store, quote
from tests.api.test_aggregate import half_up, mid

# sanic-testing 24.6 imports websockets.legacy, deprecated since websockets 14; the
# ASGI client used here never touches websockets.
pytestmark = pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")

VENUES = ("binance", "kraken", "bybit", "okx")
BTC = {
    "binance": quote("BTCUSDT", "BTC", "USDT", "100.00", "102.00", "2", "3"),
    "kraken": quote("XBTUSDT", "BTC", "USDT", "99.0", "101.0", "5", "1"),
    "bybit": quote("BTCUSDT", "BTC", "USDT", "101", "103", "1.5", "0.25"),
    "okx": quote("BTC-USDT", "BTC", "USDT", "120", "122", "0.1", "4"),
}
ETHBTC = quote("ETHBTC", "ETH", "BTC", "0.05000000", "0.05000100", "3", "4")
ETHBTC_OKX = quote("ETH-BTC", "ETH", "BTC", "0.0500005", "0.0500007", "1", "1")

Get = Callable[..., Any]


class Api:
    """An app over four venue stores under `root`, and a helper to GET from it."""

    def __init__(self, root: Path, clock: FixedClock, **settings: Any) -> None:
        self.root = root
        self.clock = clock
        self.settings = Settings(data_dir=root, exchanges=VENUES, **settings)
        self.stores = {venue: Store(root, venue) for venue in VENUES}
        readers = {venue: store.reader() for venue, store in self.stores.items()}
        self.app: Sanic[Any, Any] = create_app(self.settings, readers=readers, clock=clock)

    def write(self, venue: str, ms: int, *quotes: Quote) -> None:
        self.stores[venue].write(ms, quotes)

    async def get(self, target: str) -> tuple[int, Any, dict[str, str]]:
        _, response = await self.app.asgi_client.get(target)
        return response.status, response.json, dict(response.headers)


@pytest.fixture
def api(tmp_path: Path, clock: FixedClock) -> Api:
    """Fresh books on every venue (okx +20 %); binance and okx list ETH/BTC too."""
    api = Api(tmp_path / "data", clock)
    for age, venue in enumerate(VENUES, start=1):
        extra = {"binance": (ETHBTC,), "okx": (ETHBTC_OKX,)}.get(venue, ())
        api.write(venue, NOW_MS - age * SECOND_MS, BTC[venue], *extra)
    return api


# -- /convert?exchange= --------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["kraken", "KRAKEN", "Kraken"])
async def test_convert_on_one_venue(api: Api, spelling: str) -> None:
    """exchange=<venue> (any case) converts on that venue's snapshot, naming it."""
    status, body, headers = await api.get(f"/convert?amount=2&from=btc&to=usdt&exchange={spelling}")
    assert status == 200
    assert body == {
        "amount": "200.000000",
        "rate": "100.000000000000",
        "from": "BTC",
        "to": "USDT",
        "quoted_at": format_iso_ms(NOW_MS - 2 * SECOND_MS),
        "exchange": "kraken",
        "symbol": "XBTUSDT",
        "inverted": False,
    }
    assert headers["cache-control"] == "no-cache"


async def test_convert_default_is_default_exchange(api: Api) -> None:
    """Without exchange, DEFAULT_EXCHANGE (binance here) answers, as before venues."""
    status, body, _ = await api.get("/convert?amount=1&from=BTC&to=USDT")
    assert (status, body["exchange"], body["rate"]) == (200, "binance", "101.000000000000")


async def test_convert_default_average(tmp_path: Path, clock: FixedClock) -> None:
    """DEFAULT_EXCHANGE=average: a bare /convert is the average."""
    api = Api(tmp_path / "data", clock, default_exchange="average")
    for venue in VENUES:
        api.write(venue, NOW_MS, BTC[venue])
    status, body, _ = await api.get("/convert?amount=1&from=BTC&to=USDT")
    assert (status, body["exchange"], body["rate"]) == (200, "average", "101.000000000000")
    assert [s["reason"] for s in body["sources"]] == [None, None, None, "outlier"]


async def test_convert_unknown_exchange_lists_accepted(api: Api) -> None:
    """exchange=coinbase: 400 invalid_parameter listing the venues, best and average."""
    status, body, headers = await api.get("/convert?amount=1&from=BTC&to=USDT&exchange=coinbase")
    assert status == 400
    assert body["error"] == "invalid_parameter"
    assert body["details"] == {"parameter": "exchange", "accepted": [*VENUES, "best", "average"]}
    assert headers["cache-control"] == "no-store"


async def test_convert_best_body(api: Api) -> None:
    """exchange=best: venue, side, top-of-book size and whether the amount exceeds it."""
    status, body, _ = await api.get("/convert?amount=0.05&from=BTC&to=USDT&exchange=best")
    assert status == 200
    assert {k: body[k] for k in ("venue", "symbol", "inverted", "side")} == {
        "venue": "okx",
        "symbol": "BTC-USDT",
        "inverted": False,
        "side": "bid",
    }
    assert (body["top_of_book_quantity"], body["exceeds_top_of_book"]) == ("0.1", False)
    assert body["amount"] == "6.000000"
    assert len(body["sources"]) == 4


async def test_convert_venue_outdated_names_it(api: Api) -> None:
    """An outdated venue asked for by name: 503 quotes_outdated naming that venue."""
    api.clock.advance(MAX_AGE_MS)  # kraken (2 s old) is now 60.002 s old; ...
    status, body, _ = await api.get("/convert?amount=1&from=BTC&to=USDT&exchange=kraken")
    assert (status, body["error"]) == (503, "quotes_outdated")
    assert body["details"]["exchange"] == "kraken"
    assert "kraken" in body["message"]
    # ... while binance (1 s old) is 60.001 s old too: every venue is outdated.
    status, body, _ = await api.get("/convert?amount=1&from=BTC&to=USDT&exchange=average")
    assert (status, body["error"]) == (503, "quotes_outdated")
    assert set(body["details"]["exchanges"]) == set(VENUES)


async def test_convert_average_historical_is_cacheable(api: Api) -> None:
    """A historical average an hour back is public with a max-age, like one venue's."""
    at = NOW_MS - 3_600_000
    for venue in VENUES:
        api.write(venue, at, BTC[venue])
    status, body, headers = await api.get(
        f"/convert?amount=1&from=BTC&to=USDT&exchange=average&timestamp={at / 1000:.3f}"
    )
    assert (status, body["quoted_at"]) == (200, format_iso_ms(at))
    assert re.fullmatch(r"public, max-age=[0-9]+", headers["cache-control"])


# -- /prices ----------------------------------------------------------------------------------


async def test_full_board(api: Api) -> None:
    """Every pair of every usable venue, its venues' strings, mids and the §3 average."""
    status, body, headers = await api.get("/prices")
    assert (status, headers["cache-control"]) == (200, "no-cache")
    assert list(body["pairs"]) == ["BTC/USDT", "ETH/BTC"]
    btc = body["pairs"]["BTC/USDT"]
    assert btc["average"] == "101.000000000000"  # okx's 121 dropped
    assert list(btc["exchanges"]) == list(VENUES)
    assert btc["exchanges"]["binance"] == {
        "symbol": "BTCUSDT",
        "bid": "100.00",
        "ask": "102.00",
        "mid": "101.000000000000",
        "quoted_at": format_iso_ms(NOW_MS - SECOND_MS),
    }
    eth = body["pairs"]["ETH/BTC"]
    exact = (mid(ETHBTC) + mid(ETHBTC_OKX)) / 2
    assert eth["average"] == half_up(exact, 12)
    assert body["exchanges"]["okx"] == {
        "status": "ok",
        "quoted_at": format_iso_ms(NOW_MS - 4 * SECOND_MS),
        "age_seconds": 4.0,
        "pairs": 2,
    }


async def test_board_leaves_out_outdated_venue(api: Api) -> None:
    """An outdated venue is not in `pairs` and shows as outdated in `exchanges`."""
    api.clock.advance(MAX_AGE_MS - 3 * SECOND_MS)  # okx now 61 s old, the others fresh
    status, body, _ = await api.get("/prices")
    assert status == 200
    assert list(body["pairs"]["BTC/USDT"]["exchanges"]) == ["binance", "kraken", "bybit"]
    assert body["pairs"]["BTC/USDT"]["average"] == "101.000000000000"
    assert body["exchanges"]["okx"]["status"] == "outdated"
    assert body["exchanges"]["okx"]["pairs"] == 0
    status, body, _ = await api.get("/prices?exchange=okx")
    assert (status, body["error"]) == (503, "quotes_outdated")


async def test_board_exchange_without_data_is_unavailable(
    tmp_path: Path, clock: FixedClock
) -> None:
    """exchange=X for a venue that never wrote a snapshot: 503 quotes_unavailable."""
    api = Api(tmp_path / "data", clock)
    api.write("binance", NOW_MS, BTC["binance"])
    status, body, _ = await api.get("/prices?exchange=bybit")
    assert (status, body["error"], body["details"]["exchange"]) == (
        503,
        "quotes_unavailable",
        "bybit",
    )


@pytest.mark.parametrize("spelling", ["BTC/USDT", "btc-usdt", "Btc_Usdt", "btc%2Fusdt"])
async def test_board_one_pair(api: Api, spelling: str) -> None:
    """pair=... in any spelling answers that pair only, with the exchanges block."""
    status, body, _ = await api.get(f"/prices?pair={spelling}")
    assert status == 200
    assert list(body["pairs"]) == ["BTC/USDT"]
    assert set(body["exchanges"]) == set(VENUES)


async def test_board_pair_on_one_venue(api: Api) -> None:
    """pair and exchange: that venue's prices only, no average."""
    status, body, _ = await api.get("/prices?pair=btc-usdt&exchange=KRAKEN")
    assert status == 200
    assert body["pairs"] == {
        "BTC/USDT": {
            "exchanges": {
                "kraken": {
                    "symbol": "XBTUSDT",
                    "bid": "99.0",
                    "ask": "101.0",
                    "mid": "100.000000000000",
                    "quoted_at": format_iso_ms(NOW_MS - 2 * SECOND_MS),
                }
            }
        }
    }
    assert list(body["exchanges"]) == ["kraken"]


async def test_board_reversed_pair_is_hinted(api: Api) -> None:
    """USDT/BTC when venues list BTC/USDT: 404 pair_not_found suggesting BTC/USDT."""
    status, body, headers = await api.get("/prices?pair=usdt-btc")
    assert (status, body["error"]) == (404, "pair_not_found")
    assert "BTC/USDT" in body["message"]
    assert body["details"] == {"pair": "USDT/BTC", "listed_as": "BTC/USDT"}
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("/prices?pair=xyz-usdt", 404, "unknown_currency"),
        ("/prices?pair=eth-usdt", 404, "pair_not_found"),
        ("/prices?pair=eth-btc&exchange=kraken", 404, "unknown_currency"),
        ("/prices?exchange=best", 400, "invalid_parameter"),
        ("/prices?pairs=btc-usdt", 400, "invalid_parameter"),
        ("/prices?pair=btcusdt", 400, "invalid_parameter"),
        ("/prices?timestamp=tomorrow", 400, "invalid_timestamp"),
        (f"/prices?timestamp={(NOW_MS - 3_600_000) // 1000}", 404, "quotes_not_found"),
    ],
)
async def test_board_errors(api: Api, target: str, status: int, code: str) -> None:
    """Each bad board request gets its error from the closed set."""
    got, body, _ = await api.get(target)
    assert (got, body["error"]) == (status, code), body


async def test_board_historical(api: Api) -> None:
    """timestamp=T: each venue's snapshot in force at T, ages counted from T, cacheable."""
    at = NOW_MS - 3_600_000
    api.write("binance", at - 5 * SECOND_MS, quote("BTCUSDT", "BTC", "USDT", "50", "52"))
    api.write("kraken", at + 1, quote("XBTUSDT", "BTC", "USDT", "70", "72"))  # after T
    status, body, headers = await api.get(f"/prices?timestamp={format_iso_ms(at)}")
    assert status == 200
    assert body["pairs"]["BTC/USDT"]["exchanges"]["binance"]["mid"] == "51.000000000000"
    assert list(body["pairs"]["BTC/USDT"]["exchanges"]) == ["binance"]
    assert body["exchanges"]["binance"]["age_seconds"] == 5.0
    assert body["exchanges"]["kraken"]["status"] == "no_data"
    assert re.fullmatch(r"public, max-age=[0-9]+", headers["cache-control"])


async def test_board_is_rebuilt_on_a_new_snapshot(api: Api) -> None:
    """A venue's new snapshot shows on the next request; until then the same board is served."""
    first = (await api.get("/prices?pair=btc-usdt"))[1]
    assert (await api.get("/prices?pair=btc-usdt"))[1] == first
    api.write("bybit", NOW_MS, quote("BTCUSDT", "BTC", "USDT", "104", "106"))
    again = (await api.get("/prices?pair=btc-usdt"))[1]
    assert again["pairs"]["BTC/USDT"]["exchanges"]["bybit"]["mid"] == "105.000000000000"


# -- /exchanges, /health, /currencies ------------------------------------------------------------


async def test_exchanges(api: Api) -> None:
    """Every venue with status, age, pairs, currencies, snapshot count and oldest snapshot."""
    api.write("bybit", NOW_MS - 120 * SECOND_MS, BTC["bybit"])
    status, body, _ = await api.get("/exchanges")
    assert status == 200
    assert list(body["exchanges"]) == list(VENUES)
    assert body["exchanges"]["bybit"] == {
        "status": "ok",
        "quoted_at": format_iso_ms(NOW_MS - 3 * SECOND_MS),
        "age_seconds": 3.0,
        "pairs": 1,
        "currencies": 2,
        "snapshots": 2,
        "oldest": format_iso_ms(NOW_MS - 120 * SECOND_MS),
    }
    assert body["exchanges"]["binance"]["currencies"] == 3
    assert body["default_exchange"] == "binance"
    assert (await api.get("/exchanges?verbose=1"))[0] == 400


async def test_health_ok_degraded_and_down(api: Api) -> None:
    """ok when all fresh; degraded when another venue is outdated; 503 when the default is."""
    status, body, headers = await api.get("/health")
    assert (status, body["status"], headers["cache-control"]) == (200, "ok", "no-store")
    assert set(body["exchanges"]) == set(VENUES)
    api.clock.advance(MAX_AGE_MS - 2 * SECOND_MS)  # okx (4 s) and bybit (3 s) now outdated
    status, body, _ = await api.get("/health")
    assert (status, body["status"]) == (200, "degraded")
    assert body["exchanges"]["okx"]["status"] == "outdated"
    api.clock.advance(2 * SECOND_MS)  # binance (the default, 1 s) now 61 s old
    status, body, _ = await api.get("/health")
    assert (status, body["status"]) == (503, "outdated")


async def test_health_with_average_default(tmp_path: Path, clock: FixedClock) -> None:
    """Default average: 200 degraded while any venue is fresh, 503 when none is."""
    api = Api(tmp_path / "data", clock, default_exchange="average")
    api.write("kraken", NOW_MS, BTC["kraken"])
    status, body, _ = await api.get("/health")
    assert (status, body["status"]) == (200, "degraded")
    api.clock.advance(MAX_AGE_MS + 1)
    status, body, _ = await api.get("/health")
    assert (status, body["status"]) == (503, "outdated")


async def test_currencies_union_and_one_venue(api: Api) -> None:
    """The union over venues with per-venue blocks; ?exchange=NAME restricts it."""
    status, body, _ = await api.get("/currencies")
    assert (status, body["currencies"], body["count"]) == (200, ["BTC", "ETH", "USDT"], 3)
    assert body["exchanges"]["kraken"] == {
        "quoted_at": format_iso_ms(NOW_MS - 2 * SECOND_MS),
        "age_seconds": 2.0,
        "outdated": False,
        "count": 2,
    }
    assert body["quoted_at"] == format_iso_ms(NOW_MS - 4 * SECOND_MS)  # the oldest part
    status, body, _ = await api.get("/currencies?exchange=Kraken")
    assert (status, body["currencies"], body["exchange"]) == (200, ["BTC", "USDT"], "kraken")
    assert list(body["exchanges"]) == ["kraken"]
    assert (await api.get("/currencies?exchange=average"))[0] == 400


# -- documentation ---------------------------------------------------------------------------------


async def test_openapi_describes_the_venue_parameters(api: Api) -> None:
    """The document lists exchange (with its values), /prices with pair, and the new schemas."""
    _, document, _ = await api.get("/docs/openapi.json")
    convert_params = {p["name"]: p for p in document["paths"]["/convert"]["get"]["parameters"]}
    assert convert_params["exchange"]["schema"]["enum"] == [*VENUES, "best", "average"]
    parameters = document["paths"]["/prices"]["get"]["parameters"]
    prices = {p["name"] for p in parameters if p["in"] == "query"}  # If-None-Match: a header
    assert prices == {"pair", "exchange", "timestamp"}
    schemas = document["components"]["schemas"]
    assert {"AverageConversion", "BestConversion", "Source", "PriceBoard", "VenueStatus"} <= set(
        schemas
    )
    best = schemas["BestConversion"]["properties"]
    assert {"venue", "side", "top_of_book_quantity", "exceeds_top_of_book", "sources"} <= set(best)
    assert schemas["Source"]["properties"]["reason"]["enum"][:4] == [
        "outlier",
        "outdated",
        "no_snapshot",
        "pair_not_listed",
    ]
    _, response = await api.app.asgi_client.get("/docs")
    for path in ("/prices", "/exchanges", "exchange", "pair", "top_of_book_quantity"):
        assert path in response.text


async def test_status_without_any_data(tmp_path: Path, clock: FixedClock) -> None:
    """Nothing written yet: /health 503 no_data, /currencies 503 quotes_unavailable, /prices too."""
    api = Api(tmp_path / "data", clock)
    status, body, _ = await api.get("/health")
    assert (status, body["status"], body["snapshots"]) == (503, "no_data", 0)
    assert "binance" in body["reason"]
    status, body, _ = await api.get("/currencies")
    assert (status, body["error"]) == (503, "quotes_unavailable")
    status, body, _ = await api.get("/prices")
    assert (status, body["error"]) == (503, "quotes_unavailable")
    status, body, _ = await api.get("/exchanges")
    assert status == 200
    assert {v["status"] for v in body["exchanges"].values()} == {"no_data"}


async def test_currencies_include_outdated_venues(api: Api) -> None:
    """An outdated venue's codes still count, and the list says it is partly outdated."""
    api.write("okx", NOW_MS - 10 * MAX_AGE_MS, quote("SOL-USDT", "SOL", "USDT", "20", "21"))
    api.clock.advance(MAX_AGE_MS - 3 * SECOND_MS)  # okx's newest (4 s) is now 61 s old
    status, body, _ = await api.get("/currencies")
    assert status == 200
    assert body["currencies"] == ["BTC", "ETH", "USDT"]
    assert body["outdated"] is True
    assert body["exchanges"]["okx"]["outdated"] is True
    assert body["exchanges"]["binance"]["outdated"] is False
