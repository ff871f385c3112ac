"""The options every AWS-facing command shares, declared once so their flags and help read the same."""

from __future__ import annotations

from typing import Annotated

import typer

EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url", help="AWS endpoint (the embedded stack's --aws-port).", envvar="HANDOFF_ENDPOINT_URL"
    ),
]
ProfileOption = Annotated[str | None, typer.Option("--profile", help="AWS profile of a deployment.")]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS region.")]
StackOption = Annotated[
    str | None, typer.Option("--stack", help="CloudFormation stack name: read resources from its outputs.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
