"""Slack Web API sandbox: a workspace with channels, a bot token and the methods Handoff calls.

``POST /api/<method>`` (JSON or form body, or a GET with query parameters) with
``Authorization: Bearer <token>``, answered the way Slack's Web API answers:
HTTP 200 with ``{"ok": true, …}`` or ``{"ok": false, "error": "<code>"}``, and
HTTP 429 ``ratelimited`` with ``Retry-After`` (docs.slack.dev "Rate limits").
With :meth:`Sandbox.limit_rates` on, ``chat.postMessage`` is limited the way
Slack documents it: about one message per second per channel, short bursts
allowed (:data:`POST_MESSAGE_LIMIT`, a token bucket per channel); other methods
are not limited here (their tiers allow 20-100+ calls a minute per workspace).

Methods: ``auth.test``; ``chat.postMessage`` (channel by id or name, answers the
channel *id* and a ``ts``; message ``metadata`` kept); ``chat.update`` (needs
the channel id and ``ts``, as Slack's docs say); ``conversations.history``
(metadata only with ``include_all_metadata``); ``conversations.list``;
``usergroups.users.list`` (``no_such_subteam``). Checks, in Slack's order and
with its codes (each method's "Errors" table): ``not_authed`` (no token),
``invalid_auth`` (unknown token), ``missing_scope`` (with ``needed`` and
``provided``), ``channel_not_found``, ``is_archived``, ``not_in_channel`` (the
bot was never invited), ``no_text``, ``invalid_blocks``,
``invalid_metadata_format``, ``message_not_found``.

Messages are kept per channel (:meth:`SlackSandbox.history`, and the flat
:attr:`SlackSandbox.messages` that ``handoff demo`` prints); an update rewrites
the message in place and keeps its earlier versions under ``edits``.
:meth:`SlackSandbox.click` builds the signed ``block_actions`` request Slack
sends when someone clicks a button, with a ``response_url`` served here.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode

from handoff.slack_interactions import signature
from handoff_dev.sandboxes.base import RateLimit, Request, Response, Sandbox

TEAM, TEAM_NAME = "T0SANDBOX1", "handoff-sandbox"
BOT_USER = "U0HANDOFFBOT"
BOT_TOKEN = "xoxb-sandbox-0000000001-handoff"  # noqa: S105 - fake, sandbox only
NO_SCOPE_TOKEN = "xoxb-sandbox-0000000002-noscope"  # noqa: S105 - fake: an install without chat:write
SIGNING_SECRET = "sandbox-slack-signing-secret-0001"  # noqa: S105 - fake, verifies dev interactions only
SCOPES = {
    BOT_TOKEN: ("chat:write", "channels:history", "groups:history", "channels:read", "groups:read", "usergroups:read"),
    NO_SCOPE_TOKEN: ("channels:history",),
}
NEEDS = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.history": "channels:history",
    "conversations.list": "channels:read",
    "usergroups.users.list": "usergroups:read",
}
USERGROUPS = {"S0SANDBOXFIN": ("U0SANDBOXBEA", "U0SANDBOXCAL")}
"""The sandbox workspace's user groups (the routing policy names S0SANDBOXFIN as finance approvers)."""
DEFAULT_CHANNEL = "#handoff-ops"
# The sandbox workspace has the channels the routing policy names (policy/routing.yaml owners), the bot in each.
MEMBER_CHANNELS = (
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
    "#handoff-fallback",  # a DefaultNotifyChannel distinct from default_channel (tests/e2e/test_policy_e2e.py)
)
CHANNELS = frozenset(MEMBER_CHANNELS)
NOT_MEMBER = frozenset({"#private-finance"})
"""Exists, but the bot was never invited: ``not_in_channel``."""
ARCHIVED = frozenset({"#old-handoffs"})
MAX_BLOCKS = 50
POST_MESSAGE_LIMIT = RateLimit(
    rate=1.0,
    burst=4,
    source="docs.slack.dev 'Rate limits', special rate limits: chat.postMessage 'generally allows posting one message "
    "per second per channel, while also allowing short bursts'; the burst size (4) is not published: ASSUMED",
)


def channel_id(name: str) -> str:
    """The sandbox's stable channel id for a channel name (``#billing`` -> ``C0BILLING``)."""
    return "C0" + "".join(ch for ch in name.upper() if ch.isalnum())[:9]


class SlackSandbox(Sandbox):
    name: ClassVar[str] = "slack"
    RATE_LIMIT: ClassVar[RateLimit] = POST_MESSAGE_LIMIT

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.messages: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.rate_limited = 0
        self.retry_after = 1
        self._names = {channel_id(n): n for n in CHANNELS | NOT_MEMBER | ARCHIVED}
        self._ticks = itertools.count(1)

    def reset(self) -> None:
        """Forget posted messages, counters and faults."""
        with self.lock:
            self.messages.clear()
            self.responses.clear()
            self.effects.clear()
            self.requests.clear()
            self.faults = None
            self.rate_limited = 0

    def config(self) -> dict[str, Any]:
        return {
            "base_url": f"{self.base_url}/api/",
            "bot_token": BOT_TOKEN,
            "default_channel": DEFAULT_CHANNEL,
            "signing_secret": SIGNING_SECRET,
        }

    # -- test hooks ------------------------------------------------------------------
    def rate_limit(self, times: int, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls 429 ``ratelimited`` with ``Retry-After`` (nothing is posted)."""
        with self.lock:
            self.rate_limited, self.retry_after = times, retry_after

    def history(self, channel: str) -> list[dict[str, Any]]:
        """The messages in one channel (name or id), oldest first, as they read now."""
        name = self._names.get(channel, channel)
        return [m for m in self.messages if m["channel"] == name]

    def channels_used(self) -> set[str]:
        return {m["channel"] for m in self.messages}

    def click(
        self, message: dict[str, Any], action_id: str, user: dict[str, str] | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The signed request Slack sends when ``user`` clicks the button ``action_id`` on ``message``."""
        button = next(
            e
            for block in message["blocks"]
            if block.get("type") == "actions"
            for e in block.get("elements", [])
            if e.get("action_id") == action_id
        )
        token = secrets.token_hex(8)
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": TEAM_NAME},
            "user": user or {"id": "U0SANDBOXANA", "username": "ana", "name": "ana"},
            "api_app_id": "A0HANDOFF01",
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel_id"]},
            "channel": {"id": message["channel_id"], "name": message["channel"].lstrip("#")},
            "message": {"ts": message["ts"], "text": message["text"], "blocks": message["blocks"]},
            "response_url": f"{self.base_url}/actions/{TEAM}/{message['ts']}/{token}",
            "actions": [{**button, "block_id": "handoff_review", "action_ts": f"{time.time():.6f}"}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature(SIGNING_SECRET, stamp, body),
        }
        return body, headers

    # -- rate limits -----------------------------------------------------------------
    def rate_key(self, request: Request, operation: str) -> str | None:
        """``chat.postMessage`` draws from its channel's bucket (name or id, the same channel)."""
        if operation != "post_message":
            return None
        given = str(_params(request).get("channel") or "")
        name = self._names.get(given) or (given if given.startswith("#") else f"#{given}")
        return f"post_message:{name}"

    def rate_limited_answer(self, retry_after: int) -> Response:
        return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})

    # -- the API -------------------------------------------------------------------
    def operation_for(self, request: Request) -> str:
        if request.path.startswith("/actions/"):
            return "response_url"
        method = request.path.removeprefix("/api/")
        return {"chat.postMessage": "post_message", "chat.update": "update_message"}.get(method, method)

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/actions/"):
            return self._response_url(request)
        if not request.path.startswith("/api/"):
            return Response(404, raw=b"not found", headers={"Content-Type": "text/plain"})
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(self.retry_after)})
        method = request.path.removeprefix("/api/")
        params = _params(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or params.get("token", "")
        if not token:
            return _fail("not_authed")
        if token not in SCOPES:
            return _fail("invalid_auth")
        if method == "auth.test":
            return _ok(
                url=f"https://{TEAM_NAME}.slack.com/", team=TEAM_NAME, user="handoff", team_id=TEAM, user_id=BOT_USER
            )
        needed = NEEDS.get(method)
        if needed is None:
            return _fail("unknown_method")
        if needed not in SCOPES[token]:
            return _fail("missing_scope", needed=needed, provided=",".join(SCOPES[token]))
        if method == "chat.postMessage":
            return self._post(params)
        if method == "chat.update":
            return self._update(params)
        if method == "usergroups.users.list":
            members = USERGROUPS.get(str(params.get("usergroup") or ""))
            return _ok(users=list(members)) if members is not None else _fail("no_such_subteam")
        if method == "conversations.list":
            rows = [
                {"id": cid, "name": name.lstrip("#"), "is_member": name in CHANNELS, "is_archived": False}
                for cid, name in sorted(self._names.items())
                if name not in ARCHIVED
            ]
            return _ok(channels=rows, response_metadata={"next_cursor": ""})
        return self._history(params)

    def _channel(self, given: Any, *, id_only: bool = False) -> tuple[str | None, Response | None]:
        text = str(given or "")
        name = self._names.get(text)
        if name is None and not id_only:
            name = text if text.startswith("#") else f"#{text}" if text else None
        if name is None or name not in self._names.values():
            return None, _fail("channel_not_found")
        if name in ARCHIVED:
            return None, _fail("is_archived")
        if name in NOT_MEMBER:
            return None, _fail("not_in_channel")
        return name, None

    def _content(self, params: dict[str, Any]) -> tuple[dict[str, Any] | None, Response | None]:
        text, blocks, metadata = (
            params.get("text"),
            _json_field(params.get("blocks")),
            _json_field(params.get("metadata")),
        )
        if text is not None and not isinstance(text, str):
            return None, _fail("invalid_arguments")
        if blocks is not None and (
            not isinstance(blocks, list)
            or len(blocks) > MAX_BLOCKS
            or not all(isinstance(b, dict) and isinstance(b.get("type"), str) and b["type"] for b in blocks)
        ):
            return None, _fail("invalid_blocks")
        if not text and not blocks and not params.get("attachments"):
            return None, _fail("no_text")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            return None, _fail("invalid_metadata_format")
        return {"text": text or "", "blocks": blocks or [], "metadata": metadata}, None

    def _post(self, params: dict[str, Any]) -> Response:
        name, refused = self._channel(params.get("channel"))
        if refused is not None or name is None:
            return refused or _fail("channel_not_found")
        content, refused = self._content(params)
        if refused is not None or content is None:
            return refused or _fail("invalid_arguments")
        ts = f"{int(time.time())}.{next(self._ticks):06d}"
        message = {
            "channel": name,
            "channel_id": channel_id(name),
            "ts": ts,
            **content,
            "edits": [],
            "received_at": datetime.now(UTC).isoformat(),
        }
        self.messages.append(message)
        self.effect("post_message")
        return _ok(channel=message["channel_id"], ts=ts, message=_public(message))

    def _update(self, params: dict[str, Any]) -> Response:
        name, refused = self._channel(params.get("channel"), id_only=True)
        if refused is not None or name is None:
            return refused or _fail("channel_not_found")
        target = next((m for m in self.messages if m["channel"] == name and m["ts"] == params.get("ts")), None)
        if target is None:
            return _fail("message_not_found")
        content, refused = self._content(params)
        if refused is not None or content is None:
            return refused or _fail("invalid_arguments")
        target["edits"].append({k: target[k] for k in ("text", "blocks", "metadata")})
        target.update({k: v for k, v in content.items() if v is not None or k != "metadata"})
        self.effect("update_message")
        return _ok(channel=target["channel_id"], ts=target["ts"], text=target["text"])

    def _history(self, params: dict[str, Any]) -> Response:
        name, refused = self._channel(params.get("channel"), id_only=True)
        if refused is not None or name is None:
            return refused or _fail("channel_not_found")
        oldest = float(params.get("oldest") or 0)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("true", "1")
        rows = [_public(m, with_metadata) for m in reversed(self.history(name)) if float(m["ts"]) >= oldest]
        limit = int(params.get("limit") or 100)
        return _ok(messages=rows[:limit], has_more=len(rows) > limit)

    def _response_url(self, request: Request) -> Response:
        """What Slack does with a POST to an interaction's ``response_url``: ``replace_original`` rewrites it."""
        parts = request.path.strip("/").split("/")
        if len(parts) != 4:
            return Response(404, raw=b"no_such_response_url", headers={"Content-Type": "text/plain"})
        body = _params(request)
        self.responses.append({"ts": parts[2], **body})
        target = next((m for m in self.messages if m["ts"] == parts[2]), None)
        if target is not None and str(body.get("replace_original", "")).lower() in ("true", "1"):
            target["edits"].append({k: target[k] for k in ("text", "blocks", "metadata")})
            target.update(text=body.get("text") or "", blocks=_json_field(body.get("blocks")) or [])
        self.effect("response_url")
        return Response(200, raw=b"ok", headers={"Content-Type": "text/plain"})


def _params(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "")
    if "application/json" in ctype and request.body:
        try:
            parsed = json.loads(request.body)
        except ValueError:
            return {}
        return {**request.query, **parsed} if isinstance(parsed, dict) else dict(request.query)
    if "application/x-www-form-urlencoded" in ctype and request.body:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        return {**request.query, **form}
    return dict(request.query)


def _json_field(value: Any) -> Any:
    """Form and query callers send blocks and metadata as JSON strings; JSON callers as objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _public(message: dict[str, Any], with_metadata: bool = True) -> dict[str, Any]:
    row = {
        "type": "message",
        "ts": message["ts"],
        "text": message["text"],
        "blocks": message["blocks"],
        "user": BOT_USER,
    }
    if with_metadata and message.get("metadata"):
        row["metadata"] = message["metadata"]
    return row


def _ok(**fields: Any) -> Response:
    return Response(200, {"ok": True, **fields})


def _fail(code: str, **fields: Any) -> Response:
    return Response(200, {"ok": False, "error": code, **fields})
