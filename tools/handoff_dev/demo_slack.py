"""The demo's Slack part: each review message is decided by a signed click and then closed in place.

Why a separate module: ``handoff demo`` (demo.py) shows calls and effects; this
shows what the Slack app does with them, against the embedded stack's Slack
sandbox: which channels got messages, and that every review message lost its
Approve/Reject once its decision's outcome arrived (notify's ``chat.update``).
"""

from __future__ import annotations

import time
from typing import Any

import requests
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from handoff.slack_interactions import ACTION_APPROVE
from handoff_dev.policy_files import shipped_policy

REVIEW_BLOCK = "handoff_review"


def _has_buttons(message: dict[str, Any]) -> bool:
    return any(b.get("block_id") == REVIEW_BLOCK for b in message.get("blocks") or [])


def _approver_for(channel: str) -> str | None:
    """The first Slack user the policy lets decide for the team that owns ``channel`` (a group's first member)."""
    from handoff_dev.sandboxes.slack import USERGROUPS

    for spec in shipped_policy().owners.values():
        if spec.slack_channel == channel:
            users = [u for a in spec.approvers for u in (USERGROUPS.get(a, ()) if a.startswith("S") else (a,))]
            return users[0] if users else None
    return None


def decide_reviews_in_slack(stack: Any, timeout: float = 60.0) -> list[tuple[str, int]]:
    """Approve every open review message as its team's approver would; (channel, HTTP status) per click."""
    slack = stack.sandboxes.get("slack")
    if slack is None:
        return []
    clicks: list[tuple[str, int]] = []
    clicked: list[dict[str, Any]] = []
    for message in [m for m in list(slack.messages) if _has_buttons(m)]:
        user = _approver_for(message["channel"])
        if user is None:
            continue
        body, headers = slack.click(message, ACTION_APPROVE, {"id": user, "username": user.lower(), "name": user})
        answer = requests.post(f"{stack.api_url}/slack/interactions", data=body, headers=headers, timeout=30)
        clicks.append((message["channel"], answer.status_code))
        clicked.append(message)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_has_buttons(m) for m in clicked):
        stack.delivery.wait_idle(timeout=5)
        time.sleep(0.2)
    return clicks


def slack_table(console: Console, stack: Any) -> None:
    """Channels used and each review message's state after its decision."""
    slack = stack.sandboxes.get("slack")
    messages = list(getattr(slack, "messages", []) or [])
    reviews = [m for m in messages if _has_buttons(m) or any(_has_buttons(e) for e in m.get("edits") or [])]
    channels = len({m["channel"] for m in messages})
    table = Table(title=f"Slack: {channels} channel(s); review messages after their decision")
    for column in ("channel", "review message now"):
        table.add_column(column)
    for message in reviews:
        state = "[red]still has Approve/Reject[/red]" if _has_buttons(message) else "closed in place (chat.update)"
        table.add_row(escape(message["channel"]), f"{state}: {escape(str(message.get('text', ''))[:90])}")
    console.print(table)
