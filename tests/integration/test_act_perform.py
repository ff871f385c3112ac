"""act performs each action exactly once, retries only what failed, and honours the reviewer's edits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handoff.act import operations
from handoff.act.operations import ActionInput, Performed
from handoff.act.perform import ActionsFailed, Ledger, apply_review, perform_all
from handoff.connectors.errors import RetryableError
from handoff.models import Action, ActionStatus, ReviewOutcome, Tool

TABLE = "handoff-test"


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield Ledger(TABLE)


class FakeTool:
    """A connector stand-in whose writes are counted and can be made to fail."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.failures: dict[str, list[Exception]] = {}

    def write(self, inp: ActionInput) -> Performed:
        target = inp.action.target or "-"
        pending = self.failures.get(target) or []
        if pending:
            raise pending.pop(0)
        self.writes.append(target)
        return Performed(record_id=target, detail="written")


@pytest.fixture
def tool(monkeypatch: pytest.MonkeyPatch) -> FakeTool:
    fake = FakeTool()
    monkeypatch.setitem(operations.OPERATIONS, (Tool.PLANYO, "fake_write"), lambda connector, inp: fake.write(inp))
    return fake


def _action(target: str, operation: str = "fake_write") -> Action:
    return Action(tool=Tool.PLANYO, operation=operation, target=target, params={"reservation_id": target})


def _connectors(tool: Tool) -> Any:
    return object() if tool is Tool.PLANYO else None


def _fresh(ledger: Ledger) -> Ledger:
    """A new invocation's ledger (same table, nothing remembered in memory)."""
    return Ledger(ledger.table_name)


def test_an_action_performed_twice_writes_once_and_reports_already_done(ledger: Ledger, tool: FakeTool) -> None:
    first = perform_all("call_1", [_action("48213")], "note", _connectors, ledger)
    again = perform_all("call_1", [_action("48213")], "note", _connectors, _fresh(ledger))
    assert tool.writes == ["48213"]
    assert [r.status for r in first] == [ActionStatus.DONE]
    assert [r.status for r in again] == [ActionStatus.ALREADY_DONE]


def test_the_same_action_for_another_call_is_its_own_write(ledger: Ledger, tool: FakeTool) -> None:
    perform_all("call_1", [_action("48213")], "note", _connectors, ledger)
    perform_all("call_2", [_action("48213")], "note", _connectors, _fresh(ledger))
    assert tool.writes == ["48213", "48213"]


def test_a_partial_failure_retries_only_what_failed(ledger: Ledger, tool: FakeTool) -> None:
    tool.failures["B"] = [RetryableError("planyo", "503 from partner")]
    with pytest.raises(RetryableError):
        perform_all("call_1", [_action("A"), _action("B")], "note", _connectors, ledger)
    assert tool.writes == ["A"]
    results = perform_all("call_1", [_action("A"), _action("B")], "note", _connectors, _fresh(ledger))
    assert tool.writes == ["A", "B"]
    assert [r.status for r in results] == [ActionStatus.ALREADY_DONE, ActionStatus.DONE]


def test_only_rate_limits_in_the_way_raise_rate_limited_for_the_long_retrier(ledger: Ledger, tool: FakeTool) -> None:
    from handoff.connectors.errors import RateLimitedError

    tool.failures["B"] = [RateLimitedError("planyo", "rate limited (429)")]
    with pytest.raises(RateLimitedError):
        perform_all("call_1", [_action("A"), _action("B")], "note", _connectors, ledger)
    assert tool.writes == ["A"]


def test_a_fault_beside_a_rate_limit_keeps_the_fault_retrier(ledger: Ledger, tool: FakeTool) -> None:
    from handoff.connectors.errors import RateLimitedError

    tool.failures["A"] = [RateLimitedError("planyo", "rate limited (429)")]
    tool.failures["B"] = [RetryableError("planyo", "503 from partner")]
    with pytest.raises(RetryableError) as raised:
        perform_all("call_1", [_action("A"), _action("B")], "note", _connectors, ledger)
    assert type(raised.value) is RetryableError


def test_a_permanent_failure_fails_the_call_after_trying_the_others(ledger: Ledger, tool: FakeTool) -> None:
    from handoff.connectors.errors import NotFoundError

    tool.failures["A"] = [NotFoundError("planyo", "reservation A not found")]
    with pytest.raises(ActionsFailed, match="reservation A not found"):
        perform_all("call_1", [_action("A"), _action("B")], "note", _connectors, ledger)
    assert tool.writes == ["B"]


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (_action("A", operation="teleport"), "cannot perform planyo.teleport"),
        (Action(tool=Tool.BILLIT, operation="create_customer", target=None), "not configured"),
    ],
    ids=["unknown operation", "unconfigured tool"],
)
def test_an_action_act_cannot_perform_fails_the_call_naming_why(
    ledger: Ledger, tool: FakeTool, action: Action, message: str
) -> None:
    with pytest.raises(ActionsFailed, match=message):
        perform_all("call_1", [action], "note", _connectors, ledger)


def test_input_the_partner_model_refuses_fails_naming_the_field(ledger: Ledger) -> None:
    bad = Action(tool=Tool.PLANYO, operation="add_user", params={"email": "not-an-email", "first_name": "Ada"})
    with pytest.raises(ActionsFailed, match="email"):
        perform_all("call_1", [bad], "note", _connectors, ledger)


def test_the_reviewer_can_point_actions_at_another_record() -> None:
    actions, dropped = apply_review([_action("48213")], ReviewOutcome(record_id="48255"))
    assert (actions[0].target, actions[0].params["reservation_id"], dropped) == ("48255", "48255", [])


def test_the_reviewer_can_drop_an_action() -> None:
    keep, drop = _action("A"), _action("B")
    actions, dropped = apply_review([keep, drop], ReviewOutcome(drop_actions=[drop.key]))
    assert ([a.key for a in actions], dropped) == ([keep.key], [drop.key])


def test_a_dropped_action_is_reported_skipped_and_not_written(ledger: Ledger, tool: FakeTool) -> None:
    results = perform_all("call_1", [_action("A")], "note", _connectors, ledger, dropped=["planyo:fake_write:B"])
    assert [(r.action_key, r.status) for r in results] == [
        ("planyo:fake_write:B", ActionStatus.SKIPPED),
        ("planyo:fake_write:A", ActionStatus.DONE),
    ]
    assert tool.writes == ["A"]
