"""Typed actions: every operation act performs has a params model, and the policy is checked against them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from handoff.act.operations import OPERATIONS as PERFORMED
from handoff.act.params import OPERATION_PARAMS, retarget, validate_params
from handoff.models import Action, Candidate, RecordKind, Tool
from handoff.route.policy import PolicyError, parse_policy


def _policy_text() -> str:
    from handoff_dev.policy_files import ROUTING_POLICY_FILE

    return ROUTING_POLICY_FILE.read_text(encoding="utf-8")


def _action(**params: object) -> Action:
    return Action(tool=Tool.PLANYO, operation="modify_reservation", target="48213", params=dict(params))


def test_every_operation_act_performs_has_a_params_model_and_nothing_else_does() -> None:
    assert set(OPERATION_PARAMS) == set(PERFORMED)


def test_a_missing_required_param_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_params(_action(reservation_id="48213"))
    assert [e["loc"] for e in caught.value.errors()] == [("new_start",)]


def test_retarget_moves_the_target_and_the_record_param_together() -> None:
    moved = retarget(_action(reservation_id="48213", new_start="2025-06-14T13:00"), "48377")
    assert (moved.target, moved.params["reservation_id"], moved.key) == (
        "48377",
        "48377",
        "planyo:modify_reservation:48377",
    )


def test_retarget_refuses_a_candidate_from_another_tool() -> None:
    other = Candidate(tool=Tool.BOOKINGMOOD, kind=RecordKind.BOOKING, record_id="BK-1", confidence=0.9)
    with pytest.raises(ValueError, match="bookingmood record cannot be the target"):
        retarget(_action(reservation_id="48213", new_start="2025-06-14"), other)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_an_unknown_operation_is_a_policy_error_with_its_line() -> None:
    text = _policy_text().replace("[plisio.get_invoice]", "[plisio.refund_everything]", 1)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    [problem] = caught.value.problems
    assert problem.line == _line_of(text, "plisio.refund_everything") and "unknown operation" in problem.message


def test_an_operation_in_a_tool_act_never_changes_is_a_policy_error_naming_the_rule_and_operation() -> None:
    """Slack is only told (by notify): ``slack.post_message`` as an action is refused at load, not at act time.

    ``handoff policy check/push``, AppConfig's validator (``validate_version``) and the loader all
    parse through ``parse_policy``/``parse_kind``, so this one check refuses it on every path.
    """
    from handoff.policy_source import parse_kind

    text = _policy_text().replace("[plisio.get_invoice]", "[slack.post_message]", 1)
    for parse in (parse_policy, lambda t: parse_kind("routing", t, "routing version 7")):
        with pytest.raises(PolicyError) as caught:
            parse(text)
        [problem] = caught.value.problems
        assert problem.line == _line_of(text, "slack.post_message")
        assert problem.field.startswith("intents.") and problem.field.endswith(".operations[0]")
        assert "act performs no operation in slack" in problem.message and "slack.post_message" in problem.message


def test_an_operation_whose_required_param_the_intent_does_not_establish_is_a_policy_error() -> None:
    text = _policy_text().replace('    requires: ["requested_date|appointment_date|new_date"]\n', "", 1)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    lines = {p.line for p in caught.value.problems}
    assert lines == {_line_of(text, "operations: [planyo.modify_reservation")}
    assert all("needs" in p.message and "requires" in p.message for p in caught.value.problems)
