"""Slack interactive approval: the request signature as Slack documents it, and a button click as a decision."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from handoff.review.model import NotAnApprover, Reviewer, ReviewRecord
from handoff.slack_interactions import (
    ACTION_APPROVE,
    ACTION_REJECT,
    MAX_SKEW_SECONDS,
    InteractionError,
    SignatureError,
    SlackAction,
    UnknownAction,
    approver_check,
    parse_interaction,
    reply_url,
    signature,
    verify_signature,
)

SECRET = "fake-slack-signing-secret-0001"  # a fake, test only
NOW = 1_764_000_000
STAMP = str(NOW)

# Slack's own worked example (api.slack.com "Verifying requests from Slack"): a known-good vector.
SLACK_DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # public, from Slack's docs
SLACK_DOC_STAMP = "1531420618"
SLACK_DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


ANA = {"id": "U024BE7LH", "username": "ana", "name": "ana", "team_id": "T0SANDBOX1"}


def _body(action_id: str = ACTION_APPROVE, value: Any = "call_01", user: Any = None, **extra: Any) -> bytes:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": ANA if user is None else user,
        "actions": [{"action_id": action_id, "block_id": "handoff_review", "value": value, "type": "button"}],
        "response_url": "https://hooks.slack.com/actions/T0/1/abc",
        **extra,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def _headers(body: bytes, stamp: str = STAMP, secret: str = SECRET) -> dict[str, str]:
    return {"x-slack-request-timestamp": stamp, "x-slack-signature": signature(secret, stamp, body)}


# --------------------------------------------------------------------------- signature
def test_signature_matches_slacks_documented_example() -> None:
    assert signature(SLACK_DOC_SECRET, SLACK_DOC_STAMP, SLACK_DOC_BODY) == SLACK_DOC_SIGNATURE


def test_slacks_documented_request_verifies_at_its_own_time() -> None:
    headers = {"X-Slack-Request-Timestamp": SLACK_DOC_STAMP, "X-Slack-Signature": SLACK_DOC_SIGNATURE}
    verify_signature(headers, SLACK_DOC_BODY, SLACK_DOC_SECRET, now=int(SLACK_DOC_STAMP) + 10)


def test_a_request_signed_with_the_secret_verifies() -> None:
    body = _body()
    verify_signature(_headers(body), body, SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-MAX_SKEW_SECONDS, MAX_SKEW_SECONDS])
def test_a_timestamp_at_the_edge_of_five_minutes_is_accepted(offset: int) -> None:
    body = _body()
    verify_signature(_headers(body), body, SECRET, now=NOW + offset)


@pytest.mark.parametrize(
    ("case", "headers", "body", "now", "reason"),
    [
        ("tampered body", _headers(_body()), _body(ACTION_REJECT), NOW, "does not match"),
        ("wrong secret", _headers(_body(), secret="another-fake-secret"), _body(), NOW, "does not match"),
        ("stale", _headers(_body()), _body(), NOW + MAX_SKEW_SECONDS + 1, "replay"),
        ("future", _headers(_body()), _body(), NOW - MAX_SKEW_SECONDS - 1, "replay"),
        ("no signature", {"x-slack-request-timestamp": STAMP}, _body(), NOW, "missing x-slack-signature"),
        ("no timestamp", {"x-slack-signature": "v0=00"}, _body(), NOW, "missing x-slack-request-timestamp"),
        ("bad timestamp", {**_headers(_body()), "x-slack-request-timestamp": "soon"}, _body(), NOW, "Unix time"),
        ("other version", {**_headers(_body()), "x-slack-signature": "v1=abc"}, _body(), NOW, "not a v0"),
        (
            "signed timestamp swapped",
            {**_headers(_body()), "x-slack-request-timestamp": str(NOW + 1)},
            _body(),
            NOW,
            "does not match",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else "",
)
def test_a_request_not_provably_from_slack_is_refused_naming_why(
    case: str, headers: dict[str, str], body: bytes, now: int, reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify_signature(headers, body, SECRET, now=now)


def test_without_a_signing_secret_nothing_verifies() -> None:
    body = _body()
    with pytest.raises(SignatureError, match="no signing secret"):
        verify_signature(_headers(body), body, "", now=NOW)


def test_the_refusal_never_contains_the_secret_or_the_expected_signature() -> None:
    body = _body()
    with pytest.raises(SignatureError) as raised:
        verify_signature({**_headers(body), "x-slack-signature": "v0=" + "0" * 64}, body, SECRET, now=NOW)
    assert SECRET not in str(raised.value) and signature(SECRET, STAMP, body) not in str(raised.value)


# --------------------------------------------------------------------------- the click
def test_an_approve_click_becomes_an_approval_by_the_slack_user() -> None:
    action = parse_interaction(_body(ACTION_APPROVE, "call_01"))
    assert action is not None
    assert (action.call_id, action.user_id, action.user_name) == ("call_01", "U024BE7LH", "ana")
    decision = action.review_decision()
    assert decision.decision == "approve"
    assert action.reviewer == Reviewer("slack:U024BE7LH", "ana")
    assert action.response_url == "https://hooks.slack.com/actions/T0/1/abc"


def test_a_reject_click_becomes_a_rejection_with_who_rejected_as_the_reason() -> None:
    action = parse_interaction(_body(ACTION_REJECT, "call_02"))
    assert action is not None
    decision = action.review_decision()
    assert (decision.decision, decision.reason) == ("reject", "rejected in Slack by ana")


@pytest.mark.parametrize(
    ("user", "label"),
    [
        ({"id": "U1", "username": "bo", "name": "Bo"}, "bo (slack:U1)"),
        ({"id": "U1", "name": "Bo"}, "Bo (slack:U1)"),
        ({"id": "U1", "username": " ", "name": ""}, "slack:U1"),
    ],
)
def test_the_reviewer_is_the_signed_user_id_shown_with_the_user_name(user: dict[str, str], label: str) -> None:
    action = parse_interaction(_body(user=user))
    assert action is not None and action.reviewer.id == "slack:U1" and action.reviewer.label == label


# --------------------------------------------------------------------------- who may decide
APPROVERS = {"Billing and finance": ("billing", ["U024BE7LH", "S0FINANCE"]), "Claims desk": ("claims", [])}


def _review(owner: str) -> ReviewRecord:
    state = {
        "call": {"call_id": "call_01", "event": "call.ended"},
        "decision": {"mode": "review", "owner": {"team": owner}, "handoff": {"title": "t"}},
    }
    return ReviewRecord.from_state("arn:x", "tok", datetime(2025, 6, 12, tzinfo=UTC), state, 60)


def _action(user_id: str) -> SlackAction:
    action = parse_interaction(_body(user={"id": user_id, "username": "someone"}))
    assert action is not None
    return action


def test_an_approver_named_by_user_id_may_decide() -> None:
    approver_check(_action("U024BE7LH"), APPROVERS)(_review("Billing and finance"))


def test_anyone_else_is_told_they_are_not_an_approver_for_the_owning_team() -> None:
    with pytest.raises(NotAnApprover, match="you are not an approver for billing; nothing changed"):
        approver_check(_action("U999"), APPROVERS)(_review("Billing and finance"))


def test_a_member_of_an_approving_user_group_may_decide() -> None:
    members = {"S0FINANCE": frozenset({"U777"})}
    approver_check(_action("U777"), APPROVERS, lambda group: members[group])(_review("Billing and finance"))


def test_a_user_group_that_cannot_be_looked_up_approves_nobody() -> None:
    def unknown(group: str) -> frozenset[str]:
        raise LookupError(group)

    with pytest.raises(NotAnApprover):
        approver_check(_action("U777"), APPROVERS, unknown)(_review("Billing and finance"))
    with pytest.raises(NotAnApprover):
        approver_check(_action("U777"), APPROVERS)(_review("Billing and finance"))


def test_a_team_without_approvers_takes_no_decision_from_slack() -> None:
    with pytest.raises(NotAnApprover, match="approver for claims"):
        approver_check(_action("U024BE7LH"), APPROVERS)(_review("Claims desk"))


# --------------------------------------------------------------------------- bodies that are not Slack's
def test_a_deeply_nested_payload_is_an_interaction_error_not_a_crash() -> None:
    body = urlencode({"payload": "[" * 50_000 + "]" * 50_000}).encode()
    with pytest.raises(InteractionError, match="nested too deeply"):
        parse_interaction(body)


def test_a_body_over_a_megabyte_is_refused_before_parsing() -> None:
    with pytest.raises(InteractionError, match="larger than"):
        parse_interaction(b"payload=" + b"x" * (1024 * 1024))


def test_a_link_button_click_is_acknowledged_with_nothing_to_decide() -> None:
    assert parse_interaction(_body("open_0", value=None)) is None


def test_an_unknown_action_is_refused_naming_it_and_the_known_ones() -> None:
    with pytest.raises(UnknownAction, match=r"'delete_everything'.*handoff_approve, handoff_reject"):
        parse_interaction(_body("delete_everything"))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "no payload field"),
        (b"text=hello", "no payload field"),
        (b"payload=%7Bnot-json", "not JSON"),
        (urlencode({"payload": "[1]"}).encode(), "not a JSON object"),
        (urlencode({"payload": json.dumps({"type": "view_submission"})}).encode(), "'view_submission' is not"),
        (urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})}).encode(), "actions is empty"),
        (_body(value=""), "call id"),
        (_body(value=7), "call id"),
        (_body(user={"name": "ana"}), "user.id"),
        (b"\xff\xfe", "not a form"),
    ],
)
def test_a_payload_that_is_not_a_review_click_is_refused_naming_the_problem(body: bytes, problem: str) -> None:
    with pytest.raises(InteractionError, match=problem):
        parse_interaction(body)


# --------------------------------------------------------------------------- telling the clicker
@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.slack.com/actions/T0/1/abc", True),
        ("http://127.0.0.1:9999/actions/T0/1/abc", True),
        ("http://hooks.slack.com/actions/T0/1/abc", False),
        ("https://hooks.slack.com.evil.example/actions", False),
        ("https://169.254.169.254/latest/meta-data", False),
        ("", False),
    ],
)
def test_a_reply_goes_only_to_slack_or_the_loopback_sandbox(url: str, allowed: bool) -> None:
    action = parse_interaction(_body(response_url=url))
    assert action is not None and (reply_url(action) == url) is allowed


def test_a_policy_approver_must_be_a_slack_user_or_user_group_id() -> None:
    from pydantic import ValidationError

    from handoff.route.policy import OwnerSpec

    assert OwnerSpec(team="Billing", approvers=["U024BE7LH", "W0ENTERPRISE", "S0FINANCE"]).approvers
    with pytest.raises(ValidationError, match="is not a Slack user id"):
        OwnerSpec(team="Billing", approvers=["ana@example.com"])
