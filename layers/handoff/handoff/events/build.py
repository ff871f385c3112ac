"""Build each outcome event from the typed parts of the state document, never the whole of it.

Pure: the publisher passes the state document the Publish state received, and
gets back validated models. Whatever the document holds besides (caller details,
evidence, action parameters, transcripts links with tokens) has no field to go in.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from handoff.events.contract import (
    ActionOutcome,
    CallFailed,
    CallHandedOff,
    CallLinks,
    CallNothingToDo,
    CallOutcome,
    CallReviewEscalated,
    CallReviewRejected,
    CallReviewRequested,
    EventDetail,
    ProposedAction,
    RecordRef,
)
from handoff.events.mask import mask_summary
from handoff.match.identity import CallerIdentity
from handoff.models import Candidate, MatchStatus, PipelineState, RecordKind, Tool
from handoff.route.handoff import describe_record
from handoff.route.policy import Policy

_TOKEN = re.compile(r"^[A-Za-z0-9_.:#/+=-]{1,128}$")
_RULE = re.compile(r"^[a-z0-9_:.-]{1,80}$")
_ERROR = re.compile(r"^[A-Za-z0-9_.:-]{1,120}$")
_URL = re.compile(r"^https?://\S{1,1990}$")

OPERATION_RECORD_KINDS: dict[str, RecordKind] = {
    "planyo.add_user": RecordKind.CUSTOMER,
    "planyo.modify_reservation": RecordKind.RESERVATION,
    "planyo.set_reservation_status": RecordKind.RESERVATION,
    "planyo.add_reservation_note": RecordKind.RESERVATION,
    "bookingmood.update_contact_booking": RecordKind.BOOKING,
    "bookingmood.change_booking_status": RecordKind.BOOKING,
    "bookingmood.add_booking_note": RecordKind.BOOKING,
    "plisio.get_invoice": RecordKind.INVOICE,
    "plisio.create_invoice": RecordKind.INVOICE,
    "billit.create_customer": RecordKind.CUSTOMER,
}
"""What kind of record each operation leaves its result on (for the record link of an action)."""


def token(value: object) -> str | None:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    return text if text is not None and _TOKEN.fullmatch(text) else None


def url_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and _URL.fullmatch(value) else None


def record_ref(candidate: Candidate | None) -> RecordRef | None:
    if candidate is None or token(candidate.record_id) is None:
        return None
    return RecordRef(
        tool=candidate.tool, kind=candidate.kind, record_id=candidate.record_id, url=url_or_none(candidate.record_url)
    )


def target_candidate(state: PipelineState) -> Candidate | None:
    """The record the decision is about (the handoff's affected record), when there is one."""
    decision, match = state.decision, state.match
    if decision is None or match is None or not decision.handoff.affected_record:
        return None
    for candidate in match.candidates:
        if describe_record(candidate) == decision.handoff.affected_record:
            return candidate
    return None


def caller_names(state: PipelineState) -> list[str]:
    """Names the call established (masked out of the summary)."""
    names: list[str] = []
    if state.match and state.match.identity:
        identity = CallerIdentity.model_validate(state.match.identity)
        names.extend(observed.value for observed in identity.names)
    for key in ("customer_name", "caller_name", "name", "first_name", "last_name", "full_name"):
        value = state.call.analysis.get(key)
        if isinstance(value, str):
            names.append(value)
    return names


def call_links(state: PipelineState, policy: Policy | None) -> CallLinks | None:
    """The decision's evidence links, else the policy's DialNexa link; None when neither can say."""
    call = state.call
    links = state.decision.handoff.evidence_links if state.decision else {}
    dialnexa_call = url_or_none(links.get("dialnexa_call"))
    if dialnexa_call is None and policy is not None:
        dialnexa_call = policy.links.dialnexa_call.format(call_id=call.call_id)
    if dialnexa_call is None:
        return None
    transcript = url_or_none(links.get("transcript")) if call.has_transcript else None
    return CallLinks(dialnexa_call=dialnexa_call, transcript=transcript)


def _common(state: PipelineState, policy: Policy | None, now: datetime) -> dict[str, Any]:
    call = state.call
    decision = state.decision
    common: dict[str, Any] = {
        "call_id": call.call_id,
        "occurred_at": now,
        "summary": mask_summary(call.summary, names=caller_names(state)),
        "links": call_links(state, policy),
        "record": record_ref(target_candidate(state)),
    }
    if decision is not None:
        intent = decision.intent if _RULE.fullmatch(decision.intent) else "unknown"
        common.update(
            intent=intent,
            kind=decision.handoff.kind,
            owner=decision.owner.team[:80],
            urgency=decision.urgency,
            policy_version=decision.policy_version[:40] or None,
        )
    return common


def _action_outcomes(state: PipelineState) -> list[ActionOutcome]:
    target = target_candidate(state)
    outcomes: list[ActionOutcome] = []
    for result in state.act.results if state.act else []:
        record: RecordRef | None = None
        kind = OPERATION_RECORD_KINDS.get(f"{result.tool.value}.{result.operation}")
        if target is not None and result.record_id == target.record_id:
            kind = target.kind
        if kind is not None and token(result.record_id):
            record = RecordRef(
                tool=result.tool, kind=kind, record_id=str(result.record_id), url=url_or_none(result.record_url)
            )
        outcomes.append(
            ActionOutcome(
                tool=result.tool,
                operation=token(result.operation) or "unknown",
                status=result.status.value,
                record=record,
            )
        )
    return outcomes


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(value) if isinstance(value, str) else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def outcome_event(
    detail_type: str, document: dict[str, Any], *, policy: Policy | None, now: datetime | None = None
) -> CallOutcome:
    """The typed detail of one call outcome from the state document the Publish state received.

    ``policy`` is the routing policy the publisher read; None when it could not read one, and the
    event is still built (an outcome is never lost), only without the policy's DialNexa link.
    """
    now = now or datetime.now(UTC)
    state = PipelineState.model_validate(document)
    common = _common(state, policy, now)
    decision = state.decision
    if detail_type == CallHandedOff.detail_type:
        reviewed = state.review is not None and state.review.approved
        return CallHandedOff(**common, actions=_action_outcomes(state), reviewed=reviewed)
    if detail_type == CallReviewRequested.detail_type:
        proposed = [
            ProposedAction(tool=a.tool, operation=token(a.operation) or "unknown", target=token(a.target))
            for a in (decision.actions if decision else [])
        ]
        fired = [r for r in (decision.rules_fired if decision else []) if _RULE.fullmatch(r)]
        return CallReviewRequested(**common, proposed_actions=proposed, rules_fired=fired)
    if detail_type == CallReviewRejected.detail_type:
        cause = _json((document.get("rejection") or {}).get("Cause"))
        reviewer = str(cause.get("reviewer") or "unknown")
        return CallReviewRejected(**common, reviewer=mask_summary(reviewer)[:120] or "unknown")
    if detail_type == CallReviewEscalated.detail_type:
        return CallReviewEscalated(**common)
    if detail_type == CallNothingToDo.detail_type:
        fired = decision.rules_fired if decision else []
        reason = next((r for r in fired if r in ("no-contact", "revenue:no-buying-intent")), None)
        reason = reason or next((r for r in reversed(fired) if _RULE.fullmatch(r)), None)
        return CallNothingToDo(**common, reason=reason, follow_up=bool(decision and decision.notify))
    if detail_type == CallFailed.detail_type:
        raw_error = document.get("error")
        name = str((raw_error.get("Error") if isinstance(raw_error, dict) else None) or "Error")
        failed_state = str(document.get("failed_state") or "unknown")
        return CallFailed(
            **common,
            failed_state=failed_state if _ERROR.fullmatch(failed_state) else "unknown",
            error=name if _ERROR.fullmatch(name) else "Error",
        )
    raise ValueError(f"{detail_type!r} is not a call outcome")


def is_matched(state: PipelineState) -> bool:
    """A match a lifecycle signal may name the caller by: strong, or weak on the caller's own e-mail.

    The same test route applies before it calls a caller known (``new-caller:existing``).
    """
    match = state.match
    if match is None or match.best is None or match.status in (MatchStatus.NONE, MatchStatus.AMBIGUOUS):
        return False
    return match.status is MatchStatus.STRONG or any(e.record_field.endswith(".email") for e in match.best.evidence)


def customer_candidate(state: PipelineState) -> Candidate | None:
    """The caller's own record among the best candidates (a customer or contact beats a booking of theirs)."""
    if not is_matched(state) or state.match is None or state.match.best is None:
        return None
    best = state.match.best
    tied = [c for c in state.match.candidates if c.confidence >= best.confidence - 0.01]
    people = [c for c in tied if c.kind in (RecordKind.CUSTOMER, RecordKind.CONTACT)]
    return people[0] if people else best


def created_customer(state: PipelineState) -> RecordRef | None:
    """The customer record act created for a clearly new caller, if it did."""
    for result in state.act.results if state.act else []:
        kind = OPERATION_RECORD_KINDS.get(f"{result.tool.value}.{result.operation}")
        if kind is RecordKind.CUSTOMER and result.status.value in ("done", "already_done") and token(result.record_id):
            return RecordRef(tool=result.tool, kind=kind, record_id=str(result.record_id))
    return None


def detail_json(detail: EventDetail) -> str:
    """The ``Detail`` string of a PutEvents entry."""
    return detail.model_dump_json(exclude_none=True)


__all__ = ["OPERATION_RECORD_KINDS", "Tool", "created_customer", "detail_json", "is_matched", "outcome_event"]
