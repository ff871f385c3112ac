"""EventBridge archive replay on the embedded stack: only the window, and how many events were sent.

moto's ``Replay.replay_events`` re-sends the whole archive whatever the window.
AWS replays only events whose time lies in ``[EventStartTime, EventEndTime)``;
this shim does the same, and puts the count in the replay's ``StateReason``
(``replayed N events``) so ``handoff replay`` can report it. AWS's
DescribeReplay carries no count, so on AWS the CLI says it is unknown.
(Kept beside the other shims by the cli helper; the install is one line in stack.py.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

COUNT_PREFIX = "replayed "


def _instant(value: Any) -> datetime | None:
    """moto keeps times as epoch seconds (floats or strings) or ISO 8601 strings."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError):
        pass
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def in_window(event: dict[str, Any], start: Any, end: Any) -> bool:
    when, begin, finish = _instant(event.get("time")), _instant(start), _instant(end)
    if when is None or begin is None or finish is None:
        return True  # nothing to compare: behave as moto does
    return begin <= when < finish


def install() -> None:
    """Patch moto's Replay once per process (idempotent)."""
    import time
    import uuid

    from moto.events import models

    replay_class: Any = models.Replay
    if getattr(replay_class, "_handoff_window", False):
        return

    def replay_events(self: Any, archive: Any) -> None:
        backend: Any = getattr(models, "events_backends")[self.account_id][self.region]  # noqa: B009 - not exported
        bus = backend.describe_event_bus(self.destination["Arn"].split("/")[-1])
        sent = 0
        for event in list(archive.events):
            if not in_window(event, self.event_start_time, self.event_end_time):
                continue
            sent += 1
            for rule in bus.rules.values():
                rule.send_to_targets(
                    dict(event, **{"id": str(uuid.uuid4()), "replay-name": self.name}), transform_input=False
                )
        self.state = getattr(models, "ReplayState").COMPLETED  # noqa: B009 - not exported
        self.end_time = time.time()
        self.handoff_sent = sent

    original_describe = replay_class.describe

    def describe(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = original_describe(self)
        if getattr(self, "handoff_sent", None) is not None:
            result["StateReason"] = f"{COUNT_PREFIX}{self.handoff_sent} events"
        return result

    replay_class.replay_events = replay_events
    replay_class.describe = describe
    replay_class._handoff_window = True
