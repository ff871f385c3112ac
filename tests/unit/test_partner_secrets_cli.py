"""The CLI reads partner credentials as the template stores them: one secret per partner, holding its block."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from handoff_dev.cli_errors import CliError
from handoff_dev.partners import PARTNER_SECRETS, load_partner_config

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags read as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_every_partner_secret_of_the_template_is_known_with_its_output() -> None:
    template: dict[str, Any] = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_Loader)
    secrets = {
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SecretsManager::Secret" and name != "WebhookSecret"
    }
    assert set(PARTNER_SECRETS.values()) == secrets
    assert {f"{name}Arn" for name in secrets} <= set(template["Outputs"])


@pytest.fixture
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _secret(endpoint: str, name: str, value: dict[str, Any]) -> str:
    import boto3

    client = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return str(client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])


def test_each_secret_id_is_one_partners_block_and_an_empty_secret_is_not_configured(endpoint: str) -> None:
    planyo = _secret(endpoint, "handoff-planyo", {"api_key": "k", "site_id": 1})
    billit = _secret(endpoint, "handoff-billit", {})
    config = load_partner_config(None, [f"planyo={planyo}", f"billit={billit}"], endpoint_url=endpoint)
    assert config == {"planyo": {"api_key": "k", "site_id": 1}}


def test_a_secret_that_is_not_a_json_object_names_the_partner(endpoint: str) -> None:
    import boto3

    client = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_secret(Name="handoff-slack", SecretString="[]")
    with pytest.raises(CliError, match="the slack secret handoff-slack must be a JSON object"):
        load_partner_config(None, ["slack=handoff-slack"], endpoint_url=endpoint)


def test_no_file_no_secret_and_no_stack_is_no_configuration() -> None:
    assert load_partner_config(None, ()) is None


def test_a_stack_names_every_partner_secret_through_its_outputs(endpoint: str) -> None:
    import boto3

    planyo = _secret(endpoint, "stack-planyo", {"api_key": "k"})  # moto's state is one per process: own names
    slack = _secret(endpoint, "stack-slack", {"bot_token": "xoxb-1"})
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"PlanyoSecretArn": {"Value": planyo}, "SlackSecretArn": {"Value": slack}},
    }
    boto3.client(
        "cloudformation",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_stack(StackName="handoff-outputs", TemplateBody=json.dumps(template))
    config = load_partner_config(None, (), endpoint_url=endpoint, stack="handoff-outputs")
    assert config == {"planyo": {"api_key": "k"}, "slack": {"bot_token": "xoxb-1"}}
