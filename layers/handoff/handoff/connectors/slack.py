"""Slack connector: post a Block Kit message with a plain-text fallback through an incoming webhook.

The webhook URL is itself the credential (anyone holding it can post), so it
is kept in a ``SecretStr``, handed to :class:`HttpClient` as a secret (with its
token segment, in case a URL is re-encoded), and never put into a message,
log line or exception. Slack answers errors as short plain-text codes with a
4xx status (``invalid_payload``, ``no_text``, ``channel_not_found`` …); they are
mapped onto the taxonomy in :data:`SLACK_ERRORS`, the one place that knows them
(sources: Slack's 2016-05-17 changelog "Improving error conditions for Incoming
Webhooks" and its incoming-webhook docs).

Incoming webhooks have no idempotency key, so a post is never retried after an
answer that might mean "posted" (5xx, timeout); only 429, which guarantees
nothing was posted, is retried here after ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from handoff.connectors.base import HealthReport, validated_settings
from handoff.connectors.errors import (
    AuthError,
    ConnectorError,
    RejectedInputError,
    RetryableError,
)
from handoff.connectors.http import NO_RETRY, HttpClient, RetryPolicy
from handoff.connectors.redaction import redact_text
from handoff.models import Tool

# UNCONFIRMED facts this module relies on (README lists them). No reference page exists for
# Slack in the shared folder; these come from Slack's public docs and changelog.
ASSUMPTIONS: dict[str, str] = {
    "probe": "Slack validates the webhook before the payload: an empty JSON object is answered 400 no_text (or "
    "invalid_payload) by a live webhook and 403/404/410 by a revoked one, and nothing is posted.",
    "channel_override": "A 'channel' field is honoured only by legacy webhooks; app webhooks use their own channel.",
    "error_bodies": "Error bodies are the plain codes in SLACK_ERRORS; an unknown code falls back to its HTTP status.",
    "rate_limit": "About one message per second per webhook; a 429 carries Retry-After and posted nothing.",
}

MAX_BLOCKS = 50
MAX_TEXT = 40_000

# Slack's error code -> taxonomy. Webhook and channel problems are configuration (AuthError:
# a human must fix the webhook or the routing); payload problems are rejected input.
SLACK_ERRORS: dict[str, type[ConnectorError]] = {
    "invalid_payload": RejectedInputError,
    "no_text": RejectedInputError,
    "missing_text_or_fallback_or_attachments": RejectedInputError,
    "invalid_blocks": RejectedInputError,
    "invalid_blocks_format": RejectedInputError,
    "too_many_attachments": RejectedInputError,
    "user_not_found": RejectedInputError,
    "channel_not_found": AuthError,
    "channel_is_archived": AuthError,
    "action_prohibited": AuthError,
    "posting_to_general_channel_denied": AuthError,
    "invalid_token": AuthError,
    "no_active_hooks": AuthError,
    "no_service": AuthError,
    "no_service_id": AuthError,
    "no_team": AuthError,
    "team_disabled": AuthError,
    "rollup_error": RetryableError,
}
PROBE_OK = frozenset({"no_text", "invalid_payload", "missing_text_or_fallback_or_attachments"})
_ANSWERED_STATUSES = (400, 401, 403, 404, 410)


class _RedactWebhookPaths(logging.Filter):
    """urllib3 logs every request line (with the path, i.e. the webhook token) at DEBUG; mask it.

    The webhook token is the credential and travels in the path, so with
    DEBUG logging on it would otherwise be logged by urllib3 itself.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            clean = redact_text(message, self.secrets)
            if clean != message:
                record.msg, record.args = clean, None
        return True


def _path_filter() -> _RedactWebhookPaths:
    """The one filter on urllib3's logger (re-imports of this module reuse it)."""
    urllib3_logger = logging.getLogger("urllib3.connectionpool")
    for existing in urllib3_logger.filters:
        if isinstance(existing, _RedactWebhookPaths):
            return existing
    created = _RedactWebhookPaths()
    urllib3_logger.addFilter(created)
    return created


_PATH_FILTER = _path_filter()


def error_for(status: int, body: str) -> ConnectorError:
    """The taxonomy error for a non-2xx webhook answer (never includes the URL)."""
    code = body.strip()[:80]
    code = code if re.fullmatch(r"[a-z_]+", code) else ""
    cls = SLACK_ERRORS.get(code)
    if cls is None:
        cls = RejectedInputError if status == 400 else RetryableError if status == 429 or status >= 500 else AuthError
    return cls("slack", f"webhook answered {status} {code or '(no code)'}", status=status)


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseModel):
    """The ``slack`` block of the partner secret."""

    model_config = ConfigDict(extra="ignore")

    webhook_url: SecretStr
    default_channel: str | None = Field(default=None, pattern=r"^[#@]?[\w.-]{1,80}$")
    connect_timeout: float = Field(default=3.05, gt=0)
    read_timeout: float = Field(default=10.0, gt=0)
    signing_secret: SecretStr | None = None  # verifies interactive approvals (handoff.slack_interactions)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_shape(cls, value: SecretStr) -> SecretStr:
        """https with a token path; plain http only on loopback (the sandbox). Messages never echo the URL."""
        parts = urlsplit(value.get_secret_value())
        if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
            raise ValueError("webhook_url must be an https URL")
        if len([p for p in parts.path.split("/") if p]) < 2:
            raise ValueError("webhook_url has no webhook token path")
        return value


class SlackMessage(BaseModel):
    """A Block Kit message. ``text`` is the fallback shown in notifications and to screen readers."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    blocks: tuple[dict[str, Any], ...] = Field(default=(), max_length=MAX_BLOCKS)
    channel: str | None = Field(default=None, pattern=r"^[#@]?[\w.-]{1,80}$")

    @field_validator("blocks")
    @classmethod
    def _typed_blocks(cls, blocks: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        for i, block in enumerate(blocks):
            if not isinstance(block.get("type"), str) or not block["type"]:
                raise ValueError(f"block {i} has no type")
        return blocks


class PostResult(BaseModel):
    posted: bool
    channel: str | None = None


def payload_for(message: SlackMessage, default_channel: str | None) -> dict[str, Any]:
    """Handoff's message -> Slack's webhook JSON (the one place field names are mapped)."""
    payload: dict[str, Any] = {"text": message.text}
    if message.blocks:
        payload["blocks"] = list(message.blocks)
    channel = message.channel or default_channel
    if channel:
        payload["channel"] = channel
    return payload


class SlackConnector:
    """Posts to one incoming webhook."""

    TOOL: ClassVar[Tool] = Tool.SLACK

    def __init__(
        self,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self._url = settings.webhook_url.get_secret_value()
        token = [p for p in urlsplit(self._url).path.split("/") if p][-1]
        self._retry = retry or RetryPolicy()
        secrets = (self._url, urlsplit(self._url).path, token)
        _PATH_FILTER.secrets.update(secrets)
        self._http = HttpClient(
            tool=self.TOOL.value,
            base_url=self._url,
            secrets=secrets,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retry=self._retry,
            session=session or requests.Session(),
        )
        if sleep is not None:
            self._http.sleep = sleep

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> Self:
        """Build from the partner secret block; a bad block is a configuration error (no values echoed)."""
        settings = validated_settings(Settings, config, cls.TOOL.value)
        return cls(settings, retry=retry, sleep=sleep)

    def check(self) -> HealthReport:
        """Validate the configuration without posting a message.

        The URL's shape was validated when the settings were built. Then an
        empty JSON object is POSTed: a live webhook refuses it with 400
        ``no_text`` (nothing appears in the channel), while a revoked or
        mistyped one answers ``invalid_token``/``no_service``/
        ``channel_is_archived``; see ASSUMPTIONS["probe"]. The probe posts
        nothing, so it is retried like any read.
        """
        try:
            response = self._http.request("POST", self._url, json={}, ok_statuses=_ANSWERED_STATUSES)
        except ConnectorError as exc:
            return HealthReport(tool=self.TOOL, reachable=exc.status is not None, authenticated=False, detail=str(exc))
        if response.status_code < 300:
            return HealthReport(
                tool=self.TOOL, reachable=True, authenticated=True, detail="webhook accepted an empty probe"
            )
        if response.status_code == 400 and response.text.strip() in PROBE_OK:
            return HealthReport(tool=self.TOOL, reachable=True, authenticated=True, detail="webhook live (probe)")
        error = error_for(response.status_code, response.text)
        return HealthReport(tool=self.TOOL, reachable=True, authenticated=False, detail=str(error))

    def post_message(self, message: SlackMessage) -> PostResult:
        """POST the message to the webhook; Slack's error codes become taxonomy errors.

        Only 429 is retried here (nothing was posted); a 5xx or a timeout is
        raised as :class:`RetryableError` for the caller to decide, because
        Slack may have posted before failing.
        """
        payload = payload_for(message, self.settings.default_channel)
        attempts = max(1, self._retry.attempts)
        for attempt in range(attempts):
            try:
                response = self._http.request(
                    "POST", self._url, json=payload, ok_statuses=_ANSWERED_STATUSES, retry=NO_RETRY
                )
            except RetryableError as exc:
                if exc.status != 429 or attempt + 1 >= attempts:
                    raise
                self._http.sleep(self._retry.delay(attempt, exc.retry_after))
                continue
            if response.status_code >= 300:
                raise error_for(response.status_code, response.text)
            return PostResult(posted=True, channel=payload.get("channel"))
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
