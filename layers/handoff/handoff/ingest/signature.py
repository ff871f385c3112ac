"""DialNexa webhook signature: HMAC-SHA256 of the raw body, hex, optional ``sha256=``.

The check runs on the raw bytes before any JSON parsing, so nothing in an
unauthenticated body is ever interpreted. Every configured secret (current and
previous, because DialNexa rotates with no overlap) is compared in constant
time, and all of them are always compared, so the answer time does not reveal
which secret matched or whether the value was well formed.

Reasons never contain a secret or the expected digest: they are safe to log and
to return in a 401 body.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

# UNCONFIRMED facts this module relies on (reference dialnexa-webhooks.md §3, §7.2, §7.3).
ASSUMPTIONS: Final[dict[str, str]] = {
    "header_fallback": (
        "The webhook pages name X-DialNexa-Signature, the OpenAPI spec names x-nexa-signature; "
        "we read the first and fall back to the second."
    ),
    "bare_hex": (
        "The docs show 'sha256=<hex>'; one secondary catalogue shows bare hex. Both are accepted, upper- or lower-case."
    ),
    "raw_body_only": (
        "The HMAC covers the raw body. An HMAC over a re-serialised inner payload (third-party "
        "report only) is NOT accepted: it would leave event_type unauthenticated."
    ),
}

SIGNATURE_HEADERS: Final = ("x-dialnexa-signature", "x-nexa-signature")
"""Header names in order of preference (matched case-insensitively)."""

PREFIX: Final = "sha256="

REASON_OK: Final = "signature valid"
REASON_MISSING: Final = "missing signature header"
REASON_MALFORMED: Final = "malformed signature"
REASON_MISMATCH: Final = "signature mismatch"
REASON_NO_SECRET: Final = "no webhook secret configured"  # noqa: S105 - a message, not a secret

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """Outcome of :func:`verify`. ``matched`` says which secret was used ("current"/"previous")."""

    ok: bool
    reason: str
    matched: str | None = None


def extract_signature(headers: Mapping[str, str]) -> str | None:
    """Return the signature hex from the headers, or None when no usable header is present.

    Header names are matched case-insensitively; ``X-DialNexa-Signature`` wins over
    ``x-nexa-signature`` unless it is empty. An optional ``sha256=`` prefix (any
    case) is stripped and the value lowercased. The result is not validated here:
    :func:`verify` decides whether it is well formed.
    """
    by_name: dict[str, str] = {}
    for name, value in headers.items():
        if isinstance(name, str) and isinstance(value, str):
            by_name.setdefault(name.lower(), value)
    for name in SIGNATURE_HEADERS:
        value = by_name.get(name, "").strip()
        if value:
            if value[: len(PREFIX)].lower() == PREFIX:
                value = value[len(PREFIX) :].strip()
            return value.lower()
    return None


def _digest(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str) -> str:
    """Return the header value DialNexa would send for ``body``: ``sha256=<hex>``."""
    return PREFIX + _digest(body, secret)


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> SignatureCheck:
    """Check the webhook signature of the raw ``body`` against each configured secret.

    ``secrets`` is ordered current first, then previous; empty entries are ignored
    (an unset previous secret). Every secret is compared even after a match, and
    even when the value is malformed, so timing says nothing about either.
    """
    labelled = [(_label(index), secret) for index, secret in enumerate(secrets) if secret]
    if not labelled:
        return SignatureCheck(ok=False, reason=REASON_NO_SECRET)
    candidate = extract_signature(headers)
    if candidate is None:
        return SignatureCheck(ok=False, reason=REASON_MISSING)
    candidate_bytes = candidate.encode("utf-8", "replace")
    matched: str | None = None
    for label, secret in labelled:
        if hmac.compare_digest(candidate_bytes, _digest(body, secret).encode("ascii")) and matched is None:
            matched = label
    if _HEX64.fullmatch(candidate) is None:
        return SignatureCheck(ok=False, reason=REASON_MALFORMED)
    if matched is None:
        return SignatureCheck(ok=False, reason=REASON_MISMATCH)
    return SignatureCheck(ok=True, reason=REASON_OK, matched=matched)


def _label(index: int) -> str:
    return "current" if index == 0 else "previous"
