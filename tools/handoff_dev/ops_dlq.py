"""Dead letters: read them without consuming, redrive a call so only its failed step runs again.

The state machine's DeadLetter state leaves ``{call_id, execution_arn,
failed_state, error, failed_at, state}`` on the dead-letter queue. A redrive
starts a fresh execution named ``<call>-redrive-<n>`` whose input is that state
with ``resume_at`` set to the failed state, so the ``Resume`` choice jumps
straight there; act's idempotency records make a repeated action a no-op.

Step Functions' own RedriveExecution is used only where it helps: it restarts
at the state that failed the execution, and a dead-lettered call failed at the
``CallFailed`` Fail state (its real failure was caught), so native redrive would
fail again at once. It applies when an execution stopped outside the catch path
and AWS reports it REDRIVABLE (moto has no RedriveExecution).

The dead letter is deleted only after the new execution started, and a call
with an execution still running is refused, so two operators cannot redrive it twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handoff.executions import call_execution_arns, execution_arn, redrive_execution_name
from handoff.ingest.envelope import execution_name
from handoff.models import StateName
from handoff_dev.queue_scan import QueueScan

CAUGHT_FAILURE_ERROR = "Handoff.CallFailed"
RESUMABLE_STATES: tuple[str, ...] = tuple(StateName)
"""The states a redrive may resume at: the envelope's ``StateName`` (the ASL's Resume choice, held by a test)."""
REDRIVE_DROPS = ("error", "failed_state", "resume_at", "rejection")
"""Envelope fields of the failed run that a redrive clears (a test checks they are ``CallEnvelope`` fields)."""


class DeadLetter(BaseModel):
    """One message of the dead-letter queue."""

    model_config = ConfigDict(extra="ignore")

    call_id: str = Field(min_length=1)
    execution_arn: str = ""
    failed_state: str
    error: dict[str, Any] = Field(default_factory=dict)
    failed_at: datetime | None = None
    state: dict[str, Any]
    message_id: str = ""
    receipt_handle: str = Field(default="", repr=False)

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> DeadLetter:
        try:
            body = json.loads(message.get("Body") or "")
            return cls.model_validate(
                {**body, "message_id": message.get("MessageId", ""), "receipt_handle": message.get("ReceiptHandle", "")}
            )
        except (json.JSONDecodeError, TypeError, ValidationError) as exc:
            raise ValueError(f"dead letter {message.get('MessageId')} is unreadable: {exc}") from None

    @property
    def error_name(self) -> str:
        return str(self.error.get("Error") or "")

    @property
    def cause(self) -> str:
        """The error's cause; Lambda errors carry a JSON cause whose message is what people read."""
        raw = str(self.error.get("Cause") or "")
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            return raw
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            return str(parsed["errorMessage"])
        return raw

    def summary(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "failed_state": self.failed_state,
            "error": self.error_name,
            "cause": self.cause,
            "failed_at": self.failed_at.isoformat() if self.failed_at else None,
            "execution_arn": self.execution_arn,
        }


def redrive_input(dead: DeadLetter) -> dict[str, Any]:
    """The fresh execution's input: the state when it failed, resuming at the failed state."""
    if dead.failed_state not in RESUMABLE_STATES:
        raise ValueError(f"cannot resume at {dead.failed_state!r}; the state machine resumes at {RESUMABLE_STATES}")
    document = {k: v for k, v in dead.state.items() if k not in REDRIVE_DROPS}
    return {**document, "resume_at": dead.failed_state}


# --------------------------------------------------------------------------- the queue
@dataclass
class DeadLetterQueue(QueueScan):
    """The dead-letter queue, read without consuming (visibility is released after a scan)."""

    hold_seconds: int = 60

    def _parse(self, messages: list[dict[str, Any]]) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        for message in messages:
            try:
                letters.append(DeadLetter.from_message(message))
            except ValueError as exc:
                self.unreadable.append(str(exc))
        return letters

    def peek(self) -> list[DeadLetter]:
        """Every dead letter, oldest first; nothing is consumed."""
        messages = self._receive_all()
        self.release([m["ReceiptHandle"] for m in messages])
        return sorted(self._parse(messages), key=lambda d: d.failed_at or datetime.min)

    def hold(self, call_id: str | None = None) -> list[DeadLetter]:
        """Hold the dead letters of one call (or all), newest first; release every other message."""
        messages = self._receive_all()
        letters = self._parse(messages)
        mine = [d for d in letters if call_id is None or d.call_id == call_id]
        held = {d.message_id for d in mine}
        self.release([m["ReceiptHandle"] for m in messages if m["MessageId"] not in held])
        return sorted(mine, key=lambda d: d.failed_at or datetime.min, reverse=True)

    def delete(self, dead: DeadLetter) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=dead.receipt_handle)


# --------------------------------------------------------------------------- deciding how to redrive
@dataclass(frozen=True)
class ExecutionFact:
    """What matters about one existing execution of the call."""

    arn: str
    status: str
    redrive_status: str = ""
    error: str = ""


@dataclass(frozen=True)
class RedrivePlan:
    how: Literal["native", "fresh", "refuse"]
    execution_arn: str = ""
    reason: str = ""


def plan_redrive(dead: DeadLetter, machine_arn: str, executions: list[ExecutionFact]) -> RedrivePlan:
    """Pure: native redrive, a fresh execution (and its name), or a refusal that says why."""
    running = [e for e in executions if e.status == "RUNNING"]
    if running:
        return RedrivePlan(
            "refuse",
            running[-1].arn,
            f"call {dead.call_id} already has a running execution ({running[-1].arn.rsplit(':', 1)[-1]}); "
            f"wait for it (`handoff executions show`) before redriving again",
        )
    failed = next((e for e in executions if e.arn == dead.execution_arn), None)
    if failed and failed.redrive_status == "REDRIVABLE" and failed.error and failed.error != CAUGHT_FAILURE_ERROR:
        return RedrivePlan("native", failed.arn, "Step Functions redrive: only the failed step runs again")
    if dead.failed_state not in RESUMABLE_STATES:
        return RedrivePlan("refuse", reason=f"cannot resume at {dead.failed_state!r}")
    base = execution_name(dead.call_id)
    taken = {e.arn for e in executions}
    attempt = 1
    while execution_arn(machine_arn, redrive_execution_name(base, attempt)) in taken:
        attempt += 1
    arn = execution_arn(machine_arn, redrive_execution_name(base, attempt))
    return RedrivePlan("fresh", arn, f"fresh execution resuming at {dead.failed_state}")


def execution_facts(sfn: Any, machine_arn: str, call_id: str) -> list[ExecutionFact]:
    facts: list[ExecutionFact] = []
    for arn in call_execution_arns(sfn, machine_arn, call_id):
        info = sfn.describe_execution(executionArn=arn)
        facts.append(
            ExecutionFact(arn, str(info["status"]), str(info.get("redriveStatus") or ""), str(info.get("error") or ""))
        )
    return facts


# --------------------------------------------------------------------------- redriving
@dataclass
class RedriveResult:
    call_id: str
    ok: bool
    how: str
    execution_arn: str = ""
    resumed_at: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "ok": self.ok,
            "how": self.how,
            "execution_arn": self.execution_arn,
            "resumed_at": self.resumed_at,
            "message": self.message,
        }


class NoDeadLetter(LookupError):  # noqa: N818 - reads as the condition it names
    """No dead letter for the call (already redriven, or it never failed)."""


@dataclass
class Redriver:
    sfn: Any
    queue: DeadLetterQueue
    machine_arn: str
    table: tuple[Any, str] | None = None  # (dynamodb client, table name) to mark the call record

    def redrive(self, call_id: str) -> RedriveResult:
        """Redrive one call; raises NoDeadLetter (with what is running, if anything) when there is none."""
        held = self.queue.hold(call_id)
        if not held:
            running = [e for e in execution_facts(self.sfn, self.machine_arn, call_id) if e.status == "RUNNING"]
            extra = f"; its redrive {running[-1].arn.rsplit(':', 1)[-1]} is running" if running else ""
            raise NoDeadLetter(f"no dead letter for call {call_id}{extra} (`handoff dlq list` shows them)")
        return self._redrive_held(held)

    def redrive_all(self, on_result: Callable[[RedriveResult, int], None] | None = None) -> list[RedriveResult]:
        """Redrive every call on the queue, one execution per call; ``on_result(result, total)`` after each."""
        by_call: dict[str, list[DeadLetter]] = {}
        for dead in self.queue.hold(None):
            by_call.setdefault(dead.call_id, []).append(dead)
        results: list[RedriveResult] = []
        calls = list(by_call.values())
        for index, letters in enumerate(calls):
            try:
                result = self._redrive_held(letters)
            except BaseException:
                for rest in calls[index + 1 :]:
                    self.queue.release([d.receipt_handle for d in rest])
                raise
            results.append(result)
            if on_result:
                on_result(result, len(calls))
        return results

    def _redrive_held(self, held: list[DeadLetter]) -> RedriveResult:
        """``held`` is one call's dead letters, newest first; all are deleted once it restarted."""
        dead = held[0]
        try:
            plan = plan_redrive(dead, self.machine_arn, execution_facts(self.sfn, self.machine_arn, dead.call_id))
            if plan.how == "refuse":
                return RedriveResult(dead.call_id, False, "refused", plan.execution_arn, message=plan.reason)
            started = self._start(dead, plan)
        except ClientError as exc:
            self.queue.release([d.receipt_handle for d in held])
            error = exc.response["Error"]
            return RedriveResult(dead.call_id, False, "error", message=f"{error.get('Code')}: {error.get('Message')}")
        except BaseException:
            self.queue.release([d.receipt_handle for d in held])
            raise
        if not started.ok:
            self.queue.release([d.receipt_handle for d in held])
            return started
        for letter in held:
            self.queue.delete(letter)
        self._mark_record(dead.call_id, started.execution_arn)
        return started

    def _start(self, dead: DeadLetter, plan: RedrivePlan) -> RedriveResult:
        if plan.how == "native":
            self.sfn.redrive_execution(executionArn=plan.execution_arn)
            return RedriveResult(dead.call_id, True, "native", plan.execution_arn, dead.failed_state, plan.reason)
        name = plan.execution_arn.rsplit(":", 1)[-1]
        try:
            answer = self.sfn.start_execution(
                stateMachineArn=self.machine_arn, name=name, input=json.dumps(redrive_input(dead))
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionAlreadyExists":
                return RedriveResult(
                    dead.call_id,
                    False,
                    "refused",
                    plan.execution_arn,
                    message="another redrive of this call won the race",
                )
            raise
        return RedriveResult(dead.call_id, True, "fresh", str(answer["executionArn"]), dead.failed_state, plan.reason)

    def _mark_record(self, call_id: str, arn: str) -> None:
        """The call record stops saying dead_lettered (only if nothing newer was written meanwhile)."""
        if self.table is None:
            return
        client, name = self.table
        try:
            client.update_item(
                TableName=name,
                Key={"pk": {"S": f"CALL#{call_id}"}},
                UpdateExpression="SET outcome = :redriven, redrive_execution_arn = :arn",
                ConditionExpression="outcome = :dead",
                ExpressionAttributeValues={
                    ":redriven": {"S": "redriven"},
                    ":arn": {"S": arn},
                    ":dead": {"S": "dead_lettered"},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
