"""Card numbers, bank details, tax identifiers and secrets said on a call leave no trace anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from handoff_dev.demo import wait_settled
from handoff_dev.embedded.stack import EmbeddedStack, StackOptions
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

CARD = "4111 1111 1111 1111"
IBAN = "BE71 0961 2345 6769"
VAT = "BE0412345614"
CVV = "737"
SSN = "078-05-1120"
API_KEY = "sk_live_handoff_leak_canary_9f8e7d6c5b4a"  # a key with a published shape (redact.py, _SHAPED_SECRET)
SHAPELESS_KEY = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # 32 hex characters, the form of Slack's signing secret
CORPUS = [CARD, CARD.replace(" ", ""), IBAN, IBAN.replace(" ", ""), VAT, SSN, API_KEY]


@pytest.fixture(scope="module")
def chatty_stack() -> Iterator[EmbeddedStack]:
    """A stack whose functions log at DEBUG, so a leak into any log line would show."""
    with EmbeddedStack(
        StackOptions(
            port=0,
            aws_port=0,
            log_level="DEBUG",
            schedules=False,
            parameter_overrides={"AnalysisGraceSeconds": "0"},
            prefork=True,
        )
    ) as stack:
        # A partner credential with no shape the deployment knows (Slack's signing secret; no test here clicks):
        # only the functions that read the Slack secret know it, each in its own environment (nothing is shared).
        secrets = stack.client("secretsmanager")
        config = json.loads(secrets.get_secret_value(SecretId=stack.physical("SlackSecret"))["SecretString"])
        config["signing_secret"] = SHAPELESS_KEY
        secrets.put_secret_value(SecretId=stack.physical("SlackSecret"), SecretString=json.dumps(config))
        yield stack


def _pii_call(call_id: str, key: str = API_KEY) -> bytes:
    transcript = (
        "Agent: How can I help?\n"
        f"User: Move booking B K 4 8 2 1 3 to Saturday. My card is {CARD}, security code {CVV}.\n"
        f"User: Refunds can go to IBAN {IBAN}; our VAT number is {VAT}; my SSN is {SSN}.\n"
        f"User: The integration key is {key}.\n"
    )
    body = {
        "event_type": "call_ended",
        "payload": {
            "call": {
                "id": call_id,
                "direction": "inbound",
                "status": "completed",
                "from_number": "15555550142",
                "to_number": "15555550100",
                "transcript": transcript,
                "summary": f"Elena Marsh moves BK-48213; paid with {CARD}; VAT {VAT}; key {key}.",
                "post_call_analysis": {
                    "intent": "reschedule_booking",
                    "customer_name": "Elena Marsh",
                    "customer_email": "elena.marsh@example.com",
                    "customer_phone": "+15555550142",
                    "booking_id": "BK-48213",
                    "requested_date": "2025-06-14T13:00:00",
                    "notes": f"card {CARD} cvv {CVV} iban {IBAN} vat {VAT}",
                },
            }
        },
    }
    return json.dumps(body).encode()


def _leaks(text: str) -> list[str]:
    return [secret for secret in CORPUS if secret in text]


def test_pii_in_a_call_never_reaches_logs_notifications_or_partner_notes(
    chatty_stack: EmbeddedStack, capfd: pytest.CaptureFixture[str]
) -> None:
    stack = chatty_stack
    status, _, _ = post_signed(
        f"{stack.api_url}/webhooks/dialnexa", _pii_call("call_pii_1"), stack.options.webhook_secret
    )
    assert status == 202
    view = wait_settled(stack, ["call_pii_1"], timeout=60)["call_pii_1"]
    assert stack.delivery.wait_idle(timeout=30)
    logs = capfd.readouterr()
    assert "call_pii_1" in logs.out + logs.err, "the functions' logs were not captured"
    assert _leaks(logs.out + logs.err) == []
    messages = json.dumps(stack.sandboxes["slack"].messages)
    assert "call_pii_1" in messages
    assert _leaks(messages) == []
    planyo: Any = stack.sandboxes["planyo"]
    notes = json.dumps([r.get("admin_notes") for r in planyo.reservations.values()])
    assert view.outcome in ("acted", "waiting for review")
    assert _leaks(notes) == []
    # The execution and the call record are written by ingest, which reads no partner secret: the key is
    # recognised by its shape (a shapeless one is not, see the next test).
    assert _leaks(json.dumps(view.output or view.last_input or {})) == []
    record = stack.client("dynamodb").get_item(
        TableName=stack.physical("HandoffTable"), Key={"pk": {"S": "CALL#call_pii_1"}}
    )["Item"]
    assert "B K 4 8 2 1 3" in record["call_json"]["S"]  # what match needs survives
    assert _leaks(json.dumps(record)) == []


@pytest.mark.xfail(
    strict=True,
    reason=(
        "ingest reads no partner secret (least privilege, issue 12), so a partner key without a published shape "
        "said on a call reaches the execution input and the call record (docs/data-lifecycle.md). The old "
        "in-process runner hid this because every function shared one process and one secret registry (issue 11)."
    ),
)
def test_a_shapeless_partner_key_said_on_a_call_stays_out_of_the_execution_and_the_call_record(
    chatty_stack: EmbeddedStack,
) -> None:
    stack = chatty_stack
    status, _, _ = post_signed(
        f"{stack.api_url}/webhooks/dialnexa", _pii_call("call_pii_2", SHAPELESS_KEY), stack.options.webhook_secret
    )
    assert status == 202
    view = wait_settled(stack, ["call_pii_2"], timeout=60)["call_pii_2"]
    record = stack.client("dynamodb").get_item(
        TableName=stack.physical("HandoffTable"), Key={"pk": {"S": "CALL#call_pii_2"}}
    )["Item"]
    assert SHAPELESS_KEY not in json.dumps(view.output or view.last_input or {}) + json.dumps(record)
