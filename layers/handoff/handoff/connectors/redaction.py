"""Keep credentials out of anything that may be logged or raised."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_PARAM_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "key",
        "secret",
        "secret_key",
        "hash_key",
        "token",
        "access_token",
        "license_code",
        "password",
        "authorization",
    }
)
MASK = "***"


def redact_url(url: str) -> str:
    """Mask secret query parameters (``api_key=…``) in a URL before it is logged."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [
        (k, MASK if k.lower() in SECRET_PARAM_NAMES else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="*")))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each known secret value in ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    for name in SECRET_PARAM_NAMES:
        text = re.sub(rf"({name}=)[^&\s\"']+", rf"\1{MASK}", text, flags=re.IGNORECASE)
    return text
