"""partner_ingest: Planyo notification callbacks in, one event on the bus out.

Glue only: ``POST /webhooks/planyo/{token}`` -> raw body, content type and query
string -> ``handoff.partners.callback.handle_planyo`` -> the answer. Planyo signs
nothing, so the unguessable token in the path is the check (constant time); the
work happens behind the bus, so Planyo is answered at once.
"""

from typing import Any

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from handoff.handlers import function_logger, raw_body
from handoff.partners.callback import handle_planyo
from handoff.problem import respond

logger, tracer, metrics, app = function_logger(), Tracer(), Metrics(), APIGatewayHttpResolver()


@app.post("/webhooks/planyo/<token>")
def planyo_webhook(token: str) -> Response[str]:
    event = app.current_event
    headers = event.headers or {}
    answer = handle_planyo(
        token, raw_body(event.raw_event), headers.get("content-type"), event.query_string_parameters or {}
    )
    metrics.add_metric(name=f"PlanyoCallback{answer.status}", unit=MetricUnit.Count, value=1)
    return respond(answer.status, answer.body)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
