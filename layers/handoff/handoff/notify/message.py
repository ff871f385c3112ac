"""Build the owner's notification for one outcome: a Slack Block Kit message and an e-mail.

Why a pure builder: what the owner reads is the product (a teammate must never
replay the call), so it is shaped and tested here without Slack or SES; the
notify Lambda only posts what this returns.

What every message carries, per DESIGN "What a handoff says": the outcome and
its urgency, matched caller, affected record (linked), reason, owner, next step,
what was done per action (done / already done / failed, with the partner's
record link), why a review is needed, and evidence links (transcript, recording,
DialNexa call). Every string goes through :func:`handoff.redact.redact_text`,
user text is escaped so it cannot mention ``@channel`` or forge links, and the
caller's e-mail and phone appear only when the routing policy allows it.

Slack limits respected (https://api.slack.com/reference/block-kit/blocks):
header text 150 characters, section text 3000, section field 2000 (10 fields),
context 10 elements, button text 75, button value 2000, URL 3000, 50 blocks per message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field

from handoff.models import (
    ActionResult,
    ActionStatus,
    ActResult,
    Candidate,
    HandoffDocument,
    OutcomeKind,
    RouteDecision,
    Urgency,
)
from handoff.redact import redact_text
from handoff.slack_interactions import ACTION_APPROVE, ACTION_REJECT

__all__ = [
    "ELLIPSIS",
    "Notice",
    "ReviewInfo",
    "SlackMessage",
    "email_message",
    "review_closed_message",
    "slack_message",
]

ELLIPSIS: Final = "…"
HEADER_MAX: Final = 150
SECTION_MAX: Final = 3000
FIELD_MAX: Final = 2000
FIELDS_MAX: Final = 10
CONTEXT_ELEMENTS_MAX: Final = 10
BUTTON_TEXT_MAX: Final = 75
URL_MAX: Final = 3000
BLOCKS_MAX: Final = 50
FALLBACK_MAX: Final = 3000
"""The plain-text ``text`` is what a phone notification shows; keep it short."""
SUBJECT_MAX: Final = 200
LINE_MAX: Final = 600
"""Any one item (a reason, an established fact, an action detail) before it is cut."""
ITEMS_MAX: Final = 12
"""Items listed per section before the rest is summarised as "and n more"."""
WITHHELD: Final = "[contact withheld]"
BUTTON_VALUE_MAX: Final = 2000

OUTCOME_LABELS: Final[dict[OutcomeKind, tuple[str, str]]] = {
    OutcomeKind.HANDED_OFF: (":white_check_mark:", "Done"),
    OutcomeKind.REVIEW_REQUESTED: (":eyes:", "Needs review"),
    OutcomeKind.NOTHING_TO_DO: (":memo:", "Follow-up"),
    OutcomeKind.REJECTED: (":no_entry_sign:", "Rejected in review"),
    OutcomeKind.FAILED: (":x:", "Failed"),
    OutcomeKind.ESCALATED: (":alarm_clock:", "Review overdue"),
    OutcomeKind.PARTNER_ROUTED: (":calendar:", "Partner event"),
}
PARTLY_DONE: Final = (":warning:", "Partly done")
URGENCY_EMOJI: Final[dict[Urgency, str]] = {
    Urgency.LOW: ":white_circle:",
    Urgency.NORMAL: ":large_blue_circle:",
    Urgency.HIGH: ":large_orange_circle:",
    Urgency.CRITICAL: ":red_circle:",
}
STATUS_LABELS: Final[dict[ActionStatus, tuple[str, str]]] = {
    ActionStatus.DONE: (":white_check_mark:", "done"),
    ActionStatus.ALREADY_DONE: (":ballot_box_with_check:", "already done"),
    ActionStatus.SKIPPED: (":fast_forward:", "skipped"),
    ActionStatus.FAILED: (":x:", "failed"),
}
NEXT_STEP_BY_OUTCOME: Final[dict[OutcomeKind, str]] = {
    OutcomeKind.REVIEW_REQUESTED: "Approve or reject below (or `handoff review`); nothing changes until then.",
    OutcomeKind.ESCALATED: "The review is overdue: decide now or reassign it.",
    OutcomeKind.REJECTED: "Nothing was changed in the tools; follow up with the caller if needed.",
    OutcomeKind.FAILED: "Check the error below and redrive the call once the cause is fixed.",
}

_URGENCY_RANK: Final = [Urgency.LOW, Urgency.NORMAL, Urgency.HIGH, Urgency.CRITICAL]
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_NANP_PHONE = re.compile(r"(?<![\w+])(?:\(\d{3}\)\s?|\d{3}[\-. ])\d{3}[\-. ]\d{4}(?!\w)")
_CALLER_CONTACT_TAIL = re.compile(rf"\s*<{re.escape(WITHHELD)}>|,\s*{re.escape(WITHHELD)}")
_SAFE_URL = re.compile(r"^https?://[^\s<>|]+$")


# --------------------------------------------------------------------------- models
class SlackMessage(BaseModel):
    """What the notify Lambda posts: channel (None = the webhook's default), fallback text, blocks."""

    model_config = ConfigDict(frozen=True)

    channel: str | None = None
    text: str
    blocks: list[dict[str, Any]]

    def payload(self) -> dict[str, Any]:
        """The JSON body for ``chat.postMessage`` or an incoming webhook."""
        body: dict[str, Any] = {"text": self.text, "blocks": self.blocks}
        if self.channel:
            body["channel"] = self.channel
        return body


class ReviewInfo(BaseModel):
    """What a reviewer said: filled from ``ReviewOutcome`` or a rejection."""

    reviewer: str = "unknown"
    note: str = ""
    rejection_reason: str = ""


class Notice(BaseModel):
    """Everything one notification is built from (the outcome event's detail).

    ``include_contact_details`` is the routing policy's decision; off by default
    so a missing flag never leaks an e-mail address or phone number.
    """

    model_config = ConfigDict(extra="ignore")

    kind: OutcomeKind
    call_id: str
    document: HandoffDocument
    decision: RouteDecision
    candidate: Candidate | None = None
    act: ActResult | None = None
    review: ReviewInfo | None = None
    error: str | None = None
    include_contact_details: bool = False
    channel: str | None = Field(default=None, description="Overrides the owner's channel.")


# --------------------------------------------------------------------------- text helpers
def _cut(text: str, limit: int) -> str:
    """Shorten to ``limit`` characters, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ELLIPSIS))].rstrip() + ELLIPSIS


def _escape(text: str) -> str:
    """Slack mrkdwn control characters; without this a caller could post ``<!channel>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Cleaner:
    """Redacts every string, and withholds contact details unless the policy allows them."""

    def __init__(self, include_contact_details: bool) -> None:
        self.include_contact_details = include_contact_details

    def __call__(self, value: Any, limit: int = LINE_MAX) -> str:
        text = "" if value is None else str(value)
        text = redact_text(text)
        if not self.include_contact_details:
            text = _withhold_contacts(text)
        return _cut(" ".join(text.split()), limit)

    def caller(self, caller: str | None) -> str:
        if not caller:
            return "Unknown caller"
        text = self(caller)
        if not self.include_contact_details:
            text = _CALLER_CONTACT_TAIL.sub("", text).strip(" ,")
            if not text or text == WITHHELD:
                text = f"Caller {WITHHELD}"
        return text

    def url(self, url: str | None) -> str | None:
        """A link target, or None when it is not a plain http(s) URL once cleaned."""
        if not url:
            return None
        cleaned = redact_text(url.strip())
        if not self.include_contact_details:
            cleaned = _withhold_contacts(cleaned)
        if len(cleaned) > URL_MAX or not _SAFE_URL.match(cleaned):
            return None
        return cleaned


def _withhold_contacts(text: str) -> str:
    """Replace e-mail addresses and phone numbers (international, or North American format)."""
    if "@" in text:
        text = _EMAIL.sub(WITHHELD, text)
    if "+" in text:
        matches = list(phonenumbers.PhoneNumberMatcher(text, None, leniency=phonenumbers.Leniency.POSSIBLE))
        for match in reversed(matches):
            text = text[: match.start] + WITHHELD + text[match.end :]
    return _NANP_PHONE.sub(WITHHELD, text)


def _link(url: str | None, label: str) -> str:
    """``<url|label>`` in mrkdwn, or the escaped label alone when there is no usable URL."""
    if not url:
        return _escape(label)
    return f"<{url}|{_escape(label.replace('|', '/'))}>"


def _humanise(key: str) -> str:
    return key.replace("_", " ").strip().capitalize()


def _lines(items: list[str], limit: int = SECTION_MAX) -> str:
    """Join up to :data:`ITEMS_MAX` lines within ``limit`` characters, counting what is left out."""
    budget = limit - 40  # room for the "... and n more" line
    out: list[str] = []
    size = 0
    for line in items[:ITEMS_MAX]:
        if size + len(line) + 1 > budget:
            break
        out.append(line)
        size += len(line) + 1
    if len(out) < len(items):
        out.append(f"{ELLIPSIS} and {len(items) - len(out)} more")
    return "\n".join(out)


# --------------------------------------------------------------------------- content
class _Content:
    """The message's content once, cleaned, shared by the Slack and e-mail renderers."""

    def __init__(self, notice: Notice) -> None:
        clean = _Cleaner(notice.include_contact_details)
        self.clean = clean
        doc = notice.document
        decision = notice.decision
        emoji, label = OUTCOME_LABELS[notice.kind]
        self.results = list(notice.act.results) if notice.act else []
        if notice.kind == OutcomeKind.HANDED_OFF and any(r.status == ActionStatus.FAILED for r in self.results):
            emoji, label = PARTLY_DONE
        self.kind = notice.kind
        self.outcome_emoji = emoji
        self.outcome_label = label
        self.urgency = max(decision.urgency, doc.urgency, key=_URGENCY_RANK.index)
        self.title = clean(doc.title, HEADER_MAX)
        self.caller = clean.caller(doc.caller)
        candidate = notice.candidate
        record = doc.affected_record or (
            f"{candidate.tool.value} {candidate.kind.value} {candidate.record_id}" if candidate else None
        )
        self.record = clean(record) if record else "No record matched"
        self.record_url = clean.url(doc.record_url or (candidate.record_url if candidate else None))
        self.reason = clean(doc.reason or "; ".join(decision.reasons) or decision.intent.replace("_", " "))
        self.owner = clean(doc.owner or decision.owner.team, 200)
        self.next_step = clean(NEXT_STEP_BY_OUTCOME.get(notice.kind) or doc.next_step or "No further step.")
        self.asked_for = clean(doc.asked_for) if doc.asked_for else ""
        self.established = [clean(fact) for fact in doc.established if fact]
        self.review_reasons = [clean(r) for r in decision.reasons if r]
        self.proposed = [
            clean(
                f"{a.tool.value} {a.operation}" + (f" on {a.target}" if a.target else "") + f": {a.reason}".rstrip(": ")
            )
            for a in decision.actions
        ]
        self.review = notice.review
        self.error = clean(notice.error, 1500) if notice.error else ""
        self.call_id = clean(notice.call_id, 200)
        self.extras = [(clean(_humanise(k), 60), clean(v, 300)) for k, v in _extra_items(doc.extras)]
        self.evidence = _evidence(doc.evidence_links, clean)

    def result_line(self, result: ActionResult, mrkdwn: bool) -> str:
        emoji, status = STATUS_LABELS[result.status]
        what = self.clean(f"{result.tool.value} {result.operation}", 120)
        record = self.clean(result.record_id, 120) if result.record_id else ""
        url = self.clean.url(result.record_url)
        detail = self.clean(result.detail, 300) if result.detail else ""
        if mrkdwn:
            line = f"{emoji} {_escape(what)}: *{status}*"
            if record or url:
                line += f" · {_link(url, record or 'record')}"
            return line + (f" · {_escape(detail)}" if detail else "")
        line = f"- {what}: {status}"
        if record:
            line += f" (record {record})"
        if url:
            line += f" {url}"
        return line + (f" - {detail}" if detail else "")


def _describe_action(tool: str, operation: str, target: str | None, reason: str) -> str:
    text = f"{tool} {operation}" + (f" on {target}" if target else "")
    return f"{text}: {reason}" if reason else text


def _extra_items(extras: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for key, value in extras.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, bool):
            yield key, "yes" if value else "no"
        elif isinstance(value, list | tuple):
            yield key, ", ".join(str(v) for v in value)
        else:
            yield key, str(value)


def _evidence(links: Mapping[str, str], clean: _Cleaner) -> list[tuple[str, str | None, str]]:
    """(label, url or None, text) per evidence link; ids (the DialNexa call id) have no URL."""
    out: list[tuple[str, str | None, str]] = []
    for key, value in links.items():
        label = clean(_humanise(key).replace("Dialnexa", "DialNexa"), 60)
        url = clean.url(value)
        out.append((label, url, "" if url else clean(value, 200)))
    return out


# --------------------------------------------------------------------------- Slack
def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_MAX)}}


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(f"*{label}*\n{value}", FIELD_MAX)}


def _channel(notice: Notice) -> str | None:
    if notice.channel:
        return notice.channel
    owner = notice.decision.owner
    escalate = notice.kind in (OutcomeKind.ESCALATED, OutcomeKind.FAILED) or notice.decision.urgency == Urgency.CRITICAL
    if escalate and owner.escalation_channel:
        return owner.escalation_channel
    return owner.slack_channel


def slack_message(notice: Notice) -> SlackMessage:
    """The Block Kit message for one outcome, within Slack's limits and free of sensitive data."""
    c = _Content(notice)
    urgency = f"{URGENCY_EMOJI[c.urgency]} {c.urgency.value}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "emoji": True,
                "text": _cut(f"{c.outcome_emoji} {URGENCY_EMOJI[c.urgency]} {c.outcome_label}: {c.title}", HEADER_MAX),
            },
        },
        {
            "type": "section",
            "fields": [
                _field("Caller", _escape(c.caller)),
                _field("Record", _link(c.record_url, c.record)),
                _field("Urgency", urgency),
                _field("Owner", _escape(c.owner)),
                _field("Reason", _escape(c.reason)),
                _field("Next step", _escape(c.next_step)),
            ][:FIELDS_MAX],
        },
    ]
    if c.asked_for or c.established:
        lines = [f"*Asked for:* {_escape(c.asked_for)}"] if c.asked_for else []
        lines += [f"• {_escape(fact)}" for fact in c.established]
        blocks.append(_section(_lines(lines)))
    blocks.extend(_outcome_blocks(c))
    if notice.kind == OutcomeKind.REVIEW_REQUESTED:
        blocks.append(_decision_buttons(notice.call_id))
    if c.extras:
        fields = [_field(label, _escape(value)) for label, value in c.extras[:FIELDS_MAX]]
        blocks.append({"type": "section", "fields": fields})
    buttons = _buttons(c)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    evidence = [
        {
            "type": "mrkdwn",
            "text": _cut(f"{_link(url, label)}" if url else f"{_escape(label)}: `{_escape(text)}`", FIELD_MAX),
        }
        for label, url, text in c.evidence
    ]
    if not any(label == "DialNexa call id" for label, _, _ in c.evidence):
        evidence.append({"type": "mrkdwn", "text": f"DialNexa call id: `{_escape(c.call_id)}`"})
    blocks.append({"type": "context", "elements": evidence[:CONTEXT_ELEMENTS_MAX]})
    if len(blocks) > BLOCKS_MAX:
        blocks = [*blocks[: BLOCKS_MAX - 1], _section(f"{ELLIPSIS} message shortened")]
    text = _cut(f"{c.outcome_label} [{c.urgency.value}]: {c.title} · {c.record} · next: {c.next_step}", FALLBACK_MAX)
    return SlackMessage(channel=_channel(notice), text=text, blocks=blocks)


def _outcome_blocks(c: _Content) -> list[dict[str, Any]]:
    """What differs per outcome: what was done, why review, who rejected, what failed."""
    blocks: list[dict[str, Any]] = []
    if c.results:
        lines = [c.result_line(r, mrkdwn=True) for r in c.results]
        blocks.append(_section("*What was done*\n" + _lines(lines, SECTION_MAX - 20)))
    if c.kind in (OutcomeKind.REVIEW_REQUESTED, OutcomeKind.ESCALATED):
        if c.review_reasons:
            lines = [f"• {_escape(r)}" for r in c.review_reasons]
            blocks.append(_section("*Why a human must decide*\n" + _lines(lines, SECTION_MAX - 30)))
        if c.proposed:
            lines = [f"• {_escape(p)}" for p in c.proposed]
            blocks.append(_section("*Proposed on approval*\n" + _lines(lines, SECTION_MAX - 30)))
    if c.kind == OutcomeKind.REJECTED and c.review is not None:
        why = c.clean(c.review.rejection_reason or c.review.note or "no reason given", 1500)
        blocks.append(_section(f"*Rejected by* {_escape(c.clean(c.review.reviewer, 200))}\n*Why:* {_escape(why)}"))
    elif c.review is not None and c.review.note:
        note = c.clean(c.review.note, 1500)
        blocks.append(_section(f"*Reviewer* {_escape(c.clean(c.review.reviewer, 200))}: {_escape(note)}"))
    if c.kind == OutcomeKind.FAILED:
        blocks.append(_section(f"*Error*\n```{_escape(c.error or 'unknown error')}```"))
    return blocks


def _buttons(c: _Content) -> list[dict[str, Any]]:
    """Link buttons (no interactivity needed): open the record, the transcript, the recording."""
    targets: list[tuple[str, str]] = []
    if c.record_url:
        targets.append(("Open record", c.record_url))
    targets += [(label, url) for label, url, _ in c.evidence if url and label in ("Transcript", "Recording")]
    return [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": _cut(label, BUTTON_TEXT_MAX)},
            "url": url,
            "action_id": f"open_{i}",
        }
        for i, (label, url) in enumerate(targets[:5])
    ]


def _decision_buttons(call_id: str) -> dict[str, Any]:
    """Approve / Reject, answered by the review function's ``/slack/interactions`` (Slack signs the click).

    The value is the call id itself (not redacted: it must find the review). Only a
    Slack app with Interactivity pointed at Handoff makes the buttons work.
    """

    def button(text: str, action_id: str, style: str) -> dict[str, Any]:
        return {
            "type": "button",
            "text": {"type": "plain_text", "text": text},
            "action_id": action_id,
            "value": _cut(call_id, BUTTON_VALUE_MAX),
            "style": style,
        }

    reject = button("Reject", ACTION_REJECT, "danger")
    reject["confirm"] = {
        "title": {"type": "plain_text", "text": "Reject this call?"},
        "text": {"type": "plain_text", "text": "Nothing proposed will be done and the owner is told."},
        "confirm": {"type": "plain_text", "text": "Reject"},
        "deny": {"type": "plain_text", "text": "Cancel"},
        "style": "danger",
    }
    return {
        "type": "actions",
        "block_id": "handoff_review",
        "elements": [button("Approve", ACTION_APPROVE, "primary"), reject],
    }


# --------------------------------------------------------------------------- e-mail
def email_message(notice: Notice) -> tuple[str, str]:
    """(subject, plain-text body) for the optional SES e-mail; same content as the Slack message."""
    c = _Content(notice)
    subject = _cut(f"[{c.urgency.value.upper()}] {c.outcome_label}: {c.title}", SUBJECT_MAX)
    # A header must be one line: nothing a caller said may inject another header.
    subject = " ".join(subject.split())
    lines = [
        f"{c.outcome_label}: {c.title}",
        "",
        f"Caller:    {c.caller}",
        f"Record:    {c.record}" + (f" {c.record_url}" if c.record_url else ""),
        f"Urgency:   {c.urgency.value}",
        f"Owner:     {c.owner}",
        f"Reason:    {c.reason}",
        f"Next step: {c.next_step}",
    ]
    if c.asked_for:
        lines += ["", f"Asked for: {c.asked_for}"]
    if c.established:
        lines += ["", "Established:", *[f"- {fact}" for fact in c.established[:ITEMS_MAX]]]
    if c.results:
        lines += ["", "What was done:", *[c.result_line(r, mrkdwn=False) for r in c.results]]
    if c.kind in (OutcomeKind.REVIEW_REQUESTED, OutcomeKind.ESCALATED):
        if c.review_reasons:
            lines += ["", "Why a human must decide:", *[f"- {r}" for r in c.review_reasons]]
        if c.proposed:
            lines += ["", "Proposed on approval:", *[f"- {p}" for p in c.proposed]]
    if c.review is not None:
        why = c.review.rejection_reason or c.review.note
        if c.kind == OutcomeKind.REJECTED or why:
            lines += ["", f"Reviewer: {c.clean(c.review.reviewer, 200)}", f"Note: {c.clean(why or 'none', 1500)}"]
    if c.kind == OutcomeKind.FAILED:
        lines += ["", f"Error: {c.error or 'unknown error'}"]
    if c.extras:
        lines += ["", *[f"{label}: {value}" for label, value in c.extras]]
    lines += ["", "Evidence:"]
    lines += [f"- {label}: {url or text}" for label, url, text in c.evidence]
    if not any(label == "DialNexa call id" for label, _, _ in c.evidence):
        lines.append(f"- DialNexa call id: {c.call_id}")
    return subject, "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- closing a review message
CLOSED_LABELS: Final[dict[OutcomeKind, str]] = {
    OutcomeKind.HANDED_OFF: ":white_check_mark: Approved",
    OutcomeKind.REJECTED: ":no_entry_sign: Rejected",
    OutcomeKind.ESCALATED: ":alarm_clock: Nobody decided in time",
}


def review_closed_message(notice: Notice, outcome_channel: str | None = None) -> SlackMessage:
    """The review message once its decision is known: who decided, what was done, links; no buttons.

    Built from the decision's own notice (what was done, the reviewer), so the
    review message and the outcome message never disagree.
    """
    c = _Content(notice)
    label = CLOSED_LABELS.get(notice.kind, c.outcome_label)
    who = c.clean(notice.review.reviewer, 200) if notice.review is not None else ""
    if notice.kind == OutcomeKind.ESCALATED:
        line = f"*{label}*: the call is on the dead-letter queue (`handoff dlq show {_escape(c.call_id)}`)."
    else:
        line = f"*{label}*" + (f" by {_escape(who)}" if who else "")
        if notice.kind == OutcomeKind.REJECTED and notice.review is not None:
            why = c.clean(notice.review.rejection_reason or notice.review.note or "", 500)
            line += f": {_escape(why)}" if why else ""
    if outcome_channel:
        line += f" Outcome posted in <#{_escape(outcome_channel)}>."
    body = slack_message(notice)
    closed = [
        _section(f"*Review closed* · {line}"),
        *(b for b in body.blocks if b.get("block_id") != "handoff_review"),
    ][:BLOCKS_MAX]
    text = _cut(f"Review closed: {label.split(' ', 1)[-1]} · {c.title}", FALLBACK_MAX)
    return SlackMessage(channel=body.channel, text=text, blocks=closed)
