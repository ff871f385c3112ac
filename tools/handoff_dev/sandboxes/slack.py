"""Slack incoming-webhook sandbox: records what would have been posted, answers like Slack.

``POST /services/<team>/<bot>/<token>`` with a JSON body (or a form body with
a ``payload`` field, which Slack also accepts). Answers are Slack's: ``200 ok``
as text; ``400 invalid_payload`` for a body that is not a JSON object or has
malformed fields, ``400 invalid_blocks`` for blocks without a type or more than
50, ``400 no_text`` when neither text nor blocks nor attachments are given;
``403 invalid_token`` for a wrong token, ``404 no_service`` for a path that is
not a webhook, ``404 channel_not_found`` / ``410 channel_is_archived`` for a
channel override. The webhook is checked before the payload, so an empty
object probes a live webhook (400 ``no_text``) without posting.

Every accepted message is appended to :attr:`SlackSandbox.messages` (so tests
and ``handoff demo`` can show them) and counted as ``post_message``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs

from handoff_dev.sandboxes.base import Request, Response, Sandbox

TEAM, BOT = "T0SANDBOX1", "B0SANDBOX1"
TOKEN = "sandboxWebhookToken0000001"  # noqa: S105 - fake, sandbox only
DEFAULT_CHANNEL = "#handoff-ops"
SIGNING_SECRET = "sandbox-slack-signing-secret-0001"  # noqa: S105 - fake, verifies dev interactions only
# The sandbox workspace has the channels the routing policy names (route/policy.yaml owners).
CHANNELS = frozenset(
    {
        "#handoff-ops",
        "#bookings",
        "#billing",
        "#sales",
        "#claims",
        "#support",
        "#sales-leads",
        "#fulfilment",
        "#collections",
        "#risk",
        "#outbound-campaigns",
        "#support-escalations",
        "#ops-escalations",
        "#sales-managers",
        "#finance-escalations",
        "#risk-oncall",
    }
)
ARCHIVED = frozenset({"#old-handoffs"})
MAX_BLOCKS = 50


class SlackSandbox(Sandbox):
    name: ClassVar[str] = "slack"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.messages: list[dict[str, Any]] = []

    def reset(self) -> None:
        """Forget posted messages, counters and faults."""
        with self.lock:
            self.messages.clear()
            self.effects.clear()
            self.requests.clear()
            self.faults = None

    def config(self) -> dict[str, Any]:
        return {
            "webhook_url": f"{self.base_url}/services/{TEAM}/{BOT}/{TOKEN}",
            "default_channel": DEFAULT_CHANNEL,
            "signing_secret": SIGNING_SECRET,
        }

    def operation_for(self, request: Request) -> str:
        return "post_message" if request.path.startswith("/services/") else "unknown"

    def handle(self, request: Request) -> Response:
        match = re.fullmatch(r"/services/([^/]+)/([^/]+)/([^/]+)/?", request.path)
        if match is None:
            return _text(404, "no_service")
        if match.groups() != (TEAM, BOT, TOKEN):
            return _text(403, "invalid_token")
        if request.method != "POST":
            return _text(400, "invalid_payload")
        payload = _payload(request)
        if payload is None:
            return _text(400, "invalid_payload")
        text, blocks = payload.get("text"), payload.get("blocks")
        if text is not None and not isinstance(text, str):
            return _text(400, "invalid_payload")
        if blocks is not None and (
            not isinstance(blocks, list)
            or len(blocks) > MAX_BLOCKS
            or not all(isinstance(b, dict) and isinstance(b.get("type"), str) and b["type"] for b in blocks)
        ):
            return _text(400, "invalid_blocks")
        if not text and not blocks and not payload.get("attachments"):
            return _text(400, "no_text")
        channel = payload.get("channel") or DEFAULT_CHANNEL
        if channel in ARCHIVED:
            return _text(410, "channel_is_archived")
        if channel not in CHANNELS:
            return _text(404, "channel_not_found")
        self.messages.append(
            {"channel": channel, "text": text, "blocks": blocks or [], "received_at": datetime.now(UTC).isoformat()}
        )
        self.effect("post_message")
        return _text(200, "ok")


def _payload(request: Request) -> dict[str, Any] | None:
    raw = request.body
    if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
        values = parse_qs(raw.decode("utf-8", "replace")).get("payload")
        if not values:
            return None
        raw = values[-1].encode()
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _text(status: int, body: str) -> Response:
    content_type = "text/html" if status == 200 else "text/plain"
    return Response(status, raw=body.encode(), headers={"Content-Type": content_type})
