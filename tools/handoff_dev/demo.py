"""``handoff demo``: every sample call through the real state machine, on this machine."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from handoff.ingest.envelope import CallEvent, parse_webhook
from handoff_dev import ops
from handoff_dev.embedded.stack import PROJECT_ROOT, EmbeddedStack, StackOptions
from handoff_dev.webhooks import post_signed

EVENTS_DIR = PROJECT_ROOT / "events" / "dialnexa"


@dataclass
class DemoRow:
    file: str
    call_id: str
    event: str
    http: int
    view: ops.ExecutionView | None = None


def sample_bodies(directory: Path = EVENTS_DIR) -> list[Path]:
    return sorted(directory.glob("*.json"))


def wait_settled(stack: EmbeddedStack, call_ids: list[str], timeout: float = 90.0) -> dict[str, ops.ExecutionView]:
    """Wait until each execution is terminal or parked on review."""
    sfn = stack.client("stepfunctions")
    views: dict[str, ops.ExecutionView] = {}
    deadline = time.monotonic() + timeout
    pending = list(call_ids)
    while pending and time.monotonic() < deadline:
        still: list[str] = []
        for call_id in pending:
            arn = ops.execution_arn_for(sfn, stack.state_machine_arn, call_id)
            view = ops.describe(sfn, arn)
            views[call_id] = view
            if not view.settled:
                still.append(call_id)
        pending = still
        if pending:
            time.sleep(0.1)
    stack.delivery.wait_idle(timeout=max(1.0, deadline - time.monotonic()))
    return views


def run_demo(console: Console, options: StackOptions | None = None) -> int:
    options = options or StackOptions(port=0, aws_port=0)
    started = time.perf_counter()
    with EmbeddedStack(options) as stack:
        url = f"{stack.api_url}/webhooks/dialnexa"
        rows: list[DemoRow] = []
        for path in sample_bodies():
            body = path.read_bytes()
            envelope = parse_webhook(body)
            status, _, _ = post_signed(url, body, options.webhook_secret)
            call_id = envelope.call.call_id if isinstance(envelope, CallEvent) else "-"
            event = envelope.event if isinstance(envelope, CallEvent) else type(envelope).__name__.lower()
            rows.append(DemoRow(path.name, call_id, event, status))
        views = wait_settled(stack, [r.call_id for r in rows if r.call_id != "-"])
        failed = 0
        table = Table(title="Handoff demo: DialNexa sample calls through the template's state machine")
        for column in ("call id", "event", "HTTP", "execution", "outcome", "path taken"):
            table.add_column(column)
        for row in rows:
            row.view = views.get(row.call_id)
            if row.call_id == "-":
                table.add_row("-", row.event, str(row.http), "-", "acknowledged, nothing to run", "-")
                continue
            if row.view is None or not row.view.settled:
                failed += 1
            execution = row.view.status if row.view else "missing"
            outcome = row.view.outcome if row.view else "not started"
            taken = " > ".join(row.view.path) if row.view else "-"
            table.add_row(row.call_id, row.event, str(row.http), execution, outcome, taken)
        console.print(table)
        console.print(f"demo wall time {time.perf_counter() - started:.1f} s")
    if failed:
        console.print(f"[red]{failed} call(s) did not reach a terminal or waiting state[/red]")
        return 1
    return 0
