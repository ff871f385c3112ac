"""notify: tells the owning team about an outcome event from the bus.

Thin glue: an EventBridge event (detail-type = outcome kind, detail = the
pipeline state) -> ``notify_step`` -> Slack (and optionally e-mail).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.redact import install_log_redaction
from handoff.steps import notify_step

logger = Logger()
install_log_redaction(logger)
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    return notify_step(event.detail_type, dict(event.detail), event_id=event.get_id, lambda_context=context)
