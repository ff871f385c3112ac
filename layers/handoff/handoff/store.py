"""The call ledger: one DynamoDB item per call, written with conditional writes.

Why conditional writes on the call id: DialNexa retries and may deliver the same
event to several endpoints, with no event id of its own. The first writer wins
(``attribute_not_exists(pk)``); every later delivery merges into the record with
optimistic locking on ``version`` so concurrent merges never lose an update.

A recorded call carries ``pending_start`` until its execution is started; the
sparse ``pending`` index lets the scheduled sweep find calls whose ingest died
between recording and starting. A call that never ends (only ``call_initiated``
ever arrived) leaves the index after :data:`NEVER_ENDED_AFTER_SECONDS` with the
outcome ``never_ended`` on its record, so the index only holds calls that can still start.

Sizes are UTF-8 bytes, as DynamoDB counts them: the call is stored as UTF-8 JSON
(never ``\\uXXXX`` escapes, which make a Cyrillic letter 6 bytes instead of 2) and,
above :data:`~handoff.ingest.limits.CALL_COMPRESS_ABOVE_BYTES`, zlib-compressed in
the binary attribute ``call_z``. :func:`encode_call` guarantees the stored call
never passes :data:`~handoff.ingest.limits.CALL_RECORD_MAX_BYTES`, so any body
ingest accepts is recorded, whatever its script.
"""

from __future__ import annotations

import json
import random
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from handoff import aws
from handoff.ingest import limits

PENDING = "PENDING"
NEVER_ENDED = "never_ended"
NEVER_ENDED_AFTER_SECONDS = 6 * 3600
"""A call with no end event this long after it was recorded leaves the pending index (outcome never_ended).

DialNexa posts call_ended when a call ends and retries for hours; no phone call we handle lasts six hours.
A later end event still starts the call normally (ingest starts on delivery, not from the index)."""
TRUNCATION_NOTE = "\n[transcript cut here to fit the call record]"
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
    matched_at: str | None = None
    """When Match last read the record (``begin_match``); an analysis merged after it is late."""
    late_analysis: dict[str, Any] | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoredCall:
        return cls(
            call_id=item["call_id"],
            call=decode_call(item),
            events=list(item.get("events") or []),
            received_at=item.get("received_at", ""),
            started=bool(item.get("execution_arn")),
            execution_arn=item.get("execution_arn"),
            version=int(item.get("version", 0)),
            outcome=item.get("outcome"),
            actions=item.get("actions"),
            matched_at=item.get("matched_at"),
            late_analysis=item.get("late_analysis"),
        )


@dataclass(frozen=True)
class RecordResult:
    created: bool
    stored: StoredCall


def _dumps(call: dict[str, Any]) -> bytes:
    return json.dumps(call, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def encode_call(call: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The call as DynamoDB attributes: ``call_json`` (UTF-8 text) or, when large, ``call_z`` (zlib).

    Never larger than CALL_RECORD_MAX_BYTES. A record built from one accepted body
    (at most 256 KiB) always fits even incompressible; only a transcript joined from
    several deliveries can pass it, and is then cut at the end with a visible note.
    """
    for _ in range(8):
        data = _dumps(call)
        if len(data) <= limits.CALL_COMPRESS_ABOVE_BYTES:
            return {"call_json": {"S": data.decode("utf-8")}}
        packed = zlib.compress(data, 6)
        if len(packed) <= limits.CALL_RECORD_MAX_BYTES:
            return {"call_z": {"B": packed}}
        call = _shrunk(call, len(packed) - limits.CALL_RECORD_MAX_BYTES)
    raise ValueError("call record cannot be made to fit")  # unreachable: _shrunk empties the big fields


def _shrunk(call: dict[str, Any], excess: int) -> dict[str, Any]:
    """The call with its transcript (then its analysis) cut by at least ``excess`` bytes."""
    transcript = call.get("transcript") or ""
    size = limits.utf8_len(transcript)
    if size > excess + 1024:
        kept = limits.clip_utf8(transcript, size - excess - 1024 - len(TRUNCATION_NOTE))
        return {**call, "transcript": kept.removesuffix(TRUNCATION_NOTE) + TRUNCATION_NOTE}
    if transcript:
        return {**call, "transcript": TRUNCATION_NOTE.strip()}
    return {**call, "analysis": {}, "summary": limits.clip_utf8(call.get("summary") or "", 4096) or None}


def decode_call(item: dict[str, Any]) -> dict[str, Any]:
    """The call from a plain (deserialised) item, compressed or not."""
    packed = item.get("call_z")
    if packed is not None:
        raw = getattr(packed, "value", packed)
        return dict(json.loads(zlib.decompress(bytes(raw)).decode("utf-8")))
    return dict(json.loads(item.get("call_json") or "{}"))


def stored_call_bytes(item: dict[str, Any]) -> int:
    """Bytes the call takes in a raw (DynamoDB-typed) item: what counts against the 400 KB limit."""
    if "call_z" in item:
        return len(item["call_z"]["B"])
    return limits.utf8_len(item.get("call_json", {}).get("S", ""))


class CallStore(Protocol):
    def record(self, call_id: str, call: dict[str, Any], event: str) -> RecordResult: ...

    def merge(self, call_id: str, call: dict[str, Any], event: str) -> StoredCall: ...

    def get(self, call_id: str) -> StoredCall | None: ...

    def mark_started(self, call_id: str, execution_arn: str) -> None: ...

    def pending(self, older_than_seconds: int) -> list[tuple[str, str]]: ...

    def close_never_ended(self, call_id: str) -> bool: ...

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
            **encode_call(call),
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
            encoded = encode_call(merged_json)
            (attr, value), other = next(iter(encoded.items())), "call_z" if "call_json" in encoded else "call_json"
            sets = f"SET {attr} = :c, events = :e, updated_at = :u, version = :nv"
            values: dict[str, Any] = {
                ":c": value,
                ":e": {"L": [{"S": e} for e in events]},
                ":u": {"S": now_iso()},
                ":v": {"N": str(current.version)},
                ":nv": {"N": str(current.version + 1)},
            }
            late = _late_analysis(current, merged_json, event)
            if late is not None:
                sets += ", late_analysis = :late"
                values[":late"] = {"M": {k: {"S": v} for k, v in late.items()}}
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key={"pk": {"S": call_key(call_id)}},
                    UpdateExpression=f"{sets} REMOVE {other}",
                    ConditionExpression="version = :v",
                    ExpressionAttributeValues=values,
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
                current.matched_at,
                late or current.late_analysis,
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

    def begin_match(self, call_id: str) -> StoredCall | None:
        """Mark that Match reads the record now and return it as read, in one atomic write.

        The version moves on, so a merge racing with this read retries and sees
        ``matched_at``: an analysis merged afterwards is noted as late, never lost.
        """
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": call_key(call_id)}},
                UpdateExpression="SET matched_at = :at, version = version + :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": {"S": now_iso()}, ":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return StoredCall.from_item(_plain(response["Attributes"]))

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

    def pending(self, older_than_seconds: int, page_size: int = 100) -> list[tuple[str, str]]:
        """(call id, received_at) of every call recorded but not started, oldest first: every page."""
        cutoff = (datetime.now(UTC) - timedelta(seconds=older_than_seconds)).isoformat(timespec="milliseconds")
        found: list[tuple[str, str]] = []
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "pending",
            "KeyConditionExpression": "pending_start = :p AND received_at <= :cutoff",
            "ExpressionAttributeValues": {":p": {"S": PENDING}, ":cutoff": {"S": cutoff}},
            "Limit": page_size,
        }
        while True:
            response = self.client.query(**query)
            found += [
                (item["pk"]["S"].removeprefix("CALL#"), item["received_at"]["S"]) for item in response.get("Items", [])
            ]
            last = response.get("LastEvaluatedKey")
            if not last:
                return found
            query["ExclusiveStartKey"] = last

    def close_never_ended(self, call_id: str) -> bool:
        """Take a call that never ended out of the pending index; the record says ``never_ended``."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": call_key(call_id)}},
                UpdateExpression="SET outcome = :o, closed_at = :at REMOVE pending_start",
                ConditionExpression="attribute_exists(pending_start) AND attribute_not_exists(execution_arn)",
                ExpressionAttributeValues={":o": {"S": NEVER_ENDED}, ":at": {"S": now_iso()}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

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


def _late_analysis(current: StoredCall, merged: dict[str, Any], event: str) -> dict[str, str] | None:
    """The note for an analysis that changed after Match read the record (None when it is not late)."""
    from handoff.models import analysis_digest

    if current.matched_at is None:
        return None
    before, after = current.call.get("analysis") or {}, merged.get("analysis") or {}
    if not after or after == before:
        return None
    return {
        "received_at": now_iso(),
        "event": event,
        "matched_at": current.matched_at,
        "digest": analysis_digest(after),
        "used_digest": analysis_digest(before),
    }


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}
