"""The venue registry: one adapter module per configured venue name, and nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

from consumer.exchanges import REGISTRY
from settings import KNOWN_VENUES

ROOT = Path(__file__).resolve().parents[2]


def test_registry_and_settings_name_the_same_venues() -> None:
    """Every venue settings accept has an adapter, in the same order, and vice versa."""
    assert tuple(REGISTRY) == KNOWN_VENUES
    for name, adapter in REGISTRY.items():
        assert name == adapter.NAME


def test_only_adapters_and_configuration_spell_a_venue_name() -> None:
    """api/ and storage/ treat venues as data: no string literal there names a venue."""
    offenders = []
    for package in ("api", "storage"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and node.value in KNOWN_VENUES:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert offenders == []
