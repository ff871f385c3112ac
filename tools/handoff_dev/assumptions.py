"""Every UNCONFIRMED assumption the code relies on, from the one named place in each module.

``python -m handoff_dev.assumptions`` prints the README's list; a test keeps the
README in step with the code.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

MODULES = {
    "DialNexa webhooks": "handoff.ingest.envelope",
    "DialNexa signature": "handoff.ingest.signature",
    "Planyo": "handoff.connectors.planyo",
    "Bookingmood": "handoff.connectors.bookingmood",
    "Plisio": "handoff.connectors.plisio",
    "Billit": "handoff.connectors.billit",
    "OCR Web Service": "handoff.connectors.ocrwebservice",
    "Slack": "handoff.connectors.slack",
    "Slack interactions (approve/reject buttons)": "handoff.slack_interactions",
    "Id formats (match)": "handoff.match.normalise",
    "Planyo callbacks": "handoff.partners.planyo_events",
    "Planyo -> Billit sync": "handoff.partners.customer_sync",
}


def assumptions() -> Iterator[tuple[str, str, list[str]]]:
    for label, module_name in MODULES.items():
        module = importlib.import_module(module_name)
        raw = getattr(module, "ASSUMPTIONS", ())
        items = [str(v) for v in (raw.values() if isinstance(raw, dict) else raw)]
        yield label, module_name, items


def markdown() -> str:
    lines: list[str] = []
    for label, module_name, items in assumptions():
        lines.append(f"**{label}** (`{module_name.replace('.', '/')}.py`, `ASSUMPTIONS`)")
        lines.append("")
        lines.extend(f"- {item}" for item in items)
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
