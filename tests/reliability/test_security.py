"""Security basics: request data never reaches a file path, the API never writes the store,
errors never show the server's insides, and the API listens on loopback unless told otherwise.

The container's non-root user is pinned by
tests/test_deploy.py::test_dockerfile_builds_on_slim_python_and_runs_as_non_root.
"""

from __future__ import annotations

import ast
import ipaddress
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.procs import REPO_ROOT, Proc, base_env, free_port, wait_until
from tests.reliability.conftest import (
    RawResponse,
    RunningApi,
    api_env,
    check_api_response,
    now_ms,
    start_api,
    tree_state,
    wait_listening,
    write_snapshot,
)

API_DIR = REPO_ROOT / "api"
# A string no file name or log line contains by chance, to find in a syscall trace.
MARKER = "zq7xsecmarker"
TRAVERSALS = (
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/etc/passwd",
    "..\\..\\etc\\passwd",
    "binance/../.consumer.lock",
    "../binance/20261121T233600.123Z.json",
    f"../../tmp/{MARKER}",
    f"%2e%2e%2f{MARKER}",
    f"{MARKER}%00.json",
    MARKER,  # a well-formed code: it gets past validation, so it must stop at the store
)
VALID = {"amount": "1", "from": "BTC", "to": "USDT", "timestamp": ""}


# -- static: what the api package can do at all -----------------------------------------


def _api_modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(API_DIR.glob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


# The API's own file-system use, each fixed at start and never named by a request:
# the metrics' multiprocess directory (made before the workers, from the
# environment or tempfile, removed at exit) and each worker's stats file in it; the page's
# static files, read once from the package; and a stat of a snapshot file
# whose name is built from a time (the history index's freshness check).
_FILE_IO_ALLOWED = {
    "metrics.py": {"os", "pathlib", "shutil", "tempfile"},
    "metrics_requests.py": {"os", "pathlib"},
    "page.py": {"pathlib"},
    "history_lookup.py": {"os"},
}


def test_api_package_has_no_file_io_of_its_own() -> None:
    """api/ touches files only where listed above and calls no open(); data is under DATA_DIR."""
    file_modules = {"os", "pathlib", "shutil", "tempfile", "io", "glob", "fileinput", "filelock"}
    readers: list[str] = []
    for path, tree in _api_modules():
        allowed = _FILE_IO_ALLOWED.get(path.name, set())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
                assert not (names & file_modules) - allowed, f"{path.name} imports {names}"
            elif isinstance(node, ast.ImportFrom) and node.module:
                root = node.module.split(".")[0]
                assert root not in file_modules - allowed, f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"open", "exec", "eval"}, (
                    f"{path.name}:{node.lineno} calls {node.func.id}()"
                )
                if node.func.id in {"Path", "PurePath"}:
                    assert "pathlib" in allowed, f"{path.name}:{node.lineno} builds a Path"
                if node.func.id == "SnapshotReader":
                    readers.append(f"{path.name}: {ast.unparse(node)}")
    # The readers are built from settings alone; request data never reaches a constructor.
    assert readers == ["app.py: SnapshotReader(settings.data_dir, venue)"]


def test_history_check_stats_only_names_built_from_a_time() -> None:
    """api/history_lookup.py's one os call is a stat of DATA_DIR/<venue>/filename_for(ms)."""
    source = (API_DIR / "history_lookup.py").read_text()
    calls = [
        ast.unparse(node)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "os"
    ]
    assert calls == ["os.stat(self.path(fetched_ms))"]
    assert 'f"{self._directory}/{filename_for(fetched_ms)}"' in source


def test_reader_opens_only_names_built_from_a_time() -> None:
    """storage/reader.py opens files only at `directory / filename_for(<int ms>)`."""
    source = (REPO_ROOT / "storage" / "reader.py").read_text()
    tree = ast.parse(source)
    opens = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"
    ]
    assert len(opens) == 1
    assert ast.unparse(opens[0].args[0]) == "path"
    assert "path = self.directory / filename_for(ms)" in source


def test_api_process_never_imports_the_writer_the_lock_or_the_consumer() -> None:
    """Loading the API (all of it, transitively) loads neither storage.writer/lock nor consumer."""
    code = (
        "import sys, api.main, api.app\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith(('storage', 'consumer')))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=base_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = set(done.stdout.split())
    assert "storage.reader" in loaded
    assert not {"storage.writer", "storage.lock"} & loaded, loaded
    assert not {m for m in loaded if m.startswith("consumer")}, loaded


# -- dynamic: the running API under traversal strings ---------------------------------------


def _hostile_targets() -> list[str]:
    """Every parameter (and the path, and an unknown name) carrying a traversal string."""
    targets: list[str] = []
    for raw in TRAVERSALS:
        encoded = quote(raw, safe="%")
        for name in VALID:
            params = {**VALID, name: encoded}
            if not params["timestamp"]:
                del params["timestamp"]
            targets.append("/convert?" + "&".join(f"{k}={v}" for k, v in params.items()))
        targets.append(f"/convert?amount=1&from=BTC&to=USDT&{encoded}=1")
        targets.append(f"/health?{encoded}")
        targets.append(f"/currencies?file={encoded}")
        targets.append("/" + encoded)
        targets.append(f"/docs/{encoded}")
        targets.append(f"/binance/{encoded}")
    return targets


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """An API over a valid store, with a file outside the store a traversal could aim at."""
    workdir = tmp_path_factory.mktemp("security")
    data_dir = workdir / "data"
    now = now_ms()
    for ms in (now - 120_000, now - 60_000, now - 1_000):
        write_snapshot(data_dir, ms)
    (workdir / "secret.json").write_text('{"schema":1}')
    running = start_api(workdir, data_dir, QUOTES_MAX_AGE_SECONDS="3600")
    with running.proc:
        yield running
        assert running.proc.terminate() == 0, running.proc.output()
    assert "Traceback" not in running.proc.output()


def _burst(api: RunningApi) -> list[RawResponse]:
    """Traversal strings everywhere, then ordinary requests and every error we can provoke."""
    responses = []
    for target in _hostile_targets():
        response = api.get(target)
        check_api_response(response, data_dir=api.data_dir)
        assert 400 <= response.status < 500, (target, response)
        responses.append(response)
    for target, method, status in [
        ("/convert?amount=1&from=BTC&to=USDT", b"GET", 200),
        ("/convert?amount=1&from=BTC&to=USDT&timestamp=1", b"GET", 404),
        ("/convert?amount=1&from=NOPE&to=USDT", b"GET", 404),
        ("/convert?amount=1&from=COS&to=XRP", b"GET", 404),
        ("/convert?amount=1&from=BTC", b"GET", 400),
        ("/convert?amount=-1&from=BTC&to=USDT", b"GET", 400),
        ("/convert?amount=1&from=BTC&to=USDT&timestamp=tomorrow", b"GET", 400),
        ("/convert?amount=1&from=BTC&to=USDT", b"POST", 405),
        ("/convert?amount=1&from=BTC&to=USDT", b"DELETE", 405),
        ("/health", b"GET", 200),
        ("/currencies", b"GET", 200),
        ("/docs/openapi.json", b"GET", 200),
        ("/nothing-here", b"GET", 404),
        ("/convert?" + "a" * 9_000, b"GET", 431),  # past the 8 KiB head limit
    ]:
        response = api.get(target, method=method)
        check_api_response(response, data_dir=api.data_dir)
        assert response.status == status, (target, method, response)
        responses.append(response)
    return responses


@pytest.mark.e2e
def test_traversal_strings_are_4xx_and_leave_the_store_untouched(api: RunningApi) -> None:
    """Traversal in every parameter: 4xx JSON without leaks; the data dir tree is unchanged."""
    secret = api.data_dir.parent / "secret.json"

    def state() -> object:
        info = secret.stat()  # atime left out: reads are the strace test's business
        return tree_state(api.data_dir), (info.st_size, info.st_mtime_ns, info.st_ctime_ns)

    before = state()
    responses = _burst(api)
    time.sleep(0.3)  # anything the API might do after answering
    assert state() == before, "the API created, changed or deleted a file"
    # Nothing read from a traversal target came back either.
    assert not any(b"root:" in r.body or b'{"schema":1}' in r.body for r in responses)


def _trace_supported() -> str | None:
    if shutil.which("strace") is None:
        return "strace is not installed"
    probe = subprocess.run(
        ["strace", "-qq", "-e", "trace=none", "true"], capture_output=True, text=True, timeout=10
    )
    if probe.returncode != 0:
        return f"strace cannot trace here: {probe.stderr.strip()[:200]}"
    return None


_WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND")
_MUTATING = re.compile(
    r"^\d+\s+(unlink|unlinkat|rename|renameat2?|mkdir|mkdirat|rmdir|link|linkat|symlink|"
    r"symlinkat|chmod|fchmodat|chown|fchownat|truncate|utimensat|creat)\(",
    re.MULTILINE,
)


@pytest.mark.e2e
def test_no_request_reaches_a_file_syscall(api: RunningApi, tmp_path: Path) -> None:
    """Under strace: no file syscall names request text, and none opens for writing or mutates."""
    reason = _trace_supported()
    if reason:
        pytest.skip(reason)
    trace = tmp_path / "strace.txt"
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-e", "trace=%file", "-o", str(trace), "-p", str(api.proc.pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def attached() -> bool:
            assert tracer.poll() is None, tracer.stderr.read() if tracer.stderr else ""
            status = Path(f"/proc/{api.proc.pid}/status").read_text()
            return re.search(r"^TracerPid:\s+[1-9]", status, re.MULTILINE) is not None

        wait_until(attached, 10, message="strace attached to the API")
        # Use a snapshot not read yet, so the trace shows the one legitimate open.
        old = now_ms() - 30_000
        write_snapshot(api.data_dir, old)
        time.sleep(1.1)  # the index picks it up within a second
        target = f"/convert?amount=1&from=BTC&to=USDT&timestamp={old // 1000}.{old % 1000:03d}"
        assert api.get(target).status == 200
        _burst(api)
    finally:
        tracer.send_signal(signal.SIGINT)
        try:
            tracer.wait(10)
        except subprocess.TimeoutExpired:
            tracer.kill()
            tracer.wait()
        if tracer.stderr:
            tracer.stderr.close()
    text = trace.read_text()
    opened = re.findall(r'open(?:at)?\([^"]*"([^"]*)", ([A-Z_|]+)', text)
    assert any(path.startswith(str(api.data_dir)) for path, _ in opened), text[:2000]
    for path, flags in opened:
        assert not _WRITE_FLAGS.search(flags), f"opened for writing: {path} {flags}"
    assert _MUTATING.search(text) is None, _MUTATING.search(text)
    for needle in (MARKER, "passwd", "secret.json", ".consumer.lock", "/.."):
        hits = [line for line in text.splitlines() if needle in line.lower()]
        assert hits == [], f"{needle!r} reached a file syscall:\n" + "\n".join(hits)


# -- where the API listens ------------------------------------------------------------------


def _listeners(port: int) -> set[str]:
    """Local addresses with a TCP socket in LISTEN state on `port` (from /proc/net/tcp{,6})."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) != port or fields[3] != "0A" or len(address) != width:
                continue
            # Each 32-bit word is in host (little-endian) order.
            raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, width, 8))
            found.add(str(ipaddress.ip_address(raw)))
    return found


@pytest.mark.e2e
def test_api_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    """Without API_HOST the API binds 127.0.0.1 only, never 0.0.0.0 or ::."""
    data_dir = tmp_path / "data"
    write_snapshot(data_dir, now_ms())
    port = free_port()
    env = api_env(data_dir, port)
    del env["API_HOST"]
    with Proc("api", env=env, workdir=tmp_path, name="api") as proc:
        wait_listening(proc, port)
        assert _listeners(port) == {"127.0.0.1"}
        assert proc.terminate() == 0, proc.output()
    assert "API listening on http://127.0.0.1:" in proc.output()
