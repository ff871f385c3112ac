"""Deliver an outcome to its owner: once per (call, outcome), whatever the redelivery.

EventBridge delivers at least once and retries a failed target, so the post is
guarded by a Powertools idempotency record keyed on the call id and the outcome
(explicit key prefix). A Slack outage raises ``RetryableError``: EventBridge's
retry policy tries again and, past it, the event lands on the target's
dead-letter queue, so no notification is lost silently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from handoff import aws
from handoff.models import (
    HandoffDocument,
    Mode,
    OutcomeKind,
    Owner,
    PipelineState,
    RouteDecision,
    Tool,
    Urgency,
)
from handoff.notify.message import Notice, ReviewInfo, email_message, slack_message

logger = Logger(child=True)

NOTIFY_KEY_PREFIX = "handoff.notify.v1"
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


def partner_notice(detail: dict[str, Any]) -> Notice:
    """A routed partner event (Planyo check-in, no-show, timed reminder) as a notice for its owner."""
    from handoff.partners.reservation_events import PartnerOutcome

    event = PartnerOutcome.model_validate(detail)
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


def notice_for(outcome: OutcomeKind, detail: dict[str, Any]) -> Notice:
    """The notice for an outcome event; failures before Route still get an owner (ops)."""
    if outcome is OutcomeKind.PARTNER_ROUTED:
        return partner_notice(detail)
    state = PipelineState.model_validate(detail)
    decision = state.decision or _fallback_decision(state, outcome)
    review: ReviewInfo | None = None
    if state.review is not None:
        review = ReviewInfo(reviewer=state.review.reviewer, note=state.review.note)
    rejection = detail.get("rejection")
    if isinstance(rejection, dict):
        cause = _json(rejection.get("Cause"))
        review = ReviewInfo(
            reviewer=str(cause.get("reviewer") or "unknown"),
            rejection_reason=str(cause.get("reason") or rejection.get("Cause") or ""),
        )
    error = detail.get("error")
    error_text = None
    if isinstance(error, dict):
        error_text = f"{error.get('Error', 'error')}: {str(error.get('Cause') or '')[:500]}"
        if detail.get("failed_state"):
            error_text = f"{detail['failed_state']} failed. {error_text}"
    owner = decision.owner
    if outcome in (OutcomeKind.ESCALATED, OutcomeKind.FAILED) and not owner.escalation_channel:
        decision = decision.model_copy(update={"owner": _with_escalation(owner)})
    return Notice(
        kind=outcome,
        call_id=state.call.call_id,
        document=decision.handoff,
        decision=decision,
        candidate=state.match.best if state.match else None,
        act=state.act,
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
    notice = notice_for(outcome, detail)
    call_id = notice.call_id
    if not should_tell(outcome, notice):
        return Delivery(call_id, outcome.value, False, None, "nothing to tell: no follow-up owner")
    config = IdempotencyConfig(expires_after_seconds=NOTIFY_WINDOW_SECONDS, raise_on_no_idempotency_key=True)
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    persistence = DynamoDBPersistenceLayer(
        table_name=table_name, key_attr="pk", expiry_attr="expires_at", boto3_client=aws.client("dynamodb")
    )
    emailed = _email_owner(notice, outcome, config, table_name)
    slack = connector_for(Tool.SLACK)
    if slack is None:
        logger.warning("slack is not configured; outcome not posted", extra={"call_id": call_id, "outcome": outcome})
        return Delivery(call_id, outcome.value, False, None, "slack not configured", emailed=emailed)
    message = slack_message(notice)

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="notification",
        persistence_store=persistence,
        config=config,
        key_prefix=NOTIFY_KEY_PREFIX,
    )
    def post_once(notification: dict[str, str]) -> dict[str, Any]:
        from handoff.connectors.errors import ConnectorError, RetryableError
        from handoff.connectors.slack import SlackMessage as SlackPost

        try:
            result = slack.post_message(
                SlackPost(text=message.text, blocks=tuple(message.blocks), channel=message.channel)
            )
            return {"posted": bool(result.posted), "channel": message.channel}
        except RetryableError:
            raise
        except ConnectorError as exc:
            if not message.channel or exc.status not in (404, 410):
                raise
            # The owner's channel is unknown or archived: tell the webhook's own channel instead
            # (and say where it was meant to go) rather than lose the notification.
            logger.warning(
                "owner channel refused; posting to the webhook channel",
                extra={"call_id": call_id, "channel": message.channel},
            )
            text = f"(for {message.channel}, which Slack refused) {message.text}"[:3000]
            result = slack.post_message(SlackPost(text=text, blocks=tuple(message.blocks), channel=None))
            return {"posted": bool(result.posted), "channel": None, "meant_for": message.channel}

    answer = post_once(notification={"call_id": call_id, "outcome": outcome.value})
    logger.info("owner told", extra={"call_id": call_id, "outcome": outcome, "channel": message.channel})
    return Delivery(call_id, outcome.value, bool(answer.get("posted")), answer.get("channel"), emailed=emailed)


def _email_owner(notice: Notice, outcome: OutcomeKind, config: IdempotencyConfig, table_name: str) -> str | None:
    """The optional e-mail through SES, once per (call, outcome): only with a sender configured
    (``HANDOFF_NOTIFY_EMAIL_FROM``) and an owner e-mail in the routing policy."""
    sender = os.environ.get(EMAIL_FROM_ENV, "").strip()
    recipient = notice.decision.owner.email
    if not sender or not recipient:
        return None
    subject, body = email_message(notice)
    persistence = DynamoDBPersistenceLayer(
        table_name=table_name, key_attr="pk", expiry_attr="expires_at", boto3_client=aws.client("dynamodb")
    )

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="notification",
        persistence_store=persistence,
        config=config,
        key_prefix=EMAIL_KEY_PREFIX,
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


def _fallback_decision(state: PipelineState, outcome: OutcomeKind) -> RouteDecision:
    owner = _policy_owner("support")
    title = f"Call {state.call.call_id} could not be routed"
    return RouteDecision(
        mode=Mode.REVIEW,
        owner=owner,
        urgency=Urgency.HIGH,
        reasons=["the call failed before a routing decision"],
        handoff=HandoffDocument(
            title=title,
            reason="failed before routing",
            owner=owner.team,
            next_step="Check the dead-letter queue: handoff dlq show " + state.call.call_id,
            urgency=Urgency.HIGH,
        ),
    )


def _policy_owner(key: str) -> Owner:
    from handoff.route.policy import default_policy

    spec = default_policy().owners[key]
    return Owner(
        team=spec.team,
        slack_channel=spec.slack_channel,
        escalation_channel=spec.escalation_channel,
        share_contact_details=spec.share_contact_details,
    )


def _with_escalation(owner: Owner) -> Owner:
    """The owner's escalation channel from the policy (route names it only when it escalates)."""
    from handoff.route.policy import default_policy

    for spec in default_policy().owners.values():
        if spec.team == owner.team and spec.escalation_channel:
            return owner.model_copy(update={"escalation_channel": spec.escalation_channel})
    return owner


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(value) if isinstance(value, str) else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}
