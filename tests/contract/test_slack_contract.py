"""Slack incoming-webhook connector against its sandbox: posting, Slack's error codes, no URL leaks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pydantic import ValidationError

from handoff.connectors.errors import AuthError, RejectedInputError, RetryableError
from handoff.connectors.http import RetryPolicy
from handoff.connectors.slack import ASSUMPTIONS, SLACK_ERRORS, SlackConnector, SlackMessage, error_for
from handoff_dev.sandboxes.base import FaultPlan
from handoff_dev.sandboxes.slack import TOKEN, SlackSandbox

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
    return SlackConnector.from_config({**sandbox.config(), **overrides}, retry=FAST, sleep=sleeps.append)


def webhook(sandbox: SlackSandbox) -> str:
    return str(sandbox.config()["webhook_url"])


def message(**overrides: Any) -> SlackMessage:
    return SlackMessage(**{"text": "Booking change for Hannah Reid (BK-48377)", "blocks": BLOCKS, **overrides})


# -- health -------------------------------------------------------------------------------------
def test_check_probes_a_live_webhook_without_posting(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    report = connect(sandbox, sleeps).check()
    assert (report.reachable, report.authenticated) == (True, True)
    assert sandbox.messages == [] and sum(sandbox.effects.values()) == 0


def test_check_reports_a_revoked_webhook(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    revoked = webhook(sandbox).replace(TOKEN, "revokedToken0000000000000")
    report = connect(sandbox, sleeps, webhook_url=revoked).check()
    assert (report.reachable, report.authenticated) == (True, False)
    assert "invalid_token" in report.detail and "revokedToken" not in report.detail


def test_check_reports_an_unreachable_webhook(sleeps: list[float]) -> None:
    url = f"http://127.0.0.1:9/services/T1/B1/{TOKEN}"
    report = SlackConnector.from_config({"webhook_url": url}, retry=FAST, sleep=sleeps.append).check()
    assert (report.reachable, report.authenticated) == (False, False)
    assert TOKEN not in report.detail


def test_the_probe_is_retried_because_it_posts_nothing(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",)))
    assert connect(sandbox, sleeps).check().healthy
    assert sandbox.requests["post_message"] == 2


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", True),
        ("http://127.0.0.1:8080/services/T000/B000/XXXX", True),
        ("http://hooks.slack.com/services/T000/B000/XXXX", False),
        ("https://hooks.slack.com/", False),
        ("not a url", False),
    ],
)
def test_webhook_url_shape_is_validated_without_echoing_it(url: str, ok: bool) -> None:
    if ok:
        SlackConnector.from_config({"webhook_url": url})
        return
    with pytest.raises(AuthError) as caught:
        SlackConnector.from_config({"webhook_url": url})
    assert "webhook_url" in str(caught.value) and url not in str(caught.value)


# -- posting -----------------------------------------------------------------------------------
def test_post_message_delivers_blocks_with_the_text_fallback(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    result = connect(sandbox, sleeps).post_message(message())
    assert result.posted and result.channel == "#handoff-ops"
    [posted] = sandbox.messages
    assert posted["text"] == "Booking change for Hannah Reid (BK-48377)" and posted["blocks"] == list(BLOCKS)
    assert sandbox.effects["post_message"] == 1


def test_a_channel_override_is_sent(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    connect(sandbox, sleeps).post_message(message(channel="#billing"))
    assert sandbox.messages[0]["channel"] == "#billing"


def test_a_text_only_message_is_fine(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    connect(sandbox, sleeps).post_message(SlackMessage(text="Nothing to do for call_6Pz9Sa5nKc2D"))
    assert sandbox.messages[0]["blocks"] == []


@pytest.mark.parametrize(
    "values",
    [
        {"text": ""},
        {"text": "x", "blocks": ({"text": "no type"},)},
        {"text": "x", "blocks": ({"type": "divider"},) * 51},
    ],
)
def test_messages_slack_would_refuse_are_refused_locally(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SlackMessage(**values)


@pytest.mark.parametrize(
    ("channel", "expected_code"),
    [("#nowhere", "channel_not_found"), ("#old-handoffs", "channel_is_archived")],
)
def test_channel_problems_are_configuration_errors(
    sandbox: SlackSandbox, sleeps: list[float], channel: str, expected_code: str
) -> None:
    with pytest.raises(AuthError) as caught:
        connect(sandbox, sleeps).post_message(message(channel=channel))
    assert expected_code in str(caught.value) and sandbox.messages == []
    assert sandbox.requests["post_message"] == 1


def test_a_revoked_webhook_is_an_auth_error(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    revoked = webhook(sandbox).replace(TOKEN, "revokedToken0000000000000")
    with pytest.raises(AuthError) as caught:
        connect(sandbox, sleeps, webhook_url=revoked).post_message(message())
    assert "invalid_token" in str(caught.value) and "revokedToken" not in str(caught.value)


def test_a_payload_slack_refuses_is_rejected_input(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    unchecked = SlackMessage.model_construct(text="x", blocks=({"text": "no type"},), channel=None)
    with pytest.raises(RejectedInputError) as caught:
        connect(sandbox, sleeps).post_message(unchecked)
    assert "invalid_blocks" in str(caught.value) and sandbox.requests["post_message"] == 1


def test_rate_limiting_is_retried_because_nothing_was_posted(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("429",), retry_after=0.05))
    assert connect(sandbox, sleeps).post_message(message()).posted
    assert sleeps == [0.05] and len(sandbox.messages) == 1 and sandbox.requests["post_message"] == 2


@pytest.mark.parametrize("kind", ["5xx", "drop"])
def test_a_failure_that_may_have_posted_is_raised_not_retried(
    sandbox: SlackSandbox, sleeps: list[float], kind: str
) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=(kind,)))
    with pytest.raises(RetryableError):
        connect(sandbox, sleeps).post_message(message())
    assert sandbox.requests["post_message"] == 1 and sleeps == []


def test_a_timeout_is_raised_not_retried(sandbox: SlackSandbox, sleeps: list[float]) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("slow",), slow_seconds=0.5))
    with pytest.raises(RetryableError):
        connect(sandbox, sleeps, read_timeout=0.1).post_message(message())
    assert sandbox.requests["post_message"] == 1


# -- Slack's error codes ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, "invalid_payload", RejectedInputError),
        (400, "no_text", RejectedInputError),
        (400, "user_not_found", RejectedInputError),
        (403, "invalid_token", AuthError),
        (403, "action_prohibited", AuthError),
        (404, "channel_not_found", AuthError),
        (404, "no_service", AuthError),
        (410, "channel_is_archived", AuthError),
        (500, "rollup_error", RetryableError),
        (400, "something_new", RejectedInputError),
        (403, "<html>forbidden</html>", AuthError),
        (502, "", RetryableError),
    ],
)
def test_slack_error_codes_map_onto_the_taxonomy(status: int, body: str, expected: type[Exception]) -> None:
    error = error_for(status, body)
    assert type(error) is expected and error.status == status


def test_every_known_code_has_a_class() -> None:
    assert {"invalid_payload", "no_text", "channel_not_found", "invalid_token"} <= set(SLACK_ERRORS)


@pytest.mark.parametrize(
    ("body", "headers", "status", "answer"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400, "invalid_payload"),
        (b"[]", {"Content-Type": "application/json"}, 400, "invalid_payload"),
        (b"{}", {"Content-Type": "application/json"}, 400, "no_text"),
        (b'{"text": ""}', {"Content-Type": "application/json"}, 400, "no_text"),
        (b'{"text": "hi", "blocks": [{}]}', {"Content-Type": "application/json"}, 400, "invalid_blocks"),
        (b"payload=%7B%22text%22%3A%22hi%22%7D", {"Content-Type": "application/x-www-form-urlencoded"}, 200, "ok"),
    ],
)
def test_sandbox_validates_payloads_like_slack(
    sandbox: SlackSandbox, body: bytes, headers: dict[str, str], status: int, answer: str
) -> None:
    response = requests.post(webhook(sandbox), data=body, headers=headers, timeout=5)
    assert (response.status_code, response.text) == (status, answer)
    assert len(sandbox.messages) == (1 if status == 200 else 0)


# -- secrets ------------------------------------------------------------------------------------
def test_the_webhook_url_never_appears_in_errors_or_logs(
    sandbox: SlackSandbox, sleeps: list[float], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    connector = connect(sandbox, sleeps)
    messages = []
    for kind in ("5xx", "drop"):
        sandbox.inject(FaultPlan(first_n=1, kinds=(kind,)))
        with pytest.raises(RetryableError) as caught:
            connector.post_message(message())
        messages.append(str(caught.value))
    sandbox.inject(FaultPlan(first_n=10, kinds=("5xx",)))
    messages.append(connector.check().detail)
    sandbox.inject(None)
    captured = capsys.readouterr()
    everything = "\n".join([*messages, caplog.text, captured.out, captured.err, repr(connector.settings)])
    assert "partner call retrying" in caplog.text
    assert TOKEN not in everything and webhook(sandbox) not in everything


def test_assumptions_are_listed() -> None:
    assert ASSUMPTIONS and all(isinstance(v, str) and v for v in ASSUMPTIONS.values())
