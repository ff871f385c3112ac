"""Plisio connector against its loopback sandbox: every operation, every error class, verify_hash."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest

from handoff.connectors.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    RejectedInputError,
    RetryableError,
)
from handoff.connectors.http import RetryPolicy
from handoff.connectors.plisio import (
    ASSUMPTIONS,
    InvoiceRequest,
    PlisioConnector,
    envelope_error,
    form_callback_hash,
    order_number_for,
    verify_form_callback,
    verify_json_callback,
)
from handoff_dev.sandboxes.base import FaultPlan
from handoff_dev.sandboxes.plisio import API_KEY, PlisioSandbox

FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
WRONG_KEY = "wrong-plisio-key-3c9e7a"
MARCUS = "marcus.greene@example.com"
DISPUTED_TXN = "66606d2a9f1c4b0017a3e917"

# Known-good callback vectors, computed once with the reference page's composed Python
# (PHP serialize of ksorted fields / compact JSON in received order, HMAC-SHA1 hex).
VECTOR_SECRET = "test-shop-secret-not-real-0917"
FORM_FIELDS = {
    "txn_id": DISPUTED_TXN,
    "ipn_type": "invoice",
    "merchant": "Northwind Home",
    "merchant_id": "6650e5f1a2b3c4d5e6f70001",
    "amount": "349.000000",
    "currency": "USDT_TRX",
    "order_number": "INV-2025-0917",
    "order_name": "Northwind Home invoice INV-2025-0917",
    "confirmations": "20",
    "status": "completed",
    "source_currency": "USD",
    "source_amount": "349.00",
    "source_rate": "1.000000",
    "comment": "Paiement reçu ✓",
    "psys_cid": "USDT_TRX",
    "tx_urls": "[&quot;https://tronscan.org/#/transaction/7a3e91c0&quot;]",
    "expire_utc": "1748959500",
}
FORM_HASH = "51805827aaa157c14f3ef1637c3920b175fb52dc"
JSON_BODY = (
    '{"txn_id":"66606d2a9f1c4b0017a3e917","status":"completed","order_number":"INV-2025-0917",'
    '"amount":"349.000000","currency":"USDT_TRX","source_amount":"349.00","source_currency":"USD",'
    '"comment":"Paiement reçu ✓","verify_hash":"c192233513545ad49f80479fc7fefbb40399c029"}'
)


@pytest.fixture(scope="module")
def server() -> Iterator[PlisioSandbox]:
    sandbox = PlisioSandbox()
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(server: PlisioSandbox) -> PlisioSandbox:
    server.reset()
    server.errors_as_200 = False
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def connect(sandbox: PlisioSandbox, sleeps: list[float], **overrides: Any) -> PlisioConnector:
    return PlisioConnector.from_config({**sandbox.config(), **overrides}, retry=FAST, sleep=sleeps.append)


def invoice(call_id: str = "call_8Ck4Rf1vJp7T", **overrides: Any) -> InvoiceRequest:
    values: dict[str, Any] = {
        "call_id": call_id,
        "order_name": "Harbor 3-seat sofa, slate grey",
        "amount": Decimal("1299.00"),
        "currency": "USD",
        "email": "daniel.okafor@example.com",
    }
    return InvoiceRequest(**{**values, **overrides})


# -- health -------------------------------------------------------------------------------------
def test_check_is_healthy_with_the_right_key(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    report = connect(sandbox, sleeps).check()
    assert (report.reachable, report.authenticated, report.healthy) == (True, True, True)


def test_check_reports_a_wrong_key_as_unauthenticated_without_leaking_it(
    sandbox: PlisioSandbox, sleeps: list[float]
) -> None:
    report = connect(sandbox, sleeps, api_key=WRONG_KEY).check()
    assert (report.reachable, report.authenticated) == (True, False)
    assert WRONG_KEY not in report.detail and "api_key=***" in report.detail


def test_check_reports_an_unreachable_host(sleeps: list[float]) -> None:
    report = PlisioConnector.from_config(
        {"base_url": "http://127.0.0.1:9/api/v1", "api_key": API_KEY}, retry=FAST, sleep=sleeps.append
    ).check()
    assert (report.reachable, report.authenticated) == (False, False)


def test_invalid_configuration_is_an_auth_error_that_names_fields_not_values() -> None:
    with pytest.raises(AuthError) as caught:
        PlisioConnector.from_config({"api_key": "k3y!", "read_timeout": -1})
    assert "api_key" in str(caught.value) and "read_timeout" in str(caught.value)
    assert "k3y!" not in str(caught.value)


# -- create invoice ---------------------------------------------------------------------------
def test_create_invoice_uses_an_order_number_derived_from_the_call_id(
    sandbox: PlisioSandbox, sleeps: list[float]
) -> None:
    created = connect(sandbox, sleeps).create_invoice(invoice())
    assert created.order_number == "handoff-call_8Ck4Rf1vJp7T"
    assert created.invoice_url and created.invoice_url.endswith(created.invoice_id)
    [stored] = sandbox.invoices("handoff-call_8Ck4Rf1vJp7T")
    assert stored["id"] == created.invoice_id
    assert stored["params"]["source_amount"] == "1299.00" and stored["params"]["source_currency"] == "USD"
    assert stored["params"]["email"] == "daniel.okafor@example.com"


def test_creating_twice_for_the_same_call_returns_one_invoice_and_one_side_effect(
    sandbox: PlisioSandbox, sleeps: list[float]
) -> None:
    connector = connect(sandbox, sleeps)
    first = connector.create_invoice(invoice())
    second = connector.create_invoice(invoice())
    assert second.invoice_id == first.invoice_id
    assert len(sandbox.invoices(first.order_number)) == 1
    assert sandbox.effects["create_invoice"] == 1


def test_a_failed_create_is_retried_and_still_creates_exactly_one_invoice(
    sandbox: PlisioSandbox, sleeps: list[float]
) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",)))
    created = connect(sandbox, sleeps).create_invoice(invoice())
    assert sandbox.requests["create_invoice"] == 2 and len(sleeps) == 1
    assert sandbox.effects["create_invoice"] == 1 and len(sandbox.invoices(created.order_number)) == 1


def test_a_dropped_connection_is_retried(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("drop",)))
    created = connect(sandbox, sleeps).create_invoice(invoice())
    assert sandbox.requests["create_invoice"] == 2 and sandbox.effects["create_invoice"] == 1
    assert created.invoice_id


def test_rate_limiting_is_retried_after_retry_after(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("429",), retry_after=0.05))
    connect(sandbox, sleeps).get_invoices_by_email(MARCUS)
    assert sleeps == [0.05] and sandbox.requests["list_operations"] == 2


def test_persistent_server_errors_end_as_retryable_after_the_attempts(
    sandbox: PlisioSandbox, sleeps: list[float]
) -> None:
    sandbox.inject(FaultPlan(first_n=10, kinds=("5xx",)))
    with pytest.raises(RetryableError) as caught:
        connect(sandbox, sleeps).get_invoices_by_email(MARCUS)
    assert caught.value.status == 503 and sandbox.requests["list_operations"] == FAST.attempts


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"currency": "XYZ"}, "source_currency"),
        ({"crypto_currencies": ["DOGE"]}, "currency"),
    ],
)
def test_invalid_invoice_input_is_rejected_and_not_retried(
    sandbox: PlisioSandbox, sleeps: list[float], overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(RejectedInputError) as caught:
        connect(sandbox, sleeps).create_invoice(invoice(**overrides))
    assert field in str(caught.value)
    assert sandbox.requests["create_invoice"] == 1 and sandbox.effects["create_invoice"] == 0


def test_order_numbers_are_stable_and_distinct_per_call() -> None:
    assert order_number_for("call_2Vd8Nw4pYs6K") == order_number_for("call_2Vd8Nw4pYs6K") == "handoff-call_2Vd8Nw4pYs6K"
    odd = order_number_for("call with spaces/and:colons")
    assert odd.startswith("handoff-") and odd == order_number_for("call with spaces/and:colons")
    assert odd != order_number_for("call with spaces/and:colon")


# -- lookups ----------------------------------------------------------------------------------
def test_invoices_by_email_finds_marcus_greenes_invoices(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    page = connect(sandbox, sleeps).get_invoices_by_email("Marcus.Greene@example.com")
    assert [op.order_number for op in page.items] == ["INV-2025-0917", "INV-2025-0788"]
    disputed = page.items[0]
    assert (disputed.amount, disputed.currency, disputed.status) == (Decimal("349.00"), "USD", "completed")
    assert disputed.paid and all(op.email_confirmed for op in page.items)
    assert not page.has_more


def test_invoices_by_email_is_empty_for_a_new_prospect(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    assert connect(sandbox, sleeps).get_invoices_by_email("daniel.okafor@example.com").items == []


def test_invoices_by_email_pages(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    connector = connect(sandbox, sleeps)
    first = connector.get_invoices_by_email(MARCUS, limit=1, page=1)
    second = connector.get_invoices_by_email(MARCUS, limit=1, page=2)
    assert first.has_more and not second.has_more
    assert [op.order_number for op in first.items + second.items] == ["INV-2025-0917", "INV-2025-0788"]


def test_find_invoice_by_order_number(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    connector = connect(sandbox, sleeps)
    found = connector.find_invoice("INV-2025-0917")
    assert found is not None and found.invoice_id == DISPUTED_TXN and found.email == MARCUS
    assert connector.find_invoice("INV-2025-9999") is None


def test_get_operation_by_id(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    op = connect(sandbox, sleeps).get_operation(DISPUTED_TXN)
    assert (op.kind, op.order_number, op.crypto_currency, op.crypto_amount) == (
        "invoice",
        "INV-2025-0917",
        "USDT_TRX",
        Decimal("349.000000"),
    )
    assert op.created_at is not None and op.created_at.isoformat() == "2025-06-02T14:05:00+00:00"


def test_unknown_operation_is_not_found(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    with pytest.raises(NotFoundError):
        connect(sandbox, sleeps).get_operation("ffffffffffffffffffffffff")
    assert sandbox.requests["get_operation"] == 1


def test_malformed_operation_id_is_refused_before_sending(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    with pytest.raises(RejectedInputError):
        connect(sandbox, sleeps).get_operation("../shops")
    assert sum(sandbox.requests.values()) == 0


def test_wrong_key_is_an_auth_error_and_not_retried(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    with pytest.raises(AuthError):
        connect(sandbox, sleeps, api_key=WRONG_KEY).get_operation(DISPUTED_TXN)
    assert sandbox.requests["get_operation"] == 1 and sleeps == []


# -- the in-body envelope (errors on HTTP 200) ----------------------------------------------------
@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda c: c.get_operation("ffffffffffffffffffffffff"), NotFoundError),
        (lambda c: c.create_invoice(invoice(currency="XYZ")), RejectedInputError),
    ],
)
def test_error_envelopes_on_http_200_are_mapped_from_the_body(
    sandbox: PlisioSandbox, sleeps: list[float], call: Any, expected: type[Exception]
) -> None:
    sandbox.errors_as_200 = True
    with pytest.raises(expected):
        call(connect(sandbox, sleeps))


def test_wrong_key_on_http_200_is_still_an_auth_error(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    sandbox.errors_as_200 = True
    with pytest.raises(AuthError):
        connect(sandbox, sleeps, api_key=WRONG_KEY).get_operation(DISPUTED_TXN)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "Unauthorized", "message": "bad key", "code": 401}, AuthError),
        ({"name": "Forbidden", "message": "ip not allowed", "code": 403}, AuthError),
        ({"name": "Not Found", "message": "nope", "code": 404}, NotFoundError),
        ({"name": "Conflict", "message": "dup", "code": 409}, ConflictError),
        (
            {"name": "Unprocessable entity", "message": '{"order_number":["Order Number has already been taken."]}'},
            ConflictError,
        ),
        (
            {"name": "Unprocessable entity", "message": '{"amount":["Amount cannot be blank."]}', "code": 422},
            RejectedInputError,
        ),
        ({"name": "Too Many Requests", "message": "slow down", "code": 429}, RateLimitedError),
        ({"name": "Server Error", "message": "oops", "code": 500}, RetryableError),
    ],
)
def test_envelope_errors_map_onto_the_taxonomy(data: dict[str, Any], expected: type[Exception]) -> None:
    error = envelope_error({"status": "error", "data": data}, 200)
    assert type(error) is expected


def test_field_errors_encoded_in_the_message_are_readable() -> None:
    error = envelope_error(
        {"status": "error", "data": {"name": "Bad", "message": '{"amount":["Amount cannot be blank."]}', "code": 422}},
        422,
    )
    assert "amount: Amount cannot be blank." in str(error)


# -- callbacks --------------------------------------------------------------------------------
def test_form_callback_known_vector_verifies() -> None:
    assert form_callback_hash(FORM_FIELDS, VECTOR_SECRET) == FORM_HASH
    assert verify_form_callback({**FORM_FIELDS, "verify_hash": FORM_HASH}, VECTOR_SECRET)


def test_json_callback_known_vector_verifies() -> None:
    assert verify_json_callback(JSON_BODY.encode(), VECTOR_SECRET)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda f: {**f, "amount": "349.000001"},
        lambda f: {**f, "status": "mismatch"},
        lambda f: {k: v for k, v in f.items() if k != "comment"},
        lambda f: {k: v for k, v in f.items() if k != "verify_hash"},
    ],
)
def test_tampered_form_callbacks_fail(tamper: Any) -> None:
    assert not verify_form_callback(tamper({**FORM_FIELDS, "verify_hash": FORM_HASH}), VECTOR_SECRET)


def test_tampered_json_callback_fails() -> None:
    assert not verify_json_callback(JSON_BODY.replace("349.00", "34.90").encode(), VECTOR_SECRET)
    assert not verify_json_callback(JSON_BODY.encode(), "another-secret-entirely")
    assert not verify_json_callback(b"not json", VECTOR_SECRET)


def test_json_callback_with_sorted_keys_is_accepted_as_a_fallback() -> None:
    import hashlib
    import hmac

    body = json.loads(JSON_BODY)
    del body["verify_hash"]
    canonical = json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    body["verify_hash"] = hmac.new(VECTOR_SECRET.encode(), canonical.encode(), hashlib.sha1).hexdigest()
    assert verify_json_callback(json.dumps(body).encode(), VECTOR_SECRET)


@pytest.mark.parametrize("as_json", [True, False])
def test_sandbox_callbacks_verify_and_parse_in_handoff_names(
    sandbox: PlisioSandbox, sleeps: list[float], as_json: bool
) -> None:
    body, content_type = sandbox.signed_callback(DISPUTED_TXN, as_json=as_json)
    parsed = connect(sandbox, sleeps).parse_callback(body, content_type=content_type)
    assert (parsed.invoice_id, parsed.order_number, parsed.status) == (DISPUTED_TXN, "INV-2025-0917", "completed")
    assert (parsed.amount, parsed.currency, parsed.crypto_currency) == (Decimal("349.00"), "USD", "USDT_TRX")


def test_a_forged_form_callback_is_refused(sandbox: PlisioSandbox, sleeps: list[float]) -> None:
    body = urlencode({**FORM_FIELDS, "verify_hash": FORM_HASH}).encode()  # signed with another secret
    connector = connect(sandbox, sleeps)
    assert not connector.verify_callback(body, content_type="application/x-www-form-urlencoded")
    with pytest.raises(AuthError):
        connector.parse_callback(body, content_type="application/x-www-form-urlencoded")


def test_the_connector_verifies_with_its_own_secret(sleeps: list[float]) -> None:
    connector = PlisioConnector.from_config({"api_key": VECTOR_SECRET})
    form = urlencode({**FORM_FIELDS, "verify_hash": FORM_HASH}).encode()
    assert connector.verify_callback(form, content_type="application/x-www-form-urlencoded")
    assert connector.verify_callback(JSON_BODY.encode(), content_type="application/json")


# -- secrets ------------------------------------------------------------------------------------
def test_the_key_never_appears_in_errors_or_logs(
    sandbox: PlisioSandbox, sleeps: list[float], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.inject(FaultPlan(first_n=10, kinds=("5xx",)))
    connector = connect(sandbox, sleeps)
    messages = []
    for call in (lambda: connector.get_operation(DISPUTED_TXN), lambda: connector.create_invoice(invoice())):
        with pytest.raises(RetryableError) as caught:
            call()
        messages.append(str(caught.value))
    sandbox.inject(None)
    with pytest.raises(NotFoundError) as missing:
        connector.get_operation("ffffffffffffffffffffffff")
    messages.append(str(missing.value))
    captured = capsys.readouterr()
    everything = "\n".join([*messages, caplog.text, captured.out, captured.err, repr(connector.settings)])
    assert "partner call retrying" in caplog.text  # the retries were logged …
    assert API_KEY not in everything  # … and nothing carried the key
    assert "api_key=***" in messages[-1]


def test_assumptions_are_listed() -> None:
    assert ASSUMPTIONS and all(isinstance(v, str) and v for v in ASSUMPTIONS.values())
