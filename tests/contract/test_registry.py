"""The connector registry: one class per tool, imported lazily, built from the partner secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from handoff.connectors.errors import AuthError
from handoff.connectors.registry import CONNECTORS, build, configured_connectors
from handoff.models import Tool
from handoff_dev.sandboxes.bookingmood import BookingmoodSandbox
from handoff_dev.sandboxes.plisio import PlisioSandbox
from handoff_dev.sandboxes.slack import SlackSandbox

EXPECTED_CLASSES = {
    Tool.PLANYO: "PlanyoConnector",
    Tool.BOOKINGMOOD: "BookingmoodConnector",
    Tool.PLISIO: "PlisioConnector",
    Tool.BILLIT: "BillitConnector",
    Tool.OCRWEBSERVICE: "OcrWebServiceConnector",
    Tool.SLACK: "SlackConnector",
}
CONFIGS: dict[Tool, dict[str, Any]] = {
    Tool.BOOKINGMOOD: {"api_key": "00000000-0000-4000-8000-0000000b0001"},
    Tool.PLISIO: {"api_key": "plisio-test-key-0001"},
    Tool.SLACK: {"bot_token": "xoxb-0000-test"},
}


def test_every_tool_has_a_connector() -> None:
    assert set(CONNECTORS) == set(Tool) and len(CONNECTORS) == len(Tool)


@pytest.mark.parametrize("tool", list(Tool))
def test_each_tool_maps_to_its_connector_class(tool: Tool) -> None:
    module = pytest.importorskip(CONNECTORS.module_of(tool))
    cls = CONNECTORS[tool]
    assert cls is getattr(module, EXPECTED_CLASSES[tool])
    assert cls.TOOL is tool and callable(cls.from_config) and callable(cls.check)


def test_lookups_accept_the_tool_name() -> None:
    assert CONNECTORS[Tool("slack")] is CONNECTORS[Tool.SLACK]
    with pytest.raises(ValueError):
        build("mailchimp", {})


def test_modules_are_imported_only_when_looked_up() -> None:
    """In a fresh interpreter, so this session's already-imported modules do not interfere."""
    script = (
        "import sys\n"
        "from handoff.connectors.registry import CONNECTORS\n"
        "from handoff.models import Tool\n"
        "assert list(CONNECTORS) == list(Tool)\n"
        "modules = {t: CONNECTORS.module_of(t) for t in Tool}\n"
        "assert not any(m in sys.modules for m in modules.values()), 'imported eagerly'\n"
        "CONNECTORS[Tool.SLACK]\n"
        "assert [t for t, m in modules.items() if m in sys.modules] == [Tool.SLACK]\n"
    )
    library = Path(__file__).resolve().parents[2] / "layers" / "handoff"
    env = {**os.environ, "PYTHONPATH": str(library)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("tool", sorted(CONFIGS))
def test_build_returns_the_tools_connector(tool: Tool) -> None:
    connector = build(tool, CONFIGS[tool])
    assert isinstance(connector, CONNECTORS[tool]) and connector.TOOL is tool


def test_build_with_an_invalid_block_is_a_configuration_error() -> None:
    with pytest.raises(AuthError):
        build(Tool.SLACK, {"bot_token": "https://hooks.slack.com/services/T0/B0/x"})


def test_configured_connectors_builds_only_configured_tools() -> None:
    asked: list[str] = []

    def loader(tool: str) -> dict[str, Any] | None:
        asked.append(tool)
        return CONFIGS.get(Tool(tool))

    built = configured_connectors(loader)
    assert set(built) == set(CONFIGS)
    assert sorted(asked) == sorted(t.value for t in Tool)


def test_without_a_partner_secret_nothing_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HANDOFF_PARTNER_SECRET", raising=False)
    assert configured_connectors() == {}


def test_connectors_built_from_sandbox_configs_are_healthy() -> None:
    sandboxes = {Tool.BOOKINGMOOD: BookingmoodSandbox(), Tool.PLISIO: PlisioSandbox(), Tool.SLACK: SlackSandbox()}
    for sandbox in sandboxes.values():
        sandbox.start()
    try:
        built = configured_connectors(lambda tool: sandboxes[Tool(tool)].config() if Tool(tool) in sandboxes else None)
        reports = {tool: connector.check() for tool, connector in built.items()}
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()
    assert set(reports) == set(sandboxes)
    assert all(report.healthy for report in reports.values()), reports
    assert all(sandbox.name == tool.value for tool, sandbox in sandboxes.items())
