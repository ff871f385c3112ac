"""Billit connector against its loopback sandbox: customer upsert, search, update, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from handoff.connectors.billit import (
    ASSUMPTIONS,
    BillitConnector,
    CustomerChanges,
    NewCustomer,
    customer_to_partner,
)
from handoff.connectors.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    RejectedInputError,
    RetryableError,
)
from handoff.connectors.http import RetryPolicy
from handoff.models import Tool
from handoff_dev.sandboxes.base import FaultPlan, Request, Response
from handoff_dev.sandboxes.billit import API_KEY, BillitSandbox

FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
WRONG_KEY = "wrong-billit-key-4be1d0"
MARCUS_VAT = "BE0412345614"


@pytest.fixture(scope="module")
def server() -> Iterator[BillitSandbox]:
    sandbox = BillitSandbox()
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(server: BillitSandbox) -> BillitSandbox:
    server.reset()
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def connect(
    sandbox: BillitSandbox, sleeps: list[float], read_timeout: float | None = None, **overrides: Any
) -> BillitConnector:
    config = {**sandbox.config(), **overrides}
    return BillitConnector.from_config(config, retry=FAST, sleep=sleeps.append, read_timeout=read_timeout)


@pytest.fixture
def billit(sandbox: BillitSandbox, sleeps: list[float]) -> BillitConnector:
    return connect(sandbox, sleeps)


def noah(**extra: Any) -> NewCustomer:
    return NewCustomer(name="Noah Kim", email="noah.kim@example.com", phone="+15555550111", **extra)


def posts(sandbox: BillitSandbox) -> list[Request]:
    return [r for r in sandbox.seen if r.method == "POST"]


# -- configuration and health ------------------------------------------------------------
def test_assumptions_are_listed_in_one_place() -> None:
    assert ASSUMPTIONS and all(isinstance(a, str) and a for a in ASSUMPTIONS)


def test_check_reports_reachable_and_authenticated(billit: BillitConnector) -> None:
    report = billit.check()
    assert (report.reachable, report.authenticated) == (True, True)


def test_check_with_wrong_key_is_not_authenticated(sandbox: BillitSandbox, sleeps: list[float]) -> None:
    report = connect(sandbox, sleeps, api_key=WRONG_KEY).check()
    assert (report.reachable, report.authenticated) == (True, False)
    assert WRONG_KEY not in report.detail


def test_check_with_a_foreign_party_id_is_not_authenticated(sandbox: BillitSandbox, sleeps: list[float]) -> None:
    assert connect(sandbox, sleeps, party_id=111).check().authenticated is False


def test_check_when_nothing_listens_is_unreachable(sleeps: list[float]) -> None:
    billit = BillitConnector.from_config(
        {"base_url": "http://127.0.0.1:9", "api_key": API_KEY}, retry=FAST, sleep=sleeps.append
    )
    assert billit.check().reachable is False


@pytest.mark.parametrize("config", [{}, {"api_key": ""}, {"api_key": "k-998877", "party_id": "abc"}])
def test_invalid_configuration_is_an_auth_error_without_values(config: dict[str, Any]) -> None:
    with pytest.raises(AuthError) as caught:
        BillitConnector.from_config(config)
    assert "k-998877" not in str(caught.value)


def test_every_request_carries_the_key_and_company_headers(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    billit.find_customers(email="marcus.greene@example.com")
    request = sandbox.seen[-1]
    assert (request.headers["apikey"], request.headers["partyid"]) == (API_KEY, "654321")
    assert API_KEY not in request.path and API_KEY not in json.dumps(request.query)


# -- finding customers ----------------------------------------------------------------------
def test_find_customer_by_email(billit: BillitConnector) -> None:
    customer = billit.find_customer(email="Marcus.Greene@example.com")
    assert customer is not None
    assert (customer.customer_id, customer.vat_number, customer.city) == (778801, MARCUS_VAT, "Gent")


def test_find_customer_by_formatted_vat_number(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    customer = billit.find_customer(vat_number="be 0412.345.614")
    assert customer is not None and customer.customer_id == 778801
    assert "VATNumber eq 'BE0412345614'" in sandbox.seen[-1].query["$filter"]


def test_find_customer_ignores_suppliers(billit: BillitConnector) -> None:
    assert billit.find_customer(email="orders@oakline.example.com") is None


def test_find_customer_reads_flat_address_fields(billit: BillitConnector) -> None:
    sofia = billit.find_customer(email="sofia.alvarez@example.com")
    assert sofia is not None and (sofia.street, sofia.postal_code, sofia.vat_number) == ("Maple Street", "01105", None)


def test_find_customers_needs_a_key(billit: BillitConnector) -> None:
    with pytest.raises(RejectedInputError):
        billit.find_customers()


def test_email_search_falls_back_to_full_text_when_email_is_not_filterable(
    billit: BillitConnector, sandbox: BillitSandbox
) -> None:
    sandbox.email_filterable = False
    customer = billit.find_customer(email="marcus.greene@example.com")
    assert customer is not None and customer.customer_id == 778801
    assert sandbox.seen[-1].query["fullTextSearch"] == "marcus.greene@example.com"


def test_search_follows_next_page_links(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    sandbox.page_size = 1
    for n in range(2):
        sandbox.parties[790000 + n] = {**sandbox.parties[778801], "PartyID": 790000 + n, "VATNumber": None}
    assert len(billit.find_customers(email="marcus.greene@example.com")) == 3
    assert sandbox.requests["list_parties"] == 3


def test_next_page_link_to_another_host_is_not_followed(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    sandbox.page_size = 1
    sandbox.next_link_base = "http://attacker.example.net"
    sandbox.parties[790000] = {**sandbox.parties[778801], "PartyID": 790000}
    with pytest.raises(RejectedInputError):
        billit.find_customers(email="marcus.greene@example.com")


def test_two_customers_matching_is_a_conflict(billit: BillitConnector) -> None:
    with pytest.raises(ConflictError):
        billit.find_customer(email="sofia.alvarez@example.com", vat_number=MARCUS_VAT)


def test_get_customer_by_id(billit: BillitConnector) -> None:
    assert billit.get_customer(778802).name == "Sofia Alvarez"


def test_get_unknown_customer_is_not_found(billit: BillitConnector) -> None:
    with pytest.raises(NotFoundError):
        billit.get_customer(123)


def test_wrong_key_is_an_auth_error_and_not_retried(sandbox: BillitSandbox, sleeps: list[float]) -> None:
    with pytest.raises(AuthError):
        connect(sandbox, sleeps, api_key=WRONG_KEY).get_customer(778801)
    assert sandbox.requests["get_party"] == 1


# -- create (upsert) and update ---------------------------------------------------------------
def test_create_customer_creates_once_with_an_idempotent_key(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    first = billit.create_customer(noah(), idempotency_key="call_7Hq2mXk9RtB4:billit:create_customer")
    second = billit.create_customer(noah(), idempotency_key="call_7Hq2mXk9RtB4:billit:create_customer")
    assert (first.created, second.created) == (True, False)  # the second finds the customer: no POST
    assert first.customer.customer_id == second.customer.customer_id
    assert sandbox.effects == {"create_party": 1}
    assert [r.headers.get("idempotent-key") for r in posts(sandbox)] == ["call_7Hq2mXk9RtB4:billit:create_customer"]


def test_a_create_answered_with_an_empty_201_resolves_the_party_it_made(
    billit: BillitConnector, sandbox: BillitSandbox
) -> None:
    sandbox.empty_create_answers = 1
    outcome = billit.create_customer(noah(), idempotency_key="k-empty")
    assert outcome.created and outcome.customer.email == "noah.kim@example.com"
    assert sandbox.effects == {"create_party": 1}
    assert [p["PartyID"] for p in sandbox.customers() if p.get("Email") == "noah.kim@example.com"] == [
        outcome.customer.customer_id
    ]


def test_create_customer_sends_a_customer_party(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    billit.create_customer(noah(street="Kouter", street_number="2", postal_code="9000", city="Gent", country_code="BE"))
    body = posts(sandbox)[0].json()
    assert (body["PartyType"], body["Name"], body["Email"], body["VATLiable"]) == (
        "Customer",
        "Noah Kim",
        "noah.kim@example.com",
        False,
    )
    assert body["Addresses"][0]["AddressType"] == "InvoiceAddress"


def test_create_without_a_key_derives_a_stable_one(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    billit.create_customer(noah())
    key = posts(sandbox)[0].headers.get("idempotent-key") or ""
    assert key.startswith("handoff-customer-") and len(key) > 20


def test_create_for_a_known_vat_number_updates_instead(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    outcome = billit.create_customer(
        NewCustomer(name="Marcus Greene", vat_number="BE 0412 345 614", phone="+15555550188")
    )
    assert (outcome.created, outcome.updated, outcome.customer.phone) == (False, True, "+15555550188")
    assert sandbox.effects == {"update_party": 1}
    assert posts(sandbox) == []


def test_create_for_an_identical_customer_writes_nothing(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    billit.create_customer(NewCustomer(name="Sofia Alvarez", email="sofia.alvarez@example.com"))
    assert sandbox.effects == {}


def test_create_is_retried_with_the_same_key_and_creates_once(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",), only_operations=("create_party",)))
    assert billit.create_customer(noah(), idempotency_key="k-1").created is True
    assert sandbox.requests["create_party"] == 2
    assert {r.headers.get("idempotent-key") for r in posts(sandbox)} == {"k-1"}
    assert sandbox.effects == {"create_party": 1}


def test_replayed_key_with_another_body_is_a_conflict(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    billit.create_customer(noah(), idempotency_key="k-2")
    with pytest.raises(ConflictError):
        billit.create_customer(NewCustomer(name="Ava Stone", email="ava.stone@example.com"), idempotency_key="k-2")
    assert sandbox.effects == {"create_party": 1}


def test_a_language_billit_does_not_support_is_rejected_and_not_retried(
    billit: BillitConnector, sandbox: BillitSandbox
) -> None:
    with pytest.raises(RejectedInputError) as caught:
        billit.create_customer(noah(language="XX"))
    assert "InvalidLanguage" in str(caught.value)
    assert sandbox.requests["create_party"] == 1


def test_an_invalid_vat_number_is_refused_before_any_call() -> None:
    with pytest.raises(ValidationError):
        NewCustomer(name="Bad Vat", vat_number="BE0412345615")


def test_a_new_customer_needs_something_to_search_by() -> None:
    with pytest.raises(ValidationError):
        NewCustomer(name="Nobody")


def test_update_customer_patches_only_given_fields(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    updated = billit.update_customer(778802, CustomerChanges(email="sofia.a@example.com"))
    assert (updated.email, updated.phone) == ("sofia.a@example.com", "+15555550131")
    patch = next(r for r in sandbox.seen if r.method == "PATCH")
    assert patch.json() == {"Email": "sofia.a@example.com"}


def test_update_unknown_customer_is_not_found(billit: BillitConnector) -> None:
    with pytest.raises(NotFoundError):
        billit.update_customer(123, CustomerChanges(phone="+15555550100"))


def test_update_is_retried_after_a_server_error(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",), only_operations=("update_party",)))
    billit.update_customer(778802, CustomerChanges(city="Boston"))
    assert sandbox.requests["update_party"] == 2
    assert sandbox.effects == {"update_party": 1}


def test_update_without_changes_is_rejected(billit: BillitConnector) -> None:
    with pytest.raises(RejectedInputError):
        billit.update_customer(778802, CustomerChanges())


def test_address_fields_map_to_one_invoice_address() -> None:
    body = customer_to_partner(CustomerChanges(name="A", city="Gent", postal_code="9000"))
    assert body == {
        "Name": "A",
        "Addresses": [{"AddressType": "InvoiceAddress", "Zipcode": "9000", "City": "Gent", "Name": "A"}],
    }


# -- faults and secrets ------------------------------------------------------------------------
def test_rate_limit_waits_for_retry_after(billit: BillitConnector, sandbox: BillitSandbox, sleeps: list[float]) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("429",), retry_after=0.05, only_operations=("get_party",)))
    billit.get_customer(778801)
    assert sleeps == [0.05]


def test_persistent_server_errors_end_as_retryable(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    sandbox.inject(FaultPlan(first_n=10, kinds=("5xx",), only_operations=("list_parties",)))
    with pytest.raises(RetryableError):
        billit.find_customers(email="marcus.greene@example.com")
    assert sandbox.requests["list_parties"] == FAST.attempts


def test_dropped_connections_are_retryable(billit: BillitConnector, sandbox: BillitSandbox) -> None:
    sandbox.inject(FaultPlan(first_n=10, kinds=("drop",), only_operations=("get_party",)))
    with pytest.raises(RetryableError):
        billit.get_customer(778801)


def test_secrets_never_reach_exceptions_or_logs(
    billit: BillitConnector, sandbox: BillitSandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def echoing_partner(request: Request) -> Response:
        return Response(400, {"Code": "Bad", "Description": f"key {request.headers.get('apikey')} is odd"})

    monkeypatch.setattr(sandbox, "_authenticate", echoing_partner)
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",), only_operations=("get_party",)))
    with pytest.raises(RejectedInputError) as caught:
        billit.get_customer(778801)
    logged = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert API_KEY not in str(caught.value)
    assert API_KEY not in logged
    assert "partner call retrying" in logged


def test_sandbox_is_named_after_its_tool_and_configures_the_connector(sandbox: BillitSandbox) -> None:
    assert BillitSandbox.name == Tool.BILLIT == BillitConnector.TOOL
    assert BillitConnector.from_config(sandbox.config()).check().healthy
