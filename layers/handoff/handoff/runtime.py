"""What a warm Lambda builds once and reuses: the connector pool and the call store.

Each step's service asks here instead of building its own, so a function
imports only the step it runs (cold start) and no step keeps a private cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from handoff.config import per_environment, settings
from handoff.models import Tool

if TYPE_CHECKING:
    from handoff.store import DynamoCallStore

ConnectorLookup = Callable[[Tool], Any]
"""A tool -> its configured connector, or None when the partner secret does not configure it."""


class ConnectorPool:
    """Connectors built once per configuration (warm Lambdas reuse their HTTP sessions)."""

    def __init__(self, loader: Callable[[str], dict[str, Any] | None] | None = None) -> None:
        from handoff.connectors import credentials

        self.loader = loader or credentials.load_partner_config
        self._built: dict[str, Any] = {}

    def __call__(self, tool: Tool) -> Any:
        from handoff.connectors.registry import build

        config = self.loader(tool.value)
        if config is None:
            return None
        fingerprint = tool.value + hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
        if fingerprint not in self._built:
            self._built[fingerprint] = build(tool, config)
        return self._built[fingerprint]


connector_pool = per_environment(ConnectorPool)
"""The connector pool of the current environment."""


def call_store() -> DynamoCallStore:
    """The call ledger of this deployment (boto3 clients are cached by ``handoff.aws``)."""
    from handoff.store import DynamoCallStore

    cfg = settings()
    return DynamoCallStore(cfg.table_name, cfg.call_retention_days)
