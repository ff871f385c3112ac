"""Planyo -> Billit customer sync against the Planyo and Billit sandboxes, idempotency table on moto.

Billit writes are counted by the sandbox (``effects``): a new Planyo user
creates exactly one Billit customer however often its event is processed, a
change updates it once, a re-delivery writes nothing, and Billit failing twice
with 5xx still ends with one customer. The two handlers run here too, on moto.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from moto import mock_aws

from handoff.connectors.billit import BillitConnector
from handoff.connectors.errors import RetryableError
from handoff.connectors.http import RetryPolicy
from handoff.connectors.planyo import NewUser, PlanyoConnector, UserChanges
from handoff.models import Tool
from handoff.partners.customer_sync import CustomerSync, SyncNeedsReview, SyncResult
from handoff.partners.dispatch import PartnerConsumer
from handoff.partners.planyo_events import PlanyoNotification, parse_notification
from handoff.partners.reservation_events import PartnerOutcome
from handoff_dev.policy_files import shipped_partner_policy
from handoff_dev.sandboxes.base import FaultPlan
from handoff_dev.sandboxes.billit import BillitSandbox
from handoff_dev.sandboxes.planyo import PlanyoSandbox

ROOT = Path(__file__).resolve().parents[2]
TABLE = "handoff-test"
FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
ONE_TRY = RetryPolicy(attempts=1, base_delay=0.0, max_delay=0.0)
TOKEN = "tok_test_5d1e9b7c3a2f4e6d8c0b"  # obviously fake
SOFIA = 700131  # in both fixtures, already in sync


@dataclass
class FakeContext:
    function_name: str = "test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planyo_server() -> Iterator[PlanyoSandbox]:
    with PlanyoSandbox() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def billit_server() -> Iterator[BillitSandbox]:
    with BillitSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def planyo_box(planyo_server: PlanyoSandbox) -> PlanyoSandbox:
    planyo_server.reset()
    return planyo_server


@pytest.fixture
def billit_box(billit_server: BillitSandbox) -> BillitSandbox:
    billit_server.reset()
    return billit_server


@pytest.fixture
def planyo(planyo_box: PlanyoSandbox) -> PlanyoConnector:
    return PlanyoConnector.from_config(planyo_box.config(), retry=FAST, sleep=lambda _: None)


def billit_for(box: BillitSandbox, retry: RetryPolicy = FAST) -> BillitConnector:
    return BillitConnector.from_config(box.config(), retry=retry, sleep=lambda _: None)


@pytest.fixture
def billit(billit_box: BillitSandbox) -> BillitConnector:
    return billit_for(billit_box)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield


def table_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return items


def user_updated(user_id: int, *, new: bool = False) -> PlanyoNotification:
    body = {"notification_type": "user_updated", "user": str(user_id), "is_new_user": "1" if new else "0"}
    return parse_notification(urlencode(body).encode(), "application/x-www-form-urlencoded")


def new_planyo_user(planyo: PlanyoConnector, email: str = "noah.kim@example.com") -> int:
    created = planyo.add_user(
        NewUser(
            email=email,
            first_name="Noah",
            last_name="Kim",
            phone="+15555550111",
            address="9 Willow Way",
            city="Springfield",
            postal_code="01107",
            country="US",
            language="EN",
        )
    )
    return created.user.user_id


def writes(box: BillitSandbox) -> list[str]:
    return [f"{r.method} {r.path}" for r in box.seen if r.method in ("POST", "PATCH")]


def customers_with(box: BillitSandbox, email: str) -> list[dict[str, Any]]:
    return [p for p in box.customers() if str(p.get("Email", "")).lower() == email]


# -- the sync ------------------------------------------------------------------------------------
def test_a_new_planyo_user_creates_exactly_one_billit_customer_when_processed_three_times(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    user_id = new_planyo_user(planyo)
    sync = CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext())
    event = user_updated(user_id, new=True)
    results = [sync.sync(event) for _ in range(3)]
    assert billit_box.effects["create_party"] == 1
    assert billit_box.effects["update_party"] == 0
    assert [r.outcome for r in results] == ["created", "unchanged", "unchanged"]
    assert len({r.billit_customer_id for r in results}) == 1
    party = customers_with(billit_box, "noah.kim@example.com")
    assert len(party) == 1
    assert (party[0]["Name"], party[0]["Phone"], party[0]["Language"]) == ("Noah Kim", "+15555550111", "EN")
    assert party[0]["Addresses"][0]["Street"] == "Willow Way"


def test_the_created_customer_carries_an_idempotent_key_derived_from_the_change(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext()).sync(
        user_updated(new_planyo_user(planyo), new=True)
    )
    posts = [r for r in billit_box.seen if r.method == "POST"]
    assert len(posts) == 1
    assert posts[0].headers["idempotent-key"].startswith("handoff-sync-")
    assert any(str(i["pk"]["S"]).startswith("handoff.sync.v1") for i in table_items())


def test_a_changed_user_updates_the_billit_customer_once_with_old_and_new_values(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    user_id = new_planyo_user(planyo)
    sync = CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext())
    sync.sync(user_updated(user_id, new=True))
    planyo.modify_user(UserChanges(city="Shelbyville"), user_id=user_id)
    results = [sync.sync(user_updated(user_id)) for _ in range(3)]
    assert billit_box.effects["update_party"] == 1
    assert results[0].outcome == "updated"
    assert [(c.field, c.old, c.new) for c in results[0].changes] == [("city", "Springfield", "Shelbyville")]
    assert [r.outcome for r in results[1:]] == ["unchanged", "unchanged"]
    party = customers_with(billit_box, "noah.kim@example.com")[0]
    assert party["Addresses"][0]["City"] == "Shelbyville"
    assert party["Addresses"][0]["Street"] == "Willow Way", "the whole address is sent, not only the city"


def test_only_changed_fields_are_patched(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    user_id = new_planyo_user(planyo)
    sync = CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext())
    sync.sync(user_updated(user_id, new=True))
    planyo.modify_user(UserChanges(phone="+15555550199"), user_id=user_id)
    sync.sync(user_updated(user_id))
    patch = [r for r in billit_box.seen if r.method == "PATCH"]
    assert len(patch) == 1
    assert patch[0].json() == {"Phone": "+15555550199"}


def test_an_unchanged_redelivery_writes_nothing(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    user_id = new_planyo_user(planyo)
    sync = CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext())
    sync.sync(user_updated(user_id, new=True))
    before_writes, before_items = writes(billit_box), len(table_items())
    result = sync.sync(user_updated(user_id))
    assert result.outcome == "unchanged"
    assert writes(billit_box) == before_writes
    assert len(table_items()) == before_items


def test_a_customer_already_in_billit_and_in_sync_is_left_alone(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    result = CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext()).sync(user_updated(SOFIA))
    assert (result.outcome, result.billit_customer_id) == ("unchanged", 778802)
    assert writes(billit_box) == []


def test_billit_failing_the_first_two_attempts_still_ends_with_one_customer(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    user_id = new_planyo_user(planyo)
    billit_box.inject(FaultPlan(first_n=2, kinds=("5xx",), only_operations=("create_party",)))
    result = CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext()).sync(user_updated(user_id, new=True))
    assert result.outcome == "created"
    assert billit_box.requests["create_party"] == 3
    assert billit_box.effects["create_party"] == 1
    assert len(customers_with(billit_box, "noah.kim@example.com")) == 1


def test_redelivered_events_after_two_failed_deliveries_create_one_customer(
    aws: None, planyo: PlanyoConnector, billit_box: BillitSandbox
) -> None:
    user_id = new_planyo_user(planyo)
    sync = CustomerSync(planyo, billit_for(billit_box, ONE_TRY), TABLE, lambda_context=FakeContext())
    billit_box.inject(FaultPlan(first_n=2, kinds=("5xx",), only_operations=("create_party",)))
    event = user_updated(user_id, new=True)
    for _ in range(2):
        with pytest.raises(RetryableError):
            sync.sync(event)
    assert sync.sync(event).outcome == "created"
    assert sync.sync(event).outcome == "unchanged"
    assert billit_box.effects["create_party"] == 1
    assert len(customers_with(billit_box, "noah.kim@example.com")) == 1


def test_a_change_and_its_reversal_are_both_written(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    user_id = new_planyo_user(planyo)
    sync = CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext())
    sync.sync(user_updated(user_id, new=True))
    outcomes: list[SyncResult] = []
    for city in ("Shelbyville", "Springfield"):
        planyo.modify_user(UserChanges(city=city), user_id=user_id)
        outcomes.append(sync.sync(user_updated(user_id)))
    assert [r.outcome for r in outcomes] == ["updated", "updated"]
    assert customers_with(billit_box, "noah.kim@example.com")[0]["Addresses"][0]["City"] == "Springfield"


def test_a_planyo_user_deleted_since_the_callback_is_skipped(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    result = CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext()).sync(user_updated(999999))
    assert result.outcome == "skipped"
    assert writes(billit_box) == []


def test_several_billit_customers_with_the_e_mail_need_a_human(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    user_id = new_planyo_user(planyo)
    for party_id in (779901, 779902):
        billit_box.parties[party_id] = {
            "PartyID": party_id,
            "PartyType": "Customer",
            "Name": "Noah Kim",
            "Email": "noah.kim@example.com",
        }
    with pytest.raises(SyncNeedsReview, match="several Billit customers"):
        CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext()).sync(user_updated(user_id))
    assert writes(billit_box) == []


# -- the consumer: review and routed events, once each ---------------------------------------------
@dataclass
class ListPublisher:
    entries: list[dict[str, Any]] = field(default_factory=list)

    def publish(self, entries: Sequence[dict[str, Any]]) -> None:
        self.entries.extend(entries)

    def outcomes(self) -> list[PartnerOutcome]:
        """The outcomes behind the typed ``partner.routed`` events, as notify reads them from the table."""
        from handoff.events.partner import PartnerViewStore

        keys = [json.loads(e["Detail"])["dedupe_key"] for e in self.entries]
        kept = [PartnerViewStore(TABLE).load(key) for key in keys]
        return [outcome for outcome in kept if outcome is not None]


def consumer_for(planyo: PlanyoConnector, billit: BillitConnector, publisher: ListPublisher) -> PartnerConsumer:
    connectors: dict[Tool, Any] = {Tool.PLANYO: planyo, Tool.BILLIT: billit}
    return PartnerConsumer(
        connector_for=connectors.get, table_name=TABLE, publisher=publisher, policy=shipped_partner_policy()
    )


def detail_of(notification: PlanyoNotification) -> tuple[str, dict[str, Any]]:
    from handoff.partners.planyo_events import event_detail

    return notification.kind.value, event_detail(notification)


def test_a_sync_that_needs_a_human_is_routed_to_billing_once(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    user_id = new_planyo_user(planyo)
    for party_id in (779901, 779902):
        billit_box.parties[party_id] = {
            "PartyID": party_id,
            "PartyType": "Customer",
            "Name": "N",
            "Email": "noah.kim@example.com",
        }
    publisher = ListPublisher()
    consumer = consumer_for(planyo, billit, publisher)
    for _ in range(3):
        answer = consumer.handle(*detail_of(user_updated(user_id)), lambda_context=FakeContext())
        assert answer["sync"] == "needs_review"
    [outcome] = publisher.outcomes()
    assert (outcome.kind, outcome.owner.team, outcome.record) == ("follow_up", "Billing and finance", str(user_id))


def test_a_no_show_is_routed_once_with_facts_read_from_planyo(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector
) -> None:
    body = {"notification_type": "noshow", "reservation": "48213", "status": "4103", "resource_name": "Callback says X"}
    notification = parse_notification(urlencode(body).encode(), "application/x-www-form-urlencoded")
    publisher = ListPublisher()
    consumer = consumer_for(planyo, billit, publisher)
    for _ in range(3):
        consumer.handle(*detail_of(notification), lambda_context=FakeContext())
    [entry] = publisher.entries
    assert (entry["Source"], entry["DetailType"]) == ("handoff", "partner.routed")
    [outcome] = publisher.outcomes()
    assert (outcome.kind, outcome.owner.slack_channel, outcome.record) == ("follow_up", "#bookings", "48213")
    assert "Resource: Home delivery - Van 1" in outcome.facts
    assert "Customer: Elena Marsh" in outcome.facts


def test_a_status_change_the_policy_ignores_publishes_nothing(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector
) -> None:
    body = {"notification_type": "reservation_confirmed", "reservation": "48213"}
    publisher = ListPublisher()
    notification = parse_notification(urlencode(body).encode(), "application/x-www-form-urlencoded")
    answer = consumer_for(planyo, billit, publisher).handle(*detail_of(notification), lambda_context=FakeContext())
    assert (answer["routed"], publisher.entries) == (False, [])


# -- the handlers on moto --------------------------------------------------------------------------
def load_handler(name: str) -> ModuleType:
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"handoff_test_function_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bus_with_queue(bus: str) -> str:
    events, sqs = boto3.client("events"), boto3.client("sqs")
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=f"{bus}-seen")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=bus, EventPattern=json.dumps({"source": ["handoff.partner", "handoff"]}))
    events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return queue_url


def seen(queue_url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def http_event(token: str, body: bytes) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/planyo/{token}",
        "rawPath": f"/webhooks/planyo/{token}",
        "rawQueryString": "",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "requestContext": {
            "http": {"method": "POST", "path": f"/webhooks/planyo/{token}", "sourceIp": "203.0.113.9"},
            "stage": "$default",
            "requestId": "r1",
        },
        "pathParameters": {"token": token},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def test_partner_ingest_publishes_a_verified_callback_and_refuses_a_wrong_token(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = bus_with_queue("handoff-test-bus")
    monkeypatch.setenv("HANDOFF_EVENT_BUS", "handoff-test-bus")
    monkeypatch.setenv("HANDOFF_PLANYO_CALLBACK_TOKEN", TOKEN)
    app = load_handler("partner_ingest")
    body = urlencode({"notification_type": "checked_out", "reservation": "48213", "status": "1061"}).encode()
    refused = app.handler(http_event("tok_guess_guess_guess_guess_guess", body), FakeContext())
    assert refused["statusCode"] == 401
    assert seen(queue) == []
    accepted = app.handler(http_event(TOKEN, body), FakeContext())
    assert accepted["statusCode"] == 200
    [event] = seen(queue)
    assert (event["source"], event["detail-type"]) == ("handoff.partner", "planyo.reservation_status_changed")
    assert event["detail"]["reservation_id"] == 48213
    assert TOKEN not in json.dumps(event)
    bad = app.handler(http_event(TOKEN, b"reservation=1"), FakeContext())
    assert (bad["statusCode"], bad["headers"]["Content-Type"]) == (400, "application/problem+json")
    assert json.loads(bad["body"]) == {
        "type": "urn:handoff:problem:invalid-notification",
        "title": "invalid notification",
        "status": 400,
        "detail": "notification_type is missing",
    }


def test_customer_sync_handler_syncs_from_the_bus_event(
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    planyo: PlanyoConnector,
    planyo_box: PlanyoSandbox,
    billit_box: BillitSandbox,
) -> None:
    queue = bus_with_queue("handoff-test-bus")
    secret = boto3.client("secretsmanager").create_secret(
        Name="partners", SecretString=json.dumps({"planyo": planyo_box.config(), "billit": billit_box.config()})
    )
    monkeypatch.setenv("HANDOFF_PARTNER_SECRET", secret["ARN"])
    monkeypatch.setenv("HANDOFF_EVENT_BUS", "handoff-test-bus")
    monkeypatch.setenv("HANDOFF_TABLE", TABLE)
    app = load_handler("customer_sync")
    user_id = new_planyo_user(planyo)
    kind, detail = detail_of(user_updated(user_id, new=True))
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": kind,
        "source": "handoff.partner",
        "account": "123456789012",
        "time": "2026-01-01T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }
    first = app.handler(event, FakeContext())
    again = app.handler({**event, "id": str(uuid.uuid4())}, FakeContext())
    assert (first["sync"]["outcome"], again["sync"]["outcome"]) == ("created", "unchanged")
    assert billit_box.effects["create_party"] == 1
    assert seen(queue) == []


def test_an_email_change_in_planyo_updates_the_same_billit_customer(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox
) -> None:
    from handoff.connectors.planyo import UserChanges

    user_id = new_planyo_user(planyo)
    sync = CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext())
    created = sync.sync(user_updated(user_id, new=True))
    planyo.modify_user(UserChanges(new_email="noah.k@example.org"), user_id=user_id)
    changed = sync.sync(user_updated(user_id))
    assert changed.outcome == "updated" and changed.billit_customer_id == created.billit_customer_id
    assert customers_with(billit_box, "noah.kim@example.com") == []
    assert [p["PartyID"] for p in customers_with(billit_box, "noah.k@example.org")] == [created.billit_customer_id]
    assert billit_box.effects["create_party"] == 1


def test_a_field_cleared_in_planyo_is_cleared_in_billit(
    aws: None, planyo: PlanyoConnector, billit: BillitConnector, billit_box: BillitSandbox, planyo_box: PlanyoSandbox
) -> None:
    user_id = new_planyo_user(planyo)
    sync = CustomerSync(planyo, billit, TABLE, lambda_context=FakeContext())
    created = sync.sync(user_updated(user_id, new=True))
    user = planyo_box.users[user_id]
    user.update(phone="", phone_country_code="", mobile="", mobile_country_code="")
    result = sync.sync(user_updated(user_id))
    assert result.outcome == "updated" and [(c.field, c.new) for c in result.changes] == [("phone", None)]
    party = billit_box.parties[created.billit_customer_id]  # type: ignore[index]
    assert "Phone" not in party and party["Addresses"][0]["Street"] == "Willow Way"
