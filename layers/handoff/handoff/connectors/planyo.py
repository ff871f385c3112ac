"""Planyo Online Booking connector: users, reservations, coupons, callbacks.

Planyo is one endpoint (``…/rest/``) where ``method=<name>`` selects the
operation and every answer is an envelope ``{"data", "response_code",
"response_message"}``. Every call here is a POST with a form body, so the API
key never appears in a URL that a proxy or library might log. A non-zero
``response_code`` is mapped onto the error taxonomy by ``_classify``.

Handoff convention: a caller's booking reference ``BK-<digits>`` *is* the
Planyo reservation id ``<digits>`` (see ``reservation_id_from_reference``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import IntFlag, StrEnum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import phonenumbers
import requests
from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr, field_validator

from handoff.connectors.base import BaseConnector, PartnerModel, PartnerSettings, Probe, Secret, parse_datetime
from handoff.connectors.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    RejectedInputError,
    RetryableError,
)
from handoff.connectors.http import NO_RETRY, RetryPolicy
from handoff.models import Tool

TOOL = Tool.PLANYO

# The UNCONFIRMED facts this module relies on (reference: partners/planyo.md).
# Each entry starts with a short tag that code comments refer to.
ASSUMPTIONS: tuple[str, ...] = (
    "error codes: the numeric response_code table is unknown; any non-zero code is an error and the "
    "class is guessed from response_message wording (key/hash/not allowed -> auth, not found -> not found, "
    "already exists/not available -> conflict, anything else -> rejected input)",
    "http status: API-level errors may arrive with HTTP 200, so the body is always checked",
    "datetime format: inputs are sent as 'YYYY-MM-DD HH:MM:SS' in the site's local time; outputs are "
    "parsed as that format, ISO 8601 or Unix seconds",
    "add_user output: the new user's id is read from data.user_id; when absent the user is re-read by e-mail",
    "get_user_data not found: reported either as a non-zero response_code or as empty data; both mean not found",
    "get_user_data phone: phone_number carries the country code ('+15555550142' or '1 5555550142')",
    "list_users output: data.users may be a list or an object keyed by user id; both are accepted",
    "list_reservations paging: 500 rows per page; a short or empty page is the last one",
    "reservation_search phone: the national number (no country code) is searched, rows are then compared "
    "on the full E.164 number",
    "list_coupons output: rows in data.results (list or object); field names follow list_coupon_types "
    "(coupon_id, code, type, label, currency, amount, email, amount_used)",
    "modify_reservation: documented inputs (reservation_id, start_time, end_time, resource_id, quantity, "
    "admin_mode) are taken from planyo.com/api.php?topic=modify_reservation, which the reference page does "
    "not cover; its output is unknown, so the reservation is re-read afterwards",
    "set_reservation_notes: inputs reservation_id, user_notes, admin_notes (replaces the notes); the handoff "
    "summary is appended to admin_notes; from planyo.com/api.php?topic=set_reservation_notes",
    "hash_key clock drift tolerance is unknown; the timestamp is computed right before each call",
    "before_or_after_event_1..6 may not be accepted by add_notification_callback (set them in the UI then)",
    "remove_notification_callback: takes notification_name and callback_url like add_notification_callback and "
    "removes that URL only; Planyo has no method that lists registered callbacks, so handoff planyo register "
    "keeps its own record of what it registered",
)

DEFAULT_BASE_URL = "https://www.planyo.com/rest/"
LIST_RESERVATIONS_PAGE_SIZE = 500
PLANYO_DATETIME = "%Y-%m-%d %H:%M:%S"
_BOOKING_REF = re.compile(r"^\s*(?:BK[\s\-#:]*)?(\d{1,12})\s*$", re.IGNORECASE)

# Methods documented to take site_id (metasite keys); others are sent without it.
_SITE_SCOPED = frozenset({"get_user_data", "list_users", "list_reservations", "list_coupons"})

# Hints used to classify a non-zero response_code (ASSUMPTIONS: "error codes").
_AUTH_HINTS = ("api key", "api_key", "hash", "not allowed", "permission", "access denied", "unauthori", "ip address")
_NOT_FOUND_HINTS = ("not found", "does not exist", "doesn't exist", "no such", "unknown user", "unknown reservation")
_CONFLICT_HINTS = ("already exists", "not available", "conflict", "overlap")


# ---------------------------------------------------------------------------
# Field mapping: the one place where Planyo's field names meet Handoff's.
# Reads: Handoff name -> Planyo keys to try in order. Writes: Handoff -> param.
# ---------------------------------------------------------------------------
_USER_FIELDS: dict[str, tuple[str, ...]] = {
    "user_id": ("id", "user_id"),
    "email": ("email",),
    "first_name": ("first_name",),
    "last_name": ("last_name",),
    "login": ("login",),
    "country": ("country",),
    "city": ("city",),
    "address": ("address",),
    "postal_code": ("zip",),
    "state": ("state",),
    "language": ("language", "user_language"),
}
_USER_PHONE_FIELDS = {
    "phone": ("phone_number", "phone", "phone_country_code"),
    "mobile": ("mobile_number", "mobile", "mobile_country_code"),
}
_USER_WRITE_PARAMS: dict[str, str] = {
    "first_name": "first_name",
    "last_name": "last_name",
    "country": "country",
    "address": "address",
    "city": "city",
    "postal_code": "zip",
    "state": "state",
    "language": "user_language",
}
_RESERVATION_FIELDS: dict[str, tuple[str, ...]] = {
    "reservation_id": ("reservation_id", "rental_id", "id"),
    "resource_id": ("resource_id",),
    "resource_name": ("name", "resource_name"),
    "user_id": ("user_id",),
    "email": ("email",),
    "first_name": ("first_name",),
    "last_name": ("last_name",),
    "user_notes": ("user_notes",),
    "admin_notes": ("admin_notes",),
    "status_text": ("user_text",),
    "currency": ("currency",),
}
_RESERVATION_TIMES = {"start": "start_time", "end": "end_time", "created_at": "creation_time"}
_RESERVATION_NUMBERS = {"status_code": "status", "quantity": "quantity"}
_RESERVATION_MONEY = {"total_price": "total_price", "amount_paid": "amount_paid"}
_COUPON_FIELDS: dict[str, tuple[str, ...]] = {
    "coupon_id": ("coupon_id", "id"),
    "code": ("code", "coupon_code"),
    "type": ("type",),
    "label": ("label", "type_pretty"),
    "email": ("email",),
    "currency": ("currency",),
    "resource_ids": ("resource_ids",),
}
_ID_FIELDS = frozenset({"user_id", "reservation_id", "resource_id"})
_COUPON_MONEY = {"amount": "amount", "amount_used": "amount_used"}
_ACTION_NAMES: dict[str, str] = {
    "confirm": "Confirm",
    "cancel": "Cancel",
    "check_in": "Checkin",
    "check_out": "Checkout",
    "no_show": "Noshow",
}


class ReservationStatus(IntFlag):
    """Planyo's ReservationStatus bit field (decode with bit tests, never equality)."""

    RESERVED = 1
    EMAIL_VERIFIED = 2
    CONFIRMED = 4
    CANCELLED_BY_ADMIN = 8
    CANCELLED_BY_CUSTOMER = 16
    CHECKED_IN = 32
    FRAUD = 64
    CONFLICT = 128
    NO_AVAILABILITY_EFFECT = 256
    AUTO_CANCELLED = 512
    CHECKED_OUT = 1024
    QUOTATION = 2048
    NO_SHOW = 4096
    WAITING_LIST = 8192
    LOCKED = 16384


CANCELLED = (
    ReservationStatus.CANCELLED_BY_ADMIN | ReservationStatus.CANCELLED_BY_CUSTOMER | ReservationStatus.AUTO_CANCELLED
)

# What each action sets; if already set, the action is not sent again (no second e-mail).
_ACTION_DONE_WHEN: dict[str, ReservationStatus] = {
    "confirm": ReservationStatus.CONFIRMED,
    "cancel": CANCELLED,
    "check_in": ReservationStatus.CHECKED_IN,
    "check_out": ReservationStatus.CHECKED_OUT,
    "no_show": ReservationStatus.NO_SHOW,
}


def reservation_state(code: int) -> str:
    """One word for a status bit field, most decisive flag first."""
    flags = ReservationStatus(code)
    order: tuple[tuple[ReservationStatus, str], ...] = (
        (CANCELLED, "cancelled"),
        (ReservationStatus.FRAUD, "fraud"),
        (ReservationStatus.NO_SHOW, "no_show"),
        (ReservationStatus.CHECKED_OUT, "checked_out"),
        (ReservationStatus.CHECKED_IN, "checked_in"),
        (ReservationStatus.WAITING_LIST, "waiting_list"),
        (ReservationStatus.QUOTATION, "quotation"),
        (ReservationStatus.CONFIRMED, "confirmed"),
        (ReservationStatus.RESERVED, "reserved"),
    )
    for flag, word in order:
        if flags & flag:
            return word
    return "not_completed"


def status_flags(code: int) -> list[str]:
    return [f.name.lower() for f in ReservationStatus if f.name and code & f.value]


def reservation_id_from_reference(reference: str | int) -> int | None:
    """``BK-48213``, ``bk 48213`` or ``48213`` -> 48213 (Handoff's booking-reference convention)."""
    if isinstance(reference, int):
        return reference if reference > 0 else None
    match = _BOOKING_REF.match(reference)
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------------------
# Handoff-side models
# ---------------------------------------------------------------------------
class Settings(PartnerSettings):
    """The ``planyo`` block of the partner secret."""

    base_url: str = DEFAULT_BASE_URL
    api_key: Secret
    hash_secret: SecretStr | None = None
    site_id: int | None = None
    language: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    site_timezone: str | None = None

    @field_validator("site_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (KeyError, ValueError):
                raise ValueError("site_timezone is not a known IANA zone") from None
        return value


class PlanyoUser(PartnerModel):
    user_id: int
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    mobile: str | None = None
    login: str | None = None
    country: str | None = None
    city: str | None = None
    address: str | None = None
    postal_code: str | None = None
    state: str | None = None
    language: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class UserFields(BaseModel):
    """Personal details Handoff may set on a Planyo user (``phone`` in E.164)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    first_name: str | None = Field(default=None, min_length=1)
    last_name: str | None = None
    phone: str | None = None
    mobile: str | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    city: str | None = None
    address: str | None = None
    postal_code: str | None = None
    state: str | None = None
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")

    @field_validator("phone", "mobile")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normalised = normalise_phone(value)
        if normalised is None:
            raise ValueError("phone must be an international number like +15555550142")
        return normalised


class NewUser(UserFields):
    email: EmailStr
    first_name: str = Field(min_length=1)


class UserChanges(UserFields):
    new_email: EmailStr | None = None


class UserUpsert(PartnerModel):
    user: PlanyoUser
    created: bool
    updated: bool = False


class Reservation(PartnerModel):
    reservation_id: int
    resource_id: int | None = None
    resource_name: str | None = None
    user_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    status_code: int | None = None
    quantity: int | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    user_notes: str | None = None
    admin_notes: str | None = None
    status_text: str | None = None
    total_price: Decimal | None = None
    amount_paid: Decimal | None = None
    currency: str | None = None
    created_at: datetime | None = None

    @property
    def state(self) -> str | None:
        return None if self.status_code is None else reservation_state(self.status_code)

    @property
    def flags(self) -> list[str]:
        return [] if self.status_code is None else status_flags(self.status_code)


class ReservationAction(StrEnum):
    CONFIRM = "confirm"
    CANCEL = "cancel"
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    NO_SHOW = "no_show"


class ActionOutcome(PartnerModel):
    reservation_id: int
    action: ReservationAction
    changed: bool
    status_code: int | None = None
    status_text: str | None = None

    @property
    def state(self) -> str | None:
        return None if self.status_code is None else reservation_state(self.status_code)


class Reschedule(BaseModel):
    """New times for a reservation; naive datetimes are the site's local time."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    start: datetime
    end: datetime
    resource_id: int | None = None
    quantity: int | None = Field(default=None, ge=1)
    admin_mode: bool = False


class RescheduleOutcome(PartnerModel):
    reservation: Reservation
    changed: bool
    previous_start: datetime | None = None
    previous_end: datetime | None = None


class NoteOutcome(PartnerModel):
    reservation_id: int
    changed: bool


class Coupon(PartnerModel):
    coupon_id: str | None = None
    code: str | None = None
    type: str | None = None
    label: str | None = None
    email: str | None = None
    currency: str | None = None
    amount: Decimal | None = None
    amount_used: Decimal | None = None
    resource_ids: str | None = None


class CouponQuery(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    email: str | None = None
    code: str | None = None
    resource_id: int | None = None
    only_valid: bool = False
    type: int | None = Field(default=None, ge=1, le=5)


# ---------------------------------------------------------------------------
# Pure mapping helpers
# ---------------------------------------------------------------------------
def normalise_phone(value: str, country_code: str | None = None) -> str | None:
    """E.164 for a phone in any of Planyo's shapes, or None when it cannot be read."""
    raw = value.strip()
    if not raw:
        return None
    digits = re.sub(r"\D", "", raw)
    candidates: list[str] = []
    if raw.startswith("+"):
        candidates.append("+" + digits)
    if country_code and re.sub(r"\D", "", country_code):
        cc = re.sub(r"\D", "", country_code)
        candidates.append("+" + (digits if digits.startswith(cc) and len(digits) > 10 else cc + digits.lstrip("0")))
    candidates.append("+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return None


def split_phone(e164: str) -> tuple[str, str]:
    """(national number, country code digits) as Planyo's add_user/modify_user want them."""
    number = phonenumbers.parse(e164, None)
    return str(number.national_number), str(number.country_code)


def parse_planyo_time(value: Any) -> datetime | None:
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value))
    text = str(value).strip()
    return parse_datetime(text, (PLANYO_DATETIME, "%Y-%m-%d %H:%M", "%Y-%m-%d"))


def _money(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _pick(raw: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = raw.get(key)
        if value not in (None, ""):
            return value
    return None


def _text_fields(raw: Mapping[str, Any], table: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """Mapped fields: ids as Planyo sent them (pydantic coerces), everything else as text."""
    out: dict[str, Any] = {}
    for name, keys in table.items():
        value = _pick(raw, keys)
        if value is not None:
            out[name] = value if name in _ID_FIELDS else str(value)
    return out


def user_from_partner(raw: Mapping[str, Any]) -> PlanyoUser:
    fields = _text_fields(raw, _USER_FIELDS)
    for name, (full_key, short_key, cc_key) in _USER_PHONE_FIELDS.items():
        full = raw.get(full_key)
        short = raw.get(short_key)
        if full:
            fields[name] = normalise_phone(str(full), str(raw.get(cc_key) or "")) or str(full)
        elif short:
            fields[name] = normalise_phone(str(short), str(raw.get(cc_key) or "")) or str(short)
    return PlanyoUser.model_validate(fields)


def reservation_from_partner(raw: Mapping[str, Any]) -> Reservation:
    fields = _text_fields(raw, _RESERVATION_FIELDS)
    for name, key in _RESERVATION_TIMES.items():
        fields[name] = parse_planyo_time(raw.get(key))
    for name, key in _RESERVATION_NUMBERS.items():
        fields[name] = _int(raw.get(key))
    for name, key in _RESERVATION_MONEY.items():
        fields[name] = _money(raw.get(key))
    phone = _pick(raw, ("phone_number", "phone"))
    if phone is not None:
        fields["phone"] = normalise_phone(str(phone), str(raw.get("phone_country_code") or "")) or str(phone)
    return Reservation.model_validate(fields)


def coupon_from_partner(raw: Mapping[str, Any]) -> Coupon:
    fields: dict[str, Any] = {k: str(v) for k, v in _text_fields(raw, _COUPON_FIELDS).items()}
    for name, key in _COUPON_MONEY.items():
        fields[name] = _money(raw.get(key))
    return Coupon.model_validate(fields)


def user_params(fields: UserFields) -> dict[str, str]:
    """Planyo parameters for the fields that are set."""
    params: dict[str, str] = {}
    for name, param in _USER_WRITE_PARAMS.items():
        value = getattr(fields, name)
        if value is not None:
            params[param] = str(value)
    for name in ("phone", "mobile"):
        value = getattr(fields, name)
        if value is not None:
            national, cc = split_phone(value)
            params[name] = national
            params[f"{name}_country_code"] = cc
    if isinstance(fields, UserChanges) and fields.new_email is not None:
        params["new_email"] = str(fields.new_email)
    return params


def _rows(data: Any, key: str) -> list[Mapping[str, Any]]:
    """``data[key]`` as a list of rows whether Planyo sent a list or an object keyed by id."""
    container = data.get(key) if isinstance(data, Mapping) else None
    if isinstance(container, Mapping):
        container = list(container.values())
    if not isinstance(container, list):
        return []
    return [row for row in container if isinstance(row, Mapping)]


def _classify_envelope(method: str) -> Callable[[requests.Response], ConnectorError | None]:
    def classify(response: requests.Response) -> ConnectorError | None:
        try:
            envelope = response.json()
        except ValueError:
            return RetryableError(TOOL, f"{method}: answer is not JSON (HTTP {response.status_code})")
        if not isinstance(envelope, Mapping) or "response_code" not in envelope:
            return RejectedInputError(TOOL, f"{method}: unexpected answer without response_code")
        code = _int(envelope.get("response_code"))
        if code == 0:
            return None
        message = str(envelope.get("response_message") or "no message")
        text = f"{method}: {message} (response_code {envelope.get('response_code')})"
        lowered = message.lower()
        if any(h in lowered for h in _AUTH_HINTS):
            return AuthError(TOOL, text)
        if any(h in lowered for h in _NOT_FOUND_HINTS):
            return NotFoundError(TOOL, text)
        if any(h in lowered for h in _CONFLICT_HINTS):
            return ConflictError(TOOL, text)
        return RejectedInputError(TOOL, text)

    return classify


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------
# The connector
# ---------------------------------------------------------------------------
class PlanyoConnector(BaseConnector[Settings]):
    """Typed Planyo operations over the shared HTTP layer."""

    TOOL: ClassVar[Tool] = TOOL
    SETTINGS = Settings

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time, **options: Any) -> None:
        super().__init__(settings, **options)
        secrets = [settings.api_key.get_secret_value()]
        if settings.hash_secret is not None:
            secrets.append(settings.hash_secret.get_secret_value())
        self._http = self.http_client(secrets=secrets, headers={"Accept": "application/json"})
        self._clock = clock

    # -- plumbing ------------------------------------------------------------
    def _call(self, method: str, params: Mapping[str, Any] | None = None, *, retry: RetryPolicy | None = None) -> Any:
        """POST one method as a form body and return the envelope's ``data``."""
        form = {k: _form_value(v) for k, v in (params or {}).items() if v is not None}
        form["method"] = method
        form["api_key"] = self.settings.api_key.get_secret_value()
        if self.settings.site_id is not None and method in _SITE_SCOPED:
            form.setdefault("site_id", str(self.settings.site_id))
        if self.settings.language:
            form["language"] = self.settings.language
        if self.settings.hash_secret is not None:
            timestamp = str(int(self._clock()))
            digest = self.settings.hash_secret.get_secret_value() + timestamp + method
            form["hash_timestamp"] = timestamp
            form["hash_key"] = hashlib.md5(digest.encode(), usedforsecurity=False).hexdigest()
        response = self._http.request("POST", "", data=form, retry=retry, classify=_classify_envelope(method))
        return response.json().get("data")

    def _time(self, value: datetime) -> str:
        if value.tzinfo is not None and self.settings.site_timezone:
            value = value.astimezone(ZoneInfo(self.settings.site_timezone))
        # Aware datetimes without a configured site zone keep their own wall clock.
        return value.replace(tzinfo=None).strftime(PLANYO_DATETIME)

    @staticmethod
    def _reservation_id(reference: str | int) -> int:
        rid = reservation_id_from_reference(reference)
        if rid is None:
            raise RejectedInputError(TOOL, f"not a reservation id or BK- reference: {str(reference)[:40]!r}")
        return rid

    # -- health ----------------------------------------------------------------
    def _probe(self) -> Probe:
        """``api_test`` answers (reachable), then a keyed read succeeds (authenticated)."""
        self._call("api_test")
        try:
            self._call("list_users", {"page": 0, "page_size": 1})
        except ConnectorError as exc:
            if isinstance(exc, AuthError):
                raise
            raise AuthError(TOOL, f"key check failed: {exc}", status=exc.status or 200) from None
        return Probe(detail="api_test and list_users ok")

    # -- users -------------------------------------------------------------------
    def get_user(self, *, email: str | None = None, user_id: int | None = None) -> PlanyoUser:
        """One user by e-mail or id (exactly one); NotFoundError when Planyo has none."""
        if (email is None) == (user_id is None):
            raise RejectedInputError(TOOL, "get_user needs exactly one of email or user_id")
        params: dict[str, Any] = {"detail_level": 1}
        params["email" if email is not None else "user_id"] = email if email is not None else user_id
        data = self._call("get_user_data", params)
        # ASSUMPTIONS "get_user_data not found": empty data also means no such user.
        if not isinstance(data, Mapping) or _pick(data, _USER_FIELDS["user_id"]) is None:
            raise NotFoundError(TOOL, "get_user_data: no such user")
        return user_from_partner(data)

    def find_user(self, email: str) -> PlanyoUser | None:
        try:
            return self.get_user(email=email)
        except NotFoundError:
            return None

    def list_users(
        self,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        page_size: int = 100,
        max_pages: int = 20,
    ) -> list[PlanyoUser]:
        """Users with a reservation (or admin-created); ``*`` wildcards in names work."""
        users: list[PlanyoUser] = []
        for page in range(max_pages):
            data = self._call(
                "list_users",
                {"page": page, "page_size": page_size, "first_name": first_name, "last_name": last_name},
            )
            rows = _rows(data, "users")
            users.extend(user_from_partner(r) for r in rows)
            if len(rows) < page_size:
                break
        return users

    def add_user(self, user: NewUser) -> UserUpsert:
        """Upsert on e-mail: look the user up first, then create or change only what differs."""
        existing = self.find_user(str(user.email))
        if existing is not None:
            changes = _user_diff(existing, user)
            if changes is None:
                return UserUpsert(user=existing, created=False)
            return UserUpsert(user=self.modify_user(changes, user_id=existing.user_id), created=False, updated=True)
        params = {"email": str(user.email), **user_params(user)}
        # add_user is itself an upsert on e-mail in Planyo, so a retry cannot duplicate.
        data = self._call("add_user", params)
        user_id = _int(data.get("user_id")) if isinstance(data, Mapping) else None
        created = self.get_user(user_id=user_id) if user_id else self.get_user(email=str(user.email))
        return UserUpsert(user=created, created=True)

    def modify_user(self, changes: UserChanges, *, email: str | None = None, user_id: int | None = None) -> PlanyoUser:
        """Set the given fields (setting is idempotent, so retries are safe); returns the re-read user."""
        if (email is None) == (user_id is None):
            raise RejectedInputError(TOOL, "modify_user needs exactly one of email or user_id")
        params = user_params(changes)
        if not params:
            raise RejectedInputError(TOOL, "modify_user called without any change")
        params["email" if email is not None else "user_id"] = str(email if email is not None else user_id)
        self._call("modify_user", params)
        new_email = str(changes.new_email) if changes.new_email else None
        if user_id is not None:
            return self.get_user(user_id=user_id)
        return self.get_user(email=new_email or email)

    # -- reservations ------------------------------------------------------------
    def get_reservation(self, reservation: str | int) -> Reservation:
        """One reservation by id or ``BK-<id>`` reference, with status and prices."""
        rid = self._reservation_id(reservation)
        data = self._call("get_reservation_data", {"reservation_id": rid})
        if not isinstance(data, Mapping) or not data:
            raise NotFoundError(TOOL, f"get_reservation_data: reservation {rid} not found")
        return reservation_from_partner({"reservation_id": rid, **data})

    def search_reservations(self, query: str) -> list[Reservation]:
        """Planyo's admin search (name, e-mail, phone, ids); fuzzy, so callers filter."""
        data = self._call("reservation_search", {"query": query})
        return [reservation_from_partner(r) for r in _rows(data, "results")]

    def list_reservations(
        self,
        start: datetime,
        end: datetime,
        *,
        user_id: int | None = None,
        resource_id: int | None = None,
        by_creation_date: bool = False,
        max_pages: int = 20,
    ) -> list[Reservation]:
        """Reservations starting (or created) in a window, all pages."""
        found: list[Reservation] = []
        for page in range(max_pages):
            data = self._call(
                "list_reservations",
                {
                    "start_time": self._time(start),
                    "end_time": self._time(end),
                    "user_id": user_id,
                    "resource_id": resource_id,
                    "list_by_creation_date": by_creation_date or None,
                    "page": page,
                },
            )
            rows = _rows(data, "results")
            found.extend(reservation_from_partner(r) for r in rows)
            if len(rows) < LIST_RESERVATIONS_PAGE_SIZE:  # ASSUMPTIONS "list_reservations paging"
                break
        return found

    def find_reservations(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        reservation: str | int | None = None,
    ) -> list[Reservation]:
        """Reservations matching any of e-mail, phone or id/``BK-`` reference (deduplicated).

        Search rows are filtered on exact e-mail / E.164 phone because Planyo's
        search is a fuzzy text match.
        """
        if email is None and phone is None and reservation is None:
            raise RejectedInputError(TOOL, "find_reservations needs an e-mail, a phone or a reservation id")
        found: dict[int, Reservation] = {}
        if reservation is not None:
            rid = reservation_id_from_reference(reservation)
            if rid is not None:
                with contextlib.suppress(NotFoundError):
                    found[rid] = self.get_reservation(rid)
        if email:
            wanted = email.strip().lower()
            for row in self.search_reservations(wanted):
                if (row.email or "").strip().lower() == wanted:
                    found.setdefault(row.reservation_id, row)
        if phone:
            e164 = normalise_phone(phone)
            if e164 is None:
                raise RejectedInputError(TOOL, "find_reservations: phone is not an international number")
            national, _ = split_phone(e164)  # ASSUMPTIONS "reservation_search phone"
            for row in self.search_reservations(national):
                if row.phone == e164:
                    found.setdefault(row.reservation_id, row)
        return list(found.values())

    def reservation_action(
        self,
        reservation: str | int,
        action: ReservationAction,
        *,
        comment: str | None = None,
        quiet: bool = False,
    ) -> ActionOutcome:
        """Confirm, cancel, check in, check out or mark no-show, at most once.

        The current status is read first: an action whose flag is already set
        is not sent again (Planyo would e-mail the customer a second time).
        Not retried on failure: a lost answer may hide a done action.
        """
        current = self.get_reservation(reservation)
        code = current.status_code or 0
        if code & _ACTION_DONE_WHEN[action.value]:
            return ActionOutcome(
                reservation_id=current.reservation_id,
                action=action,
                changed=False,
                status_code=code,
                status_text=current.status_text,
            )
        data = self._call(
            "do_reservation_action",
            {
                "reservation_id": current.reservation_id,
                "action": _ACTION_NAMES[action.value],
                "comment": comment,
                "is_quiet": quiet or None,
            },
            retry=NO_RETRY,
        )
        data = data if isinstance(data, Mapping) else {}
        return ActionOutcome(
            reservation_id=current.reservation_id,
            action=action,
            changed=True,
            status_code=_int(data.get("status")),
            status_text=str(data["user_text"]) if data.get("user_text") else None,
        )

    def modify_reservation(self, reservation: str | int, change: Reschedule) -> RescheduleOutcome:
        """Move a reservation to new times (reschedule); a no-op when already there."""
        if change.end <= change.start:
            raise RejectedInputError(TOOL, "modify_reservation: end must be after start")
        current = self.get_reservation(reservation)
        new_start, new_end = self._time(change.start), self._time(change.end)
        same_times = (
            current.start is not None
            and current.end is not None
            and current.start.strftime(PLANYO_DATETIME) == new_start
            and current.end.strftime(PLANYO_DATETIME) == new_end
        )
        if same_times and change.resource_id in (None, current.resource_id):
            return RescheduleOutcome(
                reservation=current, changed=False, previous_start=current.start, previous_end=current.end
            )
        self._call(
            "modify_reservation",
            {
                "reservation_id": current.reservation_id,
                "start_time": new_start,
                "end_time": new_end,
                "resource_id": change.resource_id,
                "quantity": change.quantity,
                "admin_mode": change.admin_mode or None,
            },
            retry=NO_RETRY,
        )
        return RescheduleOutcome(
            reservation=self.get_reservation(current.reservation_id),
            changed=True,
            previous_start=current.start,
            previous_end=current.end,
        )

    def add_reservation_note(self, reservation: str | int, note: str) -> NoteOutcome:
        """Append a note (Handoff's summary) to the reservation's admin notes, once.

        Planyo has no "add note" call, only ``set_reservation_notes`` which
        replaces the notes, so the current notes are read and the note is
        appended unless it is already there (so a repeat is a no-op).
        """
        text = note.strip()
        if not text:
            raise RejectedInputError(TOOL, "add_reservation_note: empty note")
        current = self.get_reservation(reservation)
        existing = current.admin_notes or ""
        if text in existing:
            return NoteOutcome(reservation_id=current.reservation_id, changed=False)
        combined = f"{existing.rstrip()}\n\n{text}" if existing.strip() else text
        self._call("set_reservation_notes", {"reservation_id": current.reservation_id, "admin_notes": combined})
        return NoteOutcome(reservation_id=current.reservation_id, changed=True)

    # -- coupons and callbacks -----------------------------------------------------
    def list_coupons(self, query: CouponQuery | None = None) -> list[Coupon]:
        """Purchased coupons ("get coupon list"), optionally for one e-mail or code."""
        q = query or CouponQuery()
        data = self._call(
            "list_coupons",
            {
                "email": q.email,
                "coupon_code": q.code,
                "resource_id": q.resource_id,
                "check_if_valid": q.only_valid or None,
                "type": q.type,
                # amount_used / latest_usage_time come back only with this flag (Planyo's list_coupons
                # docs, planyo.com/api.php?topic=list_coupons, and its API playground).
                "include_usage_data": True,
            },
        )
        return [coupon_from_partner(r) for r in _rows(data, "results")]

    def remove_notification_callback(self, notification: str, callback_url: str) -> None:
        """Remove one webhook URL from one Planyo event (other URLs of the event stay).

        ``remove_notification_callback`` is in Planyo's method list (planyo-py's
        method table); its parameters are taken to mirror
        ``add_notification_callback`` (ASSUMPTIONS "remove_notification_callback").
        Removing is a state-setting call, so it is safe to retry.
        """
        self._check_callback(notification, callback_url)
        self._call("remove_notification_callback", {"notification_name": notification, "callback_url": callback_url})

    @staticmethod
    def _check_callback(notification: str, callback_url: str) -> None:
        if not re.match(r"^https?://[^\s]+$", callback_url or ""):
            raise RejectedInputError(TOOL, "notification callback_url must be an http(s) URL")
        if not re.match(r"^[a-z0-9_]+$", notification or ""):
            raise RejectedInputError(TOOL, "notification name is malformed")

    def add_notification_callback(self, notification: str, callback_url: str) -> None:
        """Register a webhook URL for one Planyo event.

        An empty URL would remove every callback of the event in Planyo, so it
        is refused here. Not retried: a repeat could register the URL twice.
        """
        self._check_callback(notification, callback_url)
        self._call(
            "add_notification_callback",
            {"notification_name": notification, "callback_url": callback_url},
            retry=NO_RETRY,
        )


def _user_diff(existing: PlanyoUser, wanted: NewUser) -> UserChanges | None:
    """The fields of ``wanted`` that differ from ``existing`` (None when nothing does)."""
    changed: dict[str, Any] = {}
    for name in UserFields.model_fields:
        value = getattr(wanted, name)
        if value is None:
            continue
        current = getattr(existing, name, None)
        if str(value).strip().lower() != str(current or "").strip().lower():
            changed[name] = value
    return UserChanges(**changed) if changed else None
