"""The live policy: read through Powertools' AppConfig provider; safe when it cannot be read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from handoff import policy_source
from handoff.events.view import OutcomeView
from handoff.models import CallEnvelope, CallSummary, Mode, OutcomeKind
from handoff.policy_source import PolicyUnavailable, partner_policy, review_without_policy, routing_policy
from handoff_dev.policy_files import PARTNER_POLICY_FILE, ROUTING_POLICY_FILE, shipped_partner_policy, shipped_policy

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
ROUTING_VERSION, PARTNER_VERSION = shipped_policy().version, shipped_partner_policy().version
ROUTING_JSON = json.dumps(yaml.safe_load(ROUTING_POLICY_FILE.read_text(encoding="utf-8"))).encode()
PARTNER_JSON = json.dumps(yaml.safe_load(PARTNER_POLICY_FILE.read_text(encoding="utf-8"))).encode()


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The environment the template gives a function, and a fake AppConfig behind Powertools."""
    for key, value in {
        policy_source.APPLICATION_ENV: "handoff-test",
        policy_source.ENVIRONMENT_ENV: "test",
        policy_source.ROUTING_PROFILE_ENV: "routing",
        policy_source.PARTNER_PROFILE_ENV: "partners",
        policy_source.MAX_AGE_ENV: "60",
        policy_source.DEFAULT_CHANNEL_ENV: "#fallback",
    }.items():
        monkeypatch.setenv(key, value)
    served: dict[str, Any] = {"routing": ROUTING_JSON, "partners": PARTNER_JSON, "calls": []}

    def get_app_config(name: str, environment: str, application: str, max_age: int) -> bytes:
        served["calls"].append((name, environment, application, max_age))
        value = served[name]
        if isinstance(value, Exception):
            raise value
        return bytes(value)

    from aws_lambda_powertools.utilities import parameters

    monkeypatch.setattr(parameters, "get_app_config", get_app_config)
    return served


def test_the_live_policies_are_read_through_the_powertools_provider_with_the_template_ids(
    configured: dict[str, Any],
) -> None:
    assert routing_policy().version == ROUTING_VERSION
    assert partner_policy().version == PARTNER_VERSION
    assert configured["calls"] == [("routing", "test", "handoff-test", 60), ("partners", "test", "handoff-test", 60)]


def test_a_new_deployed_version_is_used_on_the_next_read(configured: dict[str, Any]) -> None:
    assert routing_policy().thresholds.act_min_confidence == 0.85
    changed = json.loads(ROUTING_JSON)
    changed["version"], changed["thresholds"]["act_min_confidence"] = "2025-06-12.9", 0.95
    configured["routing"] = json.dumps(changed).encode()
    assert routing_policy().thresholds.act_min_confidence == 0.95


@pytest.mark.parametrize(
    ("served", "reason"),
    [
        (RuntimeError("endpoint unreachable"), "cannot read it from AppConfig"),
        (b"", "no deployed version"),
        (json.dumps({"version": "2025-01-01"}).encode(), "does not validate"),
    ],
)
def test_an_unreadable_policy_raises_policy_unavailable_with_the_reason(
    configured: dict[str, Any], served: Any, reason: str
) -> None:
    configured["routing"] = served
    with pytest.raises(PolicyUnavailable, match=reason):
        routing_policy()


def test_unconfigured_means_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(policy_source.APPLICATION_ENV, raising=False)
    with pytest.raises(PolicyUnavailable, match="not configured"):
        routing_policy()


def test_without_a_policy_route_sends_the_call_to_review_and_never_acts(configured: dict[str, Any]) -> None:
    from handoff.route.service import run

    configured["routing"] = RuntimeError("AppConfig down")
    state = CallEnvelope(call=CallSummary(call_id="call_x", event="call.ended", summary="Move my booking"))
    decision = run(state).model_dump(mode="json")["decision"]
    assert decision["mode"] == Mode.REVIEW.value
    assert decision["actions"] == []
    assert decision["rules_fired"] == ["safe-default:policy-unavailable"]
    assert decision["policy_version"] == "unavailable"
    assert decision["owner"]["slack_channel"] == "#fallback"
    assert "AppConfig down" in decision["reasons"][0]


def test_route_names_the_version_it_decided_with(configured: dict[str, Any]) -> None:
    from handoff.route.service import run

    state = CallEnvelope(call=CallSummary(call_id="call_y", event="call.ended", analysis={"intent": "teleport"}))
    decision = run(state).model_dump(mode="json")["decision"]
    assert decision["policy_version"] == decision["handoff"]["policy_version"] == ROUTING_VERSION


class Views:
    """The call record's outcome views, in memory."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], OutcomeView] = {}

    def save(self, call_id: str, detail_type: str, view: OutcomeView) -> None:
        self.kept[(call_id, detail_type)] = view

    def load(self, call_id: str, detail_type: str) -> OutcomeView | None:
        return self.kept.get((call_id, detail_type))


class Bus:
    """What was put on the bus, in memory."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def publish(self, entries: Sequence[dict[str, Any]]) -> None:
        self.entries.extend(entries)


def test_without_a_policy_notify_still_reaches_the_default_channel(configured: dict[str, Any]) -> None:
    from handoff.events.publish import publish_outcome, readable_policy
    from handoff.notify.deliver import notice_for
    from handoff.notify.message import slack_message

    configured["routing"] = RuntimeError("AppConfig down")
    state = CallEnvelope(call=CallSummary(call_id="call_z", event="call.ended")).model_dump(mode="json")
    for outcome in (OutcomeKind.FAILED, OutcomeKind.ESCALATED):
        views, bus = Views(), Bus()
        publish_outcome(outcome.value, state, publisher=bus, views=views, policy=readable_policy())
        [event] = bus.entries
        notice = notice_for(outcome, json.loads(event["Detail"]), views=views)
        assert slack_message(notice).channel == "#fallback"


def test_without_a_policy_the_outcome_is_still_published_but_no_lifecycle_signal(
    configured: dict[str, Any],
) -> None:
    from handoff.events.publish import publish_outcome, readable_policy

    state = json.loads((EVENTS_DIR / "publish" / "publish-handed-off.json").read_text())["state"]
    live = json.loads(ROUTING_JSON)  # a live policy under which this reschedule call produces a signal
    live["signals"]["follow_up_need"]["intents"].append(state["decision"]["intent"])
    configured["routing"] = json.dumps(live).encode()
    with_policy, without = Bus(), Bus()
    publish_outcome("call.handed_off", state, publisher=with_policy, views=Views(), policy=readable_policy())
    configured["routing"] = RuntimeError("AppConfig down")
    published = publish_outcome("call.handed_off", state, publisher=without, views=Views(), policy=readable_policy())
    assert [e["DetailType"] for e in with_policy.entries] == ["call.handed_off", "call.lifecycle_signal"]
    assert [e["DetailType"] for e in without.entries] == ["call.handed_off"] and published.signals == ()
    assert json.loads(without.entries[0]["Detail"])["call_id"] == state["call"]["call_id"]


def test_review_without_policy_is_a_self_contained_handoff() -> None:
    decision = review_without_policy("call_q", "caller wants a refund", PolicyUnavailable("routing", "no deployment"))
    assert decision.handoff.next_step.startswith("Route this call by hand")
    assert "no deployment" in decision.handoff.reason
