"""Every failure reaches a person: read from the template and the state machine definition.

Issue 12: four Publish states had Retry but no Catch, RequestReview had no Retry and
no alarm had an action, so a failure after the actions ran paged nobody.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handoff_dev.embedded.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
DEFINITION = json.loads((ROOT / "statemachine" / "handoff.asl.json").read_text(encoding="utf-8"))
STATES: dict[str, Any] = DEFINITION["States"]
TASKS = {name: state for name, state in STATES.items() if state["Type"] == "Task"}
ALARMS = {name: r for name, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def _reaches(start: str, goal: str) -> bool:
    """Whether ``goal`` is reachable from ``start`` through Next, Choices, Default and Catch."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name == goal:
            return True
        if name in seen or name not in STATES:
            continue
        seen.add(name)
        state = STATES[name]
        todo += [state[k] for k in ("Next", "Default") if k in state]
        todo += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
    return False


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_retries_and_catches_everything(name: str) -> None:
    state = TASKS[name]
    assert state.get("Retry"), f"{name} has no Retry"
    caught = [error for c in state.get("Catch", []) for error in c["ErrorEquals"]]
    assert "States.ALL" in caught, f"{name} has no Catch for States.ALL"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_catch_of_a_task_leads_to_the_dead_letter_path_or_an_outcome(name: str) -> None:
    for catch in TASKS[name]["Catch"]:
        target = catch["Next"]
        assert _reaches(target, "CallFailed") or STATES[target]["Type"] == "Task", (name, target)


def test_the_dead_letter_path_ends_in_a_failed_execution_even_when_the_queue_refuses() -> None:
    assert TASKS["DeadLetter"]["Catch"][0]["Next"] == "RecordFailure"
    assert _reaches("RecordFailure", "CallFailed") and STATES["CallFailed"]["Type"] == "Fail"
    failed = TEMPLATE["Resources"]["FailedExecutionsAlarm"]["Properties"]
    assert failed["MetricName"] == "ExecutionsFailed"  # a failed execution pages someone


@pytest.mark.parametrize("name", ["Act", "RequestReview", "NothingToDo", "Rejected"])
def test_an_outcome_that_cannot_be_published_is_dead_lettered(name: str) -> None:
    assert _reaches(TASKS[name]["Catch"][0]["Next"], "DeadLetter")


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_every_alarm_pages_the_alarm_topic(name: str) -> None:
    assert ALARMS[name]["Properties"].get("AlarmActions") == [{"Ref": "AlarmTopic"}], name


def test_the_alarm_topic_mails_the_address_from_the_template_parameter() -> None:
    resources = TEMPLATE["Resources"]
    subscription = resources["AlarmEmailSubscription"]
    assert resources["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


def test_undelivered_notifications_and_sweep_errors_have_alarms() -> None:
    dimensions = {
        name: a["Properties"]["Dimensions"][0]["Value"]
        for name, a in ALARMS.items()
        if a["Properties"].get("Dimensions")
    }
    assert {"Fn::GetAtt": ["EventDeliveryDeadLetterQueue", "QueueName"]} in dimensions.values()
    assert dimensions["SweepErrorsAlarm"] == {"Ref": "IngestFunction"}


def test_every_function_logs_to_a_log_group_with_a_retention() -> None:
    resources = TEMPLATE["Resources"]
    functions = [n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for name in functions:
        group = resources[name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    params = TEMPLATE["Parameters"]
    assert params["LogRetentionDays"]["Default"] == params["CallRetentionDays"]["Default"]


def test_nothing_outlives_the_call_record() -> None:
    resources = TEMPLATE["Resources"]
    record_days = TEMPLATE["Parameters"]["CallRetentionDays"]["MinValue"]
    for name, resource in resources.items():
        if resource["Type"] == "AWS::SQS::Queue":
            assert resource["Properties"]["MessageRetentionPeriod"] <= record_days * 86400, name
    assert resources["EventArchive"]["Properties"]["RetentionDays"] == {"Ref": "CallRetentionDays"}


def test_the_cost_model_counts_the_alarms_and_secrets_the_template_has() -> None:
    from handoff_dev import cost

    kinds = [r["Type"] for r in TEMPLATE["Resources"].values()]
    assert kinds.count("AWS::CloudWatch::Alarm") == cost.ALARMS_IN_TEMPLATE
    assert kinds.count("AWS::SecretsManager::Secret") == cost.SECRETS_IN_TEMPLATE
