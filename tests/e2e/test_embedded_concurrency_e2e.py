"""Concurrent requests through the embedded stack each keep their own event, as on Lambda.

The old in-process runner called one handler module from several HTTP threads
at once. Powertools' HTTP resolver keeps the current event on the class, so two
concurrent requests could swap bodies: one call answered twice, another never
recorded (the ``make bench`` hang on bench_0000). Each environment now runs one
event at a time, so every answer names the request it was sent.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from handoff_dev.embedded.stack import DEV_PLANYO_CALLBACK_TOKEN
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

RESCHEDULE = "variant-a_call-ended_completed_inbound_reschedule-booking.json"
SENDERS = 12


def _all_at_once(count: int, send: Callable[[int], Any]) -> list[Any]:
    """Run ``send(i)`` for every i in as many threads, released together.

    The interpreter switches threads every microsecond meanwhile, so any handler
    state shared between threads of this process (the old in-process runner)
    would interleave at once; environments in their own processes are unaffected.
    """
    barrier = threading.Barrier(count)
    answers: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        answers[i] = send(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    return answers


def test_concurrent_webhooks_are_each_recorded_under_their_own_call_id(
    stack: Any, rekeyed: Callable[[str, str], bytes], samples: dict[str, bytes]
) -> None:
    assert RESCHEDULE in samples
    call_ids = [f"call_conc_{i:02d}" for i in range(SENDERS)]
    url = f"{stack.api_url}/webhooks/dialnexa"

    def send(i: int) -> tuple[int, str]:
        # API Gateway waits up to 30 s for the function; a burst queues for the pool's environments here.
        status, body, _ = post_signed(url, rekeyed(RESCHEDULE, call_ids[i]), stack.options.webhook_secret, timeout=60)
        return status, body

    answers = _all_at_once(SENDERS, send)
    for call_id, (status, body) in zip(call_ids, answers, strict=True):
        assert status == 202, body
        assert json.loads(body)["call_id"] == call_id  # the 202 names the call it was sent
    sfn = stack.client("stepfunctions")
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]]
    assert sorted(n for n in names if n.startswith("call_conc_")) == call_ids  # one execution each


def test_concurrent_planyo_callbacks_each_publish_their_own_notification(stack: Any) -> None:
    sqs, events = stack.client("sqs"), stack.client("events")
    url = sqs.create_queue(QueueName="concurrency-partner-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = stack.physical("EventBus")
    events.put_rule(Name="concurrency-spy", EventBusName=bus, EventPattern=json.dumps({"source": ["handoff.partner"]}))
    events.put_targets(Rule="concurrency-spy", EventBusName=bus, Targets=[{"Id": "spy", "Arn": arn}])
    users = [str(760000 + i) for i in range(SENDERS)]
    callback = f"{stack.api_url}/webhooks/planyo/{DEV_PLANYO_CALLBACK_TOKEN}"

    def send(i: int) -> requests.Response:
        form = {"notification_type": "user_updated", "user": users[i], "is_new_user": "0"}
        return requests.post(callback, data=form, timeout=60)

    answers = _all_at_once(SENDERS, send)
    assert [a.status_code for a in answers] == [200] * SENDERS, [a.text for a in answers]
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while len(seen) < SENDERS and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            seen.append(json.dumps(json.loads(message["Body"])["detail"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert len(seen) == SENDERS
    for user in users:
        assert sum(user in detail for detail in seen) == 1  # each callback published once, none swapped


def test_each_log_line_names_the_function_that_wrote_it(stack: Any, capfd: pytest.CaptureFixture[str]) -> None:
    """Refused webhooks and refused Planyo callbacks at once: each warning carries its own function's name."""
    webhook = f"{stack.api_url}/webhooks/dialnexa"
    callback = f"{stack.api_url}/webhooks/planyo/not-the-token"

    def send(i: int) -> int:
        if i % 2:
            return requests.post(
                callback, data={"notification_type": "user_updated", "user": "1"}, timeout=60
            ).status_code
        return post_signed(webhook, b'{"event_type": "call_ended"}', "not-the-secret", timeout=60)[0]

    capfd.readouterr()
    statuses = _all_at_once(SENDERS * 2, send)
    assert all(400 <= status < 500 for status in statuses), statuses
    records = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    by_message = {"webhook rejected": "IngestFunction", "planyo callback refused": "PartnerIngestFunction"}
    lines = [r for r in records if r.get("message") in by_message]
    assert len(lines) >= SENDERS * 2
    for record in lines:
        assert record["function_name"] == stack.physical(by_message[record["message"]]), record
