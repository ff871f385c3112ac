"""The optional SES e-mail: sent once per (call, outcome) to an owner with an address, only when a sender is set."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from handoff.events.view import DynamoViewStore, outcome_view
from handoff.models import Tool
from handoff.notify.deliver import EMAIL_FROM_ENV, deliver

TABLE = "handoff-notify-test"
SENDER = "handoff@northwind.example"
EVENTS = Path(__file__).resolve().parents[2] / "events"
EVENT = json.loads((EVENTS / "notify" / "outcome-handed-off.json").read_text())
STATE = json.loads((EVENTS / "publish" / "publish-handed-off.json").read_text())["state"]


class FakeSlack:
    def __init__(self) -> None:
        self.posted: list[Any] = []

    def post_message(self, message: Any) -> Any:
        from handoff.connectors.slack import PostedMessage

        self.posted.append(message)
        return PostedMessage(channel="C0FAKE", ts=f"1.{len(self.posted):06d}")


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)
        yield


def _detail(owner_email: str | None) -> dict[str, Any]:
    """The typed event; the decision (with the owner's e-mail) is in the call record, as publish leaves it."""
    state = copy.deepcopy(STATE)
    state["decision"]["owner"]["email"] = owner_email
    DynamoViewStore(TABLE, boto3.client("dynamodb", region_name="us-east-1")).save(
        state["call"]["call_id"], EVENT["detail-type"], outcome_view(state)
    )
    return copy.deepcopy(EVENT["detail"])


def _sent() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def _deliver(detail: dict[str, Any], slack: FakeSlack) -> Any:
    return deliver(
        EVENT["detail-type"], detail, connector_for=lambda tool: slack if tool is Tool.SLACK else None, table_name=TABLE
    )


def test_an_owner_with_an_address_gets_one_email_whatever_the_redelivery(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EMAIL_FROM_ENV, SENDER)
    slack = FakeSlack()
    first = _deliver(_detail("bookings@northwind.example"), slack)
    _deliver(_detail("bookings@northwind.example"), slack)
    assert first.emailed == "bookings@northwind.example"
    (message,) = _sent()
    assert message.destinations["ToAddresses"] == ["bookings@northwind.example"]
    assert "Booking change" in message.subject
    assert len(slack.posted) == 1


def test_no_sender_configured_means_no_email(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EMAIL_FROM_ENV, raising=False)
    assert _deliver(_detail("bookings@northwind.example"), FakeSlack()).emailed is None
    assert _sent() == []


def test_an_owner_without_an_address_gets_no_email(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EMAIL_FROM_ENV, SENDER)
    assert _deliver(_detail(None), FakeSlack()).emailed is None
    assert _sent() == []
