"""``handoff planyo register``: exactly one Handoff callback per Planyo event, however often it runs.

Planyo's ``add_notification_callback`` is additive (its docs: "multiple
webhooks are possible for a single event"), so registering twice would deliver
every event twice, and Planyo has no method that lists what is registered
(planyo-py's method table: add / remove only). So register keeps a record of
what it registered (``--state``, one file per Planyo account) and, for an event
it has not recorded with this URL, first removes the URL (clearing copies an
older, additive run left) and then adds it once. A second run finds everything
recorded, calls nothing and says so. ``--remove`` takes the URL off every event.
"""

from __future__ import annotations

import hashlib
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
DEFAULT_STATE = Path(".handoff") / "planyo-callbacks.json"
TIMED_REFUSED = "refused over the API: set it in Planyo, Settings > Notifications > Notification callbacks"


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


class CallbackRecord:
    """What register put into one Planyo account: event -> callback URL, in a small JSON file."""

    def __init__(self, path: Path, account: str) -> None:
        self.path = path
        self.account = account

    @staticmethod
    def account_of(connector: PlanyoConnector) -> str:
        """One Planyo account = its API host and site (never the key)."""
        settings = connector.settings
        return hashlib.sha256(f"{settings.base_url}|{settings.site_id or ''}".encode()).hexdigest()[:16]

    def _all(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def load(self) -> dict[str, str]:
        entry = self._all().get(self.account)
        return {str(k): str(v) for k, v in entry.items()} if isinstance(entry, dict) else {}

    def save(self, events: dict[str, str]) -> None:
        everything = self._all()
        everything[self.account] = dict(sorted(events.items()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(everything, indent=2) + "\n", encoding="utf-8")


def _row(name: str, status: str, detail: str = "") -> dict[str, Any]:
    return {"notification": name, "status": status, "registered": status in ("added", "unchanged"), "detail": detail}


def register_all(connector: PlanyoConnector, url: str, recorded: dict[str, str]) -> list[dict[str, Any]]:
    """Leave exactly one ``url`` on every routed event; ``recorded`` (event -> URL) is updated in place."""
    rows: list[dict[str, Any]] = []
    for name in REGISTERED_NOTIFICATIONS:
        if recorded.get(name) == url:
            rows.append(_row(name, "unchanged"))
            continue
        try:
            for stale in dict.fromkeys(u for u in (recorded.get(name), url) if u):
                connector.remove_notification_callback(name, stale)
            connector.add_notification_callback(name, url)
        except ConnectorError as exc:
            # ASSUMPTIONS in planyo_events: the API may refuse the timed notifications
            rows.append(_row(name, "refused", TIMED_REFUSED if _TIMED.match(name) else str(exc)))
            continue
        recorded[name] = url
        rows.append(_row(name, "added"))
    return rows


def remove_all(connector: PlanyoConnector, url: str, recorded: dict[str, str]) -> list[dict[str, Any]]:
    """Take ``url`` off every routed event (other URLs stay); ``recorded`` is updated in place."""
    rows: list[dict[str, Any]] = []
    for name in REGISTERED_NOTIFICATIONS:
        try:
            connector.remove_notification_callback(name, url)
        except ConnectorError as exc:
            rows.append(_row(name, "refused", TIMED_REFUSED if _TIMED.match(name) else str(exc)))
            continue
        recorded.pop(name, None)
        rows.append(_row(name, "removed"))
    return rows


def _run(connector: PlanyoConnector, url: str, state: Path, remove: bool) -> list[dict[str, Any]]:
    record = CallbackRecord(state, CallbackRecord.account_of(connector))
    recorded = record.load()
    rows = (remove_all if remove else register_all)(connector, url, recorded)
    record.save(recorded)
    return rows


@planyo_app.command("register")
def register_command(
    url: Annotated[str, typer.Option("--url", help="Handoff's callback URL: https://…/webhooks/planyo/<token>.")],
    remove: Annotated[bool, typer.Option("--remove", help="Take the URL off every event instead.")] = False,
    state: Annotated[
        Path, typer.Option("--state", help="Where register records what it put into each Planyo account.")
    ] = DEFAULT_STATE,
    partner_config: Annotated[
        Path | None, typer.Option("--partner-config", help="JSON file with real partner credentials.")
    ] = None,
    secret_id: Annotated[
        str | None, typer.Option("--secret-id", help="Planyo's own secret (the stack's PlanyoSecretArn output).")
    ] = None,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Register against a loopback Planyo sandbox.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    endpoint_url: Annotated[str | None, typer.Option("--endpoint-url", envvar="HANDOFF_ENDPOINT_URL")] = None,
    profile: Annotated[str | None, typer.Option("--profile")] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
) -> None:
    """Register the callbacks Handoff routes (customer changes, check-in/out, no-show, timed #1-#6), once each.

    Safe to run again: events already registered with this URL are left alone
    and the run says nothing changed. Non-zero exit when a customer or status
    callback was refused.
    """
    problem = check_callback_url(url)
    if problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2)
    if sandbox:
        from handoff_dev.sandboxes.planyo import PlanyoSandbox

        with PlanyoSandbox() as running:
            rows = _run(PlanyoConnector.from_config(running.config()), url, state, remove)
        where = "sandbox"
    else:
        planyo_secret = [secret_id if secret_id.startswith("planyo=") else f"planyo={secret_id}"] if secret_id else []
        config = load_partner_config(partner_config, planyo_secret, endpoint_url, profile, region)
        block = (config or {}).get("planyo")
        if not isinstance(block, dict):
            console.print("[red]no planyo block:[/red] pass --partner-config FILE, --secret-id ID or --sandbox")
            raise typer.Exit(2)
        rows = _run(PlanyoConnector.from_config(block), url, state, remove)
        where = "planyo"
    failed = [r for r in rows if r["status"] == "refused" and not _TIMED.match(r["notification"])]
    changed = [r for r in rows if r["status"] in ("added", "removed")]
    summary = (
        f"{len(changed)} callback(s) changed" if changed else "nothing changed: every callback was already as asked"
    )
    if as_json:
        typer.echo(json.dumps({"url": masked(url), "where": where, "summary": summary, "callbacks": rows}, indent=2))
    else:
        table = Table("notification", "status", "detail", title=f"{masked(url)} ({where})")
        for row in rows:
            status = row["status"] if row["status"] != "refused" else "[red]refused[/red]"
            table.add_row(row["notification"], status, row["detail"])
        console.print(table)
        console.print(summary)
    if failed:
        raise typer.Exit(1)
