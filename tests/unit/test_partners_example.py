"""partners.example.json (the partner secret's documented shape) is accepted by every connector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handoff.connectors.registry import build
from handoff.models import Tool

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "partners.example.json").read_text(encoding="utf-8"))


def test_the_example_has_a_block_for_every_tool() -> None:
    assert set(EXAMPLE) == {tool.value for tool in Tool}


@pytest.mark.parametrize("tool", sorted(EXAMPLE))
def test_the_example_block_builds_its_connector(tool: str) -> None:
    connector = build(Tool(tool), EXAMPLE[tool])
    assert connector.TOOL is Tool(tool)
