"""The review and dead-letter contracts: reviews recorded, decisions out, history read, redrives planned. No AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from handoff.executions import redrive_execution_name
from handoff.models import ReviewOutcome
from handoff.review.history import status_from_history
from handoff.review.model import (
    REJECTED_ERROR,
    Rejection,
    ReviewAlreadyDecided,
    ReviewDecision,
    Reviewer,
    ReviewExpired,
    ReviewNotFound,
    ReviewRecord,
    edit_problems,
)
from handoff_dev.cli_ops import OpsFailure, pick_one
from handoff_dev.ops_dlq import DeadLetter, ExecutionFact, plan_redrive, redrive_input
from handoff_dev.ops_replay import parse_window
from handoff_dev.ops_review import human_age

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


REQUESTED = datetime(2025, 6, 12, 9, 0, tzinfo=UTC)
ANA = Reviewer("arn:aws:iam::123456789012:user/ana", "Ana")


def _review(state: dict[str, Any] | None = None) -> ReviewRecord:
    return ReviewRecord.from_state(EXEC, "tok", REQUESTED, state or STATE, default_timeout_seconds=86400)


# --------------------------------------------------------------------------- the review the state machine asks for
def test_a_review_from_the_state_document_keeps_reasons_owner_urgency_candidates_and_actions() -> None:
    review = _review()
    assert (review.call_id, review.owner, review.urgency, review.status) == ("call_1", "Bookings", "high", "waiting")
    assert review.reasons == ["low confidence", "two reservations close together"]
    assert [c.record_id for c in review.candidates] == ["48213", "48190"]
    assert [a.key for a in review.actions] == ["planyo:modify_reservation:48213"]


def test_the_deadline_is_the_request_time_plus_the_review_timeout_the_execution_carries() -> None:
    assert (_review().deadline - REQUESTED).total_seconds() == 60
    no_settings = {k: v for k, v in STATE.items() if k != "settings"}
    assert (_review(no_settings).deadline - REQUESTED).total_seconds() == 86400


def test_a_state_document_without_a_call_is_refused() -> None:
    with pytest.raises(ValidationError, match="call"):
        ReviewRecord.from_state(EXEC, "tok", REQUESTED, {"decision": STATE["decision"]}, 60)


def test_the_task_token_never_shows_in_the_repr() -> None:
    assert "tok" not in repr(_review()).replace("task_token", "")


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (125, "2m"), (7260, "2h 1m"), (90000, "1d 1h")])
def test_human_age(seconds: int, text: str) -> None:
    from datetime import timedelta

    assert human_age(timedelta(seconds=seconds)) == text


# --------------------------------------------------------------------------- the decision
def test_an_approval_becomes_the_review_outcome_the_state_machine_expects() -> None:
    decision = ReviewDecision(decision="approve", note="ok", record_id="48190")
    outcome = decision.outcome(_review(), ANA, NOW)
    assert isinstance(outcome, ReviewOutcome)
    assert ReviewOutcome.model_validate_json(outcome.model_dump_json()) == outcome
    assert (outcome.reviewer, outcome.reviewer_name, outcome.record_id, outcome.decided_at) == (
        ANA.id,
        "Ana",
        "48190",
        NOW,
    )


def test_a_display_name_in_the_body_is_shown_but_the_reviewer_stays_the_authenticated_identity() -> None:
    outcome = ReviewDecision(decision="approve", reviewer_name="Ana P.").outcome(_review(), ANA, NOW)
    assert (outcome.reviewer, outcome.reviewer_name) == (ANA.id, "Ana P.")


def test_a_body_that_names_the_reviewer_is_refused_instead_of_impersonating() -> None:
    with pytest.raises(ValidationError, match="reviewer: who decides is the authenticated caller"):
        ReviewDecision.model_validate({"decision": "approve", "reviewer": "arn:aws:iam::1:user/boss"})


def test_a_rejection_carries_reviewer_and_reason_in_its_cause() -> None:
    outcome = ReviewDecision(decision="reject", reason="prank").outcome(_review(), ANA, NOW)
    assert isinstance(outcome, Rejection)
    assert json.loads(outcome.cause()) | {"decided_at": None} == {
        "reviewer": ANA.id,
        "reviewer_name": "Ana",
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
    problems = edit_problems(_review(), record_id, drop)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(problem)


def test_a_record_of_another_tool_is_refused_unless_the_actions_of_the_first_tool_are_dropped() -> None:
    """A reviewer's choice goes through the same rule as act.params.retarget: an operation acts in its own tool."""
    candidates = [
        *STATE["match"]["candidates"],
        {"tool": "bookingmood", "kind": "booking", "record_id": "BK-1", "confidence": 0.5},
    ]
    review = _review({**STATE, "match": {**STATE["match"], "candidates": candidates}})
    [problem] = edit_problems(review, "BK-1", [])
    assert problem == (
        "record_id: BK-1 is a bookingmood record; planyo.modify_reservation cannot act on it "
        "(drop the action or choose a record of its tool)"
    )
    assert edit_problems(review, "BK-1", ["planyo.modify_reservation"]) == []


def test_any_record_may_be_named_when_match_found_no_candidates() -> None:
    state = {**STATE, "match": {"status": "none"}}
    assert edit_problems(_review(state), "found-it-myself", []) == []


# --------------------------------------------------------------------------- why a review cannot be decided
@pytest.mark.parametrize(
    ("update", "error", "text"),
    [
        ({"status": "approved", "decision": "approve"}, ReviewAlreadyDecided, "already approved by Ana (arn:"),
        ({"status": "decided", "decision": "reject"}, ReviewAlreadyDecided, "already rejected by Ana (arn:"),
        ({"status": "expired"}, ReviewExpired, "dlq redrive call_1"),
        ({"status": "closed", "closed_reason": "execution aborted"}, ReviewAlreadyDecided, "execution aborted"),
        ({"status": "waiting"}, ReviewNotFound, "no review is waiting"),
    ],
)
def test_a_refusal_names_who_decided_and_when_or_why_it_closed(
    update: dict[str, Any], error: type[Exception], text: str
) -> None:
    review = _review().model_copy(
        update={"decided_by": ANA.id, "decided_by_name": ANA.name, "decided_at": NOW, **update}
    )
    refusal = review.refusal()
    assert isinstance(refusal, error) and text in str(refusal)
    if update["status"] in ("approved", "decided"):
        assert "at 2025-06-12T10:00:00+00:00" in str(refusal)


# --------------------------------------------------------------------------- how a review ended, from the history
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
def test_the_history_says_how_the_last_review_ended(events: list[dict[str, Any]], kind: str, who: str) -> None:
    status = status_from_history(events)
    assert (status.kind, status.reviewer) == (kind, who)


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
    assert len(name) <= 80 and name != redrive_execution_name("c" * 79, 12)


# --------------------------------------------------------------------------- discovery and replay windows
def test_pick_one_finds_the_dead_letter_queue_and_not_the_event_delivery_one() -> None:
    urls = ["q/handoff-OtherQueue-1", "q/handoff-DeadLetterQueue-2", "q/handoff-EventDeliveryDeadLetterQueue-3"]
    assert pick_one("queue", urls, "DeadLetterQueue", ("EventDelivery",)) == "q/handoff-DeadLetterQueue-2"


@pytest.mark.parametrize(
    ("names", "hint"), [([], "--endpoint-url"), (["a-DeadLetterQueue", "b-DeadLetterQueue"], "--stack")]
)
def test_pick_one_says_what_to_do_when_none_or_several_match(names: list[str], hint: str) -> None:
    with pytest.raises(OpsFailure) as caught:
        pick_one("dead-letter queue", names, "DeadLetterQueue")
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
