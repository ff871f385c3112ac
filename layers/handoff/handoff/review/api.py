"""The review function's HTTP routes and its sweep: authenticate, parse, call the service, answer.

``POST /reviews/{call_id}/decision`` (AWS_IAM-authorised) with
``{"decision": "approve"|"reject", "reviewer_name", "note", "reason",
"record_id", "drop_actions"}``. The reviewer is the caller's IAM identity
(``requestContext.authorizer.iam.userArn``); ``reviewer_name`` only adds a
name to show. Answers: 200 with the outcome (202 when it is recorded and
Step Functions will be told by a retry); 400 naming the field; 404 when no
review waits; 409 when it was already decided (by whom, when) or closed.

``POST /slack/interactions`` is Slack's Interactivity Request URL. Slack's
signature is the authentication and the signed user id is who clicked; only
the approvers the routing policy names for the owning team may decide, anyone
else gets an ephemeral "you are not an approver for billing" and nothing
changes. Slack needs an answer within 3 s: the click is answered as soon as
the decision is recorded and sent (a few DynamoDB and Step Functions calls,
each bounded by short client timeouts), and the review message itself is
updated in place by notify on the outcome event.

Every refusal is an RFC 9457 problem (``handoff.problem``); bodies too large
or nested too deep are 400, never 500. Routing is a dictionary lookup on the
event's ``routeKey`` with the request passed to each route, not a shared
resolver holding the "current event": nothing is shared between invocations
that run side by side in one process (the embedded stack).
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from botocore.config import Config
from pydantic import ValidationError

from handoff.config import settings
from handoff.connectors.credentials import load_partner_config
from handoff.connectors.errors import AuthError
from handoff.jsonbody import JSONBodyError, parse_json
from handoff.problem import problem, respond, validation_problem
from handoff.review.model import ReviewDecision, Reviewer, ReviewError
from handoff.review.service import complete_decided, decide
from handoff.review.store import ReviewStore
from handoff.slack_interactions import (
    InteractionError,
    SignatureError,
    SlackAction,
    approver_check,
    ephemeral,
    parse_interaction,
    reply_url,
    verify_signature,
)

MAX_DECISION_BYTES = 16 * 1024
"""A decision is a few short fields; a bigger body is refused before it is parsed."""
FAST = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
"""Short timeouts keep a Slack click inside its 3 s; a send cut short leaves the review ``decided`` for the sweep."""

logger = Logger(child=True)
_clients: dict[tuple[str, str], Any] = {}


def _client(service: str) -> Any:
    """One client per process and endpoint (the embedded stack changes endpoints between test modules)."""
    key = (service, os.environ.get("AWS_ENDPOINT_URL", ""))
    if key not in _clients:
        _clients[key] = boto3.client(service, config=FAST)  # type: ignore[call-overload]
    return _clients[key]


def _sfn() -> Any:
    return _client("stepfunctions")


def _store() -> ReviewStore:
    return ReviewStore(settings().table_name, _client("dynamodb"))


def _raw_body(request: APIGatewayProxyEventV2) -> bytes:
    """The body exactly as sent (Slack signs these bytes)."""
    body = request.get("body") or ""
    if request.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error:
            return b""
    return str(body).encode("utf-8")


def parse_decision(body: bytes) -> ReviewDecision:
    """The decision body, or ValueError / ValidationError naming what is wrong (never a RecursionError)."""
    if len(body) > MAX_DECISION_BYTES:
        raise ValueError(f"the body is larger than {MAX_DECISION_BYTES} bytes")
    try:
        data = parse_json(body)
    except JSONBodyError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return ReviewDecision.model_validate(data)


def decision(request: APIGatewayProxyEventV2) -> Response[str]:
    call_id = str((request.path_parameters or {}).get("call_id") or "")
    try:
        choice = parse_decision(_raw_body(request))
    except ValidationError as exc:
        return respond(400, validation_problem(exc, "invalid decision"))
    except ValueError as exc:
        return respond(400, problem(400, "invalid decision", str(exc)))
    iam = ((request.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    if not iam.get("userArn"):
        return respond(403, problem(403, "not authenticated", "the route needs an IAM-signed request"))
    reviewer = Reviewer(str(iam["userArn"]), choice.reviewer_name)
    try:
        result = decide(_store(), _sfn(), call_id, choice, reviewer)
    except ReviewError as exc:
        logger.info("decision refused", extra={"call_id": call_id, "status": exc.status, "reason": exc.title})
        return respond(exc.status, problem(exc.status, exc.title, str(exc), call_id=call_id))
    logger.info("review decided", extra={"call_id": call_id, "decision": result.decision, "reviewer": reviewer.id})
    return respond(200 if result.applied else 202, result.as_dict())


# --------------------------------------------------------------------------- Slack buttons
def _signing_secret() -> str:
    """The ``signing_secret`` of the partner secret's ``slack`` block, or "" when not configured."""
    try:
        block = load_partner_config("slack")
    except AuthError as exc:
        logger.warning("partner secret unreadable", extra={"reason": str(exc)})
        return ""
    if not block or not block.get("signing_secret"):
        return ""
    # Imported here: the decision route never needs Slack's client or requests (cold start).
    from handoff.connectors.slack import Settings as SlackSettings

    try:
        secret = SlackSettings.model_validate(block).signing_secret
    except ValidationError:
        logger.warning("the partner secret's slack block is invalid")
        return ""
    return secret.get_secret_value() if secret else ""


GROUP_CACHE_SECONDS = 60.0
"""usergroups.users.list is Tier 2 (about 20 a minute): a group's members are reused for a minute."""
_groups: dict[str, tuple[float, frozenset[str]]] = {}


def group_members(usergroup: str) -> frozenset[str]:
    """The members of a Slack user group through the Slack app; LookupError when Slack cannot say."""
    cached = _groups.get(usergroup)
    if cached and time.monotonic() - cached[0] < GROUP_CACHE_SECONDS:
        return cached[1]
    from handoff.connectors.errors import ConnectorError
    from handoff.connectors.http import RetryPolicy
    from handoff.connectors.slack import SlackConnector

    try:
        block = load_partner_config("slack")
        if not block:
            raise LookupError("no slack block in the partner secret")
        # One attempt, 1 s: a click has 3 s in all, and a refusal is the safe answer when Slack is slow.
        connector = SlackConnector.from_config(block, read_timeout=1.0, retry=RetryPolicy(attempts=1))
        members = connector.usergroup_members(usergroup)
    except (ConnectorError, ValidationError) as exc:
        logger.warning("user group not readable", extra={"usergroup": usergroup, "reason": type(exc).__name__})
        raise LookupError(usergroup) from None
    _groups[usergroup] = (time.monotonic(), members)
    return members


def approvers_by_team() -> dict[str, tuple[str, list[str]]]:
    """Owner team name -> (policy key, approvers), from the live routing policy.

    Without a readable policy nobody is an approver from Slack (the CLI and the IAM
    route still decide): the safe answer when we cannot say who may approve.
    """
    from handoff.policy_source import PolicyUnavailable, record_unavailable, routing_policy

    try:
        policy = routing_policy()
    except PolicyUnavailable as exc:
        record_unavailable(exc)
        return {}
    return {spec.team: (key, list(spec.approvers)) for key, spec in policy.owners.items()}


REPLY_TIMEOUT = (0.5, 1.0)
"""Connect and read seconds for the ephemeral reply: it must fit in the click's 3 s with the decision."""


def _tell_clicker(action: SlackAction, text: str, **extra: Any) -> Response[str]:
    """An ephemeral message to the clicker alone, through the click's ``response_url`` and in the answer.

    Slack does not show a block_actions answer body as a message, so the
    ``response_url`` post is what the person sees; it is best effort (the
    decision already happened or was refused) and never waits past 1.5 s.
    """
    import requests

    message = ephemeral(text)
    url = reply_url(action)
    if url:
        try:
            requests.post(url, json=message, timeout=REPLY_TIMEOUT)
        except requests.RequestException as exc:
            logger.warning("slack reply not delivered", extra={"call_id": action.call_id, "reason": type(exc).__name__})
    return respond(200, {**message, **extra})


def slack_interaction(request: APIGatewayProxyEventV2) -> Response[str]:
    body = _raw_body(request)
    secret = _signing_secret()
    if not secret:
        return respond(401, problem(401, "not configured", "no signing_secret in the partner secret's slack block"))
    try:
        verify_signature(request.headers or {}, body, secret)
    except SignatureError as exc:
        logger.warning("slack signature refused", extra={"reason": str(exc)})
        return respond(401, problem(401, "invalid signature", str(exc)))
    try:
        action = parse_interaction(body)
    except InteractionError as exc:
        return respond(400, problem(400, "invalid interaction", str(exc)))
    if action is None:  # a link button: Slack only needs the acknowledgement
        return respond(200, {})
    check = approver_check(action, approvers_by_team(), group_members)
    try:
        result = decide(_store(), _sfn(), action.call_id, action.review_decision(), action.reviewer, authorize=check)
    except ReviewError as exc:
        logger.info("slack decision refused", extra={"call_id": action.call_id, "reason": exc.title})
        return _tell_clicker(action, f"Not applied: {exc}", call_id=action.call_id, refused=exc.title)
    verb = "Approved" if result.decision == "approve" else "Rejected"
    logger.info(
        "review decided in slack",
        extra={"call_id": action.call_id, "decision": result.decision, "reviewer": action.reviewer.id},
    )
    # The review message itself is updated in place by notify on the outcome event; the answer only acknowledges.
    text = f"{verb} by {action.who} (call {result.call_id})"
    return respond(200, {**ephemeral(text), "call_id": result.call_id, "decision": result.decision})


ROUTES = {"POST /reviews/{call_id}/decision": decision, "POST /slack/interactions": slack_interaction}


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """HTTP requests go to their route; the scheduled event finishes decisions a crash left unsent."""
    if event.get("source") == "aws.events":
        finished = complete_decided(_store(), _sfn(), datetime.now(UTC))
        logger.info("unsent decisions finished", extra={"count": len(finished), "call_ids": finished})
        return {"finished": finished}
    request = APIGatewayProxyEventV2(event)
    route = ROUTES.get(str(event.get("routeKey") or ""))
    answer = route(request) if route else respond(404, problem(404, "not found", "no such route"))
    return {"statusCode": answer.status_code, "headers": answer.headers, "body": answer.body, "isBase64Encoded": False}
