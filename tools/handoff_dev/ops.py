"""Read-side operations shared by the CLI: executions, state by state.

Works against any endpoint (the embedded stack) or an AWS profile, because it
only uses the public Step Functions API.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config

from handoff.models import StateName

# An endpoint that does not answer fails in seconds, not minutes: a short connect
# timeout and one retry instead of botocore's default 60 s and five legacy retries.
CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=20,
    retries={"total_max_attempts": 2, "mode": "standard"},
)

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
WAITING_STATE = StateName.REQUEST_REVIEW.value


def aws_client(
    service: str, endpoint_url: str | None = None, profile: str | None = None, region: str | None = None
) -> Any:
    session = boto3.Session(profile_name=profile, region_name=region or None)
    kwargs: dict[str, Any] = {}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        if session.get_credentials() is None:
            kwargs.update(aws_access_key_id="embedded", aws_secret_access_key="embedded")  # noqa: S106
        if not session.region_name:
            kwargs["region_name"] = "us-east-1"
    return session.client(service, config=CLIENT_CONFIG, **kwargs)  # type: ignore[call-overload]


@dataclass
class StateStep:
    name: str
    entered: datetime
    exited: datetime | None = None
    # A callback task (.waitForTaskToken) has sent its request: for RequestReview, the review is recorded.
    submitted: bool = False
    error: str | None = None
    cause: str | None = None
    attempts: int = 0
    """Task attempts scheduled in this state (retries = attempts - 1)."""
    failed_at: datetime | None = None
    input: str | None = None
    output: str | None = None

    @property
    def duration_ms(self) -> float | None:
        end = self.exited or self.failed_at
        if end is None:
            return None
        return (end - self.entered).total_seconds() * 1000

    @property
    def retries(self) -> int:
        return max(0, self.attempts - 1)

    @property
    def state_of(self) -> str:
        """``done``, ``failed`` (left by an error the state did not catch) or ``running``."""
        if self.exited is not None:
            return "done"
        return "failed" if self.failed_at is not None else "running"


@dataclass
class ExecutionView:
    call_id: str
    arn: str
    status: str
    started: datetime
    stopped: datetime | None
    steps: list[StateStep] = field(default_factory=list)
    output: dict[str, Any] | None = None
    last_input: dict[str, Any] | None = None

    @property
    def current_state(self) -> str | None:
        open_steps = [s for s in self.steps if s.exited is None]
        return open_steps[-1].name if open_steps else None

    @property
    def waiting_for_review(self) -> bool:
        """Waiting in RequestReview after its function recorded the review (TaskSubmitted), not merely entered."""
        open_steps = [s for s in self.steps if s.exited is None]
        return (
            self.status == "RUNNING"
            and bool(open_steps)
            and open_steps[-1].name == WAITING_STATE
            and open_steps[-1].submitted
        )

    @property
    def settled(self) -> bool:
        return self.status in TERMINAL or self.waiting_for_review

    @property
    def path(self) -> list[str]:
        return [s.name for s in self.steps]

    @property
    def act_results(self) -> list[dict[str, Any]]:
        """What act did (empty when it had nothing to do)."""
        document = self.output or self.last_input or {}
        return list((document.get("act") or {}).get("results") or [])

    @property
    def outcome(self) -> str:
        if self.waiting_for_review:
            return "waiting for review"
        if self.status == "SUCCEEDED" and self.path[-1:] in (["Act"], ["HandedOff"]):  # HandedOff: before 2026-12
            if not self.act_results:
                return "approved, nothing to do" if WAITING_STATE in self.path else "nothing to do"
            return "acted"
        for name, label in (
            ("NothingToDo", "nothing to do"),
            ("Rejected", "rejected"),
            ("CallFailed", "dead-lettered"),
        ):
            if name in self.path:
                return label
        return self.status.lower()


def state_machine_arn(sfn: Any, name_hint: str = "HandoffStateMachine") -> str:
    machines = sfn.list_state_machines()["stateMachines"]
    for machine in machines:
        if name_hint in machine["name"]:
            return str(machine["stateMachineArn"])
    if len(machines) == 1:
        return str(machines[0]["stateMachineArn"])
    raise LookupError("no Handoff state machine found at this endpoint/profile")


def list_executions(sfn: Any, machine_arn: str, limit: int = 100) -> list[dict[str, Any]]:
    paginator = sfn.get_paginator("list_executions")
    found: list[dict[str, Any]] = []
    for page in paginator.paginate(stateMachineArn=machine_arn):
        found.extend(page["executions"])
        if len(found) >= limit:
            break
    return found[:limit]


def describe(sfn: Any, execution_arn: str) -> ExecutionView:
    info = sfn.describe_execution(executionArn=execution_arn)
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    steps: list[StateStep] = []
    last_input: dict[str, Any] | None = None
    for event in events:
        entered = event.get("stateEnteredEventDetails")
        if entered and entered.get("input"):
            with contextlib.suppress(ValueError):
                last_input = json.loads(entered["input"])
        kind = event["type"]
        if kind.endswith("StateEntered"):
            details = event["stateEnteredEventDetails"]
            steps.append(StateStep(details["name"], event["timestamp"], input=details.get("input")))
        elif kind == "TaskSubmitted" and steps:
            steps[-1].submitted = True
        elif kind.endswith("StateExited") and steps:
            details = event["stateExitedEventDetails"]
            for step in reversed(steps):
                if step.name == details["name"] and step.exited is None:
                    step.exited = event["timestamp"]
                    step.output = details.get("output")
                    break
        elif kind.endswith("Scheduled") and steps:
            steps[-1].attempts += 1
        elif kind.endswith("Failed") or kind.endswith("TimedOut"):
            details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            if steps and isinstance(details, dict):
                steps[-1].error = details.get("error") or steps[-1].error
                steps[-1].cause = (details.get("cause") or "")[:500] or steps[-1].cause
                if kind.startswith("Execution"):
                    open_steps = [s for s in steps if s.exited is None]
                    if open_steps:
                        open_steps[-1].failed_at = event["timestamp"]
    output = json.loads(info["output"]) if info.get("output") else None
    call_id = json.loads(info.get("input") or "{}").get("call", {}).get("call_id", info["name"])
    return ExecutionView(
        call_id=call_id,
        arn=execution_arn,
        status=info["status"],
        started=info["startDate"],
        stopped=info.get("stopDate"),
        steps=steps,
        output=output,
        last_input=last_input,
    )


def redrive_chain(sfn: Any, machine_arn: str, call_id: str) -> list[dict[str, Any]]:
    """Every execution of the call, first to last: the original and each redrive."""
    from handoff.executions import call_execution_arns

    chain: list[dict[str, Any]] = []
    for arn in call_execution_arns(sfn, machine_arn, call_id):
        info = sfn.describe_execution(executionArn=arn)
        chain.append(
            {
                "execution": arn.rsplit(":", 1)[-1],
                "execution_arn": arn,
                "status": info["status"],
                "started": info["startDate"],
                "redrive_count": int(info.get("redriveCount") or 0),
            }
        )
    return sorted(chain, key=lambda e: e["started"])


def execution_arn_for(sfn: Any, machine_arn: str, call_id: str) -> str:
    """The execution of a call id; a redrive's own name (``<id>-redrive-2``) names that redrive.

    Names are injective over call ids, so an id that looks like a redrive name has a
    hashed execution name of its own: that one is used when it exists.
    """
    from botocore.exceptions import ClientError

    from handoff.ingest.envelope import execution_name

    prefix = machine_arn.replace(":stateMachine:", ":execution:", 1)
    name = execution_name(call_id)
    if name != call_id and re.fullmatch(r"[A-Za-z0-9_-]{1,80}", call_id):
        try:
            sfn.describe_execution(executionArn=f"{prefix}:{name}")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            return f"{prefix}:{call_id}"
    return f"{prefix}:{name}"
