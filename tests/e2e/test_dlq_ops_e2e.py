"""Dead letters, redrive and replay through the embedded stack, driven by the ops CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from handoff_dev import ops
from handoff_dev.cli_errors import HandoffGroup
from handoff_dev.cli_ops import dlq_app, replay, review_app
from handoff_dev.demo import wait_settled
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

RESCHEDULE = "variant-a_call-ended_completed_inbound_reschedule-booking.json"
PLANYO_WRITE = "modify_reservation"

cli = typer.Typer(cls=HandoffGroup)  # the app-wide error handler, as `handoff` has it
cli.add_typer(review_app, name="review")
cli.add_typer(dlq_app, name="dlq")
cli.command("replay")(replay)


def _run(stack: Any, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    result = CliRunner().invoke(cli, [*args, "--json", "--endpoint-url", stack.aws_endpoint], env=env)
    try:
        return result.exit_code, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.exit_code, result.stdout


def _view(stack: Any, name: str) -> ops.ExecutionView:
    sfn = stack.client("stepfunctions")
    return ops.describe(sfn, ops.execution_arn_for(sfn, stack.state_machine_arn, name))


def _until(stack: Any, name: str, done: Any, timeout: float = 30.0) -> ops.ExecutionView:
    deadline = time.monotonic() + timeout
    while True:
        view = _view(stack, name)
        if done(view) or time.monotonic() > deadline:
            return view
        time.sleep(0.1)


def _finished(stack: Any, name: str) -> ops.ExecutionView:
    return _until(stack, name, lambda v: v.status in ops.TERMINAL)


def _record(stack: Any, call_id: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical("HandoffTable"), Key={"pk": {"S": f"CALL#{call_id}"}}
    )
    return {k: next(iter(v.values())) for k, v in item.get("Item", {}).items()}


def test_replaying_a_window_of_the_archive_redelivers_its_typed_events_to_the_bus_rules(stack: Any) -> None:
    """First in the module, so the archive holds only this test's events (moto replays the whole archive).

    The archive keeps only the event contract: a typed lifecycle signal is replayed, an event
    outside the contract on the same bus is not.
    """
    sqs, events = stack.client("sqs"), stack.client("events")
    url = sqs.create_queue(QueueName="dlq-e2e-replayed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = stack.physical("EventBus")
    # not an outcome: notify stays out of it
    pattern = json.dumps({"source": ["handoff", "handoff.e2e"], "detail-type": ["call.lifecycle_signal", "probe"]})
    events.put_rule(Name="dlq-e2e-replays", EventBusName=bus, EventPattern=pattern)
    events.put_targets(Rule="dlq-e2e-replays", EventBusName=bus, Targets=[{"Id": "spy", "Arn": arn}])
    signal = {
        "schema_version": "1",
        "signal_id": "call_replay:follow_up_need",
        "call_id": "call_replay",
        "occurred_at": "2025-06-12T09:00:00Z",
        "signal": "follow_up_need",
        "customer": {"tool": "planyo", "kind": "customer", "record_id": "700142"},
        "follow_up_need": {"channel": "phone", "topic": "callback"},
    }
    events.put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": "handoff",
                "DetailType": "call.lifecycle_signal",
                "Detail": json.dumps(signal),
            },
            {"EventBusName": bus, "Source": "handoff.e2e", "DetailType": "probe", "Detail": '{"n": 1}'},
        ]
    )
    original = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(original) == 2
    for message in original:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    code, answer = _run(stack, "replay", "--from", "2020-01-01T00:00:00Z", "--to", "2099-01-01T00:00:00Z")
    assert code == 0 and answer["state"] == "COMPLETED" and answer["replay_name"].startswith("handoff-")
    replayed = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert [json.loads(m["Body"])["detail"] for m in replayed] == [signal]
    assert answer["events_sent"] == 1
    for m in replayed:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_a_replay_sends_only_the_events_of_its_window_and_says_how_many(stack: Any) -> None:
    code, answer = _run(stack, "replay", "--from", "2020-01-01T00:00:00Z", "--to", "2020-01-02T00:00:00Z")
    assert code == 0 and answer["state"] == "COMPLETED"
    assert answer["events_sent"] == 0
    result = CliRunner().invoke(
        cli,
        [
            "replay",
            "--from",
            "2020-01-01T00:00:00Z",
            "--to",
            "2020-01-02T00:00:00Z",
            "--endpoint-url",
            stack.aws_endpoint,
        ],
    )
    assert result.exit_code == 0 and "COMPLETED, 0 events sent" in result.stdout


@pytest.fixture(scope="module")
def acted_state(stack: Any, samples: dict[str, bytes]) -> dict[str, Any]:
    """The state document of a reschedule call that acted in Planyo (the template for failing calls)."""
    body = json.loads(samples[RESCHEDULE])
    body["payload"]["call"]["id"] = "call_dlq_template"
    post_signed(f"{stack.api_url}/webhooks/dialnexa", json.dumps(body).encode(), stack.options.webhook_secret)
    view = wait_settled(stack, ["call_dlq_template"])["call_dlq_template"]
    assert view.path[-1] == "Act" and view.output, f"the reschedule sample should act, took {view.path}"
    return {k: v for k, v in view.output.items() if k not in ("act", "review")}


_FAILED_CALLS: list[str] = []


def _fail_at_act(stack: Any, state: dict[str, Any], call_id: str) -> ops.ExecutionView:
    """Planyo starts demanding a hash key the connector does not send: act fails for good, the call is dead-lettered."""
    document = json.loads(json.dumps(state))
    document["call"]["call_id"] = call_id
    _FAILED_CALLS.append(call_id)
    for action in document["decision"]["actions"]:  # a slot of its own, so each call really moves the booking
        if "new_start" in action["params"]:
            action["params"]["new_start"] = f"2025-07-{len(_FAILED_CALLS):02d}T13:00:00-04:00"
    planyo = stack.sandboxes["planyo"]
    planyo.hash_secret = "rotated-on-the-partner-side"
    try:
        stack.client("stepfunctions").start_execution(
            stateMachineArn=stack.state_machine_arn, name=call_id, input=json.dumps({**document, "resume_at": "Act"})
        )
        view = _finished(stack, call_id)
    finally:
        planyo.hash_secret = None
    assert view.status == "FAILED" and "ActFailed" in view.path
    return view


def test_a_failing_partner_leaves_input_state_error_and_call_id_on_the_queue_and_the_record_says_so(
    stack: Any, acted_state: dict[str, Any]
) -> None:
    _fail_at_act(stack, acted_state, "call_dlq_fail")
    code, rows = _run(stack, "dlq", "list")
    assert code == 0
    row = next(r for r in rows if r["call_id"] == "call_dlq_fail")
    assert row["failed_state"] == "Act" and row["error"] and row["cause"]
    code, letter = _run(stack, "dlq", "show", "call_dlq_fail")
    assert code == 0
    assert letter["state"]["decision"]["actions"] and letter["state"]["call"]["call_id"] == "call_dlq_fail"
    assert letter["execution_arn"].endswith(":call_dlq_fail")
    assert _record(stack, "call_dlq_fail")["outcome"] == "dead_lettered"


def test_redrive_after_the_partner_recovers_runs_only_the_failed_step_and_acts_exactly_once(
    stack: Any, acted_state: dict[str, Any]
) -> None:
    _fail_at_act(stack, acted_state, "call_dlq_redrive")
    planyo = stack.sandboxes["planyo"]
    writes_before = planyo.effects[PLANYO_WRITE]
    code, answer = _run(stack, "dlq", "redrive", "call_dlq_redrive")
    assert code == 0 and answer["ok"] and answer["how"] == "fresh"
    assert answer["execution_arn"].endswith(":call_dlq_redrive-redrive-1")
    view = _finished(stack, "call_dlq_redrive-redrive-1")
    assert view.status == "SUCCEEDED"
    assert view.path[:2] == ["Resume", "Act"] and "Match" not in view.path
    assert planyo.effects[PLANYO_WRITE] == writes_before + 1
    _, rows = _run(stack, "dlq", "list")
    assert "call_dlq_redrive" not in {r["call_id"] for r in rows}
    assert _record(stack, "call_dlq_redrive")["outcome"] != "dead_lettered"


def test_redriving_a_call_that_is_no_longer_dead_lettered_is_refused_with_what_to_do(
    stack: Any, acted_state: dict[str, Any]
) -> None:
    _fail_at_act(stack, acted_state, "call_dlq_twice")
    assert _run(stack, "dlq", "redrive", "call_dlq_twice")[0] == 0
    code, error = _run(stack, "dlq", "redrive", "call_dlq_twice")
    assert code != 0 and "no dead letter for call call_dlq_twice" in error["error"]


def test_an_escalated_review_redriven_waits_for_review_again_and_a_second_redrive_meanwhile_is_refused(
    stack: Any,
) -> None:
    sfn, sqs = stack.client("stepfunctions"), stack.client("sqs")
    state = {
        "call": {"call_id": "call_dlq_review", "event": "call.ended", "status": "completed"},
        "settings": {"analysis_grace_seconds": 0, "review_timeout_seconds": 1},
    }
    sfn.start_execution(stateMachineArn=stack.state_machine_arn, name="call_dlq_review", input=json.dumps(state))
    assert _finished(stack, "call_dlq_review").status == "FAILED"
    dlq = stack.physical("DeadLetterQueue")
    letter = next(
        m
        for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
        if json.loads(m["Body"])["call_id"] == "call_dlq_review"
    )
    body = json.loads(letter["Body"])
    body["state"]["settings"]["review_timeout_seconds"] = 3600  # the operator redrives with time to decide
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=letter["ReceiptHandle"])
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(body))
    code, answer = _run(stack, "dlq", "redrive", "call_dlq_review")
    assert code == 0 and answer["resumed_at"] == "RequestReview"
    _until(stack, "call_dlq_review-redrive-1", lambda v: v.waiting_for_review)
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(body))  # a second copy (at-least-once delivery)
    code, refused = _run(stack, "dlq", "redrive", "call_dlq_review")
    assert code != 0 and refused["how"] == "refused" and "running execution" in refused["message"]
    assert _run(stack, "review", "approve", "call_dlq_review", "--reviewer", "ops")[0] == 0
    assert _finished(stack, "call_dlq_review-redrive-1").path[-1] == "Act"


def test_redrive_all_restarts_every_dead_lettered_call_and_summarises(stack: Any, acted_state: dict[str, Any]) -> None:
    for call_id in ("call_dlq_all_1", "call_dlq_all_2"):
        _fail_at_act(stack, acted_state, call_id)
    code, summary = _run(stack, "dlq", "redrive", "--all")
    redriven = {r["call_id"] for r in summary["results"] if r["ok"]}
    assert {"call_dlq_all_1", "call_dlq_all_2"} <= redriven
    assert code == (0 if summary["refused"] + summary["errors"] == 0 else 1)
    for call_id in ("call_dlq_all_1", "call_dlq_all_2"):
        assert _finished(stack, f"{call_id}-redrive-1").status == "SUCCEEDED"


def test_redrive_needs_one_call_or_all(stack: Any) -> None:
    code, error = _run(stack, "dlq", "redrive")
    assert code == 2 and "--all" in error["error"]


def test_a_replay_window_that_ends_before_it_starts_is_refused(stack: Any) -> None:
    code, error = _run(stack, "replay", "--from", "2025-06-12T10:00:00Z", "--to", "2025-06-12T09:00:00Z")
    assert code != 0 and "before" in error["error"]


def test_replaying_webhook_files_signs_and_posts_them_and_a_duplicate_starts_nothing(
    stack: Any, samples: dict[str, bytes], tmp_path: Path
) -> None:
    body = json.loads(samples[RESCHEDULE])
    body["payload"]["call"]["id"] = "call_dlq_replayed_file"
    path = tmp_path / "lost-delivery.json"
    path.write_text(json.dumps(body))
    env = {"DIALNEXA_TEST_SECRET": stack.options.webhook_secret}
    url = f"{stack.api_url}/webhooks/dialnexa"
    args = ("replay", str(path), "--url", url, "--secret-env", "DIALNEXA_TEST_SECRET")
    code, first = _run(stack, *args, env=env)
    assert code == 0 and first[0]["status"] == 202
    code, second = _run(stack, *args, env=env)
    assert code == 0 and second[0]["status"] == 200 and "duplicate" in second[0]["body"]
    code, error = _run(stack, *args, env={"DIALNEXA_TEST_SECRET": ""})
    assert code == 2 and "DIALNEXA_TEST_SECRET" in error["error"]


def test_executions_show_gives_each_state_its_result_duration_and_error_and_links_the_redrive(
    stack: Any, acted_state: dict[str, Any]
) -> None:
    _fail_at_act(stack, acted_state, "call_dlq_shown")
    assert _run(stack, "dlq", "redrive", "call_dlq_shown")[0] == 0
    _finished(stack, "call_dlq_shown-redrive-1")
    from handoff_dev.cli import app

    args = ["executions", "show", "call_dlq_shown", "--verbose", "--json", "--endpoint-url", stack.aws_endpoint]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    steps = {s["state"]: s for s in shown["steps"]}
    assert steps["Act"]["error"] and "retries" in steps["Act"]
    assert steps["CallFailed"]["result"] == "failed" and steps["CallFailed"]["duration_ms"] is not None
    assert all(s["duration_ms"] is not None for s in shown["steps"]), "a failed run has no state left 'running'"
    assert "call_dlq_shown" in (steps["Act"]["input"] or "")
    assert [e["execution"] for e in shown["executions"]] == ["call_dlq_shown", "call_dlq_shown-redrive-1"]
    assert [e["status"] for e in shown["executions"]] == ["FAILED", "SUCCEEDED"]
