"""Plisio sandbox: invoices and operations over in-memory state seeded from ``fixtures/plisio.json``.

Wire format as the reference page describes it: ``GET`` everywhere under
``/api/v1``, the secret key as the ``api_key`` query parameter, answers in the
``{"status": "success"|"error", "data": …}`` envelope, and for errors the
Yii-style ``data: {name, message, code}`` with the HTTP status equal to
``code`` (or HTTP 200 with the same envelope when ``errors_as_200`` is set, to
exercise connectors that must read the body, not only the status).

``/invoices/new`` validates like Plisio (field errors JSON-encoded inside
``data.message``), refuses a duplicate ``order_number`` unless
``return_existing`` is truthy, in which case the existing invoice comes back
and no side effect is counted. Side effects: ``create_invoice``.

:meth:`PlisioSandbox.signed_callback` builds the form or JSON callback Plisio
would POST for an invoice, signed with the sandbox key (independent of the
connector's verification code, so the two can check each other).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

from handoff_dev.sandboxes.base import Request, Response, Sandbox

FIXTURE = Path(__file__).parent / "fixtures" / "plisio.json"
API_KEY = "plisio-sandbox-secret-key-0001"  # fake, sandbox only
FIAT = frozenset({"USD", "EUR", "GBP", "CAD", "AUD"})
PREFIX = "/api/v1"


class PlisioSandbox(Sandbox):
    name: ClassVar[str] = "plisio"

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, fixture: Path = FIXTURE, *, errors_as_200: bool = False
    ) -> None:
        super().__init__(host, port)
        self.fixture = fixture
        self.errors_as_200 = errors_as_200
        self.shop: dict[str, Any] = {}
        self.rates: dict[str, dict[str, str]] = {}
        self.operations: list[dict[str, Any]] = []
        self._created = 0
        self.reset()

    def reset(self) -> None:
        """Back to the fixture: shop, operations, counters and faults."""
        seed = json.loads(self.fixture.read_text())
        with self.lock:
            self.shop = seed["shop"]
            self.rates = seed["rates"]
            self.operations = copy.deepcopy(seed["operations"])
            self._created = 0
            self.effects.clear()
            self.requests.clear()
            self.faults = None

    def config(self) -> dict[str, Any]:
        return {"base_url": f"{self.base_url}{PREFIX}", "api_key": API_KEY}

    # -- test helpers -----------------------------------------------------------------------------
    def invoices(self, order_number: str) -> list[dict[str, Any]]:
        """Every invoice with this order number (a test asserts there is exactly one)."""
        with self.lock:
            return [
                copy.deepcopy(op) for op in self.operations if op.get("params", {}).get("order_number") == order_number
            ]

    def signed_callback(self, txn_id: str, *, as_json: bool) -> tuple[bytes, str]:
        """The status callback Plisio would POST for an invoice: ``(body, content_type)``."""
        with self.lock:
            op = next(o for o in self.operations if o["id"] == txn_id)
        params = op.get("params", {})
        fields = {
            "txn_id": op["id"],
            "ipn_type": "invoice",
            "merchant": self.shop["name"],
            "merchant_id": self.shop["id"],
            "amount": op["amount"],
            "currency": op["currency"],
            "order_number": params.get("order_number", ""),
            "order_name": params.get("order_name", ""),
            "confirmations": "1" if op["status"] == "completed" else "0",
            "status": op["status"],
            "source_currency": op.get("source_currency") or "",
            "source_amount": params.get("source_amount", ""),
            "source_rate": op.get("source_rate") or "",
            "comment": "Plisio sandbox callback",
            "psys_cid": op["psys_cid"],
            "expire_utc": str(op.get("expire_at_utc") or ""),
        }
        if as_json:
            digest = _hmac(json.dumps(fields, separators=(",", ":"), ensure_ascii=False))
            return json.dumps({**fields, "verify_hash": digest}).encode(), "application/json"
        serialized = "".join(f's:{len(k.encode())}:"{k}";s:{len(v.encode())}:"{v}";' for k, v in sorted(fields.items()))
        digest = _hmac(f"a:{len(fields)}:{{{serialized}}}")
        return urlencode({**fields, "verify_hash": digest}).encode(), "application/x-www-form-urlencoded"

    # -- routing --------------------------------------------------------------------------------
    def operation_for(self, request: Request) -> str:
        path = request.path.rstrip("/")
        if path == f"{PREFIX}/invoices/new":
            return "create_invoice"
        if path == f"{PREFIX}/operations":
            return "list_operations"
        if re.fullmatch(rf"{PREFIX}/operations/[^/]+", path):
            return "get_operation"
        if path == f"{PREFIX}/shops":
            return "get_shop"
        return "unknown"

    def handle(self, request: Request) -> Response:
        operation = self.operation_for(request)
        if operation == "unknown":
            return self._error(404, "Not Found", "Page not found.")
        if request.method != "GET":
            return self._error(405, "Method Not Allowed", "Method Not Allowed. This URL can only handle: GET, HEAD.")
        if request.query.get("api_key") != API_KEY:
            return self._error(401, "Unauthorized", "Your request was made with invalid credentials.")
        if operation == "create_invoice":
            return self._create_invoice(request.query)
        if operation == "list_operations":
            return self._list_operations(request.query)
        if operation == "get_shop":
            return self._ok([{k: v for k, v in self.shop.items() if k != "default_currency"}])
        op_id = request.path.rstrip("/").rsplit("/", 1)[1]
        found = next((op for op in self.operations if op["id"] == op_id), None)
        if found is None:
            return self._error(404, "Not Found", "Operation not found.")
        return self._ok(copy.deepcopy(found))

    # -- operations -----------------------------------------------------------------------------
    def _create_invoice(self, q: dict[str, str]) -> Response:
        errors: dict[str, list[str]] = {}
        for name, label in (("order_number", "Order Number"), ("order_name", "Order Name")):
            if not q.get(name):
                errors[name] = [f"{label} cannot be blank."]
        source_currency, source_amount = q.get("source_currency"), q.get("source_amount")
        amount = _decimal(source_amount) if source_amount else _decimal(q.get("amount"))
        if not q.get("amount") and not (source_currency and source_amount):
            errors["amount"] = ["Amount cannot be blank."]
        elif amount is None or not amount.is_finite() or amount <= 0:
            errors["source_amount" if source_amount else "amount"] = ["Amount must be a positive number."]
        if source_currency and source_currency not in FIAT:
            errors["source_currency"] = ["Source Currency is invalid."]
        allowed = [c for c in (q.get("allowed_psys_cids") or "").split(",") if c]
        crypto = q.get("currency") or (allowed[0] if allowed else self.shop["default_currency"])
        rates = self.rates.get(source_currency or "USD", {})
        if any(c not in rates for c in [crypto, *allowed]):
            errors["currency"] = ["Currency is not enabled for this shop."]
        if q.get("email") and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", q["email"]):
            errors["email"] = ["Email is not a valid email address."]
        if errors:
            return self._error(422, "Unprocessable entity", json.dumps(errors))

        existing = [op for op in self.operations if op.get("params", {}).get("order_number") == q["order_number"]]
        if existing:
            if q.get("return_existing", "").lower() in ("1", "true"):
                return self._ok(self._invoice_data(existing[0]))
            message = {"order_number": [f'Order Number "{q["order_number"]}" has already been taken.']}
            return self._error(422, "Unprocessable entity", json.dumps(message))

        assert amount is not None
        self._created += 1
        txn_id = hashlib.sha1(f"{q['order_number']}:{self._created}".encode(), usedforsecurity=False).hexdigest()[:24]
        now = int(time.time())
        crypto_amount = (amount * Decimal(rates[crypto]) if source_amount else amount).quantize(Decimal("0.00000001"))
        op = {
            "id": txn_id,
            "user_id": 40231,
            "shop_id": self.shop["id"],
            "type": "invoice",
            "status": "new",
            "status_code": 1,
            "currency": crypto,
            "psys_cid": crypto,
            "source_currency": source_currency,
            "source_rate": rates.get(crypto),
            "amount": str(crypto_amount),
            "pending_sum": str(crypto_amount),
            "sum": str(crypto_amount),
            "params": {
                "order_number": q["order_number"],
                "order_name": q["order_name"],
                "source_amount": source_amount,
                "source_currency": source_currency,
                "currency": crypto,
                "amount": str(crypto_amount),
                "email": q.get("email"),
                "description": q.get("description"),
                "callback_url": q.get("callback_url"),
            },
            "created_at_utc": now,
            "finished_at_utc": None,
            "expire_at_utc": now + 60 * int(q.get("expire_min") or 1440),
            "tx_url": [],
            "tx_id": [],
        }
        self.operations.append(op)
        self.effect("create_invoice")
        return self._ok(self._invoice_data(op))

    def _invoice_data(self, op: dict[str, Any]) -> dict[str, Any]:
        """A non-white-label shop gets the id and the payment page URL."""
        return {"txn_id": op["id"], "invoice_url": f"{self.base_url}/invoice/{op['id']}"}

    def _list_operations(self, q: dict[str, str]) -> Response:
        rows = list(self.operations)
        for name in ("type", "status", "currency", "shop_id"):
            if q.get(name):
                rows = [op for op in rows if str(op.get(name)) == q[name]]
        search = (q.get("search") or "").strip().casefold()
        if search:
            rows = [op for op in rows if any(search in h.casefold() for h in _haystack(op))]
        rows.sort(key=lambda op: op.get("created_at_utc") or 0, reverse=True)
        limit = max(1, min(_int(q.get("limit"), 10), 100))
        page = max(1, _int(q.get("page"), 1))
        total = len(rows)
        page_count = max(1, -(-total // limit))
        chunk = rows[(page - 1) * limit : page * limit]
        return self._ok(
            {
                "operations": copy.deepcopy(chunk),
                "_links": {"self": {"href": f"{PREFIX}/operations?page={page}"}},
                "_meta": {"totalCount": total, "pageCount": page_count, "currentPage": page, "perPage": limit},
            }
        )

    # -- envelopes ------------------------------------------------------------------------------
    @staticmethod
    def _ok(data: Any) -> Response:
        return Response(200, {"status": "success", "data": data})

    def _error(self, code: int, name: str, message: str) -> Response:
        body = {"status": "error", "data": {"name": name, "message": message, "code": code}}
        return Response(200 if self.errors_as_200 else code, body)


def _haystack(op: dict[str, Any]) -> list[str]:
    params = op.get("params") or {}
    return [op["id"], *(op.get("tx_id") or []), str(params.get("order_number") or ""), str(params.get("email") or "")]


def _decimal(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else default


def _hmac(message: str) -> str:
    return hmac.new(API_KEY.encode(), message.encode(), hashlib.sha1).hexdigest()
