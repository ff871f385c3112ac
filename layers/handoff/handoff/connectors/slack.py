"""Slack connector: a Slack app posting with a bot token through the official SDK (``slack_sdk``).

Why an app and not an incoming webhook: an app's incoming webhook posts to the
one channel picked at install and ignores ``channel``, and a legacy webhook
cannot carry interactive buttons; ``chat.postMessage`` with a bot token posts
to the channel the policy names for the owner, the urgency and the escalation,
and ``chat.update`` rewrites a review message after its decision (sources:
docs.slack.dev "chat.postMessage", "chat.update"; Slack's "Sending messages
using incoming webhooks": app webhooks "cannot override the default channel").

Errors: the Web API answers ``{"ok": false, "error": "<code>"}``; the codes are
mapped onto the taxonomy in :data:`SLACK_ERRORS`, the one place that knows
them (codes from the methods' "Errors" tables, e.g. slack-ruby/slack-api-ref
``methods/chat/chat.postMessage.json``). A channel or token problem
(``channel_not_found``, ``not_in_channel``, ``is_archived``, ``missing_scope``,
``invalid_auth`` …) is a :class:`SlackConfigurationError`: a human must fix the
app or the policy, so notify raises it to the dead-letter path and an alarm.

Rate limits: a 429 carries ``Retry-After`` and posted nothing, so the SDK's
``RateLimitErrorRetryHandler`` waits and retries it (docs.slack.dev
"Rate limits"; slack_sdk ``http_retry.builtin_handlers``). Nothing else is
retried in the client: a timeout may mean "posted", and the caller looks the
message up (``find_message``) before posting again.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final
from urllib.error import URLError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from handoff.connectors.base import BaseConnector, PartnerSettings, Probe, Secret
from handoff.connectors.errors import (
    AuthError,
    ConnectorError,
    RateLimitedError,
    RejectedInputError,
    RetryableError,
)
from handoff.connectors.http import RETRY_AFTER_CAP_SECONDS, parse_retry_after
from handoff.connectors.redaction import redact_text
from handoff.models import Tool

TOOL = Tool.SLACK

# UNCONFIRMED facts this module relies on (docs/partners.md lists them). No reference page exists for
# Slack in the shared folder; these come from Slack's public docs and the slack_sdk source.
ASSUMPTIONS: dict[str, str] = {
    "channel_names": "chat.postMessage accepts a channel name ('#billing') as well as an id and answers the id, "
    "which chat.update then needs (the method docs say 'an encoded ID, or a name').",
    "metadata_history": "conversations.history with include_all_metadata=true returns each message's metadata, so "
    "a post interrupted by a timeout is found again by its call id (needs channels:history/groups:history; "
    "a channel name is first mapped to its id with conversations.list, channels:read/groups:read).",
    "error_codes": "The error codes in SLACK_ERRORS are the methods' documented ones; an unknown code on a 4xx/200 "
    "is rejected input and on a 5xx retryable.",
}

DEFAULT_BASE_URL: Final = "https://slack.com/api/"
METADATA_EVENT_TYPE: Final = "handoff_outcome"
MAX_BLOCKS: Final = 50
MAX_TEXT: Final = 40_000
HISTORY_LIMIT: Final = 200
MAX_LIST_PAGES: Final = 20


class SlackConfigurationError(AuthError):
    """The app, its token, its scopes or the routed channel need a human (never fixed by retrying)."""


# Slack's error code -> taxonomy (documented in each method's "Errors" table).
SLACK_ERRORS: dict[str, type[ConnectorError]] = {
    # configuration: the app, its scopes, or the channel the policy names
    "channel_not_found": SlackConfigurationError,
    "not_in_channel": SlackConfigurationError,
    "is_archived": SlackConfigurationError,
    "missing_scope": SlackConfigurationError,
    "not_authed": SlackConfigurationError,
    "invalid_auth": SlackConfigurationError,
    "account_inactive": SlackConfigurationError,
    "token_revoked": SlackConfigurationError,
    "token_expired": SlackConfigurationError,
    "no_permission": SlackConfigurationError,
    "restricted_action": SlackConfigurationError,
    "restricted_action_read_only_channel": SlackConfigurationError,
    "ekm_access_denied": SlackConfigurationError,
    "team_access_not_granted": SlackConfigurationError,
    "org_login_required": SlackConfigurationError,
    # the message itself
    "invalid_blocks": RejectedInputError,
    "invalid_blocks_format": RejectedInputError,
    "invalid_metadata_format": RejectedInputError,
    "invalid_metadata_schema": RejectedInputError,
    "msg_too_long": RejectedInputError,
    "no_text": RejectedInputError,
    "invalid_arguments": RejectedInputError,
    "message_not_found": RejectedInputError,
    "cant_update_message": RejectedInputError,
    "edit_window_closed": RejectedInputError,
    # Slack's side: worth another try
    "ratelimited": RetryableError,
    "internal_error": RetryableError,
    "fatal_error": RetryableError,
    "service_unavailable": RetryableError,
    "request_timeout": RetryableError,
}


def error_for(method: str, status: int, code: str, *, retry_after: float | None = None) -> ConnectorError:
    """The taxonomy error for one failed Web API call (never includes the token)."""
    cls = SLACK_ERRORS.get(code)
    if cls is None:
        cls = RetryableError if status == 429 or status >= 500 else RejectedInputError
    text = f"{method} answered {code or '(no code)'} (HTTP {status})"
    if cls is SlackConfigurationError:
        text += ": check the Slack app's scopes and that the bot is invited to the policy's channels"
    if cls is RetryableError and (status == 429 or code == "ratelimited"):
        return RateLimitedError(TOOL.value, text, status=status, retry_after=retry_after)
    if cls is RetryableError:
        return RetryableError(TOOL.value, text, status=status, retry_after=retry_after)
    return cls(TOOL.value, text, status=status)


class _RateLimitRetry(RateLimitErrorRetryHandler):
    """The SDK's rate-limit handler with an injectable sleep and a bounded, fractional ``Retry-After``.

    Slack sends whole seconds; a fractional value (our sandbox) is honoured too,
    and the wait is capped so a Lambda never sleeps past its timeout.
    """

    def __init__(self, max_retry_count: int, sleep: Callable[[float], None]) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:  # pragma: no cover - the SDK only calls this with a 429 response
            raise error or RuntimeError("rate-limit retry without a response")
        header = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
        value = header[0] if isinstance(header, list) and header else header
        wait = parse_retry_after(str(value) if value is not None else None)
        delay = (1.0 + random.random()) if wait is None else wait  # noqa: S311 - jitter, not crypto
        state.next_attempt_requested = True
        self._sleep(min(delay, RETRY_AFTER_CAP_SECONDS))
        state.increment_current_attempt()


class Settings(PartnerSettings):
    """The ``slack`` block of the partner secret: the app's bot token and signing secret."""

    base_url: str = DEFAULT_BASE_URL
    bot_token: Secret
    default_channel: str | None = Field(default=None, pattern=r"^[#@]?[\w.-]{1,80}$")
    signing_secret: SecretStr | None = None  # verifies interactive approvals (handoff.slack_interactions)

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        """A bot token (``xoxb-``): user tokens would post as a person, webhook URLs cannot choose a channel."""
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("bot_token must be a Slack bot token (xoxb-…)")
        return value


class SlackMessage(BaseModel):
    """A Block Kit message. ``text`` is the fallback shown in notifications and to screen readers."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    blocks: tuple[dict[str, Any], ...] = Field(default=(), max_length=MAX_BLOCKS)
    channel: str | None = Field(default=None, pattern=r"^[#@]?[\w.-]{1,80}$")
    call_id: str | None = None
    outcome: str | None = None

    @field_validator("blocks")
    @classmethod
    def _typed_blocks(cls, blocks: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        for i, block in enumerate(blocks):
            if not isinstance(block.get("type"), str) or not block["type"]:
                raise ValueError(f"block {i} has no type")
        return blocks

    def metadata(self) -> dict[str, Any] | None:
        """Slack message metadata carrying the call id, so a message is found again by its call."""
        if not self.call_id:
            return None
        payload = {"call_id": self.call_id, "outcome": self.outcome or ""}
        return {"event_type": METADATA_EVENT_TYPE, "event_payload": payload}


class PostedMessage(BaseModel):
    """Where a message is: the channel id and its ``ts`` (what ``chat.update`` needs)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    channel: str
    ts: str
    posted: bool = True


class SlackConnector(BaseConnector[Settings]):
    """Posts, updates and finds messages of one Slack app (bot token)."""

    TOOL: ClassVar[Tool] = TOOL
    SETTINGS = Settings

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(settings, **options)
        self._token = settings.bot_token.get_secret_value()
        retry = self.options.retry
        self._client = WebClient(
            token=self._token,
            base_url=settings.base_url,
            timeout=int(max(1.0, self.options.read_timeout or settings.read_timeout)),
            retry_handlers=[
                _RateLimitRetry(
                    max_retry_count=max(0, (retry.attempts if retry else 3) - 1),
                    sleep=self.options.sleep or time.sleep,
                )
            ],
        )
        # slack_sdk's urllib path takes one timeout; a fractional test timeout is honoured as given.
        if self.options.read_timeout is not None:
            self._client.timeout = self.options.read_timeout  # type: ignore[assignment]

    # -- plumbing ------------------------------------------------------------------
    def _call(self, method: str, *, read: bool = False, **params: Any) -> Mapping[str, Any]:
        """One Web API call through the SDK; every failure becomes a taxonomy error without the token.

        Writes send a JSON body, reads query parameters (as the SDK's own
        ``chat_postMessage`` / ``conversations_history`` do).
        """
        given = {k: v for k, v in params.items() if v is not None}
        try:
            if read:
                response = self._client.api_call(method, http_verb="GET", params=given)
            else:
                response = self._client.api_call(method, json=given)
        except SlackApiError as exc:
            status = int(exc.response.status_code)
            data = exc.response.data if isinstance(exc.response.data, Mapping) else {}
            code = str(data.get("error") or "")
            headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
            retry_after = parse_retry_after(str(headers.get("retry-after") or "") or None)
            raise self._clean(error_for(method, status, code, retry_after=retry_after)) from None
        except (URLError, TimeoutError, OSError, SlackClientError) as exc:
            # The request may have reached Slack: the caller must look before posting again.
            raise self._clean(RetryableError(TOOL.value, f"{method} failed in transit: {type(exc).__name__}")) from None
        return response.data if isinstance(response.data, Mapping) else {}

    def _clean(self, error: ConnectorError) -> ConnectorError:
        error.args = (redact_text(str(error), (self._token,)),)
        return error

    def _probe(self) -> Probe:
        """``auth.test``: the token is valid; the answer names the workspace and the bot user."""
        data = self._call("auth.test")
        return Probe(detail=f"bot {data.get('user') or data.get('user_id') or '?'} in {data.get('team') or '?'}")

    # -- operations ----------------------------------------------------------------
    def post_message(self, message: SlackMessage) -> PostedMessage:
        """``chat.postMessage`` to the message's channel (or the configured default), with metadata."""
        channel = message.channel or self.settings.default_channel
        if not channel:
            raise SlackConfigurationError(TOOL.value, "no channel: the policy names none and no default_channel is set")
        data = self._call(
            "chat.postMessage",
            channel=channel,
            text=message.text,
            blocks=list(message.blocks) or None,
            metadata=message.metadata(),
            unfurl_links=False,
        )
        return PostedMessage(channel=str(data.get("channel") or channel), ts=str(data.get("ts") or ""))

    def update_message(self, where: PostedMessage, message: SlackMessage) -> PostedMessage:
        """``chat.update``: replace the text and blocks of a message the app posted (metadata kept current)."""
        data = self._call(
            "chat.update",
            channel=where.channel,
            ts=where.ts,
            text=message.text,
            blocks=list(message.blocks),
            metadata=message.metadata(),
        )
        return PostedMessage(channel=str(data.get("channel") or where.channel), ts=str(data.get("ts") or where.ts))

    def channel_id(self, channel: str) -> str | None:
        """The id of a channel given by name (``#billing``); ids are returned as they are.

        ``conversations.history`` takes only an id, while the policy names
        channels; ``conversations.list`` (channels:read, groups:read) maps them.
        """
        name = channel.removeprefix("#")
        if not channel.startswith("#") and name[:1] in ("C", "G") and name.upper() == name:
            return channel
        cursor: str | None = None
        for _ in range(MAX_LIST_PAGES):
            data = self._call(
                "conversations.list",
                read=True,
                types="public_channel,private_channel",
                exclude_archived="true",
                limit=HISTORY_LIMIT,
                cursor=cursor,
            )
            for row in data.get("channels") or []:
                if isinstance(row, Mapping) and row.get("name") == name:
                    return str(row.get("id"))
            meta = data.get("response_metadata")
            cursor = str(meta.get("next_cursor") or "") if isinstance(meta, Mapping) else ""
            if not cursor:
                return None
        return None

    def usergroup_members(self, usergroup: str) -> frozenset[str]:
        """The user ids in a user group (``usergroups.users.list``, bot scope ``usergroups:read``).

        Who may approve a team's reviews may be named as a user group in the
        policy (handoff.slack_interactions). Source: docs.slack.dev reference
        for usergroups.users.list (``usergroup`` argument, answer ``users``,
        error ``no_such_subteam``, Tier 2 rate limit: callers cache).
        """
        data = self._call("usergroups.users.list", read=True, usergroup=usergroup)
        return frozenset(str(user) for user in data.get("users") or [] if isinstance(user, str))

    def find_message(self, channel: str, call_id: str, outcome: str, *, oldest: float) -> PostedMessage | None:
        """The app's message for (call, outcome) in ``channel`` since ``oldest``, found by its metadata."""
        resolved = self.channel_id(channel)
        if resolved is None:
            return None
        channel = resolved
        data = self._call(
            "conversations.history",
            read=True,
            channel=channel,
            oldest=f"{oldest:.6f}",
            limit=HISTORY_LIMIT,
            include_all_metadata="true",
        )
        for item in data.get("messages") or []:
            meta = item.get("metadata") if isinstance(item, Mapping) else None
            payload = meta.get("event_payload") if isinstance(meta, Mapping) else None
            if (
                isinstance(payload, Mapping)
                and meta.get("event_type") == METADATA_EVENT_TYPE  # type: ignore[union-attr]
                and payload.get("call_id") == call_id
                and payload.get("outcome") == outcome
            ):
                return PostedMessage(channel=channel, ts=str(item.get("ts")))
        return None


def verify_request(
    signing_secret: str, body: bytes, timestamp: str, signature: str, *, now: float | None = None
) -> bool:
    """Slack's request signature, checked by the SDK's ``SignatureVerifier`` (v0 HMAC, 5-minute window).

    For the interactivity route (``handoff.slack_interactions``): one call,
    False for anything that is not a valid, fresh signature of exactly ``body``.
    """
    from slack_sdk.signature import Clock, SignatureVerifier

    class _Now(Clock):
        def now(self) -> float:
            return time.time() if now is None else now

    try:
        return SignatureVerifier(signing_secret, clock=_Now()).is_valid(body, timestamp, signature)
    except (ValueError, UnicodeDecodeError):  # empty secret, non-numeric timestamp, a body that is not UTF-8
        return False


def metadata_of(message: Mapping[str, Any]) -> dict[str, Any]:
    """A posted message's Handoff metadata payload (empty when it has none); for tests and tooling."""
    meta = message.get("metadata")
    if isinstance(meta, str):
        meta = json.loads(meta)
    payload = meta.get("event_payload") if isinstance(meta, Mapping) else None
    return dict(payload) if isinstance(payload, Mapping) else {}
