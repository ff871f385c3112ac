"""Answering one Planyo callback: token, size, parse, publish, in that order.

HTTP-agnostic so it is tested without API Gateway: the handler turns the
answer into a response. Nothing is published unless the token matches and the
body parses, and Planyo gets its 200 as soon as the event is on the bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from handoff.config import per_environment
from handoff.partners.bus import EventBridgePublisher, Publisher, PublishFailed
from handoff.partners.planyo_events import (
    MAX_BODY_BYTES,
    InvalidNotification,
    configured_callback_token,
    detail_type,
    event_entry,
    parse_notification,
    token_matches,
)
from handoff.problem import problem
from handoff.redact import register_secret

logger = Logger(child=True)


@dataclass(frozen=True)
class CallbackAnswer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def _refusal(status: int, title: str, detail: str) -> CallbackAnswer:
    """A refused callback, in the project's one problem shape (``handoff.problem``)."""
    return CallbackAnswer(status, problem(status, title, detail).body())


def accept_callback(
    token: str | None,
    body: bytes,
    content_type: str | None,
    query: Mapping[str, str] | None,
    *,
    expected_token: str | None,
    publisher: Publisher,
    bus_name: str,
    received_at: datetime | None = None,
) -> CallbackAnswer:
    """401 on a wrong token, 413/400 on a bad body, 200 ignored/accepted, 503 when the bus refuses."""
    if not expected_token:
        return _refusal(503, "not configured", "Planyo callbacks are not configured (no callback_token)")
    if not token_matches(token, expected_token):
        return _refusal(401, "unauthorized", "unknown callback token")
    if len(body) > MAX_BODY_BYTES:
        return _refusal(413, "body too large", f"body is larger than {MAX_BODY_BYTES} bytes")
    try:
        notification = parse_notification(body, content_type, query, received_at=received_at)
    except InvalidNotification as exc:
        return _refusal(400, "invalid notification", str(exc))
    kind = detail_type(notification)
    if kind is None:
        return CallbackAnswer(200, {"status": "ignored", "notification_type": notification.notification_type})
    try:
        publisher.publish([event_entry(notification, bus_name)])
    except PublishFailed as exc:
        return _refusal(503, "bus unavailable", f"could not publish: {exc}")
    return CallbackAnswer(
        200, {"status": "accepted", "detail_type": kind, "notification_type": notification.notification_type}
    )


default_publisher = per_environment(EventBridgePublisher)
"""The deployment's bus publisher (one per warm Lambda)."""


def configured_token() -> str | None:
    """The callback token from the partner secret, registered so a log line can never show it."""
    token = configured_callback_token()
    if token:
        register_secret(token)
    return token


def handle_planyo(
    token: str | None, body: bytes | None, content_type: str | None, query: Mapping[str, str]
) -> CallbackAnswer:
    """The partner_ingest function's one service call: ``accept_callback`` on the deployment's token and bus.

    ``body`` is None when API Gateway's base64 did not decode: a 400, nothing published.
    """
    if body is None:
        return _refusal(400, "malformed callback", "body is not valid base64")
    publisher = default_publisher()
    answer = accept_callback(
        token,
        body,
        content_type,
        query,
        expected_token=configured_token(),
        publisher=publisher,
        bus_name=publisher.bus_name,
    )
    if answer.status >= 400:
        logger.warning("planyo callback refused", extra={"status": answer.status, "reason": answer.body.get("detail")})
    else:
        logger.info("planyo callback", extra={"status": answer.status, **answer.body})
    return answer
