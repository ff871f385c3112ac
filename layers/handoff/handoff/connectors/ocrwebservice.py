"""OCR Web Service connector: account health and quota, credentials, document OCR.

The REST API (``…/restservices/``) uses HTTP Basic auth with the user name and
the license code. Handoff uses it mainly for health and quota checks before
document work: ``getAccountInformation`` gives pages left, plan and expiry
(in US date formats). "Get account credentials" is a local operation: it only
echoes the configured user name with the license code masked.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, ClassVar, Literal, cast
from urllib.parse import urlsplit, urlunsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from handoff.connectors.base import BaseConnector, PartnerModel, PartnerSettings, Probe, Secret, parse_datetime
from handoff.connectors.errors import AuthError, ConnectorError, RejectedInputError
from handoff.connectors.http import NO_RETRY
from handoff.models import Tool

TOOL = Tool.OCRWEBSERVICE

# The UNCONFIRMED facts this module relies on (reference: partners/ocrwebservice.md).
ASSUMPTIONS: tuple[str, ...] = (
    "402: no pages left or a subscription problem; treated as an account/configuration error (never retried)",
    "ErrorMessage on HTTP 200 is a failure; wording decides the class (user/license/unauthori -> auth, "
    "anything else -> rejected input)",
    "LastProcessingTime is in the vendor's server time zone (unknown) and is kept naive",
    "processDocument takes the raw file bytes with Content-Type application/json, as the vendor samples send",
    "output links: OutputFileUrl, OutputFileUrl2 and OutputFileUrl3 may be set; only ocrwebservice.com links "
    "are returned, upgraded to https",
    "request-rate limits: undocumented; 429 would be honoured by the shared HTTP layer",
)

DEFAULT_BASE_URL = "https://www.ocrwebservice.com/restservices/"
PROCESS_TIMEOUT_SECONDS = 600.0
US_DATE = "%m/%d/%Y"
US_DATETIME = "%m/%d/%Y %I:%M:%S %p"
OUTPUT_HOST_SUFFIX = "ocrwebservice.com"
_AUTH_HINTS = ("license", "user name", "username", "unauthori")

OutputFormat = Literal["pdf", "pdfimg", "doc", "docx", "xls", "xlsx", "rtf", "txt"]

# ---------------------------------------------------------------------------
# Field mapping: the one place where the vendor's names meet Handoff's.
# ---------------------------------------------------------------------------
_ACCOUNT_FIELDS: dict[str, str] = {
    "available_pages": "AvailablePages",
    "max_pages": "MaxPages",
    "expires_on": "ExpirationDate",
    "last_processed_at": "LastProcessingTime",
    "plan": "SubcriptionPlan",  # the vendor's spelling, kept exactly
}
_DOCUMENT_FIELDS: dict[str, str] = {
    "processed_pages": "ProcessedPages",
    "available_pages": "AvailablePages",
    "text": "OCRText",
    "description": "TaskDescription",
}
_OUTPUT_URL_FIELDS = ("OutputFileUrl", "OutputFileUrl2", "OutputFileUrl3")
_OPTION_PARAMS: dict[str, str] = {
    "languages": "language",
    "page_range": "pagerange",
    "to_black_white": "tobw",
    "get_text": "gettext",
    "get_words": "getwords",
    "keep_newlines": "newline",
    "output_formats": "outputformat",
    "description": "description",
}


def parse_us_date(value: Any) -> date | None:
    """``04/29/2016`` or ``4/9/2016`` -> a date; None when absent or unreadable."""
    moment = parse_us_datetime(value)
    return moment.date() if moment else None


def parse_us_datetime(value: Any) -> datetime | None:
    """``3/29/2016 10:42:13 AM`` (or a bare US date) -> a naive datetime."""
    text = str(value or "").strip()
    if not text:
        return None
    return parse_datetime(text, (US_DATETIME, US_DATE, "%m/%d/%Y %H:%M:%S"))


def mask(secret: str) -> str:
    """Show only the last four characters of a long secret, nothing of a short one."""
    if len(secret) < 12:
        return "*" * 8
    return "*" * (len(secret) - 4) + secret[-4:]


def safe_output_url(value: Any) -> str | None:
    """https link on the vendor's host, or None (never follow links to other hosts)."""
    text = str(value or "").strip()
    if not text:
        return None
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not (
        host == OUTPUT_HOST_SUFFIX or host.endswith("." + OUTPUT_HOST_SUFFIX)
    ):
        return None
    return urlunsplit(parts._replace(scheme="https"))


# ---------------------------------------------------------------------------
# Handoff-side models
# ---------------------------------------------------------------------------
class Settings(PartnerSettings):
    """The ``ocrwebservice`` block of the partner secret."""

    base_url: str = DEFAULT_BASE_URL
    user_name: str = Field(min_length=1)
    license_code: Secret
    process_timeout: float = Field(default=PROCESS_TIMEOUT_SECONDS, gt=0)


class AccountInformation(PartnerModel):
    available_pages: int
    max_pages: int
    expires_on: date | None = None
    last_processed_at: datetime | None = None
    plan: str | None = None

    @property
    def quota(self) -> str:
        return f"{self.available_pages}/{self.max_pages} pages"


class AccountCredentials(PartnerModel):
    user_name: str
    license_code_masked: str


class ProcessOptions(BaseModel):
    """What to ask of ``processDocument``; at least text or one output file."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    languages: list[str] = Field(default_factory=lambda: ["english"], min_length=1)
    page_range: str | None = Field(default=None, pattern=r"^(allpages|\d+(-\d+)?(,\d+(-\d+)?)*)$")
    to_black_white: bool = False
    get_text: bool = True
    get_words: bool = False
    keep_newlines: bool = True
    output_formats: list[OutputFormat] = Field(default_factory=list, max_length=2)
    description: str | None = Field(default=None, max_length=200)

    @field_validator("languages")
    @classmethod
    def _lower_words(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip().lower() for v in value]
        if not all(v.isalpha() for v in cleaned):
            raise ValueError("languages are English words such as 'english' or 'german'")
        return cleaned

    @model_validator(mode="after")
    def _something_to_return(self) -> ProcessOptions:
        if not self.get_text and not self.output_formats:
            raise ValueError("ask for text (get_text) or at least one output format")
        return self


class ProcessedDocument(PartnerModel):
    processed_pages: int = 0
    available_pages: int | None = None
    text: list[list[str]] = Field(default_factory=list)
    output_urls: list[str] = Field(default_factory=list)
    description: str | None = None

    @property
    def plain_text(self) -> str:
        """The first zone's pages, separated by form feeds."""
        return "\f".join(self.text[0]) if self.text else ""


def account_from_partner(raw: Mapping[str, Any]) -> AccountInformation:
    return AccountInformation(
        available_pages=int(raw.get(_ACCOUNT_FIELDS["available_pages"]) or 0),
        max_pages=int(raw.get(_ACCOUNT_FIELDS["max_pages"]) or 0),
        expires_on=parse_us_date(raw.get(_ACCOUNT_FIELDS["expires_on"])),
        last_processed_at=parse_us_datetime(raw.get(_ACCOUNT_FIELDS["last_processed_at"])),
        plan=str(raw[_ACCOUNT_FIELDS["plan"]]) if raw.get(_ACCOUNT_FIELDS["plan"]) else None,
    )


def document_from_partner(raw: Mapping[str, Any]) -> ProcessedDocument:
    zones = raw.get(_DOCUMENT_FIELDS["text"]) or []
    text = [[str(page or "") for page in zone] for zone in zones if isinstance(zone, list)]
    urls = [u for u in (safe_output_url(raw.get(k)) for k in _OUTPUT_URL_FIELDS) if u]
    available = raw.get(_DOCUMENT_FIELDS["available_pages"])
    return ProcessedDocument(
        processed_pages=int(raw.get(_DOCUMENT_FIELDS["processed_pages"]) or 0),
        available_pages=int(available) if available is not None else None,
        text=text,
        output_urls=urls,
        description=str(raw.get(_DOCUMENT_FIELDS["description"]) or "") or None,
    )


def options_to_partner(options: ProcessOptions) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, param in _OPTION_PARAMS.items():
        value = getattr(options, name)
        if value is None or value == []:
            continue
        if isinstance(value, bool):
            if name == "keep_newlines":
                if value:
                    params[param] = "1"
                continue
            params[param] = "true" if value else "false"
        elif isinstance(value, list):
            params[param] = ",".join(value)
        else:
            params[param] = str(value)
    return params


def _classify(where: str) -> Callable[[requests.Response], ConnectorError | None]:
    def classify(response: requests.Response) -> ConnectorError | None:
        try:
            body = response.json()
        except ValueError:
            return RejectedInputError(TOOL, f"{where}: answer is not JSON (HTTP {response.status_code})")
        message = str(body.get("ErrorMessage") or "").strip() if isinstance(body, Mapping) else ""
        if not message:
            return None
        if any(h in message.lower() for h in _AUTH_HINTS):
            return AuthError(TOOL, f"{where}: {message}")
        return RejectedInputError(TOOL, f"{where}: {message}")

    return classify


# ---------------------------------------------------------------------------
# The connector
# ---------------------------------------------------------------------------
class OcrWebServiceConnector(BaseConnector[Settings]):
    """Typed OCR Web Service operations over the shared HTTP layer."""

    TOOL: ClassVar[Tool] = TOOL
    SETTINGS = Settings

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(settings, **options)
        code = settings.license_code.get_secret_value()
        token = base64.b64encode(f"{settings.user_name}:{code}".encode()).decode()
        headers = {"Accept": "application/json"}
        self._http = self.http_client(secrets=(code, token), headers=headers)
        self._process_http = self.http_client(
            secrets=(code, token), headers=headers, read_timeout=self.options.read_timeout or settings.process_timeout
        )
        self._auth = (settings.user_name, code)

    @staticmethod
    def _payment_required(response: requests.Response, where: str) -> None:
        if response.status_code == 402:
            detail = ""
            try:
                body = response.json()
                detail = str(body.get("ErrorMessage") or "") if isinstance(body, Mapping) else ""
            except ValueError:
                pass
            raise AuthError(
                TOOL, f"{where}: payment required (402), no pages left or plan expired {detail}".strip(), status=402
            )

    # -- operations ----------------------------------------------------------------
    def get_account_information(self) -> AccountInformation:
        """Pages left and allowed, plan, expiry and last use (``getAccountInformation``)."""
        where = "getAccountInformation"
        response = self._http.request(
            "GET", "getAccountInformation", auth=self._auth, ok_statuses=(402,), classify=_classify(where)
        )
        self._payment_required(response, where)
        return account_from_partner(response.json())

    def get_account_credentials(self) -> AccountCredentials:
        """The configured user name with the license code masked. Local: makes no call."""
        return AccountCredentials(
            user_name=self.settings.user_name,
            license_code_masked=mask(self.settings.license_code.get_secret_value()),
        )

    def process_document(self, content: bytes, options: ProcessOptions | None = None) -> ProcessedDocument:
        """OCR one file (raw bytes, up to 100 MB). Never retried: every run is charged in pages."""
        if not content:
            raise RejectedInputError(TOOL, "processDocument: empty file")
        where = "processDocument"
        response = self._process_http.request(
            "POST",
            "processDocument",
            params=options_to_partner(options or ProcessOptions()),
            # HttpClient types ``data`` as a mapping; requests sends bytes as the raw body.
            data=cast(Mapping[str, Any], content),
            headers={"Content-Type": "application/json"},  # as the vendor samples send (ASSUMPTIONS)
            auth=self._auth,
            retry=NO_RETRY,
            ok_statuses=(402,),
            classify=_classify(where),
        )
        self._payment_required(response, where)
        return document_from_partner(response.json())

    # -- health ----------------------------------------------------------------------
    def _probe(self) -> Probe:
        """getAccountInformation answers; the quota is pages left/max."""
        info = self.get_account_information()
        parts = [f"plan {info.plan or 'unknown'}"]
        if info.expires_on:
            parts.append(f"expires {info.expires_on.isoformat()}")
        if info.available_pages <= 0:
            parts.append("no pages left")
        return Probe(detail=", ".join(parts), quota=info.quota)
