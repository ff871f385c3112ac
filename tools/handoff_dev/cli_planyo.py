"""``handoff planyo register``: subscribe Handoff's callback URL to the Planyo events it routes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from handoff.connectors.errors import ConnectorError
from handoff.connectors.planyo import PlanyoConnector
from handoff.partners.planyo_events import MIN_TOKEN_LENGTH, REGISTERED_NOTIFICATIONS
from handoff_dev.partners import load_partner_config

planyo_app = typer.Typer(help="Planyo notification callbacks.", no_args_is_help=True)
console = Console()

_CALLBACK_PATH = re.compile(r"/webhooks/planyo/([^/?#]+)$")
_TIMED = re.compile(r"^before_or_after_event_\d$")


def masked(url: str) -> str:
    """The URL with its token shortened to 4 characters, for printing."""
    return _CALLBACK_PATH.sub(lambda m: f"/webhooks/planyo/{m.group(1)[:4]}...", url.split("?")[0]) + (
        "?" + url.split("?", 1)[1] if "?" in url else ""
    )


def check_callback_url(url: str) -> str | None:
    """What is wrong with a callback URL (None when it is usable)."""
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        return "the callback URL must be https:// (http only on loopback)"
    match = _CALLBACK_PATH.search(parts.path)
    if match is None:
        return "the callback URL must end in /webhooks/planyo/<token>"
    if len(match.group(1)) < MIN_TOKEN_LENGTH:
        return f"the token in the URL must be at least {MIN_TOKEN_LENGTH} characters (use the secret's callback_token)"
    return None


def register_all(connector: PlanyoConnector, url: str) -> list[dict[str, Any]]:
    """Register ``url`` for every routed notification; one row per event, refusals included."""
    rows: list[dict[str, Any]] = []
    for name in REGISTERED_NOTIFICATIONS:
        try:
            connector.add_notification_callback(name, url)
        except ConnectorError as exc:
            detail = str(exc)
            if _TIMED.match(name):  # ASSUMPTIONS in planyo_events: the API may refuse timed notifications
                detail = "refused over the API: set it in Planyo, Settings > Notifications > Notification callbacks"
            rows.append({"notification": name, "registered": False, "detail": detail})
            continue
        rows.append({"notification": name, "registered": True, "detail": ""})
    return rows


@planyo_app.command("register")
def register_command(
    url: Annotated[str, typer.Option("--url", help="Handoff's callback URL: https://…/webhooks/planyo/<token>.")],
    partner_config: Annotated[
        Path | None, typer.Option("--partner-config", help="JSON file with real partner credentials.")
    ] = None,
    secret_id: Annotated[
        str | None, typer.Option("--secret-id", help="Secrets Manager secret with partner credentials.")
    ] = None,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Register against a loopback Planyo sandbox.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    endpoint_url: Annotated[str | None, typer.Option("--endpoint-url", envvar="HANDOFF_ENDPOINT_URL")] = None,
    profile: Annotated[str | None, typer.Option("--profile")] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
) -> None:
    """Register the callbacks Handoff routes (customer changes, check-in/out, no-show, timed #1-#6).

    Run it once per URL: Planyo keeps several URLs per event, so a second run
    registers the URL twice (Handoff absorbs the duplicate deliveries).
    Non-zero exit when a customer or status callback was refused.
    """
    problem = check_callback_url(url)
    if problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2)
    if sandbox:
        from handoff_dev.sandboxes.planyo import PlanyoSandbox

        with PlanyoSandbox() as running:
            rows = register_all(PlanyoConnector.from_config(running.config()), url)
        where = "sandbox"
    else:
        config = load_partner_config(partner_config, secret_id, endpoint_url, profile, region)
        block = (config or {}).get("planyo")
        if not isinstance(block, dict):
            console.print("[red]no planyo block:[/red] pass --partner-config FILE, --secret-id ID or --sandbox")
            raise typer.Exit(2)
        rows = register_all(PlanyoConnector.from_config(block), url)
        where = "planyo"
    failed = [r for r in rows if not r["registered"] and not _TIMED.match(r["notification"])]
    if as_json:
        typer.echo(json.dumps({"url": masked(url), "where": where, "callbacks": rows}, indent=2))
    else:
        table = Table("notification", "registered", "detail", title=f"{masked(url)} ({where})")
        for row in rows:
            table.add_row(row["notification"], "yes" if row["registered"] else "[red]no[/red]", row["detail"])
        console.print(table)
    if failed:
        raise typer.Exit(1)
