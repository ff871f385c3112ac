"""Crash windows: the process dies between two writes that must both happen. Nothing lost, nothing doubled.

1. Between recording a call and starting its execution: the redelivery DialNexa
   sends, or the scheduled sweep, starts it, exactly once even when both race.
2. Between a partner write and its idempotency record: the redrive re-runs the
   action, and search-before-create (Billit) keeps the partner from a second write.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from stress_support import BUYING, RESCHEDULE, act_results, body_for, executions_by_name, post, wait_settled

from handoff.ingest.service import IngestService, StepFunctionsStarter
from handoff.store import DynamoCallStore

pytestmark = pytest.mark.stress


class Crash(RuntimeError):  # noqa: N818 - reads as what happened
    """The Lambda dies (timeout, OOM, a lost connection) right there."""


CRASH_HOOK = """
from pathlib import Path

from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

MARKER = Path({marker!r})
_original = BasePersistenceLayer.save_success


def _save_success_once(self, data, result):
    if not MARKER.exists():
        MARKER.write_text("crashed")
        raise RuntimeError("act died after the partner write, before recording it")
    _original(self, data, result)


BasePersistenceLayer.save_success = _save_success_once

import handoff.act.perform as _perform

_perform.worst_case_seconds = lambda action, connector=None: 0.0
_perform.BUDGET_MARGIN_SECONDS = 0.0
"""


class CrashingStarter:
    def start(self, name: str, payload: dict[str, Any]) -> str:
        raise Crash("ingest died after recording, before StartExecution")


def _service(stack: Any, starter: Any) -> IngestService:
    store = DynamoCallStore(stack.physical("HandoffTable"), 30, client=stack.client("dynamodb"))
    return IngestService(store=store, starter=starter, secrets=lambda _: [stack.options.webhook_secret])


def _crash_after_recording(stack: Any, call_id: str) -> bytes:
    from handoff.ingest.signature import sign

    body = body_for(RESCHEDULE, call_id)
    with pytest.raises(Crash):
        _service(stack, CrashingStarter()).handle(
            body, {"X-DialNexa-Signature": sign(body, stack.options.webhook_secret)}
        )
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical("HandoffTable"), Key={"pk": {"S": f"CALL#{call_id}"}}
    )["Item"]
    assert item["pending_start"]["S"] == "PENDING"
    assert call_id not in executions_by_name(stack)
    return body


def test_a_crash_before_the_start_is_finished_by_the_redelivery_once(stack: Any) -> None:
    body = _crash_after_recording(stack, "crash_redelivery")
    answers = [post(stack, body, stack.options.webhook_secret) for _ in range(3)]
    assert [a.json()["status"] for a in answers] == ["started_on_redelivery", "duplicate", "duplicate"]
    assert executions_by_name(stack)["crash_redelivery"] == 1
    assert wait_settled(stack, ["crash_redelivery"], 60)["crash_redelivery"].outcome == "acted"  # type: ignore[union-attr]


def test_a_crash_before_the_start_is_finished_by_the_sweep_once(stack: Any) -> None:
    _crash_after_recording(stack, "crash_sweep")
    starter = StepFunctionsStarter(stack.state_machine_arn, client=stack.client("stepfunctions"))
    assert "crash_sweep" in _service(stack, starter).sweep(older_than_seconds=0).started
    assert "crash_sweep" not in _service(stack, starter).sweep(older_than_seconds=0).started
    assert executions_by_name(stack)["crash_sweep"] == 1


def test_a_redelivery_racing_the_sweep_still_starts_one_execution(stack: Any) -> None:
    body = _crash_after_recording(stack, "crash_race")
    starter = StepFunctionsStarter(stack.state_machine_arn, client=stack.client("stepfunctions"))
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def redeliver() -> None:
        barrier.wait()
        statuses.append(post(stack, body, stack.options.webhook_secret).status_code)

    def sweep() -> None:
        barrier.wait()
        _service(stack, starter).sweep(older_than_seconds=0)

    threads = [threading.Thread(target=t) for t in (redeliver, redeliver, sweep, sweep)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(statuses) <= {200, 202}
    assert executions_by_name(stack)["crash_race"] == 1


def test_a_crash_between_a_partner_write_and_its_idempotency_record_doubles_nothing(
    stack: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from handoff_dev.ops_dlq import DeadLetterQueue, Redriver

    act = stack.registry.by_logical_id("ActFunction")
    monkeypatch.setattr(act, "timeout", 3)  # the crashed attempt's claim expires with its (short) invocation
    # A 3 s invocation is below any action's worst case: act's budget would rightly start nothing, so this test
    # of the crash window (not of the budget, see tests/integration/test_act_budget.py) takes the budget away,
    # in act's own environments like the crash itself (the hook below).
    # The act function runs in its own environments: the crash is injected there, before its handler loads.
    marker = tmp_path / "crashed"
    hook = tmp_path / "crash_after_partner_write.py"
    hook.write_text(CRASH_HOOK.format(marker=str(marker)), encoding="utf-8")
    monkeypatch.setattr(act, "preload", [str(hook)])
    pool = stack.registry.pool("ActFunction")
    pool.recycle()
    request.addfinalizer(pool.recycle)  # later tests get environments without the hook
    billit = stack.sandboxes["billit"]
    creates_before = billit.effects["create_party"]

    def fresh_customer(body: dict[str, Any]) -> None:
        body["payload"]["call"]["post_call_analysis"]["customer_email"] = "crash.window@example.com"
        body["payload"]["call"]["transcript"] = body["payload"]["call"]["transcript"].replace(
            "daniel.okafor@example.com", "crash.window@example.com"
        )

    assert (
        post(stack, body_for(BUYING, "crash_partner", fresh_customer), stack.options.webhook_secret).status_code == 202
    )
    first = wait_settled(stack, ["crash_partner"], 90)["crash_partner"]
    assert marker.exists() and first is not None
    assert billit.effects["create_party"] == creates_before + 1  # the write happened before the crash
    if first.status == "FAILED":
        time.sleep(act.timeout + 1)  # the in-progress claim of the dead attempt expires
        queue = DeadLetterQueue(stack.client("sqs"), stack.physical("DeadLetterQueue"), wait_seconds=0)
        result = Redriver(stack.client("stepfunctions"), queue, stack.state_machine_arn).redrive("crash_partner")
        assert result.ok, result.as_dict()
        final = wait_settled(stack, [result.execution_arn.rsplit(":", 1)[-1]], 90)
        view = next(iter(final.values()))
    else:
        view = first
    assert view is not None and view.status == "SUCCEEDED", view and view.path
    [customer] = [r for r in act_results(view) if r["operation"] == "create_customer"]
    assert customer["status"] in ("done", "already_done")
    assert billit.effects["create_party"] == creates_before + 1  # searched first: found, not created again
