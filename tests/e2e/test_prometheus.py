"""The real `prometheus` binary scraping the real processes, queried through its HTTP API.

Fake Binance -> `python run.py quote-consumer` (metrics and market analytics
on) and `python run.py api`; Prometheus runs with deploy/prometheus.yml, its
targets pointed at those loopback ports and a 1 s scrape interval. The test
waits for a scrape and finds `crypto_market_spread` and
`crypto_converter_http_requests_total` with `GET /api/v1/query`, with the
values the processes expose. Needs Debian's `prometheus` package.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fake_exchange import BOOK_TICKER_FIXTURE, FakeBinance
from tests.procs import REPO_ROOT, Proc, free_port, settings_env, wait_until
from tests.promtool import check_metrics

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROMETHEUS = shutil.which("prometheus")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def config_for(api_port: int, metrics_port: int) -> dict[str, Any]:
    """deploy/prometheus.yml with loopback targets and a 1 s scrape interval."""
    config: dict[str, Any] = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    ports = {"crypto-converter-api": api_port, "crypto-converter-consumer": metrics_port}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
    return config


@pytest.fixture
def prometheus_at(tmp_path: Path) -> tuple[Path, int]:
    """Where to write the config, and the port; the server is started by the test."""
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (.ci/run installs Debian's prometheus)")
    return tmp_path / "prometheus.yml", free_port()


def query(port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, body = get(url)
    if status != 200:
        return []
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def test_prometheus_scrapes_both_processes(
    fake_exchange: FakeBinance, tmp_path: Path, prometheus_at: tuple[Path, int]
) -> None:
    """Both targets up; the spread and the request counter are queryable with their values."""
    config_path, prom_port = prometheus_at
    api_port, metrics_port = free_port(), free_port()
    env = settings_env(
        base_url=fake_exchange.base_url,
        data_dir=tmp_path / "data",
        POLL_INTERVAL_SECONDS="0.5",
        SNAPSHOT_INTERVAL_SECONDS="1",
        HTTP_TIMEOUT_SECONDS="2",
        API_PORT=str(api_port),
        METRICS_PORT=str(metrics_port),
        MARKET_ANALYTICS="true",
        MARKET_INTERVAL_SECONDS="1",
        MARKET_STATS_REFRESH_SECONDS="30",
        MARKET_DEPTH_REFRESH_SECONDS="30",
    )
    config_path.write_text(yaml.safe_dump(config_for(api_port, metrics_port)))
    log = tmp_path / "prometheus.log"
    with (
        Proc("quote-consumer", env=env, workdir=tmp_path, name="qc") as qc,
        Proc("api", env=env, workdir=tmp_path, name="api") as api,
        open(log, "wb") as out,
    ):
        assert PROMETHEUS is not None
        server = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            api_base = f"http://127.0.0.1:{api_port}"
            wait_until(lambda: get(f"{api_base}/health")[0] == 200, 30, message=api.output)
            for _ in range(7):
                assert get(f"{api_base}/convert?amount=1&from=BTC&to=USDT")[0] == 200

            def scraped() -> list[dict[str, Any]]:
                spread = query(prom_port, 'crypto_market_spread{symbol="BTCUSDT"}')
                requests = query(
                    prom_port,
                    'crypto_converter_http_requests_total{route="/convert",status="200"}',
                )
                return spread + requests if spread and requests else []

            found = wait_until(
                scraped,
                60,
                interval=0.5,
                message=lambda: f"{log.read_text()}\n{qc.output()}\n{api.output()}",
            )
            spread, requests = found
            top = {e["symbol"]: e for e in json.loads(BOOK_TICKER_FIXTURE.read_bytes())}
            want = Fraction(top["BTCUSDT"]["askPrice"]) - Fraction(top["BTCUSDT"]["bidPrice"])
            assert float(spread["value"][1]) == float(want)
            assert spread["metric"]["exchange"] == "binance"
            assert float(requests["value"][1]) >= 7
            up = {r["metric"]["job"]: r["value"][1] for r in query(prom_port, "up")}
            assert up == {"crypto-converter-api": "1", "crypto-converter-consumer": "1"}
            for url in (f"{api_base}/metrics", f"http://127.0.0.1:{metrics_port}/metrics"):
                status, text = get(url)
                assert status == 200
                check_metrics(text)
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        assert api.terminate() == 0
        assert qc.terminate() == 0
