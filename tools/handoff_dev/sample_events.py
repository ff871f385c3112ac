"""Regenerate ``events/<function>/`` from a real run (``python -m handoff_dev.sample_events``).

The inputs each function receives are captured on the embedded stack while the
reschedule sample travels the pipeline, so the sample events for
``sam local invoke`` always match the contracts the state machine really sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from handoff_dev.demo import wait_settled
from handoff_dev.embedded.stack import PROJECT_ROOT, EmbeddedStack, StackOptions
from handoff_dev.webhooks import post_signed

SAMPLE = PROJECT_ROOT / "events" / "dialnexa" / "variant-a_call-ended_completed_inbound_reschedule-booking.json"
FUNCTION_DIRS = {
    "IngestFunction": "ingest",
    "MatchFunction": "match",
    "RouteFunction": "route",
    "ActFunction": "act",
    "NotifyFunction": "notify",
    "PublishFunction": "publish",
    "PartnerIngestFunction": "partner_ingest",
    "CustomerSyncFunction": "customer_sync",
    "ReviewFunction": "review",
}


def capture() -> dict[str, Any]:
    options = StackOptions(port=0, aws_port=0, schedules=False, parameter_overrides={"AnalysisGraceSeconds": "0"})
    with EmbeddedStack(options) as stack:
        post_signed(f"{stack.api_url}/webhooks/dialnexa", SAMPLE.read_bytes(), stack.options.webhook_secret)
        webhook_event = stack.registry.last_events["IngestFunction"]
        wait_settled(stack, ["call_7Hq2mXk9RtB4"], timeout=60)
        notify_event = stack.registry.last_events["NotifyFunction"]
        _planyo_callback(stack)
        events = dict(stack.registry.last_events)
        events["IngestFunction"] = webhook_event
        events["NotifyFunction"] = notify_event
        events["ReviewFunction"] = _review_decision_event()
        return events


def _planyo_callback(stack: EmbeddedStack) -> None:
    import requests

    from handoff_dev.embedded.stack import DEV_PLANYO_CALLBACK_TOKEN

    form = {"notification_type": "user_updated", "user": "700142", "is_new_user": "0"}
    requests.post(f"{stack.api_url}/webhooks/planyo/{DEV_PLANYO_CALLBACK_TOKEN}", data=form, timeout=10)
    stack.delivery.wait_idle(timeout=60)


def _review_decision_event() -> dict[str, Any]:
    """POST /reviews/{call_id}/decision as API Gateway sends it after IAM (SigV4) authorisation."""
    from handoff_dev.embedded.http_api import Route, build_event, iam_principal

    route = Route("POST", "/reviews/{call_id}/decision", "review", iam_auth=True)
    path = "/reviews/call_2Vd8Nw4pYs6K/decision"
    body = json.dumps(
        {
            "decision": "reject",
            "reviewer": "ana@northwind.example",
            "reason": "duplicate charge already refunded by the bank",
        }
    ).encode()
    headers = {
        "content-type": "application/json",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEREVIEWER/20250612/us-east-1/execute-api/aws4_request",
    }
    event = build_event("POST", path, "", headers, body, "203.0.113.10", route, {"call_id": "call_2Vd8Nw4pYs6K"})
    event["requestContext"]["authorizer"] = {"iam": iam_principal(headers)}
    return event


def write(events: dict[str, Any], root: Path = PROJECT_ROOT / "events") -> list[Path]:
    written: list[Path] = []
    names = {
        "IngestFunction": "webhook-reschedule-booking.json",
        "MatchFunction": "state-reschedule-booking.json",
        "RouteFunction": "state-reschedule-booking.json",
        "ActFunction": "state-reschedule-booking.json",
        "NotifyFunction": "outcome-handed-off.json",
        "PublishFunction": "publish-handed-off.json",
        "PartnerIngestFunction": "planyo-user-updated.json",
        "CustomerSyncFunction": "planyo-customer-changed.json",
        "ReviewFunction": "decision-reject.json",
    }
    for logical_id, folder in FUNCTION_DIRS.items():
        if logical_id not in events:
            continue
        path = root / folder / names[logical_id]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(events[logical_id], indent=2, default=str) + "\n", encoding="utf-8")
        written.append(path)
    sweep = root / "ingest" / "scheduled-sweep.json"
    sweep.write_text(
        json.dumps(
            {
                "version": "0",
                "id": "5f0c2c1e-0000-4000-8000-000000000000",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": "2025-06-12T10:05:00Z",
                "region": "us-east-1",
                "resources": ["arn:aws:events:us-east-1:123456789012:rule/handoff-StartSweep"],
                "detail": {},
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    written.append(sweep)
    return written


if __name__ == "__main__":
    for written_path in write(capture()):
        print(written_path.relative_to(PROJECT_ROOT))
