"""ingest: DialNexa webhook in, one recorded call and one started execution out.

Thin glue: API Gateway (HTTP API v2) event -> raw bytes and headers ->
``IngestService`` -> HTTP answer. The scheduled sweep (EventBridge schedule)
lands here too, because starting recorded calls is ingest's concern.

No Powertools Tracer here, on purpose: ingest must answer DialNexa fast, and the
X-Ray SDK's import and patching cost about 250 ms of every cold start. The
function keeps ``Tracing: Active``, so X-Ray still records each invocation.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.config import settings
from handoff.ingest.service import IngestService, StepFunctionsStarter
from handoff.problem import problem, respond
from handoff.redact import install_log_redaction, register_secret
from handoff.store import DynamoCallStore

logger = Logger()
install_log_redaction(logger)
metrics = Metrics()
app = APIGatewayHttpResolver()

SECRET_CACHE_SECONDS = 60
FORCED_REFETCH_INTERVAL = 30.0
_last_forced = 0.0


def webhook_secrets(force: bool) -> list[str]:
    """Current and previous signing secrets; a forced refetch at most every 30 s."""
    global _last_forced
    now = time.monotonic()
    if force and now - _last_forced < FORCED_REFETCH_INTERVAL:
        force = False
    if force:
        _last_forced = now
    value = parameters.get_secret(
        settings().webhook_secret_id, transform="json", max_age=SECRET_CACHE_SECONDS, force_fetch=force
    )
    secrets = [str(value.get(k) or "") for k in ("current", "previous")] if isinstance(value, dict) else []
    for secret in secrets:
        register_secret(secret)
    return secrets


_service: IngestService | None = None


def service() -> IngestService:
    global _service
    if _service is None:
        cfg = settings()
        _service = IngestService(
            store=DynamoCallStore(cfg.table_name, cfg.call_retention_days),
            starter=StepFunctionsStarter(cfg.state_machine_arn),
            secrets=webhook_secrets,
            analysis_grace_seconds=cfg.analysis_grace_seconds,
            review_timeout_seconds=cfg.review_timeout_seconds,
        )
    return _service


@app.post("/webhooks/dialnexa")
def dialnexa_webhook() -> Response[str]:
    event = app.current_event
    body = event.body or ""
    try:
        raw = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")
    except (binascii.Error, ValueError):
        metrics.add_metric(name="Webhook400", unit=MetricUnit.Count, value=1)
        return respond(400, problem(400, "malformed webhook", "body is not valid base64"))
    answer = service().handle(raw, event.headers or {})
    metrics.add_metric(name=f"Webhook{answer.status}", unit=MetricUnit.Count, value=1)
    return respond(answer.status, answer.body)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event":
        report = service().sweep(time_left=lambda: context.get_remaining_time_in_millis() / 1000)
        metrics.add_metric(name="SweepStarted", unit=MetricUnit.Count, value=len(report.started))
        metrics.add_metric(name="SweepNeverEnded", unit=MetricUnit.Count, value=len(report.closed))
        metrics.add_metric(name="SweepLeft", unit=MetricUnit.Count, value=report.left)
        return {"started": report.started, "never_ended": report.closed, "left": report.left}
    return app.resolve(event, context)
