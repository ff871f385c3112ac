"""Human review as a service: record what the state machine asks, decide it exactly once, finish what crashed.

Flow: the ``RequestReview`` state invokes the request-review function with
``lambda:invoke.waitForTaskToken``; :func:`record_request` keeps the token,
proposed actions, candidates, owner and deadline on the call record. A person
decides through :func:`decide`: a strongly consistent read, then a conditional
update (only one decision can move the review from ``waiting`` to
``decided``), then ``SendTaskSuccess`` (approve: the outcome lands in
``$.review``) or ``SendTaskFailure`` with ``Handoff.ReviewRejected`` (reject:
the call ends as Rejected). Last, the review is closed as applied.

The crash window: a process that dies between the conditional update and the
send leaves the review ``decided``. The recorded outcome is sent again, the
same bytes, by :func:`complete_decided` (the scheduled sweep), or by the next
decision request on that call (which then answers "already decided by …").
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from handoff.models import ReviewOutcome
from handoff.review.history import CLOSED_TOKEN_ERRORS, read_history, status_from_history
from handoff.review.model import (
    REJECTED_ERROR,
    Rejection,
    ReviewAlreadyDecided,
    ReviewDecision,
    Reviewer,
    ReviewExpired,
    ReviewNotFound,
    ReviewRecord,
)
from handoff.review.store import ReviewStore

STALE_DECISION = timedelta(seconds=30)
"""A ``decided`` review older than this lost its sender (a crash, a timeout): send it again."""

Authorize = Callable[[ReviewRecord], None]
"""Raises :class:`~handoff.review.model.NotAnApprover` when the reviewer may not decide this review."""


class RequestReviewEvent(BaseModel):
    """What the ``RequestReview`` state sends the request-review function."""

    model_config = ConfigDict(extra="ignore")

    task_token: str = Field(min_length=1)
    execution_arn: str = Field(min_length=1)
    requested_at: datetime
    state: dict[str, Any]


@dataclass(frozen=True)
class DecisionResult:
    call_id: str
    decision: str
    execution_arn: str
    outcome: dict[str, Any]
    applied: bool
    """False when the decision is recorded but Step Functions could not be told yet (a retry will)."""
    decided_by: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "decision": self.decision,
            "execution_arn": self.execution_arn,
            "outcome": self.outcome,
            "applied": self.applied,
        }


# --------------------------------------------------------------------------- recording
def record_request(store: ReviewStore, event: dict[str, Any], default_timeout_seconds: int) -> ReviewRecord:
    """Keep the review the state machine waits on; its deadline is the task's timeout."""
    request = RequestReviewEvent.model_validate(event)
    review = ReviewRecord.from_state(
        request.execution_arn, request.task_token, request.requested_at, request.state, default_timeout_seconds
    )
    store.record(review)
    return review


# --------------------------------------------------------------------------- deciding
def decide(
    store: ReviewStore,
    sfn: Any,
    call_id: str,
    decision: ReviewDecision,
    reviewer: Reviewer,
    *,
    authorize: Authorize | None = None,
    now: datetime | None = None,
) -> DecisionResult:
    """Apply one person's decision to the review of a call, exactly once across every caller."""
    when = now or datetime.now(UTC)
    review = store.get(call_id)
    if review is None:
        raise ReviewNotFound(call_id, f"no review is waiting for call {call_id}; `handoff review list` shows them")
    if authorize is not None:
        authorize(review)  # before anything else: a stranger learns nothing about the review
    if review.status == "decided":
        if review.decided_by == reviewer.id and review.decision == decision.decision:
            return apply(store, sfn, review, when)  # the same person retrying: finish it, answer as before
        if review.decided_at and when - review.decided_at > STALE_DECISION:
            _finish_quietly(store, sfn, review, when)
    if review.status != "waiting":
        raise review.refusal()
    outcome = decision.outcome(review, reviewer, when).model_dump(mode="json")
    if not store.claim(review, decision.decision, reviewer, outcome, when):
        current = store.get(call_id) or review
        raise (
            current.refusal()
            if current.status != "waiting"
            else ReviewAlreadyDecided(
                call_id, f"the review of call {call_id} changed while deciding; look again with `handoff review show`"
            )
        )
    claimed = review.model_copy(
        update={
            "status": "decided",
            "decision": decision.decision,
            "decided_by": reviewer.id,
            "decided_by_name": reviewer.name,
            "decided_at": when,
            "outcome": outcome,
        }
    )
    return apply(store, sfn, claimed, when)


def apply(store: ReviewStore, sfn: Any, review: ReviewRecord, now: datetime | None = None) -> DecisionResult:
    """Send a recorded decision to Step Functions and close the review; safe to repeat."""
    when = now or datetime.now(UTC)
    outcome = review.outcome or {}
    result = DecisionResult(
        review.call_id, review.decision or "", review.execution_arn, outcome, True, review.decided_by
    )
    try:
        if review.decision == "reject":
            rejection = Rejection.model_validate(outcome)
            sfn.send_task_failure(taskToken=review.task_token, error=REJECTED_ERROR, cause=rejection.cause())
        else:
            approval = ReviewOutcome.model_validate(outcome)
            sfn.send_task_success(taskToken=review.task_token, output=approval.model_dump_json())
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code not in CLOSED_TOKEN_ERRORS:
            return replace(result, applied=False)
        return _token_closed(store, sfn, review, result, code, when)
    store.close(review, "approved" if review.decision == "approve" else "rejected", when)
    return result


def _token_closed(
    store: ReviewStore, sfn: Any, review: ReviewRecord, result: DecisionResult, code: str, when: datetime
) -> DecisionResult:
    """Step Functions refused the token: did our earlier send land, or did the review end without us?"""
    ended = status_from_history(read_history(sfn, review.execution_arn))
    if ended.kind in ("approved", "rejected") and ended.reviewer == review.decided_by:
        store.close(review, ended.kind, when)  # a retry after a crash: it had landed
        return result
    if ended.kind == "expired" or code == "TaskTimedOut":
        store.close(review, "expired", when, "timed out before the decision was sent")
        raise review.model_copy(update={"status": "expired"}).refusal()
    reason = f"the execution ended ({ended.detail or ended.kind}) before the decision was sent"
    store.close(review, "closed", when, reason)
    raise ReviewExpired(review.call_id, f"the review of call {review.call_id} cannot be decided: {reason}")


def _finish_quietly(store: ReviewStore, sfn: Any, review: ReviewRecord, when: datetime) -> None:
    """Finish someone else's stale decision before refusing this one (its outcome is what counts)."""
    with contextlib.suppress(ReviewAlreadyDecided, ReviewExpired):
        apply(store, sfn, review, when)


def complete_decided(store: ReviewStore, sfn: Any, now: datetime | None = None, limit: int = 100) -> list[str]:
    """Send every decision that was recorded but never reached Step Functions (the scheduled sweep)."""
    when = now or datetime.now(UTC)
    finished: list[str] = []
    page = store.open_page("decided", limit=limit)
    for row in page.rows:
        review = store.get(row.call_id)
        if review is None or review.status != "decided" or not review.decided_at:
            continue
        if when - review.decided_at <= STALE_DECISION:
            continue
        try:
            if apply(store, sfn, review, when).applied:
                finished.append(review.call_id)
        except (ReviewAlreadyDecided, ReviewExpired):
            finished.append(review.call_id)
    return finished
