"""The template publishes the contract: registry copies of the schemas, an archive of typed events only,
Publish states that never send the state document, and an optional signal subscriber that is off by default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from handoff.events.contract import DETAIL_TYPES, EVENT_MODELS
from handoff.events.schema import compact_schema
from handoff_dev.embedded.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
ASL = json.loads((ROOT / "statemachine" / "handoff.asl.json").read_text())


def test_the_registry_holds_every_schema_exactly_as_the_models_generate_it() -> None:
    """Run `handoff events schema --write` after changing a model."""
    schemas = {
        r["Properties"]["SchemaName"]: r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::EventSchemas::Schema"
    }
    assert set(schemas) == {f"handoff@{m.schema_name}" for m in EVENT_MODELS}
    for model in EVENT_MODELS:
        props = schemas[f"handoff@{model.schema_name}"]
        assert props["Type"] == "JSONSchemaDraft4"
        assert props["RegistryName"] == {"Fn::GetAtt": ["EventSchemaRegistry", "RegistryName"]}
        assert props["Content"] == compact_schema(model.detail_type), f"{model.detail_type}: stale in template.yaml"


def test_the_archive_keeps_only_the_contract() -> None:
    pattern = RESOURCES["EventArchive"]["Properties"]["EventPattern"]
    assert pattern["source"] == ["handoff"]
    assert sorted(pattern["detail-type"]) == sorted(DETAIL_TYPES)


def _publish_states() -> dict[str, Any]:
    return {
        n: s
        for n, s in ASL["States"].items()
        if s["Type"] == "Task" and (s.get("Parameters") or {}).get("FunctionName") == "${PublishFunctionArn}"
    }


SELF_PUBLISHED = {("Act", "act"): "call.handed_off", ("RequestReview", "request_review"): "call.review_requested"}
"""The steps that publish their own outcome (the lean state machine has no Publish state after them)."""


def test_no_state_puts_the_state_document_on_the_bus() -> None:
    text = json.dumps(ASL)
    assert "events:putEvents" not in text
    assert '"Detail.$"' not in text
    publishes = _publish_states()
    assert set(publishes) == {"NothingToDo", "Rejected", "PublishEscalated", "PublishFailed"}
    for name, state in publishes.items():
        assert state["Resource"] == "arn:aws:states:::lambda:invoke", name
        assert state["Parameters"]["FunctionName"] == "${PublishFunctionArn}"
        assert state["Parameters"]["Payload"]["detail_type"] in DETAIL_TYPES
        assert state["ResultPath"] is None, f"{name} must pass the state on unchanged"


def test_every_outcome_is_published_by_a_publish_state_or_by_the_step_that_ends_the_path() -> None:
    by_states = {s["Parameters"]["Payload"]["detail_type"] for s in _publish_states().values()}
    for (state, code), detail_type in SELF_PUBLISHED.items():
        assert ASL["States"][state]["Parameters"]["FunctionName"] == f"${{{state}FunctionArn}}"
        handler = ROOT / "functions" / code / "app.py"
        assert f'"{detail_type}"' in handler.read_text(), f"{state} must publish {detail_type}"
        assert RESOURCES[f"{state}Function"]["Properties"]["Environment"]["Variables"]["HANDOFF_EVENT_BUS"]
    assert by_states | set(SELF_PUBLISHED.values()) == set(DETAIL_TYPES) - {"partner.routed", "call.lifecycle_signal"}


def test_the_signal_subscriber_is_optional_off_by_default_with_its_own_dlq_and_retention() -> None:
    assert TEMPLATE["Parameters"]["LifecycleSignalQueue"]["Default"] == "disabled"
    optional = [k for k, r in RESOURCES.items() if r.get("Condition") == "LifecycleSignalQueueEnabled"]
    assert set(optional) == {
        "LifecycleSignalQueueResource",
        "LifecycleSignalDlq",
        "LifecycleSignalQueuePolicy",
        "LifecycleSignalRule",
    }
    queue = RESOURCES["LifecycleSignalQueueResource"]["Properties"]
    assert queue["MessageRetentionPeriod"] == 4 * 86400
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["LifecycleSignalDlq", "Arn"]}
    rule = RESOURCES["LifecycleSignalRule"]["Properties"]
    assert rule["EventPattern"] == {"source": ["handoff"], "detail-type": ["call.lifecycle_signal"]}
    (target,) = rule["Targets"]
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["LifecycleSignalDlq", "Arn"]}


def test_the_publish_function_may_only_put_events_update_the_call_record_and_read_the_policy() -> None:
    statements = RESOURCES["PublishFunction"]["Properties"]["Policies"][0]["Statement"]
    assert sorted(str(s["Action"]) for s in statements) == [
        "['appconfig:StartConfigurationSession', 'appconfig:GetLatestConfiguration']",
        "dynamodb:UpdateItem",
        "events:PutEvents",
    ]


def test_the_state_machine_may_no_longer_put_events_itself() -> None:
    policies = RESOURCES["HandoffStateMachine"]["Properties"]["Policies"]
    assert not any("EventBridgePutEventsPolicy" in p for p in policies if isinstance(p, dict))
    assert {"LambdaInvokePolicy": {"FunctionName": {"Ref": "PublishFunction"}}} in policies


def test_what_a_publish_state_sends_is_what_the_publish_function_accepts() -> None:
    from handoff.events.publish import PublishRequest

    for state in _publish_states().values():
        payload = state["Parameters"]["Payload"]
        assert set(payload) == {"detail_type", "state.$"} and payload["state.$"] == "$"
        PublishRequest.model_validate({"detail_type": payload["detail_type"], "state": {"call": {}}})
