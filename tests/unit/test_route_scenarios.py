"""Scenario suite: every workflow issue 4 names, as calls through match and route.

Each row is one call (post-call analysis, summary, transcript, line) against
the sandbox people (in-memory sources); it asserts the decision mode, the
record chosen and the rules that fired (which carry the reasons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from handoff.match.identity import build_identity
from handoff.match.sources import RecordSource, match_call
from handoff.models import CallSummary, Mode, RouteDecision, Tool, Urgency
from handoff.route.decide import DECISION_RULES, Evaluation, evaluate
from handoff_dev.match_seed import BrokenSource, seed_records, seed_sources
from handoff_dev.policy_files import shipped_policy

ELENA = {"customer_name": "Elena Marsh", "customer_email": "elena.marsh@example.com", "customer_phone": "+15555550142"}
HANNAH = {"customer_name": "Hannah Reid", "customer_email": "hannah.reid@example.com"}
MARCUS = {"customer_name": "Marcus Greene", "customer_email": "marcus.greene@example.com"}
SOFIA = {"customer_name": "Sofia Alvarez", "customer_email": "sofia.alvarez@example.com"}
DANIEL = {"customer_name": "Daniel Okafor", "customer_email": "daniel.okafor@example.com"}
NEW_DATE = {"requested_date": "2025-06-14T13:00:00-04:00"}
INVOICE = {"invoice_number": "INV-2025-0917"}

ELENA_RES = "planyo reservation 48213"
HANNAH_BOOKING = "bookingmood booking bkm_48377"
MARCUS_INVOICE = "plisio invoice plisio_0917"
SOFIA_PLANYO = "planyo customer 700131"


@dataclass(frozen=True)
class Scenario:
    name: str
    analysis: dict[str, Any]
    mode: Mode
    record: str | None
    rules: tuple[str, ...]
    summary: str = ""
    transcript: str | None = None
    caller_phone: str | None = "15555550100"
    status: str | None = "completed"
    event: str = "call.ended"
    direction: str = "inbound"
    category: str | None = None
    hangup_reason: str | None = None
    down: tuple[Tool, ...] = ()
    operations: tuple[str, ...] = ()
    urgency: Urgency | None = None
    owner: str | None = None
    escalate: bool | None = None
    notify: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


S = Scenario
SCENARIOS: list[Scenario] = [
    # --- booking reschedule -------------------------------------------------------------------
    S(
        "reschedule with id, e-mail and phone acts in Planyo",
        {"intent": "reschedule_booking", "booking_id": "BK-48213", **ELENA, **NEW_DATE},
        Mode.ACT,
        ELENA_RES,
        ("intent:reschedule_booking", "match:strong", "decision:act"),
        operations=("planyo.modify_reservation",),
        owner="Bookings and delivery scheduling",
    ),
    S(
        "variant B 'booking' with appointment date acts in Bookingmood",
        {"intent": "booking", "booking_id": "BK-48377", "appointment_date": "2025-06-18", **HANNAH},
        Mode.ACT,
        HANNAH_BOOKING,
        ("intent:reschedule_booking", "match:strong", "decision:act"),
        caller_phone="+15555550164",
        event="call.analysis_ready",
        status=None,
        operations=("bookingmood.update_contact_booking",),
    ),
    S(
        "booking id spelled out by voice, found in the transcript",
        {"intent": "reschedule_booking", **ELENA, **NEW_DATE},
        Mode.ACT,
        ELENA_RES,
        ("match:strong", "decision:act"),
        transcript="User: The booking number is B K 4 8 2 1 3.\nUser: Elena Marsh, elena.marsh@example.com.",
        operations=("planyo.modify_reservation",),
    ),
    S(
        "booking id alone is not enough to act",
        {"intent": "reschedule_booking", "booking_id": "bk 48213", **NEW_DATE},
        Mode.REVIEW,
        ELENA_RES,
        ("match:below-threshold",),
        caller_phone="15555550999",
    ),
    S(
        "reschedule without a new date goes to review",
        {"intent": "reschedule_booking", "booking_id": "BK-48213", **ELENA},
        Mode.REVIEW,
        ELENA_RES,
        ("match:strong", "missing-field"),
    ),
    S(
        "unknown booking id with a known e-mail does not act on another booking",
        {"intent": "reschedule_booking", "booking_id": "BK-99999", **ELENA, **NEW_DATE},
        Mode.REVIEW,
        ELENA_RES,
        ("match:below-threshold",),
    ),
    S(
        "tools down lower the confidence below the act threshold",
        {"intent": "reschedule_booking", "booking_id": "BK-48213", **ELENA, **NEW_DATE},
        Mode.REVIEW,
        ELENA_RES,
        ("match:lookup-failed", "match:below-threshold"),
        down=(Tool.BOOKINGMOOD, Tool.BILLIT),
    ),
    S(
        "one tool down still acts on a corroborated id",
        {"intent": "reschedule_booking", "booking_id": "BK-48213", **ELENA, **NEW_DATE},
        Mode.ACT,
        ELENA_RES,
        ("match:lookup-failed", "match:strong", "decision:act"),
        down=(Tool.PLISIO,),
        operations=("planyo.modify_reservation",),
    ),
    S(
        "gold loyalty tier needs a human",
        {"intent": "reschedule", "booking_id": "BK-48213", **ELENA, **NEW_DATE, "loyalty_status": "Gold"},
        Mode.REVIEW,
        ELENA_RES,
        ("rule:loyalty-tier",),
    ),
    # --- booking constraint ---------------------------------------------------------------------
    S(
        "booking constraint prepares a note for review",
        {"intent": "booking_constraint", "booking_id": "BK-48213", **ELENA},
        Mode.REVIEW,
        ELENA_RES,
        ("intent:booking_constraint", "intent-mode:review"),
        summary="Crew must use the side gate; dog on site.",
        operations=("planyo.add_reservation_note",),
    ),
    S(
        "cancellation is sensitive and prepares the status change",
        {"intent": "cancel_booking", "booking_id": "BK-48377", **HANNAH},
        Mode.REVIEW,
        HANNAH_BOOKING,
        ("intent:cancellation", "sensitive:cancellation"),
        caller_phone="+15555550164",
        operations=("bookingmood.change_booking_status",),
    ),
    # --- availability, price, package options (buying intent) ----------------------------------
    S(
        "price question with buying intent from a new caller creates the customer",
        {"intent": "product_inquiry", **DANIEL, "product_name": "Harbor sofa", "buying_intent": True},
        Mode.ACT,
        None,
        ("new-caller:create", "decision:act"),
        operations=("billit.create_customer",),
        owner="Sales",
    ),
    S(
        "price question without buying intent is nothing to do",
        {"intent": "product_inquiry", **DANIEL, "buying_intent": False},
        Mode.NONE,
        None,
        ("revenue:no-buying-intent",),
        notify=False,
    ),
    S(
        "availability question from a known customer hands off to sales without creating",
        {"intent": "availability_question", **SOFIA, "buying_intent": True},
        Mode.ACT,
        SOFIA_PLANYO,
        ("intent:product_inquiry", "new-caller:existing", "decision:hand off"),
        caller_phone="15555550131",
    ),
    S(
        "buying intent while a tool is down cannot prove the caller is new",
        {"intent": "product_inquiry", **DANIEL, "buying_intent": True},
        Mode.REVIEW,
        None,
        ("new-caller:lookups-incomplete",),
        down=(Tool.BILLIT,),
    ),
    S(
        "buying intent from an anonymous caller goes to review",
        {"intent": "price_question", "buying_intent": "yes"},
        Mode.REVIEW,
        None,
        ("safe-default:no-identifying-data",),
    ),
    S(
        "package options with buying intent adds the Planyo user",
        {"intent": "package_options", **DANIEL, "buying_intent": True},
        Mode.ACT,
        None,
        ("new-caller:create",),
        operations=("planyo.add_user",),
    ),
    S(
        "package options without buying intent is noise",
        {"intent": "packages", **DANIEL, "buying_intent": False},
        Mode.NONE,
        None,
        ("revenue:no-buying-intent",),
    ),
    # --- where is my order, address change, field visit --------------------------------------------
    S(
        "where is my order with an order id hands off to fulfilment",
        {"intent": "order_status", **SOFIA, "order_id": "NW-77120"},
        Mode.ACT,
        SOFIA_PLANYO,
        ("intent:where_is_my_order", "decision:hand off"),
        owner="Fulfilment and delivery",
        caller_phone="15555550131",
    ),
    S(
        "where is my order from an anonymous caller goes to review",
        {"intent": "where_is_my_order"},
        Mode.REVIEW,
        None,
        ("safe-default:no-identifying-data",),
    ),
    S(
        "delivery address change always needs a human",
        {"intent": "delivery_address_change", "booking_id": "BK-48213", **ELENA},
        Mode.REVIEW,
        ELENA_RES,
        ("sensitive:address_change", "intent-mode:review"),
    ),
    S(
        "a reschedule that also moves the address is reviewed",
        {"intent": "reschedule_booking", "booking_id": "BK-48213", **ELENA, **NEW_DATE},
        Mode.REVIEW,
        ELENA_RES,
        ("sensitive:address_change",),
        summary="Move the delivery to Saturday and deliver to a new address.",
    ),
    S(
        "field visit access notes hand off to the crew",
        {"intent": "site_visit", "booking_id": "BK-48213", **ELENA, "access_notes": "Gate code at reception"},
        Mode.ACT,
        ELENA_RES,
        ("intent:field_visit", "decision:hand off"),
    ),
    # --- damaged, wrong, missing, returns ----------------------------------------------------------
    S(
        "damaged item goes to the claims desk for review",
        {"intent": "damaged_item", **SOFIA, "order_id": "NW-77120", "product_name": "Oak dining table"},
        Mode.REVIEW,
        SOFIA_PLANYO,
        ("intent:damaged_item", "rule:claims-own-exceptions"),
        owner="Claims desk",
        summary="Cracked table leg; wants a replacement.",
        caller_phone="15555550131",
    ),
    S(
        "wrong product is a damaged-item exception",
        {"intent": "wrong_product", **SOFIA, "order_id": "NW-77120"},
        Mode.REVIEW,
        SOFIA_PLANYO,
        ("intent:damaged_item",),
        caller_phone="15555550131",
    ),
    S(
        "missing item goes to claims",
        {"intent": "missing_item", **SOFIA, "order_id": "NW-77120"},
        Mode.REVIEW,
        SOFIA_PLANYO,
        ("intent:missing_item", "intent-mode:review"),
        owner="Claims desk",
        caller_phone="15555550131",
    ),
    S(
        "return with a refund expectation is sensitive and stays with claims",
        {"intent": "return", **SOFIA, "refund_expectation": "full refund to card"},
        Mode.REVIEW,
        SOFIA_PLANYO,
        ("sensitive:refund", "rule:claims-own-exceptions", "rule:money-needs-finance"),
        owner="Claims desk",
        caller_phone="15555550131",
    ),
    # --- abandoned cart ------------------------------------------------------------------------------
    S(
        "abandoned cart reassurance with buying intent hands off to sales",
        {"intent": "abandoned_cart", **DANIEL, "buying_intent": True},
        Mode.ACT,
        None,
        ("match:none", "decision:hand off"),
        owner="Sales",
    ),
    S(
        "abandoned cart without interest is nothing to do",
        {"intent": "cart_reassurance", **DANIEL, "buying_intent": False},
        Mode.NONE,
        None,
        ("revenue:no-buying-intent",),
        direction="outbound",
    ),
    # --- billing -------------------------------------------------------------------------------------
    S(
        "billing question on a matched invoice hands off to billing",
        {"intent": "billing_question", **MARCUS, **INVOICE},
        Mode.ACT,
        MARCUS_INVOICE,
        ("intent:billing_question", "match:strong", "decision:hand off"),
        caller_phone="15555550187",
    ),
    S(
        "billing question asking for money back is reviewed",
        {"intent": "billing", **MARCUS, **INVOICE},
        Mode.REVIEW,
        MARCUS_INVOICE,
        ("sensitive:refund",),
        summary="Asked when the refund for the old invoice arrives.",
        caller_phone="15555550187",
    ),
    S(
        "charge dispute is always reviewed by billing",
        {"intent": "billing_dispute", **MARCUS, **INVOICE, "amount_disputed": 349.0},
        Mode.REVIEW,
        MARCUS_INVOICE,
        ("sensitive:dispute", "intent-mode:review"),
        caller_phone="15555550187",
        urgency=Urgency.HIGH,
        owner="Billing and finance",
    ),
    S(
        "high-value dispute is flagged above the approval threshold",
        {"intent": "chargeback", **MARCUS, **INVOICE, "amount_disputed": "2,500.00"},
        Mode.REVIEW,
        MARCUS_INVOICE,
        ("rule:high-value",),
        caller_phone="15555550187",
        urgency=Urgency.HIGH,
    ),
    S(
        "receipt to the verified e-mail is prepared for approval",
        {"intent": "receipt", **MARCUS, **INVOICE},
        Mode.REVIEW,
        MARCUS_INVOICE,
        ("intent:receipt_request",),
        operations=("plisio.get_invoice",),
        extra={"receipt_email": "marcus.greene@example.com"},
    ),
    S(
        "receipt to an unverified e-mail sends nothing",
        {"intent": "receipt_request", "customer_email": "m.greene@example.org", **INVOICE},
        Mode.REVIEW,
        MARCUS_INVOICE,
        ("receipt:email-not-verified",),
        operations=(),
    ),
    S(
        "tax or billing address correction is reviewed without the tax id",
        {"intent": "tax_correction", **MARCUS, **INVOICE},
        Mode.REVIEW,
        MARCUS_INVOICE,
        ("sensitive:tax", "intent-mode:review"),
        summary="Needs VAT number DE136695976 on the invoice corrected.",
        caller_phone="15555550187",
    ),
    S(
        "VIP payment blocker is critical and escalated",
        {"intent": "payment_failed", **MARCUS, **INVOICE, "vip_status": "VIP"},
        Mode.REVIEW,
        MARCUS_INVOICE,
        ("rule:vip-payment-blocker", "rule:vip-customer", "sensitive:payment_details"),
        urgency=Urgency.CRITICAL,
        escalate=True,
        caller_phone="15555550187",
    ),
    S(
        "payment blocker without VIP is high, not critical",
        {"intent": "payment_blocker", **MARCUS, **INVOICE},
        Mode.REVIEW,
        MARCUS_INVOICE,
        ("sensitive:payment_details",),
        urgency=Urgency.HIGH,
        escalate=False,
        caller_phone="15555550187",
    ),
    S(
        "collections call outcome hands off to collections",
        {"intent": "collections_call", **MARCUS, **INVOICE},
        Mode.ACT,
        MARCUS_INVOICE,
        ("intent:collections",),
        direction="outbound",
        owner="Collections",
    ),
    S(
        "collections call with a payment plan is a commitment for a human",
        {"intent": "collections", **MARCUS, **INVOICE},
        Mode.REVIEW,
        MARCUS_INVOICE,
        ("sensitive:customer_commitment",),
        summary="Customer asked for a payment plan over three months.",
        direction="outbound",
    ),
    # --- identity ------------------------------------------------------------------------------------
    S(
        "no identifying data goes to review",
        {"intent": "other", "resolved": True},
        Mode.REVIEW,
        None,
        ("safe-default:no-identifying-data",),
        summary="Asked about the return window.",
        caller_phone="15555550123",
    ),
    S(
        "unknown intent goes to review",
        {"intent": "teleport_request", **ELENA},
        Mode.REVIEW,
        None,
        ("safe-default:unknown-intent",),
    ),
    S("missing intent goes to review", {**ELENA}, Mode.REVIEW, None, ("safe-default:unknown-intent",)),
    S(
        "e-mail of one customer and phone of another is ambiguous",
        {
            "intent": "reschedule_booking",
            "customer_email": "elena.marsh@example.com",
            "customer_phone": "+15555550164",
            **NEW_DATE,
        },
        Mode.REVIEW,
        None,
        ("safe-default:ambiguous-match",),
    ),
    S(
        "booking id of one customer and e-mail of another is ambiguous",
        {"intent": "reschedule_booking", "booking_id": "BK-48213", **HANNAH, **NEW_DATE},
        Mode.REVIEW,
        None,
        ("safe-default:ambiguous-match",),
    ),
    S(
        "a phone shared by two customers is ambiguous",
        {"intent": "billing_question", "customer_phone": "555-555-0187"},
        Mode.REVIEW,
        None,
        ("safe-default:ambiguous-match",),
    ),
    # --- risk flags ----------------------------------------------------------------------------------
    S(
        "fraud concern is critical, with the risk team",
        {"intent": "fraud", **MARCUS, **INVOICE},
        Mode.REVIEW,
        MARCUS_INVOICE,
        ("intent:fraud_concern",),
        urgency=Urgency.CRITICAL,
        escalate=True,
        caller_phone="15555550187",
    ),
    S(
        "fraud flag on a strong reschedule stops the action",
        {"intent": "reschedule_booking", "booking_id": "BK-48213", **ELENA, **NEW_DATE, "fraud_concern": True},
        Mode.REVIEW,
        ELENA_RES,
        ("rule:fraud-flag",),
        owner="Risk and fraud",
        urgency=Urgency.CRITICAL,
    ),
    S(
        "urgent travel keeps acting but raises urgency and escalates",
        {"intent": "reschedule_booking", "booking_id": "BK-48213", **ELENA, **NEW_DATE, "urgent_travel": "yes"},
        Mode.ACT,
        ELENA_RES,
        ("rule:urgent-travel", "decision:act"),
        urgency=Urgency.HIGH,
        escalate=True,
        operations=("planyo.modify_reservation",),
    ),
    S(
        "running late hands off to bookings as urgent",
        {"intent": "running_late", "booking_id": "BK-48213", **ELENA},
        Mode.ACT,
        ELENA_RES,
        ("intent:running_late", "decision:hand off"),
        urgency=Urgency.HIGH,
    ),
    S(
        "no-show risk flag on a reschedule raises urgency",
        {"intent": "reschedule_booking", "booking_id": "BK-48213", **ELENA, **NEW_DATE, "risk_flags": ["no_show_risk"]},
        Mode.ACT,
        ELENA_RES,
        ("rule:no-show-risk",),
        urgency=Urgency.HIGH,
        operations=("planyo.modify_reservation",),
    ),
    S(
        "something broken is triaged",
        {"intent": "not_working", **SOFIA},
        Mode.REVIEW,
        SOFIA_PLANYO,
        ("intent:technical_issue",),
        summary="The checkout page crashes when paying.",
        caller_phone="15555550131",
    ),
    # --- no contact ----------------------------------------------------------------------------------
    S(
        "outbound campaign no-answer is nothing to do, with a follow-up owner",
        {},
        Mode.NONE,
        None,
        ("no-contact", "no-contact:campaign-follow-up"),
        status="hangup",
        hangup_reason="user_did_not_pick_up",
        direction="outbound",
        category="batch",
        caller_phone="15555550199",
        notify=True,
        owner="Outbound campaigns",
    ),
    S(
        "inbound hangup is nothing to do and tells nobody",
        {},
        Mode.NONE,
        None,
        ("no-contact",),
        status="hangup",
        hangup_reason="user_busy",
        notify=False,
    ),
    S(
        "verification ping is nothing to do",
        {},
        Mode.NONE,
        None,
        ("no-contact",),
        event="ping",
        status=None,
        caller_phone=None,
        notify=False,
    ),
    S(
        "voicemail on a one-off outbound call is nothing to do",
        {"intent": "collections"},
        Mode.NONE,
        None,
        ("no-contact",),
        status="completed",
        hangup_reason="voicemail_detected",
        direction="outbound",
        notify=False,
    ),
]


def _sources(scenario: Scenario) -> list[RecordSource]:
    sources = seed_sources(seed_records())
    return [BrokenSource(tool=s.tool) if s.tool in scenario.down else s for s in sources]


def run(scenario: Scenario) -> RouteDecision:
    return run_rules(scenario).decision


def run_rules(scenario: Scenario) -> Evaluation:
    call = CallSummary(
        call_id="call_" + str(abs(hash(scenario.name)))[:10],
        event=scenario.event,
        status=scenario.status,
        direction=scenario.direction,
        category=scenario.category,
        caller_phone=scenario.caller_phone,
        hangup_reason=scenario.hangup_reason,
        summary=scenario.summary or None,
        recording_url="https://recordings.example.com/dialnexa/x.mp3",
        analysis=scenario.analysis,
        has_transcript=scenario.transcript is not None,
    )
    identity = build_identity(call, scenario.transcript)
    match = match_call(identity, _sources(scenario), budget_seconds=5)
    return evaluate(call, match, shipped_policy())


def test_the_suite_covers_at_least_forty_calls() -> None:
    assert len(SCENARIOS) >= 40


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    decision = run(scenario)
    assert decision.mode is scenario.mode, decision.reasons
    assert (decision.handoff.affected_record or "").startswith(scenario.record or "") and (
        scenario.record is not None or decision.handoff.affected_record is None
    ), decision.handoff.affected_record
    missing = set(scenario.rules) - set(decision.rules_fired)
    assert not missing, (missing, decision.rules_fired)
    assert len(decision.reasons) == len(decision.rules_fired) and all(decision.reasons)
    if scenario.operations or scenario.mode is Mode.ACT:
        assert tuple(f"{a.tool.value}.{a.operation}" for a in decision.actions) == scenario.operations
    if scenario.urgency is not None:
        assert decision.urgency is scenario.urgency
    if scenario.owner is not None:
        assert decision.owner.team == scenario.owner
    if scenario.escalate is not None:
        assert (decision.owner.escalation_channel is not None) is scenario.escalate
    if scenario.notify is not None:
        assert decision.notify is scenario.notify
    if "receipt_email" in scenario.extra:
        assert decision.actions[0].params["email"] == scenario.extra["receipt_email"]


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.mode is not Mode.ACT], ids=lambda s: s.name)
def test_nothing_is_acted_on_outside_act_mode_without_a_human(scenario: Scenario) -> None:
    decision = run(scenario)
    assert decision.mode in (Mode.REVIEW, Mode.NONE)
    if decision.mode is Mode.NONE:
        assert decision.actions == []


def test_booking_change_handoff_carries_old_value_new_value_reason_and_links() -> None:
    decision = run(SCENARIOS[0])
    doc = decision.handoff
    assert doc.kind == "booking_change"
    assert doc.extras["old_value"].startswith("2025-06-12T09:00")
    assert doc.extras["new_value"] == "2025-06-14T13:00:00-04:00"
    assert doc.record_url and "48213" in doc.record_url
    assert set(doc.evidence_links) >= {"dialnexa_call_id", "dialnexa_call", "recording"}
    assert doc.caller == "Elena Marsh <elena.marsh@example.com>, +15555550142"


def test_card_numbers_and_tax_ids_never_enter_the_handoff() -> None:
    scenario = Scenario(
        "payment with secrets",
        {"intent": "payment_failed", **MARCUS, **INVOICE, "card_number": "4111 1111 1111 1111"},
        Mode.REVIEW,
        MARCUS_INVOICE,
        (),
        summary="Card 4111 1111 1111 1111 declined; VAT number DE136695976; IBAN DE89370400440532013000.",
    )
    text = run(scenario).model_dump_json()
    for secret in ("4111 1111 1111 1111", "4111111111111111", "DE136695976", "DE89370400440532013000"):
        assert secret not in text


def test_every_decision_records_the_policy_version() -> None:
    assert run(SCENARIOS[0]).policy_version.startswith("20")


# --------------------------------------------------------------------------- the decision rules, in order
# Which decision rule decides each scenario, with the mode it gives and the rule id it records
# (None: it records none of its own; needs-review's reasons are the guards' that fired).
DECIDES: dict[str, tuple[Mode, str | None]] = {
    "no-contact": (Mode.NONE, "no-contact"),
    "unknown-intent": (Mode.REVIEW, "safe-default:unknown-intent"),
    "no-buying-intent": (Mode.NONE, "revenue:no-buying-intent"),
    "needs-review": (Mode.REVIEW, None),
    "nothing-to-act-on": (Mode.REVIEW, "safe-default:nothing-to-act-on"),
    "act": (Mode.ACT, None),
}


def test_the_decision_rules_are_the_documented_order() -> None:
    assert [rule.name for rule in DECISION_RULES] == list(DECIDES)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_first_decision_rule_that_applies_decides(scenario: Scenario) -> None:
    evaluation = run_rules(scenario)
    names = [rule.name for rule in DECISION_RULES]
    assert list(evaluation.checked) == names[: len(evaluation.checked)]
    mode, recorded = DECIDES[evaluation.decided_by]
    assert evaluation.decision.mode is mode
    assert recorded is None or recorded in evaluation.decision.rules_fired
    if evaluation.decided_by == "act":
        assert evaluation.decision.rules_fired[-1] in ("decision:act", "decision:hand off")


def test_docs_policy_lists_the_decision_rules_in_their_order() -> None:
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "policy.md").read_text(encoding="utf-8")
    listed = [line.split("`")[1] for line in docs.splitlines() if line.startswith("| `")]
    assert [name for name in listed if name in DECIDES] == list(DECIDES)


def test_every_decision_rule_decides_at_least_one_scenario() -> None:
    deciding = {run_rules(s).decided_by for s in SCENARIOS}
    assert deciding == set(DECIDES) - {"nothing-to-act-on"}  # reached under another policy: below


def test_an_acting_intent_whose_only_action_was_withdrawn_goes_to_review_as_nothing_to_act_on() -> None:
    """No scenario under the shipped policy reaches it (receipts are reviewed); a policy that acts on them does."""
    from handoff.models import Candidate, MatchResult, MatchStatus, RecordKind
    from handoff.route.policy import parse_policy
    from handoff_dev.policy_files import ROUTING_POLICY_FILE

    text = ROUTING_POLICY_FILE.read_text(encoding="utf-8")
    acting = text.replace(
        "    # DESIGN: Plisio billing disputes and receipts go to review.\n    mode: review", "    mode: act"
    )
    assert acting != text
    invoice = Candidate(tool=Tool.PLISIO, kind=RecordKind.INVOICE, record_id="plisio_0917", confidence=0.99)
    match = MatchResult(status=MatchStatus.STRONG, confidence=0.99, candidates=[invoice])
    call = CallSummary(call_id="call_receipt", event="call.ended", analysis={"intent": "receipt_request", **INVOICE})
    evaluation = evaluate(call, match, parse_policy(acting))
    assert evaluation.decided_by == "nothing-to-act-on"
    assert evaluation.decision.mode is Mode.REVIEW and evaluation.decision.actions == []
    assert evaluation.decision.rules_fired[-2:] == ["receipt:email-not-verified", "safe-default:nothing-to-act-on"]
