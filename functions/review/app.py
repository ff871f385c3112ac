"""review: the IAM-authorised decision route, so a team can wire its own approval surface.

``POST /reviews/{call_id}/decision`` with ``{"decision": "approve"|"reject",
"reviewer", "note", "reason", "record_id", "drop_actions"}``. Thin glue: parse
and validate the body, then ``handoff.review.decide_call`` finds the waiting
review on the queue and resumes or ends the execution exactly once.

Answers: 200 with the outcome; 400 naming the field on a bad body; 404 when no
review waits for the call; 409 when it was already decided or timed out.

``POST /slack/interactions`` is Slack's Interactivity Request URL: the Approve /
Reject buttons of a review message. Slack's request signature is the auth
(``handoff.slack_interactions``; the signing secret is ``signing_secret`` in the
partner secret's ``slack`` block). 401 on a bad signature (nothing decided),
400 on a payload that is not a review click, else 200 with ``{"text": …}`` saying
what happened, refusals included (Slack shows text, not statuses).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from handoff.config import settings
from handoff.connectors.credentials import load_partner_config
from handoff.connectors.errors import AuthError
from handoff.connectors.slack import Settings as SlackSettings
from handoff.redact import install_log_redaction
from handoff.review import ReviewDecision, ReviewError, ReviewQueue, decide_call
from handoff.slack_interactions import InteractionError, SignatureError, parse_interaction, verify_signature

logger = Logger()
install_log_redaction(logger)
tracer = Tracer()
app = APIGatewayHttpResolver()

_clients: dict[str, Any] = {}


def _client(service: str) -> Any:
    if service not in _clients:
        _clients[service] = boto3.client(service)  # type: ignore[call-overload]
    return _clients[service]


def _answer(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body, default=str))


def _problem(status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None) -> Response[str]:
    body: dict[str, Any] = {"title": title, "detail": detail}
    if errors:
        body["errors"] = errors
    return _answer(status, body)


def _field_errors(exc: ValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        location = ".".join(str(part) for part in error["loc"])
        if not location and ":" in message:
            location, _, message = message.partition(":")
        errors.append({"field": location or "body", "message": message.strip()})
    return errors


def _caller_arn() -> str:
    """The IAM principal that signed the request (the route is AWS_IAM-authorised)."""
    context = app.current_event.raw_event.get("requestContext") or {}
    iam = (context.get("authorizer") or {}).get("iam") or {}
    return str(iam.get("userArn") or "")


def _queue() -> ReviewQueue:
    return ReviewQueue(
        _client("sqs"),
        os.environ["HANDOFF_REVIEW_QUEUE_URL"],
        wait_seconds=int(os.environ.get("HANDOFF_REVIEW_POLL_WAIT_SECONDS", "1")),
    )


@app.post("/reviews/<call_id>/decision")
def decision(call_id: str) -> Response[str]:
    try:
        body = json.loads(app.current_event.decoded_body or "")
    except json.JSONDecodeError as exc:
        return _problem(400, "invalid decision", f"the body is not JSON: {exc.msg}")
    if not isinstance(body, dict):
        return _problem(400, "invalid decision", "the body must be a JSON object")
    try:
        choice = ReviewDecision.model_validate(body)
    except ValidationError as exc:
        errors = _field_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return _problem(400, "invalid decision", detail, errors)
    caller = _caller_arn()
    if not choice.reviewer:
        if not caller:
            return _problem(400, "invalid decision", "reviewer: name the person deciding", [{"field": "reviewer"}])
        choice = choice.model_copy(update={"reviewer": caller})
    logger.append_keys(call_id=call_id)
    try:
        result = decide_call(
            _client("stepfunctions"), _queue(), call_id, choice, machine_arn=settings().state_machine_arn
        )
    except ReviewError as exc:
        logger.info("decision refused", extra={"status": exc.status, "reason": type(exc).__name__})
        return _problem(exc.status, type(exc).__name__, str(exc))
    logger.info("review decided", extra={"decision": result.decision, "reviewer": choice.reviewer, "caller": caller})
    return _answer(
        200,
        {
            "call_id": result.call_id,
            "decision": result.decision,
            "execution_arn": result.execution_arn,
            "outcome": result.outcome,
        },
    )


# --------------------------------------------------------------------------- Slack buttons
def _raw_body() -> bytes:
    """The body exactly as Slack sent it: the signature covers these bytes."""
    event = app.current_event.raw_event
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error:
            return b""
    return str(body).encode("utf-8")


def _signing_secret() -> str:
    """The ``signing_secret`` of the partner secret's ``slack`` block, or "" when not configured."""
    try:
        block = load_partner_config("slack")
    except AuthError as exc:
        logger.warning("partner secret unreadable", extra={"reason": str(exc)})
        return ""
    if not block or not block.get("signing_secret"):
        return ""
    try:
        secret = SlackSettings.model_validate(block).signing_secret
    except ValidationError:
        logger.warning("the partner secret's slack block is invalid")
        return ""
    return secret.get_secret_value() if secret else ""


@app.post("/slack/interactions")
def slack_interaction() -> Response[str]:
    body = _raw_body()
    secret = _signing_secret()
    if not secret:
        return _problem(401, "not configured", "no signing_secret in the partner secret's slack block")
    try:
        verify_signature(app.current_event.headers or {}, body, secret)
    except SignatureError as exc:
        logger.warning("slack signature refused", extra={"reason": str(exc)})
        return _problem(401, "invalid signature", str(exc))
    try:
        action = parse_interaction(body)
    except InteractionError as exc:
        return _problem(400, "invalid interaction", str(exc))
    if action is None:  # a link button: Slack only needs the acknowledgement
        return _answer(200, {})
    logger.append_keys(call_id=action.call_id)
    try:
        result = decide_call(
            _client("stepfunctions"),
            _queue(),
            action.call_id,
            action.review_decision(),
            machine_arn=settings().state_machine_arn,
        )
    except ReviewError as exc:
        logger.info("slack decision refused", extra={"status": exc.status, "reason": type(exc).__name__})
        return _answer(200, {"text": f"Not applied: {exc}", "call_id": action.call_id, "refused": type(exc).__name__})
    verb = "Approved" if result.decision == "approve" else "Rejected"
    logger.info("review decided in slack", extra={"decision": result.decision, "reviewer": action.reviewer})
    return _answer(
        200,
        {
            "text": f"{verb} by {action.who} (call {result.call_id})",
            "call_id": result.call_id,
            "decision": result.decision,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
