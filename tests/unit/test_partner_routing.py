"""Partner routing: the packaged policy, what each Planyo event becomes, and bad policy files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from handoff.connectors.planyo import Reservation
from handoff.models import RecordKind, Urgency
from handoff.partners.planyo_events import PlanyoNotification, parse_notification
from handoff.partners.reservation_events import (
    ROUTED_DETAIL_TYPE,
    PartnerOutcome,
    parse_partner_policy,
    route_notification,
    routed_entry,
    sync_review_outcome,
)
from handoff.route.policy import PolicyError
from handoff_dev.policy_files import PARTNER_POLICY_FILE
from handoff_dev.policy_files import shipped_partner_policy as default_partner_policy

START = 1767261600  # 2026-01-01 10:00 UTC
BEFORE = datetime(2025, 12, 31, 9, 0, tzinfo=UTC)
AFTER = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RESERVATION = Reservation(
    reservation_id=48213,
    resource_id=155470,
    resource_name="Home delivery - Van 1",
    user_id=700142,
    start=datetime(2025, 6, 12, 9, 0),
    end=datetime(2025, 6, 12, 12, 0),
    status_code=1 | 4 | 32,
    email="elena.marsh@example.com",
    first_name="Elena",
    last_name="Marsh",
    phone="+15555550142",
)


def notification(planyo_type: str, received_at: datetime = AFTER, **fields: str) -> PlanyoNotification:
    body = {
        "notification_type": planyo_type,
        "reservation": "48213",
        "resource_name": "Name from the callback",
        "start": str(START),
        "status": "37",
        "user": "700142",
        **fields,
    }
    return parse_notification(urlencode(body).encode(), "application/x-www-form-urlencoded", received_at=received_at)


def routed(planyo_type: str, received_at: datetime = AFTER) -> PartnerOutcome:
    outcome = route_notification(notification(planyo_type, received_at), RESERVATION, default_partner_policy())
    assert outcome is not None, f"{planyo_type} was not routed"
    return outcome


# -- the packaged policy ---------------------------------------------------------------------------
def test_the_packaged_policy_is_valid() -> None:
    policy = default_partner_policy()
    assert {"checked_in", "checked_out", "no_show"} <= set(policy.status_changes)


@pytest.mark.parametrize(
    ("planyo_type", "kind", "team", "urgency"),
    [
        ("checked_in", "notify", "Fulfilment and delivery", Urgency.LOW),
        ("checked_out", "follow_up", "Fulfilment and delivery", Urgency.NORMAL),
        ("noshow", "follow_up", "Bookings and delivery scheduling", Urgency.HIGH),
    ],
)
def test_status_changes_go_to_their_owner_with_an_action(
    planyo_type: str, kind: str, team: str, urgency: Urgency
) -> None:
    outcome = routed(planyo_type)
    assert (outcome.kind, outcome.owner.team, outcome.urgency) == (kind, team, urgency)
    assert outcome.owner.slack_channel and outcome.owner.slack_channel.startswith("#")
    assert (outcome.record, outcome.record_kind) == ("48213", RecordKind.RESERVATION)


def test_a_follow_up_says_what_to_do_next() -> None:
    assert "rebook" in routed("noshow").next_step


def test_a_status_change_the_policy_does_not_name_is_not_routed() -> None:
    assert route_notification(notification("reservation_confirmed"), RESERVATION, default_partner_policy()) is None


@pytest.mark.parametrize(
    ("number", "received_at", "team"),
    [
        (1, BEFORE, "Bookings and delivery scheduling"),
        (2, BEFORE, "Fulfilment and delivery"),
        (3, BEFORE, "Customer support"),
        (3, AFTER, "Customer support"),
    ],
)
def test_timed_notifications_route_by_number_and_timing(number: int, received_at: datetime, team: str) -> None:
    assert routed(f"before_or_after_event_{number}", received_at).owner.team == team


@pytest.mark.parametrize(("number", "received_at"), [(1, AFTER), (2, AFTER), (6, BEFORE)])
def test_timed_notifications_without_a_rule_are_not_routed(number: int, received_at: datetime) -> None:
    assert (
        route_notification(
            notification(f"before_or_after_event_{number}", received_at), RESERVATION, default_partner_policy()
        )
        is None
    )


def test_customer_changes_are_not_routed_here() -> None:
    n = parse_notification(b"notification_type=user_updated&user=1", "application/x-www-form-urlencoded")
    assert route_notification(n, None, default_partner_policy()) is None


# -- facts ------------------------------------------------------------------------------------------
def test_facts_come_from_the_reservation_read_through_the_api_not_the_callback() -> None:
    outcome = routed("checked_in")
    text = " ".join([outcome.title, *outcome.facts])
    assert "Home delivery - Van 1" in text
    assert "Name from the callback" not in text
    assert "Customer: Elena Marsh" in outcome.facts


def test_contact_details_appear_only_where_the_policy_allows() -> None:
    allowed = routed("noshow").facts
    not_allowed = routed("checked_in").facts
    assert "E-mail: elena.marsh@example.com" in allowed and "Phone: +15555550142" in allowed
    assert not any("elena.marsh@" in f or "+1555" in f for f in not_allowed)


def test_without_the_reservation_the_facts_say_they_come_from_the_callback() -> None:
    outcome = route_notification(notification("checked_in"), None, default_partner_policy())
    assert outcome is not None
    assert any("from the callback" in f for f in outcome.facts)
    assert "Name from the callback" in outcome.title


def test_the_routed_event_is_the_typed_contract_never_the_facts() -> None:
    from handoff.events.contract import PartnerRouted
    from handoff.events.partner import partner_routed

    outcome = routed("noshow")
    entry = routed_entry(outcome)
    assert (entry["Source"], entry["DetailType"]) == ("handoff", ROUTED_DETAIL_TYPE)
    assert PartnerRouted.model_validate(json.loads(entry["Detail"])) == partner_routed(outcome)
    assert "elena.marsh@" not in entry["Detail"] and "Elena" not in entry["Detail"] and "facts" not in entry["Detail"]


def test_each_planyo_event_has_one_dedupe_key_whatever_the_delivery() -> None:
    assert routed("checked_out", BEFORE).dedupe_key == routed("checked_out", AFTER).dedupe_key


def test_a_customer_that_cannot_be_synced_becomes_a_billing_follow_up() -> None:
    n = parse_notification(b"notification_type=user_updated&user=700142", "application/x-www-form-urlencoded")
    outcome = sync_review_outcome(n, "several Billit customers match (1, 2)", default_partner_policy())
    assert outcome is not None
    assert (outcome.kind, outcome.owner.team, outcome.record, outcome.record_kind) == (
        "follow_up",
        "Billing and finance",
        "700142",
        RecordKind.CUSTOMER,
    )
    assert any("several Billit customers" in f for f in outcome.facts)


# -- bad policy files ------------------------------------------------------------------------------
GOOD = PARTNER_POLICY_FILE.read_text(encoding="utf-8")
MINIMAL = """\
version: "1"
owners:
  ops: {team: Ops, slack_channel: "#ops"}
status_changes:
  checked_in:
    owner: ops
    action: notify
    title: Checked in {reservation_id}
"""


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("owner: ops", "owner: opz", "policy.yaml:6: status_changes.checked_in.owner", "unknown owner 'opz'"),
        ("  checked_in:", "  checked_inn:", "policy.yaml:5: status_changes.checked_inn", "unknown status change"),
        ("action: notify", "action: follow_up", "policy.yaml:5: status_changes.checked_in:", "needs a next_step"),
        ("action: notify", "action: shout", "policy.yaml:7: status_changes.checked_in.action", "'notify'"),
        ("{reservation_id}", "{booking}", "policy.yaml:8: status_changes.checked_in.title", "unknown placeholder"),
        ("title:", "colour: red\n    title:", "policy.yaml:8: status_changes.checked_in.colour", "Extra inputs"),
        ('version: "1"', 'version: "1"\nversion: "2"', "policy.yaml:2: version", "duplicate key"),
        ("owners:", "owners: [", "policy.yaml", "YAML syntax"),
    ],
)
def test_a_bad_policy_names_the_line_and_field(old: str, new: str, where: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_partner_policy(MINIMAL.replace(old, new, 1))
    assert where in str(caught.value)
    assert message in str(caught.value)


def test_the_minimal_policy_used_above_is_itself_valid() -> None:
    assert parse_partner_policy(MINIMAL).status_changes["checked_in"].owner == "ops"


@pytest.mark.parametrize(
    ("timed", "message"),
    [
        ("  - {number: 7, owner: ops, action: notify, title: x}", "less than or equal to 6"),
        (
            "  - {number: 1, owner: ops, action: notify, title: x}\n"
            "  - {number: 1, owner: ops, action: notify, title: y}",
            "duplicate rule for #1",
        ),
    ],
)
def test_timed_rules_are_checked(timed: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_partner_policy(MINIMAL + "timed_notifications:\n" + timed + "\n")


def test_a_record_url_must_be_an_https_template_on_the_reservation_id() -> None:
    with pytest.raises(PolicyError, match="record_url"):
        parse_partner_policy(MINIMAL + "record_url: http://planyo.example/{user}\n")
    policy = parse_partner_policy(MINIMAL + "record_url: https://planyo.example/r?id={reservation_id}\n")
    outcome = route_notification(notification("checked_in"), RESERVATION, policy)
    assert outcome is not None and outcome.record_url == "https://planyo.example/r?id=48213"


def test_the_shipped_file_is_the_one_users_edit_in_the_policy_folder() -> None:
    assert parse_partner_policy(GOOD) == default_partner_policy()
    assert PARTNER_POLICY_FILE.parent.name == "policy" and not Path(PARTNER_POLICY_FILE).is_relative_to(
        Path(PARTNER_POLICY_FILE).parents[1] / "layers"
    )
