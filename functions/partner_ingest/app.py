"""partner_ingest: Planyo notification callbacks in, one event on the bus out.

Glue only: ``POST /webhooks/planyo/{token}`` -> raw body, content type and query
string -> ``handoff.partners.callback.handle_planyo`` -> the answer. Planyo signs
nothing, so the unguessable token in the path is the check (constant time); the
work happens behind the bus, so Planyo is answered at once. One route: no framework.
"""

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from handoff.handlers import function_logger, function_tracer, raw_body
from handoff.partners.callback import handle_planyo
from handoff.problem import http_answer

logger, tracer, metrics = function_logger(), function_tracer(), Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    token = (event.get("pathParameters") or {}).get("token", "")
    query = event.get("queryStringParameters") or {}
    answer = handle_planyo(token, raw_body(event), headers.get("content-type"), query)
    metrics.add_metric(name=f"PlanyoCallback{answer.status}", unit=MetricUnit.Count, value=1)
    return http_answer(answer.status, answer.body)
