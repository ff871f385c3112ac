"""Planyo connector against its loopback sandbox: every operation, every error class."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from handoff.connectors.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    RejectedInputError,
    RetryableError,
)
from handoff.connectors.http import RetryPolicy
from handoff.connectors.planyo import (
    ASSUMPTIONS,
    CouponQuery,
    NewUser,
    PlanyoConnector,
    Reschedule,
    ReservationAction,
    UserChanges,
    reservation_id_from_reference,
)
from handoff.models import Tool
from handoff_dev.sandboxes.base import FaultPlan
from handoff_dev.sandboxes.planyo import API_KEY, ApiError, PlanyoSandbox

FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
WRONG_KEY = "wrong-planyo-key-7f3a9c"
HASH_SECRET = "sandbox-hash-secret-5d1e"


@pytest.fixture(scope="module")
def server() -> Iterator[PlanyoSandbox]:
    sandbox = PlanyoSandbox()
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(server: PlanyoSandbox) -> PlanyoSandbox:
    server.reset()
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def connect(sandbox: PlanyoSandbox, sleeps: list[float], **overrides: Any) -> PlanyoConnector:
    read_timeout = overrides.pop("read_timeout", 2.0)
    return PlanyoConnector.from_config(
        {**sandbox.config(), **overrides}, retry=FAST, sleep=sleeps.append, read_timeout=read_timeout
    )


@pytest.fixture
def planyo(sandbox: PlanyoSandbox, sleeps: list[float]) -> PlanyoConnector:
    return connect(sandbox, sleeps)


# -- configuration and health ------------------------------------------------------
def test_assumptions_are_listed_in_one_place() -> None:
    assert ASSUMPTIONS and all(isinstance(a, str) and a for a in ASSUMPTIONS)


def test_check_reports_reachable_and_authenticated(planyo: PlanyoConnector) -> None:
    report = planyo.check()
    assert (report.reachable, report.authenticated, report.healthy) == (True, True, True)


def test_check_with_wrong_key_is_reachable_but_not_authenticated(sandbox: PlanyoSandbox, sleeps: list[float]) -> None:
    report = connect(sandbox, sleeps, api_key=WRONG_KEY).check()
    assert (report.reachable, report.authenticated) == (True, False)
    assert WRONG_KEY not in report.detail


def test_check_when_nothing_listens_is_unreachable(sleeps: list[float]) -> None:
    connector = PlanyoConnector.from_config(
        {"base_url": "http://127.0.0.1:9/rest/", "api_key": API_KEY}, retry=FAST, sleep=sleeps.append
    )
    assert connector.check().reachable is False


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"api_key": "  "},
        {"api_key": "k-123456", "language": "english"},
        {"api_key": "k-123456", "site_timezone": "Mars/Base"},
    ],
)
def test_invalid_configuration_is_an_auth_error_without_values(config: dict[str, Any]) -> None:
    with pytest.raises(AuthError) as caught:
        PlanyoConnector.from_config(config)
    assert "k-123456" not in str(caught.value)


# -- users -------------------------------------------------------------------------
def test_get_user_by_email_maps_planyo_fields_to_handoff_names(planyo: PlanyoConnector) -> None:
    user = planyo.get_user(email="elena.marsh@example.com")
    assert (user.user_id, user.full_name, user.phone, user.postal_code) == (
        700142,
        "Elena Marsh",
        "+15555550142",
        "01101",
    )


def test_get_user_by_id(planyo: PlanyoConnector) -> None:
    assert planyo.get_user(user_id=700131).email == "sofia.alvarez@example.com"


def test_get_unknown_user_is_not_found(planyo: PlanyoConnector) -> None:
    with pytest.raises(NotFoundError):
        planyo.get_user(email="nobody@example.com")


def test_get_user_needs_exactly_one_key(planyo: PlanyoConnector) -> None:
    with pytest.raises(RejectedInputError):
        planyo.get_user(email="elena.marsh@example.com", user_id=700142)


def test_wrong_key_is_an_auth_error(sandbox: PlanyoSandbox, sleeps: list[float]) -> None:
    with pytest.raises(AuthError):
        connect(sandbox, sleeps, api_key=WRONG_KEY).get_user(email="elena.marsh@example.com")
    assert sandbox.requests["get_user_data"] == 1, "auth errors are never retried"


def test_list_users_by_name_shows_the_ambiguous_elenas(planyo: PlanyoConnector) -> None:
    elenas = planyo.list_users(first_name="Elena", last_name="Marsh")
    assert sorted(u.email or "" for u in elenas) == ["elena.m@example.com", "elena.marsh@example.com"]


def test_list_users_follows_pages(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    users = planyo.list_users(page_size=3)
    assert len(users) == 4
    assert sandbox.requests["list_users"] == 2


def test_add_user_creates_a_new_user_once(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    new = NewUser(email="noah.kim@example.com", first_name="Noah", last_name="Kim", phone="+15555550111")
    first = planyo.add_user(new)
    second = planyo.add_user(new)
    assert (first.created, second.created, second.updated) == (True, False, False)
    assert first.user.user_id == second.user.user_id
    assert first.user.phone == "+15555550111"
    assert sandbox.effects["add_user"] == 1
    assert sum(u["email"] == "noah.kim@example.com" for u in sandbox.users.values()) == 1


def test_add_user_for_a_known_email_changes_only_what_differs(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    outcome = planyo.add_user(NewUser(email="elena.marsh@example.com", first_name="Elena", city="Boston"))
    assert (outcome.created, outcome.updated, outcome.user.city) == (False, True, "Boston")
    assert sandbox.effects == {"modify_user": 1}


def test_add_user_with_identical_details_writes_nothing(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    planyo.add_user(NewUser(email="ELENA.MARSH@example.com", first_name="Elena", last_name="Marsh"))
    assert sandbox.effects == {}


def test_modify_user_sets_phone_and_returns_the_reread_user(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    user = planyo.modify_user(UserChanges(phone="+15555550999"), email="sofia.alvarez@example.com")
    assert user.phone == "+15555550999"
    assert sandbox.users[700131]["phone"] == "5555550999"
    assert sandbox.users[700131]["phone_country_code"] == "1"


def test_modify_user_to_an_email_in_use_is_a_conflict(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    with pytest.raises(ConflictError):
        planyo.modify_user(UserChanges(new_email="greta.h@example.com"), user_id=700142)
    assert sandbox.effects == {}


def test_modify_unknown_user_is_not_found(planyo: PlanyoConnector) -> None:
    with pytest.raises(NotFoundError):
        planyo.modify_user(UserChanges(city="Boston"), email="nobody@example.com")


# -- reservations ---------------------------------------------------------------------
def test_booking_reference_convention() -> None:
    assert [reservation_id_from_reference(r) for r in ("BK-48213", "bk 48213", "48213", 48213, "INV-1")] == [
        48213,
        48213,
        48213,
        48213,
        None,
    ]


def test_get_reservation_by_booking_reference(planyo: PlanyoConnector) -> None:
    res = planyo.get_reservation("BK-48213")
    assert (res.reservation_id, res.email, res.state) == (48213, "elena.marsh@example.com", "confirmed")
    assert (res.start, res.end) == (datetime(2025, 6, 12, 9), datetime(2025, 6, 12, 12))


def test_get_unknown_reservation_is_not_found(planyo: PlanyoConnector) -> None:
    with pytest.raises(NotFoundError):
        planyo.get_reservation("BK-99999")


def test_get_reservation_with_a_malformed_reference_is_rejected(planyo: PlanyoConnector) -> None:
    with pytest.raises(RejectedInputError):
        planyo.get_reservation("INV-2025-0917")


def test_find_reservations_by_email_ignores_the_other_elena(planyo: PlanyoConnector) -> None:
    found = planyo.find_reservations(email="elena.marsh@example.com")
    assert [r.reservation_id for r in found] == [48213]


def test_find_reservations_by_phone_finds_the_conflicting_identity(planyo: PlanyoConnector) -> None:
    found = planyo.find_reservations(phone="+1 555-555-0187")
    assert [(r.reservation_id, r.email) for r in found] == [(48190, "greta.h@example.com")]


def test_find_reservations_merges_criteria_without_duplicates(planyo: PlanyoConnector) -> None:
    found = planyo.find_reservations(email="elena.marsh@example.com", phone="+15555550142", reservation="BK-48213")
    assert [r.reservation_id for r in found] == [48213]


def test_find_reservations_with_unknown_id_finds_nothing(planyo: PlanyoConnector) -> None:
    assert planyo.find_reservations(reservation="BK-11111") == []


def test_find_reservations_needs_a_criterion(planyo: PlanyoConnector) -> None:
    with pytest.raises(RejectedInputError):
        planyo.find_reservations()


def test_list_reservations_in_a_window_for_one_user(planyo: PlanyoConnector) -> None:
    found = planyo.list_reservations(datetime(2025, 6, 1), datetime(2025, 6, 30), user_id=700131)
    assert [(r.reservation_id, r.start) for r in found] == [(47980, datetime(2025, 6, 10, 9))]


def test_list_reservations_reads_every_page(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    for n in range(501):
        sandbox.reservations[100000 + n] = {
            **sandbox.reservations[48213],
            "reservation_id": 100000 + n,
            "start_time": "2025-07-01 08:00:00",
            "end_time": "2025-07-01 09:00:00",
        }
    found = planyo.list_reservations(datetime(2025, 7, 1), datetime(2025, 7, 2))
    assert len(found) == 501
    assert sandbox.requests["list_reservations"] == 2


def test_list_reservations_without_window_is_rejected_by_planyo(planyo: PlanyoConnector) -> None:
    with pytest.raises(RejectedInputError):
        planyo._call("list_reservations", {})


@pytest.mark.parametrize(
    ("reservation", "action", "state"),
    [
        (48213, ReservationAction.CHECK_IN, "checked_in"),
        (48213, ReservationAction.CHECK_OUT, "checked_out"),
        (48255, ReservationAction.CANCEL, "cancelled"),
        (48190, ReservationAction.NO_SHOW, "no_show"),
    ],
)
def test_reservation_action_changes_status_once(
    planyo: PlanyoConnector, sandbox: PlanyoSandbox, reservation: int, action: ReservationAction, state: str
) -> None:
    first = planyo.reservation_action(reservation, action, comment="Handoff call_7Hq2mXk9RtB4")
    again = planyo.reservation_action(reservation, action)
    assert (first.changed, first.state, again.changed) == (True, state, False)
    assert sandbox.effects["reservation_action"] == 1


def test_confirming_a_confirmed_reservation_sends_nothing(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    outcome = planyo.reservation_action("BK-48213", ReservationAction.CONFIRM)
    assert (outcome.changed, outcome.state) == (False, "confirmed")
    assert sandbox.requests["do_reservation_action"] == 0


def test_checking_in_a_cancelled_reservation_is_rejected(planyo: PlanyoConnector) -> None:
    planyo.reservation_action(48255, ReservationAction.CANCEL)
    with pytest.raises(RejectedInputError):
        planyo.reservation_action(48255, ReservationAction.CHECK_IN)


def test_reschedule_moves_the_delivery_once(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    change = Reschedule(start=datetime(2025, 6, 14, 13), end=datetime(2025, 6, 14, 17))
    first = planyo.modify_reservation("BK-48213", change)
    again = planyo.modify_reservation("BK-48213", change)
    assert (first.changed, first.previous_start, first.reservation.start) == (
        True,
        datetime(2025, 6, 12, 9),
        datetime(2025, 6, 14, 13),
    )
    assert again.changed is False
    assert sandbox.effects["modify_reservation"] == 1


def test_reschedule_converts_aware_times_to_the_site_zone(sandbox: PlanyoSandbox, sleeps: list[float]) -> None:
    planyo = connect(sandbox, sleeps, site_timezone="America/New_York")
    start = datetime.fromisoformat("2025-06-14T17:00:00+00:00")
    planyo.modify_reservation(48213, Reschedule(start=start, end=datetime.fromisoformat("2025-06-14T21:00:00+00:00")))
    assert sandbox.reservations[48213]["start_time"] == "2025-06-14 13:00:00"


def test_reschedule_into_a_taken_slot_is_a_conflict(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    with pytest.raises(ConflictError):
        planyo.modify_reservation(48213, Reschedule(start=datetime(2025, 6, 13, 10), end=datetime(2025, 6, 13, 11)))
    assert sandbox.effects == {}


def test_reschedule_with_end_before_start_is_rejected_without_a_call(
    planyo: PlanyoConnector, sandbox: PlanyoSandbox
) -> None:
    with pytest.raises(RejectedInputError):
        planyo.modify_reservation(48213, Reschedule(start=datetime(2025, 6, 14, 17), end=datetime(2025, 6, 14, 13)))
    assert sum(sandbox.requests.values()) == 0


def test_note_is_appended_to_admin_notes_once(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    note = "Handoff: delivery moved to Sat 14 Jun 13:00-17:00 (call call_7Hq2mXk9RtB4)."
    assert planyo.add_reservation_note("BK-48213", note).changed is True
    assert planyo.add_reservation_note("BK-48213", note).changed is False
    assert sandbox.reservations[48213]["admin_notes"] == note
    assert sandbox.effects["set_reservation_notes"] == 1


# -- coupons and callbacks ----------------------------------------------------------------
def test_list_coupons_returns_every_purchased_coupon(planyo: PlanyoConnector) -> None:
    assert sorted(c.code or "" for c in planyo.list_coupons()) == ["NWH-ASSEMBLY-1", "NWH-GIFT-50", "NWH-WELCOME-10"]


def test_list_coupons_for_a_customer_only_valid(planyo: PlanyoConnector) -> None:
    coupons = planyo.list_coupons(CouponQuery(email="sofia.alvarez@example.com", only_valid=True))
    assert [(c.code, c.amount, c.amount_used) for c in coupons] == [("NWH-ASSEMBLY-1", Decimal(1), Decimal(0))]


def test_list_coupons_asks_for_usage_data_which_planyo_omits_otherwise(
    planyo: PlanyoConnector, sandbox: PlanyoSandbox
) -> None:
    [gift] = planyo.list_coupons(CouponQuery(code="NWH-GIFT-50"))
    assert gift.amount_used == Decimal(50)
    bare = requests.post(
        sandbox.base_url + "/rest/",
        data={"method": "list_coupons", "api_key": sandbox.config()["api_key"], "coupon_code": "NWH-GIFT-50"},
        timeout=5,
    ).json()["data"]["results"]
    assert "amount_used" not in bare[0]


def test_add_notification_callback_registers_the_url(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    planyo.add_notification_callback("user_updated", "https://hooks.example.com/planyo?token=t0k")
    assert sandbox.callbacks == {"user_updated": ["https://hooks.example.com/planyo?token=t0k"]}
    assert sandbox.effects["add_notification_callback"] == 1


def test_add_notification_callback_for_an_unknown_event_is_rejected(planyo: PlanyoConnector) -> None:
    with pytest.raises(RejectedInputError):
        planyo.add_notification_callback("party_time", "https://hooks.example.com/planyo")


def test_empty_callback_url_is_refused_because_it_would_remove_all(
    planyo: PlanyoConnector, sandbox: PlanyoSandbox
) -> None:
    with pytest.raises(RejectedInputError):
        planyo.add_notification_callback("checked_in", "")
    assert sum(sandbox.requests.values()) == 0


# -- retries and faults --------------------------------------------------------------------
def test_a_read_is_retried_after_one_server_error(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",), only_operations=("get_reservation_data",)))
    assert planyo.get_reservation(48213).reservation_id == 48213
    assert sandbox.requests["get_reservation_data"] == 2


def test_rate_limit_waits_for_retry_after(planyo: PlanyoConnector, sandbox: PlanyoSandbox, sleeps: list[float]) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("429",), retry_after=0.05, only_operations=("get_user_data",)))
    planyo.get_user(user_id=700142)
    assert sleeps == [0.05]


def test_persistent_server_errors_end_as_retryable(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    sandbox.inject(FaultPlan(first_n=10, kinds=("5xx",), only_operations=("get_user_data",)))
    with pytest.raises(RetryableError):
        planyo.get_user(user_id=700142)
    assert sandbox.requests["get_user_data"] == FAST.attempts


@pytest.mark.parametrize("kind", ["drop", "slow"])
def test_dropped_or_slow_answers_are_retryable(sandbox: PlanyoSandbox, sleeps: list[float], kind: str) -> None:
    planyo = connect(sandbox, sleeps, read_timeout=0.2)
    sandbox.inject(FaultPlan(first_n=10, kinds=(kind,), slow_seconds=0.4, only_operations=("api_test",)))
    with pytest.raises(RetryableError):
        planyo._call("api_test")


def test_a_status_change_is_not_retried(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",), only_operations=("do_reservation_action",)))
    with pytest.raises(RetryableError):
        planyo.reservation_action(48213, ReservationAction.CHECK_IN)
    assert sandbox.requests["do_reservation_action"] == 1


def test_a_callback_registration_is_not_retried(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",), only_operations=("add_notification_callback",)))
    with pytest.raises(RetryableError):
        planyo.add_notification_callback("checked_in", "https://hooks.example.com/planyo")
    assert sandbox.requests["add_notification_callback"] == 1


def test_a_rejected_request_is_not_retried(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    with pytest.raises(RejectedInputError):
        planyo.add_notification_callback("party_time", "https://hooks.example.com/planyo")
    assert sandbox.requests["add_notification_callback"] == 1


# -- transport hygiene and signing -----------------------------------------------------------
def test_every_call_posts_a_form_and_no_key_travels_in_a_url(planyo: PlanyoConnector, sandbox: PlanyoSandbox) -> None:
    planyo.add_user(NewUser(email="noah.kim@example.com", first_name="Noah"))
    planyo.modify_user(UserChanges(city="Boston"), user_id=700142)
    planyo.reservation_action(48213, ReservationAction.CHECK_IN)
    planyo.modify_reservation(48213, Reschedule(start=datetime(2025, 6, 14, 13), end=datetime(2025, 6, 14, 17)))
    planyo.add_reservation_note(48213, "Handoff note")
    planyo.add_notification_callback("checked_in", "https://hooks.example.com/planyo")
    assert len(sandbox.seen) > 6
    for request in sandbox.seen:
        assert request.method == "POST"
        assert request.query == {}
        assert API_KEY not in request.path
        assert request.form["api_key"] == API_KEY


def test_hash_key_is_md5_of_secret_timestamp_and_method(
    sandbox: PlanyoSandbox, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "hash_secret", HASH_SECRET)
    monkeypatch.setattr(sandbox, "clock", lambda: 1_750_000_000.0)
    planyo = PlanyoConnector(
        PlanyoConnector.from_config(sandbox.config()).settings, retry=FAST, clock=lambda: 1_750_000_000.0
    )
    planyo.get_user(user_id=700142)
    form = sandbox.seen[-1].form
    expected = hashlib.md5(f"{HASH_SECRET}1750000000get_user_data".encode()).hexdigest()
    assert (form["hash_timestamp"], form["hash_key"]) == ("1750000000", expected)


def test_wrong_hash_secret_is_an_auth_error(
    sandbox: PlanyoSandbox, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "hash_secret", HASH_SECRET)
    with pytest.raises(AuthError) as caught:
        connect(sandbox, sleeps, hash_secret="not-the-hash-secret").get_user(user_id=700142)
    assert "not-the-hash-secret" not in str(caught.value)


def test_secrets_never_reach_exceptions_or_logs(
    sandbox: PlanyoSandbox, sleeps: list[float], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def echoing_partner(params: dict[str, str], method: str) -> None:
        raise ApiError(1, f"Invalid API key {params.get('api_key')} (hash {params.get('hash_key')})")

    monkeypatch.setattr(sandbox, "_authenticate", echoing_partner)
    planyo = connect(sandbox, sleeps, api_key=WRONG_KEY, hash_secret=HASH_SECRET)
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",), only_operations=("get_user_data",)))
    with pytest.raises(AuthError) as caught:
        planyo.get_user(user_id=700142)
    assert sandbox.requests["get_user_data"] == 2
    logged = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    for secret in (WRONG_KEY, HASH_SECRET):
        assert secret not in str(caught.value)
        assert secret not in logged
    assert "partner call retrying" in logged


def test_sandbox_is_named_after_its_tool_and_configures_the_connector(sandbox: PlanyoSandbox) -> None:
    assert PlanyoSandbox.name == Tool.PLANYO == PlanyoConnector.TOOL
    assert PlanyoConnector.from_config(sandbox.config()).check().healthy
