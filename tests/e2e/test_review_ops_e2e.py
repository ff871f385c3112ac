"""Human review through the embedded stack: the ops CLI and the decision route, as an operator uses them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from handoff.review.model import REJECTED_ERROR
from handoff_dev import ops
from handoff_dev.cli_errors import HandoffGroup
from handoff_dev.cli_ops import dlq_app, replay, review_app
from handoff_dev.demo import wait_settled
from handoff_dev.embedded.http_api import Route, build_event
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

DAMAGED = "variant-a_call-ended_completed_inbound_damaged-item-transferred.json"
NO_DATA = "variant-a_call-ended_completed_inbound_no-identifying-data.json"

cli = typer.Typer(cls=HandoffGroup)  # the app-wide error handler, as `handoff` has it
cli.add_typer(review_app, name="review")
cli.add_typer(dlq_app, name="dlq")
cli.command("replay")(replay)


# --------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def outcomes(stack: Any) -> str:
    """An SQS queue subscribed to every Handoff outcome event on the bus (what notify is sent)."""
    sqs, events = stack.client("sqs"), stack.client("events")
    url = sqs.create_queue(QueueName="review-e2e-outcomes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = stack.physical("EventBus")
    events.put_rule(Name="review-e2e-spy", EventBusName=bus, EventPattern=json.dumps({"source": ["handoff"]}))
    events.put_targets(Rule="review-e2e-spy", EventBusName=bus, Targets=[{"Id": "spy", "Arn": arn}])
    return str(url)


def _events_for(
    stack: Any, queue_url: str, call_id: str, detail_type: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            event = json.loads(message["Body"])
            if event["detail-type"] == detail_type and event["detail"].get("call_id") == call_id:
                found.append(event)
            else:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
    return found


def _post_call(stack: Any, samples: dict[str, bytes], name: str, call_id: str) -> ops.ExecutionView:
    body = json.loads(samples[name])
    body["payload"]["call"]["id"] = call_id
    status, _, _ = post_signed(
        f"{stack.api_url}/webhooks/dialnexa", json.dumps(body).encode(), stack.options.webhook_secret
    )
    assert status == 202
    view = wait_settled(stack, [call_id])[call_id]
    assert view.waiting_for_review, f"{name} should wait for review, took {view.path}"
    return view


def _run(stack: Any, *args: str) -> tuple[int, Any, str]:
    result = CliRunner().invoke(cli, [*args, "--json", "--endpoint-url", stack.aws_endpoint])
    try:
        payload = json.loads(result.stdout) if result.stdout.strip() else None
    except json.JSONDecodeError:
        payload = result.stdout
    return result.exit_code, payload, result.stderr


def _finished(stack: Any, call_id: str) -> ops.ExecutionView:
    sfn = stack.client("stepfunctions")
    arn = ops.execution_arn_for(sfn, stack.state_machine_arn, call_id)
    deadline = time.monotonic() + 30
    while True:
        view = ops.describe(sfn, arn)
        if view.status in ops.TERMINAL or time.monotonic() > deadline:
            return view
        time.sleep(0.1)


def _review_outcomes(stack: Any, call_id: str) -> list[str]:
    """Every end of a RequestReview task in the execution's history (one per decision that landed)."""
    sfn = stack.client("stepfunctions")
    arn = ops.execution_arn_for(sfn, stack.state_machine_arn, call_id)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    kinds = ("TaskSucceeded", "TaskFailed", "TaskTimedOut")
    ends, in_review = [], False
    for event in events:
        name = (event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}).get("name")
        if name == "RequestReview":
            in_review = event["type"].endswith("Entered")
        elif in_review and event["type"] in kinds:
            ends.append(event["type"])
    return ends


# --------------------------------------------------------------------------- list and show
def test_review_list_shows_a_waiting_call_oldest_first_with_reason_owner_and_urgency(
    stack: Any, samples: dict[str, bytes]
) -> None:
    _post_call(stack, samples, NO_DATA, "call_rv_list_a")
    _post_call(stack, samples, DAMAGED, "call_rv_list_b")
    code, rows, _ = _run(stack, "review", "list")
    assert code == 0
    ours = [r for r in rows if r["call_id"] in ("call_rv_list_a", "call_rv_list_b")]
    assert [r["call_id"] for r in ours] == ["call_rv_list_a", "call_rv_list_b"]
    assert all(r["reasons"] and r["owner"] and r["urgency"] and r["age"] for r in ours)


def test_listing_reviews_consumes_nothing(stack: Any, samples: dict[str, bytes]) -> None:
    _post_call(stack, samples, NO_DATA, "call_rv_peek")
    for _ in range(2):
        code, rows, _ = _run(stack, "review", "list")
        assert code == 0 and "call_rv_peek" in {r["call_id"] for r in rows}


def test_review_show_gives_candidates_with_evidence_actions_and_why(stack: Any, samples: dict[str, bytes]) -> None:
    _post_call(stack, samples, DAMAGED, "call_rv_show")
    code, detail, _ = _run(stack, "review", "show", "call_rv_show")
    assert code == 0
    assert detail["call_id"] == "call_rv_show"
    assert detail["why_review"] and detail["handoff"]["title"]
    assert detail["candidates"] and all(c["evidence"] for c in detail["candidates"])
    assert isinstance(detail["proposed_actions"], list)


def test_showing_a_call_that_waits_for_nothing_exits_non_zero_and_says_where_to_look(stack: Any) -> None:
    code, error, _ = _run(stack, "review", "show", "call_rv_never_seen")
    assert code != 0
    assert "no review is waiting" in error["error"] and "review list" in error["hint"]


# --------------------------------------------------------------------------- deciding
def test_approving_with_a_different_record_resumes_the_call_and_acts_on_that_record(
    stack: Any, samples: dict[str, bytes]
) -> None:
    _post_call(stack, samples, DAMAGED, "call_rv_approve")
    _, detail, _ = _run(stack, "review", "show", "call_rv_approve")
    other = detail["candidates"][-1]["record_id"]
    code, answer, _ = _run(
        stack, "review", "approve", "call_rv_approve", "--record", other, "--note", "photo checked", "--reviewer", "ana"
    )
    assert code == 0 and answer["decision"] == "approve"
    view = _finished(stack, "call_rv_approve")
    assert view.status == "SUCCEEDED" and "Act" in view.path and view.path[-1] == "Act"
    assert view.output is not None
    review = view.output["review"]
    assert (review["record_id"], review["reviewer_name"], review["note"]) == (other, "ana", "photo checked")
    assert review["reviewer"].startswith("arn:aws:"), "who decided is the AWS identity, not the name typed"
    assert view.output["act"] is not None
    _, rows, _ = _run(stack, "review", "list")
    assert "call_rv_approve" not in {r["call_id"] for r in rows}


def test_rejecting_ends_the_call_cleanly_with_the_reason_and_tells_the_owner(
    stack: Any, samples: dict[str, bytes], outcomes: str
) -> None:
    _post_call(stack, samples, NO_DATA, "call_rv_reject")
    code, _, _ = _run(stack, "review", "reject", "call_rv_reject", "--reason", "prank call", "--reviewer", "bo")
    assert code == 0
    view = _finished(stack, "call_rv_reject")
    assert view.status == "SUCCEEDED" and view.path[-1] == "Rejected" and "Act" not in view.path
    assert view.output is not None
    assert view.output["rejection"]["Error"] == REJECTED_ERROR
    assert json.loads(view.output["rejection"]["Cause"])["reason"] == "prank call"
    told = _events_for(stack, outcomes, "call_rv_reject", "call.review_rejected")
    assert len(told) == 1


def test_deciding_twice_is_refused_clearly_and_changes_nothing(stack: Any, samples: dict[str, bytes]) -> None:
    _post_call(stack, samples, NO_DATA, "call_rv_twice")
    first, _, _ = _run(stack, "review", "approve", "call_rv_twice", "--reviewer", "ana")
    assert first == 0
    _finished(stack, "call_rv_twice")
    again, error, _ = _run(stack, "review", "reject", "call_rv_twice", "--reason", "changed my mind")
    assert again != 0
    assert "already approved by ana" in error["error"]
    view = _finished(stack, "call_rv_twice")
    assert view.path[-1] == "Act"
    assert _review_outcomes(stack, "call_rv_twice") == ["TaskSucceeded"]


def test_an_unknown_action_to_drop_is_refused_before_anything_is_sent(stack: Any, samples: dict[str, bytes]) -> None:
    _post_call(stack, samples, NO_DATA, "call_rv_bad_drop")
    code, error, _ = _run(stack, "review", "approve", "call_rv_bad_drop", "--drop", "planyo:nothing:1")
    assert code != 0 and "drop_actions" in error["error"]
    assert _review_outcomes(stack, "call_rv_bad_drop") == []
    _, rows, _ = _run(stack, "review", "list")
    assert "call_rv_bad_drop" in {r["call_id"] for r in rows}


# --------------------------------------------------------------------------- timeout
def test_a_review_past_its_timeout_escalates_to_the_owner_and_the_dead_letter_queue(stack: Any, outcomes: str) -> None:
    sfn = stack.client("stepfunctions")
    state = {
        "call": {"call_id": "call_rv_timeout", "event": "call.ended", "status": "completed"},
        "settings": {"analysis_grace_seconds": 0, "review_timeout_seconds": 1},
    }
    sfn.start_execution(stateMachineArn=stack.state_machine_arn, name="call_rv_timeout", input=json.dumps(state))
    view = _finished(stack, "call_rv_timeout")
    assert view.status == "FAILED" and "PublishEscalated" in view.path and "DeadLetter" in view.path
    assert len(_events_for(stack, outcomes, "call_rv_timeout", "call.review_escalated")) == 1
    code, letter, _ = _run(stack, "dlq", "show", "call_rv_timeout")
    assert code == 0
    assert (letter["failed_state"], letter["error"]) == ("RequestReview", "States.Timeout")
    late, error, _ = _run(stack, "review", "approve", "call_rv_timeout")
    assert late != 0 and "timed out" in error["error"]


# --------------------------------------------------------------------------- the decision route
def _review_function(stack: Any) -> Any:
    """The review function as deployed: its own environment on the embedded stack."""
    return stack


def _post_decision(stack: Any, call_id: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST /reviews/{call_id}/decision as API Gateway invokes the function for an IAM-signed caller."""
    event = build_event(
        "POST",
        f"/reviews/{call_id}/decision",
        "",
        {"content-type": "application/json"},
        body,
        "127.0.0.1",
        Route("POST", "/reviews/{call_id}/decision", "review"),
        {"call_id": call_id},
    )
    event["requestContext"]["authorizer"] = {"iam": {"userArn": "arn:aws:iam::123456789012:user/approver"}}
    answer, error = stack.registry.invoke(stack.physical("ReviewFunction"), event)
    assert error is None, answer
    return int(answer["statusCode"]), json.loads(answer["body"])


def test_the_decision_route_answers_400_naming_the_field_404_unknown_200_then_409(
    stack: Any, samples: dict[str, bytes]
) -> None:
    module = _review_function(stack)
    _post_call(stack, samples, NO_DATA, "call_rv_http")
    status, problem = _post_decision(module, "call_rv_http", b'{"decision": "maybe"}')
    assert status == 400 and problem["errors"][0]["field"] == "decision"
    status, problem = _post_decision(module, "call_rv_http", b'{"decision": "reject"}')
    assert status == 400 and problem["errors"][0]["field"] == "reason"
    status, _ = _post_decision(module, "call_rv_nobody", b'{"decision": "approve"}')
    assert status == 404
    status, answer = _post_decision(module, "call_rv_http", b'{"decision": "approve", "note": "ok"}')
    assert status == 200 and answer["outcome"]["reviewer"].endswith("user/approver")
    status, problem = _post_decision(module, "call_rv_http", b'{"decision": "approve"}')
    assert status == 409 and problem["title"] == "already decided"
    assert "already approved by arn:aws:iam::123456789012:user/approver at " in problem["detail"]
    assert _finished(stack, "call_rv_http").path[-1] == "Act"


def test_the_reviewer_is_the_iam_caller_and_a_body_only_adds_a_display_name(
    stack: Any, samples: dict[str, bytes]
) -> None:
    module = _review_function(stack)
    _post_call(stack, samples, NO_DATA, "call_rv_identity")
    status, problem = _post_decision(module, "call_rv_identity", b'{"decision": "approve", "reviewer": "boss"}')
    assert status == 400 and problem["errors"][0]["field"] == "reviewer"
    status, answer = _post_decision(module, "call_rv_identity", b'{"decision": "approve", "reviewer_name": "Ana"}')
    assert status == 200
    assert (answer["outcome"]["reviewer"], answer["outcome"]["reviewer_name"]) == (
        "arn:aws:iam::123456789012:user/approver",
        "Ana",
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [(b"[" * 100_000 + b"]" * 100_000, "larger than"), (b'{"a":' * 2000 + b"1" + b"}" * 2000, "nested too deeply")],
)
def test_a_huge_or_deeply_nested_decision_body_is_a_400_not_a_500(stack: Any, body: bytes, detail: str) -> None:
    status, problem = _post_decision(_review_function(stack), "call_rv_nested", body)
    assert status == 400 and detail in problem["detail"]


# --------------------------------------------------------------------------- the crash window
def test_a_decision_recorded_before_a_crash_is_sent_by_the_scheduled_sweep_and_the_call_resumes(
    stack: Any, samples: dict[str, bytes]
) -> None:
    from datetime import UTC, datetime, timedelta

    from handoff.review.model import ReviewDecision, Reviewer
    from handoff.review.store import ReviewStore

    _post_call(stack, samples, NO_DATA, "call_rv_crash")
    store = ReviewStore(stack.physical("HandoffTable"), stack.client("dynamodb"))
    review = store.get("call_rv_crash")
    assert review is not None and review.status == "waiting"
    ana, before = Reviewer("arn:aws:iam::123456789012:user/ana", "Ana"), datetime.now(UTC) - timedelta(minutes=2)
    outcome = ReviewDecision(decision="approve").outcome(review, ana, before).model_dump(mode="json")
    assert store.claim(review, "approve", ana, outcome, before)  # ...and the process dies before SendTaskSuccess
    code, rows, _ = _run(stack, "review", "list", "--decided")
    assert code == 0 and "call_rv_crash" in {r["call_id"] for r in rows}

    answer = stack.scheduler.fire(stack.physical("ReviewFunction"))
    assert "call_rv_crash" in answer["finished"]
    view = _finished(stack, "call_rv_crash")
    assert view.path[-1] == "Act" and view.output is not None
    assert view.output["review"]["reviewer"] == ana.id
    assert store.get("call_rv_crash").status == "approved"  # type: ignore[union-attr]
