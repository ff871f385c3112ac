"""Planyo reservation status changes and timed notifications become routed outcomes.

A small declarative file (``partners/policy.yaml``, validated with pydantic at
load, problems reported with line and field like the call routing policy)
decides the owner, urgency and action (``notify`` or ``follow_up`` with a next
step). The result is a ``PartnerOutcome``: the detail of a ``partner.routed``
event that notify renders. Routing is pure: the reservation re-read through the
API is passed in, so the callback body is never the source of the facts.
"""

from __future__ import annotations

import string
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from handoff.connectors.planyo import Reservation, reservation_state
from handoff.models import Contract, Owner, RecordKind, Urgency
from handoff.partners.planyo_events import STATUS_CHANGES, NotificationKind, PlanyoNotification
from handoff.route.policy import Loc, OwnerSpec, parse_validated

ROUTED_DETAIL_TYPE = "partner.routed"
ROUTED_SOURCE = "handoff"  # with the call outcomes, so notify's rule sees it and the partner rule does not
PLACEHOLDERS = frozenset(
    {"reservation_id", "resource_name", "customer", "status_change", "number", "timing", "user_id"}
)
KNOWN_STATUS_CHANGES = frozenset(STATUS_CHANGES.values())
Action = Literal["notify", "follow_up"]


# ---------------------------------------------------------------------------
# The contract notify renders
# ---------------------------------------------------------------------------
class PartnerOutcome(Contract):
    """What a partner event means for a team: self-contained, like a call handoff."""

    kind: Action
    source: str = "planyo"
    event: str
    """``checked_out``, ``before_or_after_event_2``, ``customer_sync_review``..."""
    owner: Owner
    urgency: Urgency = Urgency.NORMAL
    title: str
    facts: list[str] = Field(default_factory=list)
    next_step: str = ""
    record: str
    """The Planyo reservation id (or user id for customer events)."""
    record_kind: RecordKind = RecordKind.RESERVATION
    record_url: str | None = None
    dedupe_key: str
    """One message per partner event, whatever the redelivery."""
    policy_version: str = ""
    occurred_at: datetime | None = None


# ---------------------------------------------------------------------------
# The policy file
# ---------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class PartnerRoute(_Strict):
    owner: str
    action: Action
    urgency: Urgency = Urgency.NORMAL
    title: str = Field(min_length=1)
    next_step: str = ""
    include_contact: bool = False

    @field_validator("title", "next_step")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"bad template: {exc}") from None
        unknown = sorted(n for n in names if n not in PLACEHOLDERS)
        if unknown:
            raise ValueError(f"unknown placeholder(s) {unknown} (known: {', '.join(sorted(PLACEHOLDERS))})")
        return value

    @model_validator(mode="after")
    def _follow_up_has_next_step(self) -> PartnerRoute:
        if self.action == "follow_up" and not self.next_step.strip():
            raise ValueError("a follow_up needs a next_step")
        return self


class TimedRoute(PartnerRoute):
    number: int = Field(ge=1, le=6)
    timing: Literal["before", "after"] | None = None
    """None: whichever side of the event the notification fires."""


class PartnerPolicy(_Strict):
    version: str = Field(min_length=1)
    owners: dict[str, OwnerSpec]
    record_url: str | None = None
    status_changes: dict[str, PartnerRoute] = Field(default_factory=dict)
    timed_notifications: list[TimedRoute] = Field(default_factory=list)
    customer_sync_review: PartnerRoute | None = None

    @field_validator("record_url")
    @classmethod
    def _url_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("https://"):
            raise ValueError("record_url must be an https:// template")
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        if names - {"reservation_id"}:
            raise ValueError("record_url may only use {reservation_id}")
        return value

    def timed_route(self, number: int, timing: str | None) -> TimedRoute | None:
        """The most specific rule: number and timing, else number alone."""
        exact = [r for r in self.timed_notifications if r.number == number and r.timing == timing]
        either = [r for r in self.timed_notifications if r.number == number and r.timing is None]
        found = exact or either
        return found[0] if found else None

    def owner(self, name: str) -> Owner:
        spec = self.owners[name]
        return Owner(
            team=spec.team,
            slack_channel=spec.slack_channel,
            escalation_channel=spec.escalation_channel,
            email=spec.email,
        )


def _cross_references(policy: PartnerPolicy) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    owners = set(policy.owners)
    routes: list[tuple[Loc, PartnerRoute]] = [(("status_changes", k), r) for k, r in policy.status_changes.items()]
    routes += [(("timed_notifications", i), r) for i, r in enumerate(policy.timed_notifications)]
    if policy.customer_sync_review is not None:
        routes.append((("customer_sync_review",), policy.customer_sync_review))
    for loc, route in routes:
        if route.owner not in owners:
            problems.append(((*loc, "owner"), f"unknown owner {route.owner!r} (owners: {', '.join(sorted(owners))})"))
    for name in policy.status_changes:
        if name not in KNOWN_STATUS_CHANGES:
            known = ", ".join(sorted(KNOWN_STATUS_CHANGES))
            problems.append((("status_changes", name), f"unknown status change {name!r} (known: {known})"))
    seen: set[tuple[int, str | None]] = set()
    for index, timed in enumerate(policy.timed_notifications):
        key = (timed.number, timed.timing)
        if key in seen:
            problems.append(
                (("timed_notifications", index), f"duplicate rule for #{timed.number} {timed.timing or ''}")
            )
        seen.add(key)
    for name, spec in policy.owners.items():
        if not spec.slack_channel:
            problems.append((("owners", name), f"owner {name!r} has no slack_channel: nobody would be told"))
    return problems


def parse_partner_policy(text: str, source: str = "policy.yaml") -> PartnerPolicy:
    """Validate the partner policy; ``PolicyError`` names the line and field of every problem."""
    return parse_validated(text, source, PartnerPolicy, _cross_references)


def load_partner_policy(path: Path | str) -> PartnerPolicy:
    """Load and validate a partner policy file (``policy/partners.yaml`` in the repo, or a candidate)."""
    file = Path(path)
    return parse_partner_policy(file.read_text(encoding="utf-8"), source=file.name)


# ---------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------
def route_notification(
    notification: PlanyoNotification,
    reservation: Reservation | None,
    policy: PartnerPolicy,
) -> PartnerOutcome | None:
    """The outcome for a status change or timed notification; None when the policy routes nothing.

    ``reservation`` is the reservation as re-read through the API (None when it
    could not be read: the facts then say they come from the callback).
    """
    route: PartnerRoute | None
    if notification.kind is NotificationKind.RESERVATION_STATUS_CHANGED:
        route = policy.status_changes.get(notification.status_change or "")
        event = notification.status_change or notification.notification_type
    elif notification.kind is NotificationKind.TIMED_NOTIFICATION and notification.timed_number is not None:
        route = policy.timed_route(notification.timed_number, notification.timing)
        event = notification.notification_type
    else:
        return None
    if route is None:
        return None
    values = _placeholders(notification, reservation)
    rid = notification.reservation_id
    record_url = policy.record_url.format(reservation_id=rid) if policy.record_url and rid is not None else None
    return PartnerOutcome(
        kind=route.action,
        event=event,
        owner=policy.owner(route.owner),
        urgency=route.urgency,
        title=route.title.format_map(values),
        facts=reservation_facts(notification, reservation, include_contact=route.include_contact),
        next_step=route.next_step.format_map(values),
        record=str(rid if rid is not None else notification.user_id),
        record_kind=RecordKind.RESERVATION,
        record_url=record_url,
        dedupe_key=notification.dedupe_key,
        policy_version=policy.version,
        occurred_at=notification.received_at,
    )


def sync_review_outcome(notification: PlanyoNotification, reason: str, policy: PartnerPolicy) -> PartnerOutcome | None:
    """A follow-up for a Planyo customer that cannot be synced to Billit without a human."""
    route = policy.customer_sync_review
    if route is None:
        return None
    values = _placeholders(notification, None)
    return PartnerOutcome(
        kind=route.action,
        event="customer_sync_review",
        owner=policy.owner(route.owner),
        urgency=route.urgency,
        title=route.title.format_map(values),
        facts=[f"Planyo user {notification.user_id}", f"Why: {reason[:300]}"],
        next_step=route.next_step.format_map(values),
        record=str(notification.user_id if notification.user_id is not None else notification.user_email or "?"),
        record_kind=RecordKind.CUSTOMER,
        dedupe_key=notification.dedupe_key,
        policy_version=policy.version,
        occurred_at=notification.received_at,
    )


def unrouted_outcome(notification: PlanyoNotification, owner: Owner, reason: str) -> PartnerOutcome:
    """The partner policy cannot be read: the event still reaches someone (``owner``), with the reason."""
    record = notification.reservation_id if notification.reservation_id is not None else notification.user_id
    return PartnerOutcome(
        kind="follow_up",
        event=notification.status_change or notification.notification_type,
        owner=owner,
        urgency=Urgency.HIGH,
        title=f"Planyo {notification.notification_type} could not be routed: the partner policy is unavailable",
        facts=[f"Planyo event {notification.notification_type} for {record}", f"Why: {reason[:300]}"],
        next_step="Handle this event by hand, then restore the partner policy (`handoff policy push`).",
        record=str(record if record is not None else "?"),
        record_kind=RecordKind.RESERVATION if notification.reservation_id is not None else RecordKind.CUSTOMER,
        dedupe_key=notification.dedupe_key,
        policy_version="unavailable",
        occurred_at=notification.received_at,
    )


def _placeholders(notification: PlanyoNotification, reservation: Reservation | None) -> dict[str, Any]:
    customer = " ".join(p for p in (reservation.first_name, reservation.last_name) if p) if reservation else ""
    resource = (reservation.resource_name if reservation else None) or notification.resource_name
    return {
        "reservation_id": notification.reservation_id if notification.reservation_id is not None else "?",
        "resource_name": resource or "resource",
        "customer": customer or "the customer",
        "status_change": (notification.status_change or "").replace("_", " "),
        "number": notification.timed_number or "",
        "timing": notification.timing or "",
        "user_id": notification.user_id if notification.user_id is not None else "?",
    }


def _when(start: datetime | None, end: datetime | None) -> str | None:
    if start is None:
        return None
    text = start.strftime("%Y-%m-%d %H:%M")
    if end is not None:
        text += " to " + (end.strftime("%H:%M") if end.date() == start.date() else end.strftime("%Y-%m-%d %H:%M"))
    return text


def reservation_facts(
    notification: PlanyoNotification, reservation: Reservation | None, *, include_contact: bool = False
) -> list[str]:
    """Short facts for the owner; contact details only where the policy allows them."""
    facts: list[str] = []
    if notification.kind is NotificationKind.TIMED_NOTIFICATION:
        timing = f", {notification.timing} the event" if notification.timing else ""
        facts.append(f"Planyo timed notification #{notification.timed_number}{timing}")
    else:
        facts.append(
            f"Planyo reports: {(notification.status_change or notification.notification_type).replace('_', ' ')}"
        )
    if reservation is None:
        facts.append("Could not re-read the reservation from Planyo; details below are from the callback")
        when = _when(notification.start, notification.end)
        if notification.resource_name:
            facts.append(f"Resource: {notification.resource_name}")
        if when:
            facts.append(f"When: {when} (UTC)")
        if notification.status is not None:
            facts.append(f"Status: {reservation_state(notification.status).replace('_', ' ')}")
        return facts
    if reservation.resource_name:
        facts.append(f"Resource: {reservation.resource_name}")
    when = _when(reservation.start, reservation.end)
    if when:
        facts.append(f"When: {when}")
    if reservation.state:
        facts.append(f"Status in Planyo now: {reservation.state.replace('_', ' ')}")
    name = " ".join(p for p in (reservation.first_name, reservation.last_name) if p)
    if name:
        facts.append(f"Customer: {name}")
    if include_contact:
        if reservation.email:
            facts.append(f"E-mail: {reservation.email}")
        if reservation.phone:
            facts.append(f"Phone: {reservation.phone}")
    if reservation.user_notes:
        facts.append(f"Customer notes: {reservation.user_notes[:200]}")
    return facts


def routed_entry(outcome: PartnerOutcome) -> dict[str, Any]:
    """One ``PutEvents`` entry (without the bus name): the typed ``partner.routed`` of the contract.

    The outcome itself (title, facts, contact details) is kept in the table for notify
    (``handoff.events.partner``), never put on the bus.
    """
    from handoff.events.partner import partner_routed
    from handoff.events.publish import entry

    return entry(partner_routed(outcome))
