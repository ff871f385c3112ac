"""Deliver an outcome to its owner: once per (call, outcome), whatever the redelivery.

EventBridge delivers at least once and a failed invocation is retried, so the
Slack post is guarded by the message ledger on the call record
(:mod:`handoff.notify.ledger`): where the outcome's message is (channel, ts),
looked up before posting and, after an interrupted post, found again in the
channel by its metadata. A decision (handed off, rejected, escalated) then
rewrites the review message in place so no stale Approve/Reject stays in the
channel. A Slack outage raises ``RetryableError`` and a configuration problem
``SlackConfigurationError``: the invocation is retried and, past that, the
event lands on the dead-letter queue (with an alarm), never dropped silently.
The optional e-mail keeps a Powertools idempotency record per (call, outcome).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from handoff import aws
from handoff.idempotency import once
from handoff.models import (
    HandoffDocument,
    Mode,
    OutcomeKind,
    Owner,
    RouteDecision,
    Tool,
    Urgency,
)
from handoff.notify.ledger import MessageLedger, MessageRef
from handoff.notify.message import Notice, ReviewInfo, SlackMessage, email_message, review_closed_message, slack_message
from handoff.policy_source import (
    PolicyUnavailable,
    default_channel,
    fallback_owner,
    record_unavailable,
    routing_policy,
)
from handoff.route.policy import Policy

if TYPE_CHECKING:
    from handoff.connectors.slack import PostedMessage
    from handoff.events.view import ViewStore

logger = Logger(child=True)

METRICS_NAMESPACE = "Handoff"
POSTING_GRACE_SECONDS = 30
"""How long a claimed but unrecorded post is presumed still in flight: longer than notify's 20 s timeout, so an
older claim cannot belong to a running invocation and another delivery may take over (after looking first)."""
DECISIONS = {OutcomeKind.HANDED_OFF, OutcomeKind.REJECTED, OutcomeKind.ESCALATED}
"""Outcomes that follow a review: they close the review message."""
EMAIL_KEY_PREFIX = "handoff.notify.email.v1"
EMAIL_FROM_ENV = "HANDOFF_NOTIFY_EMAIL_FROM"
NOTIFY_WINDOW_SECONDS = 30 * 24 * 3600
ALWAYS_TOLD = {
    OutcomeKind.HANDED_OFF,
    OutcomeKind.REVIEW_REQUESTED,
    OutcomeKind.REJECTED,
    OutcomeKind.ESCALATED,
    OutcomeKind.FAILED,
    OutcomeKind.PARTNER_ROUTED,
}


@dataclass(frozen=True)
class Delivery:
    call_id: str
    outcome: str
    posted: bool
    channel: str | None
    reason: str = ""
    emailed: str | None = None


def partner_notice(detail: dict[str, Any], table_name: str | None = None) -> Notice:
    """A routed partner event (Planyo check-in, no-show, timed reminder) as a notice for its owner.

    The event is the typed ``partner.routed``; what the owner is told (title, facts) is the
    routed outcome kept in the table under the event's dedupe key (``handoff.events.partner``).
    """
    from handoff.events.contract import PartnerRouted
    from handoff.events.partner import PartnerViewStore
    from handoff.partners.reservation_events import PartnerOutcome

    routed = PartnerRouted.model_validate(detail)
    kept = PartnerViewStore(table_name).load(routed.dedupe_key) if table_name else None
    event = kept or PartnerOutcome(
        kind=routed.action,
        source=routed.partner,
        event=routed.event,
        owner=_owner_of_team(routed.owner),
        urgency=routed.urgency,
        title=f"{routed.partner} {routed.event.replace('_', ' ')}: {routed.record.kind.value} "
        f"{routed.record.record_id}",
        record=routed.record.record_id,
        record_kind=routed.record.kind,
        record_url=routed.record.url,
        dedupe_key=routed.dedupe_key,
        policy_version=routed.policy_version or "",
        occurred_at=routed.occurred_at,
    )
    document = HandoffDocument(
        kind="follow_up",
        title=event.title,
        established=event.facts,
        affected_record=event.record,
        record_url=event.record_url,
        reason=f"{event.source} {event.event}",
        urgency=event.urgency,
        owner=event.owner.team,
        next_step=event.next_step,
    )
    decision = RouteDecision(
        mode=Mode.NONE,
        intent=event.event,
        owner=event.owner,
        urgency=event.urgency,
        reasons=[f"{event.source} reported {event.event}"],
        handoff=document,
        policy_version=event.policy_version,
    )
    return Notice(
        kind=OutcomeKind.PARTNER_ROUTED,
        call_id=event.dedupe_key,
        document=document,
        decision=decision,
        include_contact_details=event.owner.share_contact_details,
    )


def notice_for(
    outcome: OutcomeKind, detail: dict[str, Any], table_name: str | None = None, *, views: ViewStore | None = None
) -> Notice:
    """The notice for an outcome event: the typed event, and what the call record keeps for the owner.

    The event carries only the contract (``handoff.events``); the decision, the matched record,
    the action results, the reviewer and the error are read from the call record, where the
    publish function put them (``views``, by default the table's). Failures before Route still
    get an owner (ops).
    """
    if outcome is OutcomeKind.PARTNER_ROUTED:
        return partner_notice(detail, table_name)
    from handoff.events.contract import CallOutcome, parse_detail
    from handoff.events.view import DynamoViewStore, OutcomeView

    event = parse_detail(outcome.value, detail)
    assert isinstance(event, CallOutcome)
    if views is None and table_name:
        views = DynamoViewStore(table_name)
    view = (views.load(event.call_id, outcome.value) if views is not None else None) or OutcomeView()
    decision = view.decision or _fallback_decision(event.call_id, event.owner)
    review: ReviewInfo | None = None
    if view.review is not None:
        review = ReviewInfo(reviewer=view.review.reviewer, note=view.review.note)
    if view.rejection is not None:
        review = ReviewInfo(reviewer=view.rejection.reviewer, rejection_reason=view.rejection.reason)
    error_text = view.error
    if error_text and view.failed_state:
        error_text = f"{view.failed_state} failed. {error_text}"
    owner = decision.owner
    if outcome in (OutcomeKind.ESCALATED, OutcomeKind.FAILED) and not owner.escalation_channel:
        decision = decision.model_copy(update={"owner": _with_escalation(owner)})
    return Notice(
        kind=outcome,
        call_id=event.call_id,
        document=decision.handoff,
        decision=decision,
        candidate=view.candidate,
        act=view.act,
        review=review,
        error=error_text,
        include_contact_details=decision.owner.share_contact_details,
    )


def should_tell(outcome: OutcomeKind, notice: Notice) -> bool:
    """Nothing to do is only worth a message when the policy named a follow-up owner."""
    return outcome in ALWAYS_TOLD or notice.decision.notify


def deliver(
    outcome_name: str,
    detail: dict[str, Any],
    *,
    connector_for: Callable[[Tool], Any],
    table_name: str,
    lambda_context: Any = None,
) -> Delivery:
    outcome = OutcomeKind(outcome_name)
    notice = notice_for(outcome, detail, table_name)
    call_id = notice.call_id
    if not should_tell(outcome, notice):
        return Delivery(call_id, outcome.value, False, None, "nothing to tell: no follow-up owner")
    emailed = _email_owner(notice, outcome, table_name, lambda_context)
    slack = connector_for(Tool.SLACK)
    if slack is None:
        logger.warning("slack is not configured; outcome not posted", extra={"call_id": call_id, "outcome": outcome})
        return Delivery(call_id, outcome.value, False, None, "slack not configured", emailed=emailed)
    ledger = MessageLedger(aws.client("dynamodb"), table_name)
    on_call_record = outcome is not OutcomeKind.PARTNER_ROUTED
    where = post_once(slack, ledger, notice, on_call_record=on_call_record)
    if outcome in DECISIONS:
        _close_review(slack, ledger, notice, where, on_call_record=on_call_record)
    logger.info("owner told", extra={"call_id": call_id, "outcome": outcome, "channel": where.channel})
    return Delivery(call_id, outcome.value, where.posted, where.channel, emailed=emailed)


def post_once(slack: Any, ledger: MessageLedger, notice: Notice, *, on_call_record: bool = True) -> PostedMessage:
    """Post the outcome's message unless the ledger (or the channel, after a timeout) already has it.

    ``posted`` is False on the result when nothing new was posted. A Slack
    configuration error (scope, archived channel, bot not invited) is raised
    after counting it: the event is retried, then dead-lettered, and the
    ``SlackConfigurationErrors`` metric raises its alarm.
    """
    from handoff.connectors.errors import ConnectorError, RetryableError
    from handoff.connectors.slack import PostedMessage, SlackConfigurationError

    call_id, outcome = notice.call_id, notice.kind.value
    message = _post(slack_message(notice), notice)
    ref = ledger.refs(call_id, on_call_record=on_call_record).get(outcome)
    if ref is not None and ref.posted:
        return PostedMessage(channel=ref.channel, ts=ref.ts, posted=False)
    if ref is None and not ledger.begin(call_id, outcome, message.channel or "", on_call_record=on_call_record):
        ref = ledger.refs(call_id, on_call_record=on_call_record).get(outcome)
        if ref is not None and ref.posted:
            return PostedMessage(channel=ref.channel, ts=ref.ts, posted=False)
    if ref is not None:
        # An earlier delivery claimed the post and never recorded it: it may have posted before failing.
        found = _look_up(slack, ref, notice)
        if found is not None:
            ledger.done(call_id, outcome, found.channel, found.ts, on_call_record=on_call_record)
            return found.model_copy(update={"posted": False})
        if time.time() - ref.since < POSTING_GRACE_SECONDS:
            raise RetryableError("slack", f"another delivery of {outcome} for {call_id} may still be posting")
        ledger.begin(call_id, outcome, message.channel or "", on_call_record=on_call_record, take_over=True)
    try:
        posted: PostedMessage = slack.post_message(message)
    except ConnectorError as exc:
        # A definite refusal (or a 429) posted nothing: free the claim so the next try posts at once.
        # A 5xx or a lost answer may have posted: the claim stays and the next try looks first.
        if not exc.retryable or exc.status == 429:
            ledger.release(call_id, outcome, on_call_record=on_call_record)
        if isinstance(exc, SlackConfigurationError):
            _count_configuration_error()
        raise
    ledger.done(call_id, outcome, posted.channel, posted.ts, on_call_record=on_call_record)
    return posted


def _post(message: SlackMessage, notice: Notice) -> Any:
    from handoff.connectors.slack import SlackMessage as SlackPost

    return SlackPost(
        text=message.text,
        blocks=tuple(message.blocks),
        channel=message.channel,
        call_id=notice.call_id,
        outcome=notice.kind.value,
    )


def _look_up(slack: Any, ref: MessageRef, notice: Notice) -> PostedMessage | None:
    """The message an interrupted delivery may have posted, found by its metadata (None when absent)."""
    from handoff.connectors.errors import ConnectorError

    if not ref.channel:
        return None
    try:
        found: PostedMessage | None = slack.find_message(
            ref.channel, notice.call_id, notice.kind.value, oldest=max(0.0, ref.since - 60)
        )
    except ConnectorError as exc:
        logger.warning("could not look for an earlier post", extra={"call_id": notice.call_id, "reason": str(exc)})
        raise
    return found


def _close_review(
    slack: Any, ledger: MessageLedger, notice: Notice, outcome_at: PostedMessage, *, on_call_record: bool
) -> None:
    """Rewrite the call's review message (no more Approve/Reject) once its decision is known.

    ``chat.update`` is idempotent, so a redelivery may run it again. A review
    message Slack can no longer edit (deleted by someone) is logged, not fatal.
    """
    from handoff.connectors.errors import RejectedInputError
    from handoff.connectors.slack import PostedMessage, SlackConfigurationError

    review = ledger.refs(notice.call_id, on_call_record=on_call_record).get(OutcomeKind.REVIEW_REQUESTED.value)
    if review is None or not review.posted:
        return
    closed = review_closed_message(notice, outcome_channel=outcome_at.channel)
    update = _post(closed, notice.model_copy(update={"kind": OutcomeKind.REVIEW_REQUESTED}))
    try:
        slack.update_message(PostedMessage(channel=review.channel, ts=review.ts), update)
    except SlackConfigurationError:
        _count_configuration_error()
        raise
    except RejectedInputError as exc:
        logger.warning("review message not updated", extra={"call_id": notice.call_id, "reason": str(exc)})
        return
    logger.info("review message closed", extra={"call_id": notice.call_id, "outcome": notice.kind})


def _count_configuration_error() -> None:
    """One ``SlackConfigurationErrors`` data point (EMF on stdout, no API call): the template alarms on it."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = Metrics(namespace=METRICS_NAMESPACE, service="notify")
    metrics.add_metric(name="SlackConfigurationErrors", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()


def _email_owner(notice: Notice, outcome: OutcomeKind, table_name: str, lambda_context: Any) -> str | None:
    """The optional e-mail through SES, once per (call, outcome): only with a sender configured
    (``HANDOFF_NOTIFY_EMAIL_FROM``) and an owner e-mail in the routing policy."""
    sender = os.environ.get(EMAIL_FROM_ENV, "").strip()
    recipient = notice.decision.owner.email
    if not sender or not recipient:
        return None
    subject, body = email_message(notice)

    @once(
        EMAIL_KEY_PREFIX,
        identity="notification",
        window_seconds=NOTIFY_WINDOW_SECONDS,
        table_name=table_name,
        lambda_context=lambda_context,
    )
    def send_once(notification: dict[str, str]) -> dict[str, str]:
        aws.client("ses").send_email(
            Source=sender,
            Destination={"ToAddresses": [recipient]},
            Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}},
        )
        return {"to": recipient}

    send_once(notification={"call_id": notice.call_id, "outcome": outcome.value})
    return recipient


def _fallback_decision(call_id: str, team: str | None = None) -> RouteDecision:
    owner = _owner_of_team(team) if team else _default_owner()
    title = f"Call {call_id} could not be routed"
    return RouteDecision(
        mode=Mode.REVIEW,
        owner=owner,
        urgency=Urgency.HIGH,
        reasons=["the call failed before a routing decision"],
        handoff=HandoffDocument(
            title=title,
            reason="failed before routing",
            owner=owner.team,
            next_step="Check the dead-letter queue: handoff dlq show " + call_id,
            urgency=Urgency.HIGH,
        ),
    )


def _live_policy() -> Policy | None:
    """The live routing policy, or None (logged, counted) when it cannot be read."""
    try:
        return routing_policy()
    except PolicyUnavailable as exc:
        record_unavailable(exc)
        return None


def _default_owner() -> Owner:
    """The policy's default owner; the template's default channel when no policy can be read."""
    policy = _live_policy()
    if policy is None:
        return fallback_owner()
    spec = policy.owners[policy.defaults.owner]
    return Owner(
        team=spec.team,
        slack_channel=spec.slack_channel or default_channel(),
        escalation_channel=spec.escalation_channel,
        share_contact_details=spec.share_contact_details,
    )


def _owner_of_team(team: str) -> Owner:
    """The live policy's owner whose team has this name (the default owner when none has)."""
    policy = _live_policy()
    for spec in policy.owners.values() if policy is not None else []:
        if spec.team == team:
            return Owner(
                team=spec.team,
                slack_channel=spec.slack_channel or default_channel(),
                escalation_channel=spec.escalation_channel,
                share_contact_details=spec.share_contact_details,
            )
    return _default_owner()


def _with_escalation(owner: Owner) -> Owner:
    """The owner's escalation channel from the policy (route names it only when it escalates)."""
    policy = _live_policy()
    specs = policy.owners.values() if policy is not None else []
    for spec in specs:
        if spec.team == owner.team and spec.escalation_channel:
            return owner.model_copy(update={"escalation_channel": spec.escalation_channel})
    # No escalation channel known (no policy, or none set): escalate to the default channel.
    return owner.model_copy(update={"escalation_channel": owner.slack_channel or default_channel()})
