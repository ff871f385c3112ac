"""Where the CLI gets partner connectors: real credentials when given, else the sandboxes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from handoff.connectors.registry import build
from handoff.models import Tool
from handoff_dev import ops
from handoff_dev.cli_errors import EXIT_BAD_INPUT, CliError


def load_partner_config(
    file: Path | None = None,
    secret_id: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    region: str | None = None,
) -> dict[str, Any] | None:
    """Partner configuration from a JSON file or a Secrets Manager secret; None when neither is given."""
    if file is not None:
        where = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(
                f"cannot read --partner-config {file}: {exc.strerror}", "pass an existing JSON file", EXIT_BAD_INPUT
            ) from None
    elif secret_id:
        where = f"secret {secret_id}"
        client = ops.aws_client("secretsmanager", endpoint_url, profile, region)
        try:
            text = client.get_secret_value(SecretId=secret_id)["SecretString"]
        except client.exceptions.ResourceNotFoundException:
            raise CliError(
                f"no secret {secret_id!r} at this endpoint/region",
                "check --secret-id (the stack's PartnerSecret) and --endpoint-url/--profile/--region",
            ) from None
    else:
        return None
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{where} is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})",
            "see partners.example.json for the shape",
            EXIT_BAD_INPUT,
        ) from None
    if not isinstance(loaded, dict):
        raise CliError(
            f"{where} must be a JSON object with one block per tool",
            "see partners.example.json for the shape",
            EXIT_BAD_INPUT,
        )
    return loaded


@contextmanager
def partner_connectors(config: dict[str, Any] | None) -> Iterator[tuple[dict[Tool, Any], str]]:
    """Connectors for every configured tool; with no configuration, the sandboxes (started here)."""
    if config is not None:
        yield (
            {Tool(name): build(Tool(name), block) for name, block in config.items() if isinstance(block, dict)},
            "real",
        )
        return
    from handoff_dev.sandboxes import start_all

    sandboxes = start_all()
    try:
        yield {Tool(name): build(Tool(name), sandbox.config()) for name, sandbox in sandboxes.items()}, "sandbox"
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()
