"""Partner credentials from Secrets Manager, cached through Powertools Parameters.

One secret (name in ``HANDOFF_PARTNER_SECRET``) holds a JSON object with one
entry per tool, e.g. ``{"planyo": {"base_url": …, "api_key": …}, …}``. A tool
absent from the secret is simply not configured. Caching (``max_age``) keeps a
warm Lambda from calling Secrets Manager per invocation.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities import parameters

from handoff.connectors.errors import AuthError

CACHE_SECONDS = 300


def partner_secret_name() -> str | None:
    return os.environ.get("HANDOFF_PARTNER_SECRET") or None


def load_partner_config(tool: str, *, force_fetch: bool = False) -> dict[str, Any] | None:
    """The configuration block for ``tool``, or None when the tool is not configured."""
    name = partner_secret_name()
    if not name:
        return None
    try:
        value = parameters.get_secret(name, transform="json", max_age=CACHE_SECONDS, force_fetch=force_fetch)
    except parameters.exceptions.GetParameterError as exc:
        raise AuthError(tool, f"cannot read partner secret {name!r}: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise AuthError(tool, f"partner secret {name!r} is not a JSON object")
    block = value.get(tool)
    return block if isinstance(block, dict) else None

