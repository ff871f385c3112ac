"""publish: the Publish states of the Handoff state machine.

Thin glue: ``{detail_type, state}`` from the state machine -> the typed outcome
event and any lifecycle signal on the bus (``handoff.events``). The state
document itself never goes on the bus.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.events.publish import PublishRequest, publish_step
from handoff.handlers import function_logger, function_tracer

logger, tracer = function_logger(), function_tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = PublishRequest.model_validate(event)
    result = publish_step(request)
    logger.info("published", extra=result)
    return result
