"""Slack interactive approval on the embedded stack: the review message's buttons, a signed click, a forged one."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from handoff.slack_interactions import ACTION_APPROVE, ACTION_REJECT, signature
from handoff_dev import ops
from handoff_dev.demo import wait_settled
from handoff_dev.sandboxes.slack import SIGNING_SECRET
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

DAMAGED = "variant-a_call-ended_completed_inbound_damaged-item-transferred.json"
ANA = {"id": "U0SANDBOXANA", "username": "ana", "name": "ana"}
"""An approver of the damaged-item call's owning team in the routing policy (route/policy.yaml)."""
BOB = {"id": "U0SANDBOXBOB", "username": "bob", "name": "bob"}
"""In the workspace, named by no team's approvers."""


def _post_call(stack: Any, samples: dict[str, bytes], call_id: str) -> None:
    body = json.loads(samples[DAMAGED])
    body["payload"]["call"]["id"] = call_id
    status, _, _ = post_signed(
        f"{stack.api_url}/webhooks/dialnexa", json.dumps(body).encode(), stack.options.webhook_secret
    )
    assert status == 202
    assert wait_settled(stack, [call_id])[call_id].waiting_for_review
    # RequestReview is entered before its function has opened the review on the call record:
    # click only once the review is open (under load the gap is long enough to click into).
    table, deadline = stack.physical("HandoffTable"), time.monotonic() + 15
    while time.monotonic() < deadline:
        item = stack.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": f"CALL#{call_id}"}}).get("Item")
        if item and item.get("review_status", {}).get("S") == "waiting":
            return
        time.sleep(0.05)
    raise AssertionError(f"the review of {call_id} never opened")


def _click(
    stack: Any,
    action_id: str,
    call_id: str,
    secret: str = SIGNING_SECRET,
    user: dict[str, str] | None = None,
    response_url: str | None = None,
) -> requests.Response:
    """POST what Slack sends when a user clicks a button: a signed form with the block_actions payload."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": user or ANA,
        "actions": [{"action_id": action_id, "block_id": "handoff_review", "value": call_id, "type": "button"}],
    }
    if response_url:
        payload["response_url"] = response_url
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature(secret, stamp, body),
    }
    return requests.post(f"{stack.api_url}/slack/interactions", data=body, headers=headers, timeout=30)


def _finished(stack: Any, call_id: str) -> ops.ExecutionView:
    sfn = stack.client("stepfunctions")
    arn = ops.execution_arn_for(sfn, stack.state_machine_arn, call_id)
    deadline = time.monotonic() + 30
    while True:
        view = ops.describe(sfn, arn)
        if view.status in ops.TERMINAL or time.monotonic() > deadline:
            return view
        time.sleep(0.1)


def _review_buttons(stack: Any, call_id: str, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The decision buttons of the review message posted for a call (notify posts it asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(stack.sandboxes["slack"].messages):
            buttons = [
                e
                for block in message["blocks"]
                if block.get("type") == "actions"
                for e in block.get("elements", [])
                if e.get("value") == call_id
            ]
            if buttons:
                return buttons
        time.sleep(0.1)
    return []


def _still_waiting(stack: Any, call_id: str) -> bool:
    sfn = stack.client("stepfunctions")
    view = ops.describe(sfn, ops.execution_arn_for(sfn, stack.state_machine_arn, call_id))
    return view.status == "RUNNING" and view.waiting_for_review


def test_the_review_message_in_slack_carries_approve_and_reject_buttons_for_the_call(
    stack: Any, samples: dict[str, bytes]
) -> None:
    _post_call(stack, samples, "call_slk_buttons")
    buttons = _review_buttons(stack, "call_slk_buttons")
    assert [b["action_id"] for b in buttons] == [ACTION_APPROVE, ACTION_REJECT]


def test_a_signed_approve_click_resumes_the_call_as_approved_by_the_slack_user(
    stack: Any, samples: dict[str, bytes]
) -> None:
    _post_call(stack, samples, "call_slk_approve")
    answer = _click(stack, ACTION_APPROVE, "call_slk_approve")
    assert answer.status_code == 200
    assert answer.json()["text"] == "Approved by ana (call call_slk_approve)"
    view = _finished(stack, "call_slk_approve")
    assert view.status == "SUCCEEDED" and "Act" in view.path and view.path[-1] == "Act"
    assert view.output is not None
    assert (view.output["review"]["reviewer"], view.output["review"]["reviewer_name"]) == ("slack:U0SANDBOXANA", "ana")


def test_a_second_click_is_answered_200_saying_it_was_already_decided(stack: Any, samples: dict[str, bytes]) -> None:
    _post_call(stack, samples, "call_slk_twice")
    assert _click(stack, ACTION_APPROVE, "call_slk_twice").status_code == 200
    _finished(stack, "call_slk_twice")
    again = _click(stack, ACTION_REJECT, "call_slk_twice")
    assert again.status_code == 200
    assert "already approved by ana (slack:U0SANDBOXANA) at " in again.json()["text"]
    assert _finished(stack, "call_slk_twice").path[-1] == "Act"


def test_a_signed_reject_click_ends_the_call_as_rejected_in_slack(stack: Any, samples: dict[str, bytes]) -> None:
    _post_call(stack, samples, "call_slk_reject")
    answer = _click(stack, ACTION_REJECT, "call_slk_reject")
    assert answer.status_code == 200 and answer.json()["text"].startswith("Rejected by ana")
    view = _finished(stack, "call_slk_reject")
    assert view.path[-1] == "Rejected" and "Act" not in view.path
    assert view.output is not None
    assert json.loads(view.output["rejection"]["Cause"])["reason"] == "rejected in Slack by ana"


def test_a_forged_click_gets_401_and_decides_nothing(stack: Any, samples: dict[str, bytes]) -> None:
    _post_call(stack, samples, "call_slk_forged")
    answer = _click(stack, ACTION_APPROVE, "call_slk_forged", secret="not-the-signing-secret")
    assert answer.status_code == 401
    assert "does not match" in answer.json()["detail"]
    assert _still_waiting(stack, "call_slk_forged")


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback stand-in for Slack's response_url that keeps what was posted to it."""
    received: list[dict[str, Any]] = []

    class Capture(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/actions/T0/1/abc", received
    server.shutdown()
    server.server_close()


def test_a_click_from_someone_the_policy_does_not_name_is_refused_to_them_alone_and_changes_nothing(
    stack: Any, samples: dict[str, bytes], response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    _post_call(stack, samples, "call_slk_stranger")
    url, received = response_url
    answer = _click(stack, ACTION_APPROVE, "call_slk_stranger", user=BOB, response_url=url)
    assert answer.status_code == 200
    [told] = received
    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert "you are not an approver for claims; nothing changed" in told["text"]
    assert answer.json()["text"] == told["text"]
    assert _still_waiting(stack, "call_slk_stranger")
    assert _click(stack, ACTION_APPROVE, "call_slk_stranger").json()["text"].startswith("Approved by ana")


@pytest.mark.timed
def test_a_click_is_answered_within_slacks_three_seconds(stack: Any, samples: dict[str, bytes]) -> None:
    _post_call(stack, samples, "call_slk_fast")
    started = time.monotonic()
    answer = _click(stack, ACTION_APPROVE, "call_slk_fast")
    elapsed = time.monotonic() - started
    assert answer.status_code == 200 and elapsed < 3.0, f"answered in {elapsed:.2f} s"


@pytest.mark.parametrize("payload", ["[" * 100_000 + "]" * 100_000, "x" * (2 * 1024 * 1024)])
def test_a_nested_or_huge_signed_body_is_a_400_not_a_500(stack: Any, payload: str) -> None:
    body = urlencode({"payload": payload}).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature(SIGNING_SECRET, stamp, body),
    }
    answer = requests.post(f"{stack.api_url}/slack/interactions", data=body, headers=headers, timeout=30)
    assert answer.status_code == 400, answer.text
    assert answer.json()["title"] == "invalid interaction"


def _billing_review(stack: Any, call_id: str) -> None:
    """A call waiting for Billing and finance (approvers: the S0SANDBOXFIN user group), started at its review."""
    state = {
        "call": {"call_id": call_id, "event": "call.ended", "status": "completed"},
        "settings": {"analysis_grace_seconds": 0, "review_timeout_seconds": 600},
        "decision": {
            "mode": "review",
            "intent": "refund_request",
            "owner": {"team": "Billing and finance", "slack_channel": "#billing"},
            "reasons": ["money at stake"],
            "handoff": {"title": "Refund request"},
        },
        "resume_at": "RequestReview",
    }
    stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.state_machine_arn, name=call_id, input=json.dumps(state)
    )
    assert wait_settled(stack, [call_id])[call_id].waiting_for_review


def test_a_member_of_the_approving_user_group_may_decide_and_a_non_member_may_not(stack: Any) -> None:
    _billing_review(stack, "call_slk_group")
    refused = _click(stack, ACTION_APPROVE, "call_slk_group", user=ANA)
    assert "you are not an approver for billing" in refused.json()["text"]
    assert _still_waiting(stack, "call_slk_group")
    cal = {"id": "U0SANDBOXCAL", "username": "cal", "name": "cal"}
    answer = _click(stack, ACTION_APPROVE, "call_slk_group", user=cal)
    assert answer.json()["text"] == "Approved by cal (call call_slk_group)"
    view = _finished(stack, "call_slk_group")
    assert view.output is not None and view.output["review"]["reviewer"] == "slack:U0SANDBOXCAL"
