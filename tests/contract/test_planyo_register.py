"""``handoff planyo register`` against the additive Planyo sandbox: one callback per event, however often it runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from handoff.connectors.http import RetryPolicy
from handoff.connectors.planyo import PlanyoConnector
from handoff_dev.cli_planyo import CallbackRecord, check_callback_url, masked, planyo_app, register_all, remove_all
from handoff_dev.sandboxes.planyo import PlanyoSandbox

URL = "https://hooks.example.com/webhooks/planyo/tok_cli_8e2d4c6a0b9f1e3d5c7a"
ROUTED = {"user_updated", "checked_in", "checked_out", "noshow"}


def cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(planyo_app, name="planyo")

    @root.command()
    def version() -> None:  # a second command keeps "planyo" a sub-command
        """Unused."""

    return root


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (URL, None),
        ("http://127.0.0.1:3000/webhooks/planyo/tok_cli_8e2d4c6a0b9f1e3d5c7a", None),
        ("http://hooks.example.com/webhooks/planyo/tok_cli_8e2d4c6a0b9f1e3d5c7a", "https"),
        ("https://hooks.example.com/webhooks/dialnexa", "/webhooks/planyo/<token>"),
        ("https://hooks.example.com/webhooks/planyo/short", "at least"),
    ],
)
def test_the_callback_url_must_be_https_with_a_strong_token(url: str, problem: str | None) -> None:
    found = check_callback_url(url)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_the_token_is_masked_when_printed() -> None:
    assert masked(URL) == "https://hooks.example.com/webhooks/planyo/tok_..."


def test_the_sandbox_is_additive_like_planyo() -> None:
    with PlanyoSandbox() as sandbox:
        planyo = PlanyoConnector.from_config(sandbox.config(), retry=RetryPolicy(attempts=1))
        planyo.add_notification_callback("checked_in", URL)
        planyo.add_notification_callback("checked_in", URL)
        assert sandbox.callbacks["checked_in"] == [URL, URL]


def test_register_twice_leaves_one_callback_per_event_and_the_second_run_changes_nothing(tmp_path: Path) -> None:
    with PlanyoSandbox() as sandbox:
        planyo = PlanyoConnector.from_config(sandbox.config(), retry=RetryPolicy(attempts=1))
        record = CallbackRecord(tmp_path / "state.json", CallbackRecord.account_of(planyo))
        recorded = record.load()
        first = register_all(planyo, URL, recorded)
        record.save(recorded)
        changes = dict(sandbox.effects)
        second = register_all(planyo, URL, record.load())
        assert {n: u for n, u in sandbox.callbacks.items() if URL in u} == {n: [URL] for n in ROUTED}
        assert dict(sandbox.effects) == changes  # the second run changed nothing in Planyo
    assert {r["notification"] for r in first if r["status"] == "added"} == ROUTED
    assert {r["status"] for r in second if r["notification"] in ROUTED} == {"unchanged"}
    refused = [r for r in first if r["status"] == "refused"]
    assert {r["notification"] for r in refused} == {f"before_or_after_event_{n}" for n in range(1, 7)}
    assert all("Settings > Notifications" in r["detail"] for r in refused)


def test_register_cleans_up_what_an_older_additive_run_left_and_keeps_other_urls() -> None:
    other = "https://crm.example.com/planyo-hook"
    with PlanyoSandbox() as sandbox:
        planyo = PlanyoConnector.from_config(sandbox.config(), retry=RetryPolicy(attempts=1))
        for _ in range(2):
            planyo.add_notification_callback("checked_in", URL)
        planyo.add_notification_callback("checked_in", other)
        register_all(planyo, URL, {})
        assert sorted(sandbox.callbacks["checked_in"]) == sorted([URL, other])


def test_remove_takes_the_url_off_every_event(tmp_path: Path) -> None:
    with PlanyoSandbox() as sandbox:
        planyo = PlanyoConnector.from_config(sandbox.config(), retry=RetryPolicy(attempts=1))
        recorded: dict[str, str] = {}
        register_all(planyo, URL, recorded)
        rows = remove_all(planyo, URL, recorded)
        assert not any(URL in urls for urls in sandbox.callbacks.values())
    assert recorded == {} and {r["notification"] for r in rows if r["status"] == "removed"} == ROUTED


def test_the_command_prints_json_without_the_token(tmp_path: Path) -> None:
    args = ["planyo", "register", "--url", URL, "--sandbox", "--json", "--state", str(tmp_path / "s.json")]
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["where"] == "sandbox" and len(printed["callbacks"]) == 10
    assert printed["summary"] == "4 callback(s) changed"
    assert "tok_cli_8e2d4c6a0b9f1e3d5c7a" not in result.output


def test_the_command_refuses_a_weak_url_before_calling_planyo() -> None:
    result = CliRunner().invoke(cli(), ["planyo", "register", "--url", "https://x.example/webhooks/planyo/abc"])
    assert result.exit_code == 2
