"""Masking for what goes on the bus: a summary a subscriber may read, labels marketing may keep.

Why its own pass on top of ``handoff.redact``: redact hides payment, bank and tax
numbers (which may never leave anywhere), but an owner's notification may name
the caller and their e-mail; an event may not, because every rule on the bus
and the archive receive it. So the summary also loses e-mails, phone numbers,
money amounts and the caller's name, and product labels that look like anything
else than a label are dropped, not masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers
from pydantic import TypeAdapter, ValidationError

from handoff.events.contract import Label, Sku
from handoff.redact import redact_text

SUMMARY_MAX = 500
EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
AMOUNT_MASK = "[amount]"
NAME_MASK = "[caller]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CURRENCY = r"(?:usd|eur|gbp|chf|cad|aud|jpy|dollars?|euros?|pounds?|bucks)"
_AMOUNT = re.compile(
    rf"(?:[$€£¥]\s?\d[\d,.\s]*\d|[$€£¥]\s?\d|\b\d[\d,.]*\s?(?:{_CURRENCY})\b|\b(?:{_CURRENCY})\s?\d[\d,.]*)",
    re.IGNORECASE,
)
_LONG_DIGITS = re.compile(r"\d{6,}")
_KEYLIKE = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{20,}\b")
"""A long token of letters and digits (an API key said on a call): masked whole."""
KEY_MASK = "[key]"
_label = TypeAdapter(Label)
_sku = TypeAdapter(Sku)


def _mask_phones(text: str, region: str) -> str:
    spans = [
        (m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE)
    ]
    for start, end in reversed(spans):
        text = text[:start] + PHONE_MASK + text[end:]
    return text


def _mask_names(text: str, names: Iterable[str]) -> str:
    parts: set[str] = set()
    for name in names:
        cleaned = " ".join(name.split())
        if len(cleaned) >= 3:
            parts.add(cleaned)
        parts.update(p for p in cleaned.split(" ") if len(p) >= 3)
    for part in sorted(parts, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(part)}\b", NAME_MASK, text, flags=re.IGNORECASE)
    return re.sub(rf"(?:{re.escape(NAME_MASK)}\s*)+(?={re.escape(NAME_MASK)})", "", text)


def mask_summary(text: str | None, *, names: Iterable[str] = (), region: str = "US") -> str:
    """The call summary as the bus may carry it (at most ``SUMMARY_MAX`` characters)."""
    if not text:
        return ""
    masked = redact_text(" ".join(text.split()))
    masked = _KEYLIKE.sub(KEY_MASK, masked)
    masked = _EMAIL.sub(EMAIL_MASK, masked)
    masked = _AMOUNT.sub(AMOUNT_MASK, masked)
    masked = _mask_phones(masked, region)
    masked = _mask_names(masked, names)
    masked = _LONG_DIGITS.sub(lambda m: "*" * len(m.group()), masked)
    return masked if len(masked) <= SUMMARY_MAX else masked[: SUMMARY_MAX - 1] + "…"


def safe_label(value: object) -> str | None:
    """A product or category label marketing may keep, or None when the value is anything else."""
    if not isinstance(value, str):
        return None
    cleaned = " ".join(value.split())
    if not cleaned or _EMAIL.search(cleaned) or _AMOUNT.search(cleaned) or _LONG_DIGITS.search(cleaned):
        return None
    if cleaned != redact_text(cleaned):
        return None
    try:
        return _label.validate_python(cleaned)
    except ValidationError:
        return None


def safe_sku(value: object) -> str | None:
    """A SKU (letters, digits, ``._/-``), or None."""
    if not isinstance(value, str):
        return None
    cleaned = value.strip()
    if not cleaned or _LONG_DIGITS.fullmatch(cleaned.replace("-", "")) or cleaned != redact_text(cleaned):
        return None
    try:
        return _sku.validate_python(cleaned)
    except ValidationError:
        return None
