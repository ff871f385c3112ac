"""Typed contracts that travel between the pipeline states.

Every Lambda parses its input with one of these models and returns one, so a
state machine change that breaks a contract fails loudly at the boundary
instead of deep inside domain code. They are kept small: Step Functions caps a
state payload at 256 KB, so the transcript never travels here (match reads it
from the call store by call id).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Contract(BaseModel):
    """Base for state contracts: tolerant of extra keys added by the state machine.

    ``defer_build``: a model's validator is built the first time it is used, so a
    function pays (on its cold start) only for the models its own step touches.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


class Tool(StrEnum):
    """The destinations Handoff can act in."""

    PLANYO = "planyo"
    BOOKINGMOOD = "bookingmood"
    PLISIO = "plisio"
    BILLIT = "billit"
    OCRWEBSERVICE = "ocrwebservice"
    SLACK = "slack"


class RecordKind(StrEnum):
    """What kind of business record a candidate is."""

    CUSTOMER = "customer"
    RESERVATION = "reservation"
    BOOKING = "booking"
    CONTACT = "contact"
    INVOICE = "invoice"
    ORDER = "order"


class CallSummary(Contract):
    """The compact view of a call that travels through the state machine.

    Built by ingest from the normalised call; well under the 256 KB state limit.
    """

    call_id: str
    event: str
    status: str | None = None
    direction: str | None = None
    category: str | None = None
    caller_phone: str | None = None
    agent_id: str | None = None
    initiated_at: datetime | None = None
    duration_seconds: float | None = None
    hangup_reason: str | None = None
    summary: str | None = None
    recording_url: str | None = None
    call_url: str | None = None
    transferred_to: str | None = None
    analysis: dict[str, Any] = Field(default_factory=dict)
    has_transcript: bool = False
    analysis_grace_seconds: int = 0


class Evidence(Contract):
    """One observed agreement between what the caller said and a record field."""

    call_field: str
    record_field: str
    value: str
    strength: Literal["strong", "medium", "weak"]


class Candidate(Contract):
    """A record in a tool that the caller may have talked about."""

    tool: Tool
    kind: RecordKind
    record_id: str
    display: str = ""
    record_url: str | None = None
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


class LookupReport(Contract):
    """What happened when match asked one tool: found n, or failed and why."""

    tool: Tool
    ok: bool
    found: int = 0
    error: str | None = None
    elapsed_ms: float = 0.0


class MatchStatus(StrEnum):
    STRONG = "strong"
    WEAK = "weak"
    AMBIGUOUS = "ambiguous"
    NONE = "none"


class MatchResult(Contract):
    """Ranked candidates with the confidence of the best one and how the lookups went."""

    status: MatchStatus = MatchStatus.NONE
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    candidates: list[Candidate] = Field(default_factory=list)
    lookups: list[LookupReport] = Field(default_factory=list)
    identity: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    """Why the status is what it is (conflicts, close candidates, failed lookups), for the reviewer."""

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


class AnalysisRef(Contract):
    """Which post-call analysis a decision was made from: the call record as Match read it.

    ``record_version`` is the call record's optimistic-lock version and ``digest``
    a short hash of the analysis, so ops can tell whether an analysis that
    arrived later (``late_analysis`` on the record) differs from the one used.
    """

    present: bool = False
    record_version: int = 0
    digest: str = ""
    events: list[str] = Field(default_factory=list)
    read_at: datetime | None = None

    def cite(self) -> str:
        """One line for people: which analysis, from which version of the call record."""
        if not self.present:
            return f"no post-call analysis (call record v{self.record_version})"
        return f"analysis {self.digest} (call record v{self.record_version})"


def analysis_digest(analysis: dict[str, Any]) -> str:
    """A short, stable fingerprint of an analysis ("" when there is none)."""
    if not analysis:
        return ""
    text = json.dumps(analysis, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class Mode(StrEnum):
    ACT = "act"
    REVIEW = "review"
    NONE = "none"


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


class Owner(Contract):
    team: str
    slack_channel: str | None = None
    escalation_channel: str | None = None
    email: str | None = None
    share_contact_details: bool = False


class Action(Contract):
    """One operation in one tool, with the record it targets and its parameters."""

    tool: Tool
    operation: str
    target: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""

    @property
    def key(self) -> str:
        """Stable identity of the action inside a call (idempotency key part)."""
        return f"{self.tool}:{self.operation}:{self.target or '-'}"


class HandoffDocument(Contract):
    """What act writes into the tool and what notify and the reviewer see.

    Self-contained: a teammate never has to replay the call.
    """

    kind: str = "general"
    title: str
    caller: str | None = None
    asked_for: str = ""
    established: list[str] = Field(default_factory=list)
    affected_record: str | None = None
    record_url: str | None = None
    reason: str = ""
    urgency: Urgency = Urgency.NORMAL
    owner: str = ""
    next_step: str = ""
    evidence_links: dict[str, str] = Field(default_factory=dict)
    extras: dict[str, Any] = Field(default_factory=dict)
    policy_version: str = ""
    """The routing policy version that decided this handoff."""


class RouteDecision(Contract):
    """The route state's answer: act, review or nothing to do, and every reason."""

    mode: Mode
    intent: str = "unknown"
    actions: list[Action] = Field(default_factory=list)
    owner: Owner
    urgency: Urgency = Urgency.NORMAL
    reasons: list[str] = Field(default_factory=list)
    rules_fired: list[str] = Field(default_factory=list)
    handoff: HandoffDocument
    policy_version: str = ""
    notify: bool = True
    analysis: AnalysisRef | None = None
    """The post-call analysis this decision was made from (the call record as Match read it)."""


class ReviewOutcome(Contract):
    """What a human decided; the payload of SendTaskSuccess."""

    approved: bool = True
    reviewer: str = "unknown"
    """The authenticated identity (IAM ARN, ``slack:<user id>``)."""
    reviewer_name: str = ""
    """A display name the reviewer added; never replaces ``reviewer``."""
    note: str = ""
    record_id: str | None = None
    drop_actions: list[str] = Field(default_factory=list)
    decided_at: datetime | None = None


class ActionStatus(StrEnum):
    DONE = "done"
    ALREADY_DONE = "already_done"
    SKIPPED = "skipped"
    FAILED = "failed"


class ActionResult(Contract):
    action_key: str
    tool: Tool
    operation: str
    status: ActionStatus
    record_id: str | None = None
    record_url: str | None = None
    detail: str = ""
    at: datetime | None = None


class ActResult(Contract):
    results: list[ActionResult] = Field(default_factory=list)


ENVELOPE_VERSION = 2
"""Bumped when a field changes meaning; an envelope from a newer Handoff is refused, an older one upgraded."""


class StateName(StrEnum):
    """The Task states a failure is recorded at (``$.failed_state``) and a redrive resumes at (``$.resume_at``).

    The names are those of ``statemachine/handoff.asl.json``; a test holds the two together.
    """

    MATCH = "Match"
    ROUTE = "Route"
    REQUEST_REVIEW = "RequestReview"
    ACT = "Act"


RecordOnlyState = Literal["Rejected", "PublishRejected"]
"""A state a failure is recorded at that a redrive does not resume at (the rejection already ended the call).

``PublishRejected`` is that state's name before the lean state machine (2026-12): dead letters
from an older deployment still carry it.
"""


class StepSettings(Contract):
    """Per-execution settings ingest fixes at start (the Wait and the review timeout read them)."""

    analysis_grace_seconds: int = Field(default=0, ge=0)
    review_timeout_seconds: int = Field(default=86400, ge=1)


class StepError(Contract):
    """What a Catch writes at its ResultPath: Step Functions' ``{"Error", "Cause"}``."""

    error: str = Field(default="", alias="Error")
    cause: str = Field(default="", alias="Cause")


class CallEnvelope(Contract):
    """Everything the state machine carries, typed and versioned: each state adds its part.

    ingest builds it (call, settings); Match adds ``match`` and ``analysis_used``,
    Route ``decision``, the review ``review`` (or ``rejection``), Act ``act``; a
    Catch adds ``error`` and a Pass ``failed_state``; a redrive sets ``resume_at``.
    """

    version: int = ENVELOPE_VERSION
    call: CallSummary
    settings: StepSettings = Field(default_factory=StepSettings)
    analysis_used: AnalysisRef | None = None
    match: MatchResult | None = None
    decision: RouteDecision | None = None
    review: ReviewOutcome | None = None
    act: ActResult | None = None
    error: StepError | None = None
    failed_state: StateName | RecordOnlyState | None = None
    dead_letter_error: StepError | None = None
    """Set when even the dead-letter queue refused the call (the record and the alarm still say so)."""
    rejection: StepError | None = None
    resume_at: StateName | None = None

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version > ENVELOPE_VERSION:
            raise ValueError(f"envelope version {version} is newer than this code ({ENVELOPE_VERSION})")
        return version

    def dump(self) -> dict[str, Any]:
        """The JSON document the state machine receives (Step Functions' own key names kept)."""
        return self.model_dump(mode="json", by_alias=True)


PipelineState = CallEnvelope
"""The envelope's former name, kept for callers not yet renamed."""


class OutcomeKind(StrEnum):
    HANDED_OFF = "call.handed_off"
    REVIEW_REQUESTED = "call.review_requested"
    NOTHING_TO_DO = "call.nothing_to_do"
    REJECTED = "call.review_rejected"
    FAILED = "call.failed"
    ESCALATED = "call.review_escalated"
    PARTNER_ROUTED = "partner.routed"
