"""The Act step: perform the decision's actions once each and record them on the call."""

from __future__ import annotations

from typing import Any

from handoff.act.note import render_note
from handoff.act.perform import Ledger, apply_review, perform_all
from handoff.models import ActResult, CallEnvelope
from handoff.runtime import ConnectorLookup, call_store, connector_pool


def run(envelope: CallEnvelope, context: Any = None, *, connector_for: ConnectorLookup | None = None) -> CallEnvelope:
    """Perform what Route decided (as the reviewer amended it); the envelope gains ``act``."""
    if envelope.decision is None:
        raise ValueError("act needs a route decision: the envelope has none")
    call_id = envelope.call.call_id
    actions, dropped = apply_review(envelope.decision.actions, envelope.review)
    note = render_note(call_id, envelope.decision.handoff)
    if envelope.review and envelope.review.note:
        note += f"\nReviewer {envelope.review.reviewer}: {envelope.review.note}"
    store = call_store()
    ledger = Ledger(store.table_name, lambda_context=context)
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
    return envelope.model_copy(update={"act": ActResult(results=results)})
