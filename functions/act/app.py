"""act: one state of the Handoff state machine.

Thin glue: parse the state document, call the library, return the state with
this step's part added (the state machine uses the whole answer as its output).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.models import PipelineState
from handoff.redact import install_log_redaction
from handoff.steps import act_step

logger = Logger()
install_log_redaction(logger)
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = PipelineState.model_validate(event)
    logger.append_keys(call_id=state.call.call_id)
    result = act_step(state, event, lambda_context=context)
    return result
