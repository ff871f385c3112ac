"""Where the CLI gets partner connectors: real credentials when given, else the sandboxes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from handoff.connectors.registry import build
from handoff.models import Tool
from handoff_dev import ops
from handoff_dev.cli_errors import EXIT_BAD_INPUT, CliError

PARTNER_SECRETS: dict[str, str] = {
    "planyo": "PlanyoSecret",
    "bookingmood": "BookingmoodSecret",
    "plisio": "PlisioSecret",
    "billit": "BillitSecret",
    "ocrwebservice": "OcrWebServiceSecret",
    "slack": "SlackSecret",
}
"""Tool -> its secret in template.yaml (one per partner, holding that partner's block); the stack's output is
``<secret>Arn``. tests/unit/test_partner_secrets_cli.py holds this against the template."""
USAGE_HINT = (
    "pass --secret-id TOOL=SECRET_ID once per partner (e.g. planyo=<PlanyoSecretArn output>), "
    "or --stack NAME to read every partner secret of a deployed stack"
)


def load_partner_config(
    file: Path | None = None,
    secret_ids: Sequence[str] = (),
    endpoint_url: str | None = None,
    profile: str | None = None,
    region: str | None = None,
    stack: str | None = None,
) -> dict[str, Any] | None:
    """Partner configuration, ``{tool: block}``, from a JSON file, per-partner secrets or a stack; None if none given.

    Deployed, each partner has its own secret holding its block (template.yaml): ``--secret-id TOOL=ID`` names
    one, ``--stack`` finds them all from the stack's ``<Tool>SecretArn`` outputs. A secret holding ``{}`` is a
    partner not configured, left out as the functions leave it out.
    """
    if file is not None:
        where = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(
                f"cannot read --partner-config {file}: {exc.strerror}", "pass an existing JSON file", EXIT_BAD_INPUT
            ) from None
        return _object(where, text, "see partners.example.json for the shape")
    wanted = _parse_secret_ids(secret_ids)
    if stack:
        wanted = {**_stack_secrets(stack, endpoint_url, profile, region), **wanted}
    if not wanted:
        return None
    client = ops.aws_client("secretsmanager", endpoint_url, profile, region)
    config: dict[str, Any] = {}
    for tool, secret_id in wanted.items():
        try:
            text = client.get_secret_value(SecretId=secret_id)["SecretString"]
        except client.exceptions.ResourceNotFoundException:
            raise CliError(
                f"no secret {secret_id!r} (for {tool}) at this endpoint/region",
                f"check --secret-id {tool}=… (the stack's {PARTNER_SECRETS[tool]}Arn output) "
                "and --endpoint-url/--profile/--region",
            ) from None
        block = _object(f"the {tool} secret {secret_id}", text, f'it holds the "{tool}" block of partners.example.json')
        if block:
            config[tool] = block
    return config


def _parse_secret_ids(values: Sequence[str]) -> dict[str, str]:
    """``["planyo=arn:…", …]`` -> ``{"planyo": "arn:…"}``; bad forms, unknown tools and repeats are named."""
    parsed: dict[str, str] = {}
    for value in values:
        tool, sep, secret_id = value.partition("=")
        tool, secret_id = tool.strip().lower(), secret_id.strip()
        if not sep or not tool or not secret_id:
            raise CliError(
                f"--secret-id {value!r} names no partner: each partner has its own secret now",
                USAGE_HINT,
                EXIT_BAD_INPUT,
            )
        if tool not in PARTNER_SECRETS:
            raise CliError(
                f"--secret-id {value!r}: unknown partner {tool!r}",
                f"the partners are {', '.join(sorted(PARTNER_SECRETS))}",
                EXIT_BAD_INPUT,
            )
        if tool in parsed:
            raise CliError(f"--secret-id names {tool} twice", "pass one secret per partner", EXIT_BAD_INPUT)
        parsed[tool] = secret_id
    return parsed


def _stack_secrets(stack: str, endpoint_url: str | None, profile: str | None, region: str | None) -> dict[str, str]:
    """Every partner's secret ARN from the stack's outputs (``PlanyoSecretArn`` …)."""
    client = ops.aws_client("cloudformation", endpoint_url, profile, region)
    try:
        stacks = client.describe_stacks(StackName=stack)["Stacks"]
    except client.exceptions.ClientError as exc:
        raise CliError(
            f"cannot read stack {stack!r}: {exc.response.get('Error', {}).get('Message', exc)}",
            "check --stack and --profile/--region",
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or [])} if stacks else {}
    found = {tool: outputs[f"{name}Arn"] for tool, name in PARTNER_SECRETS.items() if outputs.get(f"{name}Arn")}
    if not found:
        raise CliError(
            f"stack {stack} has no partner secret outputs (PlanyoSecretArn …)", "deploy the current template.yaml"
        )
    return found


def _object(where: str, text: str, hint: str) -> dict[str, Any]:
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{where} is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})", hint, EXIT_BAD_INPUT
        ) from None
    if not isinstance(loaded, dict):
        raise CliError(f"{where} must be a JSON object", hint, EXIT_BAD_INPUT)
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
