"""Billit connector: customers (Billit "parties" with ``PartyType = Customer``).

Billit is JSON over ``/v1/…`` with the key in an ``ApiKey`` header and the
company in ``PartyID``. Creating a customer is an upsert: parties are searched
by VAT number and e-mail with OData first, and only when none matches is one
created, with an ``Idempotent-Key`` header so an in-client retry cannot
create a second party.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)
from stdnum.eu import vat as eu_vat

from handoff.connectors.base import BaseConnector, PartnerModel, PartnerSettings, Probe, Secret
from handoff.connectors.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    NotFoundError,
    RejectedInputError,
    RetryableError,
)
from handoff.models import Tool

TOOL = Tool.BILLIT

# The UNCONFIRMED facts this module relies on (reference: partners/billit.md).
ASSUMPTIONS: tuple[str, ...] = (
    "create response: POST /v1/parties answers the new id as a bare integer or as an object with PartyID; an "
    "empty or non-JSON 2xx still means created, so the party is found by VAT number or e-mail",
    "clearing: a PATCH with a field set to null clears it in Billit",
    "list items: the party id field is PartyID and list items carry Email",
    "Email filter: $filter=Email eq '…' works; if Billit rejects it (4xx) the connector falls back to "
    "fullTextSearch (itself unconfirmed) and compares e-mails client-side",
    "Idempotent-Key: a reused key answers 409 (docs.billit.be 'Idempotent Tokens'); key lifetime unknown, and the "
    "two Billit pages spell the header Idempotent-Key and Idempotency-Key, so both are sent",
    "POST /v1/parties may upsert by VAT number on Billit's side, so the connector always searches first",
    "PATCH /v1/parties/{id} takes a partial Party object; its answer body is ignored and the party re-read",
    "errors: non-2xx bodies carry Code/Description (or Message); the full code list is unknown",
    "addresses: a party may carry flat address fields or an Addresses array; both are read, writes send one "
    "InvoiceAddress",
    "accountInformation: Companies[].PartyID lists the companies the key may act for",
    "rate limits: undocumented; 429 with Retry-After is honoured by the shared HTTP layer",
)

DEFAULT_BASE_URL = "https://api.billit.be"
MAX_PAGES = 20

# ---------------------------------------------------------------------------
# Field mapping: the one place where Billit's field names meet Handoff's.
# ---------------------------------------------------------------------------
_FIELD_MAP: dict[str, str] = {
    "customer_id": "PartyID",
    "name": "Name",
    "commercial_name": "CommercialName",
    "email": "Email",
    "phone": "Phone",
    "vat_number": "VATNumber",
    "customer_number": "Nr",
    "language": "Language",
    "contact_first_name": "ContactFirstName",
    "contact_last_name": "ContactLastName",
    "street": "Street",
    "street_number": "StreetNumber",
    "box": "Box",
    "postal_code": "Zipcode",
    "city": "City",
    "country_code": "CountryCode",
    "last_modified": "LastModified",
}
_ADDRESS_FIELDS = ("street", "street_number", "box", "postal_code", "city", "country_code")
_READ_ONLY = frozenset({"customer_id", "last_modified"})


def compact_vat(value: str) -> str:
    """``be 0412.345.614`` -> ``BE0412345614`` (Billit wants the country prefix)."""
    return str(eu_vat.compact(value)).upper()


def _odata_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------------------
# Handoff-side models
# ---------------------------------------------------------------------------
class Settings(PartnerSettings):
    """The ``billit`` block of the partner secret."""

    base_url: str = DEFAULT_BASE_URL
    api_key: Secret
    party_id: int | None = Field(default=None, ge=1)
    context_party_id: int | None = Field(default=None, ge=1)


class BillitCustomer(PartnerModel):
    customer_id: int
    name: str | None = None
    commercial_name: str | None = None
    email: str | None = None
    phone: str | None = None
    vat_number: str | None = None
    customer_number: str | None = None
    language: str | None = None
    contact_first_name: str | None = None
    contact_last_name: str | None = None
    street: str | None = None
    street_number: str | None = None
    box: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country_code: str | None = None
    last_modified: datetime | None = None


class CustomerFields(BaseModel):
    """Customer fields Handoff may set; VAT numbers are checked and compacted."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    name: str | None = Field(default=None, min_length=1)
    commercial_name: str | None = None
    email: EmailStr | None = None
    phone: str | None = None
    vat_number: str | None = None
    customer_number: str | None = None
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    contact_first_name: str | None = None
    contact_last_name: str | None = None
    street: str | None = None
    street_number: str | None = None
    box: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country_code: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")

    @field_validator("vat_number")
    @classmethod
    def _valid_vat(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not eu_vat.is_valid(value):
            raise ValueError("not a valid EU VAT number (with country prefix)")
        return compact_vat(value)


class NewCustomer(CustomerFields):
    name: str = Field(min_length=1)

    @model_validator(mode="after")
    def _identifiable(self) -> NewCustomer:
        if self.email is None and self.vat_number is None:
            raise ValueError("a customer needs an e-mail or a VAT number so it can be found before creating")
        return self


class CustomerChanges(CustomerFields):
    pass


class CustomerUpsert(PartnerModel):
    customer: BillitCustomer
    created: bool
    updated: bool = False


def customer_from_partner(raw: Mapping[str, Any]) -> BillitCustomer:
    fields: dict[str, Any] = {}
    for name, key in _FIELD_MAP.items():
        value = raw.get(key)
        if value not in (None, ""):
            fields[name] = value if name in _READ_ONLY else str(value)
    addresses = raw.get("Addresses")
    if isinstance(addresses, list) and not any(n in fields for n in _ADDRESS_FIELDS):
        usable = [a for a in addresses if isinstance(a, Mapping)]
        usable.sort(key=lambda a: a.get("AddressType") != "InvoiceAddress")
        if usable:
            for name in _ADDRESS_FIELDS:
                value = usable[0].get(_FIELD_MAP[name])
                if value not in (None, ""):
                    fields[name] = str(value)
    return BillitCustomer.model_validate(fields)


def customer_to_partner(fields: CustomerFields, *, clear: Iterable[str] = ()) -> dict[str, Any]:
    """A (partial) Billit Party body for the fields that are set; ``clear``ed fields are sent as null."""
    body: dict[str, Any] = {}
    address: dict[str, Any] = {}
    cleared = set(clear)
    unknown = cleared - set(CustomerFields.model_fields)
    if unknown:
        raise RejectedInputError(TOOL, f"cannot clear unknown field(s): {', '.join(sorted(unknown))}")
    for name in type(fields).model_fields:
        value = getattr(fields, name)
        if value is None and name not in cleared:
            continue
        target = address if name in _ADDRESS_FIELDS else body
        target[_FIELD_MAP[name]] = None if value is None else str(value)
    if address:
        invoice = {"AddressType": "InvoiceAddress", **address}
        if fields.name:
            invoice["Name"] = fields.name
        body["Addresses"] = [invoice]
    return body


def _party_id(response: requests.Response) -> int | None:
    """The new party's id from a create's answer (a bare integer or ``{"PartyID": …}``); None when absent."""
    try:
        answer = response.json()
    except ValueError:  # empty or not JSON
        return None
    party_id = answer.get("PartyID") if isinstance(answer, Mapping) else answer
    if isinstance(party_id, bool) or not isinstance(party_id, int | str) or not str(party_id).isdigit():
        return None
    return int(party_id)


def derived_idempotency_key(customer: NewCustomer) -> str:
    """A stable key for one logical create: the same customer gives the same key."""
    identity = f"{customer.vat_number or ''}|{(customer.email or '').lower()}|{customer.name.strip().lower()}"
    return "handoff-customer-" + hashlib.sha256(identity.encode()).hexdigest()[:32]


def _diff(existing: BillitCustomer, wanted: CustomerFields) -> CustomerChanges | None:
    changed: dict[str, Any] = {}
    for name in CustomerFields.model_fields:
        value = getattr(wanted, name)
        if value is not None and str(value).strip().lower() != str(getattr(existing, name) or "").strip().lower():
            changed[name] = value
    return CustomerChanges(**changed) if changed else None


# ---------------------------------------------------------------------------
# The connector
# ---------------------------------------------------------------------------
class BillitConnector(BaseConnector[Settings]):
    """Typed Billit customer operations over the shared HTTP layer."""

    TOOL: ClassVar[Tool] = TOOL
    SETTINGS = Settings

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(settings, **options)
        headers = {"ApiKey": settings.api_key.get_secret_value(), "Accept": "application/json"}
        if settings.party_id is not None:
            headers["PartyID"] = str(settings.party_id)
        if settings.context_party_id is not None:
            headers["ContextPartyID"] = str(settings.context_party_id)
        self._http = self.http_client(secrets=(settings.api_key.get_secret_value(),), headers=headers)

    def _probe(self) -> Probe:
        """``accountInformation`` answers and lists the configured company."""
        info = self._http.request("GET", "/v1/account/accountInformation").json()
        companies = info.get("Companies") if isinstance(info, Mapping) else None
        ids = {c.get("PartyID") for c in companies or [] if isinstance(c, Mapping)}
        if self.settings.party_id is not None and self.settings.party_id not in ids:
            raise AuthError(TOOL, f"configured PartyID {self.settings.party_id} is not among the account's companies")
        return Probe(detail=f"{len(ids)} company(ies)")

    # -- reads -------------------------------------------------------------------
    def get_customer(self, customer_id: int) -> BillitCustomer:
        data = self._http.request("GET", f"/v1/parties/{int(customer_id)}").json()
        if not isinstance(data, Mapping):
            raise NotFoundError(TOOL, f"party {customer_id}: empty answer")
        return customer_from_partner({"PartyID": customer_id, **data})

    def _search(self, filter_: str | None = None, *, full_text: str | None = None) -> list[BillitCustomer]:
        """All pages of ``GET /v1/parties``; NextPageLink is followed only on Billit's own origin."""
        params: dict[str, str] = {}
        if filter_:
            params["$filter"] = filter_
        if full_text:
            params["fullTextSearch"] = full_text
        origin = urlsplit(self._http.url("/"))[:2]
        url: str = "/v1/parties"
        request_params: dict[str, str] | None = params
        found: list[BillitCustomer] = []
        for _ in range(MAX_PAGES):
            page = self._http.request("GET", url, params=request_params).json()
            items = page.get("Items") if isinstance(page, Mapping) else None
            found.extend(customer_from_partner(i) for i in items or [] if isinstance(i, Mapping))
            next_link = page.get("NextPageLink") if isinstance(page, Mapping) else None
            if not next_link:
                break
            if urlsplit(str(next_link))[:2] != origin:
                raise RejectedInputError(TOOL, "NextPageLink points outside the configured Billit host")
            url, request_params = str(next_link), None
        return found

    def find_customers(self, *, email: str | None = None, vat_number: str | None = None) -> list[BillitCustomer]:
        """Customers whose VAT number or e-mail equals the given one (exact, after normalising)."""
        if not email and not vat_number:
            raise RejectedInputError(TOOL, "find_customers needs an e-mail or a VAT number")
        found: dict[int, BillitCustomer] = {}
        if vat_number:
            vat = compact_vat(vat_number)
            rows = self._search(f"PartyType eq 'Customer' and VATNumber eq {_odata_literal(vat)}")
            for row in rows:
                if row.vat_number and compact_vat(row.vat_number) == vat:
                    found.setdefault(row.customer_id, row)
        if email:
            wanted = email.strip().lower()
            try:
                rows = self._search(f"PartyType eq 'Customer' and Email eq {_odata_literal(wanted)}")
            except RejectedInputError:  # ASSUMPTIONS "Email filter": fall back to full-text search
                rows = self._search("PartyType eq 'Customer'", full_text=wanted)
            for row in rows:
                if (row.email or "").strip().lower() == wanted:
                    found.setdefault(row.customer_id, row)
        return list(found.values())

    def find_customer(self, *, email: str | None = None, vat_number: str | None = None) -> BillitCustomer | None:
        """The one customer matching VAT number and/or e-mail; ConflictError if several do."""
        matches = self.find_customers(email=email, vat_number=vat_number)
        if len(matches) > 1:
            ids = ", ".join(str(m.customer_id) for m in matches)
            raise ConflictError(TOOL, f"several Billit customers match ({ids}); a human must pick one")
        return matches[0] if matches else None

    # -- writes ------------------------------------------------------------------
    def create_customer(self, customer: NewCustomer, *, idempotency_key: str | None = None) -> CustomerUpsert:
        """Upsert: update the matching customer if one exists, otherwise create it once.

        ``idempotency_key`` should come from the caller's own idempotency record
        (e.g. the call id); without one, a key derived from the customer is used.
        """
        existing = self.find_customer(email=customer.email, vat_number=customer.vat_number)
        if existing is not None:
            changes = _diff(existing, customer)
            if changes is None:
                return CustomerUpsert(customer=existing, created=False)
            updated = self.update_customer(existing.customer_id, changes)
            return CustomerUpsert(customer=updated, created=False, updated=True)
        body = {"PartyType": "Customer", **customer_to_partner(customer)}
        if customer.vat_number is None:
            body["VATLiable"] = False  # a private person (reference: customer-is-private-person)
        key = idempotency_key or derived_idempotency_key(customer)
        # Billit's header table spells it Idempotent-Key, its "Idempotent Tokens" page Idempotency-Key: send both.
        headers = {"Idempotent-Key": key, "Idempotency-Key": key}
        try:
            response = self._http.request("POST", "/v1/parties", json=body, headers=headers)
        except ConflictError as exc:
            # docs.billit.be/docs/idempotent-tokens: a key already used answers 409 "Idempotent token already
            # exists" (the first request created the party; an in-client retry after a lost answer lands here).
            if "idempotent" not in str(exc).lower():
                raise
            return self._created(
                customer, missing=ConflictError(TOOL, f"Idempotent-Key {key} was used for another party")
            )
        party_id = _party_id(response)
        if party_id is None:
            # ASSUMPTIONS "create response": an empty or non-JSON 2xx still created the party; find it.
            return self._created(
                customer,
                missing=RetryableError(TOOL, "create party answered without an id and the party is not found yet"),
            )
        return CustomerUpsert(customer=self.get_customer(party_id), created=True)

    def _created(self, customer: NewCustomer, *, missing: ConnectorError) -> CustomerUpsert:
        """The party a create made when its answer did not say which: searched by VAT number and e-mail."""
        found = self.find_customer(email=customer.email, vat_number=customer.vat_number)
        if found is None:
            raise missing
        return CustomerUpsert(customer=found, created=True)

    def update_customer(
        self, customer_id: int, changes: CustomerChanges, *, clear: Iterable[str] = ()
    ) -> BillitCustomer:
        """PATCH the given fields and send ``clear``ed ones as null (setting values is idempotent)."""
        body = customer_to_partner(changes, clear=clear)
        if not body:
            raise RejectedInputError(TOOL, "update_customer called without any change")
        self._http.request("PATCH", f"/v1/parties/{int(customer_id)}", json=body)
        return self.get_customer(customer_id)
