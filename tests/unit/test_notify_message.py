"""The owner's notification: action-ready per outcome, within Slack's limits, free of sensitive data."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.models import (
    Action,
    ActionResult,
    ActionStatus,
    ActResult,
    HandoffDocument,
    Mode,
    OutcomeKind,
    Owner,
    RouteDecision,
    Tool,
    Urgency,
)
from handoff.notify.message import (
    BLOCKS_MAX,
    BUTTON_TEXT_MAX,
    CONTEXT_ELEMENTS_MAX,
    FIELD_MAX,
    FIELDS_MAX,
    HEADER_MAX,
    SECTION_MAX,
    Notice,
    ReviewInfo,
    SlackMessage,
    email_message,
    slack_message,
)

CALL_ID = "call_01J8Z3K9"
RECORD_URL = "https://www.planyo.com/rent/reservation.php?id=4471208"
EMAIL = "elena.marsh@example.com"
PHONE = "+15555550142"

PII = {
    "card": "4242 4242 4242 4242",
    "iban": "BE68 5390 0754 7034",
    "vat": "BE0403170701",
    "ssn": "536-22-1234",
}


def _document(**changes: Any) -> HandoffDocument:
    base: dict[str, Any] = {
        "kind": "booking_change",
        "title": "Booking change: reschedule for Elena",
        "caller": f"Elena Marsh <{EMAIL}>, {PHONE}",
        "asked_for": "Move the lake cabin stay by one week",
        "established": ["Matched planyo reservation 4471208 at confidence 0.95", "Requested date: 2025-09-19"],
        "affected_record": "planyo reservation 4471208 (Lake cabin)",
        "record_url": RECORD_URL,
        "reason": "Caller asked to reschedule",
        "urgency": Urgency.HIGH,
        "owner": "Front desk",
        "next_step": "Confirm the new dates with the caller",
        "evidence_links": {
            "dialnexa_call_id": CALL_ID,
            "dialnexa_call": f"https://app.dialnexa.example/calls/{CALL_ID}",
            "transcript": f"https://handoff.example/transcripts/{CALL_ID}",
            "recording": f"https://recordings.example/{CALL_ID}.mp3",
        },
        "extras": {"old_value": "2025-09-12", "new_value": "2025-09-19", "confirmation_sent": False},
    }
    base.update(changes)
    return HandoffDocument(**base)


def _decision(document: HandoffDocument, **changes: Any) -> RouteDecision:
    base: dict[str, Any] = {
        "mode": Mode.ACT,
        "intent": "reschedule_booking",
        "owner": Owner(team="Front desk", slack_channel="#front-desk", escalation_channel="#ops-escalations"),
        "urgency": Urgency.HIGH,
        "reasons": ["VIP customer", "changes a customer commitment"],
        "actions": [Action(tool=Tool.PLANYO, operation="modify_reservation", target="4471208", reason="move a week")],
        "handoff": document,
    }
    base.update(changes)
    return RouteDecision(**base)


def _result(status: ActionStatus, operation: str = "modify_reservation", **changes: Any) -> ActionResult:
    base: dict[str, Any] = {
        "action_key": f"planyo:{operation}:4471208",
        "tool": Tool.PLANYO,
        "operation": operation,
        "status": status,
        "record_id": "4471208",
        "record_url": RECORD_URL,
    }
    base.update(changes)
    return ActionResult(**base)


def _notice(kind: OutcomeKind, **changes: Any) -> Notice:
    document = changes.pop("document", None) or _document()
    decision = changes.pop("decision", None) or _decision(document)
    return Notice(kind=kind, call_id=CALL_ID, document=document, decision=decision, **changes)


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


def _texts(message: SlackMessage) -> str:
    """Everything a reader of the Slack message could see, as one string."""
    return "\n".join([message.text, *_strings(message.blocks)])


def _mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def _header(message: SlackMessage) -> str:
    header = message.blocks[0]
    assert header["type"] == "header"
    text: str = header["text"]["text"]
    return text


def _assert_within_slack_limits(message: SlackMessage) -> None:
    assert len(message.blocks) <= BLOCKS_MAX
    assert len(_header(message)) <= HEADER_MAX
    for block in message.blocks:
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= SECTION_MAX
            assert len(block.get("fields", [])) <= FIELDS_MAX
            assert all(len(f["text"]) <= FIELD_MAX for f in block.get("fields", []))
        if block["type"] == "context":
            assert len(block["elements"]) <= CONTEXT_ELEMENTS_MAX
        if block["type"] == "actions":
            assert all(len(b["text"]["text"]) <= BUTTON_TEXT_MAX for b in block["elements"])


# --------------------------------------------------------------------------- per outcome
def test_handed_off_lists_what_was_done_per_action_with_record_links() -> None:
    act = ActResult(
        results=[
            _result(ActionStatus.DONE, detail="old 2025-09-12, new 2025-09-19"),
            _result(ActionStatus.ALREADY_DONE, "add_note"),
        ]
    )
    message = slack_message(_notice(OutcomeKind.HANDED_OFF, act=act))
    texts = _texts(message)
    assert _header(message).startswith(":white_check_mark: :large_orange_circle: Done:")
    assert "planyo modify_reservation: *done*" in texts
    assert "planyo add_note: *already done*" in texts
    assert f"<{RECORD_URL}|4471208>" in texts
    assert "old 2025-09-12, new 2025-09-19" in texts
    assert message.channel == "#front-desk"


def test_handed_off_with_a_failed_action_says_partly_done() -> None:
    act = ActResult(results=[_result(ActionStatus.DONE), _result(ActionStatus.FAILED, "add_note", detail="503")])
    message = slack_message(_notice(OutcomeKind.HANDED_OFF, act=act))
    assert ":warning:" in _header(message) and "Partly done" in _header(message)
    assert "planyo add_note: *failed*" in _texts(message)


def test_every_message_carries_caller_record_reason_urgency_owner_next_step_and_evidence() -> None:
    message = slack_message(_notice(OutcomeKind.HANDED_OFF))
    fields = {f["text"].split("\n", 1)[0]: f["text"].split("\n", 1)[1] for f in message.blocks[1]["fields"]}
    assert fields == {
        "*Caller*": "Elena Marsh",
        "*Record*": f"<{RECORD_URL}|planyo reservation 4471208 (Lake cabin)>",
        "*Urgency*": ":large_orange_circle: high",
        "*Owner*": "Front desk",
        "*Reason*": "Caller asked to reschedule",
        "*Next step*": "Confirm the new dates with the caller",
    }
    context = next(b for b in message.blocks if b["type"] == "context")
    assert [e["text"] for e in context["elements"]] == [
        f"DialNexa call id: `{CALL_ID}`",
        f"<https://app.dialnexa.example/calls/{CALL_ID}|DialNexa call>",
        f"<https://handoff.example/transcripts/{CALL_ID}|Transcript>",
        f"<https://recordings.example/{CALL_ID}.mp3|Recording>",
    ]


def test_record_and_evidence_are_also_link_buttons() -> None:
    message = slack_message(_notice(OutcomeKind.HANDED_OFF))
    actions = next(b for b in message.blocks if b["type"] == "actions")
    assert [(b["text"]["text"], b["url"]) for b in actions["elements"]] == [
        ("Open record", RECORD_URL),
        ("Transcript", f"https://handoff.example/transcripts/{CALL_ID}"),
        ("Recording", f"https://recordings.example/{CALL_ID}.mp3"),
    ]


def test_review_requested_explains_why_and_what_approval_would_do() -> None:
    message = slack_message(_notice(OutcomeKind.REVIEW_REQUESTED))
    texts = _texts(message)
    assert "Needs review" in _header(message)
    assert "*Why a human must decide*\n• VIP customer\n• changes a customer commitment" in texts
    assert "*Proposed on approval*\n• planyo modify_reservation on 4471208: move a week" in texts
    assert "Approve or reject below (or `handoff review`)" in texts


def test_escalated_review_goes_to_the_escalation_channel() -> None:
    message = slack_message(_notice(OutcomeKind.ESCALATED))
    assert "Review overdue" in _header(message)
    assert message.channel == "#ops-escalations"


def test_rejection_names_the_reviewer_and_the_reason() -> None:
    review = ReviewInfo(reviewer="sam@ops", rejection_reason="Customer called back: keep the dates")
    message = slack_message(_notice(OutcomeKind.REJECTED, review=review, include_contact_details=True))
    assert "Rejected in review" in _header(message)
    assert "*Rejected by* sam@ops\n*Why:* Customer called back: keep the dates" in _texts(message)


def test_failure_shows_the_error_and_escalates() -> None:
    message = slack_message(_notice(OutcomeKind.FAILED, error="RetryableError: planyo answered 503 three times"))
    assert "Failed" in _header(message)
    assert "```RetryableError: planyo answered 503 three times```" in _texts(message)
    assert message.channel == "#ops-escalations"


def test_nothing_to_do_keeps_the_owner_follow_up_as_next_step() -> None:
    document = _document(next_step="Call the customer back tomorrow morning")
    decision = _decision(document, mode=Mode.NONE, actions=[], urgency=Urgency.LOW)
    message = slack_message(_notice(OutcomeKind.NOTHING_TO_DO, document=document, decision=decision))
    assert "Follow-up" in _header(message)
    assert "*Next step*\nCall the customer back tomorrow morning" in _texts(message)
    assert "What was done" not in _texts(message)


def test_a_critical_urgency_goes_to_the_escalation_channel_and_an_override_wins() -> None:
    decision = _decision(_document(), urgency=Urgency.CRITICAL)
    assert slack_message(_notice(OutcomeKind.HANDED_OFF, decision=decision)).channel == "#ops-escalations"
    assert slack_message(_notice(OutcomeKind.HANDED_OFF, channel="#override")).channel == "#override"


def test_payload_leaves_out_an_unknown_channel() -> None:
    message = SlackMessage(text="t", blocks=[])
    assert message.payload() == {"text": "t", "blocks": []}


@pytest.mark.parametrize("kind", list(OutcomeKind))
def test_every_outcome_kind_builds_a_message_and_an_email(kind: OutcomeKind) -> None:
    notice = _notice(kind, review=ReviewInfo(reviewer="sam", note="ok"), error="boom")
    message = slack_message(notice)
    subject, body = email_message(notice)
    _assert_within_slack_limits(message)
    assert message.text and subject and CALL_ID in body


# --------------------------------------------------------------------------- limits
def test_long_texts_are_cut_with_an_ellipsis_within_slack_limits() -> None:
    document = _document(
        title="T" * 500,
        reason="R" * 10_000,
        established=[f"fact {i} " + "x" * 200 for i in range(200)],
        evidence_links={f"link_{i}": f"https://e.example/{i}" for i in range(30)},
        extras={f"extra_{i}": "v" * 3000 for i in range(30)},
    )
    act = ActResult(results=[_result(ActionStatus.DONE, f"op_{i}", detail="d" * 1000) for i in range(100)])
    reasons = ["why " + "w" * 500 for _ in range(100)]
    decision = _decision(document, reasons=reasons)
    for kind in OutcomeKind:
        message = slack_message(_notice(kind, document=document, decision=decision, act=act, error="e" * 9000))
        _assert_within_slack_limits(message)
        assert _header(message).endswith("…")
    message = slack_message(_notice(OutcomeKind.HANDED_OFF, document=document, act=act))
    assert "… and " in _texts(message)


@settings(max_examples=60, deadline=None)
@given(title=st.text(max_size=400), reason=st.text(max_size=4000), note=st.text(max_size=3000))
def test_limits_hold_for_any_text(title: str, reason: str, note: str) -> None:
    document = _document(title=title or "x", reason=reason)
    message = slack_message(
        _notice(OutcomeKind.REJECTED, document=document, review=ReviewInfo(reviewer=note, rejection_reason=note))
    )
    _assert_within_slack_limits(message)


# --------------------------------------------------------------------------- sensitive data
def _pii_notice(kind: OutcomeKind, include_contact_details: bool = False) -> Notice:
    leak = " ".join(f"{name} {value}" for name, value in PII.items())
    document = _document(
        title=f"Billing dispute, card {PII['card']}",
        asked_for=f"Refund to IBAN {PII['iban']}",
        established=[f"Caller read out {leak}", f"e-mail {EMAIL}, phone {PHONE}"],
        reason=f"SSN {PII['ssn']} given on the call",
        next_step=f"Check VAT {PII['vat']}",
        record_url=f"https://billit.example/customers?card={PII['card'].replace(' ', '')}",
        extras={"note": leak, "contact": EMAIL},
    )
    act = ActResult(results=[_result(ActionStatus.FAILED, detail=f"partner echoed {leak}")])
    return _notice(
        kind,
        document=document,
        decision=_decision(document, reasons=[f"card {PII['card']} mentioned"]),
        act=act,
        review=ReviewInfo(reviewer="sam", note=leak, rejection_reason=leak),
        error=f"ValueError: bad iban {PII['iban']}",
        include_contact_details=include_contact_details,
    )


def _pii_variants() -> list[str]:
    return [v for value in PII.values() for v in (value, value.replace(" ", "").replace("-", ""))]


@pytest.mark.parametrize("kind", list(OutcomeKind))
def test_no_card_bank_or_tax_data_in_any_text_or_block(kind: OutcomeKind) -> None:
    message = slack_message(_pii_notice(kind, include_contact_details=True))
    subject, body = email_message(_pii_notice(kind, include_contact_details=True))
    for text in (_texts(message), subject, body):
        for value in _pii_variants():
            assert value not in text


def test_masked_numbers_keep_their_last_four_for_correlation() -> None:
    message = slack_message(_pii_notice(OutcomeKind.HANDED_OFF))
    assert "**** **** **** 4242" in _texts(message)


@pytest.mark.parametrize("kind", list(OutcomeKind))
def test_contact_details_are_withheld_unless_the_policy_allows_them(kind: OutcomeKind) -> None:
    notice = _pii_notice(kind)
    texts = _texts(slack_message(notice)) + "\n".join(email_message(notice))
    assert EMAIL not in texts
    assert PHONE not in texts
    assert "[contact withheld]" in texts


def test_caller_line_without_contact_details_keeps_the_name() -> None:
    message = slack_message(_notice(OutcomeKind.HANDED_OFF))
    assert message.blocks[1]["fields"][0]["text"] == "*Caller*\nElena Marsh"


def test_contact_details_appear_when_the_policy_allows_them() -> None:
    notice = _notice(OutcomeKind.HANDED_OFF, include_contact_details=True)
    caller_field = slack_message(notice).blocks[1]["fields"][0]["text"]
    assert caller_field == f"*Caller*\nElena Marsh &lt;{EMAIL}&gt;, {PHONE}"
    assert f"Caller:    Elena Marsh <{EMAIL}>, {PHONE}" in email_message(notice)[1]


def test_north_american_phone_formats_are_withheld_too() -> None:
    document = _document(established=["Call back on (555) 555-0142 or 555-555-0142"])
    texts = _texts(slack_message(_notice(OutcomeKind.HANDED_OFF, document=document)))
    assert "555-0142" not in texts


def test_order_and_reservation_ids_survive_contact_withholding() -> None:
    document = _document(established=["Order NW-77120, reservation 4471208, invoice INV-2025-0917"])
    assert "Order NW-77120, reservation 4471208, invoice INV-2025-0917" in _texts(
        slack_message(_notice(OutcomeKind.HANDED_OFF, document=document))
    )


# --------------------------------------------------------------------------- injection
def test_user_text_cannot_mention_channels_or_forge_links() -> None:
    document = _document(reason="<!channel> see <https://evil.example|your bank>", title="Hi <!here>")
    message = slack_message(_notice(OutcomeKind.HANDED_OFF, document=document))
    for text in _mrkdwn_texts(message.blocks):
        assert "<!" not in text
        assert "evil.example|" not in text or "&lt;https://evil.example|your bank&gt;" in text


def test_non_http_links_are_not_linked() -> None:
    document = _document(record_url="javascript:alert(1)")
    message = slack_message(_notice(OutcomeKind.HANDED_OFF, document=document))
    assert "javascript:" not in _texts(message)
    assert "*Record*\nplanyo reservation 4471208 (Lake cabin)" in _texts(message)


def test_email_subject_is_one_line_whatever_the_title() -> None:
    document = _document(title="Refund\r\nBcc: attacker@example.com")
    subject, _ = email_message(_notice(OutcomeKind.REVIEW_REQUESTED, document=document))
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("[HIGH] Needs review: Refund")


def test_email_body_is_plain_text_with_the_same_content() -> None:
    act = ActResult(results=[_result(ActionStatus.DONE)])
    subject, body = email_message(_notice(OutcomeKind.HANDED_OFF, act=act))
    assert subject == "[HIGH] Done: Booking change: reschedule for Elena"
    assert "Record:    planyo reservation 4471208 (Lake cabin) " + RECORD_URL in body
    assert f"- planyo modify_reservation: done (record 4471208) {RECORD_URL}" in body
    assert f"- Transcript: https://handoff.example/transcripts/{CALL_ID}" in body
    assert "*" not in body and "<http" not in body


# --------------------------------------------------------------------------- interactive review buttons
def _review_buttons(message: SlackMessage) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"] if "value" in e]


def test_review_requested_carries_approve_and_reject_buttons_valued_with_the_call_id() -> None:
    buttons = _review_buttons(slack_message(_notice(OutcomeKind.REVIEW_REQUESTED)))
    assert [(b["action_id"], b["value"], b["style"]) for b in buttons] == [
        ("handoff_approve", CALL_ID, "primary"),
        ("handoff_reject", CALL_ID, "danger"),
    ]
    assert "confirm" in buttons[1] and "confirm" not in buttons[0]


@pytest.mark.parametrize("kind", [k for k in OutcomeKind if k != OutcomeKind.REVIEW_REQUESTED])
def test_only_a_waiting_review_has_decision_buttons(kind: OutcomeKind) -> None:
    assert _review_buttons(slack_message(_notice(kind))) == []
