"""Lifecycle signals: a held-in corpus of calls and the signal each one produces, or why none.

Each row is a call through the real match (sandbox people, in memory) and route,
then, where the row says so, an act result or a reviewer's rejection; the final
outcome's signals are compared with the row. Every signal the corpus produces is
then searched for what may never reach marketing: transcripts, phone numbers,
e-mails, amounts, payment and tax identifiers, free text from the caller.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from handoff.events.contract import LifecycleSignal
from handoff.events.signals import lifecycle_signals, why_not
from handoff.match.identity import build_identity
from handoff.match.sources import match_call
from handoff.models import (
    ActionResult,
    ActionStatus,
    ActResult,
    CallSummary,
    PipelineState,
    ReviewOutcome,
    Tool,
)
from handoff.route.decide import decide
from handoff_dev.match_seed import seed_records, seed_sources

HANDED_OFF, NOTHING, REJECTED = "call.handed_off", "call.nothing_to_do", "call.review_rejected"
REQUESTED, ESCALATED, FAILED = "call.review_requested", "call.review_escalated", "call.failed"
ELENA = {"customer_name": "Elena Marsh", "customer_email": "elena.marsh@example.com", "customer_phone": "+15555550142"}
SOFIA = {"customer_name": "Sofia Alvarez", "customer_email": "sofia.alvarez@example.com"}
MARCUS = {"customer_name": "Marcus Greene", "customer_email": "marcus.greene@example.com"}
DANIEL = {"customer_name": "Daniel Okafor", "customer_email": "daniel.okafor@example.com"}
CARD, IBAN, VAT = "4111 1111 1111 1111", "BE71 0961 2345 6769", "BE0412345614"
TRANSCRIPT = f"User: my card is {CARD}, send refunds to {IBAN}, VAT {VAT}. Thanks."
CREATED = ActionResult(
    action_key="billit:create_customer:-",
    tool=Tool.BILLIT,
    operation="create_customer",
    status=ActionStatus.DONE,
    record_id="779000",
)


@dataclass(frozen=True)
class Row:
    name: str
    analysis: dict[str, Any]
    outcome: str
    signal: str | None
    expect: dict[str, Any] = field(default_factory=dict)
    """Fields of the signal's own part (``product_interest`` ...) the row checks."""
    why: str = ""
    """Part of the reason there is no signal."""
    summary: str = ""
    act: tuple[ActionResult, ...] = ()
    approved_by_review: bool = False
    customer: str | None = None


CORPUS: list[Row] = [
    Row(
        "buying-intent sample: new caller, Billit customer created, strong product interest",
        {
            "intent": "product_inquiry",
            **DANIEL,
            "product_name": "Harbor 3-seat sofa (slate grey)",
            "buying_intent": True,
        },
        HANDED_OFF,
        "product_interest",
        {"product": "Harbor 3-seat sofa (slate grey)", "strength": "strong"},
        summary="Daniel Okafor asked about the Harbor 3-seat sofa ($1,299). Wants to buy; "
        "email daniel.okafor@example.com.",
        act=(CREATED,),
        customer="billit:customer:779000",
    ),
    Row(
        "known customer interested in a package: moderate interest by SKU and category",
        {
            "intent": "package_options",
            **ELENA,
            "sku": "PKG-GOLD-12",
            "product_category": "Delivery packages",
            "customer_interested": "yes",
        },
        HANDED_OFF,
        "product_interest",
        {"sku": "PKG-GOLD-12", "category": "Delivery packages", "strength": "moderate"},
        customer="planyo:customer:700142",
    ),
    Row(
        "price question without buying signal is noise: no signal",
        {"intent": "product_inquiry", **ELENA, "product_name": "Harbor sofa", "buying_intent": False},
        NOTHING,
        None,
    ),
    Row(
        "product interest with a label that is really an e-mail keeps no product",
        {
            "intent": "product_inquiry",
            **DANIEL,
            "product_name": "daniel.okafor@example.com",
            "buying_intent": True,
            "sku": "HB-3S-SLATE",
        },
        HANDED_OFF,
        "product_interest",
        {"product": None, "sku": "HB-3S-SLATE"},
        act=(CREATED,),
    ),
    Row(
        "product interest whose only label is a card number: no signal",
        {"intent": "product_inquiry", **DANIEL, "product_name": CARD, "buying_intent": True},
        HANDED_OFF,
        None,
        act=(CREATED,),
    ),
    Row(
        "interest from a fraud-flagged call: never",
        {
            "intent": "product_inquiry",
            **DANIEL,
            "product_name": "Harbor sofa",
            "buying_intent": True,
            "fraud_concern": True,
        },
        HANDED_OFF,
        None,
        why="routed as sensitive",
        act=(CREATED,),
    ),
    Row(
        "interest while asking for a discount (customer commitment): sensitive, never",
        {"intent": "product_inquiry", **DANIEL, "product_name": "Harbor sofa", "buying_intent": True},
        HANDED_OFF,
        None,
        why="customer_commitment",
        summary="Wants the Harbor sofa if we give a discount.",
        act=(CREATED,),
    ),
    Row(
        "interest without any matched or created record: never",
        {"intent": "product_inquiry", "product_name": "Harbor sofa", "buying_intent": True},
        HANDED_OFF,
        None,
        why="no matched record",
    ),
    Row(
        "return approved with a refund wish: refunded, no amount",
        {"intent": "return_request", **SOFIA, "refund_expectation": "full refund of $349", "product_name": "Lamp"},
        HANDED_OFF,
        "return_outcome",
        {"outcome": "refunded", "reason": "unwanted"},
        approved_by_review=True,
        summary="Sofia wants to return the lamp for a refund of $349.",
    ),
    Row(
        "damaged item approved with a replacement wish: replaced",
        {"intent": "damaged_item", **SOFIA, "resolution_preference": "replacement"},
        HANDED_OFF,
        "return_outcome",
        {"outcome": "replaced", "reason": "damaged"},
        approved_by_review=True,
    ),
    Row(
        "wrong product approved, no stated wish: returned",
        {"intent": "wrong_product", **SOFIA},
        HANDED_OFF,
        "return_outcome",
        {"outcome": "returned", "reason": "wrong_item"},
        approved_by_review=True,
    ),
    Row(
        "return rejected by the reviewer: declined",
        {"intent": "return_request", **SOFIA, "refund_expectation": "refund"},
        REJECTED,
        "return_outcome",
        {"outcome": "declined"},
    ),
    Row(
        "return still waiting for a human: nothing yet",
        {"intent": "return_request", **SOFIA},
        REQUESTED,
        None,
        why="not a final outcome",
    ),
    Row("return escalated: nothing", {"intent": "damaged_item", **SOFIA}, ESCALATED, None, why="not a final outcome"),
    Row("failed call: nothing", {"intent": "damaged_item", **SOFIA}, FAILED, None, why="not a final outcome"),
    Row(
        "return with a chargeback threat: dispute is never a signal",
        {"intent": "return_request", **SOFIA},
        HANDED_OFF,
        None,
        why="dispute",
        summary="Return it or I file a chargeback.",
        approved_by_review=True,
    ),
    Row(
        "callback request with e-mail preference and a date: follow-up need, no content",
        {
            "intent": "callback_request",
            **ELENA,
            "preferred_channel": "email",
            "callback_date": "2025-06-20",
            "notes": "Call me about my sofa",
        },
        HANDED_OFF,
        "follow_up_need",
        {"channel": "email", "due_date": "2025-06-20", "topic": "callback"},
        customer="planyo:customer:700142",
    ),
    Row(
        "where is my order: follow-up by phone, no date",
        {"intent": "where_is_my_order", **ELENA},
        HANDED_OFF,
        "follow_up_need",
        {"channel": "phone", "due_date": None, "topic": "delivery_status"},
    ),
    Row(
        "callback from an unknown caller: no match, no signal",
        {"intent": "callback_request", "customer_name": "Nobody Known"},
        HANDED_OFF,
        None,
        why="no matched record",
    ),
    Row(
        "billing dispute: never",
        {"intent": "billing_dispute", **MARCUS, "invoice_number": "INV-2025-0917", "amount_disputed": 349},
        REJECTED,
        None,
        why="produces no signal",
    ),
    Row(
        "billing question: never", {"intent": "billing_question", **MARCUS}, HANDED_OFF, None, why="produces no signal"
    ),
    Row(
        "reschedule: no signal in the policy",
        {"intent": "reschedule_booking", "booking_id": "BK-48213", **ELENA, "requested_date": "2025-06-14"},
        HANDED_OFF,
        None,
        why="produces no signal",
    ),
    Row(
        "consent captured on the call travels as a flag",
        {"intent": "where_is_my_order", **ELENA, "marketing_consent": "yes"},
        HANDED_OFF,
        "follow_up_need",
        {"channel": "phone"},
    ),
]


def state_of(row: Row) -> dict[str, Any]:
    call = CallSummary(
        call_id="call_" + re.sub(r"\W", "", row.name)[:20],
        event="call.ended",
        status="completed",
        direction="inbound",
        caller_phone="15555550100",
        summary=row.summary or None,
        analysis=row.analysis,
        has_transcript=True,
    )
    match = match_call(build_identity(call, TRANSCRIPT), seed_sources(seed_records()), budget_seconds=5)
    state = PipelineState(call=call, match=match, decision=decide(call, match, _policy()))
    document = state.model_dump(mode="json")
    if row.approved_by_review:
        document["review"] = ReviewOutcome(approved=True, reviewer="casey").model_dump(mode="json")
    if row.act:
        document["act"] = ActResult(results=list(row.act)).model_dump(mode="json")
    if row.outcome == REJECTED:
        document["rejection"] = {"Error": "Handoff.ReviewRejected", "Cause": json.dumps({"reviewer": "casey"})}
    return document


def signals_of(row: Row) -> list[LifecycleSignal]:
    return lifecycle_signals(state_of(row), row.outcome, policy=_policy())


@pytest.mark.parametrize("row", CORPUS, ids=lambda r: r.name)
def test_corpus_call_produces_its_signal(row: Row) -> None:
    signals = signals_of(row)
    if row.signal is None:
        assert signals == []
        if row.why:
            reason = why_not(PipelineState.model_validate(state_of(row)), row.outcome, _policy())
            assert reason is not None and row.why in reason
        return
    assert [s.signal for s in signals] == [row.signal]
    part = getattr(signals[0], row.signal).model_dump(mode="json")
    for key, value in row.expect.items():
        assert part.get(key) == value, key
    if row.customer:
        c = signals[0].customer
        assert f"{c.tool.value}:{c.kind.value}:{c.record_id}" == row.customer


def _policy() -> Any:
    from handoff_dev.policy_files import shipped_policy as default_policy

    return default_policy()


def test_the_corpus_covers_every_signal_and_every_reason_for_none() -> None:
    produced = {row.signal for row in CORPUS}
    assert produced == {"product_interest", "return_outcome", "follow_up_need", None}
    assert len(CORPUS) >= 20


def test_consent_is_a_flag_and_absent_when_the_call_did_not_say() -> None:
    with_consent = next(r for r in CORPUS if "marketing_consent" in r.analysis)
    assert signals_of(with_consent)[0].consent is True
    assert signals_of(CORPUS[0])[0].consent is None


def test_a_signal_names_the_caller_only_as_a_record_id() -> None:
    signal = signals_of(CORPUS[0])[0]
    assert signal.customer.model_dump(mode="json") == {"tool": "billit", "kind": "customer", "record_id": "779000"}


EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE = re.compile(r"\+?\d[\d ().-]{8,}\d")
AMOUNT = re.compile(r"[$€£]\s?\d|\d\s?(usd|eur|gbp)\b", re.I)
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?")
ALLOWED_LABELS = {"product_name", "sku", "product_category"}


@pytest.mark.parametrize("row", [r for r in CORPUS if r.signal], ids=lambda r: r.name)
def test_no_forbidden_field_ever_appears_in_a_signal(row: Row) -> None:
    text = "".join(s.model_dump_json() for s in signals_of(row))
    text = ISO_TIME.sub("<time>", text)  # dates are dates, not phone numbers
    assert not EMAIL.search(text) and not PHONE.search(text) and not AMOUNT.search(text)
    for secret in (CARD, CARD.replace(" ", ""), IBAN, IBAN.replace(" ", ""), VAT, "transcript"):
        assert secret not in text
    said = [v for k, v in row.analysis.items() if isinstance(v, str) and k not in ALLOWED_LABELS and k != "intent"]
    for value in [*said, row.summary, TRANSCRIPT]:
        if value and len(value) > 3 and not re.fullmatch(r"[a-z_]+|\d{4}-\d{2}-\d{2}", value):
            assert value not in text, value


def test_the_policy_refuses_a_signal_for_a_billing_intent_or_an_unknown_one() -> None:
    from handoff.route.policy import PolicyError, parse_policy
    from handoff_dev.policy_files import ROUTING_POLICY_FILE as POLICY_PATH

    text = POLICY_PATH.read_text(encoding="utf-8")
    bad = text.replace(
        "follow_up_need: {intents: [callback_request, where_is_my_order]}",
        "follow_up_need: {intents: [callback_request, billing_dispute, no_such_intent]}",
    )
    assert bad != text
    with pytest.raises(PolicyError) as raised:
        parse_policy(bad)
    message = str(raised.value)
    assert "signals.follow_up_need.intents[1]: 'billing_dispute' is billing" in message
    assert "signals.follow_up_need.intents[2]: unknown intent 'no_such_intent'" in message
