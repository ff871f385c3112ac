"""``handoff cost``: what a month of calls costs on AWS, beside automation hosts for the same work."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from handoff_dev import cost as model


def cost(
    calls_per_month: Annotated[int, typer.Option("--calls-per-month", min=0, help="Finished calls per month.")],
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    results: Annotated[
        Path, typer.Option(help="Call profile measured by `make bench` (built-in defaults when absent).")
    ] = model.RESULTS_FILE,
) -> None:
    """Cost per 1,000 calls and per month on AWS (list prices, dated), beside Zapier, Make, n8n and Pipedream."""
    result = model.estimate(calls_per_month, model.load_profile(results))
    if json_out:
        typer.echo(json.dumps(result.as_dict(), indent=2, default=str))
        return
    console = Console(width=None if sys.stdout.isatty() else 140)
    profile = result.profile
    lines = Table(
        title=f"Handoff on AWS ({model.REGION}, list prices of {model.AWS_PRICES_AS_OF}), per 1,000 calls",
        caption=f"call profile: {profile.measured_on}; {profile.memory_mb} MB {model.TEMPLATE_ARCHITECTURE}",
    )
    for column in ("item", "quantity", "unit", "USD"):
        lines.add_column(column, justify="right" if column in ("quantity", "USD") else "left")
    for line in result.lines:
        lines.add_row(line.item, f"{line.quantity * 1000:,.1f}", line.unit, f"{line.usd * 1000:.4f}")
    lines.add_row("[b]total[/b]", "", "", f"[b]{result.handoff_per_1000:.4f}[/b]")
    console.print(lines)
    if profile.paths:
        per_path = model.path_costs(profile)
        mix = Table(
            title="The call mix (an assumption: handoff_dev/bench/paths.py) and each path's figures",
            caption=f"states walked from the state machine definition; plus {model.FAULT_SHARE:.0%} of calls "
            "meeting a partner fault and its measured retries",
        )
        for column in ("path", "share", "states entered", "Lambda runs", "events", "USD per 1,000 calls"):
            mix.add_column(column, justify="left" if column == "path" else "right")
        for name, path in profile.paths.items():
            mix.add_row(
                name,
                f"{path['share']:.0%}",
                str(path["transitions"]),
                str(len(path["lambda_invocations"])),
                str(path["events"]),
                f"{per_path[name]:.4f}",
            )
        console.print(mix)
    compare = Table(title=f"{calls_per_month:,} calls per month (hosted prices of {model.HOSTED_PRICES_AS_OF})")
    for column in ("who", "plan", "units per call", "USD per 1,000 calls", "USD per month"):
        compare.add_column(column)
    compare.add_row(
        "Handoff on AWS",
        f"pay per use + {result.fixed_monthly:.2f}/month fixed (secrets, alarms)",
        "-",
        f"{result.handoff_per_1000:.2f}",
        f"{result.handoff_monthly:,.2f}",
    )
    for hosted in result.hosted:
        compare.add_row(
            hosted.vendor,
            hosted.plan,
            f"{hosted.units_per_call:g} {hosted.unit}",
            f"{hosted.per_1000_calls:.2f}",
            f"{hosted.monthly:,.2f}",
        )
    console.print(compare)
    console.print("Assumptions: " + " ".join(f"({i}) {a}" for i, a in enumerate(model.ASSUMPTIONS, 1)))
