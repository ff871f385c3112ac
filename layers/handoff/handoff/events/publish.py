"""Publish one call outcome: the view onto the call record, then the typed events on the bus.

The state machine's Publish states invoke the publish function with the detail
type and the state document; this is its library side. Order matters: the view
is written first, so a subscriber that reads the call record on receipt finds
it. A refused PutEvents raises, and the state's Retry tries again (EventBridge
delivers at least once anyway; notify and signal subscribers de-duplicate on
the call id and ``signal_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handoff.events.build import detail_json, outcome_event
from handoff.events.contract import SOURCE, EventDetail
from handoff.events.signals import lifecycle_signals
from handoff.events.view import ViewStore, outcome_view
from handoff.partners.bus import Publisher
from handoff.policy_source import routing_policy
from handoff.route.policy import Policy


def entry(detail: EventDetail) -> dict[str, Any]:
    """One PutEvents entry (without the bus name) for a validated detail."""
    # Re-validated from its own dump: a model that somehow holds more than its fields fails here.
    type(detail).model_validate_json(detail_json(detail))
    return {"Source": SOURCE, "DetailType": detail.detail_type, "Detail": detail_json(detail)}


@dataclass(frozen=True)
class Published:
    call_id: str
    detail_type: str
    signals: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "detail_type": self.detail_type, "signals": list(self.signals)}


def publish_outcome(
    detail_type: str,
    document: dict[str, Any],
    *,
    publisher: Publisher,
    views: ViewStore,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> Published:
    policy = policy or routing_policy()
    now = now or datetime.now(UTC)
    event = outcome_event(detail_type, document, policy=policy, now=now)
    signals = lifecycle_signals(document, detail_type, policy=policy, now=now)
    views.save(event.call_id, detail_type, outcome_view(document))
    publisher.publish([entry(event), *(entry(signal) for signal in signals)])
    return Published(event.call_id, detail_type, tuple(s.signal for s in signals))
