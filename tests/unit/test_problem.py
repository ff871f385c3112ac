"""Every HTTP route refuses with one RFC 9457 problem shape (handoff.problem)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from handoff.problem import FieldError, field_errors, http_answer, problem, respond, validation_problem


class Decision(BaseModel):
    decision: str
    reviewer: str

    @model_validator(mode="after")
    def _known(self) -> Decision:
        if self.decision not in {"approve", "reject"}:
            raise ValueError("decision: must be approve or reject")
        return self


def _error(body: dict[str, object]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Decision.model_validate(body)
    return caught.value


def test_a_problem_body_has_the_rfc_9457_members_and_a_stable_type() -> None:
    body = problem(401, "unauthorized", "signature mismatch").body()
    assert body == {
        "type": "urn:handoff:problem:unauthorized",
        "title": "unauthorized",
        "status": 401,
        "detail": "signature mismatch",
    }


def test_extension_members_travel_beside_the_standard_ones() -> None:
    body = problem(409, "already decided", "approved by ana", call_id="c1").body()
    assert (body["call_id"], body["type"]) == ("c1", "urn:handoff:problem:already-decided")


def test_a_missing_field_becomes_one_field_error_naming_it() -> None:
    assert field_errors(_error({"decision": "approve"})) == [FieldError(field="reviewer", message="Field required")]


def test_a_model_validator_message_is_attributed_to_the_field_it_names() -> None:
    [error] = field_errors(_error({"decision": "maybe", "reviewer": "ana"}))
    assert error == FieldError(field="decision", message="must be approve or reject")


def test_a_validation_problem_lists_the_fields_and_summarises_them() -> None:
    body = validation_problem(_error({}), title="invalid decision").body()
    assert body["status"] == 400 and body["title"] == "invalid decision"
    assert [e["field"] for e in body["errors"]] == ["decision", "reviewer"]
    assert body["detail"] == "decision: Field required; reviewer: Field required"


def test_errors_answer_as_problem_json_and_successes_as_plain_json() -> None:
    refused = respond(400, problem(400, "malformed webhook", "no call id"))
    accepted = respond(202, {"status": "started"})
    assert (refused.status_code, refused.content_type) == (400, "application/problem+json")
    assert json.loads(str(refused.body))["detail"] == "no call id"
    assert (accepted.status_code, accepted.content_type) == (202, "application/json")


def test_single_route_functions_answer_the_same_document_as_an_http_api_result() -> None:
    refused = http_answer(400, problem(400, "malformed webhook", "no call id"))
    accepted = http_answer(202, {"status": "started"})
    assert refused["statusCode"] == 400 and refused["headers"] == {"Content-Type": "application/problem+json"}
    assert json.loads(refused["body"])["detail"] == "no call id"
    assert accepted == {
        "statusCode": 202,
        "headers": {"Content-Type": "application/json"},
        "body": '{"status": "started"}',
    }


def test_a_problem_status_must_be_an_error_status() -> None:
    with pytest.raises(ValidationError):
        problem(200, "fine")
