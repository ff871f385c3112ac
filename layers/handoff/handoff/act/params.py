"""What each operation act performs needs: one params model per (tool, operation).

The routing policy is checked against this table when it loads
(``route.policy``): an operation act cannot perform, or one whose required
parameter the intent does not make the call establish, is a policy error with
its line number instead of an act-time failure. Route builds an ``Action``'s
params in these names and act validates them before the partner is called; a
reviewer re-pointing an action to another record goes through ``retarget``,
which re-validates.

Pure pydantic, no connector imports, so route and the policy loader can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from handoff.models import Action, Candidate, Tool


class Params(BaseModel):
    """Base: known fields typed; context route adds for people (note, reason, old values) allowed."""

    model_config = ConfigDict(extra="allow")

    note: str | None = None
    reason: str | None = None


class ReservationParams(Params):
    reservation_id: str | int


class BookingParams(Params):
    booking_id: str | int


class RescheduleReservation(ReservationParams):
    new_start: str = Field(min_length=1)


class RescheduleBooking(BookingParams):
    new_value: str = Field(min_length=1)
    field: str = "start"


class ReservationStatus(ReservationParams):
    status: str = "cancelled"


class BookingStatus(BookingParams):
    status: str = "cancelled"


class InvoiceLookup(Params):
    email: str | None = None
    invoice_id: str | None = None
    invoice_number: str | None = None


class NewInvoice(Params):
    amount: str | float | int
    currency: str = "USD"
    email: str | None = None


class NewCaller(Params):
    email: str = Field(min_length=3)
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None


class NoParams(Params):
    pass


@dataclass(frozen=True)
class OperationSpec:
    """An operation's params model and where the policy must make each required value come from."""

    params: type[Params]
    target_field: str | None = None
    """The param that names the matched record (filled from the target; ``retarget`` re-points it)."""
    from_analysis: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Required param -> the analysis keys that provide it (one of them must be in the intent's ``requires``)."""
    from_caller: tuple[str, ...] = ()
    """Caller details the operation needs (must be in the intent's ``new_caller_requires``)."""


RECORD_PARAMS = ("reservation_id", "booking_id", "record_id", "invoice_id")
DATE_KEYS = ("requested_date", "appointment_date", "new_date")

OPERATION_PARAMS: dict[tuple[Tool, str], OperationSpec] = {
    (Tool.PLANYO, "modify_reservation"): OperationSpec(
        RescheduleReservation, "reservation_id", {"new_start": DATE_KEYS}
    ),
    (Tool.PLANYO, "set_reservation_status"): OperationSpec(ReservationStatus, "reservation_id"),
    (Tool.PLANYO, "add_reservation_note"): OperationSpec(ReservationParams, "reservation_id"),
    (Tool.PLANYO, "add_user"): OperationSpec(NewCaller, from_caller=("email",)),
    (Tool.PLANYO, "get_coupon_list"): OperationSpec(NoParams),
    (Tool.BOOKINGMOOD, "add_booking_note"): OperationSpec(BookingParams, "booking_id"),
    (Tool.BOOKINGMOOD, "update_contact_booking"): OperationSpec(
        RescheduleBooking, "booking_id", {"new_value": DATE_KEYS}
    ),
    (Tool.BOOKINGMOOD, "change_booking_status"): OperationSpec(BookingStatus, "booking_id"),
    (Tool.BOOKINGMOOD, "create_booking_widget"): OperationSpec(NoParams),
    (Tool.PLISIO, "get_invoice"): OperationSpec(InvoiceLookup, "invoice_id"),
    (Tool.PLISIO, "create_invoice"): OperationSpec(NewInvoice, from_analysis={"amount": ("amount", "amount_due")}),
    (Tool.BILLIT, "create_customer"): OperationSpec(NewCaller, from_caller=("email",)),
    (Tool.OCRWEBSERVICE, "get_account_information"): OperationSpec(NoParams),
}


def spec_for(tool: Tool, operation: str) -> OperationSpec | None:
    return OPERATION_PARAMS.get((tool, operation))


def validate_params(action: Action) -> Params:
    """The action's params as its operation's model (``ValidationError`` names the missing field)."""
    spec = spec_for(action.tool, action.operation)
    if spec is None:
        raise ValueError(f"act cannot perform {action.tool.value}.{action.operation}")
    return spec.params.model_validate(action.params)


def retarget(action: Action, target: Candidate | str, *, validate: bool = True) -> Action:
    """The same action on another record (a reviewer's choice), validated like any action.

    A candidate from another tool cannot be the target: the operation belongs to
    the action's tool. The record id goes into ``target`` and into the param that
    names the record, so the idempotency key and the partner call agree.
    ``validate=False`` leaves the check to act (which records a failure per action).
    """
    if isinstance(target, Candidate):
        if target.tool is not action.tool:
            raise ValueError(
                f"{action.key}: a {target.tool.value} record cannot be the target of a {action.tool.value} action"
            )
        record_id = target.record_id
    else:
        record_id = target
    spec = spec_for(action.tool, action.operation)
    params: dict[str, Any] = dict(action.params)
    if spec is not None and spec.target_field:
        params[spec.target_field] = record_id
    elif spec is None:  # an operation without a model (tests' fakes): every record-naming param present
        params.update({k: record_id for k in RECORD_PARAMS if k in params})
    moved = action.model_copy(update={"target": record_id, "params": params})
    if spec is not None and validate:
        validate_params(moved)
    return moved
