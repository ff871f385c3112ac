"""The embedded stack reads the template's conditions as CloudFormation does: Fn::If, AWS::NoValue, Equals/Not."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff_dev.embedded.template import Template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def _reserved(overrides: dict[str, str] | None = None) -> object:
    template = Template.load(TEMPLATE, overrides=overrides)
    return template.resolve(template.resources["NotifyFunction"]["Properties"]["ReservedConcurrentExecutions"])


def test_notify_is_unreserved_by_default_so_a_new_account_can_deploy() -> None:
    assert _reserved() is None


def test_notify_reserves_the_concurrency_the_parameter_names() -> None:
    assert str(_reserved({"NotifyReservedConcurrency": "5"})) == "5"


@pytest.mark.parametrize(("value", "holds"), [("true", True), ("false", False)])
def test_a_condition_follows_its_parameter(value: str, holds: bool) -> None:
    template = Template.load(TEMPLATE, overrides={"FixedOutboundAddress": value})
    assert template.condition("UseFixedOutboundAddress") is holds


def test_an_unknown_condition_is_named() -> None:
    with pytest.raises(KeyError, match="NoSuchCondition"):
        Template.load(TEMPLATE).condition("NoSuchCondition")
