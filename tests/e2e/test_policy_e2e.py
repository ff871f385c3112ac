"""The policy as live configuration on the embedded stack: push, watch, and safe when unreadable."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from handoff_dev import ops
from handoff_dev.cli import app
from handoff_dev.demo import wait_settled
from handoff_dev.policy_files import PARTNER_POLICY_FILE, ROUTING_POLICY_FILE, shipped_policy
from handoff_dev.webhooks import post_signed

pytestmark = pytest.mark.e2e

RESCHEDULE = "variant-a_call-ended_completed_inbound_reschedule-booking.json"
runner = CliRunner()


def _post(stack: Any, body: bytes) -> int:
    return post_signed(f"{stack.api_url}/webhooks/dialnexa", body, stack.options.webhook_secret)[0]


def _decision(stack: Any, call_id: str) -> dict[str, Any]:
    view = wait_settled(stack, [call_id], timeout=60)[call_id]
    shown = ops.describe(stack.client("stepfunctions"), view.arn)
    document = shown.output or shown.last_input or {}
    decision: dict[str, Any] = document["decision"]
    return decision


def _cli(stack: Any, *args: str) -> Any:
    return runner.invoke(app, [*args, "--endpoint-url", stack.aws_endpoint])


def _bumped(text: str, version: str, old: str = "", new: str = "") -> str:
    text = re.sub(r'(?m)^version: ".*"$', f'version: "{version}"', text, count=1)
    return text.replace(old, new, 1) if old else text


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """The stack as `handoff dev --policy FILE` runs it: the file deployed, then watched."""
    from handoff_dev.embedded.stack import EmbeddedStack, StackOptions

    file = tmp_path_factory.mktemp("policy") / "routing.yaml"
    file.write_text(ROUTING_POLICY_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    options = StackOptions(port=0, aws_port=0, schedules=False, policy_file=file, watch_policies=True)
    with EmbeddedStack(options) as running:
        yield running, file


def test_a_threshold_edit_routes_the_next_call_differently_without_restart(
    watched: tuple[Any, Path], rekeyed: Callable[[str, str], bytes]
) -> None:
    stack, file = watched
    assert _post(stack, rekeyed(RESCHEDULE, "call_policy_before")) == 202
    before = _decision(stack, "call_policy_before")
    assert before["mode"] == "act" and before["policy_version"] == shipped_policy().version

    edited = _bumped(
        file.read_text(encoding="utf-8"), "2099-06-12.2", "act_min_confidence: 0.85", "act_min_confidence: 1.0"
    )
    file.write_text(edited, encoding="utf-8")
    deadline = time.monotonic() + 20
    while stack.policies.versions.get("routing") != "2099-06-12.2" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stack.policies.versions["routing"] == "2099-06-12.2"
    time.sleep(1.5)  # the functions' cache (PolicyCacheSeconds = 1 on the embedded stack)

    assert _post(stack, rekeyed(RESCHEDULE, "call_policy_after")) == 202
    after = _decision(stack, "call_policy_after")
    assert after["mode"] == "review"
    assert after["policy_version"] == "2099-06-12.2"
    assert "match:below-threshold" in after["rules_fired"]
    assert after["handoff"]["policy_version"] == "2099-06-12.2"

    shown = _cli(stack, "executions", "show", "call_policy_after", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["policy_version"] == "2099-06-12.2"


def test_route_explain_of_a_call_id_decides_its_recorded_call_again_under_the_live_or_a_given_policy(
    watched: tuple[Any, Path], rekeyed: Callable[[str, str], bytes]
) -> None:
    stack, _ = watched
    assert _post(stack, rekeyed(RESCHEDULE, "call_explained")) == 202
    recorded = _decision(stack, "call_explained")

    live = json.loads(_cli(stack, "route", "explain", "--call-id", "call_explained", "--json").output)
    assert live["policy_version"] == stack.policies.versions["routing"]
    assert live["recorded"] == {"mode": recorded["mode"], "policy_version": recorded["policy_version"]}
    assert live["decision_rules"][-1] == {**live["decision_rules"][-1], "rule": live["decided_by"], "fired": True}

    given = _cli(
        stack, "route", "explain", "--call-id", "call_explained", "--policy", str(ROUTING_POLICY_FILE), "--json"
    )
    shipped = json.loads(given.output)
    assert (shipped["mode"], shipped["decided_by"], shipped["policy_version"]) == (
        "act",
        "act",
        shipped_policy().version,
    )

    missing = _cli(stack, "route", "explain", "--call-id", "call_never_seen")
    assert missing.exit_code != 0 and "no execution for call 'call_never_seen'" in missing.output


def test_an_invalid_edit_is_reported_and_the_live_policy_stays(watched: tuple[Any, Path]) -> None:
    stack, file = watched
    live = stack.policies.versions["routing"]
    reports: list[str] = []
    stack.policies.report = reports.append
    file.write_text(
        _bumped(file.read_text(encoding="utf-8"), "2099-01-01", "planyo.modify_reservation", "planyo.teleport")
    )
    deadline = time.monotonic() + 20
    while not reports and time.monotonic() < deadline:
        time.sleep(0.2)
    assert reports and "unknown operation 'teleport'" in reports[0]
    assert stack.policies.versions["routing"] == live
    shown = _cli(stack, "policy", "show", "--kind", "routing", "--json")
    assert json.loads(shown.output)[0]["policy_version"] == live


def test_push_of_a_valid_file_goes_live(watched: tuple[Any, Path], tmp_path: Path) -> None:
    stack, _ = watched
    candidate = tmp_path / "partners.yaml"
    text = _bumped(PARTNER_POLICY_FILE.read_text(encoding="utf-8"), "2099-07-01.1")
    candidate.write_text(text.replace("urgency: low", "urgency: normal", 1), encoding="utf-8")

    diff = _cli(stack, "policy", "diff", str(candidate), "--json")
    assert diff.exit_code == 0, diff.output
    changes = json.loads(diff.output)["changes"]
    assert [(c["section"], c["key"]) for c in changes] == [("version", ""), ("status_changes", "checked_in")]

    pushed = _cli(stack, "policy", "push", str(candidate), "--poll-seconds", "0.05")
    assert pushed.exit_code == 0, pushed.output
    assert "COMPLETE" in pushed.output and "2099-07-01.1 is live" in pushed.output
    shown = json.loads(_cli(stack, "policy", "show", "--json").output)
    assert {r["kind"]: r["policy_version"] for r in shown}["partners"] == "2099-07-01.1"


def test_push_of_an_invalid_file_is_refused_and_changes_nothing(watched: tuple[Any, Path], tmp_path: Path) -> None:
    stack, _ = watched
    before = json.loads(_cli(stack, "policy", "show", "--json").output)
    candidate = tmp_path / "routing.yaml"
    candidate.write_text(
        _bumped(
            ROUTING_POLICY_FILE.read_text(encoding="utf-8"),
            "2099-01-01",
            "act_min_confidence: 0.85",
            "act_min_confidence: 1.5",
        ),
        encoding="utf-8",
    )
    pushed = _cli(stack, "policy", "push", str(candidate))
    assert pushed.exit_code == 1
    assert "thresholds.act_min_confidence" in pushed.output and "Traceback" not in pushed.output
    assert json.loads(_cli(stack, "policy", "show", "--json").output) == before


def test_appconfig_itself_refuses_an_invalid_version(watched: tuple[Any, Path]) -> None:
    """Even past the CLI (someone using the console or the API), the validators keep it from going live."""
    from handoff_dev.policy_ops import PolicyHome

    stack, _ = watched
    home = PolicyHome.discover(stack.client("appconfig"))
    document = json.loads(json.dumps(home.live("routing").document))  # type: ignore[union-attr]
    document["version"] = "2099-01-02"
    document["intents"]["reschedule_booking"]["owner"] = "nobody"
    version = home.create_version("routing", json.dumps(document).encode(), "bad")
    with pytest.raises(Exception, match="unknown owner 'nobody'"):
        home.start("routing", version, "bypassing the CLI")
    assert home.live("routing").policy_version != "2099-01-02"  # type: ignore[union-attr]


def test_with_no_policy_readable_calls_go_to_review_and_the_default_channel_is_told(
    rekeyed: Callable[[str, str], bytes],
) -> None:
    from handoff_dev.embedded.stack import EmbeddedStack, StackOptions

    # A fallback distinct from every owner's channel and from the Slack connector's own
    # default_channel (#handoff-ops), so the channel told proves which setting was used.
    fallback = "#handoff-fallback"
    options = StackOptions(
        port=0,
        aws_port=0,
        schedules=False,
        publish_policies=False,
        parameter_overrides={"DefaultNotifyChannel": fallback},
    )
    with EmbeddedStack(options) as stack:
        shown = _cli(stack, "policy", "show", "--json")
        assert {r["state"] for r in json.loads(shown.output)} == {"no deployment"}
        assert _post(stack, rekeyed(RESCHEDULE, "call_no_policy")) == 202
        decision = _decision(stack, "call_no_policy")
        assert decision["mode"] == "review"
        assert decision["rules_fired"] == ["safe-default:policy-unavailable"]
        assert decision["policy_version"] == "unavailable"
        assert decision["owner"]["slack_channel"] == fallback  # the template's DefaultNotifyChannel
        assert stack.delivery.wait_idle(timeout=30)
        posted = [m for m in stack.sandboxes["slack"].messages if "call_no_policy" in json.dumps(m)]
        assert posted, "notify told nobody"
        assert {m.get("channel") for m in posted} == {fallback}
        assert stack.sandboxes["planyo"].effects.get("modify_reservation", 0) == 0
