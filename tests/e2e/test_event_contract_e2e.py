"""Every event on the bus validates against its published schema, and none carries what it may not.

The whole sample set and a leak corpus (cards, IBANs, VAT numbers, secrets, e-mails,
phone numbers and amounts said on the calls) go through the embedded stack while a
subscriber's rule (``handoff events tail``) records everything that passes on the bus.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft4Validator

from handoff.events.contract import DETAIL_TYPES, SOURCE
from handoff.events.schema import event_schema
from handoff_dev.cli_events import BusTail
from handoff_dev.demo import wait_settled
from handoff_dev.embedded.stack import DEV_PLANYO_CALLBACK_TOKEN, EmbeddedStack
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "dialnexa"
BUYING = "variant-a_call-ended_completed_inbound_price-availability-buying-intent.json"
LEAKS = [
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "378282246310005",
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "BE0477472701",
    "NL004495445B01",
    "sk_live_events_canary_4f3e2d1c0b9a8877",
]
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE = re.compile(r"\+?1?[ (.-]*555[ ).-]*\d{3}[ .-]*\d{4}")
AMOUNT = re.compile(r"[$€£]\s?\d|\b\d[\d,.]*\s?(usd|eur|gbp)\b", re.I)


def _bodies() -> dict[str, bytes]:
    """Every sample, and every sample again with the leak corpus said on the call."""
    bodies: dict[str, bytes] = {}
    for n, path in enumerate(sorted(SAMPLES.glob("*.json"))):
        body = json.loads(path.read_bytes())
        for leaky in (False, True):
            call = body.get("payload", {}).get("call") if isinstance(body.get("payload"), dict) else None
            target = dict(call) if isinstance(call, dict) else dict(body)
            call_id = f"call_contract_{n}_{int(leaky)}"
            if leaky:
                said = (
                    f" My card is {LEAKS[n % 3]}, IBAN {LEAKS[3 + n % 2]}, VAT {LEAKS[5 + n % 2]}, key {LEAKS[7]}; "
                    "it cost $1,299.00, write to leak.canary@example.com or call +1 555 555 0177."
                )
                target["summary"] = str(target.get("summary") or "") + said
                target["transcript"] = str(target.get("transcript") or "") + "\nUser:" + said
                key = "post_call_analysis" if "post_call_analysis" in target else "analysis"
                if isinstance(target.get(key), dict):
                    target[key] = {**target[key], "notes": said, "product_name": LEAKS[0]}
            if call is not None:
                target["id"] = call_id
                copy = {**body, "payload": {**body["payload"], "call": target}}
            elif "session_id" in body:
                copy = {**target, "session_id": call_id}
            else:
                continue
            bodies[call_id] = json.dumps(copy).encode()
        if path.name == BUYING:
            bodies["buying"] = bodies[f"call_contract_{n}_0"]
    return bodies


@pytest.fixture(scope="module")
def bus_events(stack: EmbeddedStack) -> Iterator[list[dict[str, Any]]]:
    bus = stack.physical("EventBus")
    with BusTail(stack.client("events"), stack.client("sqs"), bus) as tail:
        bodies = _bodies()
        buying_id = next(k for k, v in bodies.items() if k != "buying" and v == bodies["buying"])
        ids = [k for k in bodies if k != "buying"]
        for call_id in ids:
            status, _, _ = post_signed(
                f"{stack.api_url}/webhooks/dialnexa", bodies[call_id], stack.options.webhook_secret
            )
            assert status in (200, 202), call_id
        wait_settled(stack, ids, timeout=120)
        url = f"{stack.api_url}/webhooks/planyo/{DEV_PLANYO_CALLBACK_TOKEN}"
        requests.post(
            url, data={"notification_type": "checked_in", "reservation": "48213", "status": "1029"}, timeout=10
        )
        assert stack.delivery.wait_idle(timeout=60)
        events = list(tail.follow(idle_timeout=2.0, wait_seconds=0))
        events.append({"buying_call_id": buying_id})
        yield events


def _events(bus_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in bus_events if "detail-type" in e]


def test_the_corpus_produced_every_kind_of_outcome_on_the_bus(bus_events: list[dict[str, Any]]) -> None:
    seen = {e["detail-type"] for e in _events(bus_events)}
    assert {"call.handed_off", "call.review_requested", "call.nothing_to_do", "partner.routed"} <= seen
    assert "call.lifecycle_signal" in seen


def test_every_handoff_event_on_the_bus_validates_against_its_published_schema(
    bus_events: list[dict[str, Any]],
) -> None:
    handoff_events = [e for e in _events(bus_events) if e["source"] == SOURCE]
    assert len(handoff_events) >= 10
    for event in handoff_events:
        assert event["detail-type"] in DETAIL_TYPES, event["detail-type"]
        Draft4Validator(event_schema(event["detail-type"])).validate(event)


def test_no_event_carries_a_transcript_phone_email_amount_or_payment_identifier(
    bus_events: list[dict[str, Any]],
) -> None:
    for event in (e for e in _events(bus_events) if e["source"] == SOURCE):
        text = json.dumps(event["detail"])
        assert not EMAIL.search(text), (event["detail-type"], EMAIL.search(text))
        assert not PHONE.search(text), (event["detail-type"], PHONE.search(text))
        assert not AMOUNT.search(text), (event["detail-type"], AMOUNT.search(text))
        for leak in LEAKS:
            assert leak not in text and leak.replace(" ", "").replace("-", "") not in text, leak
        assert "transcript" not in event["detail"] and "User:" not in text and "Agent:" not in text


def test_the_buying_intent_call_produced_a_product_interest(bus_events: list[dict[str, Any]]) -> None:
    buying_id = bus_events[-1]["buying_call_id"]
    signals = [
        e["detail"]
        for e in _events(bus_events)
        if e["detail-type"] == "call.lifecycle_signal" and e["detail"]["call_id"] == buying_id
    ]
    assert [s["signal"] for s in signals] == ["product_interest"]
    assert signals[0]["product_interest"]["strength"] == "strong"
    assert signals[0]["customer"]["tool"] == "billit"


def test_the_tail_removes_its_rule_and_queue(stack: EmbeddedStack) -> None:
    events, sqs = stack.client("events"), stack.client("sqs")
    bus = stack.physical("EventBus")
    with BusTail(events, sqs, bus, ["call.lifecycle_signal"]) as tail:
        name = tail.name
        assert any(r["Name"] == name for r in events.list_rules(EventBusName=bus)["Rules"])
    assert not any(r["Name"] == name for r in events.list_rules(EventBusName=bus)["Rules"])
    assert not any(name in url for url in sqs.list_queues().get("QueueUrls", []))
