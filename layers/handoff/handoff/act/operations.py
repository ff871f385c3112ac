"""One function per (tool, operation) the policy may name: the action -> the connector call.

Why a table of small functions: each partner writes differently (Planyo form
methods, Bookingmood PostgREST rows, Plisio invoices, Billit parties), but act
needs one shape back (what was done, the partner's record id and URL) to record
on the call and show the owner. Creates are always searches first (the
connector upserts), and partner idempotency keys carry the call id where the
partner has one (Plisio ``order_number``, Billit ``Idempotent-Key``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from handoff.connectors.errors import RejectedInputError
from handoff.models import Action, Tool


@dataclass(frozen=True)
class Performed:
    """What one operation did in its tool."""

    record_id: str | None
    record_url: str | None = None
    detail: str = ""
    changed: bool = True


Memo = Callable[[str, Callable[[], dict[str, Any]]], dict[str, Any]]


def _compute(name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return compute()


@dataclass(frozen=True)
class ActionInput:
    call_id: str
    action: Action
    note: str
    remember: Memo = _compute
    """``remember(name, compute)``: ``compute()``'s result, recorded once per action in the ledger, so a
    retry or redrive sees what the first attempt saw (act.perform keeps it; tests may leave the default)."""


CALLS_PER_OPERATION: dict[tuple[Tool, str], int] = {}
"""Partner calls an operation makes at most (default 3: search, write, read back); act's budget uses it."""


Operation = Callable[[Any, ActionInput], Performed]
OPERATIONS: dict[tuple[Tool, str], Operation] = {}


def operation(tool: Tool, name: str) -> Callable[[Operation], Operation]:
    def register(fn: Operation) -> Operation:
        OPERATIONS[(tool, name)] = fn
        return fn

    return register


def _param(action: Action, *names: str) -> Any:
    for name in names:
        value = action.params.get(name)
        if value not in (None, ""):
            return value
    if action.target and "record_id" in names:
        return action.target
    return None


def _required(action: Action, *names: str) -> Any:
    value = _param(action, *names)
    if value is None:
        value = action.target if action.target else None
    if value is None:
        raise RejectedInputError(str(action.tool), f"{action.operation}: missing {names[0]} (no matched record)")
    return value


def _wall_time(value: Any) -> datetime:
    """A requested date as the site's wall-clock time (Planyo takes naive local times)."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value)
        parsed = datetime.fromisoformat(text if "T" in text or " " in text else f"{text}T00:00:00")
    return parsed.replace(tzinfo=None)


# ----------------------------------------------------------------------------- Planyo
def _times(reservation: Any) -> dict[str, Any]:
    return {
        "start": reservation.start.isoformat() if reservation.start else None,
        "end": reservation.end.isoformat() if reservation.end else None,
    }


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@operation(Tool.PLANYO, "modify_reservation")
def planyo_modify_reservation(connector: Any, inp: ActionInput) -> Performed:
    """Move a booking; the note says where it was *before*, read once and remembered.

    A retry after the move (crash, timeout) would otherwise read the new time as
    the old one ("Old: 13:00 ... New: 13:00") and write a second, different note;
    with the remembered times it writes the same text, which Planyo's note
    dedupe (text already present) recognises.
    """
    from handoff.connectors.planyo import Reschedule

    action = inp.action
    reservation = _required(action, "reservation_id", "record_id")
    new_start = _wall_time(_required(action, "new_start"))
    before = inp.remember("before_move", lambda: _times(connector.get_reservation(reservation)))
    old_start, old_end = _when(before.get("start")), _when(before.get("end"))
    length = (old_end - old_start) if old_start and old_end else timedelta(hours=3)
    outcome = connector.modify_reservation(reservation, Reschedule(start=new_start, end=new_start + length))
    note = f"{inp.note}\nOld: {old_start} - {old_end}. New: {new_start} - {new_start + length}."
    connector.add_reservation_note(reservation, note)
    return Performed(
        record_id=str(reservation),
        detail=f"moved from {old_start} to {new_start}",
        changed=bool(outcome.changed),
    )


CALLS_PER_OPERATION[(Tool.PLANYO, "modify_reservation")] = 6  # read before, read+move+read, read+write note


@operation(Tool.PLANYO, "set_reservation_status")
def planyo_set_reservation_status(connector: Any, inp: ActionInput) -> Performed:
    from handoff.connectors.planyo import ReservationAction

    reservation = _required(inp.action, "reservation_id", "record_id")
    status = str(inp.action.params.get("status") or "cancelled")
    mapping = {
        "cancelled": ReservationAction.CANCEL,
        "cancel": ReservationAction.CANCEL,
        "confirmed": ReservationAction.CONFIRM,
        "checked_in": ReservationAction.CHECK_IN,
        "checked_out": ReservationAction.CHECK_OUT,
        "no_show": ReservationAction.NO_SHOW,
    }
    if status not in mapping:
        raise RejectedInputError("planyo", f"set_reservation_status: unknown status {status!r}")
    outcome = connector.reservation_action(reservation, mapping[status], comment=inp.note[:500])
    return Performed(record_id=str(reservation), detail=f"status {status}", changed=bool(outcome.changed))


@operation(Tool.PLANYO, "add_reservation_note")
def planyo_add_reservation_note(connector: Any, inp: ActionInput) -> Performed:
    reservation = _required(inp.action, "reservation_id", "record_id")
    outcome = connector.add_reservation_note(reservation, inp.note)
    return Performed(record_id=str(reservation), detail="handoff note added", changed=bool(outcome.changed))


@operation(Tool.PLANYO, "add_user")
def planyo_add_user(connector: Any, inp: ActionInput) -> Performed:
    from handoff.connectors.planyo import NewUser

    p = inp.action.params
    user = NewUser(
        email=_required(inp.action, "email"),
        first_name=p.get("first_name") or p.get("name") or "Caller",
        last_name=p.get("last_name") or None,
        phone=p.get("phone") or None,
    )
    upsert = connector.add_user(user)
    verb = "created" if upsert.created else "already existed"
    return Performed(record_id=str(upsert.user.user_id), detail=f"user {verb}", changed=bool(upsert.created))


@operation(Tool.PLANYO, "get_coupon_list")
def planyo_get_coupon_list(connector: Any, inp: ActionInput) -> Performed:
    coupons = connector.list_coupons()
    return Performed(record_id=None, detail=f"{len(coupons)} coupon(s) available", changed=False)


# ----------------------------------------------------------------------------- Bookingmood
@operation(Tool.BOOKINGMOOD, "add_booking_note")
def bookingmood_add_booking_note(connector: Any, inp: ActionInput) -> Performed:
    from handoff.connectors.bookingmood import NoteRequest

    booking = _required(inp.action, "booking_id", "record_id")
    record = connector.add_booking_note(NoteRequest(target_id=str(booking), text=inp.note[:4000], marker=inp.call_id))
    return Performed(record_id=str(booking), detail="handoff note added", changed=not record.already_present)


@operation(Tool.BOOKINGMOOD, "update_contact_booking")
def bookingmood_update_contact_booking(connector: Any, inp: ActionInput) -> Performed:
    """Re-point a contact-booking link, or, for a date change, leave the request on the booking.

    Bookingmood's API changes booking dates only through its booking flow
    (reference bookingmood.md), so a requested new date is written on the
    booking as a note with old value, new value and reason for the owner.
    """
    from handoff.connectors.bookingmood import ContactBookingUpdate, NoteRequest

    action = inp.action
    p = action.params
    booking = str(_required(action, "booking_id", "record_id"))
    if p.get("field") in ("contact_id", "booking_id") and p.get("link_id"):
        change = connector.update_contact_booking(
            ContactBookingUpdate(
                link_id=str(p["link_id"]),
                field=p["field"],
                old_value=str(p["old_value"]),
                new_value=str(p["new_value"]),
                reason=str(p.get("reason") or action.reason),
            )
        )
        return Performed(record_id=booking, detail=f"{change.field}: {change.old_value} -> {change.new_value}")
    text = (
        f"{inp.note}\nRequested change of {p.get('field') or 'date'}: "
        f"old {p.get('old_value') or 'unknown'}, new {p.get('new_value')}. Reason: {p.get('reason') or action.reason}"
    )
    record = connector.add_booking_note(NoteRequest(target_id=booking, text=text[:4000], marker=inp.call_id))
    return Performed(
        record_id=booking,
        detail="date change requested on the booking (Bookingmood changes dates in its booking flow)",
        changed=not record.already_present,
    )


@operation(Tool.BOOKINGMOOD, "change_booking_status")
def bookingmood_change_booking_status(connector: Any, inp: ActionInput) -> Performed:
    from handoff.connectors.bookingmood import BookingStatusUpdate

    booking = str(_required(inp.action, "booking_id", "record_id"))
    current = connector.get_booking(booking)
    new_status = str(inp.action.params.get("status") or "cancelled")
    change = connector.change_booking_status(
        BookingStatusUpdate(
            booking_id=booking,
            old_status=current.status,
            new_status=new_status,
            reason=str(inp.action.params.get("reason") or inp.action.reason or "requested on a call"),
        )
    )
    return Performed(
        record_id=booking, detail=f"{change.old_status} -> {change.new_status}", changed=not change.already_applied
    )


@operation(Tool.BOOKINGMOOD, "create_booking_widget")
def bookingmood_create_booking_widget(connector: Any, inp: ActionInput) -> Performed:
    from handoff.connectors.bookingmood import WidgetRequest

    p = inp.action.params
    widget = connector.create_booking_widget(
        WidgetRequest(
            title=str(p.get("title") or f"Handoff {inp.call_id}"), product_ids=list(p.get("product_ids") or [])
        )
    )
    return Performed(record_id=str(widget.widget_id), detail="booking widget ready")


# ----------------------------------------------------------------------------- Plisio
@operation(Tool.PLISIO, "get_invoice")
def plisio_get_invoice(connector: Any, inp: ActionInput) -> Performed:
    p = inp.action.params
    number = p.get("invoice_number")
    found = connector.find_invoice(str(number)) if number else None
    if found is None and p.get("email"):
        page = connector.get_invoices_by_email(str(p["email"]))
        found = page.items[0] if page.items else None
    if found is None:
        return Performed(record_id=None, detail="no invoice found for the verified e-mail", changed=False)
    return Performed(record_id=str(found.invoice_id), detail=f"invoice {found.status}", changed=False)


@operation(Tool.PLISIO, "create_invoice")
def plisio_create_invoice(connector: Any, inp: ActionInput) -> Performed:
    from handoff.connectors.plisio import InvoiceRequest

    p = inp.action.params
    invoice = connector.create_invoice(
        InvoiceRequest(
            call_id=inp.call_id,
            order_name=str(p.get("order_name") or f"Call {inp.call_id}"),
            amount=Decimal(str(_required(inp.action, "amount"))),
            currency=str(p.get("currency") or "USD"),
            email=p.get("email") or None,
            description=(inp.note[:1000] or None),
        )
    )
    return Performed(record_id=invoice.invoice_id, record_url=invoice.invoice_url, detail="invoice created")


# ----------------------------------------------------------------------------- Billit
@operation(Tool.BILLIT, "create_customer")
def billit_create_customer(connector: Any, inp: ActionInput) -> Performed:
    from handoff.connectors.billit import NewCustomer

    p = inp.action.params
    customer = NewCustomer(
        name=str(p.get("name") or _required(inp.action, "email")),
        email=p.get("email") or None,
        phone=p.get("phone") or None,
        contact_first_name=p.get("first_name") or None,
        contact_last_name=p.get("last_name") or None,
    )
    upsert = connector.create_customer(customer, idempotency_key=f"handoff-{inp.call_id}-customer")
    verb = "created" if upsert.created else "already existed"
    return Performed(
        record_id=str(upsert.customer.customer_id), detail=f"customer {verb}", changed=bool(upsert.created)
    )


# ----------------------------------------------------------------------------- OCR Web Service
@operation(Tool.OCRWEBSERVICE, "get_account_information")
def ocr_get_account_information(connector: Any, inp: ActionInput) -> Performed:
    info = connector.get_account_information()
    return Performed(record_id=None, detail=f"quota {info.quota}", changed=False)
