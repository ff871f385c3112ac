"""The library side of each state: what match, route, act and notify do.

Each step takes the parsed state (and the raw document, so keys added by the
state machine such as ``settings`` pass through untouched) and returns the
document with its own part added. I/O comes in through small seams (the call
store, the connector lookup) so the steps are tested with fakes as well as on
the embedded stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from handoff.act.note import render_note
from handoff.act.perform import ConnectorPool, Ledger, apply_review, perform_all
from handoff.config import settings
from handoff.match.adapters import BillitSource, BookingmoodSource, PlanyoSource, PlisioSource
from handoff.match.identity import build_identity
from handoff.match.sources import RecordSource, match_call
from handoff.models import ActResult, MatchResult, PipelineState, Tool
from handoff.route.decide import decide
from handoff.store import DynamoCallStore

logger = Logger(child=True)

MATCH_BUDGET_SECONDS = 8.0
SOURCE_TYPES: dict[Tool, Callable[[Any], RecordSource]] = {
    Tool.PLANYO: PlanyoSource,
    Tool.BOOKINGMOOD: BookingmoodSource,
    Tool.PLISIO: PlisioSource,
    Tool.BILLIT: BillitSource,
}

_pool: ConnectorPool | None = None


def connector_pool() -> ConnectorPool:
    global _pool
    if _pool is None:
        _pool = ConnectorPool()
    return _pool


def _with(document: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**document, key: value.model_dump(mode="json") if hasattr(value, "model_dump") else value}


def _store() -> DynamoCallStore:
    cfg = settings()
    return DynamoCallStore(cfg.table_name, cfg.call_retention_days)


def record_sources(connector_for: Callable[[Tool], Any]) -> list[RecordSource]:
    """A record source for every configured tool that holds callers' records."""
    sources: list[RecordSource] = []
    for tool, source_type in SOURCE_TYPES.items():
        connector = connector_for(tool)
        if connector is not None:
            sources.append(source_type(connector))
    return sources


def match_step(
    state: PipelineState,
    document: dict[str, Any],
    *,
    transcript: str | None = None,
    sources: list[RecordSource] | None = None,
) -> dict[str, Any]:
    """Find the caller's records; the transcript comes from the call record, never the state."""
    call = state.call
    if transcript is None and call.has_transcript:
        stored = _store().get(call.call_id)
        transcript = (stored.call.get("transcript") if stored else None) or None
    identity = build_identity(call, transcript, default_region=settings().default_phone_region)
    if sources is None:
        sources = record_sources(connector_pool())
    result: MatchResult = match_call(identity, sources, MATCH_BUDGET_SECONDS)
    logger.info(
        "matched",
        extra={
            "call_id": call.call_id,
            "status": result.status,
            "confidence": result.confidence,
            "candidates": len(result.candidates),
        },
    )
    return _with(document, "match", result)


def route_step(state: PipelineState, document: dict[str, Any]) -> dict[str, Any]:
    decision = decide(state.call, state.match or MatchResult())
    logger.info("routed", extra={"call_id": state.call.call_id, "mode": decision.mode, "rules": decision.rules_fired})
    return _with(document, "decision", decision)


def act_step(
    state: PipelineState,
    document: dict[str, Any],
    *,
    lambda_context: Any = None,
    connector_for: Callable[[Tool], Any] | None = None,
) -> dict[str, Any]:
    """Perform the decision's actions once each and record them on the call."""
    assert state.decision is not None, "act needs a route decision"
    call_id = state.call.call_id
    actions, dropped = apply_review(state.decision.actions, state.review)
    note = render_note(call_id, state.decision.handoff)
    if state.review and state.review.note:
        note += f"\nReviewer {state.review.reviewer}: {state.review.note}"
    store = _store()
    ledger = Ledger(store.table_name, lambda_context=lambda_context)
    try:
        results = perform_all(call_id, actions, note, connector_for or connector_pool(), ledger, dropped)
    except Exception:
        store.update_fields(call_id, {"outcome": "acting_failed"})
        raise
    store.update_fields(
        call_id,
        {
            "outcome": "acted",
            "actions": {r.action_key: r.model_dump(mode="json", exclude_none=True) for r in results},
        },
    )
    return _with(document, "act", ActResult(results=results))


def notify_step(
    outcome: str, detail: dict[str, Any], event_id: str = "", *, lambda_context: Any = None
) -> dict[str, Any]:
    """Tell the owner about one outcome event, once."""
    from handoff.notify.deliver import deliver

    delivery = deliver(
        outcome, detail, connector_for=connector_pool(), table_name=settings().table_name, lambda_context=lambda_context
    )
    return {
        "call_id": delivery.call_id,
        "outcome": delivery.outcome,
        "posted": delivery.posted,
        "channel": delivery.channel,
        "reason": delivery.reason,
        "event_id": event_id,
    }
