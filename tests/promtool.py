"""`promtool check metrics`: Prometheus's own linter for the text exposition format.

Debian's `prometheus` package brings `promtool` (`.ci/run` installs it when
missing); without it the check is skipped, saying so.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

__all__ = ["check_metrics"]


def check_metrics(text: str) -> None:
    """Fail the test with promtool's findings if it finds any problem in `text`."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (.ci/run installs Debian's prometheus)")
    check = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0, f"promtool check metrics: {check.stdout}{check.stderr}"
