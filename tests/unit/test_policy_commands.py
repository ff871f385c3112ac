"""`handoff policy check | diff | schema`, the new semantic checks, and the template kept in sync with the models."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from typer.testing import CliRunner

from handoff.route.policy import PolicyError, parse_policy
from handoff_dev import policy_ops, policy_schema
from handoff_dev.cli import app
from handoff_dev.embedded.template import load_template
from handoff_dev.policy_files import PARTNER_POLICY_FILE, PROJECT_ROOT, ROUTING_POLICY_FILE

SHIPPED = ROUTING_POLICY_FILE.read_text(encoding="utf-8")
TEMPLATE = PROJECT_ROOT / "template.yaml"
runner = CliRunner()


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def write(tmp_path: Path, text: str, name: str = "routing.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def messages(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return [f"{p.field}: {p.message}" for p in caught.value.problems]


# -- check ------------------------------------------------------------------------------------------
def test_check_on_a_bad_operation_exits_non_zero_naming_the_line(tmp_path: Path) -> None:
    text = SHIPPED.replace("planyo.modify_reservation,", "planyo.teleport,", 1)
    result = runner.invoke(app, ["policy", "check", str(write(tmp_path, text))])
    assert result.exit_code == 1
    assert f"routing.yaml:{line_of(text, 'planyo.teleport')}: intents.reschedule_booking.operations[0]" in result.output
    assert "unknown operation 'teleport'" in result.output
    assert "Traceback" not in result.output


def test_check_reports_every_problem_at_once_as_json(tmp_path: Path) -> None:
    text = SHIPPED.replace("act_min_confidence: 0.85", "act_min_confidence: 1.5", 1).replace(
        "planyo.modify_reservation,", "planyo.teleport,", 1
    )
    result = runner.invoke(app, ["policy", "check", str(write(tmp_path, text)), "--json"])
    assert result.exit_code == 1
    problems = json.loads(result.output)["problems"]
    assert {p["field"] for p in problems} == {
        "thresholds.act_min_confidence",
        "intents.reschedule_booking.operations[0]",
    }
    assert all(isinstance(p["line"], int) for p in problems)


def test_check_of_the_shipped_files_passes() -> None:
    for file in (ROUTING_POLICY_FILE, PARTNER_POLICY_FILE):
        result = runner.invoke(app, ["policy", "check", str(file)])
        assert result.exit_code == 0, result.output
        assert "valid" in result.output


def test_check_of_a_missing_file_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read" in result.output and "Traceback" not in result.output


def test_an_owner_without_a_channel_is_a_problem() -> None:
    text = SHIPPED.replace(
        '  risk:       {team: Risk and fraud, slack_channel: "#risk", ', "  risk:       {team: Risk and fraud, ", 1
    )
    assert "owners.risk: owner 'risk' has no slack_channel: nobody would be told" in messages(text)


def test_a_rule_that_does_nothing_is_a_problem() -> None:
    text = SHIPPED.replace(
        "    review: true\n    reason: High loyalty tier customer", "    reason: High loyalty tier customer", 1
    )
    assert any(m.startswith("rules[3]: does nothing") for m in messages(text))


def test_a_rule_whose_intents_and_kinds_never_meet_is_unreachable() -> None:
    text = SHIPPED.replace(
        "when: {intents: [damaged_item, missing_item, return_request]}",
        "when: {intents: [damaged_item, missing_item, return_request], kinds: [billing]}",
        1,
    )
    assert any(m.startswith("rules[9].when: unreachable") for m in messages(text))


def test_a_min_amount_above_the_high_value_threshold_with_high_value_false_is_unreachable() -> None:
    text = SHIPPED.replace("when: {high_value: true}", "when: {high_value: false, min_amount: 5000}", 1)
    assert any("rules[4].when.min_amount: unreachable" in m for m in messages(text))


def test_an_owner_rule_shadowed_by_an_earlier_identical_rule_is_unreachable() -> None:
    extra = (
        "  - name: claims-again\n"
        "    when: {intents: [damaged_item, missing_item, return_request]}\n"
        "    owner: support\n"
        "    reason: never wins\n"
    )
    text = SHIPPED.replace("  - name: money-needs-finance\n", extra + "  - name: money-needs-finance\n", 1)
    assert any(m.startswith("rules[10].owner: unreachable: rule 'claims-own-exceptions'") for m in messages(text))


def test_a_partner_file_is_recognised_by_its_sections() -> None:
    assert policy_ops.kind_of(PARTNER_POLICY_FILE.read_text(encoding="utf-8")) == "partners"
    assert policy_ops.kind_of(SHIPPED) == "routing"


# -- diff -------------------------------------------------------------------------------------------
def test_diff_names_each_changed_rule_owner_and_threshold() -> None:
    before = yaml.safe_load(SHIPPED)
    after = yaml.safe_load(
        SHIPPED.replace("act_min_confidence: 0.85", "act_min_confidence: 0.9", 1).replace(
            "  - name: urgent-travel\n", "  - name: urgent-travel-renamed\n", 1
        )
    )
    after["owners"]["support"]["slack_channel"] = "#help"
    lines = [c.line() for c in policy_ops.diff(before, after)]
    assert lines[0].startswith("~ owners.support: {") and '"#help"' in lines[0]
    assert lines[1] == "~ thresholds.act_min_confidence: 0.85 -> 0.9"
    assert lines[2].startswith("- rules.urgent-travel: ")
    assert lines[3].startswith("+ rules.urgent-travel-renamed: ")
    assert len(lines) == 4


def test_diff_of_identical_documents_is_empty() -> None:
    document = yaml.safe_load(SHIPPED)
    assert policy_ops.diff(document, json.loads(json.dumps(document))) == []


# -- schema in the template ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["routing", "partners"])
def test_the_template_validators_hold_the_schema_generated_from_the_models(kind: policy_schema.Kind) -> None:
    held = policy_schema.template_schema(TEMPLATE.read_text(encoding="utf-8"), kind)
    assert held == policy_schema.compact_schema(kind), (
        f"template.yaml's {kind} schema is stale: run `handoff policy schema --write-template`"
    )


@pytest.mark.parametrize("file", [ROUTING_POLICY_FILE, PARTNER_POLICY_FILE])
def test_what_push_stores_passes_the_json_schema_validator(file: Path) -> None:
    kind = policy_ops.kind_of(file.read_text(encoding="utf-8"))
    document = json.loads(policy_ops.content_for(file))
    jsonschema.validate(document, json.loads(policy_schema.compact_schema(kind)))  # type: ignore[arg-type]


def test_the_json_schema_refuses_a_wrong_shape() -> None:
    document = yaml.safe_load(SHIPPED)
    document["thresholds"]["act_min_confidence"] = "high"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, json.loads(policy_schema.compact_schema("routing")))


def test_the_functions_read_the_application_environment_and_profiles_the_template_creates() -> None:
    body = load_template(TEMPLATE)
    resources = body["Resources"]
    profiles = {resources[k]["Properties"]["Name"] for k in ("RoutingPolicyProfile", "PartnerPolicyProfile")}
    assert resources["PolicyApplication"]["Properties"]["Name"] == {"Fn::Sub": "handoff-${Stage}"}
    assert resources["PolicyEnvironment"]["Properties"]["Name"] == {"Ref": "Stage"}
    for name in ("RouteFunction", "NotifyFunction", "CustomerSyncFunction", "ReviewFunction"):
        env = resources[name]["Properties"]["Environment"]["Variables"]
        assert env["HANDOFF_POLICY_APPLICATION"] == {"Fn::Sub": "handoff-${Stage}"}
        assert env["HANDOFF_POLICY_ENVIRONMENT"] == {"Ref": "Stage"}
        assert {env["HANDOFF_ROUTING_POLICY_PROFILE"], env["HANDOFF_PARTNER_POLICY_PROFILE"]} == profiles
        statements = resources[name]["Properties"]["Policies"][0]["Statement"]
        actions = [a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
        assert {"appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"} <= set(actions)


def test_no_policy_file_is_packaged_in_the_layer() -> None:
    """A stale packaged copy would act on rules nobody deployed: functions read AppConfig or fall back to review."""
    assert not list((PROJECT_ROOT / "layers").rglob("*.yaml"))


def test_the_policy_reference_is_generated_from_the_current_models() -> None:
    from handoff_dev.policy_reference import REFERENCE_FILE, render

    assert REFERENCE_FILE.read_text(encoding="utf-8") == render(), (
        "docs/policy-reference.md is stale: run `python -m handoff_dev.policy_reference`"
    )


def test_the_reference_documents_every_key_of_every_policy_model() -> None:
    from handoff.partners.reservation_events import PartnerPolicy
    from handoff.route.policy import Policy
    from handoff_dev.policy_reference import render

    text = render()
    for model in (Policy, PartnerPolicy):
        for name in model.model_fields:
            assert f"| `{name}` |" in text, name
    assert "| `act_min_confidence` | float (>= 0.0, <= 1.0) | required |" in text
