"""The Route step: apply the routing policy to the call and its match."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from handoff.models import CallEnvelope, MatchResult
from handoff.route.decide import decide

logger = Logger(child=True)


def run(envelope: CallEnvelope, context: Any = None) -> CallEnvelope:
    """Decide act, review or nothing to do; the decision and its handoff cite the analysis Match used."""
    decision = decide(envelope.call, envelope.match or MatchResult(), analysis_used=envelope.analysis_used)
    logger.info(
        "routed",
        extra={"call_id": envelope.call.call_id, "mode": decision.mode, "rules": decision.rules_fired},
    )
    return envelope.model_copy(update={"decision": decision})
