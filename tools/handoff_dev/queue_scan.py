"""Read an SQS queue without consuming it: the dead-letter queue is worked by people.

A read (list, show) must never use up a message; only a successful redrive
deletes one. Messages are held while scanned, then released at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SQS_BATCH = 10


@dataclass
class QueueScan:
    sqs: Any
    queue_url: str
    hold_seconds: int = 30
    wait_seconds: int = 1
    unreadable: list[str] = field(default_factory=list)

    def _receive_all(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=SQS_BATCH,
                VisibilityTimeout=self.hold_seconds,
                WaitTimeSeconds=self.wait_seconds,
                AttributeNames=["SentTimestamp"],
                MessageAttributeNames=["All"],  # EventBridge's dead letters say why in their attributes
            )
            batch = answer.get("Messages") or []
            fresh = [m for m in batch if m["MessageId"] not in seen]
            seen.update({m["MessageId"]: m for m in batch})
            if not fresh:
                return list(seen.values())

    def release(self, receipts: list[str]) -> None:
        """Make held messages visible again at once."""
        for start in range(0, len(receipts), SQS_BATCH):
            entries = [
                {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                for i, r in enumerate(receipts[start : start + SQS_BATCH])
            ]
            self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
