"""Replay: a window of the EventBridge archive back onto the bus, or webhook bodies to any endpoint.

An archive replay re-delivers what happened (outcome events, partner events) to
every rule of the bus, so notify and other subscribers see them again; it does
not start executions (ingest does that from webhooks), so nothing acts twice.
Posting webhook files is how a lost DialNexa delivery is replayed: ingest's
conditional write turns a duplicate into a 200 that starts nothing.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from handoff_dev.webhooks import DIALNEXA_HEADER, post_signed

REPLAY_NAME_MAX = 64
TERMINAL_REPLAY_STATES = ("COMPLETED", "CANCELLED", "FAILED")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; a time without an offset is read as UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time (e.g. 2025-06-12T09:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_window(start: str, end: str) -> tuple[datetime, datetime]:
    begin, finish = parse_instant(start), parse_instant(end)
    if begin >= finish:
        raise ValueError(f"--from ({begin.isoformat()}) must be before --to ({finish.isoformat()})")
    return begin, finish


def replay_name(begin: datetime, finish: datetime) -> str:
    """Unique and readable: ``handoff-<from>-<to>-<random>``, within EventBridge's 64 characters."""
    stamp = f"handoff-{begin:%Y%m%dT%H%M%S}-{finish:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    return stamp[:REPLAY_NAME_MAX]


@dataclass
class Replay:
    name: str
    archive_arn: str
    bus_arn: str
    begin: datetime
    finish: datetime
    state: str
    reason: str = ""

    @property
    def events_sent(self) -> int | None:
        """How many archived events were replayed, where the endpoint says (the embedded stack does; AWS does not)."""
        found = re.match(r"^replayed (\d+) events?$", self.reason or "")
        return int(found.group(1)) if found else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "replay_name": self.name,
            "archive_arn": self.archive_arn,
            "event_bus_arn": self.bus_arn,
            "from": self.begin.isoformat(),
            "to": self.finish.isoformat(),
            "state": self.state,
            "reason": self.reason,
            "events_sent": self.events_sent,
        }


def archive_for(events: Any, bus_name: str) -> tuple[str, str]:
    """(archive ARN, bus ARN) of the archive that keeps the bus's events."""
    bus_arn = str(events.describe_event_bus(Name=bus_name)["Arn"])
    archives = events.list_archives(EventSourceArn=bus_arn).get("Archives") or []
    enabled = [a for a in archives if a.get("State", "ENABLED") == "ENABLED"]
    if not enabled:
        raise LookupError(f"event bus {bus_name} has no enabled archive (template resource EventArchive)")
    name = enabled[0]["ArchiveName"]
    return str(events.describe_archive(ArchiveName=name)["ArchiveArn"]), bus_arn


def start_replay(events: Any, bus_name: str, begin: datetime, finish: datetime) -> Replay:
    archive_arn, bus_arn = archive_for(events, bus_name)
    name = replay_name(begin, finish)
    answer = events.start_replay(
        ReplayName=name,
        Description=f"handoff replay {begin.isoformat()} .. {finish.isoformat()}",
        EventSourceArn=archive_arn,
        EventStartTime=begin,
        EventEndTime=finish,
        Destination={"Arn": bus_arn},
    )
    return Replay(name, archive_arn, bus_arn, begin, finish, str(answer.get("State", "STARTING")))


def wait_replay(events: Any, replay: Replay, timeout: float = 300.0, poll: float = 2.0) -> Replay:
    """Poll until the replay completes, fails or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        info = events.describe_replay(ReplayName=replay.name)
        replay.state, replay.reason = str(info.get("State")), str(info.get("StateReason") or "")
        if replay.state in TERMINAL_REPLAY_STATES or time.monotonic() >= deadline:
            return replay
        time.sleep(poll)


@dataclass
class Posted:
    path: str
    status: int
    body: str
    ack_ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "status": self.status,
            "ok": self.ok,
            "ack_ms": round(self.ack_ms, 1),
            "body": self.body,
        }


def post_files(paths: list[Path], url: str, secret: str, header: str = DIALNEXA_HEADER) -> list[Posted]:
    """Sign each body exactly as stored and post it; a network failure is reported per file (status 0)."""
    results: list[Posted] = []
    with requests.Session() as session:
        for path in paths:
            try:
                status, text, ack_ms = post_signed(url, path.read_bytes(), secret, header=header, session=session)
            except requests.RequestException as exc:
                results.append(Posted(str(path), 0, f"{type(exc).__name__}: {exc}", 0.0))
                continue
            results.append(Posted(str(path), status, text[:500], ack_ms))
    return results
