"""Partner credentials from Secrets Manager, cached through Powertools Parameters.

Deployed, each partner has its own secret holding its block, and each function
gets ``HANDOFF_PARTNER_SECRETS``: a JSON map of only the tools it uses to their
secret ARN (template.yaml), with IAM granting only those. A tool missing from the
map is not configured *for this function*: the Planyo callback and Slack routes
cannot read Billit's or Plisio's keys (issue 12, docs/data-lifecycle.md).

Locally (embedded stack, tests, ops tools) one secret named in
``HANDOFF_PARTNER_SECRET`` may hold every block, ``{"planyo": {...}, ...}``.
A tool absent from the secret is simply not configured. Caching (``max_age``)
keeps a warm Lambda from calling Secrets Manager per invocation.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools.utilities import parameters

from handoff.connectors.errors import AuthError
from handoff.redact import register_secret

CACHE_SECONDS = 300
# A field whose name contains one of these holds a credential (api_key, token, signing_secret, password, hash_key).
CREDENTIAL_FIELDS = ("key", "token", "secret", "password", "hash")


def partner_secret_name() -> str | None:
    return os.environ.get("HANDOFF_PARTNER_SECRET") or None


def partner_secret_names() -> dict[str, str]:
    """Tool -> secret of that tool alone, for the tools this function may use (empty when not split)."""
    raw = os.environ.get("HANDOFF_PARTNER_SECRETS")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items() if v} if isinstance(value, dict) else {}


def load_partner_config(tool: str, *, force_fetch: bool = False) -> dict[str, Any] | None:
    """The configuration block for ``tool``, or None when the tool is not configured."""
    split = partner_secret_names()
    if split:
        return _own_secret(tool, split.get(tool), force_fetch)
    name = partner_secret_name()
    if not name:
        return None
    try:
        value = parameters.get_secret(name, transform="json", max_age=CACHE_SECONDS, force_fetch=force_fetch)
    except parameters.exceptions.GetParameterError as exc:
        raise AuthError(tool, f"cannot read partner secret {name!r}: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise AuthError(tool, f"partner secret {name!r} is not a JSON object")
    register_credentials(value)
    block = value.get(tool)
    return block if isinstance(block, dict) else None


def _own_secret(tool: str, name: str | None, force_fetch: bool) -> dict[str, Any] | None:
    """A tool's own secret (its block itself); None when this function is not given it or it is ``{}``."""
    if name is None:
        return None
    try:
        value = parameters.get_secret(name, transform="json", max_age=CACHE_SECONDS, force_fetch=force_fetch)
    except parameters.exceptions.GetParameterError as exc:
        raise AuthError(tool, f"cannot read the {tool} secret: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise AuthError(tool, f"the {tool} secret is not a JSON object")
    register_credentials({tool: value})
    return value or None


def register_credentials(config: dict[str, Any]) -> None:
    """Mask every partner credential in this environment's logs and messages.

    Each function runs in its own environment (process): a secret registered in
    one is unknown to the others, so each function registers the credentials of
    every partner secret it reads itself.
    """
    for block in config.values():
        if not isinstance(block, dict):
            continue
        for field, item in block.items():
            if isinstance(item, str) and any(part in field.lower() for part in CREDENTIAL_FIELDS):
                register_secret(item)
