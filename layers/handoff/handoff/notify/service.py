"""The notify step: one outcome event from the bus -> the owner told once."""

from __future__ import annotations

from typing import Any

from handoff.config import settings
from handoff.runtime import connector_pool


def run(outcome: str, detail: dict[str, Any], event_id: str = "", context: Any = None) -> dict[str, Any]:
    """Tell the owner about one outcome event (Slack, and e-mail when configured), once."""
    from handoff.notify.deliver import deliver

    delivery = deliver(
        outcome, detail, connector_for=connector_pool(), table_name=settings().table_name, lambda_context=context
    )
    return {
        "call_id": delivery.call_id,
        "outcome": delivery.outcome,
        "posted": delivery.posted,
        "channel": delivery.channel,
        "reason": delivery.reason,
        "event_id": event_id,
    }
