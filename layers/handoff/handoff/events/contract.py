"""The event contract: what Handoff publishes on its bus, one versioned model per detail type.

Why a contract: the bus is where other teams plug in (marketing, CRM, analytics,
finance), and the archive keeps what passes. Before this, every outcome event was
the whole state document (caller details, match evidence, actions, results); any
rule added to the bus received all of it. Each model here holds only what its
consumers need (ids, owner, urgency, outcome, record links, a masked summary) and
forbids anything else (``extra="forbid"``), so a field that is not in the model
can never reach the bus: building the event fails first.

Versioning: every detail carries ``schema_version``. Adding an optional field
keeps the version; removing or changing a field is a new version, published
beside the old one until subscribers have moved (docs/events.md).

Everything a notification needs beyond this (the caller's name, the evidence,
the reviewer's note) stays in the call record in DynamoDB, encrypted and expiring
with it; notify reads it from there (``handoff.events.view``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from handoff.models import RecordKind, Tool, Urgency

SOURCE = "handoff"
"""The ``source`` of every event in the contract."""

SCHEMA_VERSION: Literal["1"] = "1"

Label = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[\w .,'()/&+#-]+$")]
"""A short product or category label: letters, digits and a little punctuation, never a sentence."""
Sku = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]
RuleId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9_:.-]+$")]
Url = Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")]
Token = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:#/+=-]+$")]
"""An identifier (call id, record id, dedupe key): no spaces, no free text."""


class Strict(BaseModel):
    """Parts of an event: unknown fields are an error, never passed on.

    ``defer_build``: a function builds only the event models it publishes or reads (act builds
    ``CallHandedOff`` at init, see ``handoff.events.publish.publishing``), not all of them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class RecordRef(Strict):
    """A record in the tool that owns it, with its link when the tool has one."""

    tool: Tool
    kind: RecordKind
    record_id: Token
    url: Url | None = None


class CallLinks(Strict):
    """Where an authorised person reads the call (sign-in required); never a presigned recording URL."""

    dialnexa_call: Url
    transcript: Url | None = None


class ActionOutcome(Strict):
    """What one action did; the parameters (names, e-mails, dates) stay in the call record."""

    tool: Tool
    operation: Token
    status: Literal["done", "already_done", "skipped", "failed"]
    record: RecordRef | None = None


class ProposedAction(Strict):
    tool: Tool
    operation: Token
    target: Token | None = None


class EventDetail(Strict):
    """Base of every detail: the detail type and the schema version it follows."""

    detail_type: ClassVar[str]
    schema_name: ClassVar[str]
    """The name in the EventBridge schema registry (``handoff@<schema_name>``)."""
    description: ClassVar[str]

    schema_version: Literal["1"] = SCHEMA_VERSION


class CallOutcome(EventDetail):
    """What every call outcome says: which call, who owns it, how urgent, about which record."""

    call_id: Token
    occurred_at: datetime
    intent: RuleId | None = None
    kind: (
        Literal["revenue", "follow_up", "field_visit", "triage", "exception", "billing", "booking_change", "general"]
        | None
    ) = None
    owner: str | None = Field(default=None, max_length=80)
    """The owning team's name from the routing policy (its channels stay in the policy)."""
    urgency: Urgency | None = None
    policy_version: str | None = Field(default=None, max_length=40)
    record: RecordRef | None = None
    """The affected record, when the call matched one."""
    summary: str = Field(default="", max_length=500)
    """The call summary, masked: no e-mail, phone, amount, card, bank or tax number, no caller name."""
    links: CallLinks | None = None


class CallHandedOff(CallOutcome):
    detail_type: ClassVar[str] = "call.handed_off"
    schema_name: ClassVar[str] = "CallHandedOff"
    description: ClassVar[str] = "The call's actions ran (or it was handed to its owner with nothing to change)."

    outcome: Literal["handed_off"] = "handed_off"
    actions: list[ActionOutcome] = Field(default_factory=list)
    reviewed: bool = False
    """A human approved the actions first."""


class CallReviewRequested(CallOutcome):
    detail_type: ClassVar[str] = "call.review_requested"
    schema_name: ClassVar[str] = "CallReviewRequested"
    description: ClassVar[str] = "The call waits for a human decision before anything changes."

    outcome: Literal["review_requested"] = "review_requested"
    proposed_actions: list[ProposedAction] = Field(default_factory=list)
    rules_fired: list[RuleId] = Field(default_factory=list)
    """Why a human must decide, as rule ids (``sensitive:refund``, ``match:below-threshold``)."""


class CallReviewRejected(CallOutcome):
    detail_type: ClassVar[str] = "call.review_rejected"
    schema_name: ClassVar[str] = "CallReviewRejected"
    description: ClassVar[str] = "A reviewer said no; the call ended without changing anything."

    outcome: Literal["review_rejected"] = "review_rejected"
    reviewer: str = Field(default="unknown", max_length=120)


class CallReviewEscalated(CallOutcome):
    detail_type: ClassVar[str] = "call.review_escalated"
    schema_name: ClassVar[str] = "CallReviewEscalated"
    description: ClassVar[str] = "Nobody decided in time; the call went to the dead-letter queue for ops."

    outcome: Literal["review_escalated"] = "review_escalated"


class CallNothingToDo(CallOutcome):
    detail_type: ClassVar[str] = "call.nothing_to_do"
    schema_name: ClassVar[str] = "CallNothingToDo"
    description: ClassVar[str] = "The call needs no work (no conversation, or no buying signal)."

    outcome: Literal["nothing_to_do"] = "nothing_to_do"
    reason: RuleId | None = None
    """The rule that decided it (``no-contact``, ``revenue:no-buying-intent``)."""
    follow_up: bool = False
    """The policy named an owner who follows up anyway (an outbound campaign, say)."""


class CallFailed(CallOutcome):
    detail_type: ClassVar[str] = "call.failed"
    schema_name: ClassVar[str] = "CallFailed"
    description: ClassVar[str] = "The call failed after retries and waits on the dead-letter queue."

    outcome: Literal["failed"] = "failed"
    failed_state: str = Field(max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    error: str = Field(max_length=120, pattern=r"^[A-Za-z0-9_.:-]+$")
    """The error name only (``States.Timeout``, ``RetryableError``); its message stays in the dead letter."""


class PartnerRouted(EventDetail):
    detail_type: ClassVar[str] = "partner.routed"
    schema_name: ClassVar[str] = "PartnerRouted"
    description: ClassVar[str] = "A partner event (a Planyo check-in, a timed reminder) routed to its owner."

    partner: Literal["planyo"] = "planyo"
    event: RuleId
    action: Literal["notify", "follow_up"]
    owner: str = Field(max_length=80)
    urgency: Urgency
    record: RecordRef
    dedupe_key: Token
    policy_version: str | None = Field(default=None, max_length=40)
    occurred_at: datetime | None = None


# --- lifecycle signals: what marketing may know ---------------------------------------------


class CustomerRef(Strict):
    """The caller, only as their record in the tool that owns it."""

    tool: Tool
    kind: RecordKind
    record_id: Token


class ProductInterest(Strict):
    product: Label | None = None
    sku: Sku | None = None
    category: Label | None = None
    strength: Literal["weak", "moderate", "strong"]

    @model_validator(mode="after")
    def _names_something(self) -> ProductInterest:
        if not (self.product or self.sku or self.category):
            raise ValueError("a product interest names a product, a SKU or a category")
        return self


class ReturnOutcome(Strict):
    outcome: Literal["returned", "replaced", "refunded", "declined"]
    reason: Literal["damaged", "wrong_item", "missing_item", "unwanted", "other"] = "other"


class FollowUpNeed(Strict):
    channel: Literal["phone", "email", "sms", "whatsapp"]
    due_date: date | None = None
    topic: Literal["callback", "delivery_status", "booking", "other"] = "other"


SignalKind = Literal["product_interest", "return_outcome", "follow_up_need"]


class LifecycleSignal(EventDetail):
    """A safe lifecycle signal: never support details, payment facts, transcripts or caller text."""

    detail_type: ClassVar[str] = "call.lifecycle_signal"
    schema_name: ClassVar[str] = "CallLifecycleSignal"
    description: ClassVar[str] = (
        "A safe lifecycle signal for marketing: product interest, return outcome or follow-up need."
    )

    signal_id: Token
    """Stable per (call, signal): a subscriber de-duplicates on it."""
    call_id: Token
    occurred_at: datetime
    signal: SignalKind
    customer: CustomerRef
    consent: bool | None = None
    """The caller's marketing consent when the call captured one; null when it did not."""
    product_interest: ProductInterest | None = None
    return_outcome: ReturnOutcome | None = None
    follow_up_need: FollowUpNeed | None = None

    @model_validator(mode="after")
    def _one_payload(self) -> LifecycleSignal:
        given = [name for name in ("product_interest", "return_outcome", "follow_up_need") if getattr(self, name)]
        if given != [self.signal]:
            raise ValueError(f"a {self.signal} signal carries exactly its own part, got {given or 'none'}")
        return self


EVENT_MODELS: tuple[type[EventDetail], ...] = (
    CallHandedOff,
    CallReviewRequested,
    CallReviewRejected,
    CallReviewEscalated,
    CallNothingToDo,
    CallFailed,
    PartnerRouted,
    LifecycleSignal,
)
BY_DETAIL_TYPE: dict[str, type[EventDetail]] = {m.detail_type: m for m in EVENT_MODELS}
DETAIL_TYPES: tuple[str, ...] = tuple(BY_DETAIL_TYPE)


def model_for(detail_type: str) -> type[EventDetail]:
    """The model of a detail type; ``KeyError`` naming the known ones."""
    try:
        return BY_DETAIL_TYPE[detail_type]
    except KeyError:
        raise KeyError(f"unknown detail type {detail_type!r} (known: {', '.join(DETAIL_TYPES)})") from None


def parse_detail(detail_type: str, detail: Any) -> EventDetail:
    """Validate a received detail against its model (a field outside the model is an error)."""
    return model_for(detail_type).model_validate(detail)
