"""ingest: DialNexa webhook in, one recorded call and one started execution out.

Glue only: the raw body and headers -> ``handoff.ingest.wiring.answer_webhook``
-> the HTTP answer (``handoff.problem`` shape on refusals). The scheduled sweep
lands here too, because starting recorded calls is ingest's concern. No Tracer on
purpose: the X-Ray SDK import costs ~250 ms of a cold start (Tracing: Active still records).
"""

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from handoff.handlers import function_logger, raw_body
from handoff.ingest.wiring import answer_webhook, is_schedule, sweep
from handoff.problem import respond

logger, metrics, app = function_logger(), Metrics(), APIGatewayHttpResolver()


@app.post("/webhooks/dialnexa")
def dialnexa_webhook() -> Response[str]:
    answer = answer_webhook(raw_body(app.current_event.raw_event), app.current_event.headers or {})
    metrics.add_metric(name=f"Webhook{answer.status}", unit=MetricUnit.Count, value=1)
    return respond(answer.status, answer.body)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not is_schedule(event):
        return app.resolve(event, context)
    answer, counts = sweep(context)
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return answer
