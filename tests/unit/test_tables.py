"""At 80 columns tables wrap prose and never cut what one must type next."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from handoff_dev.tables import keep_whole

RECORD = "8a7b6c5d-9e0f-4a1b-9c2d-b3c4d5e6f7a8"
EVIDENCE = "phone=+15555550142 (strong) email=elena.marsh@example.com (strong)"


def render(table: Table) -> str:
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the console
    console.print(table)
    return console.export_text()


def test_an_id_column_is_printed_whole_and_the_prose_wraps_without_ellipsis() -> None:
    table = Table(title="Candidates")
    for column in ("record id", "tool", "who/what", "evidence"):
        table.add_column(column)
    table.add_row(RECORD, "bookingmood", "Elena Marsh, Sat 14 June delivery", EVIDENCE)
    text = render(keep_whole(table, "record id"))
    assert RECORD in text
    assert "…" not in text
    last_column = "".join(line.split("│")[-2].strip() for line in text.splitlines() if line.count("│") >= 2)
    assert last_column == EVIDENCE.replace(" ", "")
