"""Seed workflows that route to an action: one side effect and one notification, whatever the redelivery."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from handoff_dev.demo import wait_settled
from handoff_dev.sandboxes.base import FaultPlan
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

# sample file -> (sandbox, counted write operation) the routed action must perform exactly once
ACTING = {
    "variant-a_call-ended_completed_inbound_reschedule-booking.json": ("planyo", "modify_reservation"),
    "variant-b_call-analysis-ready.json": ("bookingmood", "create_calendar_event_notes"),
    "variant-a_call-ended_completed_inbound_price-availability-buying-intent.json": ("billit", "create_party"),
}
FAULTY_OPERATION = {
    "planyo": "modify_reservation",
    "bookingmood": "create_calendar_event_notes",
    "billit": "create_party",
}


def _reset(stack: Any) -> None:
    for sandbox in stack.sandboxes.values():
        sandbox.reset()


def _deliver(stack: Any, body: bytes, times: int) -> list[int]:
    url = f"{stack.api_url}/webhooks/dialnexa"
    with ThreadPoolExecutor(max_workers=times) as pool:
        answers = list(pool.map(lambda _: post_signed(url, body, stack.options.webhook_secret)[0], range(times)))
    return answers


def _messages_for(stack: Any, call_id: str) -> list[dict[str, Any]]:
    return [m for m in stack.sandboxes["slack"].messages if call_id in json.dumps(m)]


@pytest.mark.parametrize("sample", sorted(ACTING))
def test_five_deliveries_make_one_side_effect_and_one_notification(
    stack: Any, rekeyed: Callable[[str, str], bytes], sample: str
) -> None:
    _reset(stack)
    tool, operation = ACTING[sample]
    call_id = f"call_five_{tool}"
    answers = _deliver(stack, rekeyed(sample, call_id), times=5)
    assert set(answers) <= {200, 202} and 202 in answers
    sfn = stack.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert [e["name"] for e in executions].count(call_id) == 1
    view = wait_settled(stack, [call_id], timeout=60)[call_id]
    assert view.outcome == "acted", view.path
    assert stack.delivery.wait_idle(timeout=30)
    assert stack.sandboxes[tool].effects[operation] == 1
    assert len(_messages_for(stack, call_id)) == 1


@pytest.mark.parametrize("sample", sorted(ACTING))
def test_a_partner_failing_the_first_two_attempts_still_gets_exactly_one_write(
    stack: Any, rekeyed: Callable[[str, str], bytes], sample: str
) -> None:
    _reset(stack)
    tool, operation = ACTING[sample]
    call_id = f"call_flaky_{tool}"
    stack.sandboxes[tool].inject(FaultPlan(first_n=2, kinds=("5xx",), only_operations=(FAULTY_OPERATION[tool],)))
    try:
        assert _deliver(stack, rekeyed(sample, call_id), times=1) == [202]
        view = wait_settled(stack, [call_id], timeout=90)[call_id]
    finally:
        stack.sandboxes[tool].inject(None)
    assert view.outcome == "acted", [(s.name, s.error) for s in view.steps]
    assert stack.delivery.wait_idle(timeout=30)
    assert stack.sandboxes[tool].effects[operation] == 1
    assert len(_messages_for(stack, call_id)) == 1


def test_the_call_record_shows_each_action_with_the_partner_record(
    stack: Any, rekeyed: Callable[[str, str], bytes]
) -> None:
    _reset(stack)
    call_id = "call_record_actions"
    sample = "variant-a_call-ended_completed_inbound_reschedule-booking.json"
    _deliver(stack, rekeyed(sample, call_id), times=1)
    wait_settled(stack, [call_id], timeout=60)
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical("HandoffTable"), Key={"pk": {"S": f"CALL#{call_id}"}}
    )["Item"]
    assert item["outcome"]["S"] == "acted"
    actions = item["actions"]["M"]
    (result,) = actions.values()
    assert result["M"]["record_id"]["S"] == "48213"
    assert result["M"]["status"]["S"] == "done"
    assert "at" in result["M"]
