"""Partner faults: every sandbox fails ~30 % of requests (5xx, 429 with Retry-After, timeouts, dropped connections).

Every call must end acted, waiting for review, or on the dead-letter queue with
its context; no partner write may happen twice; and once the partners recover,
redriving every dead letter brings each of those calls to its end.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest
from stress_support import (
    ANALYSIS_READY,
    BILLING,
    BUYING,
    DAMAGED,
    NO_ANSWER,
    RESCHEDULE,
    act_results,
    body_for,
    post,
    wait_settled,
)

from handoff_dev import ops
from handoff_dev.sandboxes.base import FaultPlan

pytestmark = pytest.mark.stress

MIX = (RESCHEDULE, ANALYSIS_READY, BUYING, BILLING, DAMAGED, NO_ANSWER)
CALLS = 36
PLANYO_WRITES = ("modify_reservation", "set_reservation_notes")
FAULTS = dict(rate=0.30, kinds=("5xx", "429", "slow", "drop"), retry_after=0.2, slow_seconds=10.5)


def _dead_letters(stack: Any) -> dict[str, Any]:
    from handoff_dev.ops_dlq import DeadLetterQueue

    queue = DeadLetterQueue(stack.client("sqs"), stack.physical("DeadLetterQueue"), wait_seconds=0)
    return {letter.call_id: letter for letter in queue.peek()}


@pytest.fixture(scope="module")
def faulted(stack: Any) -> dict[str, Any]:
    for index, sandbox in enumerate(stack.sandboxes.values()):
        sandbox.inject(FaultPlan(seed=100 + index, **FAULTS))  # type: ignore[arg-type]
    # Planyo's writes stay down for the whole fault window (an outage longer than every retry), so
    # the calls that act there exhaust their retries and go to the dead-letter queue for the redrive.
    stack.sandboxes["planyo"].inject(
        FaultPlan(first_n=1_000_000, kinds=("5xx", "429"), retry_after=0.2, only_operations=PLANYO_WRITES)
    )
    ids = [f"fault_{i:03d}" for i in range(CALLS)]
    try:
        for i, call_id in enumerate(ids):
            answer = post(stack, body_for(MIX[i % len(MIX)], call_id), stack.options.webhook_secret)
            assert answer.status_code == 202, answer.text
        views = wait_settled(stack, ids, timeout=300)
    finally:
        for sandbox in stack.sandboxes.values():
            sandbox.inject(None)
    injected = sum(sandbox.faults is None for sandbox in stack.sandboxes.values())
    return {"ids": ids, "views": views, "letters": _dead_letters(stack), "reset": injected}


def test_every_call_ends_acted_waiting_for_review_or_dead_lettered_with_context(faulted: dict[str, Any]) -> None:
    views: dict[str, ops.ExecutionView | None] = faulted["views"]
    ends = Counter()
    for call_id, view in views.items():
        assert view is not None and view.settled, f"{call_id} did not settle: {view and view.path}"
        if view.status == "FAILED":
            letter = faulted["letters"].get(call_id)
            assert letter is not None, f"{call_id} failed but left no dead letter"
            assert letter.failed_state and letter.error_name and letter.state.get("call"), call_id
        else:
            assert view.outcome in ("acted", "waiting for review", "nothing to do"), (call_id, view.outcome)
        ends[view.outcome] += 1
    assert sum(ends.values()) == CALLS
    print(f"partner faults: {dict(ends)}; dead letters {sorted(faulted['letters'])}")


def _partner_writes_once(stack: Any, ids: list[str]) -> None:
    notes = json.dumps(stack.sandboxes["bookingmood"].tables) + json.dumps(
        [r.get("admin_notes") for r in stack.sandboxes["planyo"].reservations.values()]
    )
    written = Counter(re.findall(r"dialnexa_call_id: (fault_\d{3})\\n", notes))
    assert {call_id: n for call_id, n in written.items() if n > 1} == {}
    billit = stack.sandboxes["billit"]
    assert billit.effects["create_party"] <= 1  # every buying call is the same customer: searched first


def test_an_outage_longer_than_the_retries_dead_letters_the_calls_it_hits(faulted: dict[str, Any]) -> None:
    assert faulted["letters"], "no call reached the dead-letter queue: the redrive below would prove nothing"
    assert {d.failed_state for d in faulted["letters"].values()} <= {"Match", "Route", "Act"}


def test_no_partner_write_happens_twice_under_faults(stack: Any, faulted: dict[str, Any]) -> None:
    _partner_writes_once(stack, faulted["ids"])


def test_redriving_every_dead_letter_after_recovery_brings_each_call_to_its_end(
    stack: Any, faulted: dict[str, Any]
) -> None:
    from handoff_dev.ops_dlq import DeadLetterQueue, Redriver

    sfn = stack.client("stepfunctions")
    queue = DeadLetterQueue(stack.client("sqs"), stack.physical("DeadLetterQueue"), wait_seconds=0)
    redriver = Redriver(
        sfn, queue, stack.state_machine_arn, table=(stack.client("dynamodb"), stack.physical("HandoffTable"))
    )
    results = redriver.redrive_all()
    mine = [r for r in results if r.call_id in faulted["letters"]]
    assert {r.call_id for r in mine} == set(faulted["letters"])
    assert all(r.ok for r in mine), [r.as_dict() for r in mine if not r.ok]
    names = [r.execution_arn.rsplit(":", 1)[-1] for r in mine]
    views = wait_settled(stack, names, timeout=180)
    for name, view in views.items():
        assert view is not None and view.settled, name
        assert view.status == "SUCCEEDED" or view.waiting_for_review, (name, view.status, view.path)
        assert all(r["status"] in ("done", "already_done", "skipped") for r in act_results(view)), name
    assert queue.peek() == [] or not ({d.call_id for d in queue.peek()} & set(faulted["letters"]))
    _partner_writes_once(stack, faulted["ids"])
