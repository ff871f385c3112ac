"""notify through the Slack app: owners' channels, once per (call, outcome), review message closed after a decision."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handoff.connectors.errors import RetryableError
from handoff.connectors.http import RetryPolicy
from handoff.connectors.slack import SlackConfigurationError, SlackConnector, metadata_of
from handoff.events.build import outcome_event
from handoff.events.publish import entry
from handoff.events.view import DynamoViewStore, outcome_view
from handoff.models import Tool
from handoff.notify.deliver import deliver
from handoff.notify.ledger import MessageLedger
from handoff_dev.policy_files import shipped_policy
from handoff_dev.sandboxes.base import FaultPlan
from handoff_dev.sandboxes.slack import SlackSandbox, channel_id

TABLE = "handoff-notify-slack-test"
STATE = json.loads(
    (Path(__file__).resolve().parents[2] / "events" / "publish" / "publish-handed-off.json").read_text()
)["state"]


@pytest.fixture(scope="module")
def server() -> Iterator[SlackSandbox]:
    with SlackSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def slack(server: SlackSandbox) -> SlackSandbox:
    server.reset()
    return server


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def detail(call_id: str, channel: str = "#bookings", **owner: Any) -> dict[str, Any]:
    """The state document a Publish state receives; ``send`` turns it into what notify gets."""
    body = copy.deepcopy(STATE)
    body["call"]["call_id"] = call_id
    body["decision"]["owner"].update({"slack_channel": channel, "escalation_channel": "#ops-escalations", **owner})
    return body


def send(box: SlackSandbox, outcome: str, body: dict[str, Any], **config: Any) -> Any:
    connector = SlackConnector.from_config(
        {**box.config(), **config}, retry=RetryPolicy(attempts=2), sleep=lambda _: None
    )
    # What the publish function does: the outcome view onto the call record, the typed event on the bus.
    DynamoViewStore(TABLE, boto3.client("dynamodb", region_name="us-east-1")).save(
        body["call"]["call_id"], outcome, outcome_view(body)
    )
    event = json.loads(entry(outcome_event(outcome, body, policy=shipped_policy()))["Detail"])
    return deliver(outcome, event, connector_for=lambda t: connector if t is Tool.SLACK else None, table_name=TABLE)


def test_notifications_for_two_owners_land_in_their_two_channels(slack: SlackSandbox, aws: Any) -> None:
    send(slack, "call.handed_off", detail("call_two_a", "#bookings"))
    send(slack, "call.handed_off", detail("call_two_b", "#billing"))
    assert [metadata_of(m)["call_id"] for m in slack.history("#bookings")] == ["call_two_a"]
    assert [metadata_of(m)["call_id"] for m in slack.history("#billing")] == ["call_two_b"]


def test_a_redelivered_outcome_is_posted_once_and_its_place_recorded(slack: SlackSandbox, aws: Any) -> None:
    first = send(slack, "call.handed_off", detail("call_once"))
    again = send(slack, "call.handed_off", detail("call_once"))
    assert (first.posted, again.posted) == (True, False) and len(slack.messages) == 1
    ref = MessageLedger(aws, TABLE).refs("call_once")["call.handed_off"]
    assert (ref.channel, ref.ts) == (channel_id("#bookings"), slack.messages[0]["ts"])


def test_a_post_that_timed_out_after_slack_took_it_is_found_not_posted_again(slack: SlackSandbox, aws: Any) -> None:
    slack.inject(FaultPlan(first_n=1, kinds=("slow",), slow_seconds=1.5, only_operations=("post_message",)))
    with pytest.raises(RetryableError):
        send(slack, "call.handed_off", detail("call_slow"), read_timeout=0.5)
    slack.inject(None)
    with pytest.raises(RetryableError, match="may still be posting"):  # claimed, not found yet: retry later
        send(slack, "call.handed_off", detail("call_slow"))
    deadline = time.monotonic() + 5
    while not slack.messages and time.monotonic() < deadline:  # Slack finishes the slow post
        time.sleep(0.05)
    # the redelivery looks in the channel by the call id in the metadata before posting
    retried = send(slack, "call.handed_off", detail("call_slow"))
    assert retried.posted is False and len(slack.history("#bookings")) == 1


def test_the_review_message_is_rewritten_once_the_decision_is_known(slack: SlackSandbox, aws: Any) -> None:
    send(slack, "call.review_requested", detail("call_rev"))
    [review] = slack.history("#bookings")
    assert any(b.get("block_id") == "handoff_review" for b in review["blocks"])
    approved = detail("call_rev")
    approved["review"] = {"decision": "approve", "reviewer": "slack:ana", "note": "ok"}
    send(slack, "call.handed_off", approved)
    review, outcome = slack.history("#bookings")
    assert not any(b.get("block_id") == "handoff_review" for b in review["blocks"]) and review["edits"]
    assert review["text"].startswith("Review closed: Approved") and "slack:ana" in json.dumps(review["blocks"])
    assert metadata_of(outcome) == {"call_id": "call_rev", "outcome": "call.handed_off"}


def test_an_escalated_review_lands_in_the_escalation_channel_and_closes_the_review(
    slack: SlackSandbox, aws: Any
) -> None:
    send(slack, "call.review_requested", detail("call_esc"))
    send(slack, "call.review_escalated", detail("call_esc"))
    assert slack.channels_used() == {"#bookings", "#ops-escalations"}
    [review] = slack.history("#bookings")
    assert "dead-letter queue" in json.dumps(review["blocks"])


@pytest.mark.parametrize("channel", ["#old-handoffs", "#private-finance", "#nowhere"])
def test_a_channel_slack_refuses_is_a_configuration_error_raised_to_the_dead_letter_path(
    slack: SlackSandbox, aws: Any, channel: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    with pytest.raises(SlackConfigurationError):
        send(slack, "call.handed_off", detail("call_bad", channel))
    assert slack.messages == []
    assert "SlackConfigurationErrors" in capsys.readouterr().out  # the EMF metric the alarm watches
