"""An ambiguous, low-confidence call waits for a human, who points it at another candidate: it acts once, there.

Elena Marsh calls from an unknown number, gives her e-mail (reservation 48213)
and a booking number that belongs to another Elena's reservation (48255).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from handoff_dev import ops
from handoff_dev.cli import app as cli
from handoff_dev.demo import wait_settled
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

WEAK_RESCHEDULE = {
    "event_type": "call_ended",
    "payload": {
        "call": {
            "id": "call_weak_reschedule",
            "direction": "inbound",
            "status": "completed",
            "from_number": "15555550999",
            "to_number": "15555550100",
            "transcript": "User: I need to move my delivery to Saturday afternoon.",
            "summary": "Caller wants to move a delivery to Saturday 14 June after 1 pm.",
            "post_call_analysis": {
                "intent": "reschedule_booking",
                "customer_name": "Elena Marsh",
                "customer_email": "elena.marsh@example.com",
                "booking_id": "BK-48255",
                "requested_date": "2025-06-14T13:00:00",
            },
        }
    },
}


def _cli(stack: Any, *args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--json", "--endpoint-url", stack.aws_endpoint])
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def _terminal(stack: Any, call_id: str) -> ops.ExecutionView:
    sfn = stack.client("stepfunctions")
    arn = ops.execution_arn_for(sfn, stack.state_machine_arn, call_id)
    deadline = time.monotonic() + 30
    view = ops.describe(sfn, arn)
    while view.status not in ops.TERMINAL and time.monotonic() < deadline:
        time.sleep(0.1)
        view = ops.describe(sfn, arn)
    return view


def test_a_weak_match_waits_then_acts_once_on_the_record_the_reviewer_chose(stack: Any) -> None:
    planyo = stack.sandboxes["planyo"]
    planyo.reset()
    status, _, _ = post_signed(
        f"{stack.api_url}/webhooks/dialnexa", json.dumps(WEAK_RESCHEDULE).encode(), stack.options.webhook_secret
    )
    assert status == 202
    view = wait_settled(stack, ["call_weak_reschedule"])["call_weak_reschedule"]
    assert view.waiting_for_review
    assert planyo.effects["modify_reservation"] == 0, "nothing may change before a human approves"

    shown = json.dumps(_cli(stack, "review", "show", "call_weak_reschedule"))
    assert "48213" in shown and "48255" in shown  # both candidates, with their evidence, for the reviewer
    answer = _cli(stack, "review", "approve", "call_weak_reschedule", "--record", "48255", "--reviewer", "ana")
    assert answer["decision"] == "approve"

    done = _terminal(stack, "call_weak_reschedule")
    assert done.outcome == "acted", done.path
    assert done.output is not None
    (result,) = done.output["act"]["results"]
    assert (result["record_id"], result["status"]) == ("48255", "done")
    assert planyo.effects["modify_reservation"] == 1
    assert str(planyo.reservations[48255]["start_time"]).startswith("2025-06-14")
    assert not str(planyo.reservations[48213]["start_time"]).startswith("2025-06-14")
