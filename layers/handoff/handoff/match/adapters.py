"""Adapters from the real connectors to ``RecordSource``: each tool's search, in Handoff's names.

Each adapter asks its connector only by what the caller gave (e-mail, phone,
id) and maps partner records to ``SourceRecord``; scoring decides what they are
worth. Errors are not caught here: ``match_call`` records a raising lookup as
a failed ``LookupReport``. Tax identifiers (Billit ``vat_number``) are never
copied into a record.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from handoff.connectors.billit import BillitCustomer
from handoff.connectors.bookingmood import Booking, BookingQuery, Contact, ContactQuery, Page
from handoff.connectors.planyo import PlanyoUser, Reservation
from handoff.connectors.plisio import Operation, OperationPage
from handoff.match.identity import CallerIdentity
from handoff.match.normalise import IdKind
from handoff.match.sources import RecordRef, SourceRecord
from handoff.models import RecordKind, Tool


def _name(*parts: str | None) -> list[str]:
    full = " ".join(p for p in parts if p)
    return [full] if full else []


def _some(*values: str | None) -> list[str]:
    return [v for v in values if v]


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value is not None else None)


# --- Planyo ---------------------------------------------------------------------------------------


class PlanyoLookups(Protocol):
    def find_user(self, email: str) -> PlanyoUser | None: ...

    def find_reservations(
        self, *, email: str | None = None, phone: str | None = None, reservation: str | int | None = None
    ) -> list[Reservation]: ...


def planyo_user_record(user: PlanyoUser) -> SourceRecord:
    return SourceRecord(
        tool=Tool.PLANYO,
        kind=RecordKind.CUSTOMER,
        record_id=str(user.user_id),
        display=user.full_name,
        emails=_some(user.email),
        phones=_some(user.phone, user.mobile),
        names=_name(user.first_name, user.last_name),
    )


def planyo_reservation_record(reservation: Reservation) -> SourceRecord:
    rid = str(reservation.reservation_id)
    who = " ".join(p for p in (reservation.first_name, reservation.last_name) if p)
    return SourceRecord(
        tool=Tool.PLANYO,
        kind=RecordKind.RESERVATION,
        record_id=rid,
        display=", ".join(p for p in (who, reservation.resource_name) if p),
        emails=_some(reservation.email),
        phones=_some(reservation.phone),
        names=_name(reservation.first_name, reservation.last_name),
        ids=[
            RecordRef(kind=IdKind.RESERVATION, value=rid, field="reservation_id"),
            RecordRef(kind=IdKind.BOOKING, value=f"BK-{rid}", field="reservation_id"),
        ],
        attributes={
            "start": _iso(reservation.start),
            "end": _iso(reservation.end),
            "status": reservation.state,
            "resource": reservation.resource_name,
            "user_id": reservation.user_id,
            "total_price": float(reservation.total_price) if reservation.total_price is not None else None,
            "currency": reservation.currency,
        },
    )


class PlanyoSource:
    """Planyo users by e-mail; reservations by e-mail, phone or reservation / ``BK-`` id."""

    tool = Tool.PLANYO

    def __init__(self, connector: PlanyoLookups) -> None:
        self.connector = connector

    def lookup(self, identity: CallerIdentity) -> list[SourceRecord]:
        records = [planyo_user_record(u) for e in identity.emails if (u := self.connector.find_user(e.value))]
        ids: list[str | None] = [o.value for o in identity.ids_of(IdKind.BOOKING, IdKind.RESERVATION)] or [None]
        for reservation_id in ids:
            email, phone = identity.first_email(), identity.first_phone()
            if email is None and phone is None and reservation_id is None:
                break
            found = self.connector.find_reservations(email=email, phone=phone, reservation=reservation_id)
            records.extend(planyo_reservation_record(r) for r in found)
        return records


# --- Bookingmood ----------------------------------------------------------------------------------


class BookingmoodLookups(Protocol):
    def find_contacts(self, query: ContactQuery) -> Page[Contact]: ...

    def find_bookings(self, query: BookingQuery) -> Page[Booking]: ...


def bookingmood_contact_record(contact: Contact) -> SourceRecord:
    names = _some(contact.full_name) or _name(contact.first_name, contact.last_name)
    return SourceRecord(
        tool=Tool.BOOKINGMOOD,
        kind=RecordKind.CONTACT,
        record_id=contact.contact_id,
        display=names[0] if names else "",
        emails=_some(contact.email),
        phones=_some(contact.phone),
        names=names,
    )


def bookingmood_booking_record(booking: Booking, contacts: Iterable[Contact]) -> SourceRecord:
    people = list(contacts)
    names = [n for c in people for n in (_some(c.full_name) or _name(c.first_name, c.last_name))]
    return SourceRecord(
        tool=Tool.BOOKINGMOOD,
        kind=RecordKind.BOOKING,
        record_id=booking.booking_id,
        display=", ".join(p for p in (names[0] if names else None, booking.reference) if p),
        emails=[c.email for c in people if c.email],
        phones=[c.phone for c in people if c.phone],
        names=names,
        ids=[RecordRef(kind=IdKind.BOOKING, value=booking.reference, field="reference")] if booking.reference else [],
        attributes={
            "start": _iso(booking.arrival),
            "end": _iso(booking.departure),
            "status": str(booking.status) if booking.status is not None else None,
            "contact_id": booking.contact_ids[0] if booking.contact_ids else None,
            "currency": booking.currency,
        },
    )


class BookingmoodSource:
    """Bookingmood contacts by e-mail or phone; bookings by reference or contact e-mail, with their contacts."""

    tool = Tool.BOOKINGMOOD

    def __init__(self, connector: BookingmoodLookups) -> None:
        self.connector = connector

    def _contacts(self, ids: Iterable[str]) -> list[Contact]:
        found: list[Contact] = []
        for contact_id in ids:
            found.extend(self.connector.find_contacts(ContactQuery(contact_id=contact_id)).items)
        return found

    def lookup(self, identity: CallerIdentity) -> list[SourceRecord]:
        contacts: dict[str, Contact] = {}
        for email in identity.emails:
            contacts.update(
                (c.contact_id, c) for c in self.connector.find_contacts(ContactQuery(email=email.value)).items
            )
        for phone in identity.phones:
            contacts.update(
                (c.contact_id, c) for c in self.connector.find_contacts(ContactQuery(phone=phone.value)).items
            )
        bookings: dict[str, Booking] = {}
        for ref in identity.ids_of(IdKind.BOOKING):
            bookings.update(
                (b.booking_id, b) for b in self.connector.find_bookings(BookingQuery(reference=ref.value)).items
            )
        for email in identity.emails:
            bookings.update(
                (b.booking_id, b) for b in self.connector.find_bookings(BookingQuery(email=email.value)).items
            )
        records = [bookingmood_contact_record(c) for c in contacts.values()]
        for booking in bookings.values():
            known = [contacts[cid] for cid in booking.contact_ids if cid in contacts]
            missing = [cid for cid in booking.contact_ids if cid not in contacts]
            records.append(bookingmood_booking_record(booking, known + self._contacts(missing)))
        return records


# --- Plisio ---------------------------------------------------------------------------------------


class PlisioLookups(Protocol):
    def get_invoices_by_email(self, email: str, *, limit: int = 20, page: int = 1) -> OperationPage: ...

    def find_invoice(self, order_number: str) -> Operation | None: ...


def plisio_invoice_record(invoice: Operation) -> SourceRecord:
    return SourceRecord(
        tool=Tool.PLISIO,
        kind=RecordKind.INVOICE,
        record_id=invoice.invoice_id,
        display=", ".join(
            p for p in (invoice.order_number, f"{invoice.amount} {invoice.currency}" if invoice.amount else None) if p
        ),
        emails=_some(invoice.email),
        ids=[RecordRef(kind=IdKind.INVOICE, value=invoice.order_number, field="order_number")]
        if invoice.order_number
        else [],
        attributes={
            "amount": float(invoice.amount) if invoice.amount is not None else None,
            "currency": invoice.currency,
            "status": invoice.status,
            "order_name": invoice.order_name,
        },
    )


class PlisioSource:
    """Plisio invoices by invoice number (``order_number``) and by e-mail."""

    tool = Tool.PLISIO

    def __init__(self, connector: PlisioLookups) -> None:
        self.connector = connector

    def lookup(self, identity: CallerIdentity) -> list[SourceRecord]:
        found: dict[str, Operation] = {}
        for ref in identity.ids_of(IdKind.INVOICE):
            invoice = self.connector.find_invoice(ref.value)
            if invoice is not None:
                found[invoice.invoice_id] = invoice
        for email in identity.emails:
            for invoice in self.connector.get_invoices_by_email(email.value).items:
                found.setdefault(invoice.invoice_id, invoice)
        return [plisio_invoice_record(op) for op in found.values()]


# --- Billit ---------------------------------------------------------------------------------------


class BillitLookups(Protocol):
    def find_customers(self, *, email: str | None = None, vat_number: str | None = None) -> list[BillitCustomer]: ...


def billit_customer_record(customer: BillitCustomer) -> SourceRecord:
    names = _some(customer.name) + _name(customer.contact_first_name, customer.contact_last_name)
    return SourceRecord(
        tool=Tool.BILLIT,
        kind=RecordKind.CUSTOMER,
        record_id=str(customer.customer_id),
        display=customer.name or customer.commercial_name or "",
        emails=_some(customer.email),
        phones=_some(customer.phone),
        names=names,
        attributes={"customer_number": customer.customer_number},  # never the VAT number
    )


class BillitSource:
    """Billit customers by e-mail."""

    tool = Tool.BILLIT

    def __init__(self, connector: BillitLookups) -> None:
        self.connector = connector

    def lookup(self, identity: CallerIdentity) -> list[SourceRecord]:
        found: dict[int, BillitCustomer] = {}
        for email in identity.emails:
            found.update((c.customer_id, c) for c in self.connector.find_customers(email=email.value))
        return [billit_customer_record(c) for c in found.values()]
