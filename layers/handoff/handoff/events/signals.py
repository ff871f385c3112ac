"""Lifecycle signals: what marketing may learn from a call, and when it may learn nothing.

A signal is derived when a call reaches its final outcome (handed off, nothing
to do, or rejected by a reviewer), from typed parts only: the decision's intent
and rules, the analysis fields the policy names, and the record the caller
matched. The policy's ``signals`` section says which intents produce which
signal. Whatever the policy says, there is no signal for:

- a call without a match (strong, or weak on the caller's own e-mail; or a
  customer act created for a clearly new caller): the caller appears only as their record id in the tool
  that owns it;
- a billing intent or a dispute, or a call routed as sensitive (a sensitive
  category the signal does not allow, or a flag the policy lists);
- a call still waiting for a human, escalated or failed.

No free text from the caller travels: product and category labels must look
like labels (``handoff.events.mask.safe_label``), dates are dates, the rest are
enumerations.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from handoff.events.build import created_customer, customer_candidate
from handoff.events.contract import (
    CallHandedOff,
    CallNothingToDo,
    CallReviewRejected,
    CustomerRef,
    FollowUpNeed,
    LifecycleSignal,
    ProductInterest,
    ReturnOutcome,
    SignalKind,
)
from handoff.events.mask import safe_label, safe_sku
from handoff.match.normalise import is_empty
from handoff.models import MatchStatus, PipelineState
from handoff.route.decide import gather_facts
from handoff.route.policy import Policy

FINAL_OUTCOMES = frozenset({CallHandedOff.detail_type, CallNothingToDo.detail_type, CallReviewRejected.detail_type})
"""Outcomes after which nothing about the call changes any more: the only ones that may carry a signal."""
NEVER_CATEGORIES = frozenset({"dispute", "payment_details", "tax"})
STRENGTHS = ("weak", "moderate", "strong")
TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "0"})


def _flag(value: Any) -> bool | None:
    """A yes/no answer from an analysis field; None when the call did not say."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        word = value.strip().lower()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None
    return None


def _first(analysis: dict[str, Any], *keys: str) -> Any:
    return next((analysis[k] for k in keys if not is_empty(analysis.get(k))), None)


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    for candidate in (text, text[:10]):
        try:
            return date.fromisoformat(candidate)
        except ValueError:
            continue
    return None


def signal_kind(intent: str, policy: Policy) -> SignalKind | None:
    kinds: tuple[SignalKind, ...] = ("product_interest", "return_outcome", "follow_up_need")
    return next((kind for kind in kinds if intent in getattr(policy.signals, kind).intents), None)


def customer_of(state: PipelineState) -> CustomerRef | None:
    """The caller as a record id in the tool that owns it: the strongly matched record, or the one act created."""
    if state.match is not None and state.match.status is MatchStatus.AMBIGUOUS:
        return None
    best = customer_candidate(state)
    if best is not None:
        return CustomerRef(tool=best.tool, kind=best.kind, record_id=best.record_id)
    created = created_customer(state)
    if created is not None:
        return CustomerRef(tool=created.tool, kind=created.kind, record_id=created.record_id)
    return None


def why_not(state: PipelineState, outcome: str, policy: Policy) -> str | None:
    """Why this call produces no signal (None when it may produce one)."""
    decision = state.decision
    if outcome not in FINAL_OUTCOMES:
        return f"{outcome} is not a final outcome"
    if decision is None:
        return "no routing decision"
    kind = signal_kind(decision.intent, policy)
    if kind is None:
        return f"intent {decision.intent!r} produces no signal"
    rule = policy.intents.get(decision.intent)
    if rule is None or rule.kind == "billing":
        return "billing calls never produce a signal"
    facts = gather_facts(state.call, state.match or _no_match(), policy, rule)
    allowed = set(getattr(policy.signals, kind).allow_categories) - NEVER_CATEGORIES
    sensitive = sorted(set(facts.categories) - allowed)
    if sensitive:
        return f"routed as sensitive ({', '.join(sensitive)})"
    flagged = sorted(facts.flags & set(policy.signals.never_with_flags))
    if flagged:
        return f"routed as sensitive (flag {', '.join(flagged)})"
    if customer_of(state) is None:
        return "no matched record"
    return None


def _no_match() -> Any:
    from handoff.models import MatchResult

    return MatchResult()


def _interest(state: PipelineState, outcome: str) -> ProductInterest | None:
    a = state.call.analysis
    buying = _flag(a.get("buying_intent"))
    interested = _flag(a.get("customer_interested"))
    strength: Literal["weak", "moderate", "strong"]
    if buying and outcome == CallHandedOff.detail_type:
        strength = "strong"
    elif buying or interested:
        strength = "moderate"
    else:
        strength = "weak"
    product = safe_label(_first(a, "product_name", "product"))
    sku = safe_sku(_first(a, "sku", "product_sku"))
    category = safe_label(_first(a, "product_category", "category_of_interest"))
    if not (product or sku or category):
        return None
    return ProductInterest(product=product, sku=sku, category=category, strength=strength)


def _return(state: PipelineState, outcome: str) -> ReturnOutcome:
    a = state.call.analysis
    intent = state.decision.intent if state.decision else ""
    reason: Literal["damaged", "wrong_item", "missing_item", "unwanted", "other"]
    raw_intent = str(a.get("intent") or "").lower()
    if intent == "missing_item":
        reason = "missing_item"
    elif "wrong" in raw_intent:
        reason = "wrong_item"
    elif intent == "damaged_item":
        reason = "damaged"
    elif intent == "return_request":
        reason = "unwanted"
    else:
        reason = "other"
    if outcome == CallReviewRejected.detail_type:
        return ReturnOutcome(outcome="declined", reason=reason)
    wish = " ".join(
        str(a.get(k) or "") for k in ("resolution_preference", "preference", "refund_expectation", "requested_action")
    ).lower()
    extras = state.decision.handoff.extras if state.decision else {}
    preference = str(extras.get("preference") or extras.get("customer_expectation") or "").lower()
    if "replace" in wish or preference == "replacement":
        return ReturnOutcome(outcome="replaced", reason=reason)
    if "refund" in wish or "money back" in wish or preference == "refund":
        return ReturnOutcome(outcome="refunded", reason=reason)
    return ReturnOutcome(outcome="returned", reason=reason)


def _follow_up(state: PipelineState) -> FollowUpNeed | None:
    a = state.call.analysis
    channel_said = str(_first(a, "preferred_channel", "contact_channel", "callback_channel") or "").lower()
    channel: Literal["phone", "email", "sms", "whatsapp"]
    if channel_said in ("email", "e-mail", "mail"):
        channel = "email"
    elif channel_said in ("sms", "text", "text message"):
        channel = "sms"
    elif channel_said == "whatsapp":
        channel = "whatsapp"
    else:
        channel = "phone"
    due = _date(_first(a, "callback_date", "follow_up_date", "deadline", "preferred_date", "requested_date"))
    intent = state.decision.intent if state.decision else ""
    topic: Literal["callback", "delivery_status", "booking", "other"] = (
        "callback" if intent == "callback_request" else "delivery_status" if intent == "where_is_my_order" else "other"
    )
    return FollowUpNeed(channel=channel, due_date=due, topic=topic)


def consent(state: PipelineState, policy: Policy) -> bool | None:
    """The caller's marketing consent from the analysis field the policy names (UNCONFIRMED field names)."""
    for key in policy.signals.consent_fields:
        answer = _flag(state.call.analysis.get(key))
        if answer is not None:
            return answer
    return None


def lifecycle_signals(
    document: dict[str, Any] | PipelineState,
    outcome: str,
    *,
    policy: Policy,
    now: datetime | None = None,
) -> list[LifecycleSignal]:
    """The signals one final outcome of a call produces (none, or one), as ``policy`` decides."""
    state = document if isinstance(document, PipelineState) else PipelineState.model_validate(document)
    if why_not(state, outcome, policy) is not None:
        return []
    assert state.decision is not None
    kind = signal_kind(state.decision.intent, policy)
    customer = customer_of(state)
    assert kind is not None and customer is not None
    parts: dict[str, Any] = {}
    if kind == "product_interest":
        interest = _interest(state, outcome)
        minimum = STRENGTHS.index(policy.signals.min_interest)
        if interest is None or STRENGTHS.index(interest.strength) < minimum:
            return []
        parts["product_interest"] = interest
    elif kind == "return_outcome":
        parts["return_outcome"] = _return(state, outcome)
    else:
        need = _follow_up(state)
        if need is None:
            return []
        parts["follow_up_need"] = need
    call_id = state.call.call_id
    return [
        LifecycleSignal(
            signal_id=f"{call_id}:{kind}",
            call_id=call_id,
            occurred_at=now or datetime.now(UTC),
            signal=kind,
            customer=customer,
            consent=consent(state, policy),
            **parts,
        )
    ]
