"""The review routes before any AWS call: bodies refused with a problem naming why, callers without identity refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import ValidationError

from handoff.review.api import MAX_DECISION_BYTES, handle, parse_decision


def _event(
    route: str, body: bytes, authorizer: dict[str, Any] | None = None, call_id: str = "call_1"
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": "/",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST"}, "authorizer": authorizer or {}},
        "pathParameters": {"call_id": call_id},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    return event


def _answer(event: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    answer = handle(event, None)
    return int(answer["statusCode"]), json.loads(answer["body"]), str(answer["headers"]["Content-Type"])


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "must be a JSON object"),
        (b"{decision: approve}", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"[" * 1500 + b"]" * 1500, "nested too deeply"),
        (b" " * (MAX_DECISION_BYTES + 1), "larger than"),
    ],
    ids=["empty", "not-json", "array", "nested", "huge"],
)
def test_a_body_that_is_not_a_decision_object_is_refused_naming_why(body: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_decision(body)


def test_a_decision_object_with_a_bad_field_names_the_field() -> None:
    with pytest.raises(ValidationError, match="decision"):
        parse_decision(b'{"decision": "perhaps"}')


def test_the_decision_route_answers_a_bad_body_with_a_problem_document() -> None:
    status, body, content_type = _answer(_event("POST /reviews/{call_id}/decision", b'{"decision": "perhaps"}'))
    assert (status, body["title"], body["errors"][0]["field"]) == (400, "invalid decision", "decision")
    assert content_type == "application/problem+json"


def test_a_decision_without_an_iam_identity_is_refused_before_anything_is_read() -> None:
    status, body, _ = _answer(_event("POST /reviews/{call_id}/decision", b'{"decision": "approve"}'))
    assert (status, body["title"]) == (403, "not authenticated")


def test_a_route_the_function_does_not_serve_is_a_404_problem() -> None:
    status, body, _ = _answer(_event("GET /reviews", b""))
    assert (status, body["title"]) == (404, "not found")
