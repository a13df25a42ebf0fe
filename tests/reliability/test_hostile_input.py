"""Hostile query strings against one real API process: never a 500, never a dropped connection.

Hypothesis builds request targets byte by byte (keys and values of any
unicode, valid and broken percent-encoding, percent-encoded NULs, path
traversal, repeated keys, values up to ~6 KB) and a socket client sends them
unaltered, since httpx would re-encode them. Every answer must be a whole
HTTP response; a non-200 one a JSON error from the spec's closed set, with
no-store and nothing of the server's insides; a 5xx only as a documented 503.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from storage.model import Snapshot
from storage.writer import SnapshotWriter
from tests.reliability.conftest import (
    RawResponse,
    RunningApi,
    check_api_response,
    now_ms,
    recorded_quotes,
    start_api,
    write_snapshot,
)

pytestmark = pytest.mark.e2e

CONVERT_EXAMPLES = 1500
OTHER_EXAMPLES = 500
# The conversion fields of the contract; 200 answers must carry them.
CONTRACT = ("amount", "rate", "from", "to", "quoted_at")

TRAVERSALS = (
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f",
    "....//....//etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "file:///etc/passwd",
    "binance/../../.consumer.lock",
    "../binance/20261121T233600.123Z.json",
    "20261121T233600.123Z.json",
    "%00../../etc/passwd",
    "%C0%AE%C0%AE%C0%AF",  # overlong UTF-8 for "../"
)
BROKEN_ESCAPES = (
    "%",
    "%Z",
    "%ZZ",
    "%FF%FE",
    "%C3",
    "%E2%82",
    "%ED%A0%80",  # a UTF-16 surrogate, not valid UTF-8
    "%F4%90%80%80",  # above U+10FFFF
    "%00",
    "%0A%0D",
    "%u002e",
    "%%",
    "+%",
)
KEYS = ("amount", "from", "to", "timestamp", "exchange", "pair", "Amount", "FROM", "Exchange", "at",
        "form", "amount[]", "", "start", "end", "interval", "Interval")  # fmt: skip
# Values of the venue parameters: configured venues (any case), an unconfigured
# one, an unknown one, the aggregates, and pairs in every spelling.
EXCHANGE_VALUES = ("binance", "KRAKEN", "okx", "bybit", "coinbase", "best", "Average", "avg")
PAIR_VALUES = ("btc-usdt", "BTC/USDT", "usdt_btc", "eth-btc", "ETH-USDT", "xyz/usdt", "btcusdt")
# Every printable ASCII byte that may stand raw in a request target (not "#",
# which ends it, nor the separators, which the generator places itself).
RAW_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "#&=")


# Timestamps are drawn around the time of collection; a strategy must not read the clock.
NOW_S = time.time()


def _tokens() -> st.SearchStrategy[bytes]:
    """One key or value, as the bytes that go into the request target."""
    text = st.text(max_size=40)
    plain = st.one_of(
        st.sampled_from(["1", "0.5", "1.000001", "0", "-1", "1e5", "1E-6", "NaN", "9" * 16]),
        st.sampled_from(["btc", "USDT", "eth", "BNB", "x" * 21, "b t c", "BTC\u0000"]),
        st.sampled_from(["2026-11-21T12:00:00Z", "9999-12-31T23:59:59Z", "1e10", "-0", "0"]),
        st.sampled_from(EXCHANGE_VALUES),
        st.sampled_from(PAIR_VALUES),
        st.floats(min_value=NOW_S - 3_600, max_value=NOW_S + 30).map(lambda f: f"{f:.3f}"),
    )
    small = st.one_of(
        text.map(lambda s: quote(s, safe="").encode()),
        text.map(lambda s: quote_plus(s).encode()),
        # Raw non-ASCII, surrogates included (not valid UTF-8). Raw ASCII control
        # bytes are left out here: see test_raw_control_byte_in_target_gets_a_json_400.
        st.lists(
            st.one_of(
                st.text(st.characters(min_codepoint=0x80, blacklist_categories=["Cc"]), min_size=1),
                st.text(alphabet=RAW_SAFE),
            ),
            min_size=1,
            max_size=4,
        ).map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass")),
        st.text(alphabet=RAW_SAFE, max_size=40).map(str.encode),
        st.sampled_from(TRAVERSALS).map(str.encode),
        st.sampled_from(BROKEN_ESCAPES).map(str.encode),
        plain.map(lambda s: quote(s, safe="").encode()),
        plain.map(lambda s: "".join(c for c in s if c in RAW_SAFE).encode()),
    )
    huge = st.builds(lambda piece, n: ((piece or b"%") * n)[:6_144], small, st.integers(1, 3000))
    return st.one_of(small, small, small, huge)


def _pairs() -> st.SearchStrategy[bytes]:
    key = st.one_of(st.sampled_from(KEYS).map(str.encode), _tokens())
    value = _tokens()
    return st.one_of(
        st.builds(lambda k, v: k + b"=" + v, key, value),
        key,  # no "="
        st.builds(lambda k: k + b"=", key),
        st.builds(lambda v: b"=" + v, value),
        st.builds(lambda k, v, w: k + b"=" + v + b"=" + w, key, value, value),
    )


def _random_query() -> st.SearchStrategy[bytes]:
    separator = st.sampled_from([b"&", b"&&", b";", b"&amp;"])
    return st.builds(lambda pairs, sep: sep.join(pairs), st.lists(_pairs(), max_size=8), separator)


def _near_valid_query() -> st.SearchStrategy[bytes]:
    """A valid /convert query with one part made hostile: deeper code paths get exercised."""
    base = st.fixed_dictionaries(
        {
            "amount": st.one_of(
                st.sampled_from([b"1", b"0.5", b"123456.654321", b"999999999999999.999999"]),
                st.decimals(min_value=0, max_value=10**15, places=6).map(lambda d: f"{d}".encode()),
            ),
            "from": st.sampled_from([b"BTC", b"usdt", b"ETH", b"bnb", b"COS", b"ZZZ", b"Btc"]),
            "to": st.sampled_from([b"USDT", b"btc", b"BUSD", b"ETH", b"COS", b"XRP", b"BTC"]),
        },
        optional={
            "timestamp": st.floats(min_value=NOW_S - 600, max_value=NOW_S).map(
                lambda f: f"{f:.3f}".encode()
            ),
            "exchange": st.sampled_from(EXCHANGE_VALUES).map(str.encode),
        },
    )

    def build(params: dict[str, bytes], victim: int, token: bytes, mode: int) -> bytes:
        items = [(k.encode(), v) for k, v in params.items()]
        index = victim % len(items)
        name, _ = items[index]
        if mode == 0:
            items[index] = (name, token)  # hostile value
        elif mode == 1:
            items.append((name, token))  # repeated key
        elif mode == 2:
            items.append((token, b"1"))  # extra (maybe unknown) key
        else:
            items[index] = (token, items[index][1])  # misspelt key
        return b"&".join(k + b"=" + v for k, v in items)

    def build_or_keep(params: dict[str, bytes], victim: int, token: bytes, mode: int) -> bytes:
        if mode >= 4:  # left valid: the conversion itself runs
            return b"&".join(k.encode() + b"=" + v for k, v in params.items())
        return build(params, victim, token, mode)

    return st.builds(build_or_keep, base, st.integers(0, 3), _tokens(), st.integers(0, 5))


def _near_valid_prices_query() -> st.SearchStrategy[bytes]:
    """A valid /prices query (any subset of pair, exchange, timestamp), maybe one part hostile."""
    parts = st.fixed_dictionaries(
        {},
        optional={
            "pair": st.sampled_from(PAIR_VALUES).map(str.encode),
            "exchange": st.sampled_from(EXCHANGE_VALUES).map(str.encode),
            "timestamp": st.floats(min_value=NOW_S - 600, max_value=NOW_S).map(
                lambda f: f"{f:.3f}".encode()
            ),
        },
    )

    def build(params: dict[str, bytes], token: bytes, mode: int) -> bytes:
        items = [(k.encode(), v) for k, v in params.items()]
        if items and mode == 0:
            items[0] = (items[0][0], token)  # hostile value
        elif mode == 1:
            items.append((token, b"1"))  # extra (maybe unknown) key
        return b"&".join(k + b"=" + v for k, v in items)

    return st.builds(build, parts, _tokens(), st.integers(0, 3))


INTERVAL_VALUES = ("30s", "1m", "5m", "15m", "1h", "4h", "1d", "2m", "30S", "1H", "0s", "1w")


def _near_valid_rates_query() -> st.SearchStrategy[bytes]:
    """A valid /rates query (from, to; maybe start, end, interval, exchange), maybe one bad part."""
    moment = st.floats(min_value=NOW_S - 4 * 3_600, max_value=NOW_S + 30).map(
        lambda f: f"{f:.3f}".encode()
    )
    parts = st.fixed_dictionaries(
        {
            "from": st.sampled_from([b"BTC", b"usdt", b"ETH", b"ZZZ", b"btc"]),
            "to": st.sampled_from([b"USDT", b"btc", b"ETH", b"DOGE", b"BTC"]),
        },
        optional={
            "start": moment,
            "end": moment,
            "interval": st.sampled_from(INTERVAL_VALUES).map(str.encode),
            "exchange": st.sampled_from(EXCHANGE_VALUES).map(str.encode),
        },
    )

    def build(params: dict[str, bytes], token: bytes, victim: int, mode: int) -> bytes:
        items = [(k.encode(), v) for k, v in params.items()]
        index = victim % len(items)
        if mode == 0:
            items[index] = (items[index][0], token)  # hostile value
        elif mode == 1:
            items.append((token, b"1"))  # extra (maybe unknown) key
        elif mode == 2:
            items.append((items[index][0], token))  # repeated key
        return b"&".join(k + b"=" + v for k, v in items)  # mode 3+: left valid

    return st.builds(build, parts, _tokens(), st.integers(0, 5), st.integers(0, 5))


_NEAR_VALID = {
    "/convert": _near_valid_query,
    "/prices": _near_valid_prices_query,
    "/rates": _near_valid_rates_query,
}


@functools.cache
def targets(path: str) -> st.SearchStrategy[bytes]:
    near = _NEAR_VALID.get(path)
    query = st.one_of(_random_query(), near()) if near is not None else _random_query()
    prefix = st.sampled_from([b"?"] * 8 + [b"??", b"?&", b""])
    return st.builds(lambda p, q: path.encode() + p + q, prefix, query)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """One API over a valid store: a fresh snapshot and an hour of history.

    Three venues are configured: binance and kraken (the same recorded quotes,
    kraken's written only for the last 10 minutes) and okx, which has no
    snapshot, so `exchange=average`/`best` and the board meet every state.
    """
    workdir = tmp_path_factory.mktemp("hostile")
    data_dir = workdir / "data"
    now = now_ms()
    for ms in (now - 3_600_000, now - 1_800_000, now - 600_000, now - 60_000, now - 1_000):
        write_snapshot(data_dir, ms)
    kraken = SnapshotWriter(data_dir, "kraken")
    kraken.ensure_directory()
    for ms in (now - 600_000, now - 2_000):
        kraken.write(Snapshot("kraken", ms, dict(recorded_quotes())))
    running = start_api(
        workdir, data_dir, QUOTES_MAX_AGE_SECONDS="3600", EXCHANGES="binance,kraken,okx"
    )
    with running.proc:
        yield running
        assert running.proc.alive(), running.proc.output()
        assert running.proc.terminate() == 0, running.proc.output()
    output = running.proc.output()
    assert "Traceback" not in output, output
    assert " ERROR " not in output, output


def check(api: RunningApi, path: str, target: bytes) -> RawResponse:
    response = api.get(target)
    check_api_response(response, data_dir=api.data_dir)
    if currently_in_test_context():  # statistics for --hypothesis-show-statistics
        body = response.json() if response.status != 200 else None
        event(f"{response.status} {body.get('error') if isinstance(body, dict) else ''}")
    if response.status == 200:
        if path == "/docs":
            assert response.headers["content-type"].startswith("text/html"), response
        else:
            assert response.headers["content-type"] == "application/json", response
            body = response.json()
            assert isinstance(body, dict), response
            if path == "/convert":
                assert all(isinstance(body.get(name), str) for name in CONTRACT), body
            if path == "/prices":
                assert isinstance(body.get("pairs"), dict), body
                assert isinstance(body.get("exchanges"), dict), body
            if path == "/rates":
                assert isinstance(body.get("points"), list), body
                assert body["summary"]["points"] == len(body["points"]), body
    return response


_FUZZ = settings(
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(_FUZZ, max_examples=CONVERT_EXAMPLES)
@given(target=targets("/convert"))
def test_convert_survives_any_query(api: RunningApi, target: bytes) -> None:
    """/convert answers any query string with a whole response: 200 or a JSON error, no 500."""
    check(api, "/convert", target)


@pytest.mark.parametrize(
    "path", ["/rates", "/prices", "/exchanges", "/health", "/currencies", "/docs", "/"]
)
@settings(_FUZZ, max_examples=OTHER_EXAMPLES)
@given(data=st.data())
def test_other_endpoints_survive_any_query(api: RunningApi, path: str, data: st.DataObject) -> None:
    """/rates, /prices, /exchanges, /health, /currencies, /docs and / answer any query, no 500."""
    check(api, path, data.draw(targets(path)))


def test_twenty_kilobyte_query_is_a_json_431(api: RunningApi) -> None:
    """A 20 KB request line is refused by Sanic before routing, as our JSON 431."""
    response = check(api, "/convert", b"/convert?amount=" + b"1" * 20_000 + b"&from=btc&to=usdt")
    assert response.status == 431, response
    body = response.json()
    assert body == {
        "error": "headers_too_large",
        "message": "The request line and header fields are larger than the server accepts "
        "(8192 bytes).",
    }


@pytest.mark.parametrize(
    "target",
    [
        b"/convert?amount=1&from=bt\xff\xfec&to=usdt",
        b"/convert?amount=\xc3\x28&from=btc&to=usdt",
        b"/convert?\xed\xa0\x80=1",
        b"/health?\xff",
        b"/currencies?\x80",
    ],
    ids=["ff-fe", "bad-continuation", "surrogate-key", "health", "currencies"],
)
def test_invalid_utf8_raw_bytes_are_a_json_400(api: RunningApi, target: bytes) -> None:
    """Raw bytes that are not UTF-8 in the query: a JSON 400, not a 500 or a drop."""
    response = check(api, "/", target)
    assert response.status == 400, response


@pytest.mark.parametrize(
    "target",
    [
        b"/convert?amount=%00&from=btc&to=usdt",
        b"/convert?amount=1&from=btc%00&to=usdt",
        b"/convert?%00=1",
        b"/convert?amount=1&from=btc&to=usdt&timestamp=%00",
    ],
)
def test_percent_encoded_nul_is_a_json_400(api: RunningApi, target: bytes) -> None:
    """%00 anywhere in the query is an ordinary invalid parameter."""
    response = check(api, "/convert", target)
    assert response.status == 400, response


@pytest.fixture(scope="module")
def bare_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """A second API of its own, for the checks below that read its log."""
    workdir = tmp_path_factory.mktemp("control-bytes")
    write_snapshot(workdir / "data", now_ms())
    running = start_api(workdir, workdir / "data", QUOTES_MAX_AGE_SECONDS="3600")
    with running.proc:
        yield running
        assert running.proc.terminate() == 0, running.proc.output()


@pytest.mark.parametrize(
    "byte", [b"\x00", b"\x01", b"\x1b", b"\x7f"], ids=["nul", "soh", "esc", "del"]
)
def test_raw_control_byte_in_target_gets_a_json_400(bare_api: RunningApi, byte: bytes) -> None:
    """A raw control byte in the request target is answered with a JSON 400, not dropped."""
    response = check(bare_api, "/convert", b"/convert?amount=1" + byte + b"&from=btc&to=usdt")
    assert response.status == 400, response


def test_get_with_a_body_logs_no_error(bare_api: RunningApi) -> None:
    """A GET with Content-Length (0, or a small body) is answered and logs no ERROR line."""
    before = len(bare_api.proc.output())
    for headers, body in [(b"Content-Length: 0\r\n", b""), (b"Content-Length: 5\r\n", b"hello")]:
        response = bare_api.get("/convert?amount=1&from=BTC&to=USDT", headers=headers, body=body)
        check_api_response(response)
        assert response.status == 200, response
    time.sleep(0.2)
    logged = bare_api.proc.output()[before:]
    assert "body not consumed" not in logged, logged
