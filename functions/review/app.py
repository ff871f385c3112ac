"""review: decide a waiting review (IAM route, Slack buttons) and finish decisions a crash left unsent.

Thin glue: the routes, the authentication and the exactly-once decision live in
``handoff.review.api`` and ``handoff.review.service``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.handlers import function_logger, function_tracer
from handoff.review.api import handle

logger, tracer = function_logger(), function_tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context)
