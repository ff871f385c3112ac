"""``partner.routed``: the typed event of a routed partner outcome, and the outcome kept for its owner.

The routed outcome (``PartnerOutcome``) holds what the owner is told: the title
and facts with the customer's name, and contact details where the partner policy
allows them. None of that goes on the bus; the event names the partner event,
the record, the owner and the urgency, and the outcome is kept in the table
under its dedupe key (expiring like a call record) for notify to read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from handoff import aws
from handoff.events.contract import PartnerRouted, RecordRef
from handoff.models import Tool

if TYPE_CHECKING:
    from handoff.partners.reservation_events import PartnerOutcome

PARTNER_VIEW_DAYS = 30


def partner_routed(outcome: PartnerOutcome) -> PartnerRouted:
    from handoff.events.build import token, url_or_none

    return PartnerRouted(
        event=outcome.event,
        action=outcome.kind,
        owner=outcome.owner.team[:80],
        urgency=outcome.urgency,
        record=RecordRef(
            tool=Tool.PLANYO,
            kind=outcome.record_kind,
            record_id=token(outcome.record) or "unknown",
            url=url_or_none(outcome.record_url),
        ),
        dedupe_key=outcome.dedupe_key,
        policy_version=outcome.policy_version or None,
        occurred_at=outcome.occurred_at,
    )


def partner_view_key(dedupe_key: str) -> str:
    return f"PARTNER#{dedupe_key}"


class PartnerViewStore:
    """Routed partner outcomes by dedupe key, on the Handoff table."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else aws.client("dynamodb")

    def save(self, outcome: PartnerOutcome) -> None:
        expires = int((datetime.now(UTC) + timedelta(days=PARTNER_VIEW_DAYS)).timestamp())
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "pk": {"S": partner_view_key(outcome.dedupe_key)},
                "outcome_json": {"S": outcome.model_dump_json(exclude_none=True)},
                "expires_at": {"N": str(expires)},
            },
        )

    def load(self, dedupe_key: str) -> PartnerOutcome | None:
        from handoff.partners.reservation_events import PartnerOutcome

        answer = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": partner_view_key(dedupe_key)}}, ConsistentRead=True
        )
        raw = (answer.get("Item") or {}).get("outcome_json", {}).get("S")
        return PartnerOutcome.model_validate_json(raw) if raw else None
