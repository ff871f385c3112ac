"""What notify reads beside the event: the outcome as the call record keeps it.

The event carries only the contract; a notification also needs what the owner
may see and subscribers may not (the handoff document with the caller's name,
the evidence, the reviewer's note, the error message). The publisher writes that
view onto the call's DynamoDB record (encrypted, expiring with the call) before
it publishes, so whoever receives the event can read it there by call id; a
replayed event whose record has expired is told from the event alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from handoff import aws
from handoff.models import ActResult, Candidate, PipelineState, ReviewOutcome, RouteDecision

VIEW_ATTRIBUTE_PREFIX = "outcome_view:"


class Rejection(BaseModel):
    reviewer: str = "unknown"
    reason: str = ""


class OutcomeView(BaseModel):
    """One outcome of a call as its owner is told about it."""

    model_config = ConfigDict(extra="ignore")

    decision: RouteDecision | None = None
    candidate: Candidate | None = None
    act: ActResult | None = None
    review: ReviewOutcome | None = None
    rejection: Rejection | None = None
    error: str | None = None
    failed_state: str | None = None


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(value) if isinstance(value, str) else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def outcome_view(document: dict[str, Any]) -> OutcomeView:
    """The view of the state document a Publish state received."""
    state = PipelineState.model_validate(document)
    rejection: Rejection | None = None
    raw_rejection = document.get("rejection")
    if isinstance(raw_rejection, dict):
        cause = _json(raw_rejection.get("Cause"))
        rejection = Rejection(
            reviewer=str(cause.get("reviewer") or "unknown"),
            reason=str(cause.get("reason") or raw_rejection.get("Cause") or ""),
        )
    error = document.get("error")
    error_text: str | None = None
    if isinstance(error, dict):
        error_text = f"{error.get('Error', 'error')}: {str(error.get('Cause') or '')[:500]}"
    failed_state = document.get("failed_state")
    return OutcomeView(
        decision=state.decision,
        candidate=state.match.best if state.match else None,
        act=state.act,
        review=state.review,
        rejection=rejection,
        error=error_text,
        failed_state=str(failed_state) if failed_state else None,
    )


def view_attribute(detail_type: str) -> str:
    return VIEW_ATTRIBUTE_PREFIX + detail_type


class ViewStore(Protocol):
    def save(self, call_id: str, detail_type: str, view: OutcomeView) -> None: ...

    def load(self, call_id: str, detail_type: str) -> OutcomeView | None: ...


class DynamoViewStore:
    """Views as attributes of the call item (``outcome_view:<detail type>``, JSON)."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else aws.client("dynamodb")

    def save(self, call_id: str, detail_type: str, view: OutcomeView) -> None:
        """Set the view; a call with no record yet (an execution started by hand) still expires."""
        from handoff.config import settings
        from handoff.store import call_key

        expires = datetime.now(UTC) + timedelta(days=settings().call_retention_days)
        self.client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": call_key(call_id)}},
            UpdateExpression="SET #v = :v, expires_at = if_not_exists(expires_at, :e)",
            ExpressionAttributeNames={"#v": view_attribute(detail_type)},
            ExpressionAttributeValues={
                ":v": {"S": view.model_dump_json(exclude_none=True)},
                ":e": {"N": str(int(expires.timestamp()))},
            },
        )

    def load(self, call_id: str, detail_type: str) -> OutcomeView | None:
        from handoff.store import call_key

        answer = self.client.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": call_key(call_id)}},
            ProjectionExpression="#v",
            ExpressionAttributeNames={"#v": view_attribute(detail_type)},
            ConsistentRead=True,
        )
        raw = (answer.get("Item") or {}).get(view_attribute(detail_type), {}).get("S")
        return OutcomeView.model_validate_json(raw) if raw else None
