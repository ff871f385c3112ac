"""Planyo -> Billit customer sync: each change to a Planyo customer lands in Billit exactly once.

The callback is only a hint: the user is re-read through the Planyo API and
mapped to Billit fields by ``billit_customer_from_planyo`` (the one mapping).
The Billit customer is the one linked to the Planyo user id in Handoff's table
(:class:`PartyLinks`), or, on the first sync, the one with the same e-mail;
when it already holds those values nothing is written. A phone or address part
the Planyo user no longer has is cleared in Billit too. Otherwise the write is one idempotent
unit (Powertools idempotency, key prefix ``handoff.sync.v1``) keyed on the
Planyo user id, a hash of the mapped values and a hash of what Billit held
before, and Billit's own ``Idempotent-Key`` is derived from the same identity.
The before-state is part of the key so that a customer changed A -> B -> A is
written back to A instead of being taken for a replay of the first A.
Updates PATCH only the changed fields (the address counts as one field) and
report old and new values.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handoff.connectors.billit import BillitConnector, BillitCustomer, CustomerChanges, NewCustomer
from handoff.connectors.errors import ConflictError, NotFoundError, RejectedInputError
from handoff.connectors.planyo import PlanyoConnector, PlanyoUser
from handoff.idempotency import once
from handoff.partners.planyo_events import PlanyoNotification

logger = Logger(child=True)

# The UNCONFIRMED or chosen facts this module relies on.
ASSUMPTIONS: tuple[str, ...] = (
    "matching: the first sync of a Planyo user finds its Billit customer by e-mail; from then on the Planyo user "
    "id -> Billit party id link kept in Handoff's table decides, so an e-mail change updates the same party",
    "languages: Billit accepts NL, FR, EN and DE (the codes its docs and our sandbox use); other Planyo "
    "languages are not synced",
    "address: Planyo keeps one address line; it is split into street and house number when the number "
    "leads ('301 Maple Street') or trails ('Kouter 17'), otherwise the whole line is the street",
    "clearing: a phone or address part Planyo no longer has is cleared in Billit (PATCH with null); name, e-mail "
    "and language are never cleared; state has no Billit field",
)

IDEMPOTENCY_KEY_PREFIX = "handoff.sync.v1"
IDEMPOTENCY_WINDOW_SECONDS = 30 * 24 * 3600
BILLIT_LANGUAGES = frozenset({"NL", "FR", "EN", "DE"})
ADDRESS_FIELDS = frozenset({"street", "street_number", "postal_code", "city", "country_code"})
CLEARABLE = ("phone", "street", "street_number", "postal_code", "city", "country_code")
"""Billit fields a Planyo user can empty; the sync empties them too (name, e-mail, language never)."""
LINK_PREFIX = "LINK#planyo-user#"
_LEADING_NUMBER = re.compile(r"^\s*(\d+[A-Za-z]?(?:[-/]\d+[A-Za-z]?)?)\s*,?\s+(\D.*?)\s*$")
_TRAILING_NUMBER = re.compile(r"^\s*(\D.*?)\s*,?\s+(\d+[A-Za-z]?(?:[-/]\d+[A-Za-z]?)?)\s*$")


class SyncNeedsReview(Exception):  # noqa: N818 - reads as the outcome it is
    """The customer cannot be synced without a human (bad data, several Billit matches)."""


class FieldChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    old: str | None
    new: str | None


class SyncResult(BaseModel):
    """What one sync did in Billit."""

    outcome: Literal["created", "updated", "unchanged", "skipped"]
    planyo_user_id: int | None = None
    billit_customer_id: int | None = None
    changes: list[FieldChange] = Field(default_factory=list)
    replayed: bool = False
    """True when the idempotency record answered (the write had already happened)."""
    reason: str = ""


# ---------------------------------------------------------------------------
# The one mapping: Planyo user -> Billit customer
# ---------------------------------------------------------------------------
def split_street(address: str | None) -> tuple[str | None, str | None]:
    """``301 Maple Street`` -> (Maple Street, 301); ``Kouter 17`` -> (Kouter, 17)."""
    if not address or not address.strip():
        return None, None
    leading = _LEADING_NUMBER.match(address)
    if leading:
        return leading.group(2), leading.group(1)
    trailing = _TRAILING_NUMBER.match(address)
    if trailing:
        return trailing.group(1), trailing.group(2)
    return address.strip(), None


def billit_customer_from_planyo(user: PlanyoUser) -> NewCustomer:
    """The Billit customer a Planyo user should be (``ValidationError`` when it cannot be one)."""
    street, number = split_street(user.address)
    language = (user.language or "").strip().upper()
    country = (user.country or "").strip().upper()
    phone = user.phone or user.mobile
    return NewCustomer(
        name=user.full_name or (user.email or "").split("@")[0],
        email=user.email,
        phone=phone if phone and phone.startswith("+") else None,
        language=language if language in BILLIT_LANGUAGES else None,
        street=street,
        street_number=number,
        postal_code=(user.postal_code or "").strip() or None,
        city=(user.city or "").strip() or None,
        country_code=country if re.fullmatch(r"[A-Z]{2}", country) else None,
    )


def _norm(value: Any) -> str:
    return "" if value is None else str(value).strip().lower()


def _mapped(customer: NewCustomer) -> dict[str, str]:
    return {k: str(v) for k, v in customer.model_dump(exclude_none=True).items()}


def fields_hash(customer: NewCustomer) -> str:
    """A stable hash of the mapped values (case and surrounding spaces do not count)."""
    values = {k: _norm(v) for k, v in _mapped(customer).items()}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:32]


def before_hash(existing: BillitCustomer | None, wanted: NewCustomer) -> str:
    """A hash of what Billit held for the mapped fields ("absent" when there was no customer)."""
    if existing is None:
        return "absent"
    values = {k: _norm(getattr(existing, k, None)) for k in _mapped(wanted)}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:32]


def field_changes(existing: BillitCustomer, wanted: NewCustomer) -> list[FieldChange]:
    """Fields whose Billit value differs from the mapped Planyo value (old and new; new None = cleared)."""
    changes: list[FieldChange] = []
    for name, value in _mapped(wanted).items():
        old = getattr(existing, name, None)
        if _norm(value) != _norm(old):
            changes.append(FieldChange(field=name, old=None if old is None else str(old), new=value))
    for name in CLEARABLE:
        old = getattr(existing, name, None)
        if getattr(wanted, name) is None and _norm(old):
            changes.append(FieldChange(field=name, old=str(old), new=None))
    return changes


def patch_for(changes: list[FieldChange], wanted: NewCustomer) -> CustomerChanges:
    """Only the changed fields; a changed address part sends the whole address (it is one unit in Billit)."""
    names = {c.field for c in changes}
    if names & ADDRESS_FIELDS:
        names |= {n for n in ADDRESS_FIELDS if getattr(wanted, n) is not None}
    return CustomerChanges(**{n: getattr(wanted, n) for n in names})


class PartyLinks:
    """Planyo user id -> Billit party id, one item per user in Handoff's table.

    Why: e-mail is what a customer changes, so it cannot be the join key after
    the first sync; the link keeps every later change on the same party.
    """

    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        from handoff import aws

        return self._client or aws.client("dynamodb")

    def get(self, user_id: int) -> int | None:
        item = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": f"{LINK_PREFIX}{user_id}"}}, ConsistentRead=True
        ).get("Item")
        value = (item or {}).get("billit_party_id", {}).get("N")
        return int(value) if value else None

    def put(self, user_id: int, party_id: int) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={"pk": {"S": f"{LINK_PREFIX}{user_id}"}, "billit_party_id": {"N": str(int(party_id))}},
        )


def billit_idempotency_key(identity: Mapping[str, Any]) -> str:
    """Billit's ``Idempotent-Key`` for one change, derived from the same identity as our record."""
    text = f"{identity['planyo_user_id']}|{identity['fields']}|{identity['billit_before']}"
    return "handoff-sync-" + hashlib.sha256(text.encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------
# The sync
# ---------------------------------------------------------------------------
class CustomerSync:
    """Planyo user -> Billit customer, once per change."""

    def __init__(
        self,
        planyo: PlanyoConnector,
        billit: BillitConnector,
        table_name: str,
        *,
        lambda_context: Any = None,
    ) -> None:
        self.planyo = planyo
        self.billit = billit
        self.links = PartyLinks(table_name)
        self.table_name = table_name
        self.lambda_context = lambda_context

    def read_user(self, notification: PlanyoNotification) -> PlanyoUser:
        """The user as Planyo holds it now (never the callback's copy)."""
        if notification.user_id is not None:
            return self.planyo.get_user(user_id=notification.user_id)
        return self.planyo.get_user(email=notification.user_email)

    def sync(self, notification: PlanyoNotification) -> SyncResult:
        """Create or update the Billit customer; ``SyncNeedsReview`` when a human must decide."""
        try:
            user = self.read_user(notification)
        except NotFoundError:
            return SyncResult(outcome="skipped", planyo_user_id=notification.user_id, reason="no such Planyo user")
        try:
            wanted = billit_customer_from_planyo(user)
        except ValidationError as exc:
            fields = ", ".join(sorted({".".join(map(str, e["loc"])) or "customer" for e in exc.errors()}))
            raise SyncNeedsReview(f"Planyo user {user.user_id} cannot be a Billit customer (check: {fields})") from None
        existing = self._linked(user.user_id)
        if existing is None:
            try:
                existing = self.billit.find_customer(email=str(wanted.email))
            except ConflictError as exc:
                raise SyncNeedsReview(str(exc)) from None
        changes = field_changes(existing, wanted) if existing is not None else []
        if existing is not None and not changes:
            self._link(user.user_id, existing.customer_id)
            return SyncResult(outcome="unchanged", planyo_user_id=user.user_id, billit_customer_id=existing.customer_id)
        identity = {
            "planyo_user_id": user.user_id,
            "fields": fields_hash(wanted),
            "billit_before": before_hash(existing, wanted),
        }
        replayed: list[bool] = []

        @once(
            IDEMPOTENCY_KEY_PREFIX,
            identity="change",
            window_seconds=IDEMPOTENCY_WINDOW_SECONDS,
            table_name=self.table_name,
            lambda_context=self.lambda_context,
            on_replay=lambda _: replayed.append(True),
        )
        def write_once(change: Mapping[str, Any]) -> dict[str, Any]:
            return self._write(user, wanted, existing, changes, billit_idempotency_key(change)).model_dump(mode="json")

        try:
            result = SyncResult.model_validate(write_once(change=identity))
        except RejectedInputError as exc:
            raise SyncNeedsReview(f"Billit refused the customer: {exc}") from None
        except ConflictError as exc:
            raise SyncNeedsReview(str(exc)) from None
        if result.billit_customer_id is not None:
            self._link(user.user_id, result.billit_customer_id)
        return result.model_copy(update={"replayed": True}) if replayed else result

    def _linked(self, user_id: int | None) -> BillitCustomer | None:
        """The Billit party this Planyo user was synced to before (None when never, or since deleted)."""
        party_id = self.links.get(user_id) if user_id is not None else None
        if party_id is None:
            return None
        try:
            return self.billit.get_customer(party_id)
        except NotFoundError:
            logger.info("linked Billit party is gone; matching by e-mail", extra={"billit_party_id": party_id})
            return None

    def _link(self, user_id: int | None, party_id: int) -> None:
        if user_id is not None and self.links.get(user_id) != party_id:
            self.links.put(user_id, party_id)

    def _write(
        self,
        user: PlanyoUser,
        wanted: NewCustomer,
        existing: BillitCustomer | None,
        changes: list[FieldChange],
        billit_key: str,
    ) -> SyncResult:
        if existing is None:
            # create_customer searches again and upserts, so a customer created meanwhile is updated, not duplicated.
            upsert = self.billit.create_customer(wanted, idempotency_key=billit_key)
            outcome: Literal["created", "updated", "unchanged"] = (
                "created" if upsert.created else "updated" if upsert.updated else "unchanged"
            )
            return SyncResult(
                outcome=outcome, planyo_user_id=user.user_id, billit_customer_id=upsert.customer.customer_id
            )
        cleared = [c.field for c in changes if c.new is None]
        self.billit.update_customer(existing.customer_id, patch_for(changes, wanted), clear=cleared)
        return SyncResult(
            outcome="updated", planyo_user_id=user.user_id, billit_customer_id=existing.customer_id, changes=changes
        )
