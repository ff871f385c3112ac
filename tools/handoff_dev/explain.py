"""``handoff route explain``: why a call would be routed the way it is.

For one webhook body: the normalised call, the caller's identity, the
candidates with their evidence, the lookups, the decision and every rule that
fired. The CLI (the lead's) chooses the sources (sandboxes, or the real tools
when credentials are configured) and prints the dict; with ``--json`` it is one
object whose top-level ``mode`` is ``act``, ``review`` or ``none``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handoff.ingest.envelope import CallEvent, Ping, UnknownEvent, parse_webhook
from handoff.match.identity import build_identity
from handoff.match.sources import DEFAULT_BUDGET_SECONDS, RecordSource, match_call
from handoff.models import CallSummary, MatchResult
from handoff.route.decide import DECISION_RULES, evaluate
from handoff.route.policy import Policy
from handoff_dev.policy_files import shipped_policy


def explain_call(
    call: CallSummary,
    transcript: str | None,
    sources: Sequence[RecordSource],
    *,
    policy: Policy | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    default_region: str = "US",
) -> dict[str, Any]:
    """Match and route one call; everything a person needs to see why, as plain JSON-able data."""
    policy = policy or shipped_policy()
    identity = build_identity(call, transcript, default_region=default_region)
    match = match_call(identity, sources, budget_seconds)
    return _report(call, match, policy)


def _report(call: CallSummary, match: MatchResult, policy: Policy) -> dict[str, Any]:
    evaluation = evaluate(call, match, policy)
    decision = evaluation.decision
    return {
        "mode": decision.mode.value,
        "intent": decision.intent,
        "call": call.model_dump(mode="json"),
        "identity": match.identity,
        "match": {
            "status": match.status.value,
            "confidence": match.confidence,
            "notes": match.notes,
            "lookups": [report.model_dump(mode="json") for report in match.lookups],
        },
        "candidates": [candidate.model_dump(mode="json") for candidate in match.candidates],
        "decision": decision.model_dump(mode="json"),
        "reasons": decision.reasons,
        "rules_fired": decision.rules_fired,
        "decision_rules": [
            {"rule": rule.name, "meaning": rule.meaning, "fired": rule.name == evaluation.decided_by}
            for rule in DECISION_RULES[: len(evaluation.checked)]
        ],
        "decided_by": evaluation.decided_by,
        "policy_version": decision.policy_version,
    }


def explain(
    body: bytes,
    sources: Sequence[RecordSource],
    *,
    policy: Policy | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
) -> dict[str, Any]:
    """Explain a raw webhook body (as DialNexa posts it; the signature is not checked here).

    A verification ping or an event Handoff does not handle is explained as a
    call with nothing to do, so every sample in ``events/`` gets an answer.
    Raises ``handoff.ingest.envelope.InvalidWebhook`` for a body ingest would refuse.
    """
    envelope = parse_webhook(body)
    if isinstance(envelope, CallEvent):
        summary = envelope.call.to_summary(event=envelope.event.value)
        return explain_call(summary, envelope.call.transcript, sources, policy=policy, budget_seconds=budget_seconds)
    policy = policy or shipped_policy()
    if isinstance(envelope, Ping):
        summary = CallSummary(call_id="verification", event="ping", summary=envelope.message)
    else:
        assert isinstance(envelope, UnknownEvent)
        summary = CallSummary(call_id=envelope.call_id or "unknown", event=envelope.raw_event)
    report = _report(summary, MatchResult(), policy)
    report["envelope"] = envelope.kind
    return report


def explain_recorded(document: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """Explain a call Handoff already routed: its recorded call and match, decided again under ``policy``.

    ``document`` is the execution's state document (``handoff executions show``); the report
    adds what was decided then (``recorded``) beside what ``policy`` decides now.
    """
    call = CallSummary.model_validate(document["call"])
    match = MatchResult.model_validate(document.get("match") or {})
    report = _report(call, match, policy)
    recorded = document.get("decision") or {}
    report["recorded"] = {"mode": recorded.get("mode"), "policy_version": recorded.get("policy_version")}
    return report
