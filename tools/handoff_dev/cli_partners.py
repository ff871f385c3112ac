"""``handoff route explain`` and ``handoff connectors check``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from handoff.connectors.base import HealthReport
from handoff.ingest.envelope import InvalidWebhook
from handoff_dev.partners import load_partner_config, partner_connectors
from handoff_dev.tables import keep_whole

route_app = typer.Typer(help="Routing decisions, explained.", no_args_is_help=True)
connectors_app = typer.Typer(help="Partner connectors.", no_args_is_help=True)
console = Console()

ConfigFile = Annotated[Path | None, typer.Option("--partner-config", help="JSON file with real partner credentials.")]
SecretIds = Annotated[
    list[str] | None,
    typer.Option(
        "--secret-id",
        help="TOOL=SECRET_ID: one partner's secret (the stack's <Tool>SecretArn output); repeat per partner.",
    ),
]
StackName = Annotated[
    str | None, typer.Option("--stack", help="A deployed stack: read every partner secret its outputs name.")
]
Endpoint = Annotated[str | None, typer.Option("--endpoint-url", envvar="HANDOFF_ENDPOINT_URL")]
Profile = Annotated[str | None, typer.Option("--profile")]
Region = Annotated[str | None, typer.Option("--region")]


@route_app.command("explain")
def explain_command(
    files: Annotated[
        list[Path] | None, typer.Argument(help="DialNexa webhook bodies.", exists=True, dir_okay=False)
    ] = None,
    call_id: Annotated[
        str | None,
        typer.Option(
            "--call-id",
            help="A call Handoff routed: its recorded call and match under the live policy (or --policy).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
    partner_config: ConfigFile = None,
    secret_id: SecretIds = None,
    stack: StackName = None,
    endpoint_url: Endpoint = None,
    profile: Profile = None,
    region: Region = None,
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy", help="Explain under this candidate routing policy (default: policy/routing.yaml)."),
    ] = None,
) -> None:
    """Normalised call, candidates with evidence, the decision and every rule that fired."""
    from handoff.match.service import SOURCE_TYPES
    from handoff.match.sources import RecordSource
    from handoff.route.policy import Policy
    from handoff_dev.cli_policy import load_or_exit
    from handoff_dev.explain import explain

    policy: Policy | None = load_or_exit(policy_file) if policy_file is not None else None
    if call_id is not None:
        report = _explain_call_id(call_id, policy, endpoint_url, profile, region)
        if as_json:
            typer.echo(json.dumps(report, default=str))
        else:
            _print_report(Path(call_id), report)
            recorded = report["recorded"]
            console.print(f"recorded: {recorded['mode']} under policy {recorded['policy_version']}")
        return
    if not files:
        raise typer.BadParameter("give webhook body files or --call-id")
    config = load_partner_config(partner_config, secret_id or (), endpoint_url, profile, region, stack)
    failed = False
    with partner_connectors(config) as (connectors, where):
        sources: list[RecordSource] = [SOURCE_TYPES[t](c) for t, c in connectors.items() if t in SOURCE_TYPES]
        for path in files:
            try:
                report = explain(path.read_bytes(), sources, policy=policy)
            except InvalidWebhook as exc:
                console.print(f"[red]{path}: {exc}[/red]")
                failed = True
                continue
            report["looked_up_in"] = where
            if as_json:
                typer.echo(json.dumps(report, default=str))
            else:
                _print_report(path, report)
    if failed:
        raise typer.Exit(1)


def _explain_call_id(
    call_id: str, policy: Any, endpoint_url: str | None, profile: str | None, region: str | None
) -> dict[str, Any]:
    """The execution's recorded call and match, decided again under ``policy`` or the live routing policy."""
    from botocore.exceptions import ClientError

    from handoff.route.policy import parse_policy
    from handoff_dev import ops
    from handoff_dev.cli_errors import CliError
    from handoff_dev.explain import explain_recorded
    from handoff_dev.policy_ops import PolicyHome

    sfn = ops.aws_client("stepfunctions", endpoint_url, profile, region)
    try:
        view = ops.describe(sfn, ops.execution_arn_for(sfn, ops.state_machine_arn(sfn), call_id))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
            raise
        raise CliError(f"no execution for call {call_id!r}", "see `handoff executions list`") from None
    document = view.output or view.last_input or {}
    if "call" not in document:
        raise CliError(f"call {call_id!r} has no recorded call document yet", "wait for Match to run")
    if policy is None:
        live = PolicyHome.discover(ops.aws_client("appconfig", endpoint_url, profile, region)).live("routing")
        if live is None:
            raise CliError("no routing policy is deployed", "pass --policy FILE, or `handoff policy push`")
        policy = parse_policy(json.dumps(live.document), f"routing version {live.appconfig_version}")
    report = explain_recorded(document, policy)
    report["looked_up_in"] = "the execution's recorded match"
    return report


def _print_report(path: Path, report: dict[str, Any]) -> None:
    call = report["call"]
    console.rule(f"{path.name}: [bold]{report['mode']}[/bold] ({report['intent']})")
    console.print(
        f"call {call['call_id']}  event {call['event']}  status {call.get('status') or '-'}  "
        f"caller {call.get('caller_phone') or 'unknown'}  looked up in: {report['looked_up_in']}"
    )
    console.print(f"identity: {json.dumps(report['identity'], default=str)[:400]}")
    match = report["match"]
    console.print(f"match: {match['status']} (confidence {match['confidence']:.2f}) {'; '.join(match['notes'])}")
    for lookup in match["lookups"]:
        state = "ok" if lookup["ok"] else f"FAILED {lookup['error']}"
        console.print(f"  lookup {lookup['tool']}: {state}, {lookup['found']} found")
    if report["candidates"]:
        table = Table("tool", "kind", "record", "confidence", "evidence")
        for c in report["candidates"][:5]:
            evidence = ", ".join(f"{e['call_field']}={e['record_field']} ({e['strength']})" for e in c["evidence"])
            table.add_row(c["tool"], c["kind"], f"{c['record_id']} {c['display']}", f"{c['confidence']:.2f}", evidence)
        console.print(keep_whole(table, "record"))
    decision = report["decision"]
    for action in decision["actions"]:
        target = f" on {action['target']}" if action.get("target") else " (new record)"
        console.print(f"  action {action['tool']}.{action['operation']}{target}")
    owner, urgency = decision["owner"]["team"], decision["urgency"]
    console.print(f"owner {owner}  urgency {urgency}  policy {report['policy_version']}")
    for rule, reason in zip(report["rules_fired"], report["reasons"], strict=False):
        console.print(f"  [dim]{rule}[/dim]: {reason}")
    checked = report["decision_rules"]
    console.print(f"decision rules checked in order, the first that applies decides ({len(checked)}):")
    for step in checked:
        mark = "[bold]fired[/bold]" if step["fired"] else "[dim]no[/dim]   "
        console.print(f"  {mark} {step['rule']}: {step['meaning']}")


@connectors_app.command("check")
def check_command(
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Start the sandboxes and check every connector.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    partner_config: ConfigFile = None,
    secret_id: SecretIds = None,
    stack: StackName = None,
    endpoint_url: Endpoint = None,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """One row per configured tool: reachable, authenticated, quota. Non-zero exit if any fails."""
    config = (
        None if sandbox else load_partner_config(partner_config, secret_id or (), endpoint_url, profile, region, stack)
    )
    if config is None and not sandbox:
        console.print(
            "[red]no partner configuration:[/red] pass --partner-config FILE, --stack NAME or "
            "--secret-id TOOL=SECRET_ID (one per partner), or --sandbox to check against the loopback sandboxes"
        )
        raise typer.Exit(2)
    reports: list[HealthReport] = []
    with partner_connectors(config) as (connectors, where):
        for tool, connector in sorted(connectors.items()):
            try:
                reports.append(connector.check())
            except Exception as exc:  # noqa: BLE001 - a broken connector is a failed row, not a crash
                reports.append(
                    HealthReport(tool=tool, reachable=False, authenticated=False, detail=f"{type(exc).__name__}: {exc}")
                )
    unhealthy = [r for r in reports if not r.healthy]
    if as_json:
        typer.echo(json.dumps([{**r.model_dump(mode="json"), "healthy": r.healthy} for r in reports], indent=2))
    else:
        table = Table("tool", "reachable", "authenticated", "quota", "detail", title=f"Connectors ({where})")
        for r in reports:
            table.add_row(r.tool.value, _yes(r.reachable), _yes(r.authenticated), r.quota or "-", r.detail)
        console.print(table)
    if unhealthy or not reports:
        raise typer.Exit(1)


def _yes(flag: bool) -> str:
    return "[green]yes[/green]" if flag else "[red]no[/red]"
