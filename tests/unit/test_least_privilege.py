"""No function can read a partner key it does not use (issue 12, item 8)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from handoff.connectors import credentials
from handoff_dev.embedded.template import load_template

ROOT = Path(__file__).resolve().parents[2]
RESOURCES: dict[str, Any] = load_template(ROOT / "template.yaml")["Resources"]
SECRETS = {n for n, r in RESOURCES.items() if r["Type"] == "AWS::SecretsManager::Secret"}
FUNCTIONS = {n: r["Properties"] for n, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}


def _readable(props: dict[str, Any]) -> set[str]:
    """Secrets the function's policies allow GetSecretValue on."""
    found: set[str] = set()
    for policy in props.get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "secretsmanager:GetSecretValue" in actions:
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                found |= {r["Ref"] for r in resources}
    return found


def _told(props: dict[str, Any]) -> dict[str, str]:
    """Tool -> secret logical id, from the function's HANDOFF_PARTNER_SECRETS."""
    value = props.get("Environment", {}).get("Variables", {}).get("HANDOFF_PARTNER_SECRETS")
    if value is None:
        return {}
    return {tool: ref for tool, ref in re.findall(r'"(\w+)": "\$\{(\w+)\}"', value["Fn::Sub"])}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_a_function_can_read_exactly_the_partner_secrets_it_is_told_about(name: str) -> None:
    props = FUNCTIONS[name]
    partner = _readable(props) - {"WebhookSecret"}
    assert partner == set(_told(props).values())
    assert partner <= SECRETS


@pytest.mark.parametrize("name", ["PartnerIngestFunction", "ReviewFunction"])
def test_the_unauthenticated_routes_cannot_read_billit_or_plisio_keys(name: str) -> None:
    assert not _readable(FUNCTIONS[name]) & {"BillitSecret", "PlisioSecret", "BookingmoodSecret", "OcrWebServiceSecret"}


def test_only_ingest_reads_the_webhook_secret() -> None:
    assert [n for n, p in FUNCTIONS.items() if "WebhookSecret" in _readable(p)] == ["IngestFunction"]


def test_a_tool_this_function_was_not_given_is_not_configured_and_nothing_is_fetched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDOFF_PARTNER_SECRETS", json.dumps({"planyo": "arn:planyo"}))
    monkeypatch.setenv("HANDOFF_PARTNER_SECRET", "arn:everything")  # the local all-in-one secret is ignored
    fetched: list[str] = []
    monkeypatch.setattr(
        credentials.parameters, "get_secret", lambda name, **_: fetched.append(name) or {"callback_token": "t"}
    )
    assert credentials.load_partner_config("billit") is None
    assert credentials.load_partner_config("planyo") == {"callback_token": "t"}
    assert fetched == ["arn:planyo"]
