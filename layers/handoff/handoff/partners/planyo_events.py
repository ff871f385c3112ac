"""Planyo notification callbacks: verify the URL token, parse tolerantly, map to a bus event.

Planyo signs nothing (reference: partners/planyo.md §5.4), so the callback URL
carries an unguessable token that is compared in constant time with the one in
the partner secret. The payload is only a hint: whoever acts on it re-reads the
user or reservation through the API. Planyo's field names are mapped to ours
in ``PLANYO_FIELDS`` and nowhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field

from handoff.connectors.planyo import parse_planyo_time, reservation_state
from handoff.redact import redact_text

# The UNCONFIRMED facts this module relies on (reference: partners/planyo.md §5).
ASSUMPTIONS: tuple[str, ...] = (
    "fields: FAQ 222 lists notification_type, reservation, resource, resource_name, calendar (or site), "
    "start, end, user, is_new_user, count, creation_date, status, currency, price fields, cart_id, "
    "payment_amount; a customer e-mail is read from email/user_email if present (not documented)",
    "timestamps: start and end are Unix seconds (UTC); other shapes are parsed as Planyo datetimes",
    "timed notifications: before_or_after_event_N carries no before/after flag; it is derived by comparing "
    "the receipt time with the reservation start (earlier -> before, otherwise after)",
    "timed notifications may not be registrable through add_notification_callback (set them in the UI)",
    "transport: Planyo POSTs form fields (JSON with ppp_payload=json); fields in the query string are also "
    "read, the body wins",
    "retries and the expected answer are undocumented: answer 200 fast and process asynchronously",
)

SOURCE = "handoff.partner"
CALLBACK_TOKEN_ENV = "HANDOFF_PLANYO_CALLBACK_TOKEN"  # noqa: S105 - the variable name, not a token
MIN_TOKEN_LENGTH = 24
MAX_BODY_BYTES = 64 * 1024
MAX_EXTRA_FIELDS = 40
MAX_EXTRA_VALUE = 300

# Query parameters that belong to our callback URL, never to the notification.
URL_PARAMETERS = frozenset({"token", "ppp_payload"})
# Unknown fields whose name looks secret are dropped, never published.
_SECRET_NAME = re.compile(r"token|secret|password|passwd|api_?key|hash|signature|card|iban|cvv", re.IGNORECASE)
_TYPE = re.compile(r"^[a-z0-9_]{1,64}$")
_TIMED = re.compile(r"^before_or_after_event_([1-6])$")


class NotificationKind(StrEnum):
    """What a notification is about; each published kind is one EventBridge detail-type."""

    CUSTOMER_CHANGED = "planyo.customer_changed"
    RESERVATION_STATUS_CHANGED = "planyo.reservation_status_changed"
    TIMED_NOTIFICATION = "planyo.timed_notification"
    OTHER = "planyo.other"


# ---------------------------------------------------------------------------
# Field mapping: the one place where Planyo's callback field names meet ours.
# Our name -> Planyo keys to try in order.
# ---------------------------------------------------------------------------
PLANYO_FIELDS: dict[str, tuple[str, ...]] = {
    "notification_type": ("notification_type",),
    "reservation_id": ("reservation",),
    "resource_id": ("resource",),
    "resource_name": ("resource_name",),
    "site_id": ("calendar", "site"),
    "start": ("start",),
    "end": ("end",),
    "user_id": ("user",),
    "user_email": ("email", "user_email"),
    "is_new_user": ("is_new_user",),
    "quantity": ("count",),
    "created_at": ("creation_date",),
    "status": ("status",),
    "currency": ("currency",),
    "price_quoted": ("price_quoted",),
    "discount": ("discount",),
    "price_no_discount": ("price_no_discount",),
    "amount_paid": ("amount_paid",),
    "amount_outstanding": ("amount_outstanding",),
    "cart_id": ("cart_id",),
    "payment_amount": ("payment_amount",),
}
_INT_FIELDS = ("reservation_id", "resource_id", "site_id", "user_id", "quantity", "status")
_TIME_FIELDS = ("start", "end", "created_at")
_TEXT_FIELDS = (
    "resource_name",
    "user_email",
    "currency",
    "price_quoted",
    "discount",
    "price_no_discount",
    "amount_paid",
    "amount_outstanding",
    "cart_id",
    "payment_amount",
)
_KNOWN_KEYS = frozenset(k for keys in PLANYO_FIELDS.values() for k in keys)

# notification_type -> (kind, normalised status change). Status changes per planyo.md §5.2.
STATUS_CHANGES: dict[str, str] = {
    "checked_in": "checked_in",
    "checked_out": "checked_out",
    "noshow": "no_show",
    "reservation_confirmed": "confirmed",
    "confirmed_cleared": "confirmation_removed",
    "reservation_admin_canceled": "cancelled_by_admin",
    "reservation_user_canceled": "cancelled_by_customer",
    "reservation_auto_canceled": "auto_cancelled",
    "added_to_waitlist": "waiting_list",
}
CUSTOMER_TYPES = frozenset({"user_updated"})

# What ``handoff planyo register`` subscribes to: the events Handoff routes.
REGISTERED_NOTIFICATIONS: tuple[str, ...] = (
    "user_updated",
    "checked_in",
    "checked_out",
    "noshow",
    *(f"before_or_after_event_{n}" for n in range(1, 7)),
)


class InvalidNotification(ValueError):  # noqa: N818 - reads as the answer it becomes
    """The callback cannot be read; the message names the problem (answered as a 400)."""


class PlanyoNotification(BaseModel):
    """One Planyo callback, parsed. A hint only: act on data re-read through the API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notification_type: str = Field(pattern=_TYPE.pattern)
    kind: NotificationKind
    status_change: str | None = None
    """Normalised status change (``checked_in``, ``no_show``...) for reservation status notifications."""
    user_id: int | None = None
    user_email: str | None = None
    is_new_user: bool = False
    reservation_id: int | None = None
    resource_id: int | None = None
    resource_name: str | None = None
    site_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    created_at: datetime | None = None
    status: int | None = Field(default=None, ge=0)
    """Planyo's ReservationStatus bit field."""
    quantity: int | None = None
    timed_number: int | None = Field(default=None, ge=1, le=6)
    timing: Literal["before", "after"] | None = None
    currency: str | None = None
    price_quoted: str | None = None
    discount: str | None = None
    price_no_discount: str | None = None
    amount_paid: str | None = None
    amount_outstanding: str | None = None
    cart_id: str | None = None
    payment_amount: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)
    """Fields Planyo sent that we do not map (kept, as the reference advises): secret-looking names are
    dropped and values pass the redactor (cards, IBANs, tax ids masked)."""
    received_at: datetime

    @property
    def status_state(self) -> str | None:
        return None if self.status is None else reservation_state(self.status)

    @property
    def dedupe_key(self) -> str:
        """Same key for repeated deliveries of one Planyo event (planyo.md §5.4: type, ids, status, times)."""
        parts = (
            self.notification_type,
            self.reservation_id,
            self.user_id,
            self.status,
            self.start and int(self.start.timestamp()),
            self.end and int(self.end.timestamp()),
        )
        return hashlib.sha256("|".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------
# Token verification
# ---------------------------------------------------------------------------
def token_matches(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; an absent or weak expected token never matches (fail closed)."""
    if not given or not expected or len(expected) < MIN_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def configured_callback_token(loader: Callable[[str], dict[str, Any] | None] | None = None) -> str | None:
    """The token from the environment (tests, local) or the partner secret's ``planyo.callback_token``."""
    from_env = os.environ.get(CALLBACK_TOKEN_ENV)
    if from_env:
        return from_env
    if loader is None:
        from handoff.connectors.credentials import load_partner_config

        loader = load_partner_config
    block = loader("planyo") or {}
    token = block.get("callback_token")
    return str(token) if token else None


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------
def read_fields(body: bytes, content_type: str | None, query: Mapping[str, str] | None = None) -> dict[str, str]:
    """Raw fields from a form body, a JSON body (``ppp_payload=json``) or the query string; body wins."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidNotification(f"body is larger than {MAX_BODY_BYTES} bytes")
    fields: dict[str, str] = {k: str(v) for k, v in (query or {}).items() if k not in URL_PARAMETERS}
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return fields
    wants_json = "json" in (content_type or "").lower() or (query or {}).get("ppp_payload") == "json"
    if wants_json or text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError:
            raise InvalidNotification("body is not valid JSON") from None
        except RecursionError:
            raise InvalidNotification("body is not valid JSON: nested too deeply") from None
        if not isinstance(loaded, dict):
            raise InvalidNotification("JSON body must be an object")
        fields.update(
            {str(k): "" if v is None else str(v) for k, v in loaded.items() if not isinstance(v, dict | list)}
        )
    else:
        fields.update({k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()})
    return fields


def parse_notification(
    body: bytes,
    content_type: str | None = None,
    query: Mapping[str, str] | None = None,
    *,
    received_at: datetime | None = None,
) -> PlanyoNotification:
    """Parse one callback; ``InvalidNotification`` names what is wrong."""
    return notification_from_fields(read_fields(body, content_type, query), received_at=received_at)


def notification_from_fields(raw: Mapping[str, str], *, received_at: datetime | None = None) -> PlanyoNotification:
    now = received_at or datetime.now(UTC)
    picked = {name: _pick(raw, keys) for name, keys in PLANYO_FIELDS.items()}
    kind_name = (picked["notification_type"] or "").strip().lower()
    if not kind_name:
        raise InvalidNotification("notification_type is missing")
    if not _TYPE.match(kind_name):
        raise InvalidNotification("notification_type is malformed")
    values: dict[str, Any] = {"notification_type": kind_name, "received_at": now}
    for name in _INT_FIELDS:
        values[name] = _integer(picked[name], name)
    for name in _TIME_FIELDS:
        values[name] = _timestamp(picked[name], name)
    for name in _TEXT_FIELDS:
        value = picked[name]
        values[name] = value.strip()[:MAX_EXTRA_VALUE] if value and value.strip() else None
    values["is_new_user"] = (picked["is_new_user"] or "").strip().lower() in ("1", "true", "yes")
    timed = _TIMED.match(kind_name)
    if kind_name in CUSTOMER_TYPES:
        values["kind"] = NotificationKind.CUSTOMER_CHANGED
        if values["user_id"] is None and not values["user_email"]:
            raise InvalidNotification("user_updated without a user id")
    elif kind_name in STATUS_CHANGES:
        values["kind"] = NotificationKind.RESERVATION_STATUS_CHANGED
        values["status_change"] = STATUS_CHANGES[kind_name]
        if values["reservation_id"] is None:
            raise InvalidNotification(f"{kind_name} without a reservation id")
    elif timed:
        values["kind"] = NotificationKind.TIMED_NOTIFICATION
        values["timed_number"] = int(timed.group(1))
        start = values["start"]
        # ASSUMPTIONS "timed notifications": before/after is derived from the receipt time.
        values["timing"] = None if start is None else ("before" if now < start else "after")
        if values["reservation_id"] is None:
            raise InvalidNotification(f"{kind_name} without a reservation id")
    else:
        values["kind"] = NotificationKind.OTHER
    values["extra"] = _extra(raw)
    return PlanyoNotification.model_validate(values)


def _pick(raw: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = raw.get(key)
        if value is not None and str(value).strip() != "":
            return str(value)
    return None


def _integer(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not re.fullmatch(r"-?\d{1,18}", text):
        raise InvalidNotification(f"{PLANYO_FIELDS[name][0]} is not a number")
    return int(text)


def _timestamp(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"\d{1,12}", text):
        if text == "0":
            return None
        return datetime.fromtimestamp(int(text), tz=UTC)  # ASSUMPTIONS "timestamps"
    parsed = parse_planyo_time(text)
    if parsed is None:
        raise InvalidNotification(f"{PLANYO_FIELDS[name][0]} is not a time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _extra(raw: Mapping[str, str]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for key, value in raw.items():
        if key in _KNOWN_KEYS or key in URL_PARAMETERS or _SECRET_NAME.search(key):
            continue
        if len(kept) >= MAX_EXTRA_FIELDS:
            break
        kept[str(key)[:64]] = redact_text(str(value)[:MAX_EXTRA_VALUE])
    return kept


# ---------------------------------------------------------------------------
# Bus events
# ---------------------------------------------------------------------------
def detail_type(notification: PlanyoNotification) -> str | None:
    """The EventBridge detail-type, or None for notifications Handoff does not handle."""
    return None if notification.kind is NotificationKind.OTHER else notification.kind.value


def event_detail(notification: PlanyoNotification) -> dict[str, Any]:
    """What travels on the bus: the parsed notification (no token; secret-looking fields were dropped)."""
    detail = notification.model_dump(mode="json", exclude_none=True)
    detail["dedupe_key"] = notification.dedupe_key
    return detail


def notification_from_detail(detail: Mapping[str, Any]) -> PlanyoNotification:
    """The notification back from an event's detail (the consumer's side)."""
    data = {k: v for k, v in detail.items() if k != "dedupe_key"}
    return PlanyoNotification.model_validate(data)


def event_entry(notification: PlanyoNotification, bus_name: str) -> dict[str, Any]:
    """One ``PutEvents`` entry; ``ValueError`` for a notification that is not published."""
    kind = detail_type(notification)
    if kind is None:
        raise ValueError(f"{notification.notification_type} is not published")
    return {
        "Source": SOURCE,
        "DetailType": kind,
        "Detail": json.dumps(event_detail(notification), separators=(",", ":")),
        "EventBusName": bus_name,
    }
