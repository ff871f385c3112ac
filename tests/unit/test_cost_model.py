"""The cost model: per-call lines from a call profile, monthly totals, and the hosted comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handoff_dev import cost

PROFILE = cost.CallProfile(
    functions={"IngestFunction": cost.FunctionUse(invocations=1, cpu_ms=10, wait_ms=30)},
    transitions=8,
    ddb_writes=4,
    ddb_reads=2,
    call_record_kb=1.5,
    eventbridge_events=1,
    sqs_requests=0,
    http_api_requests=1,
    secrets_calls=0,
    traces=0,
    log_kb=0,
)


def _line(name: str) -> cost.CostLine:
    return next(line for line in cost.call_cost(PROFILE).lines if line.item == name)


def test_step_functions_is_transitions_times_the_list_price() -> None:
    assert _line("Step Functions").usd == pytest.approx(8 * 0.025 / 1000)


def test_lambda_bills_cpu_on_the_memory_share_of_a_vcpu_plus_waiting_in_whole_ms() -> None:
    billed_ms = cost.lambda_billed_ms(PROFILE.functions["IngestFunction"], PROFILE.cpu_scale)
    assert billed_ms == float(int(10 * 1769 / 256 + 30) + 1)
    assert _line("Lambda compute").quantity == pytest.approx(0.25 * billed_ms / 1000)


def test_dynamodb_writes_are_billed_per_started_kilobyte_of_the_item() -> None:
    assert _line("DynamoDB writes").quantity == 4 * 2


def test_the_monthly_estimate_adds_the_fixed_secrets_and_alarms() -> None:
    estimate = cost.estimate(10_000, PROFILE)
    assert estimate.handoff_monthly == pytest.approx(
        cost.call_cost(PROFILE).per_call * 10_000 + cost.SECRETS_IN_TEMPLATE * 0.40 + cost.ALARMS_IN_TEMPLATE * 0.10
    )


def test_a_hosted_plan_is_bought_in_whole_blocks_of_its_included_units() -> None:
    zapier = next(p for p in cost.HOSTED_PLANS if p.vendor == "Zapier")
    assert cost.hosted_monthly(zapier, 150) == zapier.monthly_usd  # 750 tasks: one block
    assert cost.hosted_monthly(zapier, 151) == 2 * zapier.monthly_usd


def test_negative_volume_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        cost.estimate(-1)


@pytest.mark.parametrize("content", ["not json", "[]", '{"cost_per_1000_calls_usd": {"inputs": {"profile": 3}}}'])
def test_an_unusable_results_file_falls_back_to_the_built_in_profile(tmp_path: Path, content: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(content)
    assert cost.load_profile(path) is cost.DEFAULT_PROFILE


def test_a_measured_profile_is_read_back_from_the_results_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"cost_per_1000_calls_usd": {"inputs": {"profile": PROFILE.as_dict()}}}))
    assert cost.load_profile(path) == PROFILE


def test_measured_write_units_replace_the_every_write_on_the_record_estimate() -> None:
    import dataclasses

    measured = dataclasses.replace(PROFILE, ddb_write_units=5.5)
    line = next(x for x in cost.call_cost(measured).lines if x.item == "DynamoDB writes")
    assert line.quantity == 5.5
