"""``handoff planyo register`` against the Planyo sandbox: what is registered, refused and printed."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from handoff.connectors.http import RetryPolicy
from handoff.connectors.planyo import PlanyoConnector
from handoff_dev.cli_planyo import check_callback_url, masked, planyo_app, register_all
from handoff_dev.sandboxes.planyo import PlanyoSandbox

URL = "https://hooks.example.com/webhooks/planyo/tok_cli_8e2d4c6a0b9f1e3d5c7a"


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


def test_register_subscribes_customer_and_status_events_and_reports_refused_timed_ones() -> None:
    with PlanyoSandbox() as sandbox:
        connector = PlanyoConnector.from_config(sandbox.config(), retry=RetryPolicy(attempts=1))
        rows = register_all(connector, URL)
        registered = {name for name, urls in sandbox.callbacks.items() if URL in urls}
    assert registered == {"user_updated", "checked_in", "checked_out", "noshow"}
    refused = [r for r in rows if not r["registered"]]
    assert {r["notification"] for r in refused} == {f"before_or_after_event_{n}" for n in range(1, 7)}
    assert all("Settings > Notifications" in r["detail"] for r in refused)


def test_the_command_prints_json_without_the_token() -> None:
    result = CliRunner().invoke(cli(), ["planyo", "register", "--url", URL, "--sandbox", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["where"] == "sandbox" and len(printed["callbacks"]) == 10
    assert "tok_cli_8e2d4c6a0b9f1e3d5c7a" not in result.output


def test_the_command_refuses_a_weak_url_before_calling_planyo() -> None:
    result = CliRunner().invoke(cli(), ["planyo", "register", "--url", "https://x.example/webhooks/planyo/abc"])
    assert result.exit_code == 2
