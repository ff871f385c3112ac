"""DialNexa webhooks through the embedded stack's HTTP API, ledger and state machine."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from handoff.ingest.signature import sign
from handoff_dev import ops
from handoff_dev.demo import wait_settled

pytestmark = pytest.mark.e2e

RESCHEDULE = "variant-a_call-ended_completed_inbound_reschedule-booking.json"


def _post(stack: Any, body: bytes, secret: str | None, header: str = "X-DialNexa-Signature") -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[header] = sign(body, secret)
    return requests.post(f"{stack.api_url}/webhooks/dialnexa", data=body, headers=headers, timeout=10)


def _executions_named(stack: Any, name: str) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    return [e for e in ops.list_executions(sfn, stack.state_machine_arn, 1000) if e["name"] == name]


def _record(stack: Any, call_id: str) -> dict[str, Any] | None:
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical("HandoffTable"), Key={"pk": {"S": f"CALL#{call_id}"}}
    )
    return item.get("Item")


def test_the_same_signed_body_twice_starts_one_execution(stack: Any, rekeyed: Callable[[str, str], bytes]) -> None:
    body = rekeyed(RESCHEDULE, "call_dup_twice")
    first = _post(stack, body, stack.options.webhook_secret)
    second = _post(stack, body, stack.options.webhook_secret)
    assert (first.status_code, first.json()["status"]) == (202, "started")
    assert (second.status_code, second.json()["status"]) == (200, "duplicate")
    assert len(_executions_named(stack, "call_dup_twice")) == 1


def test_a_wrong_signature_gets_401_and_writes_nothing(stack: Any, rekeyed: Callable[[str, str], bytes]) -> None:
    body = rekeyed(RESCHEDULE, "call_forged")
    answer = _post(stack, body, "whsec_not_the_secret")
    assert answer.status_code == 401
    assert answer.json()["detail"] == "signature mismatch"
    assert _record(stack, "call_forged") is None
    assert _executions_named(stack, "call_forged") == []


def test_an_unsigned_body_gets_401_naming_the_missing_header(stack: Any, rekeyed: Callable[[str, str], bytes]) -> None:
    answer = _post(stack, rekeyed(RESCHEDULE, "call_unsigned"), None)
    assert answer.status_code == 401
    assert "missing" in answer.json()["detail"]
    assert _record(stack, "call_unsigned") is None


def test_a_body_signed_with_the_previous_secret_is_accepted(stack: Any, rekeyed: Callable[[str, str], bytes]) -> None:
    body = rekeyed(RESCHEDULE, "call_prev_secret")
    answer = _post(stack, body, stack.options.previous_webhook_secret, header="x-nexa-signature")
    assert answer.status_code == 202


def test_a_signed_body_that_is_not_json_gets_400_naming_the_problem(stack: Any) -> None:
    answer = _post(stack, b"{not json", stack.options.webhook_secret)
    assert answer.status_code == 400
    assert "JSON" in answer.json()["detail"]


def test_a_signed_call_without_an_id_gets_400_and_writes_nothing(stack: Any) -> None:
    body = json.dumps({"event_type": "call_ended", "payload": {"call": {"status": "completed"}}}).encode()
    answer = _post(stack, body, stack.options.webhook_secret)
    assert answer.status_code == 400
    assert "id" in answer.json()["detail"]


def test_an_oversized_body_gets_413(stack: Any) -> None:
    body = b'{"event_type": "call_ended", "pad": "' + b"x" * (300 * 1024) + b'"}'
    answer = _post(stack, body, stack.options.webhook_secret)
    assert answer.status_code == 413


def test_the_verification_ping_is_acknowledged_and_starts_nothing(stack: Any, samples: dict[str, bytes]) -> None:
    answer = _post(stack, samples["ping_verification-request.json"], stack.options.webhook_secret)
    assert answer.status_code == 200
    assert answer.json() == {"status": "verified"}


def test_an_unknown_event_is_acknowledged_and_recorded_without_an_execution(stack: Any) -> None:
    body = json.dumps({"event": "alert.triggered", "alert": {"name": "latency"}}).encode()
    answer = _post(stack, body, stack.options.webhook_secret)
    assert answer.status_code == 202
    assert answer.json()["status"] == "recorded"


def test_later_analysis_merges_into_the_call_record_without_a_second_execution(stack: Any) -> None:
    ended = {
        "event": "call.ended",
        "session_id": "sess_merge_1",
        "phone_number": "+15555550164",
        "timestamp": "2025-06-12T17:20:00Z",
    }
    analysis = {
        "event": "call.analysis_ready",
        "session_id": "sess_merge_1",
        "analysis": {"intent": "booking", "booking_id": "BK-48377"},
    }
    assert _post(stack, json.dumps(ended).encode(), stack.options.webhook_secret).status_code == 202
    later = _post(stack, json.dumps(analysis).encode(), stack.options.webhook_secret)
    assert later.status_code == 200
    record = _record(stack, "sess_merge_1")
    assert record is not None
    assert json.loads(record["call_json"]["S"])["analysis"]["booking_id"] == "BK-48377"
    assert len(_executions_named(stack, "sess_merge_1")) == 1


def _record_without_start(stack: Any, call_id: str, body: bytes, age_seconds: int = 0) -> None:
    """What the ledger holds when ingest died between recording the call and starting it."""
    from handoff.ingest.envelope import CallEvent, parse_webhook

    envelope = parse_webhook(body)
    assert isinstance(envelope, CallEvent)
    received = (datetime.now(UTC) - timedelta(seconds=age_seconds)).isoformat(timespec="milliseconds")
    stack.client("dynamodb").put_item(
        TableName=stack.physical("HandoffTable"),
        Item={
            "pk": {"S": f"CALL#{call_id}"},
            "call_id": {"S": call_id},
            "call_json": {"S": json.dumps(envelope.call.model_dump(mode="json"))},
            "events": {"L": [{"S": envelope.event}]},
            "received_at": {"S": received},
            "pending_start": {"S": "PENDING"},
            "version": {"N": "1"},
        },
    )


def test_a_call_recorded_but_not_started_is_started_by_the_next_delivery(
    stack: Any, rekeyed: Callable[[str, str], bytes]
) -> None:
    body = rekeyed(RESCHEDULE, "call_crashed_1")
    _record_without_start(stack, "call_crashed_1", body)
    answer = _post(stack, body, stack.options.webhook_secret)
    assert (answer.status_code, answer.json()["status"]) == (202, "started_on_redelivery")
    assert len(_executions_named(stack, "call_crashed_1")) == 1


def test_the_scheduled_sweep_starts_a_call_recorded_but_not_started(
    stack: Any, rekeyed: Callable[[str, str], bytes]
) -> None:
    body = rekeyed(RESCHEDULE, "call_crashed_2")
    _record_without_start(stack, "call_crashed_2", body, age_seconds=600)
    result = stack.scheduler.fire(stack.physical("IngestFunction"))
    assert "call_crashed_2" in result["started"]
    assert len(_executions_named(stack, "call_crashed_2")) == 1
    record = _record(stack, "call_crashed_2")
    assert record is not None and "pending_start" not in record


def test_an_accepted_call_reaches_a_terminal_or_waiting_state(stack: Any, rekeyed: Callable[[str, str], bytes]) -> None:
    body = rekeyed(RESCHEDULE, "call_settles")
    assert _post(stack, body, stack.options.webhook_secret).status_code == 202
    views = wait_settled(stack, ["call_settles"], timeout=30)
    assert views["call_settles"].settled


def test_executions_list_and_show_read_the_endpoint_they_are_pointed_at(
    stack: Any, rekeyed: Callable[[str, str], bytes]
) -> None:
    from typer.testing import CliRunner

    from handoff_dev.cli import app

    assert _post(stack, rekeyed(RESCHEDULE, "call_cli_listed"), stack.options.webhook_secret).status_code == 202
    wait_settled(stack, ["call_cli_listed"], timeout=30)
    runner = CliRunner()
    listed = runner.invoke(app, ["executions", "list", "--json", "--endpoint-url", stack.aws_endpoint])
    assert listed.exit_code == 0, listed.stdout
    assert "call_cli_listed" in {row["call_id"] for row in json.loads(listed.stdout)}
    shown = runner.invoke(
        app, ["executions", "show", "call_cli_listed", "--json", "--endpoint-url", stack.aws_endpoint]
    )
    assert shown.exit_code == 0, shown.stdout
    steps = [step["state"] for step in json.loads(shown.stdout)["steps"]]
    assert steps[:3] == ["Resume", "Match", "Route"]
