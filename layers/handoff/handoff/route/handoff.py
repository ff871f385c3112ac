"""Build the ``HandoffDocument``: what act writes into the tool and what notify and the reviewer see.

Self-contained so a teammate never replays the call: who called, what they
asked for, what the call established, the affected record, why, urgency,
owner, next step and the evidence links; plus what the kind's team needs
(DESIGN.md, "What a call carries"). Card numbers, bank details and tax
identifiers never enter it: every free text goes through ``redact`` and
payment or tax fields are never copied.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable, Mapping
from typing import Any

from handoff.match.identity import CallerIdentity
from handoff.match.normalise import is_empty
from handoff.models import CallSummary, Candidate, HandoffDocument, MatchResult, Owner, Urgency
from handoff.route.policy import HandoffKind, Policy

KIND_TITLES: dict[str, str] = {
    "revenue": "Sales lead",
    "follow_up": "Follow-up",
    "field_visit": "Field visit",
    "triage": "Triage",
    "exception": "Exception",
    "billing": "Billing",
    "booking_change": "Booking change",
    "general": "Call",
}

NEVER_COPIED = re.compile(r"card|iban|bank|account_number|routing|tax_id|vat_number|cvv|cvc|ssn|sort_code", re.I)
"""Analysis keys whose values are never copied into a handoff, whatever they hold."""


def _redactor() -> Callable[[str], str]:
    """``handoff.redact.redact_text`` when that module exists (written by another engineer).

    Until it lands, the identity function: only a *missing* module falls back,
    an import error inside an existing module is raised.
    """
    if importlib.util.find_spec("handoff.redact") is None:
        return lambda text: text
    module = importlib.import_module("handoff.redact")
    redact_text: Callable[[str], str] = module.redact_text
    return redact_text


def redact(text: str | None) -> str:
    """Redact card numbers, bank details and tax identifiers from a free text."""
    return _redactor()(text) if text else ""


def _value(analysis: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if NEVER_COPIED.search(key):
            continue
        value = analysis.get(key)
        if not is_empty(value) and value != []:
            return redact(value) if isinstance(value, str) else value
    return None


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "y", "1", "vip"}
    return False


def _preference(text: str) -> str | None:
    lowered = text.lower()
    if "replacement" in lowered or "replace" in lowered:
        return "replacement"
    if "refund" in lowered or "money back" in lowered:
        return "refund"
    if "repair" in lowered:
        return "repair"
    return None


def caller_line(identity: CallerIdentity, analysis: Mapping[str, Any]) -> str | None:
    """``Elena Marsh <elena.marsh@example.com>, +15555550142`` from what the call established."""
    parts: list[str] = []
    name = identity.first_name()
    email = identity.first_email()
    if name:
        parts.append(f"{name} <{email}>" if email else name)
    elif email:
        parts.append(email)
    phone = identity.first_phone()
    if phone:
        parts.append(phone)
    return ", ".join(parts) or None


def describe_record(candidate: Candidate) -> str:
    label = f"{candidate.tool.value} {candidate.kind.value} {candidate.record_id}"
    return f"{label} ({candidate.display})" if candidate.display else label


def _extras(
    kind: HandoffKind,
    call: CallSummary,
    target: Candidate | None,
    owner: Owner,
    urgency: Urgency,
    identity: CallerIdentity,
    next_step: str,
    flags: set[str],
) -> dict[str, Any]:
    a = call.analysis or {}
    summary = redact(call.summary)
    attrs = target.attributes if target else {}
    if kind == "booking_change":
        old = attrs.get("start")
        if old and attrs.get("end"):
            old = f"{old} to {attrs['end']}"
        return {
            "old_value": old,
            "new_value": _value(a, "requested_date", "appointment_date", "new_date"),
            "reason": _value(a, "reason_for_call", "requested_action") or summary,
            "confirmation_sent": _truthy(a.get("confirmation_sent")) or "confirmation" in summary.lower(),
            "operations_told": urgency in (Urgency.HIGH, Urgency.CRITICAL)
            or bool(flags & {"no_show_risk", "urgent_travel"}),
        }
    if kind == "revenue":
        buying = _truthy(a.get("buying_intent")) or _truthy(a.get("customer_interested"))
        stage = "quote requested" if "quote" in summary.lower() else ("qualified lead" if buying else "nurture")
        return {
            "buying_signal": buying,
            "product": _value(a, "product_name", "sku", "product_sku"),
            "stage_suggestion": stage,
            "objection": _value(a, "objection", "concern"),
            "next_action": next_step,
        }
    if kind == "follow_up":
        return {
            "preferred_time": _value(a, "preferred_time", "callback_time", "requested_date"),
            "timezone": _value(a, "timezone", "time_zone"),
            "owner": owner.team,
            "promise_made": _value(a, "promise_made", "commitment"),
            "contact_channel": "email" if identity.emails else ("phone" if identity.phones else None),
            "order_id": _value(a, "order_id"),
            "delivery_status": _value(a, "delivery_status"),
        }
    if kind == "field_visit":
        return {
            "location": _value(a, "location", "delivery_address", "address"),
            "access_notes": _value(a, "access_notes", "access"),
            "timing_constraints": _value(a, "timing_constraints", "requested_date", "deadline"),
            "operational_owner": owner.team,
        }
    if kind == "triage":
        return {
            "symptom": _value(a, "symptom", "issue", "problem") or summary,
            "expected": _value(a, "expected_behaviour", "expected_behavior", "expected"),
            "actual": _value(a, "actual_behaviour", "actual_behavior", "actual"),
            "affected_area": _value(a, "affected_area", "area", "product_name"),
            "business_impact": _value(a, "business_impact", "impact"),
        }
    if kind == "exception":
        return {
            "reason": _value(a, "return_reason", "reason", "intent"),
            "customer_expectation": _value(a, "refund_expectation", "customer_expectation") or _preference(summary),
            "photo_needed": call.analysis.get("intent") in ("damaged_item", "wrong_product") or "damaged_item" in flags,
            "preference": _value(a, "preference", "resolution_preference") or _preference(summary),
            "deadline": _value(a, "deadline"),
            "order_id": _value(a, "order_id"),
            "product": _value(a, "product_name", "sku"),
            "transferred_to": call.transferred_to,
        }
    if kind == "billing":
        return {
            "amount": _value(a, "amount_disputed", "amount", "invoice_amount") or attrs.get("amount"),
            "currency": _value(a, "currency") or attrs.get("currency"),
            "invoice": _value(a, "invoice_number", "invoice_id") or (target.record_id if target else None),
            "status": _value(a, "payment_status") or attrs.get("status"),
            "dispute_reason": _value(a, "dispute_reason", "refund_reason") or (summary or None),
            "payment_details": "never captured",
        }
    return {}


def build_handoff(
    *,
    call: CallSummary,
    match: MatchResult,
    policy: Policy,
    kind: HandoffKind,
    intent: str,
    target: Candidate | None,
    owner: Owner,
    urgency: Urgency,
    reasons: list[str],
    next_step: str,
    flags: set[str] | None = None,
) -> HandoffDocument:
    """The self-contained handoff for one decision."""
    identity = CallerIdentity.model_validate(match.identity) if match.identity else CallerIdentity()
    caller = caller_line(identity, call.analysis)
    established: list[str] = []
    if target is not None:
        how = "; ".join(f"{e.call_field} = {e.record_field}" for e in target.evidence)
        established.append(f"Matched {describe_record(target)} at confidence {target.confidence:.2f} ({how})")
    elif match.candidates:
        established.append(f"Best candidate {describe_record(match.candidates[0])} at {match.confidence:.2f}; not used")
    else:
        established.append("No matching record in any tool")
    established.extend(redact(note) for note in match.notes)
    for key, label in (
        ("requested_date", "Requested date"),
        ("appointment_date", "Appointment date"),
        ("order_id", "Order"),
        ("invoice_number", "Invoice"),
        ("product_name", "Product"),
    ):
        value = _value(call.analysis, key)
        if value is not None:
            established.append(f"{label}: {value}")
    if "resolved" in call.analysis:
        established.append(f"Resolved on the call: {'yes' if _truthy(call.analysis.get('resolved')) else 'no'}")
    if call.transferred_to:
        established.append(f"Transferred during the call to {call.transferred_to}")

    links = {"dialnexa_call_id": call.call_id}
    links["dialnexa_call"] = call.call_url or policy.links.dialnexa_call.format(call_id=call.call_id)
    if call.has_transcript:
        links["transcript"] = policy.links.transcript.format(call_id=call.call_id)
    if call.recording_url:
        links["recording"] = call.recording_url

    who = identity.first_name() or (caller or "unknown caller")
    title = f"{KIND_TITLES[kind]}: {intent.replace('_', ' ')} for {who}"
    return HandoffDocument(
        kind=kind,
        title=redact(title),
        caller=caller,
        asked_for=redact(call.summary) or intent.replace("_", " "),
        established=established,
        affected_record=describe_record(target) if target else None,
        record_url=target.record_url if target else None,
        reason=redact("; ".join(reasons)),
        urgency=urgency,
        owner=owner.team,
        next_step=next_step,
        evidence_links=links,
        extras=_extras(kind, call, target, owner, urgency, identity, next_step, flags or set()),
        policy_version=policy.version,
    )
