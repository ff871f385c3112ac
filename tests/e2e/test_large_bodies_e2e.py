"""Any body ingest accepts is recorded and runs: 250 KB transcripts in Cyrillic, Japanese and emoji.

Issue 12: a signed 140 KB Cyrillic body used to answer 500 on every retry (the record
was \\u-escaped to 420 KB). Here each script is posted at the body limit, in speech-like
text and in random code points (the least compressible text a body can carry).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from handoff.ingest import limits
from handoff.ingest.signature import sign
from handoff.store import stored_call_bytes
from handoff_dev.demo import wait_settled
from handoff_dev.large_bodies import call_body

pytestmark = pytest.mark.e2e


def _post(stack: Any, body: bytes) -> requests.Response:
    headers = {"Content-Type": "application/json", "X-DialNexa-Signature": sign(body, stack.options.webhook_secret)}
    return requests.post(f"{stack.api_url}/webhooks/dialnexa", data=body, headers=headers, timeout=30)


def _record(stack: Any, call_id: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical("HandoffTable"), Key={"pk": {"S": f"CALL#{call_id}"}}
    )
    return dict(item["Item"])


def _execution_input_bytes(stack: Any, call_id: str) -> int:
    sfn = stack.client("stepfunctions")
    arn = f"{stack.state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{call_id}"
    return len(sfn.describe_execution(executionArn=arn)["input"].encode("utf-8"))


@pytest.mark.parametrize(
    ("script", "kind"),
    [
        ("cyrillic", "natural"),
        ("japanese", "natural"),
        ("emoji", "natural"),
        ("cyrillic", "random"),
        ("japanese", "random"),
        ("emoji", "random"),
    ],
)
def test_a_body_at_the_limit_in_any_script_is_recorded_and_settles(stack: Any, script: str, kind: str) -> None:
    call_id = f"call_big_{script}_{kind}"
    body = call_body(call_id, script, limits.MAX_BODY_BYTES, kind)  # type: ignore[arg-type]
    assert len(body) > 250 * 1024
    answer = _post(stack, body)
    assert answer.status_code == 202, answer.text
    record = _record(stack, call_id)
    assert stored_call_bytes(record) <= limits.CALL_RECORD_MAX_BYTES
    assert _execution_input_bytes(stack, call_id) <= limits.STATE_SUMMARY_MAX_BYTES
    view = wait_settled(stack, [call_id], timeout=60)[call_id]
    assert view.settled, view


def test_the_transcript_survives_the_record_byte_for_byte(stack: Any) -> None:
    from handoff.store import DynamoCallStore

    body = call_body("call_big_roundtrip", "japanese", 200 * 1024)
    assert _post(stack, body).status_code == 202
    store = DynamoCallStore(stack.physical("HandoffTable"), client=stack.client("dynamodb"))
    stored = store.get("call_big_roundtrip")
    assert stored is not None
    assert stored.call["transcript"] == json.loads(body)["payload"]["call"]["transcript"].strip()


# --------------------------------------------------------------------------- no 500 from a body
EVENTS = __import__("pathlib").Path(__file__).resolve().parents[2] / "events"


def _http_event(path: str, body: str, *, base64_encoded: bool) -> dict[str, Any]:
    event = json.loads((EVENTS / "ingest" / "webhook-reschedule-booking.json").read_text(encoding="utf-8"))
    event.update(rawPath=path, routeKey=f"POST {path}", body=body, isBase64Encoded=base64_encoded)
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = f"POST {path}"
    return event


@pytest.mark.parametrize("path", ["/webhooks/dialnexa", "/webhooks/planyo/some-token"])
def test_invalid_base64_is_a_400_naming_it(stack: Any, path: str) -> None:
    function = "IngestFunction" if "dialnexa" in path else "PartnerIngestFunction"
    event = _http_event(path, "not base64 at all!!", base64_encoded=True)
    if "planyo" in path:
        event["pathParameters"] = {"token": "some-token"}
    payload, error = stack.registry.invoke(stack.physical(function), event)
    assert error is None, payload
    assert payload["statusCode"] == 400 and "base64" in payload["body"]


def test_a_deeply_nested_planyo_body_is_a_400() -> None:
    from handoff.partners.planyo_events import InvalidNotification, parse_notification

    with pytest.raises(InvalidNotification, match="nested too deeply"):
        parse_notification(b'{"a":' * 10_000, "application/json")


@pytest.mark.parametrize("body", [b'{"event_type":"call_ended","payload":' + b"[" * 100_000, b"[" * 200_000])
def test_a_deeply_nested_dialnexa_body_is_a_400(stack: Any, body: bytes) -> None:
    answer = _post(stack, body)
    assert answer.status_code == 400 and "nested too deeply" in answer.json()["detail"]
