"""Decisions on different calls never interfere: 20 reviewers decide 20 calls at the same moment, all apply.

Before reviews lived on the call record, each decision received and hid every
message of an SQS review queue to find its own, so simultaneous decisions on
different calls answered "no review is waiting" (3 of 18 applied).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from handoff_dev import ops
from handoff_dev.demo import wait_settled
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

NO_DATA = "variant-a_call-ended_completed_inbound_no-identifying-data.json"
CALLS = 20


def _signed_decision(stack: Any, call_id: str, access_key: str, body: dict[str, Any]) -> requests.Response:
    """POST the IAM route as a SigV4-signed caller (the embedded API reports the key's user as the caller)."""
    url = f"{stack.api_url}/reviews/{call_id}/decision"
    request = AWSRequest("POST", url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(access_key, "embedded-secret"), "execute-api", "us-east-1").add_auth(request)
    return requests.post(url, data=request.body, headers=dict(request.headers), timeout=60)


def _terminal(stack: Any, call_id: str) -> ops.ExecutionView:
    sfn = stack.client("stepfunctions")
    arn = ops.execution_arn_for(sfn, stack.state_machine_arn, call_id)
    deadline = time.monotonic() + 60
    view = ops.describe(sfn, arn)
    while view.status not in ops.TERMINAL and time.monotonic() < deadline:
        time.sleep(0.2)
        view = ops.describe(sfn, arn)
    return view


def test_twenty_decisions_on_twenty_calls_at_once_all_apply_and_a_second_decision_names_the_first(
    stack: Any, rekeyed: Any
) -> None:
    calls = [f"call_conc_{i:02d}" for i in range(CALLS)]
    for call_id in calls:
        status, _, _ = post_signed(
            f"{stack.api_url}/webhooks/dialnexa", rekeyed(NO_DATA, call_id), stack.options.webhook_secret
        )
        assert status == 202
    views = wait_settled(stack, calls, timeout=120)
    assert all(views[c].waiting_for_review for c in calls)

    start = threading.Barrier(CALLS)
    answers: dict[str, requests.Response] = {}

    def decide(i: int, call_id: str) -> None:
        start.wait()
        answers[call_id] = _signed_decision(stack, call_id, f"AKIDREVIEWER{i:02d}", {"decision": "approve"})

    threads = [threading.Thread(target=decide, args=(i, c)) for i, c in enumerate(calls)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began

    statuses = {c: answers[c].status_code for c in calls}
    assert statuses == dict.fromkeys(calls, 200), {c: answers[c].text for c in calls if statuses[c] != 200}
    for i, call_id in enumerate(calls):
        assert answers[call_id].json()["outcome"]["reviewer"] == f"arn:aws:iam::123456789012:user/AKIDREVIEWER{i:02d}"
    ends = {c: _terminal(stack, c).path[-1] for c in calls}
    assert ends == dict.fromkeys(calls, "Act")
    print(f"\n{CALLS} simultaneous decisions on {CALLS} calls: all applied in {elapsed:.2f} s")

    again = _signed_decision(stack, calls[7], "AKIDLATECOMER", {"decision": "reject", "reason": "too late"})
    assert again.status_code == 409
    assert again.json()["title"] == "already decided"
    assert "already approved by arn:aws:iam::123456789012:user/AKIDREVIEWER07 at " in again.json()["detail"]
