"""Plisio connector: crypto payment invoices, their lookup, and callback verification.

Plisio takes its secret key as the ``api_key`` query parameter on every call,
so URLs carry a secret: the key is handed to :class:`HttpClient` as a secret
(every error message is scrubbed of it) and URLs are only ever logged through
``redact_url``. Invoice creation is made safely retryable with Plisio's own
mechanism: a stable ``order_number`` derived from the call id plus
``return_existing=1``, so a retry returns the invoice the first try created.

Billing disputes and receipts are not written to Plisio (it has no such API):
the connector only reads invoices for them; route sends them to review.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator

from handoff.connectors.base import BaseConnector, FrozenPartnerModel, PartnerSettings, Probe, Secret
from handoff.connectors.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    RateLimitedError,
    RejectedInputError,
    RetryableError,
)
from handoff.connectors.http import NO_RETRY, RetryPolicy
from handoff.models import Tool

# UNCONFIRMED facts from the reference page that this module relies on (README lists them).
ASSUMPTIONS: dict[str, str] = {
    "error_envelope": "Errors are {status: error, data: {name, message, code}}, usually with the HTTP status equal to "
    "data.code; the same envelope on HTTP 200 is mapped through data.code too.",
    "return_existing": "With return_existing=1 a known order_number returns its invoice, shaped like a new one.",
    "duplicate_error": "Without return_existing a duplicate order_number is an error of unknown code/text; never sent.",
    "order_number_format": "order_number accepts 'handoff-<call id>' (letters, digits, '-', '_', up to 72 chars).",
    "operation_params": "Operations carry order_number and email under params (Plisio's Python SDK model); the page "
    "marks email on operations unconfirmed, so rows without an e-mail are kept and flagged email_confirmed=False.",
    "paging_meta": "_meta is Yii-style (totalCount, pageCount, currentPage, perPage); else a full page means more.",
    "json_callback_order": "JSON callbacks are hashed over the received key order (Plisio's SDK); sorted keys and "
    "ASCII escaping are accepted as fallbacks because a callback simulator built from logs does so.",
    "callback_values": "Callback values arrive as strings; JSON numbers would hash with Python's number formatting.",
    "rate_limits": "Limits are unpublished; 429 and 5xx are retried with backoff.",
}

DEFAULT_BASE_URL = "https://api.plisio.net/api/v1"
ORDER_PREFIX = "handoff-"

# --------------------------------------------------------------------------------------------
# Partner field names <-> Handoff names: the one place they are mapped.
# --------------------------------------------------------------------------------------------
INVOICE_REQUEST_FIELDS = {  # Handoff -> Plisio query parameter of /invoices/new
    "order_number": "order_number",
    "order_name": "order_name",
    "amount": "source_amount",
    "currency": "source_currency",
    "email": "email",
    "description": "description",
    "crypto_currencies": "allowed_psys_cids",
    "callback_url": "callback_url",
    "expire_minutes": "expire_min",
}
INVOICE_FIELDS = {  # Plisio /invoices/new data -> Handoff
    "txn_id": "invoice_id",
    "invoice_url": "invoice_url",
    "amount": "crypto_amount",
    "currency": "crypto_currency",
    "status": "status",
    "expire_utc": "expires_at",
}
OPERATION_FIELDS = {  # Plisio operation (top level, then params) -> Handoff
    "id": "invoice_id",
    "type": "kind",
    "status": "status",
    "order_number": "order_number",
    "order_name": "order_name",
    "email": "email",
    "source_amount": "amount",
    "source_currency": "currency",
    "amount": "crypto_amount",
    "currency": "crypto_currency",
    "created_at_utc": "created_at",
    "finished_at_utc": "finished_at",
    "expire_at_utc": "expires_at",
    "tx_url": "tx_url",
}
CALLBACK_FIELDS = {  # Plisio callback body -> Handoff
    "txn_id": "invoice_id",
    "order_number": "order_number",
    "order_name": "order_name",
    "status": "status",
    "source_amount": "amount",
    "source_currency": "currency",
    "amount": "crypto_amount",
    "psys_cid": "crypto_currency",
    "confirmations": "confirmations",
    "comment": "comment",
}


def order_number_for(call_id: str) -> str:
    """The stable Plisio ``order_number`` of the invoice a call creates (one per call)."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", call_id):
        return ORDER_PREFIX + call_id
    return ORDER_PREFIX + hashlib.sha256(call_id.encode()).hexdigest()[:40]


# --------------------------------------------------------------------------------------------
# Callback verification (pure): HMAC-SHA1 hex of the body without verify_hash, keyed by the
# shop's secret key. Form bodies hash PHP serialize() of the ksorted fields; JSON bodies hash
# compact JSON in the received key order.
# --------------------------------------------------------------------------------------------
def php_serialize_str_map(fields: Mapping[str, str]) -> str:
    """PHP ``serialize()`` of an array of strings (lengths are UTF-8 byte counts)."""
    parts = []
    for key, value in fields.items():
        k, v = str(key), str(value)
        parts.append(f's:{len(k.encode())}:"{k}";s:{len(v.encode())}:"{v}";')
    return f"a:{len(fields)}:{{{''.join(parts)}}}"


def _hmac_sha1(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha1).hexdigest()


def form_callback_hash(fields: Mapping[str, str], secret: str) -> str:
    """What ``verify_hash`` must be for a form-encoded callback (Plisio's WooCommerce plugin)."""
    data = {k: str(v) for k, v in fields.items() if k != "verify_hash"}
    if "tx_urls" in data:
        data["tx_urls"] = html.unescape(data["tx_urls"])
    return _hmac_sha1(secret, php_serialize_str_map(dict(sorted(data.items()))))


def json_callback_hashes(body: Mapping[str, Any], secret: str) -> list[str]:
    """Acceptable ``verify_hash`` values for a JSON callback, the SDK's variant first."""
    data = {k: v for k, v in body.items() if k != "verify_hash"}
    variants = [
        json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        json.dumps(data, separators=(",", ":")),
        json.dumps(data, separators=(",", ":"), ensure_ascii=False, sort_keys=True),
    ]
    return [_hmac_sha1(secret, v) for v in dict.fromkeys(variants)]


def verify_form_callback(fields: Mapping[str, str], secret: str) -> bool:
    sent = str(fields.get("verify_hash") or "")
    return bool(sent) and hmac.compare_digest(form_callback_hash(fields, secret), sent)


def verify_json_callback(raw_body: bytes, secret: str) -> bool:
    try:
        body = json.loads(raw_body)
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    sent = str(body.get("verify_hash") or "")
    # Compare against every variant (no short-circuit on the secret-derived values' order).
    matches = [hmac.compare_digest(h, sent) for h in json_callback_hashes(body, secret)]
    return bool(sent) and any(matches)


def callback_fields(body: bytes, content_type: str) -> dict[str, Any]:
    """The callback's fields, from a JSON (``json=true`` callback URL) or a form body."""
    if _is_json(body, content_type):
        parsed = json.loads(body)
        if not isinstance(parsed, dict):
            raise RejectedInputError("plisio", "callback JSON is not an object")
        return parsed
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def _is_json(body: bytes, content_type: str) -> bool:
    return "json" in content_type.lower() or body.lstrip().startswith(b"{")


# --------------------------------------------------------------------------------------------
# Configuration and models (Handoff names)
# --------------------------------------------------------------------------------------------
class Settings(PartnerSettings):
    """The ``plisio`` block of the partner secret. ``api_key`` is the shop's secret key."""

    base_url: str = DEFAULT_BASE_URL
    api_key: Secret = Field(min_length=8)


_Model = FrozenPartnerModel


def _epoch(value: Any) -> Any:
    """Plisio sends Unix seconds (sometimes as strings)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return value


class InvoiceRequest(BaseModel):
    """An invoice priced in fiat (``amount`` in ``currency``); the call id makes it idempotent."""

    model_config = ConfigDict(defer_build=True)

    call_id: str = Field(min_length=1, max_length=200)
    order_name: str = Field(min_length=1, max_length=255)
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    description: str | None = Field(default=None, max_length=1000)
    crypto_currencies: list[str] = Field(default_factory=list)
    callback_url: str | None = None
    expire_minutes: int | None = Field(default=None, ge=1)

    @property
    def order_number(self) -> str:
        return order_number_for(self.call_id)


class Invoice(_Model):
    """A created (or, on retry, the existing) invoice."""

    invoice_id: str
    invoice_url: str | None = None
    order_number: str
    crypto_amount: Decimal | None = None
    crypto_currency: str | None = None
    status: str | None = None
    expires_at: datetime | None = None

    @field_validator("expires_at", mode="before")
    @classmethod
    def _expires(cls, value: Any) -> Any:
        return _epoch(value)


class Operation(_Model):
    """A Plisio operation; invoices are operations with ``kind == "invoice"``."""

    invoice_id: str
    kind: str | None = None
    status: str | None = None
    order_number: str | None = None
    order_name: str | None = None
    email: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    crypto_amount: Decimal | None = None
    crypto_currency: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = None
    tx_url: str | list[str] | None = None
    email_confirmed: bool = False

    @field_validator("created_at", "finished_at", "expires_at", mode="before")
    @classmethod
    def _times(cls, value: Any) -> Any:
        return _epoch(value)

    @property
    def paid(self) -> bool:
        """Plisio's plugins credit an order on ``completed`` and ``mismatch`` (overpaid)."""
        return self.status in ("completed", "mismatch")


class OperationPage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Operation]
    page: int
    limit: int
    has_more: bool


class InvoiceCallback(_Model):
    """A verified status callback."""

    invoice_id: str
    order_number: str | None = None
    order_name: str | None = None
    status: str
    amount: Decimal | None = None
    currency: str | None = None
    crypto_amount: Decimal | None = None
    crypto_currency: str | None = None
    confirmations: int | None = None
    comment: str | None = None


def _operation(row: Mapping[str, Any]) -> Operation:
    params = _dict(row.get("params"))
    merged = {**row, **{k: v for k, v in params.items() if v not in (None, "")}}
    values = {ours: merged.get(theirs) for theirs, ours in OPERATION_FIELDS.items()}
    values["invoice_id"] = str(row.get("id") or row.get("txn_id") or "")
    if not values["invoice_id"]:
        raise ConnectorError("plisio", "operation without an id")
    return Operation.model_validate(values)


# --------------------------------------------------------------------------------------------
# Error envelope -> taxonomy
# --------------------------------------------------------------------------------------------
def envelope_error(body: Mapping[str, Any], http_status: int) -> ConnectorError:
    """Map ``{"status": "error", "data": {...}}`` onto the taxonomy (``data.code`` wins over HTTP 200)."""
    data = _dict(body.get("data"))
    code = data.get("code")
    status = int(code) if isinstance(code, int | str) and str(code).isdigit() and int(code) >= 400 else http_status
    message = _message(data.get("message"))
    name = str(data.get("name") or "error")
    text = f"{name} ({status}): {message}"
    if status in (401, 403):
        return AuthError("plisio", text, status=status)
    if status == 404:
        return NotFoundError("plisio", text, status=status)
    if status == 429:
        return RateLimitedError("plisio", text, status=status)
    if status >= 500:
        return RetryableError("plisio", text, status=status)
    lowered = message.lower()
    if status == 409 or ("order" in lowered and any(w in lowered for w in ("exist", "unique", "taken"))):
        return ConflictError("plisio", text, status=status)
    return RejectedInputError("plisio", text, status=status)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _message(value: Any) -> str:
    """``data.message`` is sometimes a JSON-encoded map of field errors."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)[:300]
    if isinstance(value, dict):
        return "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items())[:300]
    return str(value)[:300]


def _classify(response: requests.Response) -> ConnectorError | None:
    try:
        body = response.json()
    except ValueError:
        return ConnectorError("plisio", f"non-JSON answer ({response.status_code})", status=response.status_code)
    if isinstance(body, dict) and body.get("status") == "success":
        return None
    if isinstance(body, dict) and body.get("status") == "error":
        return envelope_error(body, response.status_code)
    return ConnectorError("plisio", "unexpected answer envelope", status=response.status_code)


# --------------------------------------------------------------------------------------------
# Connector
# --------------------------------------------------------------------------------------------
class PlisioConnector(BaseConnector[Settings]):
    """Typed operations on one Plisio shop."""

    TOOL: ClassVar[Tool] = Tool.PLISIO
    SETTINGS = Settings

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(settings, **options)
        self._key = settings.api_key.get_secret_value()
        self._http = self.http_client(secrets=(self._key,), headers={"Accept": "application/json"})

    def _probe(self) -> Probe:
        """``GET /operations?limit=1``: proves the key and the egress IP are accepted; no quota is reported."""
        self._data("operations", {"type": "invoice", "limit": 1}, retry=NO_RETRY)
        return Probe(detail="no quota reported")

    # -- invoices ----------------------------------------------------------------------------
    def create_invoice(self, request: InvoiceRequest) -> Invoice:
        """``GET /invoices/new`` with ``order_number`` from the call id and ``return_existing=1``.

        A retry (in the client, by Step Functions, or a replay) returns the
        invoice the first attempt created instead of a second one.
        """
        values = request.model_dump(exclude={"call_id"}, exclude_none=True)
        values["order_number"] = request.order_number
        values["amount"] = f"{request.amount:.2f}"
        if request.crypto_currencies:
            values["crypto_currencies"] = ",".join(request.crypto_currencies)
        else:
            values.pop("crypto_currencies", None)
        params = {INVOICE_REQUEST_FIELDS[k]: v for k, v in values.items()}
        params["return_existing"] = 1
        data = self._data("invoices/new", params)
        values = {ours: data.get(theirs) for theirs, ours in INVOICE_FIELDS.items()}
        return Invoice.model_validate({**values, "order_number": request.order_number})

    def get_invoices_by_email(self, email: str, *, limit: int = 20, page: int = 1) -> OperationPage:
        """``GET /operations?type=invoice&search=<email>``, confirmed row by row.

        ``search`` is a text search, so rows carrying another e-mail are
        dropped; rows carrying none are kept with ``email_confirmed=False``
        (see ASSUMPTIONS["operation_params"]).
        """
        wanted = email.strip().casefold()
        result = self._operations({"type": "invoice", "search": email.strip(), "limit": limit, "page": page})
        kept = []
        for op in result.items:
            if op.email is None:
                kept.append(op)
            elif op.email.strip().casefold() == wanted:
                kept.append(op.model_copy(update={"email_confirmed": True}))
        return result.model_copy(update={"items": kept})

    def find_invoice(self, order_number: str) -> Operation | None:
        """The invoice with exactly this ``order_number`` (callers quote it, e.g. INV-2025-0917), if any."""
        result = self._operations({"type": "invoice", "search": order_number.strip(), "limit": 50, "page": 1})
        return next((op for op in result.items if op.order_number == order_number.strip()), None)

    def get_operation(self, operation_id: str) -> Operation:
        """``GET /operations/{id}``; an unknown id is :class:`NotFoundError`."""
        if not re.fullmatch(r"[A-Za-z0-9]{1,64}", operation_id):
            raise RejectedInputError(self.TOOL.value, "operation id must be alphanumeric")
        return _operation(self._data(f"operations/{operation_id}", {}))

    # -- callbacks ---------------------------------------------------------------------------
    def verify_callback(self, body: bytes, *, content_type: str) -> bool:
        """True when ``verify_hash`` matches: JSON bodies and form bodies as the page describes."""
        if _is_json(body, content_type):
            return verify_json_callback(body, self._key)
        try:
            fields = callback_fields(body, content_type)
        except UnicodeDecodeError:
            return False
        return verify_form_callback(fields, self._key)

    def parse_callback(self, body: bytes, *, content_type: str) -> InvoiceCallback:
        """The callback's fields in Handoff's names, only once verified (else :class:`AuthError`).

        Plisio advises re-reading the operation before fulfilling; callers do
        that with :meth:`get_operation`.
        """
        if not self.verify_callback(body, content_type=content_type):
            raise AuthError(self.TOOL.value, "callback verify_hash does not match")
        fields = callback_fields(body, content_type)
        values = {ours: fields.get(theirs) for theirs, ours in CALLBACK_FIELDS.items()}
        values["crypto_currency"] = values["crypto_currency"] or fields.get("currency")
        return InvoiceCallback.model_validate({k: v for k, v in values.items() if v not in (None, "")})

    # -- plumbing ----------------------------------------------------------------------------
    def _operations(self, params: Mapping[str, Any]) -> OperationPage:
        data = self._data("operations", params)
        rows = data.get("operations") or []
        if not isinstance(rows, list):
            raise ConnectorError(self.TOOL.value, "operations is not a list")
        items = [_operation(r) for r in rows if isinstance(r, dict)]
        limit, page = int(params.get("limit", 20)), int(params.get("page", 1))
        meta = _dict(data.get("_meta"))
        if "pageCount" in meta and "currentPage" in meta:
            has_more = int(meta["currentPage"]) < int(meta["pageCount"])
        else:
            has_more = len(rows) >= limit
        return OperationPage(items=items, page=page, limit=limit, has_more=has_more)

    def _data(self, path: str, params: Mapping[str, Any], *, retry: RetryPolicy | None = None) -> dict[str, Any]:
        """One GET with the key in the query string; returns the envelope's ``data``."""
        response = self._http.request(
            "GET", path, params={**params, "api_key": self._key}, retry=retry, classify=_classify
        )
        data = response.json().get("data")
        if not isinstance(data, dict):
            raise ConnectorError(self.TOOL.value, "success envelope without a data object")
        return data
