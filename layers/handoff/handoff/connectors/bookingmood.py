"""Bookingmood connector: contacts, bookings, widgets over Bookingmood's PostgREST API.

Bookingmood exposes its tables through PostgREST (``GET`` lists with filters,
``POST`` creates, ``PATCH``/``DELETE`` act on every row matching the filters).
That last point is why every write here goes through :func:`require_id_filter`:
a PATCH without an ``id`` filter would rewrite every row the key can see.

Where Handoff writes its operational summary: one row per call in the
append-only ``calendar_event_notes`` table on the booking's calendar event
(visible on the booking in Bookingmood's calendar), or on the contact
(``contacts.notes``, appended) when no booking is involved. A note already
present (found by the call's marker) is not written twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator

from handoff.connectors.base import BaseConnector, FrozenPartnerModel, PartnerSettings, Probe, Secret
from handoff.connectors.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    RejectedInputError,
)
from handoff.connectors.http import NO_RETRY, RetryPolicy
from handoff.models import Tool

# UNCONFIRMED facts from the reference page that this module relies on (README lists them).
ASSUMPTIONS: dict[str, str] = {
    "error_body": "Errors are stock PostgREST JSON {code, message, details, hint}; only the HTTP status is relied on.",
    "patch_response": "PATCH answers 204 without rows (return=representation unconfirmed); updates re-read the row.",
    "booking_reference": "bookings.reference holds the public reference callers quote (e.g. BK-48377); /book shows it "
    "as a UUID, so some accounts may keep a human code elsewhere.",
    "no_counts": "Prefer: count=exact / Content-Range are unconfirmed; has_more is inferred from a full page.",
    "no_embedding": "Embed names across foreign keys are unconfirmed; related rows are read with separate in.() GETs.",
    "widget_settings": "widgets.settings is NOT NULL without default in the older schema, so {} is always sent; the "
    "language/locale column is never sent because its live name is unconfirmed.",
    "notes_columns": "contacts.notes is a writable free-text column; a contact's handoff note is appended there "
    "(booking notes go to the calendar_event_notes table, whose schema Bookingmood's own Zapier app ships).",
    "notes_like_filter": "calendar_event_notes.note accepts PostgREST like filters, so a note is found again by the "
    "call's marker before a second row is written.",
    "rate_limits": "No published rate limits; 429 and 5xx are retried with backoff, other 4xx never.",
    "auth_errors": "A wrong or revoked key answers 401/403 on the first real request (the key is not checked earlier).",
}

DEFAULT_BASE_URL = "https://api.bookingmood.com/v1"
MAX_PAGE = 1000
BookingStatus = Literal["CONFIRMED", "TENTATIVE", "CANCELLED"]

# --------------------------------------------------------------------------------------------
# Partner field names -> Handoff names: the one place they are mapped. The keys are also the
# columns each GET selects, so a renamed column is fixed here and nowhere else.
# --------------------------------------------------------------------------------------------
CONTACT_FIELDS = {
    "id": "contact_id",
    "first_name": "first_name",
    "last_name": "last_name",
    "name": "full_name",
    "email": "email",
    "phone": "phone",
    "notes": "notes",
    "created_at": "created_at",
}
BOOKING_FIELDS = {
    "id": "booking_id",
    "reference": "reference",
    "currency": "currency",
    "confirmed_at": "confirmed_at",
    "created_at": "created_at",
}
EVENT_FIELDS = {
    "id": "event_id",
    "booking_id": "booking_id",
    "product_id": "product_id",
    "status": "status",
    "start_date": "arrival",
    "end_date": "departure",
    "notes": "notes",
}
LINK_FIELDS = {"id": "link_id", "contact_id": "contact_id", "booking_id": "booking_id"}
WIDGET_FIELDS = {
    "id": "widget_id",
    "title": "title",
    "type": "widget_type",
    "interaction": "interaction",
    "currency": "currency",
    "created_at": "created_at",
}
LISTING_FIELDS = {"id": "listing_id", "widget_id": "widget_id", "product_id": "product_id", "order": "position"}
PRODUCT_FIELDS = {
    "id": "product_id",
    "name": "name",
    "timezone": "timezone",
    "currency": "currency",
    "rent_period": "rent_period",
    "interaction": "interaction",
}


def _select(fields: Mapping[str, str]) -> str:
    return ",".join(fields)


def _to_handoff(row: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    return {ours: row.get(theirs) for theirs, ours in fields.items()}


def _to_partner(values: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    theirs = {ours: partner for partner, ours in fields.items()}
    return {theirs[k]: v for k, v in values.items()}


# --------------------------------------------------------------------------------------------
# PostgREST filter values
# --------------------------------------------------------------------------------------------
_RESERVED = re.compile(r'[,.:()"\s]')


def pg_quote(value: str) -> str:
    """Quote a value inside ``in.(…)``/``or=(…)`` when it holds PostgREST's reserved characters."""
    if not _RESERVED.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pg_in(values: Iterable[str]) -> str:
    return "in.(" + ",".join(pg_quote(v) for v in values) + ")"


def _pattern_text(value: str) -> str:
    """User text inside an ilike pattern: PostgREST's ``*`` wildcard is stripped."""
    return value.replace("*", "").strip()


def require_id_filter(filters: Mapping[str, Any]) -> None:
    """Refuse a write whose filters do not pin rows by ``id`` (eq or in).

    PostgREST applies PATCH/DELETE to every row matching the filters, so a
    missing filter would change the whole table; this guard runs before any
    request is sent.
    """
    value = filters.get("id")
    if not isinstance(value, str) or not re.fullmatch(r"(eq\.[^\s,]+|in\.\(.+\))", value):
        raise RejectedInputError("bookingmood", "refusing a write without an id=eq./id=in. filter")


# --------------------------------------------------------------------------------------------
# Configuration and models (Handoff names)
# --------------------------------------------------------------------------------------------
class Settings(PartnerSettings):
    """The ``bookingmood`` block of the partner secret."""

    base_url: str = DEFAULT_BASE_URL
    api_key: Secret = Field(min_length=8)
    organization_id: str | None = None


_Model = FrozenPartnerModel


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a PostgREST list (limit/offset paging)."""

    items: list[T]
    limit: int
    offset: int
    has_more: bool

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.has_more else None


class Contact(_Model):
    contact_id: str
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    phone: str | None = None
    notes: str | None = None
    created_at: datetime | None = None


class ContactQuery(BaseModel):
    """Criteria are ANDed; a name matches any of its words in first or last name."""

    model_config = ConfigDict(defer_build=True)

    contact_id: str | None = None
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0)


class Booking(_Model):
    """A booking with its status and dates, which live on its calendar event."""

    booking_id: str
    reference: str | None = None
    currency: str | None = None
    confirmed_at: datetime | None = None
    created_at: datetime | None = None
    event_id: str | None = None
    status: BookingStatus | None = None
    arrival: date | None = None
    departure: date | None = None
    product_id: str | None = None
    contact_ids: tuple[str, ...] = ()


class BookingQuery(BaseModel):
    """Criteria are ANDed; ``email`` resolves contacts first, dates and status filter calendar events."""

    model_config = ConfigDict(defer_build=True)

    booking_id: str | None = None
    reference: str | None = None
    contact_id: str | None = None
    email: str | None = None
    status: BookingStatus | None = None
    arrival_from: date | None = None
    arrival_to: date | None = None
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0)


class CalendarEvent(_Model):
    event_id: str
    booking_id: str | None = None
    product_id: str | None = None
    status: BookingStatus | None = None
    arrival: date | None = None
    departure: date | None = None
    notes: str | None = None


class ContactLink(_Model):
    link_id: str
    contact_id: str
    booking_id: str


class ContactBookingUpdate(BaseModel):
    """Re-point one contact↔booking link, stating what it was, what it becomes and why."""

    model_config = ConfigDict(defer_build=True)

    link_id: str = Field(min_length=1)
    field: Literal["contact_id", "booking_id"]
    old_value: str = Field(min_length=1)
    new_value: str = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=1000)


class ContactBookingChange(BaseModel):
    """The record of an applied change; ``already_applied`` when a retry found it done."""

    model_config = ConfigDict(defer_build=True)

    link_id: str
    field: Literal["contact_id", "booking_id"]
    old_value: str
    new_value: str
    reason: str
    already_applied: bool
    changed_at: datetime


class BookingStatusUpdate(BaseModel):
    model_config = ConfigDict(defer_build=True)

    booking_id: str = Field(min_length=1)
    old_status: BookingStatus
    new_status: BookingStatus
    reason: str = Field(min_length=1, max_length=1000)


class BookingStatusChange(BaseModel):
    model_config = ConfigDict(defer_build=True)

    booking_id: str
    event_ids: tuple[str, ...]
    old_status: BookingStatus
    new_status: BookingStatus
    reason: str
    already_applied: bool
    changed_at: datetime


class NoteRequest(BaseModel):
    """A note for a booking or a contact. ``marker`` (e.g. the call id) makes the write idempotent."""

    model_config = ConfigDict(defer_build=True)

    target_id: str = Field(min_length=1)
    text: str = Field(min_length=1, max_length=4000)
    marker: str | None = None


class NoteRecord(BaseModel):
    model_config = ConfigDict(defer_build=True)

    target_id: str
    location: Literal["calendar_event_notes", "contacts.notes"]
    row_id: str
    already_present: bool


class Product(_Model):
    product_id: str
    name: str | None = None
    timezone: str | None = None
    currency: str | None = None
    rent_period: str | None = None
    interaction: str | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _localized(cls, value: Any) -> Any:
        """Bookingmood localizes names as ``{"default": …, "nl-NL": …}``."""
        if isinstance(value, dict):
            return value.get("default") or next(iter(value.values()), None)
        return value


class WidgetRequest(BaseModel):
    """A booking widget showing ``product_ids``. ``reuse_existing`` returns a widget with the same title."""

    model_config = ConfigDict(defer_build=True)

    title: str = Field(min_length=1, max_length=200)
    widget_type: Literal["calendar", "timeline", "inventory", "search"] = "calendar"
    interaction: Literal["book", "forward"] | None = "book"
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    product_ids: list[str] = Field(default_factory=list)
    reuse_existing: bool = True


class Widget(_Model):
    widget_id: str
    title: str | None = None
    widget_type: str | None = None
    interaction: str | None = None
    currency: str | None = None
    created_at: datetime | None = None
    product_ids: tuple[str, ...] = ()
    reused: bool = False


class WidgetListing(_Model):
    listing_id: str
    widget_id: str
    product_id: str
    position: int | None = None


# --------------------------------------------------------------------------------------------
# Connector
# --------------------------------------------------------------------------------------------
class BookingmoodConnector(BaseConnector[Settings]):
    """Typed operations on one Bookingmood organization."""

    TOOL: ClassVar[Tool] = Tool.BOOKINGMOOD
    SETTINGS = Settings

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(settings, **options)
        key = settings.api_key.get_secret_value()
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        self._http = self.http_client(secrets=(key,), headers=headers)
        self._organization_id = settings.organization_id

    def _probe(self) -> Probe:
        """``GET /products?limit=1``: the cheap credential test Bookingmood's own Zapier app uses."""
        self._get("products", {"select": "id", "limit": 1}, retry=NO_RETRY)
        return Probe(detail="no quota reported")

    # -- contacts ----------------------------------------------------------------------------
    def find_contacts(self, query: ContactQuery) -> Page[Contact]:
        """Contacts matching every given criterion, ordered by id, one page at a time."""
        params: dict[str, Any] = {"select": _select(CONTACT_FIELDS), "order": "id.asc"}
        if query.contact_id:
            params["id"] = f"eq.{query.contact_id}"
        if query.email:
            params["email"] = f"ilike.{_pattern_text(query.email)}"
        if query.phone:
            params["phone"] = f"eq.{query.phone.strip()}"
        if query.name:
            words = [w for w in re.split(r"\s+", _pattern_text(query.name)) if len(w) >= 2]
            if words:
                terms = [f"{col}.ilike.{pg_quote(f'*{w}*')}" for w in words for col in ("first_name", "last_name")]
                params["or"] = "(" + ",".join(terms) + ")"
        rows = self._page("contacts", params, query.limit, query.offset)
        contacts = [Contact.model_validate(_to_handoff(r, CONTACT_FIELDS)) for r in rows]
        if query.email:
            # ilike treats "_" as a wildcard: keep exact (case-insensitive) e-mail matches only.
            wanted = query.email.strip().casefold()
            contacts = [c for c in contacts if (c.email or "").strip().casefold() == wanted]
        return Page[Contact](items=contacts, limit=query.limit, offset=query.offset, has_more=len(rows) == query.limit)

    # -- bookings ----------------------------------------------------------------------------
    def find_bookings(self, query: BookingQuery) -> Page[Booking]:
        """Bookings with their status, dates and contacts.

        Status and dates live on ``calendar_events`` and guests on
        ``contact_bookings``; both are read with ``in.()`` filters rather than
        embedding (see ASSUMPTIONS["no_embedding"]).
        """
        ids: set[str] | None = {query.booking_id} if query.booking_id else None
        contact_ids: list[str] = [query.contact_id] if query.contact_id else []
        if query.email:
            found = self.find_contacts(ContactQuery(email=query.email, limit=MAX_PAGE)).items
            by_email = [c.contact_id for c in found]
            contact_ids = [c for c in contact_ids if c in by_email] if contact_ids else by_email
            if not contact_ids:
                return Page[Booking](items=[], limit=query.limit, offset=query.offset, has_more=False)
        if contact_ids:
            links = self._links({"contact_id": pg_in(contact_ids)})
            ids = _narrow(ids, {link.booking_id for link in links})
        if query.status or query.arrival_from or query.arrival_to:
            event_filters: dict[str, Any] = {}
            if ids is not None:
                event_filters["booking_id"] = pg_in(sorted(ids))
            if query.status:
                event_filters["status"] = f"eq.{query.status}"
            bounds = []
            if query.arrival_from:
                bounds.append(f"start_date.gte.{query.arrival_from.isoformat()}")
            if query.arrival_to:
                bounds.append(f"start_date.lte.{query.arrival_to.isoformat()}")
            if bounds:
                event_filters["and"] = "(" + ",".join(bounds) + ")"
            ids = _narrow(ids, {e.booking_id for e in self._events(event_filters) if e.booking_id})
        if ids is not None and not ids:
            return Page[Booking](items=[], limit=query.limit, offset=query.offset, has_more=False)

        params: dict[str, Any] = {"select": _select(BOOKING_FIELDS), "order": "created_at.desc,id.asc"}
        if ids is not None:
            params["id"] = pg_in(sorted(ids))
        if query.reference:
            params["reference"] = f"eq.{query.reference.strip()}"
        rows = self._page("bookings", params, query.limit, query.offset)
        bookings = self._enrich([_to_handoff(r, BOOKING_FIELDS) for r in rows])
        return Page[Booking](items=bookings, limit=query.limit, offset=query.offset, has_more=len(rows) == query.limit)

    def get_booking(self, booking_id: str) -> Booking:
        page = self.find_bookings(BookingQuery(booking_id=booking_id, limit=1))
        if not page.items:
            raise NotFoundError(self.TOOL.value, f"booking {booking_id} not found")
        return page.items[0]

    def change_booking_status(self, update: BookingStatusUpdate) -> BookingStatusChange:
        """Confirm or cancel a booking through its calendar events (where Bookingmood keeps status).

        The PATCH is conditional on the old status, so a retry cannot undo a
        concurrent change; a booking already in the new status is reported as
        ``already_applied``; one in a third status is a conflict.
        """
        events = self._events({"booking_id": f"eq.{update.booking_id}"})
        if not events:
            raise NotFoundError(self.TOOL.value, f"booking {update.booking_id} has no calendar event")
        event_ids = tuple(e.event_id for e in events)
        now = datetime.now(UTC)
        if all(e.status == update.new_status for e in events):
            return BookingStatusChange(**update.model_dump(), event_ids=event_ids, already_applied=True, changed_at=now)
        stale = [e for e in events if e.status not in (update.old_status, update.new_status)]
        if stale:
            raise ConflictError(
                self.TOOL.value,
                f"booking {update.booking_id} is {stale[0].status}, not {update.old_status}; not changed",
            )
        pending = [e.event_id for e in events if e.status == update.old_status]
        self._patch(
            "calendar_events",
            {"id": pg_in(pending), "status": f"eq.{update.old_status}"},
            {"status": update.new_status},
        )
        after = self._events({"id": pg_in(pending)})
        if any(e.status != update.new_status for e in after):
            raise ConflictError(self.TOOL.value, f"booking {update.booking_id} changed concurrently; re-read it")
        return BookingStatusChange(**update.model_dump(), event_ids=event_ids, already_applied=False, changed_at=now)

    # -- contact bookings --------------------------------------------------------------------
    def contact_links(self, *, booking_id: str | None = None, contact_id: str | None = None) -> list[ContactLink]:
        """The contact↔booking links of a booking or of a contact."""
        filters: dict[str, Any] = {}
        if booking_id:
            filters["booking_id"] = f"eq.{booking_id}"
        if contact_id:
            filters["contact_id"] = f"eq.{contact_id}"
        if not filters:
            raise RejectedInputError(self.TOOL.value, "contact_links needs a booking_id or a contact_id")
        return self._links(filters)

    def update_contact_booking(self, update: ContactBookingUpdate) -> ContactBookingChange:
        """``PATCH /contact_bookings?id=eq.<id>&<field>=eq.<old>``: change one link, recording old, new and why.

        The PATCH is conditional on the old value, which makes it safe to
        retry: a retry after success matches no row and the re-read reports
        ``already_applied``. A link holding a third value is a conflict (a
        stale request), a missing link is not found. Bookingmood has no column
        for the reason; it is returned here for the caller to record (e.g. as
        a booking note through :meth:`add_booking_note`).
        """
        link = self._link(update.link_id)
        now = datetime.now(UTC)
        current = getattr(link, update.field)
        if current == update.new_value:
            return ContactBookingChange(**update.model_dump(), already_applied=True, changed_at=now)
        if current != update.old_value:
            raise ConflictError(
                self.TOOL.value,
                f"link {update.link_id} has {update.field}={current}, not the expected old value; not changed",
            )
        self._patch(
            "contact_bookings",
            {"id": f"eq.{update.link_id}", update.field: f"eq.{update.old_value}"},
            _to_partner({update.field: update.new_value}, LINK_FIELDS),
        )
        if getattr(self._link(update.link_id), update.field) != update.new_value:
            raise ConflictError(self.TOOL.value, f"link {update.link_id} changed concurrently; re-read it")
        return ContactBookingChange(**update.model_dump(), already_applied=False, changed_at=now)

    # -- notes -------------------------------------------------------------------------------
    def add_booking_note(self, note: NoteRequest) -> NoteRecord:
        """One row in ``calendar_event_notes`` on the booking's (first) calendar event, once per marker.

        Bookingmood keeps a calendar event's notes as an append-only table, one
        row per note (bookingmood/bookingmood-zapier ``src/data/api-spec.ts``,
        definition ``calendar_event_notes``: id, calendar_event_id, author_id,
        note, created_at, updated_at), which is what an audit trail wants: each
        call's note is its own row, never a rewrite of someone else's text. A
        row whose note already carries the call's marker means it was written.
        """
        events = self._events({"booking_id": f"eq.{note.target_id}"})
        if not events:
            raise NotFoundError(self.TOOL.value, f"booking {note.target_id} has no calendar event")
        event = min(events, key=lambda e: (e.arrival or date.max, e.event_id))
        needle = note.marker or note.text
        existing = self._get(
            "calendar_event_notes",
            {
                "select": "id,note",
                "calendar_event_id": f"eq.{event.event_id}",
                "note": f"like.*{_pattern_text(needle)}*",
            },
        )
        present = next((r for r in existing if needle in str(r.get("note") or "")), None)
        if present is not None:
            row_id = str(present["id"])
        else:
            created = self._post("calendar_event_notes", {"calendar_event_id": event.event_id, "note": note.text}, "id")
            row_id = str(created[0]["id"])
        return NoteRecord(
            target_id=note.target_id,
            location="calendar_event_notes",
            row_id=row_id,
            already_present=present is not None,
        )

    def add_contact_note(self, note: NoteRequest) -> NoteRecord:
        """Append ``text`` to a contact's notes."""
        rows = self._get("contacts", {"select": "id,notes", "id": f"eq.{note.target_id}"})
        if not rows:
            raise NotFoundError(self.TOOL.value, f"contact {note.target_id} not found")
        existing = rows[0].get("notes")
        present = _note_present(existing, note)
        if not present:
            self._patch("contacts", {"id": f"eq.{note.target_id}"}, {"notes": _appended(existing, note.text)})
        return NoteRecord(
            target_id=note.target_id, location="contacts.notes", row_id=note.target_id, already_present=present
        )

    # -- widgets and listings ----------------------------------------------------------------
    def list_widgets(self, *, limit: int = 100, offset: int = 0) -> Page[Widget]:
        params = {"select": _select(WIDGET_FIELDS), "order": "created_at.desc,id.asc"}
        rows = self._page("widgets", params, limit, offset)
        widgets = [Widget.model_validate(_to_handoff(r, WIDGET_FIELDS)) for r in rows]
        return Page[Widget](items=widgets, limit=limit, offset=offset, has_more=len(rows) == limit)

    def list_products(self, *, limit: int = 100, offset: int = 0) -> Page[Product]:
        """The rental units (listings) a widget can show."""
        rows = self._page("products", {"select": _select(PRODUCT_FIELDS), "order": "id.asc"}, limit, offset)
        products = [Product.model_validate(_to_handoff(r, PRODUCT_FIELDS)) for r in rows]
        return Page[Product](items=products, limit=limit, offset=offset, has_more=len(rows) == limit)

    def list_widget_listings(self, widget_id: str) -> list[WidgetListing]:
        rows = self._get(
            "widget_listings",
            {"select": _select(LISTING_FIELDS), "widget_id": f"eq.{widget_id}", "order": "order.asc"},
        )
        return [WidgetListing.model_validate(_to_handoff(r, LISTING_FIELDS)) for r in rows]

    def create_booking_widget(self, request: WidgetRequest) -> Widget:
        """``POST /widgets`` then ``POST /widget_listings`` for its products.

        Bookingmood has no idempotency key, so the POSTs are never retried in
        the client (a timed-out create may have happened); instead, with
        ``reuse_existing``, a widget with the same title is searched first and
        returned (search-before-create), which makes a re-run of the whole
        operation safe. Missing listings of a reused widget are added.
        Unknown product ids are refused before anything is written.
        """
        if request.product_ids:
            known = {r["id"] for r in self._get("products", {"select": "id", "id": pg_in(request.product_ids)})}
            unknown = [p for p in request.product_ids if p not in known]
            if unknown:
                raise RejectedInputError(self.TOOL.value, f"unknown product ids: {', '.join(unknown)}")
        if request.reuse_existing:
            rows = self._get(
                "widgets",
                {"select": _select(WIDGET_FIELDS), "title": f"eq.{request.title}", "order": "created_at.asc,id.asc"},
            )
            if rows:
                widget = Widget.model_validate(_to_handoff(rows[0], WIDGET_FIELDS))
                products = self._attach(widget.widget_id, request.product_ids)
                return widget.model_copy(update={"product_ids": tuple(products), "reused": True})
        body = {
            "organization_id": self._organization(),
            "settings": {},
            **_to_partner(
                {
                    "title": request.title,
                    "widget_type": request.widget_type,
                    "interaction": request.interaction,
                    "currency": request.currency,
                },
                WIDGET_FIELDS,
            ),
        }
        created = self._post("widgets", body, _select(WIDGET_FIELDS))
        widget = Widget.model_validate(_to_handoff(created[0], WIDGET_FIELDS))
        products = self._attach(widget.widget_id, request.product_ids)
        return widget.model_copy(update={"product_ids": tuple(products)})

    # -- plumbing ----------------------------------------------------------------------------
    def _organization(self) -> str:
        """The configured organization, or the only one the key can see (``GET /organizations``)."""
        if self._organization_id:
            return self._organization_id
        rows = self._get("organizations", {"select": "id"})
        if len(rows) != 1:
            raise AuthError(
                self.TOOL.value, f"organization_id not configured and the key sees {len(rows)} organizations"
            )
        self._organization_id = str(rows[0]["id"])
        return self._organization_id

    def _attach(self, widget_id: str, product_ids: Sequence[str]) -> list[str]:
        """Add the listings a widget lacks; return every product it shows, in order."""
        existing = [listing.product_id for listing in self.list_widget_listings(widget_id)]
        missing = [p for p in dict.fromkeys(product_ids) if p not in existing]
        if missing:
            start = len(existing)
            body = [{"widget_id": widget_id, "product_id": p, "order": start + i} for i, p in enumerate(missing)]
            self._post("widget_listings", body, "id")
        return [*existing, *missing]

    def _enrich(self, bookings: list[dict[str, Any]]) -> list[Booking]:
        if not bookings:
            return []
        ids = [b["booking_id"] for b in bookings]
        events: dict[str, CalendarEvent] = {}
        for event in self._events({"booking_id": pg_in(ids)}):
            if event.booking_id and (
                event.booking_id not in events
                or (event.arrival or date.max) < (events[event.booking_id].arrival or date.max)
            ):
                events[event.booking_id] = event
        guests: dict[str, list[str]] = {}
        for link in self._links({"booking_id": pg_in(ids)}):
            guests.setdefault(link.booking_id, []).append(link.contact_id)
        out = []
        for b in bookings:
            first = events.get(b["booking_id"])
            if first is not None:
                b |= {
                    "event_id": first.event_id,
                    "status": first.status,
                    "arrival": first.arrival,
                    "departure": first.departure,
                    "product_id": first.product_id,
                }
            b["contact_ids"] = tuple(sorted(guests.get(b["booking_id"], [])))
            out.append(Booking.model_validate(b))
        return out

    def _events(self, filters: Mapping[str, Any]) -> list[CalendarEvent]:
        params = {"select": _select(EVENT_FIELDS), "type": "eq.booking", "order": "start_date.asc,id.asc", **filters}
        return [
            CalendarEvent.model_validate(_to_handoff(r, EVENT_FIELDS)) for r in self._get("calendar_events", params)
        ]

    def _links(self, filters: Mapping[str, Any]) -> list[ContactLink]:
        params = {"select": _select(LINK_FIELDS), "order": "id.asc", **filters}
        return [ContactLink.model_validate(_to_handoff(r, LINK_FIELDS)) for r in self._get("contact_bookings", params)]

    def _link(self, link_id: str) -> ContactLink:
        links = self._links({"id": f"eq.{link_id}"})
        if not links:
            raise NotFoundError(self.TOOL.value, f"contact booking {link_id} not found")
        return links[0]

    def _page(self, table: str, params: dict[str, Any], limit: int, offset: int) -> list[dict[str, Any]]:
        return self._get(table, {**params, "limit": min(limit, MAX_PAGE), "offset": offset})

    def _get(self, table: str, params: Mapping[str, Any], *, retry: RetryPolicy | None = None) -> list[dict[str, Any]]:
        response = self._http.request("GET", table, params=params, retry=retry)
        return self._rows(response)

    def _post(self, table: str, body: Any, select: str) -> list[dict[str, Any]]:
        response = self._http.request(
            "POST",
            table,
            params={"select": select},
            json=body,
            headers={"Prefer": "return=representation"},
            retry=NO_RETRY,
        )
        rows = self._rows(response)
        if not rows:
            raise ConnectorError(self.TOOL.value, f"create on {table} returned no row")
        return rows

    def _patch(self, table: str, filters: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        """Every PATCH passes here: refused before sending unless pinned by id (see module docstring)."""
        require_id_filter(filters)
        self._http.request("PATCH", table, params=filters, json=dict(body))

    def _rows(self, response: requests.Response) -> list[dict[str, Any]]:
        try:
            body = response.json()
        except ValueError:
            raise ConnectorError(self.TOOL.value, f"non-JSON answer ({response.status_code})") from None
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
            raise ConnectorError(self.TOOL.value, "unexpected answer shape (expected rows)")
        return body


def _narrow(current: set[str] | None, allowed: set[str]) -> set[str]:
    return allowed if current is None else current & allowed


def _note_present(existing: str | None, note: NoteRequest) -> bool:
    needle = note.marker or note.text
    return bool(existing) and needle in (existing or "")


def _appended(existing: str | None, text: str) -> str:
    return f"{existing.rstrip()}\n\n{text}" if existing and existing.strip() else text
