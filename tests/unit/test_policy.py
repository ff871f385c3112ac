"""The policy file: the shipped one is valid, and a bad one fails naming the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from handoff.route.policy import PolicyError, load_policy, parse_policy
from handoff_dev.policy_files import ROUTING_POLICY_FILE as POLICY_PATH
from handoff_dev.policy_files import shipped_policy as default_policy

SHIPPED = POLICY_PATH.read_text(encoding="utf-8")
SAMPLE_INTENTS = ("reschedule_booking", "billing_dispute", "damaged_item", "product_inquiry", "other", "booking")


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def broken(old: str, new: str) -> str:
    assert old in SHIPPED, old
    return SHIPPED.replace(old, new, 1)


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return [(p.line, p.field, p.message) for p in caught.value.problems]


def test_the_shipped_policy_is_valid_and_versioned() -> None:
    policy = load_policy(POLICY_PATH)
    assert policy.version == yaml.safe_load(SHIPPED)["version"]


@pytest.mark.parametrize("intent", SAMPLE_INTENTS)
def test_every_intent_in_the_sample_bodies_is_mapped(intent: str) -> None:
    canonical, _ = default_policy().resolve_intent(intent)
    assert canonical is not None


def test_intent_aliases_are_case_and_separator_insensitive() -> None:
    assert default_policy().resolve_intent("Wrong Product") == ("damaged_item", "wrong_product")
    assert default_policy().resolve_intent("teleport") == (None, "teleport")


def test_an_out_of_range_threshold_names_its_line_and_field() -> None:
    text = broken("act_min_confidence: 0.85", "act_min_confidence: 1.5")
    [(line, field, message)] = problems(text)
    assert (line, field) == (line_of(text, "act_min_confidence: 1.5"), "thresholds.act_min_confidence")
    assert "less than or equal to 1" in message


def test_an_unknown_operation_names_the_list_item() -> None:
    text = broken("operations: [planyo.modify_reservation,", "operations: [planyo.teleport,")
    [(line, field, message)] = problems(text)
    assert field == "intents.reschedule_booking.operations[0]"
    assert line == line_of(text, "planyo.teleport")
    assert "unknown operation 'teleport'" in message


def test_an_unknown_owner_is_a_cross_reference_error_with_its_line() -> None:
    text = broken(
        "    owner: claims\n    next_step: Ask for photos", "    owner: claimz\n    next_step: Ask for photos"
    )
    [(line, field, message)] = problems(text)
    assert field == "intents.damaged_item.owner"
    assert line == line_of(text, "owner: claimz")
    assert "unknown owner 'claimz'" in message


def test_a_misspelled_key_is_rejected() -> None:
    text = broken(
        "    needs_buying_intent: true\n    new_caller_operations: [billit",
        "    needs_buying_intnt: true\n    new_caller_operations: [billit",
    )
    [(line, field, message)] = problems(text)
    assert field == "intents.product_inquiry.needs_buying_intnt"
    assert line == line_of(text, "needs_buying_intnt")
    assert "Extra inputs are not permitted" in message


def test_an_unknown_flag_in_a_rule_is_rejected() -> None:
    text = broken("when: {flags_any: [urgent_travel]}", "when: {flags_any: [urgent_travle]}")
    [(line, field, message)] = problems(text)
    assert field.startswith("rules[") and field.endswith("when.flags_any[0]")
    assert line == line_of(text, "urgent_travle")
    assert "unknown flag" in message


def test_an_alias_claimed_twice_is_rejected() -> None:
    text = broken("aliases: [package_inquiry,", "aliases: [wismo,")
    found = problems(text)
    assert any(field.startswith("intents.") and "already belongs" in message for _, field, message in found)


def test_a_duplicate_key_is_rejected_with_its_line() -> None:
    text = SHIPPED.replace("defaults:\n", "defaults:\n  owner: sales\n", 1)
    [(line, field, message)] = problems(text)
    assert (field, message) == ("defaults.owner", "duplicate key")
    assert line == line_of(text, "owner: support") and line > line_of(text, "owner: sales")


def test_yaml_syntax_errors_name_the_line() -> None:
    text = SHIPPED.replace("version:", "version: [", 1)
    [(line, _, message)] = problems(text)
    assert line is not None and message.startswith("YAML syntax")


def test_a_bad_version_is_rejected() -> None:
    text = broken('version: "', 'version: "v')
    [(line, field, _)] = problems(text)
    assert (line, field) == (line_of(text, "version:"), "version")


def test_the_error_message_renders_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(broken("high_value_amount: 1000", "high_value_amount: -5"), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert f"policy.yaml:{line_of(path.read_text(), 'high_value_amount')}: thresholds.high_value_amount:" in str(
        caught.value
    )


def test_an_empty_file_is_rejected() -> None:
    assert problems("") == [(1, "", "the policy must be a YAML mapping")]
