"""The library side of each state: what match, route, act and notify do.

Each step takes the parsed state (and the raw document, so keys added by the
state machine such as ``settings`` pass through untouched) and returns the
document with its own part added.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from handoff.models import (
    ActionResult,
    ActionStatus,
    ActResult,
    HandoffDocument,
    MatchResult,
    Mode,
    Owner,
    PipelineState,
    RouteDecision,
    Urgency,
)

logger = Logger(child=True)

NOT_CONNECTED = {"hangup"}


def _with(document: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**document, key: value.model_dump(mode="json") if hasattr(value, "model_dump") else value}


def match_step(state: PipelineState, document: dict[str, Any]) -> dict[str, Any]:
    """No connectors configured yet: no candidates, so route sends the call to review."""
    return _with(document, "match", MatchResult())


def route_step(state: PipelineState, document: dict[str, Any]) -> dict[str, Any]:
    call = state.call
    owner = Owner(team="support", slack_channel="#support")
    if call.status in NOT_CONNECTED:
        mode, reasons = Mode.NONE, [f"call status {call.status!r}: the caller was never reached"]
    else:
        mode, reasons = Mode.REVIEW, ["no matched record: a human decides"]
    decision = RouteDecision(
        mode=mode,
        intent=str(call.analysis.get("intent") or "unknown"),
        owner=owner,
        urgency=Urgency.NORMAL,
        reasons=reasons,
        handoff=HandoffDocument(title=f"Call {call.call_id}", reason="; ".join(reasons), owner=owner.team),
    )
    return _with(document, "decision", decision)


def act_step(state: PipelineState, document: dict[str, Any]) -> dict[str, Any]:
    results: list[ActionResult] = []
    assert state.decision is not None
    for action in state.decision.actions:
        results.append(
            ActionResult(
                action_key=action.key,
                tool=action.tool,
                operation=action.operation,
                status=ActionStatus.SKIPPED,
                detail="no connector for this tool yet",
            )
        )
    return _with(document, "act", ActResult(results=results))


def notify_step(outcome: str, detail: dict[str, Any], event_id: str = "") -> dict[str, Any]:
    state = PipelineState.model_validate(detail)
    logger.info("outcome", extra={"call_id": state.call.call_id, "outcome": outcome})
    return {"call_id": state.call.call_id, "outcome": outcome, "notified": []}
