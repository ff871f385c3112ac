"""OCR Web Service connector against its loopback sandbox: quota, credentials, OCR, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from handoff.connectors.errors import AuthError, ConnectorError, NotFoundError, RejectedInputError, RetryableError
from handoff.connectors.http import RetryPolicy
from handoff.connectors.ocrwebservice import (
    ASSUMPTIONS,
    OcrWebServiceConnector,
    ProcessOptions,
    mask,
    parse_us_date,
    parse_us_datetime,
    safe_output_url,
)
from handoff.models import Tool
from handoff_dev.sandboxes.base import FaultPlan, Request, Response
from handoff_dev.sandboxes.ocrwebservice import OcrWebServiceSandbox

FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
WRONG_CODE = "wrong-license-code-0000-9f9f"
INVOICE = b"Invoice INV-2025-0917\nTotal 349.00 USD\fPage 2: payment terms"


@pytest.fixture(scope="module")
def server() -> Iterator[OcrWebServiceSandbox]:
    sandbox = OcrWebServiceSandbox()
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(server: OcrWebServiceSandbox) -> OcrWebServiceSandbox:
    server.reset()
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def connect(sandbox: OcrWebServiceSandbox, sleeps: list[float], **overrides: Any) -> OcrWebServiceConnector:
    read_timeout = overrides.pop("read_timeout", 2.0)
    return OcrWebServiceConnector.from_config(
        {**sandbox.config(), **overrides}, retry=FAST, sleep=sleeps.append, read_timeout=read_timeout
    )


@pytest.fixture
def ocr(sandbox: OcrWebServiceSandbox, sleeps: list[float]) -> OcrWebServiceConnector:
    return connect(sandbox, sleeps)


# -- pure parsing ------------------------------------------------------------------------------
def test_assumptions_are_listed_in_one_place() -> None:
    assert ASSUMPTIONS and all(isinstance(a, str) and a for a in ASSUMPTIONS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("04/29/2016", date(2016, 4, 29)), ("4/9/2016", date(2016, 4, 9)), ("", None), ("29/04/2016", None)],
)
def test_us_dates(text: str, expected: date | None) -> None:
    assert parse_us_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3/29/2016 10:42:13 AM", datetime(2016, 3, 29, 10, 42, 13)),
        ("11/20/2026 9:15:02 PM", datetime(2026, 11, 20, 21, 15, 2)),
        (None, None),
    ],
)
def test_us_datetimes(text: str | None, expected: datetime | None) -> None:
    assert parse_us_datetime(text) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://www.ocrwebservice.com/uploads/x/out.txt", "https://www.ocrwebservice.com/uploads/x/out.txt"),
        ("https://evil.example.net/ocrwebservice.com/out.txt", None),
        ("ftp://www.ocrwebservice.com/out.txt", None),
        ("", None),
    ],
)
def test_output_links_stay_on_the_vendor_host_over_https(url: str, expected: str | None) -> None:
    assert safe_output_url(url) == expected


def test_mask_shows_at_most_the_last_four_characters() -> None:
    assert mask("ABCDEF12-3456-7890-AAAA-BBBBCCCC1234") == "*" * 32 + "1234"
    assert mask("short") == "********"


# -- configuration, health, credentials ---------------------------------------------------------
def test_check_reports_quota_and_plan(ocr: OcrWebServiceConnector) -> None:
    report = ocr.check()
    assert (report.reachable, report.authenticated, report.quota) == (True, True, "22/25 pages")
    assert "BASIC" in report.detail and "2026-12-31" in report.detail


def test_check_with_a_wrong_license_is_not_authenticated(sandbox: OcrWebServiceSandbox, sleeps: list[float]) -> None:
    report = connect(sandbox, sleeps, license_code=WRONG_CODE).check()
    assert (report.reachable, report.authenticated) == (True, False)
    assert WRONG_CODE not in report.detail


def test_check_when_nothing_listens_is_unreachable(sleeps: list[float]) -> None:
    ocr = OcrWebServiceConnector.from_config(
        {"base_url": "http://127.0.0.1:9/restservices/", "user_name": "U", "license_code": "L-123456"},
        retry=FAST,
        sleep=sleeps.append,
    )
    assert ocr.check().reachable is False


@pytest.mark.parametrize(
    "config",
    [{}, {"user_name": "U"}, {"user_name": "", "license_code": "L-55443322"}, {"user_name": "U", "license_code": " "}],
)
def test_invalid_configuration_is_an_auth_error_without_values(config: dict[str, Any]) -> None:
    with pytest.raises(AuthError) as caught:
        OcrWebServiceConnector.from_config(config)
    assert "L-55443322" not in str(caught.value)


def test_account_information_parses_us_formats(ocr: OcrWebServiceConnector) -> None:
    info = ocr.get_account_information()
    assert (info.available_pages, info.max_pages, info.plan) == (22, 25, "BASIC")
    assert (info.expires_on, info.last_processed_at) == (date(2026, 12, 31), datetime(2025, 6, 9, 16, 5, 17))


def test_account_information_with_a_wrong_license_is_an_auth_error(
    sandbox: OcrWebServiceSandbox, sleeps: list[float]
) -> None:
    with pytest.raises(AuthError):
        connect(sandbox, sleeps, license_code=WRONG_CODE).get_account_information()
    assert sandbox.requests["account_information"] == 1, "auth errors are never retried"


def test_account_credentials_are_local_and_masked(ocr: OcrWebServiceConnector, sandbox: OcrWebServiceSandbox) -> None:
    creds = ocr.get_account_credentials()
    assert creds.user_name == "NORTHWIND"
    assert sandbox.license_code not in creds.license_code_masked
    assert creds.license_code_masked.endswith(sandbox.license_code[-4:])
    assert sum(sandbox.requests.values()) == 0


def test_a_wrong_base_path_is_not_found(sandbox: OcrWebServiceSandbox, sleeps: list[float]) -> None:
    with pytest.raises(NotFoundError):
        connect(sandbox, sleeps, base_url=f"{sandbox.base_url}/nope/").get_account_information()


# -- processing ---------------------------------------------------------------------------------------
def test_process_document_returns_text_per_page_and_charges_pages(
    ocr: OcrWebServiceConnector, sandbox: OcrWebServiceSandbox
) -> None:
    result = ocr.process_document(INVOICE, ProcessOptions(description="call_2Vd8Nw4pYs6K"))
    assert (result.processed_pages, result.available_pages, result.description) == (2, 20, "call_2Vd8Nw4pYs6K")
    assert result.text[0][0] == "Invoice INV-2025-0917\nTotal 349.00 USD"
    assert result.plain_text.startswith("Invoice")
    assert sandbox.effects == {"process_document": 1}
    assert ocr.get_account_information().quota == "20/25 pages"


def test_process_document_sends_raw_bytes_and_options_in_the_query(
    ocr: OcrWebServiceConnector, sandbox: OcrWebServiceSandbox
) -> None:
    ocr.process_document(INVOICE, ProcessOptions(languages=["English", "german"], output_formats=["pdf", "txt"]))
    request = sandbox.seen[-1]
    assert request.body == INVOICE
    assert request.query == {"language": "english,german", "tobw": "false", "gettext": "true", "getwords": "false",
                             "newline": "1", "outputformat": "pdf,txt"}  # fmt: skip


def test_output_files_come_back_as_https_links(ocr: OcrWebServiceConnector) -> None:
    result = ocr.process_document(INVOICE, ProcessOptions(get_text=False, output_formats=["docx"]))
    assert len(result.output_urls) == 1
    assert result.output_urls[0].startswith("https://www.ocrwebservice.com/") and result.text == [[]]


def test_running_out_of_pages_is_an_account_error(ocr: OcrWebServiceConnector, sandbox: OcrWebServiceSandbox) -> None:
    sandbox.account["AvailablePages"] = 1
    with pytest.raises(AuthError) as caught:
        ocr.process_document(INVOICE)
    assert caught.value.status == 402
    assert sandbox.effects == {}


def test_an_unreadable_document_is_rejected(ocr: OcrWebServiceConnector) -> None:
    with pytest.raises(RejectedInputError, match="Unable to process document"):
        ocr.process_document(b"%CORRUPT\x00\x01")


def test_an_unknown_language_is_rejected_by_the_service(ocr: OcrWebServiceConnector) -> None:
    with pytest.raises(RejectedInputError):
        ocr.process_document(INVOICE, ProcessOptions(languages=["klingon"]))


def test_an_empty_file_is_refused_without_a_call(ocr: OcrWebServiceConnector, sandbox: OcrWebServiceSandbox) -> None:
    with pytest.raises(RejectedInputError):
        ocr.process_document(b"")
    assert sum(sandbox.requests.values()) == 0


@pytest.mark.parametrize(
    "options",
    [
        {"get_text": False},
        {"output_formats": ["pdf", "txt", "rtf"]},
        {"output_formats": ["png"]},
        {"page_range": "first"},
        {"languages": ["english; rm -rf"]},
    ],
)
def test_invalid_options_are_refused_before_any_call(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ProcessOptions(**options)


# -- retries and secrets ---------------------------------------------------------------------------------
def test_account_information_is_retried_after_one_server_error(
    ocr: OcrWebServiceConnector, sandbox: OcrWebServiceSandbox
) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",), only_operations=("account_information",)))
    assert ocr.get_account_information().available_pages == 22
    assert sandbox.requests["account_information"] == 2


def test_rate_limit_waits_for_retry_after(
    ocr: OcrWebServiceConnector, sandbox: OcrWebServiceSandbox, sleeps: list[float]
) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("429",), retry_after=0.05, only_operations=("account_information",)))
    ocr.get_account_information()
    assert sleeps == [0.05]


def test_processing_is_never_retried(ocr: OcrWebServiceConnector, sandbox: OcrWebServiceSandbox) -> None:
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",), only_operations=("process_document",)))
    with pytest.raises(RetryableError):
        ocr.process_document(INVOICE)
    assert sandbox.requests["process_document"] == 1


@pytest.mark.parametrize("kind", ["drop", "slow"])
def test_dropped_or_slow_answers_are_retryable(sandbox: OcrWebServiceSandbox, sleeps: list[float], kind: str) -> None:
    ocr = connect(sandbox, sleeps, read_timeout=0.2)
    sandbox.inject(FaultPlan(first_n=10, kinds=(kind,), slow_seconds=0.4, only_operations=("account_information",)))
    with pytest.raises(RetryableError):
        ocr.get_account_information()


def test_secrets_never_reach_exceptions_or_logs(
    ocr: OcrWebServiceConnector,
    sandbox: OcrWebServiceSandbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    original = sandbox.handle

    def echoing_partner(request: Request) -> Response:
        original(request)
        auth = request.headers.get("authorization", "")
        return Response(200, {"ErrorMessage": f"bad request {auth} / {sandbox.license_code}"})

    monkeypatch.setattr(sandbox, "handle", echoing_partner)
    sandbox.inject(FaultPlan(first_n=1, kinds=("5xx",), only_operations=("account_information",)))
    with pytest.raises(ConnectorError) as caught:
        ocr.get_account_information()
    logged = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    token = sandbox.seen[-1].headers["authorization"].removeprefix("Basic ")
    for secret in (sandbox.license_code, token):
        assert secret not in str(caught.value)
        assert secret not in logged
    assert "partner call retrying" in logged


def test_sandbox_is_named_after_its_tool_and_configures_the_connector(sandbox: OcrWebServiceSandbox) -> None:
    assert OcrWebServiceSandbox.name == Tool.OCRWEBSERVICE == OcrWebServiceConnector.TOOL
    assert OcrWebServiceConnector.from_config(sandbox.config()).check().healthy
