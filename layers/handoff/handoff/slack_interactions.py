"""Slack interactive approval: verify a signed ``block_actions`` request and turn a click into a decision.

Why here and pure: the review function's ``POST /slack/interactions`` route has
no IAM auth, so Slack's request signature *is* the authentication: the user id
in a signed payload is who clicked. Verifying it, parsing the click and
checking the clicker against the approvers the routing policy names for the
owning team are pure functions tested without Slack or AWS; the route only
loads the signing secret and calls :func:`handoff.review.service.decide`.

Signature (https://api.slack.com/authentication/verifying-requests-from-slack):
``X-Slack-Signature`` = ``"v0=" + hex(HMAC-SHA256(signing_secret, "v0:" +
X-Slack-Request-Timestamp + ":" + raw body))``, compared in constant time; a
timestamp more than five minutes from now is refused so a captured request
cannot be replayed.

Slack's field names live in this module only (the ``*_HEADER``, ``ACTION_*``
constants and :func:`parse_interaction`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

from handoff.jsonbody import JSONBodyError, parse_json
from handoff.review.model import NotAnApprover, ReviewDecision, Reviewer, ReviewRecord

SIGNATURE_HEADER: Final = "x-slack-signature"
TIMESTAMP_HEADER: Final = "x-slack-request-timestamp"
SIGNATURE_VERSION: Final = "v0"
MAX_SKEW_SECONDS: Final = 5 * 60
MAX_BODY_BYTES: Final = 1024 * 1024
"""A block_actions payload carries the whole message (up to 50 blocks); anything bigger is not Slack's."""

ACTION_APPROVE: Final = "handoff_approve"
ACTION_REJECT: Final = "handoff_reject"
LINK_ACTION_PREFIX: Final = "open_"
"""Link buttons of the notification (``open_0`` …): Slack reports their clicks too; nothing to decide."""
INTERACTION_TYPE: Final = "block_actions"
REVIEWER_PREFIX: Final = "slack:"

DECISIONS: Final[dict[str, Literal["approve", "reject"]]] = {ACTION_APPROVE: "approve", ACTION_REJECT: "reject"}

# UNCONFIRMED facts about Slack this module relies on, kept in one place.
ASSUMPTIONS: dict[str, str] = {
    "body": "Interactions arrive as application/x-www-form-urlencoded with one field 'payload' holding the JSON.",
    "user": "payload.user carries 'id' and (for most apps) 'username' and/or 'name'; the first non-empty is shown.",
    "response_body": "For block_actions Slack only needs a 200 within 3 s; whether it shows the JSON 'text' of the "
    "answer is not confirmed (posting to payload.response_url would be the sure way to update the message).",
    "link_buttons": "Clicking a URL button also sends a block_actions request; it is acknowledged and ignored.",
    "who_may_decide": "Slack does not filter who clicks: Handoff accepts a click only from the approvers the "
    "routing policy names for the owning team (user ids, or user groups read with usergroups.users.list; "
    "a group Slack cannot answer for within 1 s approves nobody).",
    "response_url": "payload.response_url accepts a JSON message for 30 minutes; response_type 'ephemeral' shows "
    "it to the clicker only (https://docs.slack.dev/interactivity/handling-user-interaction).",
}


class InteractionError(ValueError):
    """A Slack request Handoff cannot act on; the message names the problem (never a secret)."""


class SignatureError(InteractionError):
    """The request is not provably from Slack: missing, malformed, wrong or stale signature."""


class UnknownAction(InteractionError):  # noqa: N818 - reads as the problem it names
    """An action id Handoff did not put on a button."""


@dataclass(frozen=True)
class SlackAction:
    """One click on a review button: what was decided, on which call, by whom."""

    action_id: str
    call_id: str
    user_id: str
    user_name: str
    response_url: str = ""

    @property
    def decision(self) -> Literal["approve", "reject"]:
        return DECISIONS[self.action_id]

    @property
    def who(self) -> str:
        """The person as the message shows them: the user name, else the Slack user id."""
        return self.user_name or self.user_id

    @property
    def reviewer(self) -> Reviewer:
        """Who clicked, as Slack signed it: the user id is the identity, the name only shown."""
        return Reviewer(f"{REVIEWER_PREFIX}{self.user_id}", self.user_name)

    def review_decision(self) -> ReviewDecision:
        """The decision :func:`handoff.review.service.decide` applies (a rejection records who and where)."""
        if self.decision == "reject":
            return ReviewDecision(decision="reject", reason=f"rejected in Slack by {self.who}")
        return ReviewDecision(decision="approve", note="approved in Slack")


def reply_url(action: SlackAction) -> str | None:
    """The click's ``response_url`` if it is Slack's (https on slack.com), or loopback http (the dev sandbox).

    The payload is signed, so the URL is Slack's; the host check still keeps a
    decision from ever posting anywhere else.
    """
    parts = urlsplit(action.response_url)
    host = parts.hostname or ""
    if parts.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")):
        return action.response_url
    if parts.scheme == "http" and host in ("127.0.0.1", "localhost", "::1"):
        return action.response_url
    return None


def ephemeral(text: str) -> dict[str, Any]:
    """A message only the clicker sees, leaving the review message as it is."""
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


# --------------------------------------------------------------------------- who may decide
GroupMembers = Callable[[str], frozenset[str]]
"""The Slack user ids in a user group (``usergroups.users.list``); raises LookupError when it cannot tell."""


def approver_check(
    action: SlackAction, approvers_by_team: Mapping[str, tuple[str, list[str]]], members: GroupMembers | None = None
) -> Callable[[ReviewRecord], None]:
    """A check that the clicker is an approver of the review's owning team, by user id or user group.

    ``approvers_by_team`` maps an owner's team name (what the review records)
    to its policy key and approvers; refusals name the key ("billing").
    """

    def check(review: ReviewRecord) -> None:
        key, approvers = approvers_by_team.get(review.owner, (review.owner or "this call", []))
        if action.user_id in approvers:
            return
        for group in (a for a in approvers if a.startswith("S")):
            try:
                if members is not None and action.user_id in members(group):
                    return
            except LookupError:
                continue
        raise NotAnApprover(review.call_id, f"you are not an approver for {key}; nothing changed")

    return check


# --------------------------------------------------------------------------- signature
def signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's ``v0=`` signature of a request (what a sender puts in ``X-Slack-Signature``)."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def _header(headers: Mapping[str, str], name: str) -> str:
    """Header names are case-insensitive (API Gateway v2 lower-cases them; others may not)."""
    for key, value in headers.items():
        if key.lower() == name:
            return value.strip()
    return ""


def verify_signature(headers: Mapping[str, str], body: bytes, signing_secret: str, now: float | None = None) -> None:
    """Raise :class:`SignatureError` naming why unless Slack signed exactly this body within five minutes."""
    if not signing_secret:
        raise SignatureError("no signing secret is configured")
    given = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    if not given:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not stamp:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if not stamp.isdigit():
        raise SignatureError(f"{TIMESTAMP_HEADER} is not a Unix time")
    skew = abs((time.time() if now is None else now) - int(stamp))
    if skew > MAX_SKEW_SECONDS:
        raise SignatureError(f"{TIMESTAMP_HEADER} is {int(skew)} s from now (more than {MAX_SKEW_SECONDS} s: replay?)")
    if not given.startswith(f"{SIGNATURE_VERSION}="):
        raise SignatureError(f"{SIGNATURE_HEADER} is not a {SIGNATURE_VERSION} signature")
    from handoff.connectors.slack import verify_request  # slack_sdk's SignatureVerifier (partners)

    if not verify_request(signing_secret, body, stamp, given, now=now):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


# --------------------------------------------------------------------------- payload
def _payload(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise InteractionError(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise InteractionError("the body is not a form (expected payload=<json>)") from None
    values = fields.get("payload")
    if not values:
        raise InteractionError("the form has no payload field")
    try:
        payload = parse_json(values[-1])
    except JSONBodyError as exc:
        raise InteractionError(f"payload is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InteractionError("payload is not a JSON object")
    return payload


def parse_interaction(body: bytes) -> SlackAction | None:
    """The review click in a ``block_actions`` request, or None for a link button (nothing to decide).

    Raises :class:`InteractionError` naming the problem for anything else.
    """
    payload = _payload(body)
    kind = payload.get("type")
    if kind != INTERACTION_TYPE:
        raise InteractionError(f"interaction type {kind!r} is not supported (only {INTERACTION_TYPE})")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise InteractionError("payload.actions is empty")
    action = actions[0]
    action_id = str(action.get("action_id") or "")
    if action_id.startswith(LINK_ACTION_PREFIX):
        return None
    if action_id not in DECISIONS:
        known = ", ".join(DECISIONS)
        raise UnknownAction(f"action_id {action_id!r} is not a Handoff review button ({known})")
    call_id = action.get("value")
    if not isinstance(call_id, str) or not call_id.strip():
        raise InteractionError("payload.actions[0].value (the call id) is missing")
    user = payload.get("user")
    if not isinstance(user, dict) or not str(user.get("id") or "").strip():
        raise InteractionError("payload.user.id is missing")
    name = next((str(user[k]).strip() for k in ("username", "name") if str(user.get(k) or "").strip()), "")
    response_url = payload.get("response_url")
    return SlackAction(
        action_id=action_id,
        call_id=call_id.strip(),
        user_id=str(user["id"]).strip(),
        user_name=name,
        response_url=response_url if isinstance(response_url, str) else "",
    )
