"""What a review is: the waiting request kept on the call record, the decision a person sends, the errors.

Pure: nothing here talks to AWS. The store (``review.store``) persists a
:class:`ReviewRecord`; the service (``review.service``) decides it once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from handoff.models import Action, Candidate, HandoffDocument, PipelineState, ReviewOutcome

REJECTED_ERROR = "Handoff.ReviewRejected"

ReviewStatusName = Literal["waiting", "decided", "approved", "rejected", "expired", "closed"]
"""``waiting`` for a person; ``decided`` (recorded, Step Functions not yet told: a retry completes it);
``approved``/``rejected`` (applied); ``expired`` (timed out, escalated); ``closed`` (the execution ended otherwise)."""


# --------------------------------------------------------------------------- errors
class ReviewError(Exception):
    """A decision that cannot be applied; ``status`` is the HTTP answer for it."""

    status = 409
    title = "review not decidable"

    def __init__(self, call_id: str, message: str) -> None:
        super().__init__(message)
        self.call_id = call_id


class ReviewNotFound(ReviewError):  # noqa: N818 - names of the public contract
    status = 404
    title = "no review waiting"


class ReviewAlreadyDecided(ReviewError):  # noqa: N818 - names of the public contract
    status = 409
    title = "already decided"


class ReviewExpired(ReviewError):  # noqa: N818 - names of the public contract
    status = 409
    title = "review closed"


class InvalidDecision(ReviewError):  # noqa: N818 - names of the public contract
    """The edits do not fit this review (an unknown action key, a record that is not a candidate)."""

    status = 400
    title = "invalid decision"


class NotAnApprover(ReviewError):  # noqa: N818 - names of the public contract
    """The person is authenticated but the policy does not name them for the owning team."""

    status = 403
    title = "not an approver"


# --------------------------------------------------------------------------- who decides
@dataclass(frozen=True)
class Reviewer:
    """The authenticated identity (IAM ARN, ``slack:<user id>``) and an optional display name.

    The identity comes from the authentication (API Gateway's IAM authorizer,
    Slack's signed payload, the CLI's AWS credentials); a body may add a name
    to show, never replace the identity.
    """

    id: str
    name: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name and self.name != self.id else self.id


# --------------------------------------------------------------------------- the waiting review
def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ReviewRecord(BaseModel):
    """One review as the call record keeps it: what the reviewer sees, the token, where it stands."""

    model_config = ConfigDict(extra="ignore")

    call_id: str = Field(min_length=1)
    execution_arn: str = Field(min_length=1)
    task_token: str = Field(min_length=1, repr=False)
    requested_at: datetime
    deadline: datetime
    owner: str = ""
    urgency: str = ""
    intent: str = ""
    reasons: list[str] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    match_status: str | None = None
    handoff: HandoffDocument | None = None
    status: ReviewStatusName = "waiting"
    decision: Literal["approve", "reject"] | None = None
    decided_by: str = ""
    decided_by_name: str = ""
    decided_at: datetime | None = None
    outcome: dict[str, Any] | None = None
    """The payload sent to Step Functions (kept so a retry sends exactly the same)."""
    applied_at: datetime | None = None
    closed_reason: str = ""

    @classmethod
    def from_state(
        cls,
        execution_arn: str,
        task_token: str,
        requested_at: datetime,
        state: dict[str, Any],
        default_timeout_seconds: int,
    ) -> ReviewRecord:
        """The review the state machine asks for, from its state document (raises ValueError if unreadable)."""
        pipeline = PipelineState.model_validate(state)
        decision, match = pipeline.decision, pipeline.match
        settings = state.get("settings") if isinstance(state.get("settings"), dict) else {}
        timeout = int((settings or {}).get("review_timeout_seconds") or default_timeout_seconds)
        reasons = list(decision.reasons) if decision else []
        if match:
            reasons.extend(n for n in match.notes if n not in reasons)
        return cls(
            call_id=pipeline.call.call_id,
            execution_arn=execution_arn,
            task_token=task_token,
            requested_at=_utc(requested_at),
            deadline=_utc(requested_at) + timedelta(seconds=timeout),
            owner=decision.owner.team if decision else "",
            urgency=str(decision.urgency) if decision else "",
            intent=decision.intent if decision else "",
            reasons=reasons,
            actions=list(decision.actions) if decision else [],
            candidates=list(match.candidates) if match else [],
            match_status=str(match.status) if match else None,
            handoff=decision.handoff if decision else None,
        )

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or datetime.now(UTC)) - _utc(self.requested_at)

    @property
    def decided_by_label(self) -> str:
        return Reviewer(self.decided_by, self.decided_by_name).label

    def refusal(self) -> ReviewError:
        """Why this review cannot be decided now (it is not ``waiting``)."""
        when = f" at {self.decided_at.isoformat(timespec='seconds')}" if self.decided_at else ""
        if self.status in ("decided", "approved", "rejected"):
            verb = {"approve": "approved", "reject": "rejected"}.get(self.decision or "", "decided")
            return ReviewAlreadyDecided(
                self.call_id, f"call {self.call_id} was already {verb} by {self.decided_by_label}{when}"
            )
        if self.status == "expired":
            return ReviewExpired(
                self.call_id,
                f"the review of call {self.call_id} timed out at {self.deadline.isoformat(timespec='seconds')} "
                f"and escalated to the dead-letter queue; redrive it with `handoff dlq redrive {self.call_id}` "
                "to ask again",
            )
        if self.status == "closed":
            return ReviewAlreadyDecided(self.call_id, f"the review of call {self.call_id} ended: {self.closed_reason}")
        return ReviewNotFound(self.call_id, f"no review is waiting for call {self.call_id}")


# --------------------------------------------------------------------------- what a human decided
class Rejection(BaseModel):
    """A reviewer's no; travels as the cause of SendTaskFailure and ends in ``$.rejection``."""

    reviewer: str
    reviewer_name: str = ""
    reason: str
    decided_at: datetime

    def cause(self) -> str:
        return json.dumps(
            {
                "reviewer": self.reviewer,
                "reviewer_name": self.reviewer_name,
                "reason": self.reason,
                "decided_at": self.decided_at.isoformat(),
            }
        )


class ReviewDecision(BaseModel):
    """The decision as a person sends it (HTTP body, CLI flags, a Slack click).

    ``reviewer_name`` is only a name to show: who decided is the authenticated
    identity the caller passes to :func:`handoff.review.service.decide`.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["approve", "reject"]
    reviewer_name: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=2000)
    reason: str = Field(default="", max_length=2000)
    record_id: str | None = Field(default=None, min_length=1, max_length=256)
    drop_actions: list[str] = Field(default_factory=list, max_length=50)

    @model_validator(mode="before")
    @classmethod
    def _no_impersonation(cls, data: Any) -> Any:
        if isinstance(data, dict) and "reviewer" in data:
            raise ValueError(
                "reviewer: who decides is the authenticated caller; send reviewer_name to add a display name"
            )
        return data

    @model_validator(mode="after")
    def _fits_the_decision(self) -> ReviewDecision:
        if self.decision == "reject":
            if not self.reason:
                raise ValueError("reason: a rejection needs a reason (it is recorded and sent to the owner)")
            if self.record_id or self.drop_actions:
                raise ValueError("record_id/drop_actions: edits only apply to an approval")
        return self

    def outcome(
        self, review: ReviewRecord, reviewer: Reviewer, now: datetime | None = None
    ) -> ReviewOutcome | Rejection:
        """The payload for Step Functions, after checking the edits against the review."""
        when = now or datetime.now(UTC)
        name = self.reviewer_name or reviewer.name
        if self.decision == "reject":
            return Rejection(reviewer=reviewer.id, reviewer_name=name, reason=self.reason, decided_at=when)
        problems = edit_problems(review, self.record_id, self.drop_actions)
        if problems:
            raise InvalidDecision(review.call_id, "; ".join(problems))
        return ReviewOutcome(
            approved=True,
            reviewer=reviewer.id,
            reviewer_name=name,
            note=self.note,
            record_id=self.record_id,
            drop_actions=list(dict.fromkeys(self.drop_actions)),
            decided_at=when,
        )


def edit_problems(review: ReviewRecord, record_id: str | None, drop_actions: list[str]) -> list[str]:
    """What is wrong with a reviewer's edits, empty when they fit.

    An action is named by its key (``tool:operation:target``) or as ``tool.operation``.
    A record id must be one of the candidates when match found any; with no
    candidates the reviewer may name a record they found themselves.
    """
    problems: list[str] = []
    keys = [a.key for a in review.actions]
    accepted = set(keys) | {f"{a.tool}.{a.operation}" for a in review.actions}
    unknown = [k for k in drop_actions if k not in accepted]
    if unknown:
        known = ", ".join(keys) or "none"
        problems.append(f"drop_actions: {', '.join(unknown)} not among the proposed actions ({known})")
    if record_id and review.candidates:
        tools = {c.tool for c in review.candidates if c.record_id == record_id}
        if not tools:
            ids = ", ".join(c.record_id for c in review.candidates)
            problems.append(f"record_id: {record_id} is not one of the candidates ({ids})")
        else:
            # Act moves every kept action with a target onto the record; an operation belongs to
            # its tool, so a record of another tool would be the wrong record (act.params.retarget).
            dropped = set(drop_actions)
            stranded = [
                f"{a.tool}.{a.operation}"
                for a in review.actions
                if a.target and a.tool not in tools and not {a.key, f"{a.tool}.{a.operation}"} & dropped
            ]
            if stranded:
                where = "/".join(sorted(t.value for t in tools))
                problems.append(
                    f"record_id: {record_id} is a {where} record; {', '.join(stranded)} cannot act on it "
                    f"(drop the action or choose a record of its tool)"
                )
    return problems
