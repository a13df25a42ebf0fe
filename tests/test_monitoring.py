"""The monitoring deployment files: deploy/prometheus.yml and the compose `monitoring` profile.

No Docker engine is needed: the files are parsed, checked against the
compose services and settings they must agree with, and the Prometheus
configuration is validated by `promtool check config` (Debian's package).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from settings import Settings
from tests.procs import REPO_ROOT
from tests.test_deploy import interpolate, services

DEPLOY = REPO_ROOT / "deploy"
PROMETHEUS_YML = DEPLOY / "prometheus.yml"
MONITORING = DEPLOY / "compose.monitoring.yml"


def prometheus_config() -> dict[str, Any]:
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    assert isinstance(config, dict)
    return config


def monitoring() -> dict[str, Any]:
    document = yaml.safe_load(MONITORING.read_text())
    assert isinstance(document, dict)
    return document


def test_prometheus_scrapes_both_compose_services_at_their_default_ports() -> None:
    """One job per process: the API on API_PORT, the consumer on METRICS_PORT, path /metrics."""
    defaults = Settings()
    targets = {
        job["job_name"]: (
            job["metrics_path"],
            [t for c in job["static_configs"] for t in c["targets"]],
        )
        for job in prometheus_config()["scrape_configs"]
    }
    assert targets == {
        "crypto-converter-api": ("/metrics", [f"api:{defaults.api_port}"]),
        "crypto-converter-consumer": ("/metrics", [f"quote-consumer:{defaults.metrics_port}"]),
    }
    assert {"api", "quote-consumer"} <= set(services())


def test_the_consumer_listens_where_prometheus_can_reach_it() -> None:
    """In compose the consumer's metrics bind 0.0.0.0 on the scraped port."""
    env = services()["quote-consumer"]["environment"]
    assert interpolate(env["METRICS_HOST"]) == "0.0.0.0"
    assert interpolate(env["METRICS_PORT"]) == str(Settings().metrics_port)


def test_prometheus_config_is_valid_for_promtool() -> None:
    """`promtool check config deploy/prometheus.yml` succeeds."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (.ci/run installs Debian's prometheus)")
    check = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_YML)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_monitoring_profile_adds_a_pinned_prometheus() -> None:
    """docker-compose.yml includes the file; its only service is Prometheus, profile-gated."""
    document = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert "deploy/compose.monitoring.yml" in document["include"]
    found = monitoring()["services"]
    assert set(found) == {"prometheus"}
    prometheus = found["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert re.fullmatch(r"prom/prometheus:v3\.\d+\.\d+", prometheus["image"]), "pinned, not latest"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    config = (DEPLOY / mounts["/etc/prometheus/prometheus.yml"]).resolve()
    assert config == PROMETHEUS_YML.resolve()
    assert [interpolate(p) for p in prometheus["ports"]] == ["9090:9090"]
