"""Bookingmood connector against its PostgREST sandbox: every operation, every error class."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests

from handoff.connectors.bookingmood import (
    ASSUMPTIONS,
    BookingmoodConnector,
    BookingQuery,
    BookingStatusUpdate,
    ContactBookingUpdate,
    ContactQuery,
    NoteRequest,
    WidgetRequest,
    pg_in,
    require_id_filter,
)
from handoff.connectors.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    RejectedInputError,
    RetryableError,
)
from handoff.connectors.http import RetryPolicy
from handoff_dev.sandboxes.base import FaultPlan
from handoff_dev.sandboxes.bookingmood import API_KEY, READ_ONLY_KEY, BookingmoodSandbox

FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
WRONG_KEY = "11111111-2222-4333-8444-555555555555"

# Fixture ids (tools/handoff_dev/sandboxes/fixtures/bookingmood.json)
HANNAH = "5d4e3f2a-6b7c-4d8e-8f9a-e0f1a2b3c4d5"
HANNA_REED = "6e5f4a3b-7c8d-4e9f-9a0b-f1a2b3c4d5e6"
PRIYA = "7f6a5b4c-8d9e-4f0a-8b1c-a2b3c4d5e6f7"
BK_48377 = "8a7b6c5d-9e0f-4a1b-9c2d-b3c4d5e6f7a8"
BK_48391 = "9b8c7d6e-0f1a-4b2c-8d3e-c4d5e6f7a8b9"
BK_48402 = "0c9d8e7f-1a2b-4c3d-9e4f-d5e6f7a8b9c0"
LINK_HANNA_REED = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"
EVENT_48377 = "d4e5f6a7-b8c9-4d0e-9f1a-3b4c5d6e7f80"
DELIVERY = "1f0a9e3c-2b4d-4c6e-8f10-a1b2c3d4e5f6"
STUDIO = "2a1b0c9d-3e4f-4a5b-9c6d-b7c8d9e0f1a2"
MISSING_UUID = "00000000-0000-4000-8000-00000000dead"


@pytest.fixture(scope="module")
def server() -> Iterator[BookingmoodSandbox]:
    sandbox = BookingmoodSandbox()
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(server: BookingmoodSandbox) -> BookingmoodSandbox:
    server.reset()
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def connect(sandbox: BookingmoodSandbox, sleeps: list[float], **overrides: Any) -> BookingmoodConnector:
    return BookingmoodConnector.from_config({**sandbox.config(), **overrides}, retry=FAST, sleep=sleeps.append)


def raw(sandbox: BookingmoodSandbox, method: str, table: str, **kwargs: Any) -> requests.Response:
    """Talk to the sandbox directly, as a PostgREST client would."""
    headers = {"Authorization": f"Bearer {API_KEY}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{sandbox.base_url}/v1/{table}", headers=headers, timeout=5, **kwargs)


# -- health and configuration -----------------------------------------------------------------
def test_check_is_healthy_with_the_right_key(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    report = connect(sandbox, sleeps).check()
    assert (report.reachable, report.authenticated, report.quota) == (True, True, None)


def test_check_reports_a_wrong_key_as_unauthenticated(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    report = connect(sandbox, sleeps, api_key=WRONG_KEY).check()
    assert (report.reachable, report.authenticated) == (True, False)
    assert WRONG_KEY not in report.detail


def test_check_reports_an_unreachable_host(sleeps: list[float]) -> None:
    report = BookingmoodConnector.from_config(
        {"base_url": "http://127.0.0.1:9/v1", "api_key": API_KEY}, retry=FAST, sleep=sleeps.append
    ).check()
    assert (report.reachable, report.authenticated) == (False, False)


def test_invalid_configuration_names_fields_not_values() -> None:
    with pytest.raises(AuthError) as caught:
        BookingmoodConnector.from_config({"api_key": "k3y!"})
    assert "api_key" in str(caught.value) and "k3y!" not in str(caught.value)


# -- contacts -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (ContactQuery(email="Hannah.Reid@Example.com"), [HANNAH]),
        (ContactQuery(phone="+15555550164"), [HANNAH]),
        (ContactQuery(name="Hanna Reed"), [HANNAH, HANNA_REED]),  # the near-namesake is ambiguous
        (ContactQuery(name="Reid"), [HANNAH]),
        (ContactQuery(email="daniel.okafor@example.com"), []),  # a new prospect
        (ContactQuery(name="Daniel Okafor"), []),
        (ContactQuery(email="hannah_reid@example.com"), []),  # "_" is an ilike wildcard, not a match
        (ContactQuery(contact_id=PRIYA), [PRIYA]),
    ],
)
def test_find_contacts(
    sandbox: BookingmoodSandbox, sleeps: list[float], query: ContactQuery, expected: list[str]
) -> None:
    found = connect(sandbox, sleeps).find_contacts(query)
    assert sorted(c.contact_id for c in found.items) == sorted(expected)


def test_contacts_come_back_in_handoff_names(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    [hannah] = connect(sandbox, sleeps).find_contacts(ContactQuery(email="hannah.reid@example.com")).items
    assert (hannah.full_name, hannah.phone, hannah.email) == ("Hannah Reid", "+15555550164", "hannah.reid@example.com")


def test_find_contacts_pages_with_limit_and_offset(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    connector = connect(sandbox, sleeps)
    pages = [connector.find_contacts(ContactQuery(limit=2, offset=offset)) for offset in (0, 2)]
    assert [len(p.items) for p in pages] == [2, 1]
    assert pages[0].has_more and pages[0].next_offset == 2 and not pages[1].has_more
    assert {c.contact_id for p in pages for c in p.items} == {HANNAH, HANNA_REED, PRIYA}


# -- bookings -----------------------------------------------------------------------------------
def test_find_booking_by_its_reference_carries_status_dates_and_guest(
    sandbox: BookingmoodSandbox, sleeps: list[float]
) -> None:
    [booking] = connect(sandbox, sleeps).find_bookings(BookingQuery(reference="BK-48377")).items
    assert booking.booking_id == BK_48377
    assert (booking.status, booking.arrival, booking.departure) == ("CONFIRMED", date(2025, 6, 18), date(2025, 6, 19))
    assert booking.contact_ids == (HANNAH,) and booking.event_id == EVENT_48377


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (BookingQuery(email="hannah.reid@example.com"), [BK_48377]),
        (BookingQuery(contact_id=HANNA_REED), [BK_48391]),
        (BookingQuery(status="TENTATIVE"), [BK_48391]),
        (BookingQuery(status="CONFIRMED"), [BK_48377, BK_48402]),
        (BookingQuery(arrival_from=date(2025, 6, 18), arrival_to=date(2025, 6, 18)), [BK_48377]),
        (BookingQuery(email="hannah.reid@example.com", status="CANCELLED"), []),
        (BookingQuery(email="daniel.okafor@example.com"), []),
        (BookingQuery(reference="BK-00000"), []),
    ],
)
def test_find_bookings(
    sandbox: BookingmoodSandbox, sleeps: list[float], query: BookingQuery, expected: list[str]
) -> None:
    found = connect(sandbox, sleeps).find_bookings(query)
    assert sorted(b.booking_id for b in found.items) == sorted(expected)


def test_find_bookings_pages(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    connector = connect(sandbox, sleeps)
    first = connector.find_bookings(BookingQuery(limit=2))
    rest = connector.find_bookings(BookingQuery(limit=2, offset=2))
    assert first.has_more and not rest.has_more
    assert [b.reference for b in first.items + rest.items] == ["BK-48402", "BK-48391", "BK-48377"]  # newest first


def test_get_booking_of_an_unknown_id_is_not_found(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    with pytest.raises(NotFoundError):
        connect(sandbox, sleeps).get_booking(MISSING_UUID)


def test_a_malformed_id_is_rejected_by_the_partner_and_not_retried(
    sandbox: BookingmoodSandbox, sleeps: list[float]
) -> None:
    with pytest.raises(RejectedInputError) as caught:
        connect(sandbox, sleeps).find_bookings(BookingQuery(booking_id="BK-48377"))
    assert "22P02" in str(caught.value)
    assert sum(sandbox.requests.values()) == 1 and sleeps == []


# -- booking status through calendar events -------------------------------------------------------
def test_confirming_a_tentative_booking_changes_its_calendar_event(
    sandbox: BookingmoodSandbox, sleeps: list[float]
) -> None:
    change = connect(sandbox, sleeps).change_booking_status(
        BookingStatusUpdate(booking_id=BK_48391, old_status="TENTATIVE", new_status="CONFIRMED", reason="paid deposit")
    )
    assert (change.old_status, change.new_status, change.already_applied) == ("TENTATIVE", "CONFIRMED", False)
    assert sandbox.row("calendar_events", change.event_ids[0])["status"] == "CONFIRMED"  # type: ignore[index]
    assert sandbox.effects["update_calendar_events"] == 1


def test_repeating_a_status_change_reports_it_already_applied(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    connector = connect(sandbox, sleeps)
    update = BookingStatusUpdate(booking_id=BK_48391, old_status="TENTATIVE", new_status="CANCELLED", reason="r")
    connector.change_booking_status(update)
    again = connector.change_booking_status(update)
    assert again.already_applied and sandbox.effects["update_calendar_events"] == 1


def test_a_status_change_from_a_stale_status_is_a_conflict(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    with pytest.raises(ConflictError):
        connect(sandbox, sleeps).change_booking_status(
            BookingStatusUpdate(booking_id=BK_48377, old_status="TENTATIVE", new_status="CANCELLED", reason="r")
        )
    assert sandbox.effects["update_calendar_events"] == 0


def test_a_status_change_for_an_unknown_booking_is_not_found(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    with pytest.raises(NotFoundError):
        connect(sandbox, sleeps).change_booking_status(
            BookingStatusUpdate(booking_id=MISSING_UUID, old_status="TENTATIVE", new_status="CONFIRMED", reason="r")
        )


# -- contact bookings ----------------------------------------------------------------------------
def move_hanna_reeds_booking(**overrides: str) -> ContactBookingUpdate:
    values = {
        "link_id": LINK_HANNA_REED,
        "field": "contact_id",
        "old_value": HANNA_REED,
        "new_value": HANNAH,
        "reason": "Caller confirmed the booking was made for Hannah Reid",
    }
    return ContactBookingUpdate.model_validate({**values, **overrides})


def test_update_contact_booking_records_old_new_and_reason(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    change = connect(sandbox, sleeps).update_contact_booking(move_hanna_reeds_booking())
    assert (change.old_value, change.new_value, change.already_applied) == (HANNA_REED, HANNAH, False)
    assert change.reason == "Caller confirmed the booking was made for Hannah Reid"
    assert sandbox.row("contact_bookings", LINK_HANNA_REED)["contact_id"] == HANNAH  # type: ignore[index]
    assert sandbox.effects["update_contact_bookings"] == 1


def test_update_contact_booking_is_safe_to_repeat(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    connector = connect(sandbox, sleeps)
    connector.update_contact_booking(move_hanna_reeds_booking())
    again = connector.update_contact_booking(move_hanna_reeds_booking())
    assert again.already_applied and sandbox.effects["update_contact_bookings"] == 1


def test_update_contact_booking_from_a_stale_old_value_is_a_conflict(
    sandbox: BookingmoodSandbox, sleeps: list[float]
) -> None:
    with pytest.raises(ConflictError):
        connect(sandbox, sleeps).update_contact_booking(move_hanna_reeds_booking(old_value=PRIYA, new_value=HANNAH))
    assert sandbox.effects["update_contact_bookings"] == 0


def test_update_of_an_unknown_link_is_not_found(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    with pytest.raises(NotFoundError):
        connect(sandbox, sleeps).update_contact_booking(move_hanna_reeds_booking(link_id=MISSING_UUID))


def test_pointing_a_link_at_a_missing_contact_is_the_partners_conflict(
    sandbox: BookingmoodSandbox, sleeps: list[float]
) -> None:
    with pytest.raises(ConflictError) as caught:
        connect(sandbox, sleeps).update_contact_booking(move_hanna_reeds_booking(new_value=MISSING_UUID))
    assert "23503" in str(caught.value) and sandbox.requests["update_contact_bookings"] == 1


def test_every_patch_sent_carries_an_id_filter(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    seen: list[dict[str, Any]] = []
    connector = connect(sandbox, sleeps)
    original = connector._http.request

    def spy(method: str, path: str, **kwargs: Any) -> requests.Response:
        if method == "PATCH":
            seen.append(dict(kwargs["params"]))
        return original(method, path, **kwargs)

    connector._http.request = spy  # type: ignore[method-assign]
    connector.update_contact_booking(move_hanna_reeds_booking())
    connector.change_booking_status(
        BookingStatusUpdate(booking_id=BK_48391, old_status="TENTATIVE", new_status="CONFIRMED", reason="r")
    )
    connector.add_booking_note(NoteRequest(target_id=BK_48377, text="note"))
    connector.add_contact_note(NoteRequest(target_id=HANNAH, text="note"))
    assert len(seen) == 3  # the booking note is an insert (calendar_event_notes), not a PATCH
    assert all(p["id"].startswith(("eq.", "in.(")) for p in seen)


@pytest.mark.parametrize(
    "filters",
    [{}, {"booking_id": f"eq.{BK_48377}"}, {"id": "eq."}, {"id": "neq.x"}, {"id": "in.()"}],
)
def test_writes_without_an_id_filter_are_refused_before_sending(
    sandbox: BookingmoodSandbox, sleeps: list[float], filters: dict[str, str]
) -> None:
    with pytest.raises(RejectedInputError):
        require_id_filter(filters)
    with pytest.raises(RejectedInputError):
        connect(sandbox, sleeps)._patch("contacts", filters, {"notes": "x"})
    assert sandbox.requests["update_contacts"] == 0


@pytest.mark.parametrize("filters", [{"id": f"eq.{HANNAH}"}, {"id": pg_in([HANNAH, PRIYA])}])
def test_id_filters_pass_the_guard(filters: dict[str, str]) -> None:
    require_id_filter(filters)


# -- notes ----------------------------------------------------------------------------------------
def test_a_booking_note_is_its_own_row_in_calendar_event_notes(
    sandbox: BookingmoodSandbox, sleeps: list[float]
) -> None:
    before = sandbox.row("calendar_events", EVENT_48377)["notes"]  # type: ignore[index]
    note = NoteRequest(target_id=BK_48377, text="Handoff call_9Jm3: asked to confirm 18 Jun.", marker="call_9Jm3")
    record = connect(sandbox, sleeps).add_booking_note(note)
    [row] = sandbox.tables["calendar_event_notes"]
    assert (record.location, record.row_id, record.already_present) == ("calendar_event_notes", row["id"], False)
    assert (row["calendar_event_id"], row["note"]) == (EVENT_48377, note.text)
    assert sandbox.row("calendar_events", EVENT_48377)["notes"] == before  # append-only: nothing rewritten


def test_a_booking_note_is_found_again_by_its_call_marker(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    connector = connect(sandbox, sleeps)
    first = connector.add_booking_note(NoteRequest(target_id=BK_48377, text="Handoff call_A1: one.", marker="call_A1"))
    again = connector.add_booking_note(NoteRequest(target_id=BK_48377, text="Handoff call_A1: one.", marker="call_A1"))
    other = connector.add_booking_note(NoteRequest(target_id=BK_48377, text="Handoff call_B2: two.", marker="call_B2"))
    assert again.already_present and again.row_id == first.row_id and not other.already_present
    assert len(sandbox.tables["calendar_event_notes"]) == 2


def test_the_same_note_is_written_once(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    connector = connect(sandbox, sleeps)
    note = NoteRequest(target_id=HANNAH, text="Handoff call_9Jm3: caller verified.", marker="call_9Jm3")
    connector.add_contact_note(note)
    again = connector.add_contact_note(note)
    assert again.already_present and sandbox.effects["update_contacts"] == 1
    assert sandbox.row("contacts", HANNAH)["notes"] == "Handoff call_9Jm3: caller verified."  # type: ignore[index]


@pytest.mark.parametrize(
    ("method", "target"),
    [("add_booking_note", MISSING_UUID), ("add_contact_note", MISSING_UUID)],
)
def test_a_note_for_a_missing_record_is_not_found(
    sandbox: BookingmoodSandbox, sleeps: list[float], method: str, target: str
) -> None:
    with pytest.raises(NotFoundError):
        getattr(connect(sandbox, sleeps), method)(NoteRequest(target_id=target, text="x"))


# -- widgets and listings --------------------------------------------------------------------------
def test_create_booking_widget_with_its_listings(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    connector = connect(sandbox, sleeps)
    widget = connector.create_booking_widget(WidgetRequest(title="Design consultations", product_ids=[STUDIO]))
    assert (widget.title, widget.widget_type, widget.product_ids, widget.reused) == (
        "Design consultations",
        "calendar",
        (STUDIO,),
        False,
    )
    stored = sandbox.row("widgets", widget.widget_id)
    assert stored is not None and stored["organization_id"] == sandbox.organization_id and stored["settings"] == {}
    assert [lst.product_id for lst in connector.list_widget_listings(widget.widget_id)] == [STUDIO]
    assert (sandbox.effects["create_widgets"], sandbox.effects["create_widget_listings"]) == (1, 1)


def test_create_booking_widget_reuses_a_widget_with_the_same_title(
    sandbox: BookingmoodSandbox, sleeps: list[float]
) -> None:
    widget = connect(sandbox, sleeps).create_booking_widget(
        WidgetRequest(title="Delivery slots", product_ids=[DELIVERY, STUDIO])
    )
    assert widget.reused and widget.product_ids == (DELIVERY, STUDIO)
    assert sandbox.effects["create_widgets"] == 0 and sandbox.effects["create_widget_listings"] == 1


def test_create_booking_widget_refuses_unknown_products_before_writing(
    sandbox: BookingmoodSandbox, sleeps: list[float]
) -> None:
    with pytest.raises(RejectedInputError):
        connect(sandbox, sleeps).create_booking_widget(WidgetRequest(title="Nope", product_ids=[MISSING_UUID]))
    assert sum(sandbox.effects.values()) == 0


def test_create_booking_widget_discovers_the_organization(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    config = {k: v for k, v in sandbox.config().items() if k != "organization_id"}
    widget = BookingmoodConnector.from_config(config, retry=FAST, sleep=sleeps.append).create_booking_widget(
        WidgetRequest(title="Timeline", widget_type="timeline")
    )
    assert sandbox.row("widgets", widget.widget_id)["organization_id"] == sandbox.organization_id  # type: ignore[index]


def test_a_read_only_key_cannot_create_widgets(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    with pytest.raises(AuthError):
        connect(sandbox, sleeps, api_key=READ_ONLY_KEY).create_booking_widget(WidgetRequest(title="RO"))
    assert sum(sandbox.effects.values()) == 0


def test_a_failed_widget_create_is_not_retried(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",), only_operations=("create_widgets",)))
    with pytest.raises(RetryableError):
        connect(sandbox, sleeps).create_booking_widget(WidgetRequest(title="Flaky", reuse_existing=False))
    assert sandbox.requests["create_widgets"] == 1 and sandbox.effects["create_widgets"] == 0


def test_list_widgets_and_products(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    connector = connect(sandbox, sleeps)
    assert [w.title for w in connector.list_widgets().items] == ["Delivery slots"]
    assert [p.name for p in connector.list_products().items] == [
        "Home delivery & assembly",
        "Design studio consultation",
    ]


# -- retries and errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["5xx", "429", "drop"])
def test_a_transient_failure_on_a_read_is_retried(sandbox: BookingmoodSandbox, sleeps: list[float], kind: str) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=(kind,), retry_after=0.05))
    found = connect(sandbox, sleeps).find_contacts(ContactQuery(email="hannah.reid@example.com"))
    assert [c.contact_id for c in found.items] == [HANNAH]
    assert sandbox.requests["list_contacts"] == 2 and len(sleeps) == 1
    if kind == "429":
        assert sleeps == [0.05]


def test_a_slow_answer_past_the_read_timeout_is_retried(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("slow",), slow_seconds=2.5))
    found = connect(sandbox, sleeps, read_timeout=1.0).find_contacts(ContactQuery(contact_id=HANNAH))
    assert len(found.items) == 1 and sandbox.requests["list_contacts"] == 2


def test_persistent_failures_end_as_retryable(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    sandbox.inject(FaultPlan(first_n=10, kinds=("5xx",)))
    with pytest.raises(RetryableError):
        connect(sandbox, sleeps).find_contacts(ContactQuery())
    assert sandbox.requests["list_contacts"] == FAST.attempts


def test_a_wrong_key_is_an_auth_error_and_not_retried(sandbox: BookingmoodSandbox, sleeps: list[float]) -> None:
    with pytest.raises(AuthError):
        connect(sandbox, sleeps, api_key=WRONG_KEY).find_contacts(ContactQuery())
    assert sandbox.requests["list_contacts"] == 1 and sleeps == []


def test_the_key_never_appears_in_errors_or_logs(
    sandbox: BookingmoodSandbox,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    messages = []
    sandbox.inject(FaultPlan(first_n=10, kinds=("5xx",)))
    with pytest.raises(RetryableError) as retryable:
        connect(sandbox, sleeps).find_contacts(ContactQuery())
    messages.append(str(retryable.value))
    sandbox.inject(None)
    with pytest.raises(AuthError) as auth:
        connect(sandbox, sleeps, api_key=WRONG_KEY).find_contacts(ContactQuery())
    messages.append(str(auth.value))
    captured = capsys.readouterr()
    connector = connect(sandbox, sleeps)
    everything = "\n".join([*messages, caplog.text, captured.out, captured.err, repr(connector.settings)])
    assert "partner call retrying" in caplog.text
    assert API_KEY not in everything and WRONG_KEY not in everything


# -- the sandbox speaks PostgREST -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"email": "eq.hannah.reid@example.com"}, [HANNAH]),
        ({"first_name": "ilike.han*"}, [HANNAH, HANNA_REED]),
        ({"last_name": "like.Re*"}, [HANNAH, HANNA_REED]),
        ({"last_name": "like.re*"}, []),
        ({"id": f"in.({HANNAH},{PRIYA})"}, [HANNAH, PRIYA]),
        ({"notes": "is.null"}, [HANNAH, PRIYA]),
        ({"notes": "not.is.null"}, [HANNA_REED]),
        ({"or": "(first_name.eq.Priya,last_name.eq.Reed)"}, [HANNA_REED, PRIYA]),
        ({"and": "(first_name.ilike.h*,last_name.neq.Reid)"}, [HANNA_REED]),
        ({"created_at": "gte.2025-05-22"}, [HANNA_REED, PRIYA]),
    ],
)
def test_sandbox_applies_postgrest_filters(
    sandbox: BookingmoodSandbox, params: dict[str, str], expected: list[str]
) -> None:
    response = raw(sandbox, "GET", "contacts", params={"select": "id", **params})
    assert response.status_code == 200
    assert sorted(r["id"] for r in response.json()) == sorted(expected)


def test_sandbox_pages_and_orders(sandbox: BookingmoodSandbox) -> None:
    response = raw(
        sandbox, "GET", "contacts", params={"select": "id", "order": "created_at.desc", "limit": 2, "offset": 1}
    )
    assert [r["id"] for r in response.json()] == [HANNA_REED, HANNAH]


@pytest.mark.parametrize(
    ("method", "table", "kwargs", "status", "code"),
    [
        ("GET", "contacts", {"params": {"nope": "eq.1"}}, 400, "42703"),
        ("GET", "contacts", {"params": {"email": "approx.x"}}, 400, "PGRST100"),
        ("GET", "contacts", {"params": {"id": "eq.not-a-uuid"}}, 400, "22P02"),
        ("GET", "guests", {}, 404, "42P01"),
        ("PATCH", "contacts", {"json": {"notes": "every row"}}, 400, "21000"),
        ("DELETE", "contacts", {}, 400, "21000"),
        ("POST", "widgets", {"json": {"title": "no org"}}, 400, "23502"),
        ("GET", "contacts", {"headers": {"Authorization": f"Bearer {WRONG_KEY}"}}, 401, "PGRST301"),
    ],
)
def test_sandbox_answers_postgrest_errors(
    sandbox: BookingmoodSandbox, method: str, table: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    response = raw(sandbox, method, table, **kwargs)
    assert response.status_code == status
    assert response.json()["code"] == code and set(response.json()) == {"code", "message", "details", "hint"}
    assert sum(sandbox.effects.values()) == 0


def test_assumptions_are_listed() -> None:
    assert ASSUMPTIONS and all(isinstance(v, str) and v for v in ASSUMPTIONS.values())
