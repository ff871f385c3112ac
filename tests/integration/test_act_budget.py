"""Act within its budget, and a reschedule note that a retry writes identically (issue 12, item 5)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handoff.act import operations
from handoff.act.perform import Ledger, max_action_seconds, perform_all, worst_case_seconds
from handoff.connectors.errors import RetryableError
from handoff.models import Action, ActionStatus, Tool
from handoff_dev.embedded.template import load_template

TABLE = "handoff-budget"
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


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


@dataclass
class Context:
    """A Lambda context whose clock the test sets."""

    left_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.left_ms


def _reschedule(reservation: str = "R1") -> Action:
    return Action(
        tool=Tool.PLANYO,
        operation="modify_reservation",
        target=reservation,
        params={"reservation_id": reservation, "new_start": "2025-06-14T15:00:00"},
    )


@dataclass
class Booking:
    start: datetime | None
    end: datetime | None
    admin_notes: str = ""


@dataclass
class FakePlanyo:
    """Moves and notes like Planyo; the first note write can time out after Planyo applied it."""

    booking: Booking = field(default_factory=lambda: Booking(datetime(2025, 6, 14, 13), datetime(2025, 6, 14, 14)))
    calls: list[str] = field(default_factory=list)
    lose_first_note_answer: bool = False

    def get_reservation(self, reservation: str) -> Booking:
        self.calls.append("get")
        return self.booking

    def modify_reservation(self, reservation: str, change: Any) -> Any:
        self.calls.append("modify")
        changed = (self.booking.start, self.booking.end) != (change.start, change.end)
        self.booking = Booking(change.start, change.end, self.booking.admin_notes)
        return type("Outcome", (), {"changed": changed})()

    def add_reservation_note(self, reservation: str, note: str) -> None:
        self.calls.append("note")
        if note in self.booking.admin_notes:
            return  # Planyo-side dedupe by text (connectors.planyo.add_reservation_note)
        self.booking.admin_notes = f"{self.booking.admin_notes}\n\n{note}".strip()
        if self.lose_first_note_answer:
            self.lose_first_note_answer = False
            raise RetryableError("planyo", "read timed out (the write was applied)")


def test_an_action_that_cannot_finish_before_the_deadline_is_not_started_and_is_retried(ledger: Ledger) -> None:
    planyo = FakePlanyo()
    ledger.lambda_context = Context(left_ms=int(worst_case_seconds(_reschedule()) * 1000) - 1)
    with pytest.raises(RetryableError, match="not started"):
        perform_all("call_budget_1", [_reschedule()], "Moved by phone.", lambda _: planyo, ledger)
    assert planyo.calls == []  # no partner call was even started
    ledger = Ledger(ledger.table_name, lambda_context=Context(left_ms=int(max_action_seconds() * 1000) + 1))
    [result] = perform_all("call_budget_1", [_reschedule()], "Moved by phone.", lambda _: planyo, ledger)
    assert result.status is ActionStatus.DONE


def test_act_s_timeout_covers_the_slowest_action_s_worst_case() -> None:
    template = load_template(ROOT / "template.yaml")
    assert template["Resources"]["ActFunction"]["Properties"]["Timeout"] >= max_action_seconds()


def test_a_retried_reschedule_writes_the_same_note_saying_where_the_booking_was(ledger: Ledger) -> None:
    planyo = FakePlanyo(lose_first_note_answer=True)
    with pytest.raises(RetryableError):
        perform_all("call_move_1", [_reschedule()], "Moved by phone.", lambda _: planyo, ledger)
    assert planyo.booking.start == datetime(2025, 6, 14, 15)  # moved before the answer was lost
    # The failed attempt's claim was released (the idempotency utility deletes it on error): retry.
    [result] = perform_all("call_move_1", [_reschedule()], "Moved by phone.", lambda _: planyo, Ledger(TABLE))
    assert result.status in (ActionStatus.DONE, ActionStatus.ALREADY_DONE)
    notes = planyo.booking.admin_notes
    assert notes.count("Moved by phone.") == 1
    assert "Old: 2025-06-14 13:00:00 - 2025-06-14 14:00:00. New: 2025-06-14 15:00:00" in notes


def test_an_operation_without_a_ledger_still_reads_the_times_itself() -> None:
    planyo = FakePlanyo()
    done = operations.OPERATIONS[(Tool.PLANYO, "modify_reservation")](
        planyo, operations.ActionInput(call_id="c", action=_reschedule(), note="n")
    )
    assert done.detail == "moved from 2025-06-14 13:00:00 to 2025-06-14 15:00:00"
