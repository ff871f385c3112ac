"""The ``handoff`` command: embedded stack, demo and ops, for people and scripts."""

from __future__ import annotations

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

app = typer.Typer(
    help="Handoff: DialNexa calls to safe, exactly-once work. Developer and ops CLI.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
executions_app = typer.Typer(help="Executions of the Handoff state machine, state by state.", no_args_is_help=True)
app.add_typer(executions_app, name="executions")


def _register_subcommands() -> None:
    from handoff_dev.cli_cost import cost
    from handoff_dev.cli_ops import dlq_app, replay, review_app
    from handoff_dev.cli_partners import connectors_app, route_app
    from handoff_dev.cli_planyo import planyo_app

    app.add_typer(route_app, name="route")
    app.add_typer(connectors_app, name="connectors")
    app.add_typer(review_app, name="review")
    app.add_typer(dlq_app, name="dlq")
    app.command("replay")(replay)
    app.add_typer(planyo_app, name="planyo")
    app.command("cost")(cost)


_register_subcommands()
console = Console(width=None if sys.stdout.isatty() else 160)

EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url", help="AWS endpoint (the embedded stack's --aws-port).", envvar="HANDOFF_ENDPOINT_URL"
    ),
]
ProfileOption = Annotated[str | None, typer.Option("--profile", help="AWS profile for a real deployment.")]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS region.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="HTTP API port (webhooks).")] = 3000,
    aws_port: Annotated[int, typer.Option("--aws-port", help="Embedded AWS endpoint port (moto server).")] = 5000,
    log_level: Annotated[str, typer.Option(help="Function log level.")] = "INFO",
    partner_config: Annotated[
        Path | None, typer.Option(help="JSON file with real partner credentials (default: sandboxes).")
    ] = None,
) -> None:
    """Run the embedded stack until Ctrl-C: HTTP API, AWS endpoint and partner sandboxes on loopback."""
    from handoff_dev.embedded.stack import DEV_WEBHOOK_SECRET, EmbeddedStack, StackOptions

    options = StackOptions(
        port=port,
        aws_port=aws_port,
        log_level=log_level,
        webhook_secret=os.environ.get("HANDOFF_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET),
        previous_webhook_secret=os.environ.get("HANDOFF_WEBHOOK_SECRET_PREVIOUS", ""),
        partner_config_file=partner_config,
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedStack(options) as stack:
        console.print(
            f"[bold]Handoff embedded stack[/bold]\n  webhook   POST {stack.api_url}/webhooks/dialnexa\n"
            f"  AWS       {stack.aws_endpoint}\n"
            f"  executions: handoff executions list --endpoint-url {stack.aws_endpoint}"
        )
        for name, sandbox in stack.sandboxes.items():
            console.print(f"  sandbox   {name:<14} {sandbox.base_url}")
        console.print("Ctrl-C to stop.")
        stop.wait()


@app.command()
def demo() -> None:
    """Start the embedded stack, post every sample DialNexa call, show where each one went."""
    from handoff_dev.demo import run_demo
    from handoff_dev.embedded.stack import DEV_WEBHOOK_SECRET, StackOptions

    options = StackOptions(
        port=0, aws_port=0, webhook_secret=os.environ.get("HANDOFF_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET)
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
    table = Table(title=f"Executions of {machine.rsplit(':', 1)[-1]}")
    for column in ("call id", "status", "started"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], r["status"], r["startDate"].isoformat(timespec="seconds"))
    console.print(table)


@executions_app.command("show")
def executions_show(
    call_id: str,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    as_json: JsonOption = False,
) -> None:
    """One execution state by state, with durations and the error of a failed state."""
    sfn = _sfn(endpoint_url, profile, region)
    machine = ops.state_machine_arn(sfn)
    arn = ops.execution_arn_for(sfn, machine, call_id)
    try:
        view = ops.describe(sfn, arn)
    except Exception as exc:  # noqa: BLE001 - boto's ExecutionDoesNotExist differs per client
        console.print(
            f"[red]no execution for call {call_id!r}[/red] ({type(exc).__name__}); see `handoff executions list`."
        )
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "call_id": view.call_id,
                    "status": view.status,
                    "outcome": view.outcome,
                    "execution_arn": view.arn,
                    "steps": [
                        {"state": s.name, "duration_ms": s.duration_ms, "error": s.error, "cause": s.cause}
                        for s in view.steps
                    ],
                    "output": view.output,
                },
                indent=2,
                default=str,
            )
        )
        return
    table = Table(title=f"{view.call_id}: {view.status} ({view.outcome})")
    for column in ("state", "duration", "error"):
        table.add_column(column)
    for s in view.steps:
        duration = f"{s.duration_ms:.0f} ms" if s.duration_ms is not None else "running"
        table.add_row(s.name, duration, s.error or "")
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
