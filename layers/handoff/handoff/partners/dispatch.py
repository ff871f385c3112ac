"""What the partner consumer does with each event from the bus.

``planyo.customer_changed`` -> Billit customer sync (a customer that needs a
human becomes a follow-up for billing); ``planyo.reservation_status_changed``
and ``planyo.timed_notification`` -> the reservation is re-read, the partner
policy routes it, and a ``partner.routed`` outcome goes on the bus once per
Planyo event (Powertools idempotency, key prefix ``handoff.partner_routed.v1``),
so a redelivered event never notifies twice. Retryable failures propagate, so
the delivery is retried; permanent ones too, so they reach the dead-letter queue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger

from handoff.config import per_environment
from handoff.connectors.errors import AuthError, NotFoundError
from handoff.connectors.planyo import Reservation
from handoff.events.partner import PartnerViewStore
from handoff.idempotency import once
from handoff.models import Tool
from handoff.partners.bus import Publisher
from handoff.partners.customer_sync import CustomerSync, SyncNeedsReview
from handoff.partners.planyo_events import NotificationKind, PlanyoNotification, notification_from_detail
from handoff.partners.reservation_events import (
    PartnerOutcome,
    PartnerPolicy,
    route_notification,
    routed_entry,
    sync_review_outcome,
    unrouted_outcome,
)
from handoff.policy_source import PolicyUnavailable, fallback_owner, partner_policy, record_unavailable

logger = Logger(child=True)

ROUTED_KEY_PREFIX = "handoff.partner_routed.v1"
ROUTED_WINDOW_SECONDS = 7 * 24 * 3600

ConnectorLookup = Callable[[Tool], Any]


class PartnerConsumer:
    """One instance per warm Lambda; the persistence layer and policy are reused."""

    def __init__(
        self,
        *,
        connector_for: ConnectorLookup,
        table_name: str,
        publisher: Publisher,
        policy: PartnerPolicy | None = None,
    ) -> None:
        self.connector_for = connector_for
        self.table_name = table_name
        self.publisher = publisher
        self.policy = policy

    def handle(self, detail_type: str, detail: Mapping[str, Any], *, lambda_context: Any = None) -> dict[str, Any]:
        notification = notification_from_detail(detail)
        if detail_type != notification.kind.value:
            raise ValueError(f"detail-type {detail_type!r} does not match the notification ({notification.kind})")
        if notification.kind is NotificationKind.CUSTOMER_CHANGED:
            return self.customer_changed(notification, lambda_context)
        if notification.kind in (NotificationKind.RESERVATION_STATUS_CHANGED, NotificationKind.TIMED_NOTIFICATION):
            return self.reservation_event(notification, lambda_context)
        return {"handled": False, "notification_type": notification.notification_type}

    def _policy(self) -> PartnerPolicy | PolicyUnavailable:
        """The given policy (tests), else the live one from AppConfig; the error when it cannot be read."""
        if self.policy is not None:
            return self.policy
        try:
            return partner_policy()
        except PolicyUnavailable as exc:
            record_unavailable(exc)
            return exc

    def _connector(self, tool: Tool) -> Any:
        connector = self.connector_for(tool)
        if connector is None:
            raise AuthError(tool.value, "tool is not configured in the partner secret")
        return connector

    def customer_changed(self, notification: PlanyoNotification, lambda_context: Any) -> dict[str, Any]:
        sync = CustomerSync(
            self._connector(Tool.PLANYO),
            self._connector(Tool.BILLIT),
            self.table_name,
            lambda_context=lambda_context,
        )
        try:
            result = sync.sync(notification)
        except SyncNeedsReview as exc:
            logger.warning("customer sync needs a human", extra={"planyo_user_id": notification.user_id})
            policy = self._policy()
            outcome: PartnerOutcome | None
            if isinstance(policy, PolicyUnavailable):
                outcome = unrouted_outcome(notification, fallback_owner(), f"{policy.reason}; sync: {exc}")
            else:
                outcome = sync_review_outcome(notification, str(exc), policy)
            published = self.publish_once(outcome, str(exc), lambda_context) if outcome else False
            return {"sync": "needs_review", "routed": published}
        logger.info(
            "customer synced",
            extra={
                "outcome": result.outcome,
                "planyo_user_id": result.planyo_user_id,
                "billit_customer_id": result.billit_customer_id,
                "changed_fields": [c.field for c in result.changes],
                "replayed": result.replayed,
            },
        )
        return {"sync": result.model_dump(mode="json")}

    def reservation_event(self, notification: PlanyoNotification, lambda_context: Any) -> dict[str, Any]:
        reservation = self.reread(notification)
        policy = self._policy()
        outcome: PartnerOutcome | None
        if isinstance(policy, PolicyUnavailable):
            outcome = unrouted_outcome(notification, fallback_owner(), policy.reason)
        else:
            outcome = route_notification(notification, reservation, policy)
        if outcome is None:
            logger.info("partner event not routed", extra={"notification_type": notification.notification_type})
            return {"routed": False}
        published = self.publish_once(outcome, "", lambda_context)
        return {"routed": True, "published": published, "owner": outcome.owner.team, "kind": outcome.kind}

    def reread(self, notification: PlanyoNotification) -> Reservation | None:
        """The reservation as Planyo holds it now; None if Planyo is not configured or has no such reservation."""
        planyo = self.connector_for(Tool.PLANYO)
        if planyo is None or notification.reservation_id is None:
            return None
        try:
            reservation: Reservation = planyo.get_reservation(notification.reservation_id)
        except NotFoundError:
            return None
        return reservation

    def publish_once(self, outcome: PartnerOutcome, discriminator: str, lambda_context: Any) -> bool:
        """Publish ``partner.routed`` once per (partner event, outcome); False when it was already published."""
        replayed: list[bool] = []

        @once(
            ROUTED_KEY_PREFIX,
            identity="routed",
            window_seconds=ROUTED_WINDOW_SECONDS,
            table_name=self.table_name,
            lambda_context=lambda_context,
            on_replay=lambda _: replayed.append(True),
        )
        def publish(routed: Mapping[str, str]) -> dict[str, str]:
            PartnerViewStore(self.table_name).save(outcome)  # what notify tells the owner
            self.publisher.publish([routed_entry(outcome)])
            return {"published": routed["dedupe_key"]}

        publish(
            routed={
                "dedupe_key": outcome.dedupe_key,
                "event": outcome.event,
                "why": hashlib.sha256(discriminator.encode()).hexdigest()[:16],
            }
        )
        return not replayed


def _build_consumer() -> PartnerConsumer:
    from handoff.config import settings
    from handoff.partners.bus import EventBridgePublisher
    from handoff.runtime import connector_pool

    return PartnerConsumer(
        connector_for=connector_pool(), table_name=settings().table_name, publisher=EventBridgePublisher()
    )


default_consumer = per_environment(_build_consumer)
"""The consumer of this deployment (one per warm Lambda)."""


def run(detail_type: str, detail: dict[str, Any], event_id: str = "", context: Any = None) -> dict[str, Any]:
    """The customer_sync function's one service call: handle one partner event from the bus."""
    return default_consumer().handle(detail_type, detail, lambda_context=context)
