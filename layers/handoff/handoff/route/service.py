"""The Route step: apply the routing policy to the call and its match."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from handoff.models import CallEnvelope, MatchResult
from handoff.policy_source import PolicyUnavailable, record_unavailable, review_without_policy, routing_policy
from handoff.route.decide import decide

logger = Logger(child=True)


def run(envelope: CallEnvelope, context: Any = None) -> CallEnvelope:
    """Decide act, review or nothing to do; the decision and its handoff cite the analysis Match used.

    The policy is the live one (AppConfig); when it cannot be read a human decides (never act, never
    dead-letter because of the policy).
    """
    try:
        policy = routing_policy()
    except PolicyUnavailable as exc:
        record_unavailable(exc)
        decision = review_without_policy(envelope.call.call_id, envelope.call.summary, exc)
    else:
        decision = decide(
            envelope.call, envelope.match or MatchResult(), policy, analysis_used=envelope.analysis_used
        )
    logger.info(
        "routed",
        extra={
            "call_id": envelope.call.call_id,
            "mode": decision.mode,
            "rules": decision.rules_fired,
            "policy_version": decision.policy_version,
        },
    )
    return envelope.model_copy(update={"decision": decision})
