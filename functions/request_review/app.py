"""request_review: the RequestReview state's callback task (``lambda:invoke.waitForTaskToken``).

Keeps the review (task token, proposed actions, candidates, owner, deadline) on
the call record, then publishes ``call.review_requested`` (recorded first, so a
reviewer who answers the notification at once finds the review) and returns;
the execution keeps waiting on the token until a person decides through
functions/review.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.config import settings
from handoff.events.publish import publish_or_retry
from handoff.handlers import function_logger, function_tracer
from handoff.review.service import record_request
from handoff.review.store import ReviewStore

logger, tracer = function_logger(), function_tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    review = record_request(ReviewStore(settings().table_name), event, settings().review_timeout_seconds)
    logger.info("review recorded", extra={"call_id": review.call_id, "deadline": review.deadline.isoformat()})
    publish_or_retry("call.review_requested", event["state"])
    return {"call_id": review.call_id, "status": review.status}
