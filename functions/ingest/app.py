"""ingest: DialNexa webhook in, one recorded call and one started execution out.

Glue only: the raw body and headers -> ``handoff.ingest.wiring.answer_webhook``
-> the HTTP answer (``handoff.problem`` shape on refusals). The scheduled sweep
lands here too, because starting recorded calls is ingest's concern. The one route
needs no event-handler framework, and no Tracer: both cost DialNexa's wait on a cold start.
"""

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from handoff.handlers import function_logger, raw_body
from handoff.ingest.wiring import answer_webhook, is_schedule, sweep
from handoff.problem import http_answer

logger, metrics = function_logger(), Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if is_schedule(event):
        answer, counts = sweep(context)
        for name, value in counts.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return answer
    webhook = answer_webhook(raw_body(event), event.get("headers") or {})  # POST /webhooks/dialnexa, the only route
    metrics.add_metric(name=f"Webhook{webhook.status}", unit=MetricUnit.Count, value=1)
    return http_answer(webhook.status, webhook.body)
