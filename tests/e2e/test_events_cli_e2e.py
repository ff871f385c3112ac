"""`handoff events tail` on a running embedded stack shows a lifecycle signal as it passes; `schema` prints one."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from handoff_dev.demo import wait_settled
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
HANDOFF = str(Path(sys.executable).with_name("handoff"))
BUYING = "variant-a_call-ended_completed_inbound_price-availability-buying-intent.json"


def test_tail_prints_the_product_interest_of_the_buying_call_and_cleans_up(stack: Any, rekeyed: Any) -> None:
    tail = subprocess.Popen(
        [
            HANDOFF,
            "events",
            "tail",
            "--type",
            "call.lifecycle_signal",
            "--endpoint-url",
            stack.aws_endpoint,
            "--count",
            "1",
            "--idle",
            "60",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        bus = stack.physical("EventBus")
        events = stack.client("events")
        for _ in range(200):  # the tail's rule exists before the call is posted
            if any(r["Name"].startswith("handoff-tail-") for r in events.list_rules(EventBusName=bus)["Rules"]):
                break
            assert tail.poll() is None, tail.stderr.read() if tail.stderr else ""
            time.sleep(0.1)
        status, _, _ = post_signed(
            f"{stack.api_url}/webhooks/dialnexa", rekeyed(BUYING, "call_tail_buying"), stack.options.webhook_secret
        )
        assert status == 202
        wait_settled(stack, ["call_tail_buying"], timeout=60)
        out, err = tail.communicate(timeout=90)
    finally:
        if tail.poll() is None:
            tail.kill()
    assert tail.returncode == 0, err
    (line,) = out.strip().splitlines()
    event = json.loads(line)
    assert event["detail-type"] == "call.lifecycle_signal"
    assert event["detail"]["call_id"] == "call_tail_buying"
    assert event["detail"]["product_interest"]["strength"] == "strong"
    assert not any(r["Name"].startswith("handoff-tail-") for r in events.list_rules(EventBusName=bus)["Rules"])


def test_schema_prints_the_published_schema() -> None:
    answer = subprocess.run(
        [HANDOFF, "events", "schema", "call.lifecycle_signal"], capture_output=True, text=True, check=True
    )
    schema = json.loads(answer.stdout)
    assert schema == json.loads((ROOT / "schemas" / "events" / "call.lifecycle_signal.json").read_text())
    wrong = subprocess.run([HANDOFF, "events", "schema", "call.nope"], capture_output=True, text=True)
    assert wrong.returncode != 0 and "unknown detail type" in wrong.stderr
