"""Publish one call outcome: the view onto the call record, then the typed events on the bus.

The state machine's Publish states invoke the publish function with the detail
type and the state document; Act and RequestReview publish their own outcome
(``publishing``, ``publish_or_retry``) so the lean state machine ends on its last
real step instead of entering a Publish state and a Succeed state (each a billed
transition). This is the library side of both. Order matters: the view
is written first, so a subscriber that reads the call record on receipt finds
it. A refused PutEvents raises, and the state's Retry tries again (EventBridge
delivers at least once anyway; notify and signal subscribers de-duplicate on
the call id and ``signal_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from handoff.config import settings
from handoff.connectors.errors import RetryableError
from handoff.events.build import detail_json, outcome_event
from handoff.events.contract import SOURCE, EventDetail, model_for
from handoff.events.signals import lifecycle_signals
from handoff.events.view import DynamoViewStore, ViewStore, outcome_view
from handoff.handlers import StepService
from handoff.models import CallEnvelope
from handoff.partners.bus import EventBridgePublisher, Publisher
from handoff.policy_source import PolicyUnavailable, record_unavailable, routing_policy
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
    policy: Policy | None,
    now: datetime | None = None,
) -> Published:
    """The view, then the outcome event and any lifecycle signal ``policy`` decides on.

    ``policy`` None means the routing policy could not be read: the outcome is still published
    (its owner must be told; notify falls back to the default channel) but no lifecycle signal,
    since only the policy may say which intents produce one.
    """
    now = now or datetime.now(UTC)
    event = outcome_event(detail_type, document, policy=policy, now=now)
    signals = lifecycle_signals(document, detail_type, policy=policy, now=now) if policy is not None else []
    views.save(event.call_id, detail_type, outcome_view(document))
    publisher.publish([entry(event), *(entry(signal) for signal in signals)])
    return Published(event.call_id, detail_type, tuple(s.signal for s in signals))


class PublishRequest(BaseModel):
    """What a Publish state sends the publish function: the detail type and the state document."""

    model_config = ConfigDict(extra="forbid")

    detail_type: Literal[
        "call.handed_off",
        "call.review_requested",
        "call.review_rejected",
        "call.review_escalated",
        "call.nothing_to_do",
        "call.failed",
    ]
    state: dict[str, Any]


def publish_step(request: PublishRequest) -> dict[str, Any]:
    """The publish function's work: the bus from ``HANDOFF_EVENT_BUS``, the views on ``HANDOFF_TABLE``.

    Never fails for want of a policy: an unreadable policy costs the lifecycle signals, not the outcome.

    Built per invocation: ``handoff.aws`` already keeps one boto3 client per process and endpoint.
    """
    from handoff import aws

    publisher = EventBridgePublisher(client=aws.client("events"))
    views = DynamoViewStore(settings().table_name, aws.client("dynamodb"))
    return publish_outcome(
        request.detail_type, request.state, publisher=publisher, views=views, policy=readable_policy()
    ).as_dict()


def publish_or_retry(detail_type: str, document: dict[str, Any]) -> dict[str, Any]:
    """Publish from inside a step; a refusal is a ``RetryableError`` so the step's own Retry tries again.

    The step's work before it is idempotent (act's ledger, the review record), so a
    retry repeats it as a no-op and publishes again; subscribers de-duplicate.
    """
    request = PublishRequest.model_validate({"detail_type": detail_type, "state": document})
    try:
        return publish_step(request)
    except Exception as exc:
        raise RetryableError("eventbridge", f"{detail_type} was not published ({type(exc).__name__})") from exc


def publishing(detail_type: str, run: StepService) -> StepService:
    """``run``, then publish ``detail_type`` with the envelope it returns: a step that ends an execution.

    The event's model is built now, in the init phase, as ``state_step`` builds the envelope's.
    """
    model_for(detail_type).model_rebuild(force=True)

    def step(envelope: CallEnvelope, context: Any) -> CallEnvelope:
        done = run(envelope, context)
        publish_or_retry(detail_type, done.dump())
        return done

    return step


def readable_policy() -> Policy | None:
    """The live routing policy, or None (logged and counted for its alarm) when it cannot be read."""
    try:
        return routing_policy()
    except PolicyUnavailable as exc:
        record_unavailable(exc)
        return None
