"""Slack app connector (slack_sdk, bot token) against the Web API sandbox: post, update, find, errors, no leaks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from handoff.connectors.errors import AuthError, RateLimitedError, RejectedInputError, RetryableError
from handoff.connectors.http import RetryPolicy
from handoff.connectors.slack import (
    ASSUMPTIONS,
    PostedMessage,
    SlackConfigurationError,
    SlackConnector,
    SlackMessage,
    error_for,
    metadata_of,
)
from handoff_dev.sandboxes.base import FaultPlan
from handoff_dev.sandboxes.slack import BOT_TOKEN, NO_SCOPE_TOKEN, SlackSandbox, channel_id

FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
BLOCKS = (
    {"type": "header", "text": {"type": "plain_text", "text": "Booking change: BK-48377"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Hannah Reid* asked to confirm delivery on 18 Jun."}},
)


@pytest.fixture(scope="module")
def server() -> Iterator[SlackSandbox]:
    sandbox = SlackSandbox()
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(server: SlackSandbox) -> SlackSandbox:
    server.reset()
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def connect(sandbox: SlackSandbox, sleeps: list[float], **overrides: Any) -> SlackConnector:
    options = {k: overrides.pop(k) for k in ("read_timeout",) if k in overrides}
    return SlackConnector.from_config({**sandbox.config(), **overrides}, retry=FAST, sleep=sleeps.append, **options)


def message(**overrides: Any) -> SlackMessage:
    fields = {"text": "Booking change for Hannah Reid (BK-48377)", "blocks": BLOCKS, "channel": "#bookings"}
    return SlackMessage(**{**fields, **overrides})


# -- configuration and health -------------------------------------------------------------------
def test_check_calls_auth_test_and_names_the_bot(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    report = connect(sandbox, sleeps).check()
    assert (report.reachable, report.authenticated) == (True, True) and "handoff-sandbox" in report.detail
    assert sandbox.messages == []


def test_check_reports_a_revoked_token(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    report = connect(sandbox, sleeps, bot_token="xoxb-revoked-0000").check()
    assert (report.reachable, report.authenticated) == (True, False) and "invalid_auth" in report.detail


def test_check_reports_an_unreachable_api(sleeps: list[float]) -> None:
    connector = SlackConnector.from_config(
        {"base_url": "http://127.0.0.1:9/api/", "bot_token": BOT_TOKEN}, retry=FAST, sleep=sleeps.append
    )
    report = connector.check()
    assert (report.reachable, report.authenticated) == (False, False)


@pytest.mark.parametrize("token", ["", "xoxp-a-user-token", "https://hooks.slack.com/services/T0/B0/abc"])
def test_only_a_bot_token_is_accepted_and_never_echoed(token: str) -> None:
    with pytest.raises(AuthError) as caught:
        SlackConnector.from_config({"bot_token": token})
    assert "bot_token" in str(caught.value) and (not token or token not in str(caught.value))


# -- posting ------------------------------------------------------------------------------------
def test_post_message_lands_in_the_named_channel_with_the_call_id_in_metadata(
    sandbox: SlackSandbox, sleeps: list[float]
) -> None:
    posted = connect(sandbox, sleeps).post_message(message(call_id="call_6Pz9", outcome="handed_off"))
    assert posted == PostedMessage(channel=channel_id("#bookings"), ts=posted.ts) and posted.ts
    [kept] = sandbox.history("#bookings")
    assert kept["text"].startswith("Booking change") and kept["blocks"] == list(BLOCKS)
    assert metadata_of(kept) == {"call_id": "call_6Pz9", "outcome": "handed_off"}


def test_two_channels_get_their_own_messages(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    slack = connect(sandbox, sleeps)
    slack.post_message(message(channel="#bookings"))
    slack.post_message(message(channel="#billing", text="Invoice question"))
    assert sandbox.channels_used() == {"#bookings", "#billing"}
    assert [m["text"] for m in sandbox.history("#billing")] == ["Invoice question"]


def test_without_a_channel_the_default_channel_is_used(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    connect(sandbox, sleeps).post_message(message(channel=None))
    assert sandbox.channels_used() == {"#handoff-ops"}


def test_update_rewrites_the_message_in_place(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    slack = connect(sandbox, sleeps)
    posted = slack.post_message(message(call_id="call_upd", outcome="review_requested"))
    slack.update_message(posted, SlackMessage(text="Review closed: approved", call_id="call_upd"))
    [kept] = sandbox.messages
    assert kept["text"] == "Review closed: approved" and kept["blocks"] == [] and len(kept["edits"]) == 1


def test_update_needs_the_channel_id_slack_answered(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    slack = connect(sandbox, sleeps)
    posted = slack.post_message(message())
    with pytest.raises(SlackConfigurationError, match="channel_not_found"):
        slack.update_message(PostedMessage(channel="#bookings", ts=posted.ts), message())


def test_find_message_finds_a_post_by_its_call_id(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    slack = connect(sandbox, sleeps)
    slack.post_message(message(call_id="call_other", outcome="handed_off"))
    posted = slack.post_message(message(call_id="call_find", outcome="handed_off"))
    assert slack.find_message(posted.channel, "call_find", "handed_off", oldest=0) == posted
    assert slack.find_message(posted.channel, "call_find", "rejected", oldest=0) is None


# -- Slack's refusals ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("channel", "code"),
    [("#nowhere", "channel_not_found"), ("#old-handoffs", "is_archived"), ("#private-finance", "not_in_channel")],
)
def test_channel_problems_are_configuration_errors(
    sandbox: SlackSandbox, sleeps: list[float], channel: str, code: str
) -> None:
    with pytest.raises(SlackConfigurationError, match=code) as caught:
        connect(sandbox, sleeps).post_message(message(channel=channel))
    assert "invited" in str(caught.value) and sandbox.messages == []


def test_a_token_without_chat_write_is_a_missing_scope_configuration_error(
    sandbox: SlackSandbox, sleeps: list[float]
) -> None:
    with pytest.raises(SlackConfigurationError, match="missing_scope"):
        connect(sandbox, sleeps, bot_token=NO_SCOPE_TOKEN).post_message(message())


def test_rate_limits_are_waited_out_with_retry_after_then_posted_once(
    sandbox: SlackSandbox, sleeps: list[float]
) -> None:
    sandbox.rate_limit(2, retry_after=3)
    connect(sandbox, sleeps).post_message(message())
    assert sleeps == [3.0, 3.0] and len(sandbox.messages) == 1


def test_a_rate_limit_that_outlasts_the_retries_is_retryable(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    sandbox.rate_limit(5, retry_after=2)
    with pytest.raises(RetryableError) as caught:
        connect(sandbox, sleeps).post_message(message())
    assert caught.value.retry_after == 2.0 and "ratelimited" in str(caught.value) and sandbox.messages == []


@pytest.mark.parametrize("kind", ["5xx", "drop"])
def test_server_errors_and_dropped_connections_are_raised_not_retried(
    sandbox: SlackSandbox, sleeps: list[float], kind: str
) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=(kind,)))
    with pytest.raises(RetryableError):
        connect(sandbox, sleeps).post_message(message())
    assert sandbox.requests["post_message"] == 1


def test_a_timeout_is_raised_for_the_caller_to_look_before_posting_again(
    sandbox: SlackSandbox, sleeps: list[float]
) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("slow",), slow_seconds=0.5))
    with pytest.raises(RetryableError, match="in transit"):
        connect(sandbox, sleeps, read_timeout=0.1).post_message(message())


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (200, "not_in_channel", SlackConfigurationError),
        (200, "invalid_blocks", RejectedInputError),
        (200, "message_not_found", RejectedInputError),
        (429, "ratelimited", RateLimitedError),
        (200, "internal_error", RetryableError),
        (200, "something_new", RejectedInputError),
        (503, "", RetryableError),
    ],
)
def test_slack_error_codes_map_onto_the_taxonomy(status: int, code: str, expected: type[Exception]) -> None:
    assert type(error_for("chat.postMessage", status, code)) is expected


# -- the sandbox speaks the Web API -------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"channel": "#bookings"}, "no_text"),
        ({"channel": "#bookings", "text": "hi", "blocks": [{}]}, "invalid_blocks"),
        ({"channel": "#bookings", "text": "hi", "metadata": {"event_type": "x"}}, "invalid_metadata_format"),
        ({"channel": "C0NOWHERE", "text": "hi"}, "channel_not_found"),
    ],
)
def test_sandbox_validates_like_the_web_api(sandbox: SlackSandbox, body: dict[str, Any], error: str) -> None:
    answer = requests.post(
        f"{sandbox.base_url}/api/chat.postMessage",
        json=body,
        headers={"Authorization": f"Bearer {BOT_TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 200 and answer.json() == {"ok": False, "error": error}


def test_sandbox_wants_a_token(sandbox: SlackSandbox) -> None:
    answer = requests.post(f"{sandbox.base_url}/api/chat.postMessage", json={"channel": "#bookings", "text": "x"})
    assert answer.json()["error"] == "not_authed"


def test_a_click_carries_a_response_url_that_can_replace_the_message(
    sandbox: SlackSandbox, sleeps: list[float]
) -> None:
    buttons = {"type": "actions", "elements": [{"type": "button", "action_id": "handoff_approve", "value": "c1"}]}
    connect(sandbox, sleeps).post_message(message(blocks=(*BLOCKS, buttons)))
    body, headers = sandbox.click(sandbox.messages[0], "handoff_approve")
    assert headers["X-Slack-Signature"].startswith("v0=") and b"response_url" in body
    import json
    from urllib.parse import parse_qs

    url = json.loads(parse_qs(body.decode())["payload"][0])["response_url"]
    requests.post(url, json={"replace_original": True, "text": "Approved by ana"}, timeout=5)
    assert sandbox.messages[0]["text"] == "Approved by ana" and sandbox.messages[0]["blocks"] == []


# -- secrets ------------------------------------------------------------------------------------
def test_the_bot_token_never_appears_in_errors_or_logs(
    sandbox: SlackSandbox, sleeps: list[float], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    connector = connect(sandbox, sleeps)
    texts = []
    for kind in ("5xx", "drop"):
        sandbox.inject(FaultPlan(first_n=1, kinds=(kind,)))
        with pytest.raises(RetryableError) as caught:
            connector.post_message(message())
        texts.append(str(caught.value))
    sandbox.inject(None)
    with pytest.raises(SlackConfigurationError) as refused:
        connector.post_message(message(channel="#old-handoffs"))
    texts.append(str(refused.value))
    captured = capsys.readouterr()
    everything = "\n".join([*texts, caplog.text, captured.out, captured.err, repr(connector.settings)])
    assert BOT_TOKEN not in everything


def test_assumptions_are_listed() -> None:
    assert ASSUMPTIONS and all(isinstance(v, str) and v for v in ASSUMPTIONS.values())


def test_the_app_manifest_asks_for_exactly_the_scopes_the_connector_uses() -> None:
    from pathlib import Path

    import yaml

    from handoff_dev.sandboxes.slack import SCOPES

    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "slack-app-manifest.yaml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(SCOPES[BOT_TOKEN])
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/interactions")
