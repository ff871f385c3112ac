"""Failed notifications: the event-delivery dead-letter queue, read without consuming, redriven per call.

When EventBridge gives up delivering an outcome event to its target (notify,
customer_sync) after the rule's retry policy, it puts the event itself on the
queue as the message body, with attributes saying which rule and target failed
and why (``ERROR_CODE``, ``ERROR_MESSAGE``, ``RULE_ARN``, ``TARGET_ARN``; AWS
docs, "Using dead-letter queues to process undelivered events in EventBridge").

A redrive invokes the failed target once more with that event (synchronously,
so the operator sees whether it worked); the message is deleted only after the
target answered without a function error. Notify records each (call, outcome)
it sent, so a redrive of something already delivered posts nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handoff_dev.queue_scan import QueueScan


@dataclass(frozen=True)
class FailedDelivery:
    message_id: str
    receipt_handle: str
    event: dict[str, Any]
    target_arn: str
    rule_arn: str
    error_code: str
    error_message: str
    sent_at: datetime | None

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> FailedDelivery:
        attributes = message.get("MessageAttributes") or {}

        def attribute(name: str) -> str:
            return str((attributes.get(name) or {}).get("StringValue") or "")

        try:
            event = json.loads(message.get("Body") or "")
        except json.JSONDecodeError:
            event = {}
        sent = (message.get("Attributes") or {}).get("SentTimestamp")
        return cls(
            message_id=str(message.get("MessageId", "")),
            receipt_handle=str(message.get("ReceiptHandle", "")),
            event=event if isinstance(event, dict) else {},
            target_arn=attribute("TARGET_ARN"),
            rule_arn=attribute("RULE_ARN"),
            error_code=attribute("ERROR_CODE"),
            error_message=attribute("ERROR_MESSAGE"),
            sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
        )

    @property
    def call_id(self) -> str:
        detail = self.event.get("detail") or {}
        return str(detail.get("call_id") or detail.get("call", {}).get("call_id") or "-")

    def summary(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "detail_type": str(self.event.get("detail-type") or ""),
            "target": self.target_arn.rsplit(":", 1)[-1],
            "error": " ".join(x for x in (self.error_code, self.error_message) if x and x != "None"),
            "failed_at": self.sent_at.isoformat() if self.sent_at else None,
            "message_id": self.message_id,
        }


class NotificationQueue(QueueScan):
    """The event-delivery dead-letter queue; a scan holds messages briefly and releases them."""

    def peek(self) -> list[FailedDelivery]:
        """Every failed delivery, oldest first; nothing is consumed."""
        messages = self._receive_all()
        self.release([m["ReceiptHandle"] for m in messages])
        found = [FailedDelivery.from_message(m) for m in messages]
        return sorted(found, key=lambda d: d.sent_at or datetime.min.replace(tzinfo=UTC))

    def hold(self, call_id: str | None) -> list[FailedDelivery]:
        """Hold one call's failed deliveries (or all); release the rest."""
        messages = self._receive_all()
        found = [FailedDelivery.from_message(m) for m in messages]
        mine = [d for d in found if call_id is None or d.call_id == call_id]
        keep = {d.message_id for d in mine}
        self.release([m["ReceiptHandle"] for m in messages if m["MessageId"] not in keep])
        return mine


@dataclass
class DeliveryRedrive:
    call_id: str
    detail_type: str
    target: str
    ok: bool
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "detail_type": self.detail_type,
            "target": self.target,
            "ok": self.ok,
            "message": self.message,
        }


def redrive_deliveries(lambda_client: Any, queue: NotificationQueue, call_id: str | None) -> list[DeliveryRedrive]:
    """Invoke each failed target once more with its event; delete the message only when it succeeded."""
    results: list[DeliveryRedrive] = []
    for delivery in queue.hold(call_id):
        summary = delivery.summary()
        if not delivery.target_arn:
            queue.release([delivery.receipt_handle])
            results.append(
                DeliveryRedrive(delivery.call_id, summary["detail_type"], "-", False, "no TARGET_ARN on the message")
            )
            continue
        try:
            answer = lambda_client.invoke(
                FunctionName=delivery.target_arn,
                InvocationType="RequestResponse",
                Payload=json.dumps(delivery.event).encode(),
            )
        except Exception as exc:  # noqa: BLE001 - one failed redrive must not strand the others held
            queue.release([delivery.receipt_handle])
            results.append(
                DeliveryRedrive(delivery.call_id, summary["detail_type"], summary["target"], False, str(exc))
            )
            continue
        if answer.get("FunctionError"):
            queue.release([delivery.receipt_handle])
            payload = answer["Payload"].read().decode(errors="replace")[:300] if answer.get("Payload") else ""
            results.append(DeliveryRedrive(delivery.call_id, summary["detail_type"], summary["target"], False, payload))
            continue
        queue.sqs.delete_message(QueueUrl=queue.queue_url, ReceiptHandle=delivery.receipt_handle)
        results.append(DeliveryRedrive(delivery.call_id, summary["detail_type"], summary["target"], True, "delivered"))
    return results
