"""The call mix's paths are walked from the state machine definition, and priced path by path."""

from __future__ import annotations

import pytest

from handoff_dev import cost
from handoff_dev.bench import paths


def _path(name: str) -> paths.PathFigures:
    return next(f for f in paths.figures() if f.name == name)


def test_the_mix_covers_every_path_and_its_shares_add_up_to_one() -> None:
    assert sum(p.share for p in paths.MIX) == pytest.approx(1.0)
    assert {"acted", "nothing to do", "review approved", "review rejected", "review timed out"} <= {
        p.name for p in paths.MIX
    }
    assert any("analysis wait" in p.name for p in paths.MIX)


def test_every_path_ends_in_a_terminal_state() -> None:
    states = paths.definition()["States"]
    for figures in paths.figures():
        last = states[figures.states[-1]]
        assert last.get("End") or last["Type"] in ("Succeed", "Fail"), figures.name


@pytest.mark.parametrize(
    ("name", "states"),
    [
        ("acted", ["Resume", "Match", "Route", "ChooseMode", "Act"]),
        ("acted after the analysis wait", ["Resume", "AwaitAnalysis", "Match", "Route", "ChooseMode", "Act"]),
        ("nothing to do", ["Resume", "Match", "Route", "ChooseMode", "NothingToDo"]),
        ("review approved", ["Resume", "Match", "Route", "ChooseMode", "RequestReview", "Act"]),
        ("review rejected", ["Resume", "Match", "Route", "ChooseMode", "RequestReview", "Rejected"]),
    ],
)
def test_a_successful_path_ends_on_its_last_real_step(name: str, states: list[str]) -> None:
    assert _path(name).states == states


def test_no_state_only_publishes_or_only_succeeds_on_a_successful_path() -> None:
    definition = paths.definition()["States"]
    assert not [n for n, s in definition.items() if s["Type"] == "Succeed"]
    for figures in paths.figures():
        if figures.states[-1] != "CallFailed":
            assert not [s for s in figures.states if s.startswith("Publish")], figures.name


def test_an_acted_call_enters_match_route_act_and_publishes_once() -> None:
    acted = _path("acted")
    assert [f for f in acted.lambdas if f != "PublishFunction"] == ["MatchFunction", "RouteFunction", "ActFunction"]
    assert acted.events == 1
    assert "AwaitAnalysis" not in acted.states
    assert "AwaitAnalysis" in _path("acted after the analysis wait").states


def test_a_review_that_times_out_is_escalated_and_recorded_as_failed() -> None:
    timed_out = _path("review timed out")
    assert {"RequestReview", "ExpireReview", "PublishEscalated", "DeadLetter"} <= set(timed_out.states)
    assert timed_out.states[-1] == "CallFailed"
    assert timed_out.transitions > _path("review approved").transitions > _path("acted").transitions


def test_the_walk_refuses_a_loop() -> None:
    asl = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}
    with pytest.raises(ValueError, match="loops"):
        paths.states_entered({}, asl)


def test_lambda_invocations_per_call_follow_the_mix() -> None:
    mix = paths.figures()
    invocations = paths.lambda_invocations(mix)
    assert invocations["MatchFunction"] == pytest.approx(1.0)
    acting = sum(f.share for f in mix if "ActFunction" in f.lambdas)
    assert invocations["ActFunction"] == pytest.approx(acting)


PROFILE = cost.CallProfile(
    functions={"ActFunction": cost.FunctionUse(0.5, 10, 100), "IngestFunction": cost.FunctionUse(1, 5, 10)},
    transitions=8,
    ddb_writes=4,
    ddb_reads=1,
    call_record_kb=1,
    eventbridge_events=1,
    sqs_requests=0,
    http_api_requests=1,
    secrets_calls=0,
    traces=0,
    init_ms={"ActFunction": 400.0, "IngestFunction": 300.0},
    cold_start_share=0.1,
    paths={
        "short": {"share": 0.5, "transitions": 7, "lambda_invocations": [], "events": 1},
        "long": {"share": 0.5, "transitions": 10, "lambda_invocations": ["ActFunction"], "events": 1},
    },
)


def test_cold_starts_bill_their_init_duration() -> None:
    line = next(x for x in cost.call_cost(PROFILE).lines if x.item == "Lambda init (cold starts)")
    assert line.quantity == pytest.approx((0.5 * 0.1 * 0.4 + 1 * 0.1 * 0.3) * 0.25)


def test_each_path_is_priced_with_its_own_states_and_lambdas() -> None:
    priced = cost.path_costs(PROFILE)
    assert priced["long"] - priced["short"] > 3 * 0.025  # three more transitions per call, per 1,000 calls
