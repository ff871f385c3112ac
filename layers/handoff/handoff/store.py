"""The call ledger: one DynamoDB item per call, written with conditional writes.

Why conditional writes on the call id: DialNexa retries and may deliver the same
event to several endpoints, with no event id of its own. The first writer wins
(``attribute_not_exists(pk)``); every later delivery merges into the record with
optimistic locking on ``version`` so concurrent merges never lose an update.

A recorded call carries ``pending_start`` until its execution is started; the
sparse ``pending`` index lets the scheduled sweep find calls whose ingest died
between recording and starting.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from handoff import aws

PENDING = "PENDING"
MAX_MERGE_ATTEMPTS = 12
MERGE_BACKOFF_SECONDS = 0.02


def call_key(call_id: str) -> str:
    return f"CALL#{call_id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class StoredCall:
    """A call record as the ledger holds it."""

    call_id: str
    call: dict[str, Any]
    events: list[str]
    received_at: str
    started: bool
    execution_arn: str | None
    version: int
    outcome: str | None = None
    actions: dict[str, Any] | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoredCall:
        return cls(
            call_id=item["call_id"],
            call=json.loads(item.get("call_json") or "{}"),
            events=list(item.get("events") or []),
            received_at=item.get("received_at", ""),
            started=bool(item.get("execution_arn")),
            execution_arn=item.get("execution_arn"),
            version=int(item.get("version", 0)),
            outcome=item.get("outcome"),
            actions=item.get("actions"),
        )


@dataclass(frozen=True)
class RecordResult:
    created: bool
    stored: StoredCall


class CallStore(Protocol):
    def record(self, call_id: str, call: dict[str, Any], event: str) -> RecordResult: ...

    def merge(self, call_id: str, call: dict[str, Any], event: str) -> StoredCall: ...

    def get(self, call_id: str) -> StoredCall | None: ...

    def mark_started(self, call_id: str, execution_arn: str) -> None: ...

    def pending(self, older_than_seconds: int, limit: int = 100) -> list[str]: ...

    def record_event(self, event: str, body_sha256: str, call_id: str | None) -> bool: ...


class DynamoCallStore:
    """CallStore on the single Handoff table."""

    def __init__(self, table_name: str, retention_days: int = 30, client: Any = None) -> None:
        self.table_name = table_name
        self.retention = timedelta(days=retention_days)
        self.client = client or aws.client("dynamodb")

    def _expires_at(self) -> str:
        return str(int((datetime.now(UTC) + self.retention).timestamp()))

    def record(self, call_id: str, call: dict[str, Any], event: str) -> RecordResult:
        """Create the record if this is the first delivery for the call id, else merge."""
        now = now_iso()
        item: dict[str, Any] = {
            "pk": {"S": call_key(call_id)},
            "call_id": {"S": call_id},
            "call_json": {"S": json.dumps(call, default=str)},
            "events": {"L": [{"S": event}]},
            "received_at": {"S": now},
            "updated_at": {"S": now},
            "pending_start": {"S": PENDING},
            "version": {"N": "1"},
            "expires_at": {"N": self._expires_at()},
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return RecordResult(created=False, stored=self.merge(call_id, call, event))
        return RecordResult(
            created=True,
            stored=StoredCall(call_id, call, [event], now, False, None, 1),
        )

    def merge(self, call_id: str, call: dict[str, Any], event: str) -> StoredCall:
        """Merge a later delivery into the record (optimistic locking on ``version``)."""
        from handoff.ingest.envelope import Call, merge_calls

        for attempt in range(MAX_MERGE_ATTEMPTS):
            current = self.get(call_id)
            if current is None:
                created = self.record(call_id, call, event)
                return created.stored
            merged = merge_calls(Call.model_validate(current.call), Call.model_validate(call))
            merged_json = merged.model_dump(mode="json")
            events = current.events if event in current.events else [*current.events, event]
            if events == current.events and json.dumps(merged_json, sort_keys=True, default=str) == json.dumps(
                current.call, sort_keys=True, default=str
            ):
                # A pure duplicate (the common case under retries): nothing to write, nothing to race on.
                return current
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key={"pk": {"S": call_key(call_id)}},
                    UpdateExpression="SET call_json = :c, events = :e, updated_at = :u, version = :nv",
                    ConditionExpression="version = :v",
                    ExpressionAttributeValues={
                        ":c": {"S": json.dumps(merged_json, default=str)},
                        ":e": {"L": [{"S": e} for e in events]},
                        ":u": {"S": now_iso()},
                        ":v": {"N": str(current.version)},
                        ":nv": {"N": str(current.version + 1)},
                    },
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    time.sleep(random.uniform(0, MERGE_BACKOFF_SECONDS * (attempt + 1)))  # noqa: S311 - jitter
                    continue
                raise
            return StoredCall(
                call_id,
                merged_json,
                events,
                current.received_at,
                current.started,
                current.execution_arn,
                current.version + 1,
                current.outcome,
                current.actions,
            )
        raise RuntimeError(f"call {call_id}: too many concurrent updates, giving up the merge")

    def get(self, call_id: str) -> StoredCall | None:
        response = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": call_key(call_id)}}, ConsistentRead=True
        )
        item = response.get("Item")
        if not item:
            return None
        return StoredCall.from_item(_plain(item))

    def mark_started(self, call_id: str, execution_arn: str) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": call_key(call_id)}},
            UpdateExpression="SET execution_arn = :arn, started_at = :at, outcome = :o REMOVE pending_start",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                ":arn": {"S": execution_arn},
                ":at": {"S": now_iso()},
                ":o": {"S": "running"},
            },
        )

    def pending(self, older_than_seconds: int, limit: int = 100) -> list[str]:
        cutoff = (datetime.now(UTC) - timedelta(seconds=older_than_seconds)).isoformat(timespec="milliseconds")
        response = self.client.query(
            TableName=self.table_name,
            IndexName="pending",
            KeyConditionExpression="pending_start = :p AND received_at <= :cutoff",
            ExpressionAttributeValues={":p": {"S": PENDING}, ":cutoff": {"S": cutoff}},
            Limit=limit,
        )
        return [item["pk"]["S"].removeprefix("CALL#") for item in response.get("Items", [])]

    def record_event(self, event: str, body_sha256: str, call_id: str | None) -> bool:
        """Record a verified event Handoff does not act on (once per body)."""
        item: dict[str, Any] = {
            "pk": {"S": f"EVENT#{body_sha256}"},
            "event": {"S": event},
            "received_at": {"S": now_iso()},
            "expires_at": {"N": self._expires_at()},
        }
        if call_id:
            item["call_id"] = {"S": call_id}
        try:
            self.client.put_item(TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def update_fields(self, call_id: str, fields: dict[str, Any]) -> None:
        """Set plain attributes on the call record (outcome, per-action results)."""
        from boto3.dynamodb.types import TypeSerializer

        serializer = TypeSerializer()
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": serializer.serialize(v) for i, v in enumerate(fields.values())}
        sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        self.client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": call_key(call_id)}},
            UpdateExpression=f"SET {sets}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}
