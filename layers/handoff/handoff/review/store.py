"""Reviews on the call record: one DynamoDB item per call, a sparse index for what is open.

Why on the call item: a review belongs to one call, so showing it is one
``GetItem`` and deciding it is one conditional ``UpdateItem`` on its own key;
decisions on different calls never touch the same item, so they cannot
interfere (the SQS review queue they replace had every decision receive and
hide every message to find its own).

``review_open`` exists only while a review is open (``waiting`` for a person,
or ``decided`` but not yet sent to Step Functions). It is the hash key of the
sparse ``reviews`` index (range ``review_requested_at``), so listing what
waits is a paginated ``Query`` however many calls the table holds, and the
closed reviews drop out of the index by themselves. Only a small summary is
projected, so a page stays small with thousands waiting.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from handoff import aws
from handoff.review.model import Reviewer, ReviewRecord, ReviewStatusName
from handoff.store import call_key

INDEX = "reviews"
OPEN_KEY = "review_open"
REQUESTED_KEY = "review_requested_at"
PAGE_MAX = 100

_STATIC_FIELDS = {
    "status",
    "decision",
    "decided_by",
    "decided_by_name",
    "decided_at",
    "outcome",
    "applied_at",
    "closed_reason",
    "task_token",
    "execution_arn",
    "requested_at",
}
"""Fields kept as attributes of their own (conditions and the index read them), not in ``review_json``."""


class BadPageToken(ValueError):  # noqa: N818 - reads as the problem it names
    """A ``next`` token that this store did not hand out."""


@dataclass(frozen=True)
class ReviewRow:
    """One line of the open-review listing (from the index projection alone)."""

    call_id: str
    requested_at: datetime
    status: str
    owner: str
    urgency: str
    reasons: list[str]
    deadline: datetime | None
    execution_arn: str


@dataclass(frozen=True)
class ReviewPage:
    rows: list[ReviewRow]
    next_token: str | None


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _iso(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(timespec="milliseconds")


def _conditional_failed(exc: ClientError) -> bool:
    return bool(exc.response["Error"]["Code"] == "ConditionalCheckFailedException")


class ReviewStore:
    """The review part of the call items of the Handoff table."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self.client = client or aws.client("dynamodb")

    def _key(self, call_id: str) -> dict[str, Any]:
        return {"pk": _s(call_key(call_id))}

    # ------------------------------------------------------------------- writes
    def record(self, review: ReviewRecord) -> None:
        """Open (or re-open, for a redrive) the review of a call; any earlier decision is cleared."""
        static = review.model_dump(mode="json", exclude=_STATIC_FIELDS)
        summary = {
            "owner": review.owner,
            "urgency": review.urgency,
            "reasons": review.reasons,
            "deadline": _iso(review.deadline),
            "execution_arn": review.execution_arn,
        }
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(review.call_id),
            UpdateExpression=(
                "SET call_id = if_not_exists(call_id, :cid), review_open = :waiting, review_status = :waiting, "
                "review_requested_at = :at, review_token = :token, review_execution_arn = :exec, "
                "review_json = :json, review_summary = :summary "
                "REMOVE review_decision, review_decided_by, review_decided_by_name, review_decided_at, "
                "review_outcome, review_applied_at, review_closed_reason"
            ),
            ExpressionAttributeValues={
                ":cid": _s(review.call_id),
                ":waiting": _s("waiting"),
                ":at": _s(_iso(review.requested_at)),
                ":token": _s(review.task_token),
                ":exec": _s(review.execution_arn),
                ":json": _s(json.dumps(static, separators=(",", ":"))),
                ":summary": _s(json.dumps(summary, separators=(",", ":"))),
            },
        )

    def claim(
        self, review: ReviewRecord, decision: str, reviewer: Reviewer, outcome: dict[str, Any], at: datetime
    ) -> bool:
        """Record the decision if the review still waits with this token; False when someone was first."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(review.call_id),
                UpdateExpression=(
                    "SET review_status = :decided, review_open = :decided, review_decision = :decision, "
                    "review_decided_by = :by, review_decided_by_name = :name, review_decided_at = :at, "
                    "review_outcome = :outcome"
                ),
                ConditionExpression="review_status = :waiting AND review_token = :token",
                ExpressionAttributeValues={
                    ":decided": _s("decided"),
                    ":waiting": _s("waiting"),
                    ":decision": _s(decision),
                    ":by": _s(reviewer.id),
                    ":name": _s(reviewer.name),
                    ":at": _s(_iso(at)),
                    ":outcome": _s(json.dumps(outcome, separators=(",", ":"), default=str)),
                    ":token": _s(review.task_token),
                },
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def close(self, review: ReviewRecord, status: ReviewStatusName, at: datetime, reason: str = "") -> bool:
        """Take an open review out of the index as applied, expired or closed (only for this token)."""
        values: dict[str, Any] = {":status": _s(status), ":at": _s(_iso(at)), ":token": _s(review.task_token)}
        update = "SET review_status = :status, review_applied_at = :at"
        if reason:
            update += ", review_closed_reason = :reason"
            values[":reason"] = _s(reason)
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(review.call_id),
                UpdateExpression=f"{update} REMOVE review_open",
                ConditionExpression="review_token = :token AND attribute_exists(review_open)",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    # ------------------------------------------------------------------- reads
    def get(self, call_id: str) -> ReviewRecord | None:
        """The latest review of a call (strongly consistent), or None if it never had one."""
        item = self.client.get_item(TableName=self.table_name, Key=self._key(call_id), ConsistentRead=True).get("Item")
        if not item or "review_token" not in item:
            return None
        return record_from_item(item)

    def open_page(self, status: str = "waiting", limit: int = 50, next_token: str | None = None) -> ReviewPage:
        """One page of open reviews in ``status`` (``waiting`` or ``decided``), oldest first."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": INDEX,
            "KeyConditionExpression": f"{OPEN_KEY} = :status",
            "ExpressionAttributeValues": {":status": _s(status)},
            "Limit": max(1, min(limit, PAGE_MAX)),
            "ScanIndexForward": True,
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = _decode_token(next_token)
        answer = self.client.query(**kwargs)
        rows = [row_from_item(item) for item in answer.get("Items") or []]
        last = answer.get("LastEvaluatedKey")
        return ReviewPage(rows, _encode_token(last) if last else None)


# --------------------------------------------------------------------------- item <-> model
def _text(item: dict[str, Any], name: str) -> str:
    return str((item.get(name) or {}).get("S", ""))


def record_from_item(item: dict[str, Any]) -> ReviewRecord:
    static = json.loads(_text(item, "review_json") or "{}")
    outcome = _text(item, "review_outcome")
    return ReviewRecord.model_validate(
        {
            **static,
            "call_id": _text(item, "call_id") or static.get("call_id", ""),
            "task_token": _text(item, "review_token"),
            "execution_arn": _text(item, "review_execution_arn"),
            "requested_at": _text(item, REQUESTED_KEY),
            "status": _text(item, "review_status") or "waiting",
            "decision": _text(item, "review_decision") or None,
            "decided_by": _text(item, "review_decided_by"),
            "decided_by_name": _text(item, "review_decided_by_name"),
            "decided_at": _text(item, "review_decided_at") or None,
            "outcome": json.loads(outcome) if outcome else None,
            "applied_at": _text(item, "review_applied_at") or None,
            "closed_reason": _text(item, "review_closed_reason"),
        }
    )


def row_from_item(item: dict[str, Any]) -> ReviewRow:
    summary = json.loads(_text(item, "review_summary") or "{}")
    deadline = summary.get("deadline")
    return ReviewRow(
        call_id=_text(item, "call_id") or _text(item, "pk").removeprefix("CALL#"),
        requested_at=datetime.fromisoformat(_text(item, REQUESTED_KEY)),
        status=_text(item, OPEN_KEY),
        owner=str(summary.get("owner", "")),
        urgency=str(summary.get("urgency", "")),
        reasons=[str(r) for r in summary.get("reasons") or []],
        deadline=datetime.fromisoformat(deadline) if deadline else None,
        execution_arn=str(summary.get("execution_arn", "")),
    )


def _encode_token(key: dict[str, Any]) -> str:
    plain = {name: value["S"] for name, value in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode()


def _decode_token(token: str) -> dict[str, Any]:
    try:
        plain = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadPageToken("the page token is not one this listing gave out") from None
    if not isinstance(plain, dict) or set(plain) != {"pk", OPEN_KEY, REQUESTED_KEY}:
        raise BadPageToken("the page token is not one this listing gave out")
    return {name: _s(str(value)) for name, value in plain.items()}
