"""Ingest as a use case: verify, parse, record once, start once.

The handler only turns an HTTP event into ``raw body + headers`` and this
service's ``IngestAnswer`` back into an HTTP response; everything that decides
what happens to a delivery is here, behind two small interfaces (the call store
and the execution starter) so it is tested without AWS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from handoff.ingest.envelope import Call as NormalisedCall
from handoff.ingest.envelope import (
    CallEvent,
    MalformedWebhook,
    OversizedWebhook,
    Ping,
    UnknownEvent,
    execution_name,
    parse_webhook,
    starts_execution,
)
from handoff.ingest.limits import MAX_BODY_BYTES
from handoff.ingest.signature import verify
from handoff.problem import problem
from handoff.redact import redact_value
from handoff.store import NEVER_ENDED_AFTER_SECONDS, CallStore, StoredCall

logger = Logger(child=True)

SWEEP_MIN_AGE_SECONDS = 60
SWEEP_RESERVE_SECONDS = 2.0
"""The sweep stops taking new calls when less than this is left of its invocation; the next sweep goes on."""


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did: started calls, calls closed as never ended, calls left for the next sweep."""

    started: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    left: int = 0


@dataclass(frozen=True)
class IngestAnswer:
    """What to tell DialNexa: an HTTP status and a small JSON body."""

    status: int
    body: dict[str, Any]


class ExecutionStarter(Protocol):
    def start(self, name: str, payload: dict[str, Any]) -> str:
        """Start the execution named ``name``; return its ARN. Already started counts as success."""
        ...


@dataclass
class IngestService:
    store: CallStore
    starter: ExecutionStarter
    secrets: Callable[[bool], Sequence[str]]
    analysis_grace_seconds: int = 30
    review_timeout_seconds: int = 86400
    max_body_bytes: int = MAX_BODY_BYTES
    _refetched: bool = field(default=False, repr=False)

    def handle(self, raw: bytes, headers: Mapping[str, str]) -> IngestAnswer:
        if len(raw) > self.max_body_bytes:
            return _refusal(413, "body too large", f"limit is {self.max_body_bytes} bytes, got {len(raw)}")
        check = verify(raw, headers, self.secrets(False))
        if not check.ok and check.reason == "signature mismatch":
            # The secret may have been rotated since we cached it: look once more.
            check = verify(raw, headers, self.secrets(True))
        if not check.ok:
            logger.warning("webhook rejected", extra={"reason": check.reason})
            return _refusal(401, "unauthorized", check.reason)
        try:
            envelope = parse_webhook(raw)
        except OversizedWebhook as exc:
            return _refusal(413, "body too large", str(exc))
        except MalformedWebhook as exc:
            logger.warning("webhook malformed", extra={"reason": str(exc)})
            return _refusal(400, "malformed webhook", str(exc))

        if isinstance(envelope, Ping):
            return IngestAnswer(200, {"status": "verified"})
        if isinstance(envelope, UnknownEvent):
            digest = hashlib.sha256(raw).hexdigest()
            self.store.record_event(envelope.raw_event, digest, envelope.call_id)
            logger.info("unhandled event recorded", extra={"event": envelope.raw_event})
            return IngestAnswer(202, {"status": "recorded", "event": envelope.raw_event})
        assert isinstance(envelope, CallEvent)
        return self._call_event(envelope)

    def _call_event(self, envelope: CallEvent) -> IngestAnswer:
        call = envelope.call
        call_id = call.call_id
        # Payment, bank and tax numbers are never captured: masked before the call is stored,
        # so neither the ledger nor the state machine's history ever holds them.
        result = self.store.record(call_id, redact_value(call.model_dump(mode="json")), envelope.event)
        stored = result.stored
        startable = any(starts_execution(e) for e in stored.events)
        log = {"call_id": call_id, "event": envelope.event, "first_delivery": result.created}
        if stored.started:
            logger.info("duplicate or later event merged", extra=log)
            return IngestAnswer(200, {"status": "duplicate", "call_id": call_id})
        if not startable:
            logger.info("call recorded, waiting for its end event", extra=log)
            return IngestAnswer(202, {"status": "recorded", "call_id": call_id})
        arn = self.start(stored)
        logger.info("execution started", extra={**log, "execution_arn": arn})
        status = "started" if result.created else "started_on_redelivery"
        return IngestAnswer(202, {"status": status, "call_id": call_id})

    def start(self, stored: StoredCall) -> str:
        """Start the execution for a recorded call and mark the record started."""
        call = NormalisedCall.model_validate(stored.call)
        grace = 0 if call.analysis else self.analysis_grace_seconds
        payload = {
            "call": call.to_summary(analysis_grace_seconds=grace).model_dump(mode="json"),
            "resume_at": None,
            "settings": {
                "analysis_grace_seconds": grace,
                "review_timeout_seconds": self.review_timeout_seconds,
            },
        }
        arn = self.starter.start(execution_name(stored.call_id), payload)
        self.store.mark_started(stored.call_id, arn)
        return arn

    def sweep(
        self,
        older_than_seconds: int = SWEEP_MIN_AGE_SECONDS,
        *,
        time_left: Callable[[], float] | None = None,
        never_ended_after_seconds: int = NEVER_ENDED_AFTER_SECONDS,
    ) -> SweepReport:
        """Start every call recorded but never started (ingest died in between); close calls that never ended.

        Pages through the whole pending index, oldest first. ``time_left`` (seconds,
        from the Lambda context) stops it before its invocation times out; what is
        left stays in the index for the next sweep, so nothing is skipped for good.
        """
        report = SweepReport()
        pending = self.store.pending(older_than_seconds)
        give_up_before = _iso_ago(never_ended_after_seconds)
        for index, (call_id, received_at) in enumerate(pending):
            if time_left is not None and time_left() < SWEEP_RESERVE_SECONDS:
                report = SweepReport(report.started, report.closed, len(pending) - index)
                break
            stored = self.store.get(call_id)
            if stored is None or stored.started:
                continue
            if any(starts_execution(e) for e in stored.events):
                self.start(stored)
                report.started.append(call_id)
            elif received_at < give_up_before and self.store.close_never_ended(call_id):
                report.closed.append(call_id)
        if report.started or report.closed or report.left:
            logger.info(
                "sweep done",
                extra={"started": report.started, "never_ended": report.closed, "left_for_next_sweep": report.left},
            )
        return report


def _iso_ago(seconds: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def _refusal(status: int, title: str, detail: str) -> IngestAnswer:
    """A refused delivery, answered with the project's one problem shape (``handoff.problem``)."""
    return IngestAnswer(status, problem(status, title, detail).body())


class StepFunctionsStarter:
    """ExecutionStarter on Step Functions: the execution name is the call id."""

    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        from handoff import aws

        self.arn = state_machine_arn
        self.client = client or aws.client("stepfunctions")

    def start(self, name: str, payload: dict[str, Any]) -> str:
        try:
            response = self.client.start_execution(
                stateMachineArn=self.arn, name=name, input=json.dumps(payload, ensure_ascii=False, default=str)
            )
            return str(response["executionArn"])
        except self.client.exceptions.ExecutionAlreadyExists:
            return self.execution_arn(name)

    def execution_arn(self, name: str) -> str:
        prefix = self.arn.replace(":stateMachine:", ":execution:", 1)
        return f"{prefix}:{name}"
