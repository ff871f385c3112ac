"""Tables that wrap prose and never cut what one must type next (record ids, call ids, file names)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text


def keep_whole(table: Table, *headers: str) -> Table:
    """Give the named columns the width of their longest cell; every other column wraps (folds), none is cut."""
    for column in table.columns:
        column.overflow = "fold"
        if str(column.header) not in headers:
            continue
        cells = [Text.from_markup(c).plain if isinstance(c, str) else str(c) for c in column.cells]
        column.no_wrap = True
        column.min_width = max([len(c) for c in cells] + [len(str(column.header))])
    return table
