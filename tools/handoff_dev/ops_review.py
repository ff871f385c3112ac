"""Reviews for people and scripts: ``review list`` is a Query of the open-review index, ``show`` a GetItem.

The deciding itself is :func:`handoff.review.service.decide` (the same code the
IAM route and the Slack buttons run), so every surface behaves identically:
one conditional update wins, a second decision is told who decided and when.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from handoff.review.model import Reviewer, ReviewNotFound, ReviewRecord
from handoff.review.store import ReviewRow, ReviewStore
from handoff.store import DynamoCallStore

CALL_FIELDS_SHOWN = ("call_id", "direction", "status", "from_number", "to_number", "initiated_at", "summary")
"""What ``review show`` prints of the call record (never the transcript or the raw analysis)."""


def human_age(age: timedelta) -> str:
    """``3d 4h``, ``5h 12m``, ``7m``, ``12s``: short enough for a table column."""
    seconds = max(0, int(age.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def review_row(row: ReviewRow, now: datetime | None = None) -> dict[str, Any]:
    """One line of ``review list``."""
    when = now or datetime.now(UTC)
    age = when - row.requested_at
    return {
        "call_id": row.call_id,
        "status": row.status,
        "requested_at": row.requested_at.isoformat(),
        "deadline": row.deadline.isoformat() if row.deadline else None,
        "age_seconds": int(age.total_seconds()),
        "age": human_age(age),
        "reasons": row.reasons,
        "owner": row.owner,
        "urgency": row.urgency,
        "execution_arn": row.execution_arn,
    }


def review_rows(
    store: ReviewStore, status: str = "waiting", limit: int | None = None, page_size: int = 100
) -> Iterator[ReviewRow]:
    """Open reviews oldest first, page by page (each page one Query), up to ``limit``."""
    token: str | None = None
    given = 0
    while True:
        page = store.open_page(status, limit=page_size, next_token=token)
        for row in page.rows:
            if limit is not None and given >= limit:
                return
            given += 1
            yield row
        if not page.next_token:
            return
        token = page.next_token


@dataclass
class ReviewView:
    review: ReviewRecord
    call: dict[str, Any]


def find_review(store: ReviewStore, calls: DynamoCallStore | None, call_id: str) -> ReviewView:
    """The review of a call (open or how it ended) with what the call record says of the caller."""
    review = store.get(call_id)
    if review is None:
        raise ReviewNotFound(call_id, f"no review is waiting for call {call_id}; `handoff review list` shows them")
    stored = calls.get(call_id) if calls is not None else None
    call = {k: v for k, v in (stored.call if stored else {}).items() if k in CALL_FIELDS_SHOWN}
    return ReviewView(review, call)


def review_detail(view: ReviewView, now: datetime | None = None) -> dict[str, Any]:
    """Everything a reviewer needs to decide without replaying the call."""
    review = view.review
    age = review.age(now)
    return {
        "call_id": review.call_id,
        "status": review.status,
        "requested_at": review.requested_at.isoformat(),
        "deadline": review.deadline.isoformat(),
        "age_seconds": int(age.total_seconds()),
        "age": human_age(age),
        "owner": review.owner,
        "urgency": review.urgency,
        "execution_arn": review.execution_arn,
        "reasons": review.reasons,
        "why_review": review.reasons,
        "handoff": review.handoff.model_dump(mode="json") if review.handoff else None,
        "intent": review.intent,
        "match_status": review.match_status,
        "candidates": [c.model_dump(mode="json") for c in review.candidates],
        "proposed_actions": [{"key": a.key, **a.model_dump(mode="json")} for a in review.actions],
        "decided_by": review.decided_by_label if review.decided_by else None,
        "decided_at": review.decided_at.isoformat() if review.decided_at else None,
        "call": view.call,
    }


def cli_reviewer(sts: Any, name: str) -> Reviewer:
    """The operator as AWS knows them (their credentials' ARN); ``--reviewer`` only adds a name."""
    return Reviewer(str(sts.get_caller_identity()["Arn"]), name)
