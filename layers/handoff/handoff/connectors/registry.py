"""Which connector class serves which tool, and building the configured ones.

Modules are imported lazily, the first time their tool is looked up: a Lambda
that only posts to Slack never imports the Planyo or Plisio code, and a broken
or missing module only affects its own tool.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from handoff.connectors import credentials
from handoff.connectors.base import Connector
from handoff.models import Tool

# Tool -> (module, class). The one list to extend when a destination is added.
_LOCATIONS: dict[Tool, tuple[str, str]] = {
    Tool.PLANYO: ("handoff.connectors.planyo", "PlanyoConnector"),
    Tool.BOOKINGMOOD: ("handoff.connectors.bookingmood", "BookingmoodConnector"),
    Tool.PLISIO: ("handoff.connectors.plisio", "PlisioConnector"),
    Tool.BILLIT: ("handoff.connectors.billit", "BillitConnector"),
    Tool.OCRWEBSERVICE: ("handoff.connectors.ocrwebservice", "OcrWebServiceConnector"),
    Tool.SLACK: ("handoff.connectors.slack", "SlackConnector"),
}

ConfigLoader = Callable[[str], dict[str, Any] | None]


class _LazyConnectors(Mapping[Tool, type[Connector]]):
    """A read-only ``Tool -> connector class`` mapping that imports a module on first lookup."""

    def __getitem__(self, tool: Tool) -> type[Connector]:
        module_name, class_name = _LOCATIONS[Tool(tool)]
        return cast(type[Connector], getattr(importlib.import_module(module_name), class_name))

    def __iter__(self) -> Iterator[Tool]:
        return iter(_LOCATIONS)

    def __len__(self) -> int:
        return len(_LOCATIONS)

    def module_of(self, tool: Tool) -> str:
        """The module serving ``tool`` (without importing it)."""
        return _LOCATIONS[Tool(tool)][0]


CONNECTORS = _LazyConnectors()


def build(tool: Tool | str, config: dict[str, Any]) -> Connector:
    """The connector for ``tool`` from its configuration block (``AuthError`` if the block is invalid)."""
    return CONNECTORS[Tool(tool)].from_config(config)


def configured_connectors(loader: ConfigLoader | None = None) -> dict[Tool, Connector]:
    """Every tool that has a block in the partner secret, built; unconfigured tools are left out.

    ``loader`` defaults to :func:`credentials.load_partner_config` (Secrets
    Manager through Powertools, cached); tests and the sandbox CLI pass their own.
    """
    load = loader or credentials.load_partner_config
    built: dict[Tool, Connector] = {}
    for tool in CONNECTORS:
        config = load(tool.value)
        if config is not None:
            built[tool] = build(tool, config)
    return built
