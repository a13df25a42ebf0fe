"""/metrics of the real processes: the API with two workers, the consumer with market analytics.

`python run.py api` with API_WORKERS=2 must count every request once, whichever
worker answered it and whichever worker answers the scrape; its metrics
directory exists while it runs and is gone after SIGTERM. `python run.py
quote-consumer` serves its metrics on METRICS_PORT (market gauges included),
keeps writing snapshots when that port is taken, and `market-report` answers
from the same fake and exits cleanly on Ctrl-C.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.metrics_requests import FLUSH_SECONDS
from tests.api.conftest import Store
from tests.fake_exchange import DEPTH_PATH, TICKER_24HR_PATH, FakeBinance
from tests.procs import Proc, free_port, run_once, settings_env, wait_until
from tests.promtool import check_metrics

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REQUESTS = 240


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_api_workers_count_every_request_once(
    fake_exchange: FakeBinance, tmp_path: Path
) -> None:
    """240 /convert over fresh connections: once flushed, every scrape says 240, any worker."""
    data = tmp_path / "data"
    Store(data).write_recorded(int(time.time() * 1000))
    port = free_port()
    env = settings_env(
        base_url=fake_exchange.base_url,
        data_dir=data,
        API_PORT=str(port),
        API_WORKERS="2",
        QUOTES_MAX_AGE_SECONDS="3600",
    )
    base = f"http://127.0.0.1:{port}"
    with Proc("api", env=env, workdir=tmp_path, name="api") as api:
        api.wait_for_log("workers share", timeout=30)
        shared = Path(re.search(r"workers share (\S+)", api.output())[1])  # type: ignore[index]
        # Both workers must be up: before that one answers everything, and Sanic's
        # manager ignores SIGTERM while a worker is starting (sanic-org/sanic#2997).
        wait_until(lambda: api.output().count("Worker ready") >= 2, 30, message=api.output)
        wait_until(lambda: get(f"{base}/health")[0] == 200, 30, message=api.output)
        url = f"{base}/convert?amount=1&from=BTC&to=USDT"
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: get(url)[0], range(REQUESTS)))
        assert statuses == [200] * REQUESTS
        time.sleep(FLUSH_SECONDS + 0.5)  # every worker has written its figures since
        counted = (
            "crypto_converter_http_requests_total",
            (("route", "/convert"), ("status", "200")),
        )
        timed = ("crypto_converter_http_request_duration_seconds_count", (("route", "/convert"),))
        for _ in range(6):
            status, text = get(f"{base}/metrics")
            assert status == 200
            found = samples(text)
            assert found[counted] == REQUESTS
            assert found[timed] == REQUESTS
        latency = found[
            ("crypto_converter_http_request_duration_seconds_sum", (("route", "/convert"),))
        ]
        assert 0 < latency < REQUESTS  # real handling times, each well under a second
        assert found[("crypto_converter_snapshots_indexed", (("exchange", "binance"),))] == 1
        # Both workers answered some requests: each wrote its own figures.
        assert len(list(shared.glob("requests_*.json"))) == 2
        check_metrics(text)
        assert api.terminate() == 0, api.output()
    assert not shared.exists()


def test_consumer_metrics_and_market_gauges(fake_exchange: FakeBinance, tmp_path: Path) -> None:
    """The consumer serves its counters and the crypto_market_* gauges; promtool accepts them."""
    port = free_port()
    env = settings_env(
        base_url=fake_exchange.base_url,
        data_dir=tmp_path / "data",
        POLL_INTERVAL_SECONDS="0.5",
        SNAPSHOT_INTERVAL_SECONDS="1",
        HTTP_TIMEOUT_SECONDS="2",
        METRICS_PORT=str(port),
        MARKET_ANALYTICS="true",
        MARKET_INTERVAL_SECONDS="0.5",
        MARKET_STATS_REFRESH_SECONDS="5",
        MARKET_DEPTH_REFRESH_SECONDS="5",
    )
    url = f"http://127.0.0.1:{port}/metrics"
    with Proc("quote-consumer", env=env, workdir=tmp_path, name="qc") as qc:
        qc.wait_for_log(f"metrics on http://127.0.0.1:{port}/metrics", timeout=20)

        def market() -> str:
            text = get(url)[1]
            return text if "crypto_market_spread_abs_change{" in text else ""

        text = wait_until(market, 30, message=qc.output)
        found = samples(text)
        assert (
            found[("crypto_converter_polls_total", (("exchange", "binance"), ("outcome", "ok")))]
            >= 1
        )
        tops = [labels for name, labels in found if name == "crypto_market_top_symbol"]
        assert len(tops) == 10
        notionals = [labels for name, labels in found if name == "crypto_market_book_notional"]
        assert len(notionals) == 10
        check_metrics(text)
        assert qc.terminate() == 0


def test_consumer_keeps_writing_when_the_metrics_port_is_taken(
    fake_exchange: FakeBinance, tmp_path: Path
) -> None:
    """A busy METRICS_PORT is logged once as an error; snapshots are written all the same."""
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = settings_env(
            base_url=fake_exchange.base_url,
            data_dir=data,
            POLL_INTERVAL_SECONDS="0.5",
            SNAPSHOT_INTERVAL_SECONDS="1",
            METRICS_PORT=str(port),
        )
        with Proc("quote-consumer", env=env, workdir=tmp_path, name="qc") as qc:
            qc.wait_for_log("metrics are off: cannot listen", timeout=20)
            wait_until(
                lambda: len(list((data / "binance").glob("*Z.json"))) >= 2, 20, message=qc.output
            )
            assert qc.terminate() == 0


def test_market_report_json_then_watch_until_ctrl_c(
    fake_exchange: FakeBinance, tmp_path: Path
) -> None:
    """The report's JSON, then --watch lines every interval; SIGINT ends it with 0, no traceback."""
    env = settings_env(
        base_url=fake_exchange.base_url,
        data_dir=tmp_path / "data",
        MARKET_INTERVAL_SECONDS="0.3",
    )
    with Proc(
        "market-report", "--json", "--watch", env=env, workdir=tmp_path, name="report"
    ) as report:
        report.wait_for_log('"abs_change"', timeout=20)
        report.popen.send_signal(signal.SIGINT)
        assert report.wait(10) == 0
    output = report.output()
    assert "Traceback" not in output
    document, _, watched = output.partition("\n}\n")
    body = json.loads(document + "\n}")
    binance = body["exchanges"]["binance"]
    assert [r["rank"] for r in binance["most_traded_btc"]] == [1, 2, 3, 4, 5]
    lines = [json.loads(line) for line in watched.splitlines() if line.strip()]
    assert lines
    assert set(lines[0]["spreads"]) == {r["symbol"] for r in binance["most_active_usdt"]}


def test_market_report_refuses_an_unknown_exchange(tmp_path: Path) -> None:
    """--exchange outside EXCHANGES: exit 2 and a message naming the configured venues."""
    env = settings_env(base_url="http://127.0.0.1:9", data_dir=tmp_path / "data")
    result = run_once("market-report", "--exchange", "nope", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "'nope' is not a venue of EXCHANGES (binance)" in result.stderr
    assert "Traceback" not in result.stderr


def test_market_analytics_off_means_no_market_series_and_requests(
    fake_exchange: FakeBinance, tmp_path: Path
) -> None:
    """MARKET_ANALYTICS=false: the service metrics only; 24hr and depth are never asked for."""
    port = free_port()
    env = settings_env(
        base_url=fake_exchange.base_url,
        data_dir=tmp_path / "data",
        POLL_INTERVAL_SECONDS="0.5",
        METRICS_PORT=str(port),
        MARKET_ANALYTICS="false",
    )
    url = f"http://127.0.0.1:{port}/metrics"
    with Proc("quote-consumer", env=env, workdir=tmp_path, name="qc") as qc:
        ok = ("crypto_converter_polls_total", (("exchange", "binance"), ("outcome", "ok")))

        def after_three_polls() -> str:
            text = get(url)[1]
            return text if text and samples(text).get(ok, 0) >= 3 else ""

        text = wait_until(after_three_polls, 20, message=qc.output)
        assert qc.terminate() == 0
    assert "crypto_market_" not in text
    assert "crypto_converter_market_fetches" not in text
    assert not fake_exchange.requests_to(TICKER_24HR_PATH)
    assert not fake_exchange.requests_to(DEPTH_PATH)
