"""Connector adapters map partner records to SourceRecords that score like the seed people."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from handoff.connectors.billit import BillitCustomer
from handoff.connectors.bookingmood import Booking, BookingQuery, Contact, ContactQuery, Page
from handoff.connectors.planyo import PlanyoUser, Reservation
from handoff.connectors.plisio import Operation, OperationPage
from handoff.match.adapters import BillitSource, BookingmoodSource, PlanyoSource, PlisioSource
from handoff.match.identity import build_identity
from handoff.match.sources import match_call
from handoff.models import CallSummary, MatchStatus, RecordKind, Tool

ELENA = PlanyoUser(
    user_id=700142, email="elena.marsh@example.com", first_name="Elena", last_name="Marsh", phone="+15555550142"
)
RESERVATION = Reservation(
    reservation_id=48213,
    email="elena.marsh@example.com",
    first_name="Elena",
    last_name="Marsh",
    phone="+15555550142",
    resource_name="Home delivery - Van 1",
    start=datetime(2025, 6, 12, 9),
    end=datetime(2025, 6, 12, 12),
)
HANNAH = Contact(contact_id="ct_164", full_name="Hannah Reid", email="hannah.reid@example.com", phone="+15555550164")
BOOKING = Booking(booking_id="bkm_48377", reference="BK-48377", contact_ids=("ct_164",), arrival=date(2025, 6, 16))
INVOICE = Operation(
    invoice_id="plisio_0917",
    order_number="INV-2025-0917",
    email="marcus.greene@example.com",
    amount=Decimal("349"),
    currency="USD",
    status="completed",
)
MARCUS = BillitCustomer(
    customer_id=310187, name="Marcus Greene", email="marcus.greene@example.com", vat_number="BE0123456789"
)


class FakePlanyo:
    def find_user(self, email: str) -> PlanyoUser | None:
        return ELENA if email == ELENA.email else None

    def find_reservations(
        self, *, email: str | None = None, phone: str | None = None, reservation: str | int | None = None
    ) -> list[Reservation]:
        hit = email == RESERVATION.email or str(reservation).endswith("48213")
        return [RESERVATION] if hit else []


class FakeBookingmood:
    def find_contacts(self, query: ContactQuery) -> Page[Contact]:
        hit = HANNAH.contact_id == query.contact_id or HANNAH.email == query.email or HANNAH.phone == query.phone
        return Page[Contact](items=[HANNAH] if hit else [], limit=50, offset=0, has_more=False)

    def find_bookings(self, query: BookingQuery) -> Page[Booking]:
        hit = query.reference == BOOKING.reference
        return Page[Booking](items=[BOOKING] if hit else [], limit=50, offset=0, has_more=False)


class FakePlisio:
    def get_invoices_by_email(self, email: str, *, limit: int = 20, page: int = 1) -> OperationPage:
        items = [INVOICE] if email == INVOICE.email else []
        return OperationPage(items=items, page=page, limit=limit, has_more=False)

    def find_invoice(self, order_number: str) -> Operation | None:
        return INVOICE if order_number == INVOICE.order_number else None


class FakeBillit:
    def find_customers(self, *, email: str | None = None, vat_number: str | None = None) -> list[BillitCustomer]:
        return [MARCUS] if email == MARCUS.email else []


def test_planyo_reservation_is_found_by_booking_id_and_matches_strongly() -> None:
    ident = build_identity(
        CallSummary(
            call_id="c",
            event="call.ended",
            analysis={"booking_id": "BK-48213", "customer_email": "elena.marsh@example.com"},
        )
    )
    result = match_call(ident, [PlanyoSource(FakePlanyo())])
    assert result.status is MatchStatus.STRONG
    best = result.candidates[0]
    assert (best.kind, best.record_id, best.attributes["start"]) == (
        RecordKind.RESERVATION,
        "48213",
        "2025-06-12T09:00:00",
    )


def test_bookingmood_booking_carries_its_contact_so_email_corroborates_the_reference() -> None:
    ident = build_identity(
        CallSummary(
            call_id="c",
            event="call.ended",
            analysis={"booking_id": "BK-48377", "customer_email": "hannah.reid@example.com"},
        )
    )
    result = match_call(ident, [BookingmoodSource(FakeBookingmood())])
    assert result.candidates[0].record_id == "bkm_48377"
    assert result.candidates[0].attributes["contact_id"] == "ct_164"
    assert result.status is MatchStatus.STRONG


def test_plisio_and_billit_find_marcus_and_never_copy_the_vat_number() -> None:
    ident = build_identity(
        CallSummary(
            call_id="c",
            event="call.ended",
            analysis={"invoice_number": "INV-2025-0917", "customer_email": "marcus.greene@example.com"},
        )
    )
    result = match_call(ident, [PlisioSource(FakePlisio()), BillitSource(FakeBillit())])
    assert [c.tool for c in result.candidates] == [Tool.PLISIO, Tool.BILLIT]
    assert result.candidates[0].attributes["amount"] == 349.0
    assert "BE0123456789" not in result.model_dump_json()
