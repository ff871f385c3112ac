"""A function is only as good as its template: a missing variable or policy statement fails locally.

A copy of template.yaml with one variable removed from PartnerIngestFunction and
one statement removed from IngestFunction. On the embedded stack each function
has only its own environment and calls AWS as its own role, so exactly those
two functions fail, each with an error naming what is missing, as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from handoff_dev.embedded.stack import DEV_PLANYO_CALLBACK_TOKEN, PROJECT_ROOT, EmbeddedStack, StackOptions
from handoff_dev.embedded.template import load_template
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

RESCHEDULE = "variant-a_call-ended_completed_inbound_reschedule-booking.json"


def stripped_template(directory: Path) -> Path:
    """template.yaml without PartnerIngestFunction's HANDOFF_EVENT_BUS and IngestFunction's StartExecution."""
    body = load_template(PROJECT_ROOT / "template.yaml")
    resources = body["Resources"]
    del resources["PartnerIngestFunction"]["Properties"]["Environment"]["Variables"]["HANDOFF_EVENT_BUS"]
    for policy in resources["IngestFunction"]["Properties"]["Policies"]:
        statements = policy.get("Statement", [])
        policy["Statement"] = [s for s in statements if s.get("Action") != "states:StartExecution"]
        assert len(policy["Statement"]) == len(statements) - 1
    for resource in resources.values():  # the copy lives elsewhere: code and definition stay where they are
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "DefinitionUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = str(PROJECT_ROOT / props[key])
    path = directory / "template.yaml"
    path.write_text(json.dumps(body, indent=1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stripped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    path = stripped_template(tmp_path_factory.mktemp("stripped"))
    options = StackOptions(
        port=0, aws_port=0, schedules=False, parameter_overrides={"AnalysisGraceSeconds": "0"}, prefork=True
    )
    with EmbeddedStack(options, template_path=path) as stack:
        yield stack


def test_a_function_missing_a_template_variable_fails_naming_it(stripped: EmbeddedStack) -> None:
    form = {"notification_type": "user_updated", "user": "700142", "is_new_user": "0"}
    answer = requests.post(f"{stripped.api_url}/webhooks/planyo/{DEV_PLANYO_CALLBACK_TOKEN}", data=form, timeout=60)
    assert answer.status_code == 503
    assert "HANDOFF_EVENT_BUS is not set" in answer.text


def test_a_function_missing_a_policy_statement_fails_naming_the_action(
    stripped: EmbeddedStack, rekeyed: Callable[[str, str], bytes]
) -> None:
    url = f"{stripped.api_url}/webhooks/dialnexa"
    status, _, _ = post_signed(url, rekeyed(RESCHEDULE, "call_no_start"), stripped.options.webhook_secret)
    assert status >= 500
    log = "\n".join(stripped.registry.logs.of("IngestFunction"))
    assert "AccessDenied" in log and "states:StartExecution" in log
    assert "assumed-role/handoff-IngestFunctionRole" in log  # denied to ingest's own role, not to the stack
