"""The pure core of `api/` stands without the web framework."""

from __future__ import annotations

import subprocess
import sys

from tests.procs import REPO_ROOT

# Parsing, maths, errors and the per-venue logic: everything but the HTTP shell.
PURE_MODULES = (
    "api.exceptions",
    "api.params",
    "api.timestamps",
    "api.conversion",
    "api.venues",
    "api.snapshots",
    "api.lookup",
    "api.service",
    "api.aggregate",
    "api.results",
    "api.board",
    "api.board_errors",
    "api.status",
    "api.openapi",
    "api.schemas",
    "api.series",
    "api.markdown",
    "api.limits",
)


def test_pure_modules_do_not_import_sanic() -> None:
    """Importing the pure modules in a fresh interpreter loads no `sanic` module."""
    code = (
        "import importlib, sys\n"
        f"for name in {PURE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'sanic' or m.startswith('sanic.'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"sanic loaded by the pure modules: {result.stdout}"


def test_errors_module_is_the_http_mapping() -> None:
    """`api.errors` (the one HTTP mapping module) does load Sanic: the check above can fail."""
    code = "import sys, api.errors; print('sanic' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "True", result.stderr
