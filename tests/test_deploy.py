"""The deployment files: docker-compose.yml, Dockerfile, .dockerignore, .env.example.

No Docker engine is needed. The files are parsed and checked against the
settings (so a variable added to `Settings` but not to compose fails here),
and the e2e test runs each compose service's command, environment and
healthcheck as local processes against the fake exchange.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from settings import Settings, load_settings
from tests.fakes import FakeExchanges
from tests.procs import REPO_ROOT, Proc, base_env, free_port, wait_until

COMPOSE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
ENV_EXAMPLE = REPO_ROOT / ".env.example"

COMMANDS = {"quote-consumer": "python run.py quote-consumer", "api": "python run.py api"}
RUN_PY_COMMANDS = ("quote-consumer", "api", "all", "snapshots")
VARIABLES = tuple(field.name.upper() for field in fields(Settings))
# Where compose differs from the local defaults: the data lives on the volume,
# and the API must be reachable through the published port.
COMPOSE_DEFAULTS = {"DATA_DIR": "/data", "API_HOST": "0.0.0.0", "METRICS_HOST": "0.0.0.0"}
IMAGE_CODE = ("run.py", "settings.py", "logsetup.py", "supervisor.py", "api", "consumer", "storage")

_SUBSTITUTION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):-([^}]*)\}")


# -- reading the files -----------------------------------------------------------


def interpolate(value: str, dotenv: Mapping[str, str] | None = None) -> str:
    """Compose's `${NAME:-default}`: the value from `dotenv` (as if in .env), else the default."""
    given = dotenv or {}
    result = _SUBSTITUTION.sub(lambda m: given.get(m[1]) or m[2], value)
    assert "$" not in result, f"unsupported substitution in {value!r}"
    return result


def load_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def services() -> dict[str, dict[str, Any]]:
    found = load_compose()["services"]
    assert isinstance(found, dict)
    return found


def service_env(service: Mapping[str, Any], dotenv: Mapping[str, str]) -> dict[str, str]:
    """The service's environment as compose would set it with this .env."""
    return {name: interpolate(str(raw), dotenv) for name, raw in service["environment"].items()}


def volume(service: Mapping[str, Any], dotenv: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(source, target) of the service's one volume."""
    (spec,) = service["volumes"]
    source, target = interpolate(spec, dotenv).split(":")
    return source, target


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            stages.append([])
        assert stages, "the Dockerfile must start with FROM"
        stages[-1].append(instruction)
    return stages


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (or a folder above it) out of the build context."""
    patterns = [
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "exceptions are not modelled here"
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        for prefix in prefixes:
            name = prefix.rsplit("/", 1)[-1]
            if fnmatch.fnmatchcase(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatchcase(name, pattern[3:])
            ):
                return True
    return False


def run_healthcheck(
    service: Mapping[str, Any], env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run the service's healthcheck `test` locally, with the service's environment."""
    test = service["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"], "exec form, run by the image's python"
    return subprocess.run(
        [sys.executable, *test[2:]],
        env={**base_env(), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )


def get_json(url: str) -> tuple[int, Any]:
    """(status, decoded body); (0, None) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())
    except urllib.error.URLError:
        return 0, None


# -- docker-compose.yml ------------------------------------------------------------


def test_compose_runs_the_consumer_and_the_api_commands() -> None:
    """The two services run exactly `python run.py quote-consumer` and `python run.py api`."""
    found = services()
    assert {name: service["command"] for name, service in found.items()} == COMMANDS


def test_compose_services_share_one_image_and_environment() -> None:
    """Both services are built from the same Dockerfile into one image, with one environment."""
    consumer, api = services()["quote-consumer"], services()["api"]
    assert consumer["build"] == api["build"] == "."
    assert consumer["image"] == api["image"]
    assert consumer["environment"] == api["environment"]


def test_compose_volume_is_shared_at_data_dir() -> None:
    """One named volume, mounted at the same path in both services, which is their DATA_DIR."""
    named = load_compose()["volumes"]
    mounts = set()
    for service in services().values():
        source, target = volume(service)
        assert source in named, f"{source!r} must be a named volume, not a bind mount"
        assert target == service_env(service, {})["DATA_DIR"] == "/data"
        mounts.add((source, target))
    assert len(mounts) == 1


def test_compose_publishes_the_api_on_8000_on_all_interfaces() -> None:
    """The API publishes 8000 and binds 0.0.0.0; the consumer publishes nothing."""
    api, consumer = services()["api"], services()["quote-consumer"]
    assert [interpolate(p) for p in api["ports"]] == ["8000:8000"]
    assert service_env(api, {})["API_HOST"] == "0.0.0.0"
    assert "ports" not in consumer


def test_compose_publishes_the_port_the_api_listens_on() -> None:
    """Overriding API_PORT in .env moves both the listening and the published port."""
    api = services()["api"]
    dotenv = {"API_PORT": "9000"}
    assert [interpolate(p, dotenv) for p in api["ports"]] == ["9000:9000"]
    assert service_env(api, dotenv)["API_PORT"] == "9000"


def test_compose_sets_every_setting_overridable_with_its_default() -> None:
    """Each Settings variable is `${NAME:-default}`, the default being the settings' own."""
    defaults = Settings()
    for service in services().values():
        env = service["environment"]
        assert sorted(env) == sorted(VARIABLES)
        for field in fields(Settings):
            name = field.name.upper()
            match = _SUBSTITUTION.fullmatch(str(env[name]))
            assert match is not None, f"{name} must be ${{{name}:-default}}, got {env[name]!r}"
            assert match[1] == name
            if name in COMPOSE_DEFAULTS:
                assert match[2] == COMPOSE_DEFAULTS[name]
            else:
                parsed = getattr(load_settings({name: match[2]}), field.name)
                assert parsed == getattr(defaults, field.name), name


def test_compose_restarts_unless_stopped() -> None:
    """Both services come back after a crash or a reboot, unless stopped by hand."""
    for service in services().values():
        assert service["restart"] == "unless-stopped"


def test_compose_healthchecks_exist_and_the_api_one_uses_health() -> None:
    """Both services have a healthcheck; the API's asks GET /health."""
    found = services()
    for service in found.values():
        assert service["healthcheck"]["test"][:2] == ["CMD", "python"]
    assert "/health" in " ".join(found["api"]["healthcheck"]["test"])


def test_consumer_healthcheck_needs_a_recent_snapshot(tmp_path: Path) -> None:
    """Unhealthy with no snapshot or one older than 90 s (in DATA_DIR); healthy with a new one."""
    consumer = services()["quote-consumer"]
    env = service_env(consumer, {"DATA_DIR": str(tmp_path)})
    assert run_healthcheck(consumer, env, tmp_path).returncode != 0
    folder = tmp_path / "binance"
    folder.mkdir()
    (folder / ".tmp-20261121T233700.000Z.json.abcd").write_bytes(b"{}")  # ignored
    assert run_healthcheck(consumer, env, tmp_path).returncode != 0
    snapshot = folder / "20261121T233600.123Z.json"
    snapshot.write_bytes(b"{}")
    stale = time.time() - 120
    os.utime(snapshot, (stale, stale))
    assert run_healthcheck(consumer, env, tmp_path).returncode != 0
    os.utime(snapshot)
    result = run_healthcheck(consumer, env, tmp_path)
    assert result.returncode == 0, result.stderr


def test_consumer_healthcheck_is_healthy_while_any_venue_writes(tmp_path: Path) -> None:
    """With several venues, one fresh venue keeps the consumer healthy; all stale does not."""
    consumer = services()["quote-consumer"]
    env = service_env(consumer, {"DATA_DIR": str(tmp_path), "EXCHANGES": "binance,kraken"})
    stale = time.time() - 600
    for venue in ("binance", "kraken"):
        (tmp_path / venue).mkdir()
        snapshot = tmp_path / venue / "20261121T233600.123Z.json"
        snapshot.write_bytes(b"{}")
        os.utime(snapshot, (stale, stale))
    assert run_healthcheck(consumer, env, tmp_path).returncode != 0
    os.utime(tmp_path / "kraken" / "20261121T233600.123Z.json")
    result = run_healthcheck(consumer, env, tmp_path)
    assert result.returncode == 0, result.stderr
    # A venue outside EXCHANGES does not count.
    only_binance = {**env, "EXCHANGES": "binance"}
    assert run_healthcheck(consumer, only_binance, tmp_path).returncode != 0


def test_api_healthcheck_fails_when_nothing_listens(tmp_path: Path) -> None:
    """The API healthcheck exits non-zero when nothing answers on API_PORT."""
    api = services()["api"]
    env = service_env(api, {"API_PORT": str(free_port())})
    assert run_healthcheck(api, env, tmp_path).returncode != 0


def test_env_example_documents_every_variable_with_its_default() -> None:
    """.env.example has a commented-out `NAME=default` line with a comment above it."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    defaults = Settings()
    for field in fields(Settings):
        name = field.name.upper()
        at = [i for i, line in enumerate(lines) if line.startswith(f"# {name}=")]
        assert len(at) == 1, f"{name} must appear once as '# {name}=default'"
        shown = lines[at[0]].partition("=")[2]
        assert getattr(load_settings({name: shown}), field.name) == getattr(defaults, field.name)
        meaning = lines[at[0] - 1]
        assert meaning.startswith("# "), f"{name} needs a comment saying what it means"
        assert "=" not in meaning.split()[1], f"{name} needs a comment saying what it means"


# -- Dockerfile and .dockerignore ----------------------------------------------------


def test_dockerfile_builds_on_slim_python_and_runs_as_non_root() -> None:
    """Every stage is python:3.11-slim; the final one switches to a user that is not root."""
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: dependencies are built apart from the final image"
    for stage in stages:
        assert stage[0][1].startswith("python:3.11-slim")
    users = [args for keyword, args in stages[-1] if keyword == "USER"]
    assert users, "the final stage must set USER"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_installs_requirements_before_copying_the_code() -> None:
    """requirements.txt is copied and installed before any code, so code edits reuse that layer."""
    flat = [(keyword, args) for stage in dockerfile_stages() for keyword, args in stage]

    def first(predicate: Any) -> int:
        return next(i for i, (keyword, args) in enumerate(flat) if predicate(keyword, args))

    copy_requirements = first(lambda k, a: k == "COPY" and "requirements.txt" in a)
    install = first(lambda k, a: k == "RUN" and "pip install" in a and "requirements.txt" in a)
    copy_code = first(lambda k, a: k == "COPY" and "run.py" in a)
    assert copy_requirements < install < copy_code


def test_dockerfile_final_stage_has_no_build_tools_and_the_code() -> None:
    """The final stage copies the built venv and our code, and installs nothing itself."""
    final = dockerfile_stages()[-1]
    runs = " ".join(args for keyword, args in final if keyword == "RUN")
    assert not re.search(r"apt-get|apk|gcc|build-essential|pip install", runs)
    copies = [args.split() for keyword, args in final if keyword == "COPY"]
    assert any(words[0].startswith("--from=") for words in copies)
    sources = {s.rstrip("/") for words in copies for s in words[:-1] if not s.startswith("--")}
    assert set(IMAGE_CODE) <= sources
    assert "tests" not in sources


def test_dockerfile_default_command_is_run_py() -> None:
    """CMD is an exec-form `python run.py <command>`, so python receives SIGTERM."""
    (cmd,) = [args for keyword, args in dockerfile_stages()[-1] if keyword == "CMD"]
    argv = json.loads(cmd)
    assert argv[:2] == ["python", "run.py"]
    assert argv[2] in RUN_PY_COMMANDS


def test_dockerignore_keeps_local_state_out_and_the_code_in() -> None:
    """Virtualenvs, git, .env, data, caches and bench output never reach the build context."""
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        ".env",
        "data/binance/20261121T233600.123Z.json",
        "bench/out/result.json",
        ".pytest_cache/v",
        ".mypy_cache/3.11",
        ".ruff_cache/x",
        ".hypothesis/examples",
        "api/__pycache__/app.cpython-311.pyc",
        "tests/test_deploy.py",
    ):
        assert dockerignored(path), path
    for path in (*IMAGE_CODE, "api/app.py", "consumer/exchanges/binance.py", "requirements.txt"):
        assert not dockerignored(path), path


def test_requirements_are_pinned() -> None:
    """Every runtime requirement is pinned with ==, so the image is reproducible."""
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    requirements = [line for line in lines if line.strip() and not line.startswith("#")]
    assert requirements
    for line in requirements:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.]*", line.strip()), line


# -- the stack, as local processes ---------------------------------------------------


@pytest.mark.e2e
def test_compose_services_run_as_local_processes(
    fake_exchanges: FakeExchanges, tmp_path: Path
) -> None:
    """Each service's command and env serve conversions; healthchecks pass; SIGTERM exits 0."""
    found = services()
    # What a .env would say to run the stack here: the volume is a temp dir, the
    # four venues are the fakes, the API and metrics are on free loopback ports,
    # intervals short. EXCHANGES is compose's default: every venue.
    dotenv = {
        "DATA_DIR": str(tmp_path / "volume"),
        **fake_exchanges.env,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(free_port()),
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(free_port()),
        "POLL_INTERVAL_SECONDS": "0.5",
        "SNAPSHOT_INTERVAL_SECONDS": "1",
        "HTTP_TIMEOUT_SECONDS": "2",
    }
    envs = {name: service_env(service, dotenv) for name, service in found.items()}
    for name, service in found.items():
        assert volume(service, dotenv)[1] == envs[name]["DATA_DIR"] == dotenv["DATA_DIR"]
    Path(dotenv["DATA_DIR"]).mkdir()  # docker creates the volume before the containers

    def argv(name: str) -> list[str]:
        words = shlex.split(found[name]["command"])
        assert words[:2] == ["python", "run.py"]
        return words[2:]

    with (
        Proc(
            *argv("quote-consumer"), env=envs["quote-consumer"], workdir=tmp_path, name="qc"
        ) as qc,
        Proc(*argv("api"), env=envs["api"], workdir=tmp_path, name="api") as api,
    ):
        base = f"http://127.0.0.1:{dotenv['API_PORT']}"
        wait_until(
            lambda: get_json(f"{base}/health")[0] == 200,
            timeout=30,
            message=lambda: f"/health 200\n{qc.output()}\n{api.output()}",
        )
        status, body = get_json(f"{base}/convert?amount=1.5&from=BTC&to=USDT")
        assert status == 200, body
        assert re.fullmatch(r"[0-9]+\.[0-9]{6}", body["amount"]), body
        assert (body["from"], body["to"]) == ("BTC", "USDT")
        # Every venue of compose's default EXCHANGES is polled and written.
        volume_dir = Path(dotenv["DATA_DIR"])
        wait_until(
            lambda: all(any((volume_dir / v).glob("*Z.json")) for v in fake_exchanges.names),
            timeout=30,
            message=qc.output,
        )

        for name, service in found.items():
            result = run_healthcheck(service, envs[name], tmp_path)
            assert result.returncode == 0, f"{name} healthcheck: {result.stderr}"

        assert api.terminate() == 0, api.output()
        assert qc.terminate() == 0, qc.output()
