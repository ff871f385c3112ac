"""The review and dead-letter contracts: messages in, decisions out, history read, redrives planned. No AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from handoff.models import ReviewOutcome
from handoff.review import (
    REJECTED_ERROR,
    Rejection,
    ReviewAlreadyDecided,
    ReviewDecision,
    ReviewExpired,
    ReviewRequest,
    decide,
    edit_problems,
    redrive_execution_name,
    status_from_history,
)
from handoff_dev.cli_ops import OpsFailure, pick_one
from handoff_dev.ops_dlq import DeadLetter, ExecutionFact, plan_redrive, redrive_input
from handoff_dev.ops_replay import parse_window
from handoff_dev.ops_review import human_age, review_row

NOW = datetime(2025, 6, 12, 10, 0, tzinfo=UTC)
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:handoff"
EXEC = "arn:aws:states:us-east-1:123456789012:execution:handoff:call_1"

STATE: dict[str, Any] = {
    "call": {"call_id": "call_1", "event": "call.ended"},
    "settings": {"review_timeout_seconds": 60},
    "match": {
        "status": "weak",
        "confidence": 0.7,
        "candidates": [
            {"tool": "planyo", "kind": "reservation", "record_id": "48213", "confidence": 0.7},
            {"tool": "planyo", "kind": "reservation", "record_id": "48190", "confidence": 0.6},
        ],
        "notes": ["two reservations close together"],
    },
    "decision": {
        "mode": "review",
        "actions": [{"tool": "planyo", "operation": "modify_reservation", "target": "48213"}],
        "owner": {"team": "Bookings"},
        "urgency": "high",
        "reasons": ["low confidence"],
        "handoff": {"title": "Move Elena's delivery"},
    },
}


def _message(body: dict[str, Any] | str, message_id: str = "m-1") -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {"MessageId": message_id, "ReceiptHandle": "rh-1", "Body": text}


def _request(state: dict[str, Any] | None = None) -> ReviewRequest:
    body = {"task_token": "tok", "execution_arn": EXEC, "requested_at": "2025-06-12T09:00:00Z", "state": state or STATE}
    return ReviewRequest.from_message(_message(body))


# --------------------------------------------------------------------------- the review message
def test_a_review_message_from_the_state_machine_gives_call_reasons_owner_urgency_and_candidates() -> None:
    request = _request()
    assert (request.call_id, request.owner, request.urgency) == ("call_1", "Bookings", "high")
    assert request.reasons == ["low confidence", "two reservations close together"]
    assert [c.record_id for c in request.candidates] == ["48213", "48190"]
    assert request.receipt_handle == "rh-1"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not json", "not JSON"),
        ({"execution_arn": EXEC, "requested_at": "2025-06-12T09:00:00Z", "state": STATE}, "task_token"),
        ({"task_token": "t", "execution_arn": EXEC, "requested_at": "2025-06-12T09:00:00Z", "state": {}}, "call"),
    ],
)
def test_an_unreadable_review_message_is_refused_naming_the_problem(body: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ReviewRequest.from_message(_message(body))


def test_review_rows_carry_a_readable_age() -> None:
    row = review_row(_request(), NOW)
    assert (row["age"], row["age_seconds"]) == ("1h 0m", 3600)


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (125, "2m"), (7260, "2h 1m"), (90000, "1d 1h")])
def test_human_age(seconds: int, text: str) -> None:
    from datetime import timedelta

    assert human_age(timedelta(seconds=seconds)) == text


# --------------------------------------------------------------------------- the decision
def test_an_approval_becomes_the_review_outcome_the_state_machine_expects() -> None:
    decision = ReviewDecision(decision="approve", reviewer="ana", note="ok", record_id="48190")
    outcome = decision.outcome(_request(), NOW)
    assert isinstance(outcome, ReviewOutcome)
    assert ReviewOutcome.model_validate_json(outcome.model_dump_json()) == outcome
    assert (outcome.reviewer, outcome.record_id, outcome.decided_at) == ("ana", "48190", NOW)


def test_a_rejection_carries_reviewer_and_reason_in_its_cause() -> None:
    outcome = ReviewDecision(decision="reject", reviewer="bo", reason="prank").outcome(_request(), NOW)
    assert isinstance(outcome, Rejection)
    assert json.loads(outcome.cause()) | {"decided_at": None} == {
        "reviewer": "bo",
        "reason": "prank",
        "decided_at": None,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"decision": "reject"}, "reason"),
        ({"decision": "reject", "reason": "x", "record_id": "1"}, "record_id"),
        ({"decision": "approve", "colour": "red"}, "colour"),
        ({"decision": "approve", "note": "x" * 2001}, "note"),
    ],
)
def test_a_bad_decision_is_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ReviewDecision.model_validate(body)


@pytest.mark.parametrize(
    ("record_id", "drop", "problem"),
    [
        ("48190", ["planyo:modify_reservation:48213"], None),
        (None, ["planyo.modify_reservation"], None),
        ("99999", [], "record_id: 99999 is not one of the candidates"),
        (None, ["billit:create_customer:-"], "drop_actions: billit:create_customer:- not among"),
    ],
)
def test_edits_must_fit_the_review(record_id: str | None, drop: list[str], problem: str | None) -> None:
    problems = edit_problems(_request(), record_id, drop)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(problem)


def test_any_record_may_be_named_when_match_found_no_candidates() -> None:
    state = {**STATE, "match": {"status": "none"}}
    assert edit_problems(_request(state), "found-it-myself", []) == []


# --------------------------------------------------------------------------- where a review stands
def _entered(name: str) -> dict[str, Any]:
    return {"type": "TaskStateEntered", "timestamp": NOW, "stateEnteredEventDetails": {"name": name}}


def _exited(name: str) -> dict[str, Any]:
    return {"type": "TaskStateExited", "timestamp": NOW, "stateExitedEventDetails": {"name": name}}


SUCCEEDED = {"type": "TaskSucceeded", "timestamp": NOW, "taskSucceededEventDetails": {"output": '{"reviewer": "ana"}'}}
REJECTED = {
    "type": "TaskFailed",
    "timestamp": NOW,
    "taskFailedEventDetails": {"error": REJECTED_ERROR, "cause": '{"reviewer": "bo", "reason": "prank"}'},
}
TIMED_OUT = {"type": "TaskTimedOut", "timestamp": NOW, "taskTimedOutEventDetails": {"error": "States.Timeout"}}


@pytest.mark.parametrize(
    ("events", "kind", "who"),
    [
        ([_entered("Match"), _exited("Match")], "none", ""),
        ([_entered("RequestReview")], "pending", ""),
        ([_entered("RequestReview"), SUCCEEDED], "approved", "ana"),
        ([_entered("RequestReview"), SUCCEEDED, _exited("RequestReview"), _entered("Act")], "approved", "ana"),
        ([_entered("RequestReview"), REJECTED, _exited("RequestReview")], "rejected", "bo"),
        ([_entered("RequestReview"), TIMED_OUT], "expired", ""),
        ([_entered("RequestReview"), TIMED_OUT, _exited("RequestReview"), _entered("RequestReview")], "pending", ""),
    ],
)
def test_the_history_says_whether_a_review_still_waits_and_how_it_ended(
    events: list[dict[str, Any]], kind: str, who: str
) -> None:
    status = status_from_history(EXEC, events)
    assert (status.kind, status.reviewer) == (kind, who)


class FakeSfn:
    """Step Functions as far as decide() uses it."""

    def __init__(self, history: list[dict[str, Any]], error: str | None = None) -> None:
        self.history = history
        self.error = error
        self.sent: list[str] = []

    def get_execution_history(self, **_: Any) -> dict[str, Any]:
        return {"events": self.history}

    def _send(self, kind: str) -> None:
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "closed"}}, kind)
        self.sent.append(kind)

    def send_task_success(self, **_: Any) -> None:
        self._send("success")

    def send_task_failure(self, **_: Any) -> None:
        self._send("failure")


def test_deciding_an_already_approved_review_sends_nothing_and_names_who_decided() -> None:
    sfn = FakeSfn([_entered("RequestReview"), SUCCEEDED])
    with pytest.raises(ReviewAlreadyDecided, match="already approved by ana"):
        decide(sfn, "tok", Rejection(reviewer="bo", reason="x", decided_at=NOW), execution_arn=EXEC)
    assert sfn.sent == []


def test_deciding_after_the_timeout_says_it_expired_and_how_to_ask_again() -> None:
    sfn = FakeSfn([_entered("RequestReview"), TIMED_OUT])
    with pytest.raises(ReviewExpired, match="dlq redrive"):
        decide(sfn, "tok", ReviewOutcome(reviewer="ana"), execution_arn=EXEC)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("TaskTimedOut", ReviewExpired),
        ("InvalidToken", ReviewAlreadyDecided),
        ("TaskDoesNotExist", ReviewAlreadyDecided),
    ],
)
def test_a_closed_token_reported_by_step_functions_becomes_a_clear_error(code: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decide(FakeSfn([], error=code), "tok", ReviewOutcome(reviewer="ana"))


# --------------------------------------------------------------------------- dead letters and redrive
DEAD = DeadLetter.model_validate(
    {
        "call_id": "call_1",
        "execution_arn": EXEC,
        "failed_state": "Act",
        "error": {"Error": "ActionsFailed", "Cause": '{"errorMessage": "planyo: invalid hash key"}'},
        "failed_at": "2025-06-12T09:00:00Z",
        "state": {**STATE, "error": {"Error": "ActionsFailed"}, "failed_state": "Act", "resume_at": "Match"},
    }
)


def test_a_redrive_resumes_at_the_failed_state_with_the_state_it_failed_with() -> None:
    document = redrive_input(DEAD)
    assert document["resume_at"] == "Act"
    assert "error" not in document and "failed_state" not in document
    assert document["decision"] == STATE["decision"]


def test_a_dead_letter_shows_the_lambda_error_message_as_its_cause() -> None:
    assert DEAD.cause == "planyo: invalid hash key"


@pytest.mark.parametrize(
    ("executions", "how", "name"),
    [
        ([ExecutionFact(EXEC, "FAILED", error="Handoff.CallFailed")], "fresh", "call_1-redrive-1"),
        (
            [ExecutionFact(EXEC, "FAILED"), ExecutionFact(f"{EXEC}-redrive-1", "FAILED")],
            "fresh",
            "call_1-redrive-2",
        ),
        ([ExecutionFact(EXEC, "FAILED"), ExecutionFact(f"{EXEC}-redrive-1", "RUNNING")], "refuse", "call_1-redrive-1"),
        ([ExecutionFact(EXEC, "FAILED", "REDRIVABLE", "States.TaskFailed")], "native", "call_1"),
        ([ExecutionFact(EXEC, "FAILED", "REDRIVABLE", "Handoff.CallFailed")], "fresh", "call_1-redrive-1"),
    ],
)
def test_plan_redrive(executions: list[ExecutionFact], how: str, name: str) -> None:
    plan = plan_redrive(DEAD, MACHINE, executions)
    assert (plan.how, plan.execution_arn.rsplit(":", 1)[-1]) == (how, name)


def test_redrive_names_fit_the_80_characters_step_functions_allows() -> None:
    name = redrive_execution_name("c" * 80, 12)
    assert len(name) == 80 and name.endswith("-redrive-12")


# --------------------------------------------------------------------------- discovery and replay windows
def test_pick_one_finds_the_dead_letter_queue_and_not_the_event_delivery_one() -> None:
    urls = ["q/handoff-ReviewQueue-1", "q/handoff-DeadLetterQueue-2", "q/handoff-EventDeliveryDeadLetterQueue-3"]
    assert pick_one("queue", urls, "DeadLetterQueue", ("EventDelivery",)) == "q/handoff-DeadLetterQueue-2"


@pytest.mark.parametrize(("names", "hint"), [([], "--endpoint-url"), (["a-ReviewQueue", "b-ReviewQueue"], "--stack")])
def test_pick_one_says_what_to_do_when_none_or_several_match(names: list[str], hint: str) -> None:
    with pytest.raises(OpsFailure) as caught:
        pick_one("review queue", names, "ReviewQueue")
    assert hint in caught.value.hint


def test_a_replay_window_reads_iso_times_as_utc_when_no_offset_is_given() -> None:
    begin, finish = parse_window("2025-06-12T09:00:00", "2025-06-12T12:00:00+02:00")
    assert begin == datetime(2025, 6, 12, 9, 0, tzinfo=UTC)
    assert (finish - begin).total_seconds() == 3600


@pytest.mark.parametrize(
    ("start", "end"), [("yesterday", "2025-06-12T10:00:00Z"), ("2025-06-12T10:00Z", "2025-06-12T09:00Z")]
)
def test_a_bad_replay_window_is_refused(start: str, end: str) -> None:
    with pytest.raises(ValueError):
        parse_window(start, end)
