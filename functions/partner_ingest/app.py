"""partner_ingest: Planyo notification callbacks in, one event on the bus out.

Thin glue: API Gateway (HTTP API v2) ``POST /webhooks/planyo/{token}`` ->
raw body, content type and query string -> ``accept_callback`` -> answer.
Planyo signs nothing, so the unguessable token in the path is the check
(constant-time, against ``planyo.callback_token`` in the partner secret); the
work happens behind the bus, so Planyo is answered at once.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.partners.bus import EventBridgePublisher
from handoff.partners.callback import accept_callback
from handoff.partners.planyo_events import configured_callback_token
from handoff.problem import problem, respond
from handoff.redact import install_log_redaction, register_secret

logger = Logger()
install_log_redaction(logger)
tracer = Tracer()
metrics = Metrics()
app = APIGatewayHttpResolver()

_publisher: EventBridgePublisher | None = None


def publisher() -> EventBridgePublisher:
    global _publisher
    if _publisher is None:
        _publisher = EventBridgePublisher()
    return _publisher


def expected_token() -> str | None:
    token = configured_callback_token()
    if token:
        register_secret(token)  # masked if it ever reaches a log line
    return token


@app.post("/webhooks/planyo/<token>")
def planyo_webhook(token: str) -> Response[str]:
    event = app.current_event
    body = event.body or ""
    try:
        raw = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")
    except (binascii.Error, ValueError):
        return respond(400, problem(400, "malformed callback", "body is not valid base64"))
    answer = accept_callback(
        token,
        raw,
        event.headers.get("content-type") if event.headers else None,
        event.query_string_parameters or {},
        expected_token=expected_token(),
        publisher=publisher(),
        bus_name=publisher().bus_name,
    )
    if answer.status >= 400:
        logger.warning("planyo callback refused", extra={"status": answer.status, "reason": answer.body.get("detail")})
    else:
        logger.info("planyo callback", extra={"status": answer.status, **answer.body})
    metrics.add_metric(name=f"PlanyoCallback{answer.status}", unit=MetricUnit.Count, value=1)
    return respond(answer.status, answer.body)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
