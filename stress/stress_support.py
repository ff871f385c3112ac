"""Helpers shared by the stress suites (not a test module)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from handoff.ingest.signature import sign
from handoff_dev import ops
from handoff_dev.bench.embedded import set_call_id

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "events" / "dialnexa"
RESCHEDULE = "variant-a_call-ended_completed_inbound_reschedule-booking.json"
ANALYSIS_READY = "variant-b_call-analysis-ready.json"
BUYING = "variant-a_call-ended_completed_inbound_price-availability-buying-intent.json"
BILLING = "variant-a_call-ended_completed_inbound_billing-dispute-invoice.json"
DAMAGED = "variant-a_call-ended_completed_inbound_damaged-item-transferred.json"
NO_ANSWER = "variant-a_call-ended_hangup_outbound-batch_no-answer.json"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_bytes())
    return loaded


def body_for(name: str, call_id: str, edit: Any = None) -> bytes:
    """A sample body re-keyed to ``call_id`` (and optionally edited), as DialNexa would send it."""
    body = sample(name)
    set_call_id(body, call_id)
    if edit is not None:
        edit(body)
    return json.dumps(body).encode()


def post(
    stack: Any,
    body: bytes,
    secret: str | None,
    header: str = "X-DialNexa-Signature",
    session: requests.Session | None = None,
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[header] = sign(body, secret)
    return (session or requests).post(f"{stack.api_url}/webhooks/dialnexa", data=body, headers=headers, timeout=30)


def view_of(stack: Any, name: str) -> ops.ExecutionView | None:
    sfn = stack.client("stepfunctions")
    try:
        return ops.describe(sfn, ops.execution_arn_for(sfn, stack.state_machine_arn, name))
    except sfn.exceptions.ExecutionDoesNotExist:
        return None


def wait_settled(stack: Any, names: list[str], timeout: float) -> dict[str, ops.ExecutionView | None]:
    """Each execution terminal or waiting for review (or None if it never started), within ``timeout``."""
    views: dict[str, ops.ExecutionView | None] = {}
    pending = list(names)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        still = []
        for name in pending:
            view = view_of(stack, name)
            views[name] = view
            if view is None or not view.settled:
                still.append(name)
        pending = still
        if pending:
            time.sleep(0.25)
    stack.delivery.wait_idle(timeout=max(1.0, deadline - time.monotonic()))
    return views


def executions_by_name(stack: Any) -> Counter[str]:
    sfn = stack.client("stepfunctions")
    return Counter(e["name"] for e in ops.list_executions(sfn, stack.state_machine_arn, 100_000))


def document(view: ops.ExecutionView) -> dict[str, Any]:
    return view.output or view.last_input or {}


def act_results(view: ops.ExecutionView) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = (document(view).get("act") or {}).get("results") or []
    return results


def routed_actions(view: ops.ExecutionView) -> list[str]:
    actions = (document(view).get("decision") or {}).get("actions") or []
    return [f"{a['tool']}.{a['operation']}" for a in actions]


def table_items(stack: Any) -> list[dict[str, Any]]:
    ddb = stack.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": stack.physical("HandoffTable")}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def occurrences(haystack: str, needle: str) -> int:
    return haystack.count(needle)
