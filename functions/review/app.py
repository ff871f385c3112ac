"""review: the IAM-authorised decision route, so a team can wire its own approval surface.

``POST /reviews/{call_id}/decision`` with ``{"decision": "approve"|"reject",
"reviewer", "note", "reason", "record_id", "drop_actions"}``. Thin glue: parse
and validate the body, then ``handoff.review.decide_call`` finds the waiting
review on the queue and resumes or ends the execution exactly once.

Answers: 200 with the outcome; 400 naming the field on a bad body; 404 when no
review waits for the call; 409 when it was already decided or timed out.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from handoff.config import settings
from handoff.redact import install_log_redaction
from handoff.review import ReviewDecision, ReviewError, ReviewQueue, decide_call

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
    queue = ReviewQueue(
        _client("sqs"),
        os.environ["HANDOFF_REVIEW_QUEUE_URL"],
        wait_seconds=int(os.environ.get("HANDOFF_REVIEW_POLL_WAIT_SECONDS", "1")),
    )
    logger.append_keys(call_id=call_id)
    try:
        result = decide_call(_client("stepfunctions"), queue, call_id, choice, machine_arn=settings().state_machine_arn)
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


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
