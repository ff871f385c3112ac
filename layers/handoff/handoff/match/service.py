"""The Match step: find the caller's records, from the call record as it is now.

Match never trusts the summary frozen into the execution input: after the
analysis wait it reads the *current* call record (``begin_match``, which also
marks the read), so an analysis, caller details or transcript merged since the
start are used, and the envelope cites the analysis it used (``analysis_used``).
An analysis merged after this read is noted on the record as ``late_analysis``
by the store; it never starts a second execution.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from handoff.config import settings
from handoff.match.adapters import BillitSource, BookingmoodSource, PlanyoSource, PlisioSource
from handoff.match.identity import build_identity
from handoff.match.sources import RecordSource, match_call
from handoff.models import AnalysisRef, CallEnvelope, CallSummary, Tool, analysis_digest
from handoff.runtime import ConnectorLookup, call_store, connector_pool

if TYPE_CHECKING:
    from handoff.store import StoredCall

logger = Logger(child=True)

MATCH_BUDGET_SECONDS = 8.0
SOURCE_TYPES: dict[Tool, Callable[[Any], RecordSource]] = {
    Tool.PLANYO: PlanyoSource,
    Tool.BOOKINGMOOD: BookingmoodSource,
    Tool.PLISIO: PlisioSource,
    Tool.BILLIT: BillitSource,
}


class CallReader:
    """What Match needs of the call store: read the record now and mark that it was read."""

    def begin_match(self, call_id: str) -> StoredCall | None:
        return call_store().begin_match(call_id)


def record_sources(connector_for: ConnectorLookup) -> list[RecordSource]:
    """A record source for every configured tool that holds callers' records."""
    sources: list[RecordSource] = []
    for tool, source_type in SOURCE_TYPES.items():
        connector = connector_for(tool)
        if connector is not None:
            sources.append(source_type(connector))
    return sources


def current_call(envelope: CallEnvelope, stored: StoredCall | None) -> tuple[CallSummary, str | None, AnalysisRef]:
    """The call summary and transcript from the record as read now, and the analysis they carry.

    The start event stays the envelope's (a later ``call.analysis_ready`` does
    not make the call a different kind of event); everything else is current.
    """
    now = datetime.now(UTC)
    if stored is None:  # a record expired or deleted under a redrive: the start-time snapshot is all there is
        call = envelope.call
        used = AnalysisRef(present=bool(call.analysis), digest=analysis_digest(call.analysis), read_at=now)
        return call, None, used
    from handoff.ingest.envelope import Call

    record = Call.model_validate(stored.call)
    call = record.to_summary(envelope.call.analysis_grace_seconds, event=envelope.call.event)
    used = AnalysisRef(
        present=bool(record.analysis),
        record_version=stored.version,
        digest=analysis_digest(record.analysis),
        events=list(stored.events),
        read_at=now,
    )
    return call, record.transcript or None, used


def run(
    envelope: CallEnvelope,
    context: Any = None,
    *,
    reader: CallReader | None = None,
    sources: list[RecordSource] | None = None,
) -> CallEnvelope:
    """Match the caller against every configured tool; the envelope gains ``match`` and ``analysis_used``."""
    stored = (reader or CallReader()).begin_match(envelope.call.call_id)
    call, transcript, used = current_call(envelope, stored)
    identity = build_identity(call, transcript, default_region=settings().default_phone_region)
    result = match_call(
        identity, record_sources(connector_pool()) if sources is None else sources, MATCH_BUDGET_SECONDS
    )
    logger.info(
        "matched",
        extra={
            "call_id": call.call_id,
            "status": result.status,
            "confidence": result.confidence,
            "candidates": len(result.candidates),
            "analysis": used.cite(),
        },
    )
    return envelope.model_copy(update={"call": call, "match": result, "analysis_used": used})
