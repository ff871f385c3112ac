"""Late analysis is honoured: Match works from the call record as it is after the analysis wait.

On a stack with a real grace period (AnalysisGraceSeconds 3), a bare
``call_ended`` followed by its analysis while the execution waits acts exactly
as the same analysis in one delivery does, and the decision cites it; an
analysis arriving after Match has read the record is merged and noted on the
record (``late_analysis``), never a second execution.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from handoff.ingest.signature import sign
from handoff.models import analysis_digest
from handoff_dev import ops
from handoff_dev.demo import wait_settled
from handoff_dev.embedded.stack import EmbeddedStack, StackOptions

pytestmark = pytest.mark.e2e

GRACE_SECONDS = 3
SAMPLE = Path(__file__).resolve().parents[2] / "events" / "dialnexa"
RESCHEDULE = json.loads((SAMPLE / "variant-a_call-ended_completed_inbound_reschedule-booking.json").read_text())
ANALYSIS = RESCHEDULE["payload"]["call"]["post_call_analysis"]


@pytest.fixture(scope="module")
def graced() -> Iterator[EmbeddedStack]:
    options = StackOptions(
        port=0, aws_port=0, schedules=False, parameter_overrides={"AnalysisGraceSeconds": str(GRACE_SECONDS)}
    )
    with EmbeddedStack(options) as stack:
        yield stack


def _post(stack: EmbeddedStack, body: dict[str, Any]) -> requests.Response:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-DialNexa-Signature": sign(raw, stack.options.webhook_secret)}
    return requests.post(f"{stack.api_url}/webhooks/dialnexa", data=raw, headers=headers, timeout=10)


def _call_ended(call_id: str, *, with_analysis: bool) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(RESCHEDULE)
    body["payload"]["call"]["id"] = call_id
    if not with_analysis:
        del body["payload"]["call"]["post_call_analysis"]
    return body


def _analysis_ready(call_id: str) -> dict[str, Any]:
    return {"event_type": "call_analyzed", "payload": {"call": {"id": call_id, "post_call_analysis": ANALYSIS}}}


def _view(stack: EmbeddedStack, call_id: str) -> ops.ExecutionView:
    sfn = stack.client("stepfunctions")
    return ops.describe(sfn, ops.execution_arn_for(sfn, stack.state_machine_arn, call_id))


def _await_state(stack: EmbeddedStack, call_id: str, state: str, timeout: float = 30.0) -> None:
    """Until the execution is in ``state`` (read from its history, not guessed with a sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _view(stack, call_id).current_state == state:
            return
        time.sleep(0.05)
    raise AssertionError(f"{call_id} never reached {state}")


def _executions(stack: EmbeddedStack, call_id: str) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    return [e for e in ops.list_executions(sfn, stack.state_machine_arn, 1000) if e["name"] == call_id]


def _record(stack: EmbeddedStack, call_id: str) -> dict[str, Any]:
    from handoff.store import DynamoCallStore

    stored = DynamoCallStore(stack.physical("HandoffTable"), client=stack.client("dynamodb")).get(call_id)
    assert stored is not None
    return {"late_analysis": stored.late_analysis, "matched_at": stored.matched_at, "call": stored.call}


def test_an_analysis_posted_during_the_wait_acts_as_the_same_analysis_in_one_delivery(graced: EmbeddedStack) -> None:
    assert _post(graced, _call_ended("call_late_one_delivery", with_analysis=True)).status_code == 202
    assert _post(graced, _call_ended("call_late_bare", with_analysis=False)).status_code == 202
    _await_state(graced, "call_late_bare", "AwaitAnalysis")  # the grace period is running
    late = _post(graced, _analysis_ready("call_late_bare"))
    assert (late.status_code, late.json()["status"]) == (200, "duplicate")

    views = wait_settled(graced, ["call_late_one_delivery", "call_late_bare"], timeout=60)
    whole, split = views["call_late_one_delivery"].output, views["call_late_bare"].output
    assert whole is not None and split is not None
    assert (
        "AwaitAnalysis" in views["call_late_bare"].path and "AwaitAnalysis" not in views["call_late_one_delivery"].path
    )
    for key in ("mode", "intent", "rules_fired", "urgency"):
        assert split["decision"][key] == whole["decision"][key], key
    assert split["decision"]["mode"] == "act" and split["match"]["status"] == "strong"
    assert split["decision"]["analysis"]["present"] is True
    assert split["decision"]["analysis"]["digest"] == whole["decision"]["analysis"]["digest"]
    assert "call.analysis_ready" in split["decision"]["analysis"]["events"]
    used = split["decision"]["analysis"]
    assert split["decision"]["handoff"]["extras"]["analysis"] == (
        f"analysis {used['digest']} (call record v{used['record_version']})"
    )
    assert _record(graced, "call_late_bare")["late_analysis"] is None


def test_an_analysis_after_match_read_the_record_is_merged_and_noted_never_a_second_execution(
    graced: EmbeddedStack,
) -> None:
    assert _post(graced, _call_ended("call_too_late", with_analysis=False)).status_code == 202
    view = wait_settled(graced, ["call_too_late"], timeout=60)["call_too_late"]
    assert view.output is None or view.waiting_for_review  # decided without an analysis: a human decides
    assert view.last_input is not None and view.last_input["decision"]["analysis"]["present"] is False

    answer = _post(graced, _analysis_ready("call_too_late"))
    assert (answer.status_code, answer.json()["status"]) == (200, "duplicate")
    record = _record(graced, "call_too_late")
    assert record["call"]["analysis"]["intent"] == "reschedule_booking"  # merged into the record
    late = record["late_analysis"]
    assert late is not None and late["event"] == "call.analysis_ready"
    assert late["matched_at"] == record["matched_at"] and late["digest"] == analysis_digest(record["call"]["analysis"])
    assert late["used_digest"] == ""  # the decision was made from no analysis at all
    assert len(_executions(graced, "call_too_late")) == 1
