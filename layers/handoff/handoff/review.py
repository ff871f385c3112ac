"""Human review: read a waiting review, decide it once, and say clearly when it cannot be.

The state machine parks a call on the review queue with
``sqs:sendMessage.waitForTaskToken``; the message carries the task token, the
execution and the whole pipeline document. A decision resumes the execution:
approval is ``SendTaskSuccess`` with a ``ReviewOutcome`` (it lands in
``$.review``), rejection is ``SendTaskFailure`` with ``Handoff.ReviewRejected``
and a JSON cause (the state machine ends the call as Rejected).

Finding a review by call id reads the queue without consuming it: messages are
received with a short visibility timeout and released (visibility 0) unless
the review is decided, in which case the message is deleted. Whether a task
token still waits is read from the execution history, so deciding twice or
after the timeout changes nothing and says why, on AWS and on moto alike.

Used by the review-decision Lambda (functions/review) and the ops CLI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from handoff.ingest.envelope import execution_name
from handoff.models import Action, Candidate, PipelineState, ReviewOutcome

REJECTED_ERROR = "Handoff.ReviewRejected"
REVIEW_STATE = "RequestReview"
REDRIVE_MARK = "-redrive-"
EXECUTION_NAME_MAX = 80
SQS_BATCH = 10

CLOSED_TOKEN_ERRORS = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")
# UNCONFIRMED assumptions about AWS behaviour, kept in one place (see the reference pages):
ASSUMPTIONS: dict[str, object] = {
    # AWS answers SendTaskSuccess/Failure on a token whose task already finished with
    # TaskTimedOut ("Provided task does not exist anymore") or InvalidToken; moto accepts
    # it silently. Either way decide() reads the execution history first and maps the error.
    "closed_token_errors": CLOSED_TOKEN_ERRORS,
    # A receipt handle from the latest receive deletes the message even after its
    # visibility was changed; a handle from an earlier receive may not.
    "delete_needs_latest_receipt": True,
}


# --------------------------------------------------------------------------- errors
class ReviewError(Exception):
    """A decision that cannot be applied; ``status`` is the HTTP answer for it."""

    status = 409

    def __init__(self, call_id: str, message: str) -> None:
        super().__init__(message)
        self.call_id = call_id


class ReviewNotFound(ReviewError):  # noqa: N818 - names of the public contract
    status = 404


class ReviewAlreadyDecided(ReviewError):  # noqa: N818 - names of the public contract
    status = 409


class ReviewExpired(ReviewError):  # noqa: N818 - names of the public contract
    status = 409


class InvalidDecision(ReviewError):  # noqa: N818 - names of the public contract
    """The edits do not fit this review (an unknown action key, a record that is not a candidate)."""

    status = 400


# --------------------------------------------------------------------------- the waiting review
class ReviewRequest(BaseModel):
    """One message of the review queue: what the reviewer sees and the token that resumes the call."""

    model_config = ConfigDict(extra="ignore")

    task_token: str = Field(min_length=1)
    execution_arn: str = Field(min_length=1)
    requested_at: datetime
    state: dict[str, Any]
    message_id: str = ""
    receipt_handle: str = Field(default="", repr=False)

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> ReviewRequest:
        """Parse an SQS message; raises ValueError naming what is wrong."""
        try:
            body = json.loads(message.get("Body") or "")
        except json.JSONDecodeError as exc:
            raise ValueError(f"review message {message.get('MessageId')} is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ValueError(f"review message {message.get('MessageId')} is not a JSON object")
        try:
            request = cls.model_validate(
                {**body, "message_id": message.get("MessageId", ""), "receipt_handle": message.get("ReceiptHandle", "")}
            )
            request.pipeline()  # the document must carry a call
        except ValidationError as exc:
            raise ValueError(f"review message {message.get('MessageId')} is not a review request: {exc}") from None
        return request

    def pipeline(self) -> PipelineState:
        return PipelineState.model_validate(self.state)

    @property
    def call_id(self) -> str:
        return str((self.state.get("call") or {}).get("call_id", ""))

    @property
    def actions(self) -> list[Action]:
        decision = self.pipeline().decision
        return list(decision.actions) if decision else []

    @property
    def candidates(self) -> list[Candidate]:
        match = self.pipeline().match
        return list(match.candidates) if match else []

    @property
    def reasons(self) -> list[str]:
        """Why a human is needed: the route's reasons, then match's notes."""
        state = self.pipeline()
        reasons = list(state.decision.reasons) if state.decision else []
        if state.match:
            reasons.extend(n for n in state.match.notes if n not in reasons)
        return reasons

    @property
    def owner(self) -> str:
        decision = self.pipeline().decision
        return decision.owner.team if decision else ""

    @property
    def urgency(self) -> str:
        decision = self.pipeline().decision
        return str(decision.urgency) if decision else ""

    def age(self, now: datetime | None = None) -> timedelta:
        requested = self.requested_at if self.requested_at.tzinfo else self.requested_at.replace(tzinfo=UTC)
        return (now or datetime.now(UTC)) - requested


# --------------------------------------------------------------------------- what a human decided
class Rejection(BaseModel):
    """A reviewer's no; travels as the cause of SendTaskFailure and ends in ``$.rejection``."""

    reviewer: str
    reason: str
    decided_at: datetime

    def cause(self) -> str:
        return json.dumps({"reviewer": self.reviewer, "reason": self.reason, "decided_at": self.decided_at.isoformat()})


class ReviewDecision(BaseModel):
    """The decision as a person or a team's own surface sends it (HTTP body, CLI flags)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["approve", "reject"]
    reviewer: str | None = Field(default=None, min_length=1, max_length=200)
    note: str = Field(default="", max_length=2000)
    reason: str = Field(default="", max_length=2000)
    record_id: str | None = Field(default=None, min_length=1, max_length=256)
    drop_actions: list[str] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _fits_the_decision(self) -> ReviewDecision:
        if self.decision == "reject":
            if not self.reason:
                raise ValueError("reason: a rejection needs a reason (it is recorded and sent to the owner)")
            if self.record_id or self.drop_actions:
                raise ValueError("record_id/drop_actions: edits only apply to an approval")
        return self

    def outcome(self, request: ReviewRequest, now: datetime | None = None) -> ReviewOutcome | Rejection:
        """The payload for Step Functions, after checking the edits against the review."""
        when = now or datetime.now(UTC)
        reviewer = self.reviewer or "unknown"
        if self.decision == "reject":
            return Rejection(reviewer=reviewer, reason=self.reason, decided_at=when)
        problems = edit_problems(request, self.record_id, self.drop_actions)
        if problems:
            raise InvalidDecision(request.call_id, "; ".join(problems))
        return ReviewOutcome(
            approved=True,
            reviewer=reviewer,
            note=self.note,
            record_id=self.record_id,
            drop_actions=list(dict.fromkeys(self.drop_actions)),
            decided_at=when,
        )


def edit_problems(request: ReviewRequest, record_id: str | None, drop_actions: list[str]) -> list[str]:
    """What is wrong with a reviewer's edits, empty when they fit.

    An action is named by its key (``tool:operation:target``) or as ``tool.operation``.

    A record id must be one of the candidates when match found any; with no
    candidates the reviewer may name a record they found themselves.
    """
    problems: list[str] = []
    keys = [a.key for a in request.actions]
    accepted = set(keys) | {f"{a.tool}.{a.operation}" for a in request.actions}
    unknown = [k for k in drop_actions if k not in accepted]
    if unknown:
        known = ", ".join(keys) or "none"
        problems.append(f"drop_actions: {', '.join(unknown)} not among the proposed actions ({known})")
    candidates = request.candidates
    if record_id and candidates and record_id not in {c.record_id for c in candidates}:
        ids = ", ".join(c.record_id for c in candidates)
        problems.append(f"record_id: {record_id} is not one of the candidates ({ids})")
    return problems


# --------------------------------------------------------------------------- where the review stands
ReviewKind = Literal["pending", "approved", "rejected", "expired", "failed", "none"]


@dataclass
class ReviewStatus:
    """The latest review of one execution, read from its history."""

    kind: ReviewKind
    execution_arn: str
    reviewer: str = ""
    detail: str = ""
    at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.kind == "pending"

    def error(self, call_id: str) -> ReviewError:
        """The error that says why this review cannot be decided now."""
        when = f" at {self.at.isoformat(timespec='seconds')}" if self.at else ""
        if self.kind == "approved":
            return ReviewAlreadyDecided(call_id, f"call {call_id} was already approved by {self.reviewer}{when}")
        if self.kind == "rejected":
            why = f": {self.detail}" if self.detail else ""
            return ReviewAlreadyDecided(call_id, f"call {call_id} was already rejected by {self.reviewer}{when}{why}")
        if self.kind == "expired":
            return ReviewExpired(
                call_id,
                f"the review of call {call_id} timed out{when} and escalated to the dead-letter queue; "
                f"redrive it with `handoff dlq redrive {call_id}` to ask again",
            )
        if self.kind == "failed":
            return ReviewAlreadyDecided(call_id, f"the review of call {call_id} ended{when}: {self.detail}")
        return ReviewNotFound(call_id, f"no review is waiting for call {call_id}")


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def review_status(sfn: Any, execution_arn: str) -> ReviewStatus:
    """Where the latest review of an execution stands: still waiting, or how it ended."""
    return status_from_history(execution_arn, _history(sfn, execution_arn))


def status_from_history(execution_arn: str, events: list[dict[str, Any]]) -> ReviewStatus:
    """Pure: walk the history forward and keep the state of the last RequestReview."""
    status = ReviewStatus("none", execution_arn)
    in_review = False
    for event in events:
        kind = event["type"]
        when = event.get("timestamp")
        if kind.endswith("StateEntered") and event["stateEnteredEventDetails"]["name"] == REVIEW_STATE:
            in_review, status = True, ReviewStatus("pending", execution_arn, at=when)
        elif kind.endswith("StateExited") and event["stateExitedEventDetails"]["name"] == REVIEW_STATE:
            in_review = False
        elif not in_review or status.kind != "pending":
            continue
        elif kind == "TaskSucceeded":
            output = _json(event["taskSucceededEventDetails"].get("output"))
            status = ReviewStatus("approved", execution_arn, str(output.get("reviewer", "unknown")), at=when)
        elif kind == "TaskFailed":
            details = event["taskFailedEventDetails"]
            if details.get("error") == REJECTED_ERROR:
                cause = _json(details.get("cause"))
                status = ReviewStatus(
                    "rejected", execution_arn, str(cause.get("reviewer", "unknown")), str(cause.get("reason", "")), when
                )
            else:
                status = ReviewStatus("failed", execution_arn, detail=str(details.get("error")), at=when)
        elif kind == "TaskTimedOut":
            status = ReviewStatus("expired", execution_arn, at=when)
        elif kind in ("ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"):
            status = ReviewStatus("failed", execution_arn, detail=f"execution {kind[9:].lower()}", at=when)
    return status


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------- executions of a call
def redrive_execution_name(base: str, attempt: int) -> str:
    """``<base>-redrive-<n>``, cut to the 80 characters Step Functions allows."""
    suffix = f"{REDRIVE_MARK}{attempt}"
    return f"{base[: EXECUTION_NAME_MAX - len(suffix)]}{suffix}"


def execution_arn(machine_arn: str, name: str) -> str:
    return f"{machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def call_execution_arns(sfn: Any, machine_arn: str, call_id: str, limit: int = 100) -> list[str]:
    """Every execution of a call that exists: the original, then each redrive in order."""
    base = execution_name(call_id)
    found: list[str] = []
    for attempt in range(limit + 1):
        name = base if attempt == 0 else redrive_execution_name(base, attempt)
        arn = execution_arn(machine_arn, name)
        try:
            sfn.describe_execution(executionArn=arn)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            if attempt > 0:  # the original may be missing (a test started a redrive by hand)
                break
            continue
        found.append(arn)
    return found


# --------------------------------------------------------------------------- deciding
def decide(
    sfn: Any, task_token: str, outcome: ReviewOutcome | Rejection, *, execution_arn: str = "", call_id: str = ""
) -> None:
    """Resume (approve) or end (reject) the waiting execution, exactly once.

    With the execution ARN the history is read first, so a second decision or
    one after the timeout raises ``ReviewAlreadyDecided`` / ``ReviewExpired``
    and sends nothing.
    """
    call_id = call_id or execution_arn.rsplit(":", 1)[-1]
    if execution_arn:
        status = review_status(sfn, execution_arn)
        if not status.pending:
            raise status.error(call_id)
    try:
        if isinstance(outcome, Rejection):
            sfn.send_task_failure(taskToken=task_token, error=REJECTED_ERROR, cause=outcome.cause())
        else:
            sfn.send_task_success(taskToken=task_token, output=outcome.model_dump_json())
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code not in CLOSED_TOKEN_ERRORS:
            raise
        if execution_arn:
            status = review_status(sfn, execution_arn)
            if not status.pending:
                raise status.error(call_id) from None
        if code == "TaskTimedOut":
            raise ReviewExpired(call_id, "the review timed out before this decision arrived") from None
        raise ReviewAlreadyDecided(call_id, "this review was already decided (its task token is closed)") from None


@dataclass
class DecisionResult:
    call_id: str
    decision: str
    execution_arn: str
    outcome: dict[str, Any]
    cleaned_up: int = 0


@dataclass
class QueueScan:
    """Read a queue without consuming it: messages are held while scanned, then released.

    The review and dead-letter queues are worked by people (list, show, decide,
    redrive), so a read must never use up a message; only a decision or a
    successful redrive deletes one.
    """

    sqs: Any
    queue_url: str
    hold_seconds: int = 30
    wait_seconds: int = 1
    unreadable: list[str] = field(default_factory=list)

    def _receive_all(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=SQS_BATCH,
                VisibilityTimeout=self.hold_seconds,
                WaitTimeSeconds=self.wait_seconds,
                AttributeNames=["SentTimestamp"],
            )
            batch = answer.get("Messages") or []
            fresh = [m for m in batch if m["MessageId"] not in seen]
            seen.update({m["MessageId"]: m for m in batch})
            if not fresh:
                return list(seen.values())

    def release(self, receipts: list[str]) -> None:
        """Make held messages visible again at once."""
        for start in range(0, len(receipts), SQS_BATCH):
            entries = [
                {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                for i, r in enumerate(receipts[start : start + SQS_BATCH])
            ]
            self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)


@dataclass
class ReviewQueue(QueueScan):
    """The review queue, read without consuming: a message goes away only once decided."""

    def _parse(self, messages: list[dict[str, Any]]) -> list[ReviewRequest]:
        requests: list[ReviewRequest] = []
        for message in messages:
            try:
                requests.append(ReviewRequest.from_message(message))
            except ValueError as exc:
                self.unreadable.append(str(exc))
        return requests

    def pending(self) -> list[ReviewRequest]:
        """Every waiting review, oldest first; nothing is consumed."""
        messages = self._receive_all()
        self.release([m["ReceiptHandle"] for m in messages])
        return sorted(self._parse(messages), key=lambda r: r.requested_at)

    def claim(self, call_id: str) -> list[ReviewRequest]:
        """Hold the messages of one call (newest first) and release every other one."""
        messages = self._receive_all()
        mine = [r for r in self._parse(messages) if r.call_id == call_id]
        held = {r.message_id for r in mine}
        self.release([m["ReceiptHandle"] for m in messages if m["MessageId"] not in held])
        return sorted(mine, key=lambda r: r.requested_at, reverse=True)

    def delete(self, request: ReviewRequest) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=request.receipt_handle)


def decide_call(
    sfn: Any,
    queue: ReviewQueue,
    call_id: str,
    decision: ReviewDecision,
    *,
    machine_arn: str = "",
    now: datetime | None = None,
) -> DecisionResult:
    """Find the review waiting for a call, apply the decision once, then delete its message.

    Leftover messages whose task already closed are deleted on the way. With no
    waiting review the call's executions say whether it was decided, timed out
    or never asked (given the state machine ARN).
    """
    claimed = queue.claim(call_id)
    done: set[str] = set()
    try:
        live: ReviewRequest | None = None
        closed: list[ReviewStatus] = []
        for request in claimed:
            status = review_status(sfn, request.execution_arn)
            if status.pending and live is None:
                live = request
                continue
            if not status.pending:
                queue.delete(request)
                done.add(request.message_id)
                closed.append(status)
        if live is None:
            if closed:
                raise closed[0].error(call_id)
            raise _closed_without_message(sfn, machine_arn, call_id)
        outcome = decision.outcome(live, now)
        decide(sfn, live.task_token, outcome, execution_arn=live.execution_arn, call_id=call_id)
        queue.delete(live)
        done.add(live.message_id)
        return DecisionResult(
            call_id=call_id,
            decision=decision.decision,
            execution_arn=live.execution_arn,
            outcome=outcome.model_dump(mode="json"),
            cleaned_up=len(done) - 1,
        )
    finally:
        queue.release([r.receipt_handle for r in claimed if r.message_id not in done])


def _closed_without_message(sfn: Any, machine_arn: str, call_id: str) -> ReviewError:
    if machine_arn:
        for arn in reversed(call_execution_arns(sfn, machine_arn, call_id)):
            status = review_status(sfn, arn)
            if status.kind not in ("none", "pending"):
                return status.error(call_id)
    return ReviewNotFound(
        call_id, f"no review is waiting for call {call_id}; `handoff review list` shows the waiting ones"
    )
