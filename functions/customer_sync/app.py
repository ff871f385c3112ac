"""customer_sync: Planyo partner events from the bus -> Billit customer sync or a routed outcome.

Thin glue: an EventBridge event (source ``handoff.partner``; detail-type
``planyo.customer_changed``, ``planyo.reservation_status_changed`` or
``planyo.timed_notification``) -> ``PartnerConsumer`` -> Billit write once per
change, or one ``partner.routed`` event for notify. A failure raises, so the
delivery is retried and, in the end, dead-lettered.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.act.perform import ConnectorPool
from handoff.partners.bus import EventBridgePublisher
from handoff.partners.dispatch import PartnerConsumer
from handoff.redact import install_log_redaction

logger = Logger()
install_log_redaction(logger)
tracer = Tracer()

_consumer: PartnerConsumer | None = None


def consumer() -> PartnerConsumer:
    global _consumer
    if _consumer is None:
        _consumer = PartnerConsumer(
            connector_for=ConnectorPool(),
            table_name=os.environ.get("HANDOFF_TABLE", ""),
            publisher=EventBridgePublisher(),
        )
    return _consumer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(event_id=event.get_id, detail_type=event.detail_type)
    return consumer().handle(event.detail_type, dict(event.detail), lambda_context=context)
