"""``handoff demo``: every sample call through the real state machine, on this machine."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from handoff.ingest.envelope import CallEvent, parse_webhook
from handoff_dev import ops
from handoff_dev.demo_slack import decide_reviews_in_slack, slack_table
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


def wait_settled(
    stack: EmbeddedStack,
    call_ids: list[str],
    timeout: float = 90.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, ops.ExecutionView]:
    """Wait until each execution is terminal or parked on review; ``on_progress(settled, total)`` as they do."""
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
        if on_progress is not None:
            on_progress(len(call_ids) - len(pending), len(call_ids))
        if pending:
            time.sleep(0.1)
    stack.delivery.wait_idle(timeout=max(1.0, deadline - time.monotonic()))
    return views


QUIET_STATES = {"Resume", "ChooseMode"}


def key_path(view: ops.ExecutionView) -> str:
    """The states that tell the story (the plumbing states are left out)."""
    return " > ".join(n for n in view.path if n not in QUIET_STATES and not n.startswith("Publish"))


def analysis_grace(stack: EmbeddedStack) -> int:
    """The stack's ``AnalysisGraceSeconds`` (the template's default unless overridden)."""
    assert stack.template is not None
    return int(stack.template.parameters.get("AnalysisGraceSeconds") or 0)


def run_demo(console: Console, options: StackOptions | None = None) -> int:
    options = options or StackOptions(port=0, aws_port=0)
    started = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        starting = progress.add_task("starting the embedded stack", total=1)
        stack = EmbeddedStack(options).start()
        progress.update(starting, completed=1)
    from handoff_dev.cli_events import signal_tail, signals_table

    signals = signal_tail(stack).open()  # a subscriber's rule for the lifecycle signals (events' section)
    try:
        if stack.policies is not None:
            versions = ", ".join(f"{kind} {version}" for kind, version in stack.policies.versions.items())
            console.print(f"policy (AppConfig, deployed from policy/): {versions}")
        grace = analysis_grace(stack)
        if grace:
            # Faithful on purpose: the demo runs the template as deployed, so a call that ends without
            # post-call analysis waits for it as it would on AWS. Say so, and how to skip it.
            console.print(
                f"calls that end without post-call analysis wait {grace} s for it (AnalysisGraceSeconds, as deployed); "
                "handoff demo --analysis-grace-seconds 0 skips the wait"
            )
        url = f"{stack.api_url}/webhooks/dialnexa"
        rows: list[DemoRow] = []
        bodies = sample_bodies()
        with progress:
            posting = progress.add_task("posting signed sample calls", total=len(bodies))
            for path in bodies:
                body = path.read_bytes()
                envelope = parse_webhook(body)
                status, _, _ = post_signed(url, body, options.webhook_secret)
                call_id = envelope.call.call_id if isinstance(envelope, CallEvent) else "-"
                event = envelope.event if isinstance(envelope, CallEvent) else type(envelope).__name__.lower()
                rows.append(DemoRow(path.name, call_id, event, status))
                progress.advance(posting)
            calls = [r.call_id for r in rows if r.call_id != "-"]
            settling = progress.add_task("calls settled (done or waiting)", total=len(calls))
            views = wait_settled(
                stack,
                calls,
                timeout=90.0 + grace,
                on_progress=lambda done, total: progress.update(settling, completed=done, total=total),
            )
        failed = _calls_table(console, rows, views)
        _actions_table(console, views)
        _planyo_flows(console, stack)
        decide_reviews_in_slack(stack)  # each review approved by a signed click, then closed in place
        _notifications_table(console, stack)
        slack_table(console, stack)
        _effects_table(console, stack)
        signals_table(console, signals)
        console.print(f"demo wall time {time.perf_counter() - started:.1f} s")
    finally:
        signals.close()
        stack.stop()
    if failed:
        console.print(f"[red]{failed} call(s) did not reach a terminal or waiting state[/red]")
        return 1
    return 0


def _calls_table(console: Console, rows: list[DemoRow], views: dict[str, ops.ExecutionView]) -> int:
    failed = 0
    table = Table(title="DialNexa sample calls through the template's state machine")
    for column in ("call id", "event", "HTTP", "execution", "outcome", "why", "path taken"):
        table.add_column(column)
    for row in rows:
        row.view = views.get(row.call_id)
        if row.call_id == "-":
            table.add_row("-", row.event, str(row.http), "-", "acknowledged", "verification ping", "-")
            continue
        if row.view is None or not row.view.settled:
            failed += 1
        view = row.view
        execution = view.status if view else "missing"
        outcome = view.outcome if view else "not started"
        taken = key_path(view) if view else "-"
        table.add_row(row.call_id, row.event, str(row.http), execution, outcome, escape(_why(view)), taken)
    console.print(table)
    return failed


def _document(view: ops.ExecutionView | None) -> dict[str, Any]:
    if view is None:
        return {}
    if view.output:
        return view.output
    return view.last_input or {}


def _why(view: ops.ExecutionView | None) -> str:
    decision = _document(view).get("decision") or {}
    reasons = decision.get("reasons") or []
    return "; ".join(reasons[:2])[:160]


def _actions_table(console: Console, views: dict[str, ops.ExecutionView]) -> None:
    table = Table(title="What was done in the tools (sandboxes)")
    for column in ("call id", "action", "status", "record", "detail"):
        table.add_column(column)
    for call_id, view in views.items():
        for result in (_document(view).get("act") or {}).get("results", []):
            record = result.get("record_id") or "-"
            table.add_row(
                call_id, f"{result['tool']}.{result['operation']}", result["status"], record, result.get("detail", "")
            )
    if table.row_count:
        console.print(table)


def _planyo_flows(console: Console, stack: EmbeddedStack) -> None:
    """Planyo reports a new customer and a check-in: the customer reaches Billit once, the check-in its owner."""
    import requests

    from handoff.connectors.planyo import NewUser, PlanyoConnector
    from handoff_dev.embedded.stack import DEV_PLANYO_CALLBACK_TOKEN

    planyo_sandbox = stack.sandboxes.get("planyo")
    if planyo_sandbox is None:
        return
    planyo = PlanyoConnector.from_config(planyo_sandbox.config())
    signup = planyo.add_user(
        NewUser(email="grace.hopper@example.com", first_name="Grace", last_name="Hopper", phone="+15555550111")
    )
    url = f"{stack.api_url}/webhooks/planyo/{DEV_PLANYO_CALLBACK_TOKEN}"
    callbacks = [
        ("new customer", {"notification_type": "user_updated", "user": str(signup.user.user_id), "is_new_user": "1"}),
        (
            "same callback again",
            {"notification_type": "user_updated", "user": str(signup.user.user_id), "is_new_user": "1"},
        ),
        ("reservation checked in", {"notification_type": "checked_in", "reservation": "48213", "status": "1029"}),
    ]
    table = Table(title="Planyo callbacks: customer sync to Billit and routed reservation events")
    for column in ("callback", "HTTP", "answer"):
        table.add_column(column)
    for label, form in callbacks:
        answer = requests.post(url, data=form, timeout=10)
        table.add_row(label, str(answer.status_code), answer.text[:120])
    stack.delivery.wait_idle(timeout=60)
    billit = stack.sandboxes.get("billit")
    synced = [p for p in getattr(billit, "parties", {}).values() if "grace.hopper" in json.dumps(p).lower()]
    table.add_row("Billit customers for grace.hopper@example.com", "-", str(len(synced)))
    console.print(table)


def _notifications_table(console: Console, stack: EmbeddedStack) -> None:
    slack = stack.sandboxes.get("slack")
    messages = list(getattr(slack, "messages", []) or [])
    table = Table(title=f"Notifications posted to Slack ({len(messages)})")
    for column in ("channel", "message"):
        table.add_column(column)
    for message in messages:
        body = message if isinstance(message, dict) else getattr(message, "payload", {})
        text = str(body.get("text", "")).splitlines()[0][:150] if body.get("text") else ""
        table.add_row(str(body.get("channel") or "(webhook default)"), escape(text))
    console.print(table)


def _effects_table(console: Console, stack: EmbeddedStack) -> None:
    table = Table(title="Side effects counted by the sandboxes")
    for column in ("tool", "operation", "count"):
        table.add_column(column)
    for name, sandbox in sorted(stack.sandboxes.items()):
        for operation, count in sorted(sandbox.effects.items()):
            table.add_row(name, operation, str(count))
    console.print(table)
