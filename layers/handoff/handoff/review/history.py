"""How a review ended, read from the execution history.

Needed only in one corner: when Step Functions refuses a task token as closed
(``TaskTimedOut``, ``InvalidToken``, ``TaskDoesNotExist``), the history says
whether our own earlier send already landed (a retry after a crash), the
review timed out, or the execution ended some other way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from handoff.review.model import REJECTED_ERROR

REVIEW_STATE = "RequestReview"
CLOSED_TOKEN_ERRORS = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")
# UNCONFIRMED (AWS behaviour, kept here): SendTaskSuccess/Failure on a token whose task
# already finished answers TaskTimedOut ("Provided task does not exist anymore") or
# InvalidToken; moto accepts it silently. Either way the history decides.

HistoryKind = Literal["pending", "approved", "rejected", "expired", "failed", "none"]


@dataclass
class HistoryStatus:
    """The latest review of one execution, as its history tells it."""

    kind: HistoryKind
    reviewer: str = ""
    detail: str = ""
    at: datetime | None = None


def read_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def status_from_history(events: list[dict[str, Any]]) -> HistoryStatus:
    """Pure: walk the history forward and keep the state of the last RequestReview."""
    status = HistoryStatus("none")
    in_review = False
    for event in events:
        kind = event["type"]
        when = event.get("timestamp")
        if kind.endswith("StateEntered") and event["stateEnteredEventDetails"]["name"] == REVIEW_STATE:
            in_review, status = True, HistoryStatus("pending", at=when)
        elif kind.endswith("StateExited") and event["stateExitedEventDetails"]["name"] == REVIEW_STATE:
            in_review = False
        elif not in_review or status.kind != "pending":
            continue
        elif kind == "TaskSucceeded":
            output = _json(event["taskSucceededEventDetails"].get("output"))
            status = HistoryStatus("approved", str(output.get("reviewer", "unknown")), at=when)
        elif kind == "TaskFailed":
            details = event["taskFailedEventDetails"]
            if details.get("error") == REJECTED_ERROR:
                cause = _json(details.get("cause"))
                status = HistoryStatus(
                    "rejected", str(cause.get("reviewer", "unknown")), str(cause.get("reason", "")), when
                )
            else:
                status = HistoryStatus("failed", detail=str(details.get("error")), at=when)
        elif kind == "TaskTimedOut":
            status = HistoryStatus("expired", at=when)
        elif kind in ("ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"):
            status = HistoryStatus("failed", detail=f"execution {kind[9:].lower()}", at=when)
    return status


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
