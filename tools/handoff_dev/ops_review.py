"""Waiting reviews for people and scripts: rows for ``review list``, the full picture for ``review show``.

The deciding itself is ``handoff.review.decide_call`` (the same code the
IAM-authorised decision route runs), so the CLI and a team's own approval
surface behave identically.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from handoff.review import ReviewNotFound, ReviewQueue, ReviewRequest


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


def review_row(request: ReviewRequest, now: datetime | None = None) -> dict[str, Any]:
    """One line of ``review list``."""
    age = request.age(now or datetime.now(UTC))
    return {
        "call_id": request.call_id,
        "requested_at": request.requested_at.isoformat(),
        "age_seconds": int(age.total_seconds()),
        "age": human_age(age),
        "reasons": request.reasons,
        "owner": request.owner,
        "urgency": request.urgency,
        "execution_arn": request.execution_arn,
    }


def review_detail(request: ReviewRequest, now: datetime | None = None) -> dict[str, Any]:
    """Everything a reviewer needs to decide without replaying the call."""
    state = request.pipeline()
    decision = state.decision
    return {
        **review_row(request, now),
        "why_review": request.reasons,
        "handoff": decision.handoff.model_dump(mode="json") if decision else None,
        "intent": decision.intent if decision else None,
        "match_status": str(state.match.status) if state.match else None,
        "candidates": [c.model_dump(mode="json") for c in request.candidates],
        "proposed_actions": [{"key": a.key, **a.model_dump(mode="json")} for a in request.actions],
        "call": state.call.model_dump(mode="json", exclude={"analysis"}),
    }


def find_review(queue: ReviewQueue, call_id: str) -> ReviewRequest:
    """The newest waiting review of a call, without consuming it."""
    held = queue.claim(call_id)
    queue.release([r.receipt_handle for r in held])
    if not held:
        raise ReviewNotFound(call_id, f"no review is waiting for call {call_id}; `handoff review list` shows them")
    return held[0]
