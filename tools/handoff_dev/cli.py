"""The ``handoff`` command: embedded stack, demo and ops, for people and scripts."""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from handoff_dev import ops
from handoff_dev.cli_errors import EXIT_BAD_INPUT, EXIT_CODES_HELP, EXIT_UNREACHABLE, CliError, HandoffGroup
from handoff_dev.cli_options import EndpointOption, JsonOption, ProfileOption, RegionOption
from handoff_dev.partners import load_partner_config
from handoff_dev.tables import keep_whole

app = typer.Typer(
    cls=HandoffGroup,
    help="Handoff: DialNexa calls to safe, exactly-once work. Developer and ops CLI.",
    epilog=EXIT_CODES_HELP + " --debug shows the traceback of an error.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
executions_app = typer.Typer(help="Executions of the Handoff state machine, state by state.", no_args_is_help=True)
app.add_typer(executions_app, name="executions")


def _register_subcommands() -> None:
    from handoff_dev.cli_cost import cost
    from handoff_dev.cli_events import events_app
    from handoff_dev.cli_invoke import invoke
    from handoff_dev.cli_ops import dlq_app, replay, review_app
    from handoff_dev.cli_partners import connectors_app, route_app
    from handoff_dev.cli_planyo import planyo_app
    from handoff_dev.cli_policy import policy_app

    app.add_typer(route_app, name="route")
    app.add_typer(connectors_app, name="connectors")
    app.add_typer(review_app, name="review")
    app.add_typer(dlq_app, name="dlq")
    app.command("replay")(replay)
    app.add_typer(planyo_app, name="planyo")
    app.add_typer(policy_app, name="policy")
    app.command("cost")(cost)
    app.command("invoke")(invoke)
    app.add_typer(events_app, name="events")


_register_subcommands()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"handoff {version('handoff')}")
        except PackageNotFoundError:
            typer.echo("handoff (not installed as a package)")
        raise typer.Exit(0)


@app.callback()
def root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an error (or HANDOFF_DEBUG=1).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Handoff: DialNexa calls to safe, exactly-once work. Developer and ops CLI."""


console = Console(width=None if sys.stdout.isatty() else 160)

GraceOption = Annotated[
    int | None,
    typer.Option(
        "--analysis-grace-seconds",
        min=0,
        help="Override the template's AnalysisGraceSeconds (how long a call without analysis waits; 0 allowed).",
    ),
]
ParameterOption = Annotated[
    list[str] | None,
    typer.Option("--parameter", help="Override a template parameter, Key=Value (repeatable)."),
]


def template_overrides(parameters: list[str] | None, analysis_grace_seconds: int | None) -> dict[str, str]:
    """Template parameter overrides from the command line; the template's defaults hold otherwise."""
    overrides: dict[str, str] = {}
    for item in parameters or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected Key=Value, got {item!r}", param_hint="--parameter")
        overrides[key.strip()] = value
    if analysis_grace_seconds is not None:
        overrides["AnalysisGraceSeconds"] = str(analysis_grace_seconds)
    return overrides


STOP_GRACE_SECONDS = 3.0  # then a hard exit: well inside the promised 5 s on a busy machine


def _require_free_ports(host: str, ports: dict[str, int]) -> None:
    """Fail in a second with one line when a port is taken (the servers would otherwise hang on it)."""
    import errno
    import socket

    for flag, port in ports.items():
        if not port:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                raise CliError(
                    f"port {port} on {host} is already in use ({flag})",
                    f"pick a free one: handoff dev {flag} N, or make dev PORT=N AWS_PORT=M",
                    EXIT_BAD_INPUT,
                ) from None


def _stop_on_signals(stop: threading.Event, started: threading.Event) -> None:
    """Ctrl-C or SIGTERM stops everything within 5 s, always: a clean stop, else a hard exit."""

    def handle(signum: int, _frame: object) -> None:
        if stop.is_set():
            os._exit(128 + signum)  # a second Ctrl-C: now
        stop.set()
        watchdog = threading.Timer(STOP_GRACE_SECONDS, lambda: os._exit(128 + signum))
        watchdog.daemon = True
        watchdog.start()
        if not started.is_set():
            raise KeyboardInterrupt  # still starting: abandon the start

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


dev_app = typer.Typer(help="The embedded stack on loopback, and what its sandboxes did.")
app.add_typer(dev_app, name="dev")


@dev_app.callback(invoke_without_command=True)
def dev(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="HTTP API port (webhooks).")] = 3000,
    aws_port: Annotated[
        int, typer.Option("--aws-port", help="Embedded AWS endpoint port (moto server; not 5000: macOS AirPlay).")
    ] = 3001,
    log_level: Annotated[str, typer.Option(help="Function log level.")] = "INFO",
    partner_config: Annotated[
        Path | None, typer.Option(help="JSON file with real partner credentials (default: sandboxes).")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Routing policy to deploy and watch (default policy/routing.yaml).", exists=True),
    ] = None,
    partner_policy: Annotated[
        Path | None,
        typer.Option(
            "--partner-policy", help="Partner policy to deploy and watch (default policy/partners.yaml).", exists=True
        ),
    ] = None,
    analysis_grace_seconds: GraceOption = None,
    parameter: ParameterOption = None,
) -> None:
    """Run the embedded stack until Ctrl-C: HTTP API, AWS endpoint and partner sandboxes on loopback."""
    if ctx.invoked_subcommand is not None:
        return
    from handoff_dev.embedded.stack import DEV_PLANYO_CALLBACK_TOKEN, DEV_WEBHOOK_SECRET, EmbeddedStack, StackOptions

    options = StackOptions(
        port=port,
        aws_port=aws_port,
        log_level=log_level,
        webhook_secret=os.environ.get("HANDOFF_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET),
        previous_webhook_secret=os.environ.get("HANDOFF_WEBHOOK_SECRET_PREVIOUS", ""),
        partner_config_file=partner_config,
        policy_file=policy,
        partner_policy_file=partner_policy,
        watch_policies=True,
        parameter_overrides=template_overrides(parameter, analysis_grace_seconds),
        announce=lambda line: console.print(line, markup=False, highlight=False),
    )
    if partner_config is not None:
        load_partner_config(partner_config)  # a missing or malformed file is one line, before anything starts
    _require_free_ports(options.host, {"--port": port, "--aws-port": aws_port})
    stop, started = threading.Event(), threading.Event()
    _stop_on_signals(stop, started)
    with EmbeddedStack(options) as stack:
        started.set()
        planyo = f"{stack.api_url}/webhooks/planyo/{DEV_PLANYO_CALLBACK_TOKEN}" if "planyo" in stack.sandboxes else ""
        console.print(
            dev_banner(
                api_url=stack.api_url,
                aws_endpoint=stack.aws_endpoint,
                webhook_secret_name=stack.secret_name("WebhookSecret"),
                planyo_callback=planyo,
                sandboxes={name: sandbox.base_url for name, sandbox in stack.sandboxes.items()},
                dev_secret=DEV_WEBHOOK_SECRET if options.webhook_secret == DEV_WEBHOOK_SECRET else "",
            ),
            highlight=False,
        )
        if stack.policies is not None:
            stack.policies.report = lambda text: console.print(text, highlight=False)
            for kind, (_, file) in stack.policies.targets.items():
                version = stack.policies.versions.get(kind)
                console.print(f"  policy          {kind:<14} {version} from {file} (edits deploy within a second)")
        stop.wait()
        console.print("stopping...")
    # The stack's objects are garbage now; collecting them all at interpreter exit takes seconds
    # on a busy machine and would run into the 5 s stop watchdog. Nothing needs finalising.
    gc.freeze()


def dev_banner(
    api_url: str,
    aws_endpoint: str,
    webhook_secret_name: str,
    planyo_callback: str,
    sandboxes: dict[str, str],
    dev_secret: str = "",
) -> str:
    """What ``handoff dev`` prints at start: where everything is and what to try next."""
    lines = [
        "[bold]Handoff embedded stack[/bold] (Ctrl-C stops it)",
        f"  webhooks        POST {api_url}/webhooks/dialnexa",
        f"  webhook secret  {webhook_secret_name} (value: HANDOFF_WEBHOOK_SECRET, default the dev secret)",
    ]
    if planyo_callback:
        lines.append(f"  Planyo callback POST {planyo_callback}")
    lines += [
        f"  side effects    GET  {api_url}/_dev/effects",
        f"  AWS endpoint    {aws_endpoint}",
    ]
    lines += [f"  sandbox         {name:<14} {url}" for name, url in sorted(sandboxes.items())]
    lines += [
        "Try, in another terminal:",
        f"  export HANDOFF_ENDPOINT_URL={aws_endpoint} HANDOFF_API_URL={api_url}",
        f"  export HANDOFF_WEBHOOK_SECRET={dev_secret or '<your webhook secret>'}",
        f"  .venv/bin/handoff replay events/dialnexa/*.json --url {api_url}/webhooks/dialnexa",
        "  .venv/bin/handoff executions list",
        "  .venv/bin/handoff review list",
        "  .venv/bin/handoff dlq list",
        "  .venv/bin/handoff dev effects",
    ]
    return "\n".join(lines)


@dev_app.command("effects")
def dev_effects(
    url: Annotated[
        str, typer.Option("--url", help="The running stack's HTTP API (webhook port).", envvar="HANDOFF_API_URL")
    ] = "http://127.0.0.1:3000",
    as_json: JsonOption = False,
) -> None:
    """Side effects each sandbox counted, per operation: exactly-once, checked from outside the stack."""
    import requests

    try:
        answer = requests.get(f"{url.rstrip('/')}/_dev/effects", timeout=(3, 10))
    except requests.RequestException as exc:
        raise CliError(
            f"cannot reach the embedded stack at {url} ({type(exc).__name__})",
            "start it with `make dev` (or pass --url http://127.0.0.1:PORT)",
            EXIT_UNREACHABLE,
        ) from None
    if answer.status_code != 200:
        raise CliError(
            f"{url} answered {answer.status_code} to /_dev/effects",
            "is it the embedded stack's webhook port (`handoff dev --port`)?",
            EXIT_UNREACHABLE,
        )
    effects: dict[str, dict[str, int]] = answer.json()
    if as_json:
        typer.echo(json.dumps(effects, indent=2))
        return
    table = Table(title=f"Side effects counted by the sandboxes at {url}")
    for column in ("tool", "operation", "count"):
        table.add_column(column)
    for tool, operations in sorted(effects.items()):
        for operation, count in sorted(operations.items()):
            table.add_row(tool, operation, str(count))
    if not table.row_count:
        console.print("no side effects yet: no sandbox has been asked to change anything")
        return
    console.print(table)


@app.command()
def demo(analysis_grace_seconds: GraceOption = None, parameter: ParameterOption = None) -> None:
    """Start the embedded stack, post every sample DialNexa call, show where each one went."""
    from handoff_dev.demo import run_demo
    from handoff_dev.embedded.stack import DEV_WEBHOOK_SECRET, StackOptions

    options = StackOptions(
        port=0,
        aws_port=0,
        webhook_secret=os.environ.get("HANDOFF_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET),
        parameter_overrides=template_overrides(parameter, analysis_grace_seconds),
    )
    raise typer.Exit(run_demo(console, options))


def _sfn(endpoint_url: str | None, profile: str | None, region: str | None) -> object:
    return ops.aws_client("stepfunctions", endpoint_url, profile, region)


@executions_app.command("list")
def executions_list(
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
) -> None:
    """Executions, newest first, each with its call id."""
    sfn = _sfn(endpoint_url, profile, region)
    try:
        machine = ops.state_machine_arn(sfn)
    except LookupError as exc:
        console.print(f"[red]{exc}[/red] Start one with `handoff dev`, or pass --endpoint-url / --profile.")
        raise typer.Exit(2) from None
    rows = ops.list_executions(sfn, machine, limit)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "call_id": r["name"],
                        "status": r["status"],
                        "execution_arn": r["executionArn"],
                        "started": r["startDate"].isoformat(),
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        console.print("no executions yet: post a call (`handoff replay events/dialnexa/*.json --url …`)")
        return
    table = Table(title=f"Executions of {machine.rsplit(':', 1)[-1]}")
    for column in ("call id", "status", "started"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], r["status"], r["startDate"].isoformat(timespec="seconds"))
    console.print(keep_whole(table, "call id"))


@executions_app.command("show")
def executions_show(
    call_id: str,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    as_json: JsonOption = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Each state's input and output (card, bank, tax numbers masked).")
    ] = False,
) -> None:
    """One execution state by state: duration, retries, error; the redrive chain; --verbose for input/output."""
    from botocore.exceptions import ClientError

    sfn = _sfn(endpoint_url, profile, region)
    machine = ops.state_machine_arn(sfn)
    arn = ops.execution_arn_for(sfn, machine, call_id)
    try:
        view = ops.describe(sfn, arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
            raise
        raise CliError(f"no execution for call {call_id!r}", "see `handoff executions list`") from None
    chain = ops.redrive_chain(sfn, machine, view.call_id)
    steps = [_step_dict(s, verbose) for s in view.steps]
    if as_json:
        payload = {
            "call_id": view.call_id,
            "status": view.status,
            "outcome": view.outcome,
            "execution_arn": view.arn,
            "policy_version": _policy_version(view),
            "steps": steps,
            "executions": chain,
            "output": _masked(json.dumps(view.output)) if view.output is not None else None,
        }
        typer.echo(json.dumps(payload, indent=2, default=str))
        return
    policy = _policy_version(view)
    table = Table(title=f"{view.call_id}: {view.status} ({view.outcome})" + (f", policy {policy}" if policy else ""))
    for column in ("state", "result", "duration", "retries", "error"):
        table.add_column(column)
    for s, row in zip(view.steps, steps, strict=True):
        duration = f"{s.duration_ms:.0f} ms" if s.duration_ms is not None else "-"
        error = f"{s.error}: {s.cause}" if s.error and s.cause else (s.error or "")
        table.add_row(s.name, s.state_of, duration, str(s.retries) if s.retries else "", error[:300])
        if verbose:
            table.add_row("", "input", "", "", str(row.get("input") or ""))
            table.add_row("", "output", "", "", str(row.get("output") or ""))
    console.print(keep_whole(table, "state"))
    if len(chain) > 1:
        runs = Table(title=f"Executions of {view.call_id} (original, then each redrive)")
        for column in ("execution", "status", "started"):
            runs.add_column(column)
        for run in chain:
            mark = " (this one)" if run["execution_arn"] == view.arn else ""
            runs.add_row(run["execution"] + mark, run["status"], run["started"].isoformat(timespec="seconds"))
        console.print(keep_whole(runs, "execution"))


def _masked(document: str | None, limit: int = 4000) -> str | None:
    """A state document with card, bank and tax numbers masked, shortened for a terminal."""
    if document is None:
        return None
    from handoff.redact import redact_text

    text = redact_text(document)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


def _step_dict(step: ops.StateStep, verbose: bool) -> dict[str, object]:
    row: dict[str, object] = {
        "state": step.name,
        "result": step.state_of,
        "duration_ms": step.duration_ms,
        "retries": step.retries,
        "error": step.error,
        "cause": step.cause,
    }
    if verbose:
        row["input"] = _masked(step.input)
        row["output"] = _masked(step.output)
    return row


def _policy_version(view: ops.ExecutionView) -> str | None:
    """The routing policy version the call was decided with (None before Route ran)."""
    decision = (view.output or view.last_input or {}).get("decision") or {}
    version = decision.get("policy_version") if isinstance(decision, dict) else None
    return str(version) if version else None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
