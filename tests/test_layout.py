"""The layout is the architecture: api/ and consumer/ share only storage/ (and settings)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imported_packages(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(("package", "forbidden"), [("api", "consumer"), ("consumer", "api")])
def test_serve_and_ingest_never_import_each_other(package: str, forbidden: str) -> None:
    """No module of api/ imports consumer/, and no module of consumer/ imports api/."""
    offenders = [f for f, names in _imported_packages(package).items() if forbidden in names]
    assert offenders == []


@pytest.mark.parametrize("forbidden", ["api", "consumer"])
def test_storage_imports_neither_process(forbidden: str) -> None:
    """storage/ is shared: it imports neither the API nor the consumer."""
    offenders = [f for f, names in _imported_packages("storage").items() if forbidden in names]
    assert offenders == []
