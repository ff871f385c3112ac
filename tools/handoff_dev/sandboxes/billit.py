"""Billit sandbox: ``/v1/parties`` with OData filters and ``/v1/account/accountInformation``.

Speaks Billit's wire format (``ApiKey`` and ``PartyID`` headers, JSON bodies,
``{"Items", "NextPageLink"}`` pages, ``{"Code", "Description"}`` errors) over
in-memory parties seeded from ``fixtures/billit.json``. It honours
``Idempotent-Key`` the way the connector assumes (a replayed key returns the
first answer; the same key with another body is a 409) and, like Billit is
reported to, answers an existing VAT number with the existing party's id.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

from stdnum.eu import vat as eu_vat

from handoff_dev.sandboxes.base import Request, Response, Sandbox

FIXTURE = Path(__file__).with_name("fixtures") / "billit.json"
API_KEY = "sandbox-billit-key"
DEFAULT_PAGE_SIZE = 120
LANGUAGES = frozenset({"NL", "FR", "EN", "DE"})
_CLAUSE = re.compile(r"(\w+) eq '((?:[^']|'')*)'")
_PARTY_PATH = re.compile(r"^/v1/parties/(\d+)$")


def _error(status: int, code: str, description: str) -> Response:
    return Response(status, {"Code": code, "Description": description})


class BillitSandbox(Sandbox):
    """In-memory Billit company (Northwind Home BV) with its customers and suppliers."""

    name: ClassVar[str] = "billit"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, fixture: Path = FIXTURE) -> None:
        super().__init__(host, port)
        self.fixture = fixture
        self.page_size = DEFAULT_PAGE_SIZE
        self.email_filterable = True
        self.empty_create_answers = 0
        """Answer the next n successful creates with an empty 201 (the party is created all the same)."""
        self.next_link_base: str | None = None
        self.account: dict[str, Any] = {}
        self.parties: dict[int, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[str, Response]] = {}
        self.seen: list[Request] = []
        self._next_id = 779000
        self.reset()

    # -- test hooks ------------------------------------------------------------
    def reset(self) -> None:
        seed = json.loads(self.fixture.read_text())
        with self.lock:
            self.account = copy.deepcopy(seed["account"])
            self.parties = {int(p["PartyID"]): p for p in copy.deepcopy(seed["parties"])}
            self.idempotency.clear()
            self.page_size = DEFAULT_PAGE_SIZE
            self.email_filterable = True
            self.empty_create_answers = 0
            self.next_link_base = None
            self._next_id = max(self.parties, default=779000) + 100
            self.effects.clear()
            self.requests.clear()
            self.faults = None
            self.seen.clear()

    def config(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "api_key": API_KEY, "party_id": self.company_ids()[0]}

    def company_ids(self) -> list[int]:
        return [int(c["PartyID"]) for c in self.account.get("Companies", [])]

    def customers(self) -> list[dict[str, Any]]:
        return [p for p in self.parties.values() if p.get("PartyType") == "Customer"]

    # -- routing ---------------------------------------------------------------
    def operation_for(self, request: Request) -> str:
        if request.path == "/v1/account/accountInformation" and request.method == "GET":
            return "account_information"
        if request.path == "/v1/parties":
            return {"GET": "list_parties", "POST": "create_party"}.get(request.method, "unknown")
        if _PARTY_PATH.match(request.path):
            return {"GET": "get_party", "PATCH": "update_party"}.get(request.method, "unknown")
        return "unknown"

    def handle(self, request: Request) -> Response:
        self.seen.append(request)
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        operation = self.operation_for(request)
        match = _PARTY_PATH.match(request.path)
        if operation == "account_information":
            return Response(200, self.account)
        if operation == "list_parties":
            return self._list(request)
        if operation == "create_party":
            return self._create(request)
        if operation in ("get_party", "update_party") and match:
            party = self.parties.get(int(match.group(1)))
            if party is None:
                return _error(404, "NotFound", "The requested party was not found.")
            return Response(200, party) if operation == "get_party" else self._update(party, request)
        return _error(404, "NotFound", f"No route for {request.method} {request.path}")

    def _authenticate(self, request: Request) -> Response | None:
        if request.headers.get("apikey") != API_KEY:
            return _error(401, "Unauthorized", "The API key is missing or invalid.")
        party = request.headers.get("partyid")
        if party is not None and (not party.isdigit() or int(party) not in self.company_ids()):
            return _error(403, "Forbidden", "You do not have access to this PartyID.")
        return None

    # -- operations ------------------------------------------------------------
    def _list(self, request: Request) -> Response:
        query = request.query
        clauses: list[tuple[str, str]] = []
        raw_filter = query.get("$filter", "").strip()
        if raw_filter:
            clauses = [(f, v.replace("''", "'")) for f, v in _CLAUSE.findall(raw_filter)]
            rebuilt = " and ".join(f"{f} eq '{v.replace(chr(39), chr(39) * 2)}'" for f, v in clauses)
            if rebuilt != raw_filter:
                return _error(400, "InvalidODataQuery", "The $filter expression could not be parsed.")
            if not self.email_filterable and any(f == "Email" for f, _ in clauses):
                return _error(400, "InvalidODataQuery", "Property Email cannot be used in $filter.")
        text = query.get("fullTextSearch", "").lower()
        rows = []
        for party in sorted(self.parties.values(), key=lambda p: int(p["PartyID"])):
            if not all(str(party.get(f, "")).lower() == v.lower() for f, v in clauses):
                continue
            haystack = " ".join(str(party.get(k, "")) for k in ("Name", "VATNumber", "Email")).lower()
            if text and text not in haystack:
                continue
            rows.append(party)
        top = int(query.get("$top") or self.page_size)
        skip = int(query.get("$skip") or 0)
        page = rows[skip : skip + top]
        next_link = None
        if skip + top < len(rows):
            base = self.next_link_base or self.base_url
            next_link = f"{base}/v1/parties?" + urlencode({**query, "$skip": skip + top, "$top": top})
        return Response(200, {"Items": page, "NextPageLink": next_link})

    def _validate(self, body: dict[str, Any]) -> Response | None:
        vat = body.get("VATNumber")
        if vat and not eu_vat.is_valid(str(vat)):
            return _error(400, "InvalidVATNumber", "The supplied VAT number is invalid.")
        language = body.get("Language")
        if language and str(language).upper() not in LANGUAGES:
            return _error(400, "InvalidLanguage", "The supplied language is not supported.")
        return None

    def _create(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "InvalidJson", "The request body is not valid JSON.")
        key = request.headers.get("idempotent-key") or request.headers.get("idempotency-key")
        fingerprint = hashlib.sha256(request.body).hexdigest()
        if key and key in self.idempotency:
            # docs.billit.be/docs/idempotent-tokens: a key that was already used answers 409 Conflict
            # "Idempotent token already exists" (the key is stored only when the action succeeded).
            return _error(409, "IdempotentTokenAlreadyExists", "Idempotent token already exists")
        if not isinstance(body, dict):
            return _error(400, "InvalidJson", "A party object is expected.")
        if body.get("PartyType") not in ("Customer", "Supplier"):
            return _error(400, "InvalidPartyType", "PartyType must be Customer or Supplier.")
        if not (body.get("Name") or body.get("CommercialName")):
            return _error(400, "NameRequired", "A party needs a Name or CommercialName.")
        invalid = self._validate(body)
        if invalid is not None:
            return invalid
        vat = body.get("VATNumber")
        same_vat = [p for p in self.parties.values() if vat and p.get("VATNumber") == vat]
        if same_vat:
            answer = Response(200, int(same_vat[0]["PartyID"]))
        else:
            party_id = self._next_id
            self._next_id += 1
            self.parties[party_id] = {**body, "PartyID": party_id, "LastModified": datetime.now().isoformat()}
            self.effect("create_party")
            answer = Response(200, party_id)
        if key:
            self.idempotency[key] = (fingerprint, answer)
        if self.empty_create_answers > 0:
            # A create that worked but whose answer carries no id (an empty 201): the client must find the party.
            self.empty_create_answers -= 1
            return Response(201, raw=b"", headers={"Content-Type": "application/json"})
        return answer

    def _update(self, party: dict[str, Any], request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "InvalidJson", "The request body is not valid JSON.")
        if not isinstance(body, dict) or "PartyID" in body:
            return _error(400, "InvalidPatch", "A partial party object without PartyID is expected.")
        invalid = self._validate(body)
        if invalid is not None:
            return invalid
        if body.get("Addresses"):
            for key in ("Street", "StreetNumber", "Box", "Zipcode", "City", "CountryCode"):
                party.pop(key, None)
        for name, value in body.items():  # null clears a field (ASSUMPTIONS "clearing" in the connector)
            if value is None:
                party.pop(name, None)
            elif name == "Addresses" and isinstance(value, list):
                party[name] = [{k: v for k, v in a.items() if v is not None} for a in value if isinstance(a, dict)]
            else:
                party[name] = value
        party["LastModified"] = datetime.now().isoformat()
        self.effect("update_party")
        return Response(200, None)
