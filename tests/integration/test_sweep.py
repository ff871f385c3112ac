"""The sweep reads every page of the pending index and empties it of calls that never ended.

Issue 12: the sweep read one page of 100 and calls that only ever sent
``call_initiated`` stayed in the index until TTL, so with 100 of those a call
recorded but never started was never started.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handoff.ingest.service import IngestService
from handoff.store import NEVER_ENDED, NEVER_ENDED_AFTER_SECONDS, DynamoCallStore, encode_call

TABLE = "handoff-sweep"


class Starter:
    def __init__(self) -> None:
        self.names: list[str] = []

    def start(self, name: str, payload: dict[str, Any]) -> str:
        self.names.append(name)
        return f"arn:aws:states:us-east-1:123456789012:execution:handoff:{name}"


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "pending_start", "received_at")
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "pending",
                    "KeySchema": [
                        {"AttributeName": "pending_start", "KeyType": "HASH"},
                        {"AttributeName": "received_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
        )
        yield ddb


_seq = itertools.count()


def _recorded(client: Any, call_id: str, event: str, age_seconds: int) -> None:
    # Each record a few milliseconds apart so received_at (the index's sort key) is unique and ordered.
    received = datetime.now(UTC) - timedelta(seconds=age_seconds, milliseconds=next(_seq))
    client.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"CALL#{call_id}"},
            "call_id": {"S": call_id},
            **encode_call({"call_id": call_id, "status": "completed"}),
            "events": {"L": [{"S": event}]},
            "received_at": {"S": received.isoformat(timespec="milliseconds")},
            "pending_start": {"S": "PENDING"},
            "version": {"N": "1"},
        },
    )


def _service(client: Any, starter: Starter) -> IngestService:
    return IngestService(store=DynamoCallStore(TABLE, client=client), starter=starter, secrets=lambda _: [])


def test_300_pending_calls_are_all_handled_in_one_sweep(client: Any) -> None:
    old = NEVER_ENDED_AFTER_SECONDS + 60
    for i in range(150):
        _recorded(client, f"never_{i:03}", "call.started", old)  # first in the index: the oldest
    for i in range(100):
        _recorded(client, f"ended_{i:03}", "call.ended", 600)
    for i in range(50):
        _recorded(client, f"ringing_{i:03}", "call.started", 600)  # may still end: stays pending
    starter = Starter()
    report = _service(client, starter).sweep()
    assert sorted(report.started) == [f"ended_{i:03}" for i in range(100)]
    assert sorted(report.closed) == [f"never_{i:03}" for i in range(150)]
    store = DynamoCallStore(TABLE, client=client)
    assert sorted(c for c, _ in store.pending(60)) == [f"ringing_{i:03}" for i in range(50)]
    record = client.get_item(TableName=TABLE, Key={"pk": {"S": "CALL#never_000"}})["Item"]
    assert record["outcome"]["S"] == NEVER_ENDED and "pending_start" not in record


def test_the_pending_query_reads_every_page(client: Any) -> None:
    for i in range(25):
        _recorded(client, f"p_{i:02}", "call.ended", 600)
    assert len(DynamoCallStore(TABLE, client=client).pending(60, page_size=10)) == 25


def test_a_sweep_out_of_time_stops_and_the_next_sweep_goes_on(client: Any) -> None:
    for i in range(10):
        _recorded(client, f"t_{i}", "call.ended", 600)
    clock = iter([10.0] * 4 + [1.0] * 100)
    first = _service(client, Starter()).sweep(time_left=lambda: next(clock))
    assert (len(first.started), first.left) == (4, 6)
    second = _service(client, Starter()).sweep()
    assert len(second.started) == 6 and second.left == 0


def test_a_call_that_ends_after_being_closed_still_starts(client: Any) -> None:
    _recorded(client, "late_end", "call.started", NEVER_ENDED_AFTER_SECONDS + 60)
    service = _service(client, Starter())
    assert service.sweep().closed == ["late_end"]
    result = service.store.record("late_end", {"call_id": "late_end", "status": "completed"}, "call.ended")
    assert not result.stored.started and "call.ended" in result.stored.events
