"""Publishing partner events on the Handoff EventBridge bus, behind a one-method seam."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

from handoff import aws

BUS_ENV = "HANDOFF_EVENT_BUS"


class PublishFailed(Exception):  # noqa: N818 - the name reads as what happened
    """EventBridge refused at least one entry (the caller answers 5xx so the sender retries)."""


class Publisher(Protocol):
    def publish(self, entries: Sequence[dict[str, Any]]) -> None: ...


class EventBridgePublisher:
    """``events.put_events`` on the configured bus; the boto3 client is created on first use."""

    def __init__(self, bus_name: str | None = None, client: Any = None) -> None:
        self.bus_name = bus_name if bus_name is not None else os.environ.get(BUS_ENV, "")
        self._client = client

    def client(self) -> Any:
        return self._client if self._client is not None else aws.client("events")

    def publish(self, entries: Sequence[dict[str, Any]]) -> None:
        if not entries:
            return
        if not self.bus_name:
            raise PublishFailed(f"{BUS_ENV} is not set")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client().put_events(Entries=[{**e, "EventBusName": self.bus_name} for e in entries])
        except (BotoCoreError, ClientError) as exc:
            raise PublishFailed(f"put_events failed: {type(exc).__name__}") from None
        if answer.get("FailedEntryCount"):
            codes = sorted({str(e.get("ErrorCode")) for e in answer.get("Entries", []) if e.get("ErrorCode")})
            raise PublishFailed(f"EventBridge refused {answer['FailedEntryCount']} entry(ies): {', '.join(codes)}")
