"""Every sample event in events/<function>/ runs through its real handler (what `sam local invoke -e` does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handoff_dev.demo import wait_settled

EVENTS = Path(__file__).resolve().parents[2] / "events"

pytestmark = pytest.mark.e2e

FUNCTIONS = {
    "ingest": "IngestFunction",
    "match": "MatchFunction",
    "route": "RouteFunction",
    "act": "ActFunction",
    "notify": "NotifyFunction",
    "publish": "PublishFunction",
    "partner_ingest": "PartnerIngestFunction",
    "customer_sync": "CustomerSyncFunction",
    "review": "ReviewFunction",
}
CASES = [(folder, path) for folder in FUNCTIONS for path in sorted((EVENTS / folder).glob("*.json"))]


def test_every_function_has_at_least_one_sample_event() -> None:
    assert {folder for folder, _ in CASES} == set(FUNCTIONS)


@pytest.mark.parametrize(("folder", "path"), CASES, ids=[f"{f}/{p.name}" for f, p in CASES])
def test_the_handler_accepts_its_sample_event(stack: Any, folder: str, path: Path) -> None:
    event = json.loads(path.read_text(encoding="utf-8"))
    # Earlier samples may have put events on the bus (a Planyo callback): let their deliveries
    # finish, so this direct invocation is a redelivery rather than a race with one in flight.
    assert stack.delivery.wait_idle(timeout=30)
    if folder in ("match", "route", "act"):
        # The ingest sample may have started this call's execution: let it finish first,
        # so this direct invocation is a redelivery (act must then replay, not write again).
        wait_settled(stack, [event["call"]["call_id"]], timeout=30)
    payload, error = stack.registry.invoke(stack.physical(FUNCTIONS[folder]), event)
    assert error is None, payload
    if folder == "ingest" and "requestContext" in event:
        assert payload["statusCode"] in (200, 202)
    if folder in ("match", "route", "act"):
        assert payload["call"]["call_id"] == event["call"]["call_id"]
        assert ("decision" if folder == "route" else folder) in payload
    if folder == "act" and payload["act"]["results"]:
        assert {r["status"] for r in payload["act"]["results"]} <= {"already_done", "skipped"}
