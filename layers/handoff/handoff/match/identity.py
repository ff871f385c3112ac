"""Who the caller is, as far as the call can tell: ``CallerIdentity``.

Built from the compact ``CallSummary`` (post-call analysis first, then the
caller's line) and, when match has it, the transcript text (second). Each value
keeps every call field it was seen in, so the evidence shown to a reviewer can
say "analysis.customer_email" rather than "somewhere in the call".
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from handoff.match.normalise import (
    DEFAULT_FORMATS,
    IdFormats,
    IdKind,
    find_emails,
    find_ids,
    find_phones,
    is_empty,
    normalise_email,
    normalise_id,
    normalise_name,
    normalise_phone,
)
from handoff.models import CallSummary

# Post-call analysis keys that carry each kind of identifier. The business
# configures PCA field names in DialNexa, so the synonyms seen in the samples
# and the DialNexa docs are all accepted; the first listed is the sample's key.
PHONE_KEYS = ("customer_phone", "phone", "phone_number", "caller_phone", "callback_number")
EMAIL_KEYS = ("customer_email", "email", "email_address")
NAME_KEYS = ("customer_name", "name", "caller_name", "full_name")
ID_KEYS: dict[IdKind, tuple[str, ...]] = {
    IdKind.BOOKING: ("booking_id", "booking_ref", "booking_reference", "booking_number"),
    IdKind.RESERVATION: ("reservation_id", "reservation_number"),
    IdKind.ORDER: ("order_id", "order_number"),
    IdKind.INVOICE: ("invoice_number", "invoice_id", "invoice"),
    IdKind.SKU: ("sku", "product_sku"),
}

_USER_LINE = re.compile(r"^\s*(?:user|caller|customer)\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_NAME_INTRO = re.compile(
    r"(?:my name is|my name's|name is|this is|i am|i'm)\s+([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){1,2})",
)
_NAME_BEFORE_EMAIL = re.compile(r"^\s*([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){1,2})\s*,\s*\S+@\S+")


class Observed(BaseModel):
    """One normalised value and every call field it was read from (first is the most trusted)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    value: str
    sources: tuple[str, ...]

    @property
    def source(self) -> str:
        return self.sources[0]


class ObservedId(Observed):
    """A business id with its kind."""

    kind: IdKind


class CallerIdentity(BaseModel):
    """Everything that may identify the caller, normalised, with where each value came from."""

    model_config = ConfigDict(defer_build=True)

    phones: list[Observed] = Field(default_factory=list)
    emails: list[Observed] = Field(default_factory=list)
    names: list[Observed] = Field(default_factory=list)
    ids: list[ObservedId] = Field(default_factory=list)
    rejected: list[str] = Field(default_factory=list)
    """Call fields whose value could not be normalised (kept for the reviewer, value omitted)."""

    @property
    def has_identifying_data(self) -> bool:
        """A phone, an e-mail or an id: something a record can be found by (a name alone is not)."""
        return bool(self.phones or self.emails or self.ids)

    @property
    def is_empty(self) -> bool:
        return not (self.has_identifying_data or self.names)

    def ids_of(self, *kinds: IdKind) -> list[ObservedId]:
        return [item for item in self.ids if item.kind in kinds]

    def first_email(self) -> str | None:
        return self.emails[0].value if self.emails else None

    def first_phone(self) -> str | None:
        return self.phones[0].value if self.phones else None

    def first_name(self) -> str | None:
        return self.names[0].value if self.names else None


class _Collector:
    """Accumulates observations keeping first-seen order and merging sources."""

    def __init__(self) -> None:
        self.phones: dict[str, list[str]] = {}
        self.emails: dict[str, list[str]] = {}
        self.names: dict[str, list[str]] = {}
        self.ids: dict[tuple[IdKind, str], list[str]] = {}
        self.rejected: list[str] = []

    @staticmethod
    def _add(bucket: dict[Any, list[str]], key: Any, source: str) -> None:
        sources = bucket.setdefault(key, [])
        if source not in sources:
            sources.append(source)

    def phone(self, value: str, source: str) -> None:
        self._add(self.phones, value, source)

    def email(self, value: str, source: str) -> None:
        self._add(self.emails, value, source)

    def name(self, value: str, source: str) -> None:
        if value.casefold() not in {n.casefold() for n in self.names}:
            self._add(self.names, value, source)
        else:
            existing = next(n for n in self.names if n.casefold() == value.casefold())
            self._add(self.names, existing, source)

    def ident(self, kind: IdKind, value: str, source: str) -> None:
        self._add(self.ids, (kind, value), source)

    def build(self) -> CallerIdentity:
        return CallerIdentity(
            phones=[Observed(value=v, sources=tuple(s)) for v, s in self.phones.items()],
            emails=[Observed(value=v, sources=tuple(s)) for v, s in self.emails.items()],
            names=[Observed(value=v, sources=tuple(s)) for v, s in self.names.items()],
            ids=[ObservedId(kind=k, value=v, sources=tuple(s)) for (k, v), s in self.ids.items()],
            rejected=self.rejected,
        )


def _analysis_text(analysis: dict[str, Any], key: str) -> object:
    value = analysis.get(key)
    return None if is_empty(value) else value


def _user_text(transcript: str) -> str:
    """The caller's own lines; the whole text when the transcript has no speaker labels."""
    lines = _USER_LINE.findall(transcript)
    return "\n".join(lines) if lines else transcript


def build_identity(
    call: CallSummary,
    transcript: str | None = None,
    *,
    default_region: str = "US",
    formats: IdFormats = DEFAULT_FORMATS,
) -> CallerIdentity:
    """Gather the caller's identifiers: post-call analysis first, the caller's line, then the transcript."""
    found = _Collector()
    analysis = call.analysis or {}

    for key in EMAIL_KEYS:
        raw = _analysis_text(analysis, key)
        if raw is not None:
            email = normalise_email(raw)
            if email:
                found.email(email, f"analysis.{key}")
            else:
                found.rejected.append(f"analysis.{key}")
    for key in PHONE_KEYS:
        raw = _analysis_text(analysis, key)
        if raw is not None:
            phone = normalise_phone(raw, default_region)
            if phone:
                found.phone(phone, f"analysis.{key}")
            else:
                found.rejected.append(f"analysis.{key}")
    for key in NAME_KEYS:
        name = normalise_name(_analysis_text(analysis, key))
        if name:
            found.name(name, f"analysis.{key}")
    for kind, keys in ID_KEYS.items():
        for key in keys:
            raw = _analysis_text(analysis, key)
            if raw is None:
                continue
            value = normalise_id(raw, kind, formats)
            if value:
                found.ident(kind, value, f"analysis.{key}")
            else:
                found.rejected.append(f"analysis.{key}")

    line_phone = normalise_phone(call.caller_phone, default_region)
    if line_phone:
        found.phone(line_phone, "call.caller_phone")

    if transcript:
        user_text = _user_text(transcript)
        for email in find_emails(user_text):
            found.email(email, "transcript")
        for phone in find_phones(user_text, default_region):
            found.phone(phone, "transcript")
        for kind, value in find_ids(transcript, formats):
            found.ident(kind, value, "transcript")
        for line in user_text.splitlines():
            for pattern in (_NAME_INTRO, _NAME_BEFORE_EMAIL):
                match = pattern.search(line)
                name = normalise_name(match.group(1)) if match else None
                if name:
                    found.name(name, "transcript")
    return found.build()
