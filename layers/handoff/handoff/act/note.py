"""The short operational summary act writes into the destination tool.

Plain text, because Planyo admin notes and Bookingmood notes are plain text;
redacted, because a partner note must never carry card, bank or tax numbers.
"""

from __future__ import annotations

from handoff.models import HandoffDocument
from handoff.redact import redact_text

NOTE_LIMIT = 3500


def render_note(call_id: str, handoff: HandoffDocument) -> str:
    lines = [f"[Handoff] {handoff.title}"]
    if handoff.caller:
        lines.append(f"Caller: {handoff.caller}")
    if handoff.asked_for:
        lines.append(f"Asked for: {handoff.asked_for}")
    for fact in handoff.established:
        lines.append(f"- {fact}")
    if handoff.reason:
        lines.append(f"Why: {handoff.reason}")
    lines.append(f"Urgency: {handoff.urgency}. Owner: {handoff.owner or 'unassigned'}.")
    if handoff.next_step:
        lines.append(f"Next step: {handoff.next_step}")
    links = dict(handoff.evidence_links)
    links.setdefault("DialNexa call", call_id)
    lines.extend(f"{name}: {target}" for name, target in links.items())
    text = redact_text("\n".join(lines))
    return text if len(text) <= NOTE_LIMIT else text[: NOTE_LIMIT - 1] + "…"
