"""A campaign burst: 300 signed calls within 10 s against rate-limited partner sandboxes.

DialNexa batch campaigns end hundreds of calls at once. This run turns the
sandboxes' rate limits on (Slack ``chat.postMessage`` about one message per
second per channel with a short burst, docs.slack.dev "Rate limits"; the other
partners at the one stated assumption, ``sandboxes.base.ASSUMED_PARTNER_LIMIT``),
posts the calls from a few concurrent senders through the embedded stack's
HTTP API, and measures:

- ``acked_2xx``: answers 200/202 whose body names the call posted (any other
  answer is listed with its call id and status);
- ``dead_lettered`` and how many of them a rate limit caused (read from the
  event-delivery dead-letter queue with boto3, plus failed executions whose
  error names a 429);
- ``settle_seconds``: first POST to the moment every execution is terminal or
  waiting for review and every notification is delivered or dead-lettered
  (bounded: stuck calls are named with their state instead of waiting forever);
- ``floor_seconds``: the least time the partners' limits allow for the traffic
  this run actually sent. Per bucket (a Slack channel, or a partner account),
  ``max(0, requests admitted - burst) / rate``; the floor is the largest over
  buckets. It ignores the pipeline's own latency, so it is a true lower bound.

Only the stack's public surface is used (HTTP API, boto3 against its endpoint,
the sandbox objects), so the run does not care how functions are executed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from handoff_dev import ops
from handoff_dev.bench.embedded import answer_names_call, call_bodies
from handoff_dev.embedded.stack import EmbeddedStack, StackOptions
from handoff_dev.webhooks import post_signed

RATE_LIMIT_MARKERS = ("ratelimited", "rate limited", "(429)", "HTTP 429")
TARGET_SETTLE_RATIO = 1.5


@dataclass
class BucketLoad:
    """Traffic one partner bucket admitted, and the least time its limit allows for it."""

    sandbox: str
    key: str
    admitted: int
    throttled: int
    rate: float
    burst: int

    @property
    def floor_seconds(self) -> float:
        return max(0, self.admitted - self.burst) / self.rate


@dataclass
class BurstRun:
    calls: int
    senders: int
    post_seconds: float
    statuses: Counter[int]
    acked_2xx: int
    not_acked: list[str]
    settle_seconds: float
    buckets: list[BucketLoad]
    dead_lettered: int
    dead_lettered_rate_limit: int
    dead_letter_errors: Counter[str]
    failed_rate_limit: list[str]
    outcomes: Counter[str]
    executions_settled_seconds: float = 0.0
    last_message_seconds: float | None = None
    cpu_seconds: float = 0.0
    load_average: float | None = None
    stuck: list[str] = field(default_factory=list)

    @property
    def floor(self) -> BucketLoad | None:
        return max(self.buckets, key=lambda b: b.floor_seconds, default=None)

    @property
    def floor_seconds(self) -> float:
        floor = self.floor
        return floor.floor_seconds if floor else 0.0

    @property
    def settle_ratio_to_floor(self) -> float | None:
        return self.settle_seconds / self.floor_seconds if self.floor_seconds > 0 else None


def run(calls: int = 300, senders: int = 6, within: float = 10.0, timeout: float = 600.0) -> BurstRun:
    """Post ``calls`` within ``within`` seconds to a rate-limited embedded stack; wait (bounded) until all settle."""
    with EmbeddedStack(StackOptions(port=0, aws_port=0, schedules=False, log_level="ERROR")) as stack:
        for sandbox in stack.sandboxes.values():
            sandbox.limit_rates()
        bodies = call_bodies(calls, prefix="burst")
        url = f"{stack.api_url}/webhooks/dialnexa"
        secret = stack.options.webhook_secret
        local = threading.local()
        gap = within / calls

        def send(index: int) -> tuple[str, int, str]:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            # Spread the posts over the window (a campaign ending, not one instant), never slower than it.
            delay = started + index * gap - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            call_id, body = bodies[index]
            try:
                status, text, _ = post_signed(url, body, secret, session=session)
            except requests.RequestException as exc:
                return call_id, 0, f"{type(exc).__name__}"
            return call_id, status, text

        cpu0, wall0 = time.process_time(), time.time()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=senders) as pool:
            answers = list(pool.map(send, range(len(bodies))))
        post_seconds = time.perf_counter() - started
        not_acked = [
            f"{cid}: HTTP {status}" if status else f"{cid}: no answer ({text})"
            for cid, status, text in answers
            if not _names_call(status, text, cid)
        ]
        stuck, outcomes, failed_rl = _wait_settled(stack, [cid for cid, _, _ in answers], started + timeout)
        executions_settled = time.perf_counter() - started
        idle = _wait_notifications(stack, started + timeout)
        settle = time.perf_counter() - started
        cpu = time.process_time() - cpu0
        if not idle:
            stuck.append("notifications: event delivery still busy at the deadline")
        dead, dead_rl, dead_errors = _dead_letters(stack)
        return BurstRun(
            calls=calls,
            senders=senders,
            post_seconds=post_seconds,
            statuses=Counter(status for _, status, _ in answers),
            acked_2xx=calls - len(not_acked),
            not_acked=not_acked,
            settle_seconds=settle,
            buckets=_bucket_loads(stack),
            dead_lettered=dead,
            dead_lettered_rate_limit=dead_rl,
            dead_letter_errors=dead_errors,
            failed_rate_limit=failed_rl,
            outcomes=outcomes,
            executions_settled_seconds=executions_settled,
            last_message_seconds=_last_message_at(stack, wall0),
            cpu_seconds=cpu,
            load_average=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            stuck=stuck,
        )


def _last_message_at(stack: EmbeddedStack, wall0: float) -> float | None:
    """Seconds from the first POST to the last Slack message the sandbox received."""
    from datetime import datetime

    slack = stack.sandboxes.get("slack")
    stamps = [datetime.fromisoformat(m["received_at"]).timestamp() for m in (slack.messages if slack else [])]
    return max(stamps) - wall0 if stamps else None


def _names_call(status: int, text: str, call_id: str) -> bool:
    return status in (200, 202) and answer_names_call(text, call_id)


def _wait_settled(
    stack: EmbeddedStack, call_ids: list[str], deadline: float
) -> tuple[list[str], Counter[str], list[str]]:
    """Poll until every execution is terminal or waiting for review; name the rest with their state."""
    sfn = stack.client("stepfunctions")
    pending = list(call_ids)
    views: dict[str, ops.ExecutionView] = {}
    while pending and time.perf_counter() < deadline:
        still = []
        for call_id in pending:
            try:
                arn = ops.execution_arn_for(sfn, stack.state_machine_arn, call_id)
                if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                    view = ops.describe(sfn, arn)
                    if not view.settled:
                        still.append(call_id)
                        continue
                views[call_id] = ops.describe(sfn, arn)
            except sfn.exceptions.ExecutionDoesNotExist:
                still.append(call_id)
        pending = still
        if pending:
            time.sleep(1.0)
    stuck = []
    for call_id in pending:
        try:
            view = ops.describe(sfn, ops.execution_arn_for(sfn, stack.state_machine_arn, call_id))
            stuck.append(f"{call_id}: {view.status} in {view.current_state or '?'}")
        except sfn.exceptions.ExecutionDoesNotExist:
            stuck.append(f"{call_id}: no execution started")
    failed_rate_limit = [
        f"{cid}: {_failure(view)}"
        for cid, view in views.items()
        if view.status == "FAILED" or view.outcome == "dead-lettered"
        if any(m in json.dumps(view.output or view.last_input or {}) for m in RATE_LIMIT_MARKERS)
    ]
    return stuck, Counter(view.outcome for view in views.values()), failed_rate_limit


def _failure(view: ops.ExecutionView) -> str:
    """The first state that failed and its error, e.g. ``Match after 4 attempts: RetryableError: …``."""
    failed = [step for step in view.steps if step.error]
    if not failed:
        return "failed (no state error in the history)"
    step = failed[0]  # the first error is the cause; later ones are the failure path
    return f"{step.name} after {step.attempts} attempts: {step.error}: {(step.cause or '')[:160]}"


def _wait_notifications(stack: EmbeddedStack, deadline: float) -> bool:
    """Every outcome event delivered to notify or dead-lettered (bounded)."""
    delivery = getattr(stack, "delivery", None)
    if delivery is not None and hasattr(delivery, "wait_idle"):
        return bool(delivery.wait_idle(timeout=max(1.0, deadline - time.perf_counter())))
    # Without the in-process delivery: settled when Slack has had no new message for 5 s.
    slack = stack.sandboxes.get("slack")
    seen, quiet_since = -1, time.perf_counter()
    while time.perf_counter() < deadline:
        count = len(slack.messages) if slack is not None else 0
        if count != seen:
            seen, quiet_since = count, time.perf_counter()
        elif time.perf_counter() - quiet_since > 5:
            return True
        time.sleep(0.5)
    return False


def _dead_letters(stack: EmbeddedStack) -> tuple[int, int, Counter[str]]:
    """(all, caused by a rate limit, the errors named) on the event-delivery dead-letter queue."""
    sqs = stack.client("sqs")
    url = stack.physical("EventDeliveryDeadLetterQueue")  # a queue's Ref is its URL
    total = by_rate_limit = 0
    errors: Counter[str] = Counter()
    while True:
        page = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=600
        )
        messages = page.get("Messages") or []
        if not messages:
            return total, by_rate_limit, errors
        for message in messages:
            total += 1
            attributes = message.get("MessageAttributes") or {}
            text = message.get("Body", "") + json.dumps(attributes)
            by_rate_limit += any(m in text for m in RATE_LIMIT_MARKERS)
            errors[str((attributes.get("ERROR_CODE") or {}).get("StringValue") or "?")[:200]] += 1


def _bucket_loads(stack: EmbeddedStack) -> list[BucketLoad]:
    """What each rate-limited bucket admitted: Slack per channel, every other partner per account."""
    loads = []
    for name, sandbox in stack.sandboxes.items():
        limit = sandbox.active_limit
        if limit is None:
            continue
        if name == "slack":
            per_channel = Counter(m["channel"] for m in sandbox.messages)
            for channel, admitted in per_channel.items():
                key = f"post_message:{channel}"
                loads.append(BucketLoad(name, key, admitted, sandbox.throttled[key], limit.rate, limit.burst))
        else:
            throttled = sum(sandbox.throttled.values())
            admitted = sum(sandbox.requests.values()) - throttled
            loads.append(BucketLoad(name, "account", admitted, throttled, limit.rate, limit.burst))
    return loads


def figures(result: BurstRun) -> dict[str, Any]:
    """The ``burst`` entry of ``benchmarks/results.json``."""
    floor = result.floor
    ratio = result.settle_ratio_to_floor
    misses = []
    if result.acked_2xx < result.calls:
        misses.append(f"{result.calls - result.acked_2xx} calls not acknowledged 2xx: {result.not_acked[:5]}")
    if result.dead_lettered_rate_limit or result.failed_rate_limit:
        misses.append(
            f"{result.dead_lettered_rate_limit} notifications dead-lettered and "
            f"{len(result.failed_rate_limit)} executions failed because of a rate limit: {result.failed_rate_limit[:3]}"
        )
    if ratio is not None and ratio > TARGET_SETTLE_RATIO:
        busy = result.cpu_seconds / result.settle_seconds if result.settle_seconds else 0.0
        misses.append(
            f"settled in {result.settle_seconds:.1f} s, {ratio:.2f}x the partners' floor; the stack's one process "
            f"used {result.cpu_seconds:.0f} s CPU in that time ({busy:.0%} of a core; machine load "
            f"{result.load_average or 0:.1f}), posting took {result.post_seconds:.1f} s of the 10 s window"
        )
    if result.stuck:
        misses.append(f"{len(result.stuck)} not settled at the deadline: {result.stuck[:5]}")
    return {
        "acked_2xx": result.acked_2xx,
        "calls": result.calls,
        "senders": result.senders,
        "post_seconds": round(result.post_seconds, 2),
        "http_statuses": dict(result.statuses),
        "dead_lettered": result.dead_lettered,
        "dead_lettered_rate_limit": result.dead_lettered_rate_limit,
        "dead_letter_errors": dict(result.dead_letter_errors.most_common(5)),
        "executions_failed_rate_limit": len(result.failed_rate_limit),
        "settle_seconds": round(result.settle_seconds, 1),
        "floor_seconds": round(result.floor_seconds, 1),
        "floor_bucket": f"{floor.sandbox} {floor.key}" if floor else None,
        "settle_ratio_to_floor": round(ratio, 3) if ratio is not None else None,
        "executions_settled_seconds": round(result.executions_settled_seconds, 1),
        "last_slack_message_seconds": round(result.last_message_seconds, 1) if result.last_message_seconds else None,
        "process_cpu_seconds": round(result.cpu_seconds, 1),
        "load_average_1m": round(result.load_average, 1) if result.load_average is not None else None,
        "target": TARGET_SETTLE_RATIO,
        "floor": "max over rate-limited buckets (a Slack channel, a partner account) of "
        "max(0, requests admitted - burst) / rate, for the traffic this run sent; pipeline latency not included",
        "buckets": {
            f"{b.sandbox} {b.key}": {
                "admitted": b.admitted,
                "throttled_429": b.throttled,
                "floor_s": round(b.floor_seconds, 1),
            }
            for b in sorted(result.buckets, key=lambda b: -b.floor_seconds)
        },
        "outcomes": dict(result.outcomes),
        "stuck": result.stuck[:20],
        "misses": misses,
        "measured": "first POST to every execution terminal or waiting for review and every notification delivered "
        "or dead-lettered; embedded stack with the sandboxes' rate limits on",
    }
