"""Planyo callbacks: tolerant parsing, the URL token, and what goes on the bus."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from handoff.partners.bus import PublishFailed
from handoff.partners.callback import accept_callback
from handoff.partners.planyo_events import (
    ASSUMPTIONS,
    CALLBACK_TOKEN_ENV,
    MAX_BODY_BYTES,
    REGISTERED_NOTIFICATIONS,
    SOURCE,
    InvalidNotification,
    NotificationKind,
    configured_callback_token,
    detail_type,
    event_detail,
    event_entry,
    notification_from_detail,
    parse_notification,
    token_matches,
)

FORM = "application/x-www-form-urlencoded"
TOKEN = "tok_4f9c2e7a1b8d6e3f0a5c9b2d"  # obviously fake, long enough
START = 1767261600  # 2026-01-01 10:00 UTC
END = 1767520800
BEFORE_START = datetime(2025, 12, 31, 9, 0, tzinfo=UTC)
AFTER_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CHECKED_IN = {
    "notification_type": "checked_in",
    "reservation": "18604919",
    "resource": "155470",
    "resource_name": "Casa Sole",
    "calendar": "51045",
    "start": str(START),
    "end": str(END),
    "user": "123456",
    "count": "1",
    "status": "37",
    "currency": "EUR",
    "price_quoted": "480.00",
    "cart_id": "",
}


def form(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


class ListPublisher:
    def __init__(self, fail: bool = False) -> None:
        self.entries: list[dict[str, Any]] = []
        self.fail = fail

    def publish(self, entries: Sequence[dict[str, Any]]) -> None:
        if self.fail:
            raise PublishFailed("EventBridge refused 1 entry(ies): InternalFailure")
        self.entries.extend(entries)


def accept(token: str | None, body: bytes, publisher: ListPublisher, **kw: Any) -> Any:
    return accept_callback(
        token, body, kw.pop("content_type", FORM), kw.pop("query", {}), publisher=publisher, bus_name="bus", **kw
    )


# -- parsing ----------------------------------------------------------------------------------
def test_assumptions_are_listed_in_one_place() -> None:
    assert ASSUMPTIONS and all(isinstance(a, str) and a for a in ASSUMPTIONS)


def test_the_documented_form_body_maps_to_named_fields() -> None:
    n = parse_notification(form(CHECKED_IN), FORM)
    assert (n.notification_type, n.kind, n.status_change) == (
        "checked_in",
        NotificationKind.RESERVATION_STATUS_CHANGED,
        "checked_in",
    )
    assert (n.reservation_id, n.resource_id, n.site_id, n.user_id, n.quantity, n.status) == (
        18604919,
        155470,
        51045,
        123456,
        1,
        37,
    )
    assert n.start == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert (n.resource_name, n.currency, n.price_quoted, n.cart_id) == ("Casa Sole", "EUR", "480.00", None)
    assert n.status_state == "checked_in"


def test_a_json_body_is_read_when_the_url_asks_for_ppp_payload_json() -> None:
    n = parse_notification(json.dumps(CHECKED_IN).encode(), "text/plain", {"ppp_payload": "json"})
    assert (n.reservation_id, n.status) == (18604919, 37)


def test_query_string_fields_are_read_and_the_body_wins() -> None:
    query = {**CHECKED_IN, "status": "1", "token": TOKEN}
    n = parse_notification(form({"status": "37"}), FORM, query)
    assert (n.reservation_id, n.status) == (18604919, 37)


def test_fields_only_in_the_query_string_are_enough() -> None:
    n = parse_notification(b"", None, CHECKED_IN)
    assert n.reservation_id == 18604919


@pytest.mark.parametrize(
    ("planyo_type", "change"),
    [
        ("checked_in", "checked_in"),
        ("checked_out", "checked_out"),
        ("noshow", "no_show"),
        ("reservation_confirmed", "confirmed"),
        ("reservation_user_canceled", "cancelled_by_customer"),
    ],
)
def test_status_notifications_name_the_status_change(planyo_type: str, change: str) -> None:
    n = parse_notification(form({**CHECKED_IN, "notification_type": planyo_type}), FORM)
    assert (n.kind, n.status_change) == (NotificationKind.RESERVATION_STATUS_CHANGED, change)


@pytest.mark.parametrize(("is_new", "expected"), [("1", True), ("0", False), ("", False), (None, False)])
def test_user_updated_is_a_customer_change_with_is_new_user(is_new: str | None, expected: bool) -> None:
    fields = {"notification_type": "user_updated", "user": "700142"}
    if is_new is not None:
        fields["is_new_user"] = is_new
    n = parse_notification(form(fields), FORM)
    assert (n.kind, n.user_id, n.is_new_user) == (NotificationKind.CUSTOMER_CHANGED, 700142, expected)


@pytest.mark.parametrize(("received", "timing"), [(BEFORE_START, "before"), (AFTER_START, "after")])
def test_timed_notifications_carry_their_number_and_which_side_of_the_event(received: datetime, timing: str) -> None:
    n = parse_notification(
        form({**CHECKED_IN, "notification_type": "before_or_after_event_4"}), FORM, received_at=received
    )
    assert (n.kind, n.timed_number, n.timing) == (NotificationKind.TIMED_NOTIFICATION, 4, timing)


def test_a_timed_notification_without_a_start_has_no_timing() -> None:
    fields = {"notification_type": "before_or_after_event_1", "reservation": "1"}
    assert parse_notification(form(fields), FORM).timing is None


@pytest.mark.parametrize("planyo_type", ["before_or_after_event_7", "hourly", "reservation_payment_received"])
def test_other_notifications_parse_but_are_not_published(planyo_type: str) -> None:
    n = parse_notification(form({**CHECKED_IN, "notification_type": planyo_type}), FORM)
    assert n.kind is NotificationKind.OTHER
    assert detail_type(n) is None
    with pytest.raises(ValueError, match="not published"):
        event_entry(n, "bus")


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        (form({"reservation": "1"}), FORM, "notification_type is missing"),
        (form({"notification_type": "Checked In!"}), FORM, "notification_type is malformed"),
        (form({**CHECKED_IN, "reservation": "BK-1"}), FORM, "reservation is not a number"),
        (form({**CHECKED_IN, "start": "next tuesday"}), FORM, "start is not a time"),
        (form({"notification_type": "checked_in"}), FORM, "checked_in without a reservation id"),
        (form({"notification_type": "user_updated"}), FORM, "user_updated without a user id"),
        (b"{not json", "application/json", "body is not valid JSON"),
        (b"[1, 2]", "application/json", "JSON body must be an object"),
        (b"x" * (MAX_BODY_BYTES + 1), FORM, "larger than"),
    ],
)
def test_unreadable_callbacks_name_the_problem(body: bytes, content_type: str, problem: str) -> None:
    with pytest.raises(InvalidNotification, match=problem):
        parse_notification(body, content_type)


def test_unknown_fields_are_kept_but_secret_looking_ones_are_dropped() -> None:
    fields = {**CHECKED_IN, "custom_note": "gate code at the back", "api_key": "k-123", "hash_key": "abc"}
    n = parse_notification(form(fields), FORM, {"token": TOKEN})
    assert n.extra == {"custom_note": "gate code at the back"}


def test_card_numbers_in_unknown_fields_are_masked() -> None:
    n = parse_notification(form({**CHECKED_IN, "comment": "card 4111 1111 1111 1111 please"}), FORM)
    assert "4111 1111 1111 1111" not in n.extra["comment"]


# -- token ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected", "ok"),
    [
        (TOKEN, TOKEN, True),
        (TOKEN[:-1] + "X", TOKEN, False),
        (TOKEN + "X", TOKEN, False),
        ("", TOKEN, False),
        (None, TOKEN, False),
        (TOKEN, None, False),
        ("short", "short", False),
        ("é" * 30, "é" * 30, True),
    ],
)
def test_the_token_must_equal_a_configured_strong_token(given: str | None, expected: str | None, ok: bool) -> None:
    assert token_matches(given, expected) is ok


def test_the_token_comes_from_the_environment_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CALLBACK_TOKEN_ENV, TOKEN)
    assert configured_callback_token(lambda tool: {"callback_token": "other"}) == TOKEN


@pytest.mark.parametrize(
    ("block", "expected"), [({"api_key": "k", "callback_token": TOKEN}, TOKEN), ({"api_key": "k"}, None), (None, None)]
)
def test_the_token_comes_from_the_partner_secret_planyo_block(
    monkeypatch: pytest.MonkeyPatch, block: dict[str, str] | None, expected: str | None
) -> None:
    monkeypatch.delenv(CALLBACK_TOKEN_ENV, raising=False)
    assert configured_callback_token(lambda tool: block if tool == "planyo" else None) == expected


# -- bus event --------------------------------------------------------------------------------
def test_the_bus_event_carries_the_parsed_notification_and_no_token() -> None:
    n = parse_notification(form(CHECKED_IN), FORM, {"token": TOKEN})
    entry = event_entry(n, "handoff-dev")
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        SOURCE,
        "planyo.reservation_status_changed",
        "handoff-dev",
    )
    assert TOKEN not in entry["Detail"]
    assert notification_from_detail(json.loads(entry["Detail"])) == n


def test_repeated_deliveries_share_a_dedupe_key_and_other_events_do_not() -> None:
    first = parse_notification(form(CHECKED_IN), FORM, received_at=BEFORE_START)
    again = parse_notification(form(CHECKED_IN), FORM, received_at=AFTER_START)
    other = parse_notification(form({**CHECKED_IN, "notification_type": "checked_out"}), FORM)
    assert first.dedupe_key == again.dedupe_key == event_detail(first)["dedupe_key"]
    assert other.dedupe_key != first.dedupe_key


def test_register_subscribes_to_customer_status_and_all_six_timed_notifications() -> None:
    assert {"user_updated", "checked_in", "checked_out", "noshow"} <= set(REGISTERED_NOTIFICATIONS)
    assert {f"before_or_after_event_{n}" for n in range(1, 7)} <= set(REGISTERED_NOTIFICATIONS)


# -- answering a callback -----------------------------------------------------------------------
def test_a_wrong_token_is_401_and_publishes_nothing() -> None:
    publisher = ListPublisher()
    answer = accept("tok_wrong_wrong_wrong_wrong_wrong", form(CHECKED_IN), publisher, expected_token=TOKEN)
    assert (answer.status, publisher.entries) == (401, [])


def test_without_a_configured_token_every_callback_is_refused() -> None:
    publisher = ListPublisher()
    answer = accept(TOKEN, form(CHECKED_IN), publisher, expected_token=None)
    assert (answer.status, publisher.entries) == (503, [])


def test_a_malformed_body_is_400_naming_the_problem() -> None:
    publisher = ListPublisher()
    answer = accept(TOKEN, form({"reservation": "1"}), publisher, expected_token=TOKEN)
    assert (answer.status, answer.body["detail"], publisher.entries) == (400, "notification_type is missing", [])
    assert answer.body["type"] == "urn:handoff:problem:invalid-notification"


def test_an_oversized_body_is_413() -> None:
    publisher = ListPublisher()
    answer = accept(TOKEN, b"x" * (MAX_BODY_BYTES + 1), publisher, expected_token=TOKEN)
    assert (answer.status, publisher.entries) == (413, [])


def test_a_valid_callback_is_published_once_and_answered_200() -> None:
    publisher = ListPublisher()
    answer = accept(TOKEN, form(CHECKED_IN), publisher, expected_token=TOKEN)
    assert answer.status == 200
    assert answer.body["detail_type"] == "planyo.reservation_status_changed"
    assert [e["DetailType"] for e in publisher.entries] == ["planyo.reservation_status_changed"]


def test_a_notification_handoff_does_not_handle_is_acknowledged_without_publishing() -> None:
    publisher = ListPublisher()
    answer = accept(TOKEN, form({**CHECKED_IN, "notification_type": "hourly"}), publisher, expected_token=TOKEN)
    assert (answer.status, answer.body["status"], publisher.entries) == (200, "ignored", [])


def test_a_bus_failure_is_503_so_planyo_can_retry() -> None:
    answer = accept(TOKEN, form(CHECKED_IN), ListPublisher(fail=True), expected_token=TOKEN)
    assert answer.status == 503
