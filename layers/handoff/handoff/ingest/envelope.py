"""DialNexa webhook bodies -> one typed envelope with a normalised call.

DialNexa documents several envelopes that disagree on names (reference
dialnexa-webhooks.md §1, §6, §7), so this module sniffs the shape of each body
instead of assuming one:

* Variant A: ``event_type`` + ``payload.call`` (snake_case names; what is live today);
* Variant B: flat body with ``event`` (dotted names), ``session_id`` as the call id;
* Variant C: dotted subscription names (``call.completed`` ...) with the call at
  ``call``, ``payload.call``, ``data`` or the root;
* "flat": the third-party shape with ``call_id`` at the root and no event name;
* the verification ping ``{message, timestamp}``;
* any other named event (``alert.triggered``, ``campaign.completed`` ...) becomes
  :class:`UnknownEvent`: acknowledged and recorded, nothing started.

Only two things make a body malformed: it is not a JSON object, or a call event
has no usable call id. Every other field is optional and tolerant: a value of
the wrong type is treated as absent, unknown enum values are kept as strings.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from handoff.ingest import limits
from handoff.models import CallSummary

# UNCONFIRMED facts this module relies on (reference dialnexa-webhooks.md §1, §2.2, §7, §9).
ASSUMPTIONS: Final[dict[str, str]] = {
    "ping_shape": (
        "The verification ping is {message, timestamp} (secondary source only); any body with a "
        "string 'message', no event name and no call object is taken as the ping, timestamp optional."
    ),
    "variant_c_bodies": (
        "Bodies of call.completed / call.failed / call.no_answer subscriptions are undocumented; "
        "the call is looked for at payload.call, call, data, then the root."
    ),
    "status_from_event_name": (
        "When a body has no call status, the event name supplies it: call.completed -> completed, "
        "call.failed -> failed, call.no_answer -> no_answer, call_initiated/call.started -> initiated."
    ),
    "variant_b_phone": (
        "Variant B's phone_number is taken as the caller's number; the docs do not say whether it is "
        "the caller or the DialNexa line (§7.11)."
    ),
    "flat_shape": (
        "A body with no event name and a root call_id (third-party Make.com shape) is a finished-call "
        "record: call.ended, or call.started when its status is initiated."
    ),
    "transcript_shapes": (
        "Besides the documented string, transcripts may be a list of turns {role|speaker|user, "
        "text|message|content} or a role-keyed object (third-party receiver, secondary)."
    ),
    "timestamp_as_initiated_at": (
        "Variant B's 'timestamp' (event time) stands in for initiated_at when nothing better is sent; "
        "merge keeps the earliest time seen."
    ),
    "duration_units": (
        "duration / duration_seconds / duration_sec are seconds, duration_ms milliseconds and "
        "call_length minutes (Bland-style)."
    ),
}


# --------------------------------------------------------------------------- errors


class InvalidWebhook(ValueError):  # noqa: N818 - named like its subclasses, whose names are the API
    """Base for bodies ingest refuses; the message names the problem and is safe to return."""


class MalformedWebhook(InvalidWebhook):
    """The body is not a DialNexa webhook we can read (answer 400)."""


class OversizedWebhook(InvalidWebhook):
    """The body is larger than :data:`limits.MAX_BODY_BYTES` (answer 413)."""


# --------------------------------------------------------------------------- event names


class EventName(StrEnum):
    """The call events Handoff handles, whatever spelling DialNexa used."""

    CALL_STARTED = "call.started"
    CALL_ENDED = "call.ended"
    ANALYSIS_READY = "call.analysis_ready"
    TRANSCRIPT_READY = "call.transcript_ready"
    TRANSFER_COMPLETED = "call.transfer_completed"


EVENT_ALIASES: Final[Mapping[str, EventName]] = {
    "call_initiated": EventName.CALL_STARTED,
    "call_started": EventName.CALL_STARTED,
    "call.started": EventName.CALL_STARTED,
    "call_ended": EventName.CALL_ENDED,
    "call.ended": EventName.CALL_ENDED,
    "call.completed": EventName.CALL_ENDED,
    "call.failed": EventName.CALL_ENDED,
    "call.no_answer": EventName.CALL_ENDED,
    "call.analysis_ready": EventName.ANALYSIS_READY,
    "call_analyzed": EventName.ANALYSIS_READY,
    "call.transcript_ready": EventName.TRANSCRIPT_READY,
    "transfer_completed": EventName.TRANSFER_COMPLETED,
}
"""Raw event names (lower-cased) -> normalised name. Anything else is an UnknownEvent."""

_STATUS_FROM_EVENT: Final[Mapping[str, str]] = {
    "call_initiated": "initiated",
    "call.started": "initiated",
    "call_started": "initiated",
    "call.completed": "completed",
    "call.failed": "failed",
    "call.no_answer": "no_answer",
}

_VARIANT_C_NAMES: Final = frozenset({"call.completed", "call.failed", "call.no_answer"})

_STARTS_EXECUTION: Final = frozenset({EventName.CALL_ENDED, EventName.ANALYSIS_READY})


def starts_execution(event: EventName | str) -> bool:
    """True for events that start the pipeline (call ended, analysis ready); others only merge."""
    return event in _STARTS_EXECUTION


# --------------------------------------------------------------------------- value coercion

T = TypeVar("T")


def _text(value: Any, cap: int = limits.MAX_FIELD_BYTES) -> str | None:
    """A stripped string capped at ``cap`` UTF-8 bytes, or None for anything else (wrong type = absent)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return limits.clip_utf8(value, cap) if value else None


def _token(value: Any) -> str | None:
    """An enum-like value (status, direction): lower-cased, unknown values kept."""
    text = _text(value)
    return text.lower() if text else None


def _phone(value: Any) -> str | None:
    """A phone number as sent (digits with or without '+'); numbers sent as JSON ints are kept."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    return _text(value, 64)


def _number(value: Any) -> float | None:
    """A finite, non-negative number, from a JSON number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) and result >= 0 else None


def _datetime(value: Any) -> datetime | None:
    """An aware datetime from ISO-8601 text or epoch seconds/milliseconds; naive means UTC."""
    parsed: datetime
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) / 1000 if abs(value) > 1e11 else float(value)
        try:
            parsed = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _url(value: Any) -> str | None:
    """An http(s) URL; anything else (javascript:, relative paths) is dropped."""
    text = _text(value, limits.MAX_URL_BYTES)
    if text is None or not text.lower().startswith(("https://", "http://")):
        return None
    return text


def _first(obj: Mapping[str, Any], keys: tuple[str, ...], convert: Callable[[Any], T | None]) -> T | None:
    """The first key whose value converts to something usable."""
    for key in keys:
        if key in obj:
            converted = convert(obj[key])
            if converted is not None:
                return converted
    return None


def _duration(obj: Mapping[str, Any]) -> float | None:
    seconds = _first(obj, ("duration_seconds", "duration", "duration_sec"), _number)
    if seconds is not None:
        return float(seconds)
    millis = _number(obj.get("duration_ms"))
    if millis is not None:
        return millis / 1000
    minutes = _number(obj.get("call_length"))
    return _number(minutes * 60) if minutes is not None else None  # a huge call_length must not overflow to inf


_ROLE_KEYS: Final = ("role", "speaker", "user")
_TURN_TEXT_KEYS: Final = ("text", "message", "content")


class _Lines:
    """Transcript lines joined up to :data:`limits.MAX_TRANSCRIPT_BYTES`.

    Counting while joining matters: a role-keyed transcript repeats its role before
    every part, so the joined text can be many times the body; we stop at the cap.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.size = 0

    def add(self, line: str) -> bool:
        """Append a line; False once the cap is reached (the caller stops)."""
        room = limits.MAX_TRANSCRIPT_BYTES - self.size - (1 if self.lines else 0)
        if room <= 0:
            return False
        clipped = limits.clip_utf8(line, room)
        self.lines.append(clipped)
        self.size += limits.utf8_len(clipped) + (1 if len(self.lines) > 1 else 0)
        return clipped == line

    def text(self) -> str | None:
        text = "\n".join(self.lines).strip()
        return text or None


def _transcript(value: Any) -> str | None:
    """Transcript text from a string, a list of turns, or a role-keyed object; capped in bytes."""
    lines = _Lines()
    if isinstance(value, str):
        text = value.strip()
        return limits.clip_utf8(text, limits.MAX_TRANSCRIPT_BYTES) if text else None
    if isinstance(value, list):
        for turn in value:
            if isinstance(turn, str) and turn.strip():
                line = turn.strip()
            elif isinstance(turn, dict):
                said = _first(turn, _TURN_TEXT_KEYS, _text_uncapped)
                if said is None:
                    continue
                role = _first(turn, _ROLE_KEYS, _text)
                line = f"{role}: {said}" if role else said
            else:
                continue
            if not lines.add(line):
                break
    elif isinstance(value, dict):
        for role, said in value.items():
            parts = said if isinstance(said, list) else [said]
            for part in parts:
                if isinstance(part, str) and part.strip():
                    name = limits.clip_utf8(role.strip(), limits.MAX_FIELD_BYTES)
                    if not lines.add(f"{name}: {part.strip()}" if name else part.strip()):
                        return lines.text()
    else:
        return None
    return lines.text()


def _text_uncapped(value: Any) -> str | None:
    return _text(value, limits.MAX_TRANSCRIPT_BYTES)


def _clean_value(value: Any, depth: int) -> Any:
    """An analysis value with "not provided" (None, blank string) as None; strings capped."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        return limits.clip_utf8(text, limits.MAX_ANALYSIS_STRING_BYTES) if text else None
    if depth >= limits.MAX_ANALYSIS_DEPTH:
        return None
    if isinstance(value, list):
        items = (_clean_value(item, depth + 1) for item in value[: limits.MAX_ANALYSIS_LIST_ITEMS])
        cleaned_list = [item for item in items if item is not None]
        return cleaned_list or None
    if isinstance(value, dict):
        return _clean_mapping(value, depth + 1) or None
    return None


def _clean_mapping(value: Mapping[Any, Any], depth: int = 0) -> dict[str, Any]:
    """Drop not-provided values, cap strings, keep at most MAX_ANALYSIS_KEYS keys (body order)."""
    cleaned: dict[str, Any] = {}
    for key, raw in value.items():
        if len(cleaned) >= limits.MAX_ANALYSIS_KEYS:
            break
        if not isinstance(key, str) or not key.strip() or limits.utf8_len(key) > limits.MAX_ANALYSIS_KEY_BYTES:
            continue
        item = _clean_value(raw, depth)
        if item is not None:
            cleaned[key] = item
    return cleaned


_ANALYSIS_KEYS: Final = ("post_call_analysis", "analysis", "json_output", "extracted_data", "call_analysis")


def _analysis(obj: Mapping[str, Any]) -> dict[str, Any]:
    for key in _ANALYSIS_KEYS:
        value = obj.get(key)
        if isinstance(value, dict):
            cleaned = _clean_mapping(value)
            if cleaned:
                return cleaned
    return {}


def _transfer(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    value = _first(obj, ("transfer", "call_transfer"), lambda v: v if isinstance(v, dict) else None)
    if value is None:
        return None
    return _clean_mapping(value) or None


def _direction(obj: Mapping[str, Any]) -> str | None:
    direction = _first(obj, ("direction", "call_direction"), _token)
    if direction is None and isinstance(obj.get("inbound"), bool):
        direction = "inbound" if obj["inbound"] else "outbound"
    return direction


def _caller_phone(
    obj: Mapping[str, Any], direction: str | None, from_number: str | None, to_number: str | None
) -> str | None:
    explicit = _first(obj, ("caller_phone", "phone_number"), _phone)
    if explicit is not None:
        return explicit
    if direction == "inbound":
        return from_number
    if direction == "outbound":
        return to_number
    return None


def _normalise_call_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Map every documented spelling of a call field to :class:`Call`'s names.

    Canonical names come first in each lookup, so a dumped Call validates back
    to itself (round trip through the call store).
    """
    direction = _direction(obj)
    from_number = _first(obj, ("from_number", "from"), _phone)
    to_number = _first(obj, ("to_number", "to"), _phone)
    raw_id = next((obj[key] for key in ("call_id", "id", "session_id") if obj.get(key) is not None), None)
    return {
        "call_id": raw_id,
        "direction": direction,
        "type": _first(obj, ("type", "call_type"), _token),
        "status": _first(obj, ("status", "call_status"), _token),
        "category": _first(obj, ("category",), _token),
        "category_id": _first(obj, ("category_id",), _text),
        "from_number": from_number,
        "to_number": to_number,
        "caller_phone": _caller_phone(obj, direction, from_number, to_number),
        "agent_id": _first(obj, ("agent_id",), _text),
        "workspace_id": _first(obj, ("workspace_id",), _text),
        "initiated_at": _first(obj, ("initiated_at", "createdAt", "created_at", "timestamp"), _datetime),
        "duration_seconds": _duration(obj),
        "hangup_reason": _first(obj, ("hangup_reason", "end_reason", "disconnection_reason"), _token),
        "transcript": _first(obj, ("transcript", "transcripts", "concatenated_transcript"), _transcript),
        "summary": _first(obj, ("summary",), lambda v: _text(v, limits.MAX_SUMMARY_BYTES)),
        "recording_url": _first(obj, ("recording_url",), _url),
        "transfer": _transfer(obj),
        "analysis": _analysis(obj),
        "last_event": _first(obj, ("last_event",), _text),
    }


# --------------------------------------------------------------------------- the call


_STATUS_RANK: Final[Mapping[str, int]] = {
    **dict.fromkeys(("created", "queued", "initiated", "sent", "received", "ringing"), 0),
    **dict.fromkeys(
        (
            "completed",
            "hangup",
            "ended",
            "failed",
            "no_answer",
            "did_not_pick",
            "busy",
            "cancelled",
            "canceled",
            "retry_expired",
            "voicemail",
            "transferred",
            "rejected",
        ),
        2,
    ),
}
"""How far along a status is: 0 started, 1 in progress (also unknown values), 2 terminal."""


def _rank(status: str | None) -> int:
    if status is None:
        return -1
    return _STATUS_RANK.get(status, 1)


class Call(BaseModel):
    """The normalised call: every DialNexa spelling mapped to one name, all fields optional but the id.

    Validating any raw call object (or a dumped Call) goes through the same
    tolerant mapping, so ``Call.model_validate(item)`` works on the call store's items.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    call_id: str = Field(min_length=1, max_length=limits.MAX_CALL_ID_BYTES)
    direction: str | None = None
    type: str | None = None
    status: str | None = None
    category: str | None = None
    category_id: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    caller_phone: str | None = None
    agent_id: str | None = None
    workspace_id: str | None = None
    initiated_at: datetime | None = None
    duration_seconds: float | None = None
    hangup_reason: str | None = None
    transcript: str | None = None
    summary: str | None = None
    recording_url: str | None = None
    transfer: dict[str, Any] | None = None
    analysis: dict[str, Any] = Field(default_factory=dict)
    last_event: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        return _normalise_call_fields(data) if isinstance(data, Mapping) else data

    @property
    def caller_phone_raw(self) -> str | None:
        """The caller's number exactly as DialNexa sent it (E.164 normalisation happens in match)."""
        return self.caller_phone

    @property
    def is_terminal(self) -> bool:
        """True once the call has a final status (completed, hangup, failed ...)."""
        return _rank(self.status) == 2

    def to_summary(self, analysis_grace_seconds: int = 0, *, event: str | None = None) -> CallSummary:
        """The compact view that travels through the state machine (no transcript, capped texts)."""
        transferred_to = (self.transfer or {}).get("destination")
        return CallSummary(
            call_id=self.call_id,
            event=event or self.last_event or "unknown",
            status=self.status,
            direction=self.direction,
            category=self.category,
            caller_phone=self.caller_phone,
            agent_id=self.agent_id,
            initiated_at=self.initiated_at,
            duration_seconds=self.duration_seconds,
            hangup_reason=self.hangup_reason,
            summary=limits.clip_escaped(self.summary, limits.STATE_SUMMARY_BYTES) if self.summary else None,
            recording_url=self.recording_url,
            call_url=None,
            transferred_to=transferred_to if isinstance(transferred_to, str) else None,
            analysis=_state_analysis(self.analysis),
            has_transcript=bool(self.transcript),
            analysis_grace_seconds=analysis_grace_seconds,
        )


def _state_analysis(analysis: Mapping[str, Any]) -> dict[str, Any]:
    """Analysis for the state machine: strings capped harder, large nested values left out.

    Every size is ASCII-escaped JSON bytes (``json.dumps`` default), the most any
    serialiser on the way writes, and the whole is bounded too: 50 keys of 500
    Cyrillic letters each would otherwise be 150 KB of state.
    """
    small: dict[str, Any] = {}
    total = 2
    for key, value in analysis.items():
        if isinstance(value, str):
            value = limits.clip_escaped(value, limits.STATE_ANALYSIS_VALUE_BYTES)
        elif isinstance(value, dict | list) and (
            len(json.dumps(value, separators=(",", ":"))) > limits.STATE_ANALYSIS_NESTED_BYTES
        ):
            continue
        size = len(json.dumps({key: value}, separators=(",", ":")))
        if total + size > limits.STATE_ANALYSIS_TOTAL_BYTES:
            continue
        small[key] = value
        total += size
    return small


_IDENTITY_FIELDS: Final = (
    "direction",
    "type",
    "category",
    "category_id",
    "from_number",
    "to_number",
    "caller_phone",
    "agent_id",
    "workspace_id",
)
_CONTENT_FIELDS: Final = ("duration_seconds", "hangup_reason", "transcript", "summary", "recording_url", "transfer")


def merge_calls(existing: Call, update: Call) -> Call:
    """Fold a later event into the call record without ever moving it backwards.

    * status only moves forward (started < in progress < terminal); the first
      terminal status stays;
    * identity fields (numbers, direction, agent) keep the first value seen, except
      that a caller number backed by a known direction replaces one that was not;
    * content fields (summary, transcript, recording, duration ...) take the
      update's value when it has one, unless the update is from an earlier stage
      (a late ``call_initiated``), which may only fill gaps;
    * analysis keys are merged, the update's non-empty values winning;
    * initiated_at keeps the earliest time seen.
    """
    if update.call_id != existing.call_id:
        raise ValueError("cannot merge events of different calls")
    backwards = update.status is not None and (
        _rank(update.status) < _rank(existing.status)
        or (existing.is_terminal and update.is_terminal and update.status != existing.status)
    )
    merged: dict[str, Any] = {}
    for name in _IDENTITY_FIELDS:
        merged[name] = getattr(existing, name) if getattr(existing, name) is not None else getattr(update, name)
    if existing.direction is None and update.direction is not None and update.caller_phone is not None:
        # A caller number derived from a known direction beats one taken from Variant B's ambiguous phone_number.
        merged["caller_phone"] = update.caller_phone
    for name in _CONTENT_FIELDS:
        old, new = getattr(existing, name), getattr(update, name)
        merged[name] = old if new is None or (backwards and old is not None) else new
    merged["status"] = existing.status if backwards or update.status is None else update.status
    times = [t for t in (existing.initiated_at, update.initiated_at) if t is not None]
    merged["initiated_at"] = min(times) if times else None
    analysis = {**existing.analysis, **update.analysis}
    merged["analysis"] = dict(list(analysis.items())[: limits.MAX_ANALYSIS_KEYS])
    merged["last_event"] = update.last_event or existing.last_event
    return existing.model_copy(update=merged)


# --------------------------------------------------------------------------- execution names

_EXECUTION_NAME_OK: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{limits.EXECUTION_NAME_MAX_CHARS}}}")
_EXECUTION_NAME_BAD_CHARS: Final = re.compile(r"[^A-Za-z0-9_-]+")
_DIGEST_CHARS: Final = 20
_HASHED_TAIL: Final = re.compile(rf"--[0-9a-f]{{{_DIGEST_CHARS}}}\Z")
_REDRIVE_TAIL: Final = re.compile(r"-redrive-[0-9]+\Z")
REDRIVE_MARK: Final = "-redrive-"


def _digest(domain: str, value: str) -> str:
    """80 bits of SHA-256 over a domain-separated value (call ids and redrives never share an input)."""
    data = f"{domain}\x00{value}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:_DIGEST_CHARS]


def _hashed_name(domain: str, value: str, readable: str) -> str:
    cleaned = _EXECUTION_NAME_BAD_CHARS.sub("-", readable).strip("-") or "call"
    room = limits.EXECUTION_NAME_MAX_CHARS - _DIGEST_CHARS - 2
    return f"{cleaned[:room].rstrip('-')}--{_digest(domain, value)}"


def execution_name(call_id: str) -> str:
    """A Step Functions execution name for the call, injective over call ids.

    Names fall in three disjoint families, so no two ids (and no id and a redrive)
    ever share one:

    * the id itself, when it is a valid name that ends neither like a hashed name
      (``--`` + 20 hex digits) nor like a redrive (``-redrive-<n>``);
    * every other id: cleaned to ``[A-Za-z0-9_-]``, then ``--`` and 80 bits of
      SHA-256 of the original id, so the mapping is stable across deliveries
      (that is what makes the start exactly-once);
    * redrives: :func:`redrive_execution_name`.
    """
    if _EXECUTION_NAME_OK.fullmatch(call_id) and not _HASHED_TAIL.search(call_id) and not _REDRIVE_TAIL.search(call_id):
        return call_id
    return _hashed_name("call", call_id, call_id)


def redrive_execution_name(base: str, attempt: int) -> str:
    """The ``attempt``-th redrive of the execution named ``base`` (an :func:`execution_name`).

    ``<base>-redrive-<n>`` when that fits in 80 characters: no execution name ends
    like that, and the suffix parses back uniquely. Longer bases get a hashed name
    over (attempt, base), so two long ids that share their first 70 characters
    still get two redrive names.
    """
    if attempt < 1:
        raise ValueError("redrive attempts count from 1")
    readable = f"{base}{REDRIVE_MARK}{attempt}"
    if len(readable) <= limits.EXECUTION_NAME_MAX_CHARS:
        return readable
    return _hashed_name(f"redrive{attempt}", base, f"{base[:40]}-r{attempt}")


# --------------------------------------------------------------------------- envelopes


class CallEvent(BaseModel):
    """A call event we handle; ``call`` is the normalised call from this one body."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["call"] = "call"
    variant: Literal["A", "B", "C", "flat"]
    event: EventName
    raw_event: str | None = None
    call: Call

    @property
    def starts_execution(self) -> bool:
        return starts_execution(self.event)


class Ping(BaseModel):
    """DialNexa's verification request: answer 2xx or the URL is not saved."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["ping"] = "ping"
    message: str
    timestamp: datetime | None = None


class UnknownEvent(BaseModel):
    """A named event Handoff does not act on: acknowledged and recorded, nothing started."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["unknown"] = "unknown"
    raw_event: str
    call_id: str | None = None


Envelope = Annotated[CallEvent | Ping | UnknownEvent, Field(discriminator="kind")]
ENVELOPE_ADAPTER: Final[TypeAdapter[CallEvent | Ping | UnknownEvent]] = TypeAdapter(Envelope)
"""Validates a dumped envelope back (``ENVELOPE_ADAPTER.validate_python(item)``)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard constant {name}")


def _load_json(raw: bytes) -> Any:
    if len(raw) > limits.MAX_BODY_BYTES:
        raise OversizedWebhook(f"body is {len(raw)} bytes; the limit is {limits.MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedWebhook(f"body is not valid UTF-8: invalid byte at offset {exc.start}") from None
    text = text.removeprefix("\ufeff")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
        # Lone surrogate escapes ("\ud800") decode fine but can never be stored or logged as UTF-8.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except json.JSONDecodeError as exc:
        raise MalformedWebhook(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeEncodeError:
        raise MalformedWebhook("body is not valid JSON: it contains an unpaired surrogate escape") from None
    except RecursionError:
        raise MalformedWebhook("body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise MalformedWebhook(f"body is not valid JSON: {exc}") from None
    return data


_JSON_TYPE_NAMES: Final[Mapping[type, str]] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
    dict: "object",
}


def _json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _event_name(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(key, raw name): ``event_type`` wins over ``event``; blank names count as absent."""
    for key in ("event_type", "event"):
        if key not in body or body[key] is None:
            continue
        value = body[key]
        if not isinstance(value, str):
            raise MalformedWebhook(f"{key} must be a string, got {_json_type(value)}")
        if value.strip():
            return key, value.strip()
    return None, None


def _locate_call(body: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """Where the call object is: (path, object); None when the body has no call object."""
    payload = body.get("payload")
    if isinstance(payload, dict) and isinstance(payload.get("call"), dict):
        return "payload.call", payload["call"]
    for key in ("call", "data"):
        if isinstance(body.get(key), dict):
            return key, body[key]
    return None


_NESTED_ID_KEYS: Final = ("id", "call_id", "session_id")
_ROOT_ID_KEYS: Final = ("call_id", "session_id")  # a root "id" may be a delivery id, never the call's


def _call_id(
    body: Mapping[str, Any], located: tuple[str, Mapping[str, Any]] | None, expected: str | None = None
) -> tuple[str, Any]:
    """(path, raw value) of the call id; the value is None when no id key is present.

    ``expected`` names the documented place of the id, used in the message when none is found.
    """
    if located is not None:
        path, obj = located
        for key in _NESTED_ID_KEYS:
            if obj.get(key) is not None:
                return f"{path}.{key}", obj[key]
    for key in _ROOT_ID_KEYS:
        if body.get(key) is not None:
            return key, body[key]
    if located is not None:
        return f"{located[0]}.id", None
    return expected or "call id (call_id or session_id)", None


def _valid_call_id(path: str, value: Any) -> str:
    if value is None:
        raise MalformedWebhook(f"{path} is missing")
    if not isinstance(value, str):
        raise MalformedWebhook(f"{path} must be a string, got {_json_type(value)}")
    if not value.strip():
        raise MalformedWebhook(f"{path} is empty")
    if limits.utf8_len(value.strip()) > limits.MAX_CALL_ID_BYTES:
        raise MalformedWebhook(f"{path} is longer than {limits.MAX_CALL_ID_BYTES} bytes (UTF-8)")
    return value.strip()


def _call_event(
    body: Mapping[str, Any],
    located: tuple[str, Mapping[str, Any]] | None,
    variant: Literal["A", "B", "C", "flat"],
    event: EventName,
    raw_event: str | None,
) -> CallEvent:
    path, raw_id = _call_id(body, located, "payload.call.id" if variant == "A" else None)
    call_id = _valid_call_id(path, raw_id)
    obj: dict[str, Any] = dict(located[1]) if located is not None else dict(body)
    payload = body.get("payload")
    if isinstance(payload, dict) and "call_transfer" not in obj and isinstance(payload.get("call_transfer"), dict):
        obj["call_transfer"] = payload["call_transfer"]  # transfer_completed: payload.call_transfer
    for key in ("agent_id", "workspace_id"):
        if obj.get(key) is None and body.get(key) is not None:
            obj[key] = body[key]
    obj.pop("last_event", None)
    for key in ("call_id", "id", "session_id"):
        obj.pop(key, None)
    obj["call_id"] = call_id
    if _token(obj.get("status")) is None and raw_event is not None and raw_event.lower() in _STATUS_FROM_EVENT:
        obj["status"] = _STATUS_FROM_EVENT[raw_event.lower()]
    call = Call.model_validate(obj).model_copy(update={"last_event": event.value})
    return CallEvent(variant=variant, event=event, raw_event=raw_event, call=call)


def parse_webhook(raw: bytes) -> CallEvent | Ping | UnknownEvent:
    """Parse a verified raw body into an envelope.

    Raises :class:`OversizedWebhook` (checked before any parsing) or
    :class:`MalformedWebhook` with a message naming the problem; nothing else.
    """
    body = _load_json(raw)
    if not isinstance(body, dict):
        raise MalformedWebhook(f"body must be a JSON object, got {_json_type(body)}")
    key, raw_event = _event_name(body)
    located = _locate_call(body)

    if raw_event is None:
        if located is not None or any(body.get(k) is not None for k in _ROOT_ID_KEYS):
            status = _token((located[1] if located else body).get("status"))
            event = EventName.CALL_STARTED if status == "initiated" else EventName.CALL_ENDED
            return _call_event(body, located, "flat", event, None)
        message = body.get("message")
        if isinstance(message, str):
            return Ping(
                message=limits.clip_utf8(message.strip(), limits.MAX_PING_MESSAGE_BYTES),
                timestamp=_datetime(body.get("timestamp")),
            )
        raise MalformedWebhook(
            "body has no event name (event_type or event), no call object and is not a verification ping"
        )

    name = EVENT_ALIASES.get(raw_event.lower())
    if name is None:
        return UnknownEvent(
            raw_event=limits.clip_utf8(raw_event, limits.MAX_FIELD_BYTES), call_id=_best_effort_call_id(body, located)
        )
    if key == "event_type":
        variant: Literal["A", "B", "C", "flat"] = "A"
    elif raw_event.lower() in _VARIANT_C_NAMES:
        variant = "C"
    else:
        variant = "B"
    return _call_event(body, located, variant, name, raw_event)


def _best_effort_call_id(body: Mapping[str, Any], located: tuple[str, Mapping[str, Any]] | None) -> str | None:
    """The call id of an event we do not handle, when it has a usable one (never raises)."""
    try:
        return _valid_call_id(*_call_id(body, located))
    except MalformedWebhook:
        return None
